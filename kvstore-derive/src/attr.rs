//! Parsing of `#[store(...)]` attributes into a model that keeps the original syntax (for spans).
//!
//! Every known key is accepted at either position here; whether it is allowed *there* is a rule
//! checked in `valid.rs`, which can then say "put it on the struct" rather than "unknown".

use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Lit, LitBool, LitInt, LitStr, Meta, Path, Token, Type};

use crate::errors::Errors;

/// Where an attribute is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    /// On the struct.
    Struct,
    /// On a field.
    Field,
}

/// One `key = value` (or bare `key`) inside `#[store(...)]`.
pub struct Attr<T> {
    /// The key as written, for spans.
    pub path: Path,
    /// The value.
    pub value: T,
}

/// Every `#[store(...)]` key found on one struct or field.
#[derive(Default)]
pub struct Attrs {
    /// `prefix = "..."` (struct-level).
    pub prefix: Option<Attr<LitStr>>,
    /// `crate = "..."` (struct-level).
    pub krate: Option<Attr<LitStr>>,
    /// `rename = "..."` (field-level).
    pub rename: Option<Attr<LitStr>>,
    /// `ttl = "..."` (field-level).
    pub ttl: Option<Attr<LitStr>>,
    /// `colocate` (field-level).
    pub colocate: Option<Attr<()>>,
    /// `migrate_from(Older, Oldest, ...)` (field-level).
    pub migrate_from: Option<Attr<Vec<Type>>>,
    /// `write_back = false` (field-level, with `migrate_from`).
    pub write_back: Option<Attr<LitBool>>,
    /// `index(of = records, key = field.path)` or `index(of = records, key_fn = path)`
    /// (field-level, on an index field).
    pub index: Option<Attr<IndexAttr>>,
    /// `max_len = N` (field-level, on a stream field).
    pub max_len: Option<Attr<LitInt>>,
}

/// The parts of `index(of = .., key = .. | key_fn = ..)`.
pub struct IndexAttr {
    /// The records field the index is of.
    pub of: syn::Ident,
    /// What records are keyed by.
    pub key: IndexKey,
}

/// `key = a.b` (a field path in the record) or `key_fn = path::to::f`.
#[derive(Clone)]
pub enum IndexKey {
    /// Field access on the record: `email`, `address.city`.
    Field(Expr),
    /// A function `fn(&T) -> Option<Key>`.
    Fn(Path),
}

const STRUCT_KEYS: &str = "`prefix = \"...\"` and `crate = \"...\"`";
const FIELD_KEYS: &str = "`rename = \"...\"`, `ttl = \"...\"`, `colocate`, `migrate_from(OlderType, ...)`, `write_back = false`, `index(of = field, key = path)` and `max_len = N`";

impl Attrs {
    /// Parses every `#[store(...)]` among `attrs`; other attributes are ignored.
    pub fn parse(attrs: &[Attribute], target: Target, errors: &mut Errors) -> Attrs {
        let mut out = Attrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("store")) {
            let list = match attr.meta.require_list() {
                Ok(list) => list,
                Err(_) => {
                    errors.spanned(attr, "expected `#[store(...)]`");
                    continue;
                }
            };
            let metas = match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            {
                Ok(metas) => metas,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            for meta in metas {
                out.parse_one(meta, target, errors);
            }
        }
        out
    }

    fn parse_one(&mut self, meta: Meta, target: Target, errors: &mut Errors) {
        let key = meta.path().get_ident().map(ToString::to_string);
        match key.as_deref() {
            Some("prefix") => set(&mut self.prefix, string_value(meta, errors), errors),
            Some("crate") => set(&mut self.krate, string_value(meta, errors), errors),
            Some("rename") => set(&mut self.rename, string_value(meta, errors), errors),
            Some("ttl") => set(&mut self.ttl, string_value(meta, errors), errors),
            Some("colocate") => set(&mut self.colocate, flag(meta, errors), errors),
            Some("migrate_from") => set(&mut self.migrate_from, type_list(meta, errors), errors),
            Some("write_back") => set(&mut self.write_back, bool_value(meta, errors), errors),
            Some("index") => set(&mut self.index, index_value(meta, errors), errors),
            Some("max_len") => set(&mut self.max_len, int_value(meta, errors), errors),
            _ => {
                let valid = match target {
                    Target::Struct => STRUCT_KEYS,
                    Target::Field => FIELD_KEYS,
                };
                let name = quote::ToTokens::to_token_stream(meta.path()).to_string();
                let name = name.replace(' ', "");
                errors.spanned(
                    meta.path(),
                    format!("unknown store attribute `{name}`; the valid ones here are {valid}"),
                );
            }
        }
    }
}

/// Stores `attr` in `slot`, or reports a duplicate.
fn set<T>(slot: &mut Option<Attr<T>>, attr: Option<Attr<T>>, errors: &mut Errors) {
    let Some(attr) = attr else { return };
    if slot.is_some() {
        let name = attr
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        errors.spanned(
            &attr.path,
            format!("duplicate store attribute `{name}`; keep only one"),
        );
    } else {
        *slot = Some(attr);
    }
}

/// The string literal of `key = "..."`.
fn string_value(meta: Meta, errors: &mut Errors) -> Option<Attr<LitStr>> {
    let name = meta
        .path()
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let example = if name == "ttl" { "30m" } else { "..." };
    let message = format!("expected a string: `{name} = \"{example}\"`");
    literal(meta, errors, &message, |lit| match lit {
        Lit::Str(value) => Some(value),
        _ => None,
    })
}

/// The literal of `key = <literal>`, if `pick` accepts it; `message` otherwise.
fn literal<T>(
    meta: Meta,
    errors: &mut Errors,
    message: &str,
    pick: impl FnOnce(Lit) -> Option<T>,
) -> Option<Attr<T>> {
    let path = meta.path().clone();
    let value = match meta {
        Meta::NameValue(nv) => match nv.value {
            Expr::Lit(ExprLit { lit, .. }) => {
                let shown = quote::ToTokens::to_token_stream(&lit);
                pick(lit).ok_or(shown)
            }
            other => Err(quote::ToTokens::to_token_stream(&other)),
        },
        other => Err(quote::ToTokens::to_token_stream(&other)),
    };
    match value {
        Ok(value) => Some(Attr { path, value }),
        Err(tokens) => {
            errors.spanned(tokens, message);
            None
        }
    }
}

/// A bare `key`.
fn flag(meta: Meta, errors: &mut Errors) -> Option<Attr<()>> {
    match meta {
        Meta::Path(path) => Some(Attr { path, value: () }),
        other => {
            let name = other
                .path()
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            errors.spanned(
                other,
                format!("`{name}` takes no value: write `#[store({name})]`"),
            );
            None
        }
    }
}

/// The types of `key(A, B, ...)`.
fn type_list(meta: Meta, errors: &mut Errors) -> Option<Attr<Vec<Type>>> {
    const EXPECTED: &str =
        "expected the older versions of the value type, newest first: `migrate_from(ProfileV2, ProfileV1)`";
    let path = meta.path().clone();
    let list = match meta {
        Meta::List(list) => list,
        other => {
            errors.spanned(other, EXPECTED);
            return None;
        }
    };
    match list.parse_args_with(Punctuated::<Type, Token![,]>::parse_terminated) {
        Ok(types) if !types.is_empty() => Some(Attr {
            path,
            value: types.into_iter().collect(),
        }),
        Ok(_) => {
            errors.spanned(list, EXPECTED);
            None
        }
        Err(e) => {
            errors.push(syn::Error::new(e.span(), format!("{e}; {EXPECTED}")));
            None
        }
    }
}

/// The integer literal of `max_len = N`.
fn int_value(meta: Meta, errors: &mut Errors) -> Option<Attr<LitInt>> {
    let message = "expected an integer: `max_len = 10000`";
    literal(meta, errors, message, |lit| match lit {
        Lit::Int(value) => Some(value),
        _ => None,
    })
}

/// The boolean literal of `key = true|false`.
fn bool_value(meta: Meta, errors: &mut Errors) -> Option<Attr<LitBool>> {
    let message = "expected `write_back = false` (or `true`, the default)";
    literal(meta, errors, message, |lit| match lit {
        Lit::Bool(value) => Some(value),
        _ => None,
    })
}

/// `index(of = records, key = field.path)` or `index(of = records, key_fn = path::to::f)`.
fn index_value(meta: Meta, errors: &mut Errors) -> Option<Attr<IndexAttr>> {
    const EXPECTED: &str = "expected `index(of = <records field>, key = <field of the record>)` or `index(of = <records field>, key_fn = <fn(&T) -> Option<Key>>)`";
    let path = meta.path().clone();
    let list = match meta {
        Meta::List(list) => list,
        other => {
            errors.spanned(other, EXPECTED);
            return None;
        }
    };
    let metas = match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(syn::Error::new(e.span(), format!("{e}; {EXPECTED}")));
            return None;
        }
    };
    let (mut of, mut key) = (None, None);
    for meta in metas {
        let name = meta.path().get_ident().map(ToString::to_string);
        let Meta::NameValue(nv) = meta else {
            errors.spanned(meta, EXPECTED);
            continue;
        };
        let duplicate = match name.as_deref() {
            Some("of") => match &nv.value {
                Expr::Path(p) if p.path.get_ident().is_some() => of
                    .replace(
                        p.path
                            .get_ident()
                            .cloned()
                            .unwrap_or_else(|| unreachable!()),
                    )
                    .is_some(),
                other => {
                    errors.spanned(other, "`of` names a field of this struct: `of = users`");
                    false
                }
            },
            Some("key") => match &nv.value {
                value @ (Expr::Path(_) | Expr::Field(_)) => {
                    key.replace(IndexKey::Field(value.clone())).is_some()
                }
                other => {
                    errors.spanned(other, "`key` is a field of the record, or a dotted path: `key = email`, `key = address.city`");
                    false
                }
            },
            Some("key_fn") => match &nv.value {
                Expr::Path(p) => key.replace(IndexKey::Fn(p.path.clone())).is_some(),
                other => {
                    errors.spanned(other, "`key_fn` is the path of a `fn(&T) -> Option<Key>`: `key_fn = normalized_email`");
                    false
                }
            },
            _ => {
                errors.spanned(&nv.path, format!("unknown `index` part; {EXPECTED}"));
                false
            }
        };
        if duplicate {
            errors.spanned(
                &nv.path,
                "given twice: an index has one `of` and one `key` or `key_fn`",
            );
        }
    }
    match (of, key) {
        (Some(of), Some(key)) => Some(Attr {
            path,
            value: IndexAttr { of, key },
        }),
        _ => {
            errors.spanned(list, EXPECTED);
            None
        }
    }
}

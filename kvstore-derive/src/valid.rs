//! Every rule of the derive, checked in one place. Turns the parsed [`Container`] into the
//! [`Model`] that `expand.rs` generates from.

use std::collections::HashMap;

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Attribute, Ident, LitStr, Path, Type, Visibility};

use crate::ast::{Container, Field};
use crate::errors::Errors;
use crate::names::{check_name, check_prefix, NameError};
use crate::ttl::parse_ttl;

/// A checked store: what the expansion needs, with every value already validated.
pub struct Model<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// The struct's visibility.
    pub vis: &'a Visibility,
    /// The path of the `kvstore` crate (`::kvstore` unless `#[store(crate = "...")]`).
    pub krate: Path,
    /// The root prefix (`""` for none).
    pub prefix: String,
    /// The fields, in order.
    pub fields: Vec<FieldModel<'a>>,
    /// Whether to generate `impl Clone` (not when the user derives it too: that is an error
    /// already, and a second impl would only add the compiler's conflict error).
    pub clone: bool,
}

/// A checked field.
pub struct FieldModel<'a> {
    /// The field's name (possibly raw).
    pub ident: &'a Ident,
    /// The field's type.
    pub ty: &'a Type,
    /// The key segment: the `rename`, or the field's name without `r#`.
    pub segment: String,
    /// The default TTL in milliseconds, with its source text.
    pub ttl: Option<(u64, String)>,
    /// Whether the field's ids are wrapped in a hash tag.
    pub colocate: bool,
    /// The field's doc comments.
    pub docs: Vec<&'a Attribute>,
    /// `migrate_from(...)`: the older versions, newest first, and the attribute's path (span).
    pub migrate_from: Option<(Path, Vec<Type>)>,
    /// Whether values read in an older shape are written back (`write_back = false` turns it
    /// off).
    pub write_back: bool,
    /// Whether to generate the field's accessor (not when its name clashes with a generated
    /// method: that is an error already, and a second definition would only add noise).
    pub accessor: bool,
    /// `index(of = .., key = ..)`: the records field (its position) and the key.
    pub index: Option<(usize, crate::attr::IndexKey)>,
    /// `max_len = N`: the streams of this field are trimmed to about `N` entries on append.
    pub max_len: Option<u64>,
}

/// Names that would clash with (or shadow) a generated method if used as a field name.
const RESERVED: &[&str] = &[
    "open",
    "open_with_prefix",
    "schema",
    "clone",
    "migrate",
    "audit",
];

const SEGMENT_RULE: &str = "a key segment is one or more of `A-Z a-z 0-9 _ . -`";

/// Checks every rule, recording each violation in `errors`.
///
/// Returns `None` only when no sensible expansion exists (a generic struct). Otherwise the model
/// is returned even when errors were recorded, with neutral values in place of the invalid
/// ones, so that the expansion still defines the store's methods and the user sees only the
/// real errors, not a cascade of "no method named ..." at every use.
pub fn check<'a>(input: &Container<'a>, errors: &mut Errors) -> Option<Model<'a>> {
    let generic = !input.generics.params.is_empty();
    if generic {
        errors.spanned(
            input.generics,
            "`#[derive(Store)]` does not support generic structs (type, lifetime or const \
             parameters): a store's layout must be fixed at compile time; write one struct per \
             layout, or use a type alias for the value types",
        );
    }

    if let Some(derive) = input.derives_clone {
        errors.spanned(
            derive,
            "`#[derive(Store)]` already implements `Clone` (a store handle is cheap to clone: it shares one backend); remove `Clone` from this `#[derive(...)]`",
        );
    }

    let attrs = &input.attrs;
    for attr in attrs.rename.iter().chain(&attrs.ttl) {
        let name = attr.path.to_token_stream();
        errors.spanned(
            &attr.path,
            format!("`{name}` is a field attribute: put `#[store({name} = \"...\")]` on a field, not on the struct"),
        );
    }
    if let Some(attr) = &attrs.colocate {
        errors.spanned(
            &attr.path,
            "`colocate` is a field attribute: put `#[store(colocate)]` on a `Dynamic` field, not on the struct",
        );
    }
    for path in attrs
        .migrate_from
        .iter()
        .map(|a| &a.path)
        .chain(attrs.write_back.iter().map(|a| &a.path))
    {
        let name = path.to_token_stream();
        errors.spanned(
            path,
            format!("`{name}` is a field attribute: put it on an `Item<T>` field, or a `Dynamic` field with `Item<T>` leaves, not on the struct"),
        );
    }

    let krate = match &attrs.krate {
        Some(attr) => match attr.value.parse::<Path>() {
            Ok(path) => path,
            Err(_) => {
                errors.spanned(
                    &attr.value,
                    format!(
                        "invalid `crate` path `{}`: expected a path to the kvstore crate, e.g. `crate = \"::my_deps::kvstore\"`",
                        attr.value.value()
                    ),
                );
                default_crate()
            }
        },
        None => default_crate(),
    };

    let prefix = match &attrs.prefix {
        Some(attr) => {
            let prefix = attr.value.value();
            match check_prefix(&prefix) {
                Ok(()) => prefix,
                Err(e) => {
                    let message = match e {
                        NameError::Empty if prefix.is_empty() => {
                            "`prefix` must not be empty: remove the attribute for keys without a prefix".to_owned()
                        }
                        NameError::Empty => format!(
                            "invalid prefix `{prefix}`: empty segment; a prefix is key segments joined by `:`, with no leading, trailing or doubled `:`"
                        ),
                        NameError::BadChar(c) => format!(
                            "invalid prefix `{prefix}`: the character {c:?} is not allowed; a prefix is key segments joined by `:`, and {SEGMENT_RULE}"
                        ),
                    };
                    errors.spanned(&attr.value, message);
                    String::new()
                }
            }
        }
        None => String::new(),
    };

    if let Some(attr) = &attrs.max_len {
        errors.spanned(
            &attr.path,
            "`max_len` is a field attribute: put `#[store(max_len = N)]` on a `StreamOf<T>` field, not on the struct",
        );
    }

    if let Some(attr) = &attrs.index {
        errors.spanned(
            &attr.path,
            "`index` is a field attribute: put `#[store(index(of = .., key = ..))]` on an index field (`UniqueIndex`, `IndexOf`, `OrderedIndex`), not on the struct",
        );
    }

    let mut seen: HashMap<String, &Ident> = HashMap::new();
    let mut fields: Vec<FieldModel<'a>> = input
        .fields
        .iter()
        .map(|field| {
            let model = check_field(input, field, errors);
            if let Some(first) = seen.get(&model.segment) {
                let message = format!(
                    "duplicate key segment `{}`: field `{}` already maps to it; give one of them another `#[store(rename = \"...\")]`",
                    model.segment,
                    first.unraw()
                );
                match &field.attrs.rename {
                    Some(rename) => errors.spanned(&rename.value, message),
                    None => errors.spanned(field.ident, message),
                }
            } else {
                seen.insert(model.segment.clone(), field.ident);
            }
            model
        })
        .collect();

    // Each index names a sibling records field.
    for (at, field) in input.fields.iter().enumerate() {
        let Some(attr) = &field.attrs.index else {
            continue;
        };
        let of = &attr.value.of;
        let target = input.fields.iter().position(|f| f.ident == of);
        match target {
            None => errors.spanned(
                of,
                format!(
                    "no field `{of}` in `{}`: `of` names the `Dynamic<Item<T>>` field of this struct whose records the index keeps",
                    input.ident
                ),
            ),
            Some(t) if t == at || input.fields[t].attrs.index.is_some() => errors.spanned(
                of,
                "`of` names the records (a `Dynamic<Item<T>>` field), not an index",
            ),
            Some(t) => fields[at].index = Some((t, attr.value.key.clone())),
        }
    }

    (!generic).then_some(Model {
        ident: input.ident,
        vis: input.vis,
        krate,
        prefix,
        fields,
        clone: input.derives_clone.is_none(),
    })
}

fn check_field<'a>(
    input: &Container<'a>,
    field: &Field<'a>,
    errors: &mut Errors,
) -> FieldModel<'a> {
    let attrs = &field.attrs;
    for attr in attrs.prefix.iter().chain(&attrs.krate) {
        let name = attr.path.to_token_stream();
        errors.spanned(
            &attr.path,
            format!("`{name}` is a struct attribute: put `#[store({name} = \"...\")]` on the struct, not on a field"),
        );
    }

    let name = field.ident.unraw().to_string();
    let reserved = RESERVED.contains(&name.as_str());
    if reserved {
        errors.spanned(
            field.ident,
            format!(
                "a field named `{name}` would clash with the generated `{}::{name}`: rename the field, and keep its key with `#[store(rename = \"{name}\")]`",
                input.ident
            ),
        );
    }

    let segment = match &attrs.rename {
        Some(rename) => {
            let segment = rename.value.value();
            check_segment(&segment, &rename.value, errors);
            segment
        }
        None => {
            if let Err(e) = check_name(&name) {
                let detail = match e {
                    NameError::BadChar(c) => format!("the character {c:?} is not allowed"),
                    NameError::Empty => "it is empty".to_owned(),
                };
                errors.spanned(
                    field.ident,
                    format!(
                        "field name `{name}` is not a valid key segment ({detail}; {SEGMENT_RULE}): add `#[store(rename = \"...\")]` with a valid one"
                    ),
                );
            }
            name
        }
    };

    let ttl = attrs.ttl.as_ref().and_then(|attr| {
        let text = attr.value.value();
        match parse_ttl(&text) {
            Ok(millis) => Some((millis, text)),
            Err(message) => {
                errors.spanned(&attr.value, message);
                None
            }
        }
    });

    let colocate = match &attrs.colocate {
        Some(attr) if !is_dynamic(field.ty) => {
            errors.spanned(
                &attr.path,
                format!(
                    "`colocate` only applies to a `Dynamic<N, K>` field (it wraps the id in a Redis Cluster hash tag), but `{}` has type `{}`: remove `colocate`",
                    field.ident.unraw(),
                    crate::ast::type_to_string(field.ty)
                ),
            );
            false
        }
        Some(_) => true,
        None => false,
    };

    let migrate_from = attrs
        .migrate_from
        .as_ref()
        .map(|attr| (attr.path.clone(), attr.value.clone()));
    if let (Some(attr), None) = (&attrs.write_back, &migrate_from) {
        errors.spanned(
            &attr.path,
            "`write_back` only applies with `migrate_from(...)`: it says whether values read in an older shape are written back; remove it",
        );
    }
    let write_back = attrs
        .write_back
        .as_ref()
        .is_none_or(|attr| attr.value.value);

    let max_len = attrs.max_len.as_ref().and_then(|attr| {
        if !is_stream(field.ty) {
            errors.spanned(
                &attr.path,
                format!(
                    "`max_len` only applies to a `StreamOf<T>` field (or a `Dynamic` of streams): it trims the stream on append, but `{}` has type `{}`: remove `max_len`",
                    field.ident.unraw(),
                    crate::ast::type_to_string(field.ty)
                ),
            );
            return None;
        }
        match attr.value.base10_parse::<u64>() {
            Ok(0) | Err(_) => {
                errors.spanned(
                    &attr.value,
                    "`max_len` must be a whole number of entries, at least 1: `max_len = 10000`",
                );
                None
            }
            Ok(n) => Some(n),
        }
    });

    FieldModel {
        max_len,
        ident: field.ident,
        ty: field.ty,
        segment,
        ttl,
        colocate,
        migrate_from,
        write_back,
        docs: field.docs.clone(),
        accessor: !reserved,
        index: None,
    }
}

fn check_segment(segment: &str, lit: &LitStr, errors: &mut Errors) {
    if let Err(e) = check_name(segment) {
        let message = match e {
            NameError::Empty => {
                "`rename` must not be empty: a key segment needs at least one character".to_owned()
            }
            NameError::BadChar(c) => format!(
                "invalid rename `{segment}`: the character {c:?} is not allowed; {SEGMENT_RULE}"
            ),
        };
        errors.spanned(lit, message);
    }
}

/// Whether the type's last path segment is `Dynamic` (`Dynamic<..>`, `kvstore::Dynamic<..>`).
pub fn is_dynamic(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Dynamic"),
        Type::Group(group) => is_dynamic(&group.elem),
        Type::Paren(paren) => is_dynamic(&paren.elem),
        _ => false,
    }
}

/// Whether the type is a `StreamOf<..>`, or a `Dynamic` whose nodes are (by the last path
/// segments' names, as `is_dynamic`).
pub fn is_stream(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let Some(segment) = path.path.segments.last() else {
                return false;
            };
            if segment.ident == "StreamOf" {
                return true;
            }
            if segment.ident != "Dynamic" {
                return false;
            }
            match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => {
                    args.args.iter().find_map(|a| match a {
                        syn::GenericArgument::Type(t) => Some(is_stream(t)),
                        _ => None,
                    }) == Some(true)
                }
                _ => false,
            }
        }
        Type::Group(group) => is_stream(&group.elem),
        Type::Paren(paren) => is_stream(&paren.elem),
        _ => false,
    }
}

fn default_crate() -> Path {
    let mut path = Path::from(Ident::new("kvstore", Span::call_site()));
    path.leading_colon = Some(Default::default());
    path
}

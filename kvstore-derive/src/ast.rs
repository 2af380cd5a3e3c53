//! The input of the derive, as a small model that keeps the original syntax (for spans).

use syn::{Attribute, Data, DeriveInput, Fields, Generics, Ident, Type, Visibility};

use crate::attr::{Attrs, Target};
use crate::errors::Errors;

/// A struct with named fields.
pub struct Container<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// The struct's visibility (given to the accessors).
    pub vis: &'a Visibility,
    /// The struct's generics (rejected by `valid.rs` unless empty).
    pub generics: &'a Generics,
    /// The struct's `#[store(...)]` attributes.
    pub attrs: Attrs,
    /// The fields, in order.
    pub fields: Vec<Field<'a>>,
    /// `Clone` in a `#[derive(...)]` written after `#[derive(Store)]` (the derive already
    /// implements `Clone`). A `Clone` in the same `#[derive(Store, Clone)]` is not visible here:
    /// the compiler's own conflict error reports that one.
    pub derives_clone: Option<&'a syn::Path>,
}

/// A named field.
pub struct Field<'a> {
    /// The field's name (possibly raw, `r#type`).
    pub ident: &'a Ident,
    /// The field's type.
    pub ty: &'a Type,
    /// The field's `#[store(...)]` attributes.
    pub attrs: Attrs,
    /// The field's doc comments (`#[doc = "..."]`), copied to its accessor.
    pub docs: Vec<&'a Attribute>,
}

impl<'a> Container<'a> {
    /// Builds the model; `None` (with an error recorded) when the input is not a struct with
    /// named fields, since there is then nothing to model.
    pub fn from_ast(input: &'a DeriveInput, errors: &mut Errors) -> Option<Container<'a>> {
        const EXPECTED: &str = "`#[derive(Store)]` needs a struct with named fields, \
                                e.g. `struct Shop { users: Dynamic<Item<User>> }`";
        let ident = &input.ident;
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(fields) => {
                    errors.spanned(fields, format!("{EXPECTED}; tuple structs are not supported: each field needs a name, which is its key segment"));
                    return None;
                }
                Fields::Unit => {
                    let semi = data.semi_token;
                    errors.spanned(
                        quote::quote!(#ident #semi),
                        format!("{EXPECTED}; a unit struct has no keys to store"),
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                let token = data.enum_token;
                errors.spanned(
                    quote::quote!(#token #ident),
                    format!("{EXPECTED}; enums are not supported (to store an enum value, use `Item<YourEnum>` as a field)"),
                );
                return None;
            }
            Data::Union(data) => {
                let token = data.union_token;
                errors.spanned(
                    quote::quote!(#token #ident),
                    format!("{EXPECTED}; unions are not supported"),
                );
                return None;
            }
        };
        let attrs = Attrs::parse(&input.attrs, Target::Struct, errors);
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                Some(Field {
                    ident: field.ident.as_ref()?,
                    ty: &field.ty,
                    attrs: Attrs::parse(&field.attrs, Target::Field, errors),
                    docs: field
                        .attrs
                        .iter()
                        .filter(|a| a.path().is_ident("doc"))
                        .collect(),
                })
            })
            .collect();
        let derives_clone = input
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("derive"))
            .find_map(|a| {
                let Ok(list) = a.meta.require_list() else {
                    return None;
                };
                list.parse_args_with(
                    syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                )
                .ok()?
                .into_iter()
                .find(|p| p.segments.last().is_some_and(|s| s.ident == "Clone"))
                .map(|_| a.path())
            });
        Some(Container {
            ident,
            vis: &input.vis,
            generics: &input.generics,
            attrs,
            fields,
            derives_clone,
        })
    }
}

/// A type as the user would write it (`Dynamic<Item<User>, u64>`), for messages and docs.
pub fn type_to_string(ty: &Type) -> String {
    let raw = quote::ToTokens::to_token_stream(ty).to_string();
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
            let after = chars.get(i + 1).copied();
            // Keep a space only between two words (`dyn Trait`, `'a str`) and after a comma.
            let arrow_before = before == Some('>') && i >= 2 && chars[i - 2] == '-';
            let arrow_after = after == Some('-') && chars.get(i + 2) == Some(&'>');
            let keep = matches!(before, Some(',' | ';' | '+' | '='))
                || matches!(after, Some('+' | '='))
                || arrow_before
                || arrow_after
                || (before.is_some_and(is_word) && after.is_some_and(is_word));
            if keep {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::type_to_string;

    #[test]
    fn types_read_as_written() {
        let cases = [
            "Dynamic<Item<User>>",
            "Dynamic<Counter, u64>",
            "kvstore::Dynamic<Tenant>",
            "::kvstore::Item<Vec<(u8, String)>>",
            "Item<&'static str>",
            "Box<dyn Fn() -> u8 + Send>",
            "[u8; 4]",
        ];
        for case in cases {
            let ty: syn::Type = syn::parse_str(case).unwrap();
            assert_eq!(type_to_string(&ty), case);
        }
    }
}

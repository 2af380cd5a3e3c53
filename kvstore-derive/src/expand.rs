//! Code generation from the checked [`Model`].

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{DeriveInput, Type};

use crate::ast::{type_to_string, Container};
use crate::errors::Errors;
use crate::valid::{self, FieldModel, Model};

/// The whole derive: parse, check, generate. Errors come out as `compile_error!`s, next to the
/// expansion whenever one is still possible (so that uses of the store don't fail too).
pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let expansion = Container::from_ast(input, &mut errors)
        .and_then(|container| valid::check(&container, &mut errors))
        .map(|model| expand(&model))
        .unwrap_or_default();
    let errors = errors.to_compile_errors();
    quote! {
        #errors
        #expansion
    }
}

/// Generates the `Node`, `Clone` and inherent impls.
///
/// Every use of a field's type is `<FieldTy as Node>::...`, with the type's own tokens (so its
/// span): a field whose type is not a node gets the `Node` trait's `on_unimplemented` message
/// right on that type, and — the three uses producing the same diagnostic — exactly once. (A
/// separate `assert_node::<FieldTy>()` would add a second, near-identical error per field.) The
/// field types are only used inside impls of the struct, so `Self` in a field type works too.
pub fn expand(model: &Model) -> TokenStream {
    let ident = model.ident;
    let krate = &model.krate;
    let p = quote!(#krate::__private);
    let prefix = &model.prefix;

    let idents: Vec<_> = model.fields.iter().map(|f| f.ident).collect();
    let tys: Vec<_> = model.fields.iter().map(|f| f.ty).collect();
    let segments: Vec<_> = model.fields.iter().map(|f| f.segment.as_str()).collect();
    let paths: Vec<_> = model
        .fields
        .iter()
        .map(|f| {
            let segment = &f.segment;
            if f.colocate {
                quote!(__path.child(#segment).colocate())
            } else {
                quote!(__path.child(#segment))
            }
        })
        .collect();
    let specs: Vec<_> = model
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let indexes = indexes_of(model, i, &paths);
            let ttl = match &f.ttl {
                Some((millis, _)) => quote!(#p::Some(#p::Duration::from_millis(#millis))),
                None => quote!(__spec.ttl),
            };
            let migrations = match &f.migrate_from {
                Some((path, older)) => migrations(krate, f.ty, path, older, f.write_back),
                None => quote!(#p::None),
            };
            let ty = f.ty;
            // The borrow picks `ViaNothing` when `ViaClone` does not apply.
            let clone = quote! {{
                #[allow(unused_imports)]
                use #p::{ViaClone as _, ViaNothing as _};
                #[allow(clippy::needless_borrow)]
                let __clone = (&#p::CloneProbe::<#ty>::new()).clone_fn();
                __clone
            }};
            let index = match &f.index {
                Some((records, key)) => {
                    let records = &model.fields[*records];
                    let of = format!(
                        "{}:{}",
                        records.segment,
                        if records.colocate { "{*}" } else { "*" }
                    );
                    let key = match key {
                        crate::attr::IndexKey::Field(expr) => quote::ToTokens::to_token_stream(expr).to_string().replace(' ', ""),
                        // A function's name is marked, so that the manifest can say the key is
                        // computed (a tool without the types cannot check it).
                        crate::attr::IndexKey::Fn(path) => format!("fn:{}", quote::ToTokens::to_token_stream(path).to_string().replace(' ', "")),
                    };
                    quote!(#p::Some((#of, #key)))
                }
                None => quote!(#p::None),
            };
            let max_len = match f.max_len {
                Some(n) => quote!(#p::Some(#n)),
                None => quote!(#p::None),
            };
            quote!(&#p::Spec { ttl: #ttl, migrations: #migrations, clone: #clone, indexes: #indexes, index: #index, max_len: #max_len })
        })
        .collect();

    let vis = model.vis;
    let accessors = model
        .fields
        .iter()
        .filter(|f| f.accessor)
        .map(|f| match &f.index {
            Some((records, key)) => index_accessor(model, f, &model.fields[*records], key),
            None => accessor(f, vis),
        });

    let (open_doc, open_with_prefix_doc, schema_doc) = store_docs(model);
    let clone_impl = model.clone.then(|| {
        quote! {
            #[automatically_derived]
            impl ::core::clone::Clone for #ident {
                #[inline]
                fn clone(&self) -> Self {
                    #ident {
                        #( #idents: ::core::clone::Clone::clone(&self.#idents), )*
                    }
                }
            }
        }
    });
    let location = match model.fields.first() {
        Some(first) => {
            let (ident, ty, segment) = (first.ident, first.ty, first.segment.as_str());
            quote!(#p::parent_location(<#ty as #p::Node>::__location(&self.#ident), #segment))
        }
        None => quote!(#p::None),
    };

    quote! {
        #[automatically_derived]
        impl #p::Node for #ident {
            fn __build(
                __ctx: &#p::Context,
                __path: #p::KeyPath,
                __spec: &#p::Spec,
            ) -> Self {
                #ident {
                    #( #idents: <#tys as #p::Node>::__build(__ctx, #paths, #specs), )*
                }
            }

            fn __manifest(
                __path: #p::KeyPath,
                __spec: &#p::Spec,
                __out: &mut #p::Map<::std::string::String, #p::Value>,
            ) {
                #( <#tys as #p::Node>::__manifest(#paths, #specs, __out); )*
            }

            fn __audit<'__a>(
                &'__a self,
                __run: &'__a mut #p::Run<'_>,
            ) -> #p::BoxFuture<'__a, #krate::Result<()>> {
                ::std::boxed::Box::pin(async move {
                    #(
                        __run.push(#segments);
                        let __result = <#tys as #p::Node>::__audit(&self.#idents, __run).await;
                        __run.pop();
                        __result?;
                    )*
                    #krate::Result::Ok(())
                })
            }

            fn __location(&self) -> #p::Option<(#p::Context, ::std::string::String)> {
                #location
            }

            fn __owns(__tail: #p::Option<&::core::primitive::str>) -> ::core::primitive::bool {
                let #p::Some(__tail) = __tail else {
                    return false;
                };
                let (__first, __rest) = #p::split_segment(__tail);
                #[allow(unreachable_patterns)]
                match __first {
                    #( #segments => <#tys as #p::Node>::__owns(__rest), )*
                    _ => false,
                }
            }
        }

        #clone_impl

        // Everything here has the struct's visibility: it is as reachable as the struct itself
        // (no `unreachable_pub`), and an unused method is not the user's dead code.
        #[allow(dead_code)]
        impl #ident {
            #[doc = #open_doc]
            #[must_use]
            #vis fn open(backend: impl #krate::IntoBackend) -> Self {
                #p::open_root::<Self>(backend, #prefix)
            }

            #[doc = #open_with_prefix_doc]
            #[must_use]
            #vis fn open_with_prefix(
                backend: impl #krate::IntoBackend,
                prefix: &::core::primitive::str,
            ) -> Self {
                #p::open_root::<Self>(backend, prefix)
            }

            #[doc = #schema_doc]
            #[must_use]
            #vis fn schema() -> #p::Value {
                #p::manifest_root::<Self>(#prefix)
            }

            /// Reads every value stored under this store and reports, per key pattern, which
            /// are valid, outdated (an older version listed in `migrate_from`), invalid or of
            /// another kind, and which keys under the store's prefix fit no pattern. Never
            /// stops at a bad value; reads in batches, so memory stays bounded.
            #vis async fn audit(&self) -> #krate::Result<#krate::AuditReport> {
                #p::audit(self, true, &mut |_: &#krate::Progress| {}).await
            }

            /// `audit()`, calling `progress` after each batch (for a progress bar).
            #vis async fn audit_with_progress(
                &self,
                mut progress: impl ::core::ops::FnMut(&#krate::Progress) + ::core::marker::Send,
            ) -> #krate::Result<#krate::AuditReport> {
                #p::audit(self, true, &mut progress).await
            }

            /// Rewrites every value stored in an older version (fields with `migrate_from`,
            /// nested ones included) in the current shape — a compare-and-swap per key against
            /// the bytes read, keeping its TTL, so it is safe while the service writes — and
            /// reports what it did. Running it again migrates nothing.
            #vis async fn migrate(&self) -> #krate::Result<#krate::MigrationReport> {
                #p::migrate(self, true, &mut |_: &#krate::Progress| {}).await
            }

            /// `migrate()`, calling `progress` after each batch.
            #vis async fn migrate_with_progress(
                &self,
                mut progress: impl ::core::ops::FnMut(&#krate::Progress) + ::core::marker::Send,
            ) -> #krate::Result<#krate::MigrationReport> {
                #p::migrate(self, true, &mut progress).await
            }

            #(#accessors)*
        }
    }
}

/// The `Migrations` of a `migrate_from(A, B, ...)` field of type `ty`: `B -> A -> T` through the
/// `From` impls, each conversion spanned on its type in the attribute (a missing `From`, or a type
/// that cannot be stored, is reported there).
fn migrations(
    krate: &syn::Path,
    ty: &Type,
    path: &syn::Path,
    older: &[Type],
    write_back: bool,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let value = quote_spanned!(path_span(path)=> <#ty as #p::ItemLeaf>::Value);
    let steps = older.iter().enumerate().map(|(i, version)| {
        // `version` into the one before it, ..., into the current type.
        let mut expr = quote!(__v);
        let mut from = version;
        for newer in older[..i].iter().rev() {
            expr = quote_spanned!(from_span(from)=> <#newer as ::core::convert::From<#from>>::from(#expr));
            from = newer;
        }
        let expr = quote_spanned!(from_span(from)=> <#value as ::core::convert::From<#from>>::from(#expr));
        quote_spanned! {from_span(version)=>
            .version::<#version>(|__v: #version| -> #value { #expr })
        }
    });
    quote! {
        #p::Some(#p::Arc::new(
            #krate::Migrations::<#value>::new()
                #(#steps)*
                .write_back(#write_back)
        ) as #p::Arc<dyn #p::Any + ::core::marker::Send + ::core::marker::Sync>)
    }
}

fn path_span(path: &syn::Path) -> proc_macro2::Span {
    syn::spanned::Spanned::span(path)
}

fn from_span(ty: &Type) -> proc_macro2::Span {
    syn::spanned::Spanned::span(ty)
}

fn store_docs(model: &Model) -> (String, String, String) {
    let root = if model.prefix.is_empty() {
        "with no key prefix (keys start at the field names)".to_owned()
    } else {
        format!("under the key prefix `{}`", model.prefix)
    };
    let open = format!(
        "Opens the store over `backend`, {root}.\n\n\
         `backend` is any backend, by value: a `MemoryBackend`, a `RedisBackend`, a \
         `RedisClusterBackend` or what `kvstore::connect` returns. Not async, and cheap: handles \
         are built here and no request is sent."
    );
    let open_with_prefix = format!(
        "Opens the store over `backend` under `prefix` instead of {}: for per-environment or \
         per-test namespaces (`\"test-42:shop\"`).\n\n\
         `prefix` is key segments of `A-Z a-z 0-9 _ . -` joined by `:`; with an invalid prefix, \
         the store opens but every operation fails with `Error::InvalidKey`. `\"\"` means no \
         prefix.",
        if model.prefix.is_empty() {
            "no prefix".to_owned()
        } else {
            format!("`{}`", model.prefix)
        }
    );
    let schema = format!(
        "The manifest of this store's key space, {root}: a JSON object mapping every key \
         pattern (`*` for each id) to `{{\"kind\": \"item\" | \"counter\" | \"set\" | \"blob\", \
         \"schema\": <JSON Schema of the value>, \"ttl_secs\": <default TTL>}}`."
    );
    (open, open_with_prefix, schema)
}

fn accessor(field: &FieldModel, vis: &syn::Visibility) -> TokenStream {
    let ident = field.ident;
    let ty = field.ty;
    let docs = &field.docs;
    let pattern = format!(
        "<store>:{}{}",
        field.segment,
        pattern_tail(ty, field.colocate)
    );
    let mut summary = format!("`{pattern}` — `{}`", type_to_string(ty));
    if let Some((_, text)) = &field.ttl {
        summary.push_str(&format!("\n\nDefault TTL: `{text}`."));
    }
    let separator = (!docs.is_empty()).then(|| quote!(#[doc = ""]));
    // Spanned on the field's name, so that "go to definition" on the accessor lands on it.
    quote_spanned! {ident.span()=>
        #(#docs)*
        #separator
        #[doc = #summary]
        #[inline]
        // A `pub` store may hold values of crate-private types; the accessor is then as usable
        // as those types are, and the user could not silence a warning about code they did not
        // write.
        #[allow(private_interfaces)]
        #vis fn #ident(&self) -> #ty {
            ::core::clone::Clone::clone(&self.#ident)
        }
    }
}

/// The key pattern below a field's segment, guessed from the type's syntax for docs:
/// `:*` per `Dynamic` level (`:{*}` when colocated), `:...` below a nested store.
fn pattern_tail(ty: &Type, colocate: bool) -> String {
    let Some(segment) = last_segment(ty) else {
        return String::new();
    };
    match segment.ident.to_string().as_str() {
        "Dynamic" => {
            let id = if colocate { "{*}" } else { "*" };
            let inner = match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => {
                    args.args.iter().find_map(|a| match a {
                        syn::GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                }
                _ => None,
            };
            let below = inner.map(|t| pattern_tail(t, false)).unwrap_or_default();
            format!(":{id}{below}")
        }
        "Item" | "Counter" | "SetOf" | "Blob" | "ListOf" | "SortedSetOf" | "MapOf" | "Bits"
        | "PackedInts" | "StreamOf" => String::new(),
        _ => ":...".to_owned(),
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

/// The `indexes` of the spec of field `i`: the index fields whose `of` is it.
fn indexes_of(model: &Model, i: usize, paths: &[TokenStream]) -> TokenStream {
    let krate = &model.krate;
    let p = quote!(#krate::__private);
    let records = &model.fields[i];
    let rty = records.ty;
    let hooks: Vec<_> = model
        .fields
        .iter()
        .enumerate()
        .filter_map(|(j, f)| match &f.index {
            Some((of, key)) if *of == i => {
                let ity = f.ty;
                let path = &paths[j];
                let key = key_fn(model, records, f, key);
                Some(quote!(.add::<#ity>(#path, #key)))
            }
            _ => None,
        })
        .collect();
    if hooks.is_empty() {
        return quote!(#p::None);
    }
    let records_path = &paths[i];
    quote! {
        #p::Some(#p::Arc::new(
            #p::Indexes::<<#rty as #p::ItemLeaf>::Value>::new(#records_path)
                #(#hooks)*
        ) as #p::Arc<dyn #p::Any + ::core::marker::Send + ::core::marker::Sync>)
    }
}

/// The `fn(&T) -> Option<Key>` of an index field: the record's field (`key = a.b`), or the
/// user's function (`key_fn = f`), spanned on the attribute so a wrong field or type is
/// reported there.
fn key_fn(
    model: &Model,
    records: &FieldModel,
    index: &FieldModel,
    key: &crate::attr::IndexKey,
) -> TokenStream {
    let krate = &model.krate;
    let p = quote!(#krate::__private);
    let (rty, ity) = (records.ty, index.ty);
    let body = match key {
        crate::attr::IndexKey::Field(expr) => {
            let span = syn::spanned::Spanned::span(expr);
            quote_spanned!(span=> #p::IndexKey::<<#ity as #p::IndexNode>::Key>::index_key(&__v.#expr))
        }
        crate::attr::IndexKey::Fn(path) => {
            let span = syn::spanned::Spanned::span(path);
            quote_spanned!(span=> #path(__v))
        }
    };
    quote! {{
        fn __key(
            __v: &<#rty as #p::ItemLeaf>::Value,
        ) -> #p::Option<<#ity as #p::IndexNode>::Key> {
            #body
        }
        __key
    }}
}

/// The accessor of an index field: the index with the records it names.
fn index_accessor(
    model: &Model,
    field: &FieldModel,
    records: &FieldModel,
    key: &crate::attr::IndexKey,
) -> TokenStream {
    let krate = &model.krate;
    let p = quote!(#krate::__private);
    let vis = model.vis;
    let (ident, rident) = (field.ident, records.ident);
    let (ity, rty) = (field.ty, records.ty);
    let docs = &field.docs;
    let summary = format!(
        "The index `{}` of `{}`: lookups read the records it names and check them.",
        type_to_string(ity),
        rident.unraw()
    );
    let key = key_fn(model, records, field, key);
    quote_spanned! {ident.span()=>
        #(#docs)*
        #[doc = #summary]
        #[allow(private_interfaces)]
        #vis fn #ident(&self) -> #krate::index::Index<#ity, <#rty as #p::ItemLeaf>::Value> {
            #krate::index::Index::__new(
                ::core::clone::Clone::clone(&self.#ident),
                ::core::clone::Clone::clone(&self.#rident),
                #key,
            )
        }
    }
}

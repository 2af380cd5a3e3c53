//! Tests of the whole derive on parsed inputs: the expansion's shape and every error message.

use crate::ast::Container;
use crate::errors::Errors;
use crate::expand;
use crate::valid;

/// Runs the derive on `src`; returns the expansion (as normalized text) and the error messages.
fn run(src: &str) -> (String, Vec<String>) {
    let input: syn::DeriveInput = syn::parse_str(src).expect("test input parses");
    let mut errors = Errors::default();
    let expansion = Container::from_ast(&input, &mut errors)
        .and_then(|c| valid::check(&c, &mut errors))
        .map(|m| expand::expand(&m).to_string())
        .unwrap_or_default();
    (expansion.replace(' ', ""), errors.messages())
}

fn errors(src: &str) -> Vec<String> {
    run(src).1
}

fn one_error(src: &str) -> String {
    let errors = errors(src);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

const SHOP: &str = r#"
    #[store(prefix = "shop")]
    pub struct Shop {
        /// The shop's settings.
        settings: Item<Settings>,
        #[store(rename = "u")]
        users: Dynamic<Item<User>>,
        #[store(ttl = "30m")]
        sessions: Dynamic<Item<Session>>,
        #[store(colocate)]
        tenants: kvstore::Dynamic<Tenant>,
        views: Dynamic<Counter, u64>,
        r#type: Item<String>,
        stats: Stats,
    }
"#;

#[test]
fn expands_a_full_store() {
    let (out, errors) = run(SHOP);
    assert!(errors.is_empty(), "{errors:#?}");
    let expect = [
        // Node impl
        "impl::kvstore::__private::NodeforShop",
        "settings:<Item<Settings>as::kvstore::__private::Node>::__build(__ctx,__path.child(\"settings\"),&::kvstore::__private::Spec{ttl:__spec.ttl,migrations:::kvstore::__private::None,clone:{#[allow(unused_imports)]use::kvstore::__private::{ViaCloneas_,ViaNothingas_};#[allow(clippy::needless_borrow)]let__clone=(&::kvstore::__private::CloneProbe::<Item<Settings>>::new()).clone_fn();__clone},indexes:::kvstore::__private::None,index:::kvstore::__private::None,max_len:::kvstore::__private::None})",
        "users:<Dynamic<Item<User>>as::kvstore::__private::Node>::__build(__ctx,__path.child(\"u\"),&::kvstore::__private::Spec{ttl:__spec.ttl,migrations:::kvstore::__private::None,clone:{#[allow(unused_imports)]use::kvstore::__private::{ViaCloneas_,ViaNothingas_};#[allow(clippy::needless_borrow)]let__clone=(&::kvstore::__private::CloneProbe::<Dynamic<Item<User>>>::new()).clone_fn();__clone},indexes:::kvstore::__private::None,index:::kvstore::__private::None,max_len:::kvstore::__private::None})",
        "__path.child(\"sessions\"),&::kvstore::__private::Spec{ttl:::kvstore::__private::Some(::kvstore::__private::Duration::from_millis(1800000u64))",
        "__path.child(\"tenants\").colocate(),&::kvstore::__private::Spec{ttl:__spec.ttl",
        "r#type:<Item<String>as::kvstore::__private::Node>::__build(__ctx,__path.child(\"type\"),&::kvstore::__private::Spec{ttl:__spec.ttl,migrations:::kvstore::__private::None,clone:{#[allow(unused_imports)]use::kvstore::__private::{ViaCloneas_,ViaNothingas_};#[allow(clippy::needless_borrow)]let__clone=(&::kvstore::__private::CloneProbe::<Item<String>>::new()).clone_fn();__clone},indexes:::kvstore::__private::None,index:::kvstore::__private::None,max_len:::kvstore::__private::None})",
        "<Stats as::kvstore::__private::Node>::__manifest(__path.child(\"stats\"),&::kvstore::__private::Spec{ttl:__spec.ttl,migrations:::kvstore::__private::None,clone:{#[allow(unused_imports)]use::kvstore::__private::{ViaCloneas_,ViaNothingas_};#[allow(clippy::needless_borrow)]let__clone=(&::kvstore::__private::CloneProbe::<Stats>::new()).clone_fn();__clone},indexes:::kvstore::__private::None,index:::kvstore::__private::None,max_len:::kvstore::__private::None},__out);",
        "\"u\"=><Dynamic<Item<User>>as::kvstore::__private::Node>::__owns(__rest),",
        "_=>false",
        // Clone, inherent impl
        "impl::core::clone::CloneforShop",
        "users:::core::clone::Clone::clone(&self.users)",
        "pubfnopen(backend:impl::kvstore::IntoBackend)->Self{::kvstore::__private::open_root::<Self>(backend,\"shop\")}",
        "::kvstore::__private::open_root::<Self>(backend,prefix)",
        "pubfnschema()->::kvstore::__private::Value{::kvstore::__private::manifest_root::<Self>(\"shop\")}",
        "pubfnusers(&self)->Dynamic<Item<User>>{::core::clone::Clone::clone(&self.users)}",
        "pubfnr#type(&self)->Item<String>{::core::clone::Clone::clone(&self.r#type)}",
    ];
    for e in expect {
        assert!(out.contains(&e.replace(' ', "")), "missing {e}\nin {out}");
    }
    // Accessor docs: the field's own doc, then its key pattern and TTL.
    let docs = [
        r#"#[doc=" The shop's settings."]"#,
        r#"#[doc="`<store>:settings`—`Item<Settings>`"]"#,
        r#"#[doc="`<store>:u:*`—`Dynamic<Item<User>>`"]"#,
        r#"#[doc="`<store>:sessions:*`—`Dynamic<Item<Session>>`\n\nDefaultTTL:`30m`."]"#,
        r#"#[doc="`<store>:tenants:{*}:...`—`kvstore::Dynamic<Tenant>`"]"#,
        r#"#[doc="`<store>:views:*`—`Dynamic<Counter,u64>`"]"#,
        r#"#[doc="`<store>:stats:...`—`Stats`"]"#,
    ];
    for d in docs {
        assert!(out.contains(&d.replace(' ', "")), "missing {d}\nin {out}");
    }
}

#[test]
fn no_prefix_and_custom_crate() {
    let (out, errors) = run(r#"
        #[store(crate = "::reexport::kv")]
        pub(crate) struct S { a: Item<u8> }
    "#);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        out.contains("::reexport::kv::__private::open_root::<Self>(backend,\"\")"),
        "{out}"
    );
    assert!(out.contains("pub(crate)fna(&self)"), "{out}");
    assert!(!out.contains("::kvstore::"), "{out}");

    let (out, _) = run("struct Private { a: Item<u8> }");
    assert!(
        out.contains("fna(&self)->Item<u8>") && !out.contains("pubfna"),
        "{out}"
    );
}

#[test]
fn empty_struct_is_a_store() {
    let (out, errors) = run("struct Nothing {}");
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(out.contains("Nothing{}"), "{out}");
}

#[test]
fn shapes() {
    assert!(one_error("struct T(Item<u8>);").contains("tuple structs are not supported"));
    assert!(one_error("struct U;").contains("unit struct"));
    assert!(one_error("enum E { A }").contains("enums are not supported"));
    assert!(one_error("union U { a: u8 }").contains("unions are not supported"));
    assert!(one_error("struct G<T> { a: Item<T> }").contains("generic structs"));
    assert!(one_error("struct G<'a> { a: &'a Item<u8> }").contains("generic structs"));
    assert!(one_error("struct G<const N: usize> { a: Item<[u8; N]> }").contains("generic structs"));
    // Nothing is generated for a generic struct.
    assert_eq!(run("struct G<T> { a: Item<T> }").0, "");
}

#[test]
fn attribute_syntax() {
    let e = one_error(r#"struct S { #[store(renam = "x")] a: Item<u8> }"#);
    assert!(
        e.contains("unknown store attribute `renam`")
            && e.contains("`rename = \"...\"`, `ttl = \"...\"`, `colocate`"),
        "{e}"
    );
    let e = one_error(r#"#[store(prefx = "x")] struct S { a: Item<u8> }"#);
    assert!(
        e.contains("unknown store attribute `prefx`")
            && e.contains("`prefix = \"...\"` and `crate = \"...\"`"),
        "{e}"
    );
    let e = one_error(r#"struct S { #[store(rename = "x", rename = "y")] a: Item<u8> }"#);
    assert!(e.contains("duplicate store attribute `rename`"), "{e}");
    let e = one_error(r#"struct S { #[store(ttl = "1s")] #[store(ttl = "2s")] a: Item<u8> }"#);
    assert!(e.contains("duplicate store attribute `ttl`"), "{e}");
    let e = one_error(r#"struct S { #[store(ttl = 30)] a: Item<u8> }"#);
    assert!(e.contains("expected a string: `ttl = \"30m\"`"), "{e}");
    let e = one_error(r#"struct S { #[store(rename)] a: Item<u8> }"#);
    assert!(e.contains("expected a string: `rename = \"...\"`"), "{e}");
    let e = one_error(r#"struct S { #[store(colocate = true)] a: Dynamic<Item<u8>> }"#);
    assert!(e.contains("`colocate` takes no value"), "{e}");
    let e = one_error(r#"struct S { #[store] a: Item<u8> }"#);
    assert!(e.contains("expected `#[store(...)]`"), "{e}");
    // Other attributes are not ours.
    assert!(errors(r#"#[serde(x)] struct S { #[doc = "d"] #[other] a: Item<u8> }"#).is_empty());
}

#[test]
fn misplaced_attributes() {
    let e = one_error(r#"struct S { #[store(prefix = "p")] a: Item<u8> }"#);
    assert!(e.contains("`prefix` is a struct attribute"), "{e}");
    let e = one_error(r#"struct S { #[store(crate = "k")] a: Item<u8> }"#);
    assert!(e.contains("`crate` is a struct attribute"), "{e}");
    let e = one_error(r#"#[store(rename = "r")] struct S { a: Item<u8> }"#);
    assert!(e.contains("`rename` is a field attribute"), "{e}");
    let e = one_error(r#"#[store(ttl = "1s")] struct S { a: Item<u8> }"#);
    assert!(e.contains("`ttl` is a field attribute"), "{e}");
    let e = one_error(r#"#[store(colocate)] struct S { a: Item<u8> }"#);
    assert!(e.contains("`colocate` is a field attribute"), "{e}");
}

#[test]
fn names() {
    let e = one_error(r#"#[store(prefix = "")] struct S { a: Item<u8> }"#);
    assert!(e.contains("`prefix` must not be empty"), "{e}");
    let e = one_error(r#"#[store(prefix = "a::b")] struct S { a: Item<u8> }"#);
    assert!(e.contains("invalid prefix `a::b`: empty segment"), "{e}");
    let e = one_error(r#"#[store(prefix = "my shop")] struct S { a: Item<u8> }"#);
    assert!(
        e.contains("invalid prefix `my shop`: the character ' ' is not allowed"),
        "{e}"
    );
    assert!(errors(r#"#[store(prefix = "app:v1.2-x_y")] struct S { a: Item<u8> }"#).is_empty());
    let e = one_error(r#"struct S { #[store(rename = "a:b")] a: Item<u8> }"#);
    assert!(
        e.contains("invalid rename `a:b`: the character ':' is not allowed"),
        "{e}"
    );
    let e = one_error(r#"struct S { #[store(rename = "")] a: Item<u8> }"#);
    assert!(e.contains("`rename` must not be empty"), "{e}");
    let e = one_error("struct S { café: Item<u8> }");
    assert!(
        e.contains(
            "field name `café` is not a valid key segment (the character 'é' is not allowed"
        ),
        "{e}"
    );
    // A rename makes any field name acceptable.
    assert!(errors(r#"struct S { #[store(rename = "cafe")] café: Item<u8> }"#).is_empty());
    let e = one_error(r#"#[store(crate = "not a path")] struct S { a: Item<u8> }"#);
    assert!(e.contains("invalid `crate` path"), "{e}");
}

#[test]
fn ttls() {
    let e = one_error(r#"struct S { #[store(ttl = "30 minutes")] a: Item<u8> }"#);
    assert!(e.contains("invalid ttl `30 minutes`"), "{e}");
    let e = one_error(r#"struct S { #[store(ttl = "0s")] a: Item<u8> }"#);
    assert!(e.contains("greater than zero"), "{e}");
    let (out, errors) = run(r#"struct S { #[store(ttl = "500ms")] a: Item<u8>, b: Item<u8> }"#);
    assert!(errors.is_empty());
    assert!(out.contains("from_millis(500u64)"), "{out}");
    assert!(
        out.contains("__path.child(\"b\"),&::kvstore::__private::Spec{ttl:__spec.ttl"),
        "{out}"
    );
}

#[test]
fn a_second_clone_is_explained() {
    let e = one_error("#[derive(Clone)] struct S { a: Item<u8> }");
    assert!(e.contains("already implements `Clone`"), "{e}");
    let (out, _) = run("#[derive(Debug, Clone)] struct S { a: Item<u8> }");
    assert!(!out.contains("impl::core::clone::CloneforS"), "{out}");
}

#[test]
fn migrate_from() {
    let (out, errors) = run("struct S { #[store(migrate_from(V2, V1))] a: Dynamic<Item<V3>> }");
    assert!(errors.is_empty(), "{errors:?}");
    // Each older version converts through the newer ones, into the current type.
    assert!(out.contains(".version::<V2>"), "{out}");
    assert!(
        out.contains("<V2as::core::convert::From<V1>>::from(__v)"),
        "{out}"
    );
    assert!(out.contains(".write_back(true)"), "{out}");
    let (out, _) = run("struct S { #[store(migrate_from(V1), write_back = false)] a: Item<V2> }");
    assert!(out.contains(".write_back(false)"), "{out}");
    let e = one_error("struct S { #[store(write_back = false)] a: Item<V2> }");
    assert!(e.contains("only applies with `migrate_from"), "{e}");
    let e = one_error("struct S { #[store(migrate_from())] a: Item<V2> }");
    assert!(e.contains("newest first"), "{e}");
    let e = one_error("struct S { #[store(migrate_from = \"V1\")] a: Item<V2> }");
    assert!(e.contains("newest first"), "{e}");
    let e = one_error("#[store(migrate_from(V1))] struct S { a: Item<V2> }");
    assert!(e.contains("is a field attribute"), "{e}");
    let e = one_error("struct S { migrate: Item<V2> }");
    assert!(e.contains("would clash"), "{e}");
}

#[test]
fn colocate_needs_dynamic() {
    let e = one_error("struct S { #[store(colocate)] a: Item<u8> }");
    assert!(
        e.contains("`colocate` only applies to a `Dynamic<N, K>` field")
            && e.contains("`a` has type `Item<u8>`"),
        "{e}"
    );
    assert!(
        errors("struct S { #[store(colocate)] a: ::kvstore::Dynamic<Counter, u64> }").is_empty()
    );
}

#[test]
fn duplicate_segments() {
    let e = one_error(r#"struct S { #[store(rename = "a")] x: Item<u8>, a: Item<u8> }"#);
    assert!(
        e.contains("duplicate key segment `a`: field `x` already maps to it"),
        "{e}"
    );
    let e = one_error(r#"struct S { a: Item<u8>, #[store(rename = "a")] x: Item<u8> }"#);
    assert!(
        e.contains("duplicate key segment `a`: field `a` already maps to it"),
        "{e}"
    );
    let e = one_error("struct S { r#type: Item<u8>, #[store(rename = \"type\")] t: Item<u8> }");
    assert!(e.contains("field `type` already maps"), "{e}");
}

#[test]
fn reserved_field_names() {
    for name in ["open", "open_with_prefix", "schema", "clone"] {
        let src = format!("struct S {{ {name}: Item<u8> }}");
        let (out, errors) = run(&src);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].contains(&format!(
                "a field named `{name}` would clash with the generated `S::{name}`"
            )),
            "{}",
            errors[0]
        );
        // No second definition: only the generated method.
        assert!(!out.contains(&format!("fn{name}(&self)->&")), "{out}");
    }
    assert!(errors(r#"struct S { #[store(rename = "open")] open_: Item<u8> }"#).is_empty());
}

#[test]
fn every_error_at_once() {
    let errors = errors(
        r#"
        #[store(prefix = "bad prefix", ttl = "1s", bogus)]
        struct S {
            #[store(ttl = "forever", colocate)]
            a: Item<u8>,
            #[store(rename = "a")]
            b: Item<u8>,
            #[store(rename = "x y")]
            c: Item<u8>,
        }
    "#,
    );
    assert_eq!(errors.len(), 7, "{errors:#?}");
}

#[test]
fn max_len_is_for_streams() {
    let ty = |s: &str| syn::parse_str::<syn::Type>(s).unwrap();
    assert!(crate::valid::is_stream(&ty("StreamOf<u8>")));
    assert!(crate::valid::is_stream(&ty("kvstore::StreamOf<Event>")));
    assert!(crate::valid::is_stream(&ty(
        "Dynamic<Dynamic<StreamOf<u8>>, u64>"
    )));
    assert!(!crate::valid::is_stream(&ty("Dynamic<Item<u8>>")));
    assert!(!crate::valid::is_stream(&ty("ListOf<u8>")));
    assert!(!crate::valid::is_stream(&ty("Shop")));
}

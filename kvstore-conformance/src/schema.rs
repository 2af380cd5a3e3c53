//! `Store::schema()`: the manifest of the whole tree.

use serde_json::{json, Value};

use super::*;

fn entry<'a>(manifest: &'a Value, pattern: &str) -> &'a Value {
    manifest
        .get(pattern)
        .unwrap_or_else(|| panic!("no manifest entry {pattern:?} in {manifest:#}"))
}

#[track_caller]
fn assert_kind(manifest: &Value, pattern: &str, kind: &str, ttl: Option<Value>, has_schema: bool) {
    let e = entry(manifest, pattern);
    assert_eq!(e["kind"], json!(kind), "{pattern}: {e}");
    assert_eq!(e.get("ttl_secs").cloned(), ttl, "{pattern}: {e}");
    assert_eq!(
        e.get("schema").is_some(),
        has_schema,
        "{pattern}: schema present for items and sets only: {e}"
    );
}

rules! {
    /// The manifest: key patterns with `*` per dynamic segment (`{*}` when colocated), kinds,
    /// schemas, default TTLs.
    pub async fn schema_manifest(_env: Env) {
        let m = Shop::schema();
        let obj = m.as_object().expect("the manifest is an object");
        let mut patterns: Vec<&str> = obj.keys().map(String::as_str).collect();
        patterns.sort();
        let mut want = vec![
            "settings",
            "u:*",
            "u2:*",
            "sessions:*",
            "flash:*",
            "visits",
            "views:*",
            "hits:*",
            "tags",
            "labels",
            "recent",
            "logo",
            "thumbs:*",
            "tenants:*:config",
            "tenants:*:users:*",
            "tenants:*:seen",
            "tenants:*:hits",
            "tenants:*:notes:*",
            "tenants:*:docs:{*}",
            "ctenants:{*}:config",
            "ctenants:{*}:users:*",
            "ctenants:{*}:seen",
            "ctenants:{*}:hits",
            "ctenants:{*}:notes:*",
            "ctenants:{*}:docs:*",
            "stats:hits",
            "stats:last",
            "stats:daily:*",
            "cache:hits",
            "cache:last",
            "cache:daily:*",
            "grid:*:*",
            "ledger:*",
            "small:*",
            "big:*",
            "tally",
            "notes:*",
        ];
        want.sort();
        assert_eq!(patterns, want);

        assert_kind(&m, "settings", "item", None, true);
        assert_kind(&m, "u:*", "item", None, true);
        assert_kind(&m, "sessions:*", "item", Some(json!(1800)), true);
        assert_kind(&m, "flash:*", "item", Some(json!(0.3)), true);
        assert_kind(&m, "visits", "counter", None, false);
        assert_kind(&m, "views:*", "counter", None, false);
        assert_kind(&m, "hits:*", "counter", Some(json!(1)), false);
        assert_kind(&m, "tags", "set", None, true);
        assert_kind(&m, "recent", "set", Some(json!(1800)), true);
        assert_kind(&m, "logo", "blob", None, false);
        assert_kind(&m, "thumbs:*", "blob", Some(json!(1800)), false);
        assert_kind(&m, "tenants:*:config", "item", None, true);
        assert_kind(&m, "tenants:*:seen", "set", None, true);
        assert_kind(&m, "ctenants:{*}:hits", "counter", None, false);
        assert_kind(&m, "stats:hits", "counter", None, false);
        assert_kind(&m, "cache:hits", "counter", Some(json!(3600)), false);
        assert_kind(&m, "cache:last", "item", Some(json!(3600)), true);
        assert_kind(&m, "cache:daily:*", "counter", Some(json!(3600)), false);
        assert_kind(&m, "grid:*:*", "item", None, true);

        // The schemas are schemars' JSON Schemas, constraints included.
        let user = &entry(&m, "u:*")["schema"];
        assert_eq!(user["type"], json!("object"), "{user}");
        assert_eq!(
            user["properties"]["email"]["format"],
            json!("email"),
            "{user}"
        );
        assert_eq!(user["properties"]["age"]["maximum"], json!(150), "{user}");
        let required: Vec<&str> = user["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            required.contains(&"email") && required.contains(&"age"),
            "{user}"
        );
        assert_eq!(
            entry(&m, "tenants:*:users:*")["schema"]["properties"],
            user["properties"]
        );
        let settings = &entry(&m, "settings")["schema"];
        assert_eq!(
            settings["properties"]["motd"]["maxLength"],
            json!(16),
            "{settings}"
        );
        assert_eq!(entry(&m, "tags")["schema"]["type"], json!("string"));
        assert_eq!(
            entry(&m, "labels")["schema"]["properties"]["name"]["maxLength"],
            json!(8)
        );

        // Stable: the same manifest every time.
        assert_eq!(Shop::schema(), m);
    }

    /// The root prefix starts every pattern.
    pub async fn schema_manifest_with_root_prefix(_env: Env) {
        let m = Prefixed::schema();
        let mut patterns: Vec<&str> = m
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        patterns.sort();
        assert_eq!(patterns, vec!["app:v1:counts:*", "app:v1:name"]);
        assert_kind(&m, "app:v1:name", "item", None, true);
        assert_kind(&m, "app:v1:counts:*", "counter", None, false);
        // Nested stores have their own manifests, without a prefix.
        let t = Tenant::schema();
        assert!(
            t.get("config").is_some() && t.get("docs:{*}").is_some(),
            "{t:#}"
        );
    }
}

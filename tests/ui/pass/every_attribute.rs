//! Every attribute, nested stores and `Dynamic` of `Dynamic`, used from code.
#![deny(warnings)]

use kvstore::{Blob, Counter, Dynamic, Item, MemoryBackend, SetOf, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
}

#[derive(Store)]
struct Stats {
    visits: Counter,
    /// Views per page id.
    views: Dynamic<Counter, u64>,
}

#[derive(Store)]
pub struct Tenant {
    config: Item<String>,
    #[store(rename = "m", ttl = "7d")]
    members: Dynamic<Item<User>>,
}

/// A shop.
#[derive(Store)]
#[store(prefix = "app:v1.shop", crate = "::kvstore")]
pub struct Shop {
    /// The settings.
    settings: Item<u32>,
    #[store(rename = "u")]
    users: Dynamic<Item<User>>,
    #[store(ttl = "30m")]
    sessions: Dynamic<Item<User>>,
    #[store(colocate)]
    #[store(ttl = "500ms")]
    tenants: kvstore::Dynamic<Tenant>,
    grid: Dynamic<Dynamic<Counter, u32>, i64>,
    tags: SetOf<String>,
    logo: Blob,
    stats: Stats,
    r#type: Item<String>,
    #[store(rename = "open")]
    opener: Item<bool>,
}

/// A recursive store: `Self` in a field type.
#[derive(Store)]
struct Tree {
    label: Item<String>,
    children: Dynamic<Self>,
}

/// A store with no fields is a store too.
#[derive(Store)]
struct Empty {}

mod private {
    #[derive(kvstore::Store)]
    #[store(prefix = "in-mod")]
    pub(crate) struct Inner {
        pub(crate) count: kvstore::Counter,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> kvstore::Result<()> {
    let backend = MemoryBackend::new();
    let shop = Shop::open(backend.clone());
    let alice = User {
        name: "alice".into(),
    };

    shop.users().set("alice", &alice).await?;
    assert_eq!(shop.users().get("alice").await?, Some(alice.clone()));
    assert_eq!(shop.users().at("alice").key(), "app:v1.shop:u:alice");
    assert_eq!(shop.settings().key(), "app:v1.shop:settings");
    assert_eq!(shop.r#type().key(), "app:v1.shop:type");
    assert_eq!(shop.opener().key(), "app:v1.shop:open");
    assert_eq!(shop.tags().key(), "app:v1.shop:tags");
    assert_eq!(shop.logo().key(), "app:v1.shop:logo");

    let acme = shop.tenants().at("acme");
    assert_eq!(acme.config().key(), "app:v1.shop:tenants:{acme}:config");
    assert_eq!(
        acme.members().at("bob").key(),
        "app:v1.shop:tenants:{acme}:m:bob"
    );
    acme.config().set(&"dark".to_owned()).await?;
    // A field's own TTL overrides the inherited one.
    acme.members().set("bob", &alice).await?;
    let ttl = acme
        .members()
        .at("bob")
        .ttl()
        .await?
        .expect("members have a ttl");
    assert!(ttl > std::time::Duration::from_secs(6 * 86_400), "{ttl:?}");
    let ttl = acme.config().ttl().await?.expect("inherited ttl");
    assert!(ttl <= std::time::Duration::from_millis(500), "{ttl:?}");

    assert_eq!(shop.grid().at(-3).at(7u32).increment(2).await?, 2);
    assert_eq!(shop.grid().at(-3).at(7u32).key(), "app:v1.shop:grid:-3:7");
    assert_eq!(
        shop.stats().views().at(42).key(),
        "app:v1.shop:stats:views:42"
    );
    shop.stats().visits().increment(1).await?;
    assert_eq!(shop.stats().visits().get().await?, 1);

    // A clone shares the backend; so does a store opened on a clone of the backend.
    assert_eq!(shop.clone().users().count().await?, 1);
    assert_eq!(
        Shop::open(backend.clone()).users().keys().await?,
        vec!["alice".to_owned()]
    );

    // Runtime prefixes.
    let test = Shop::open_with_prefix(backend.clone(), "test-1");
    assert_eq!(test.users().at("x").key(), "test-1:u:x");
    assert!(test.users().get("alice").await?.is_none());
    let bad = Shop::open_with_prefix(backend.clone(), "bad prefix");
    assert!(matches!(
        bad.users().get("alice").await,
        Err(kvstore::Error::InvalidKey { .. })
    ));

    let schema = Shop::schema();
    let schema = schema.as_object().expect("an object");
    for key in [
        "app:v1.shop:settings",
        "app:v1.shop:u:*",
        "app:v1.shop:sessions:*",
        "app:v1.shop:tenants:{*}:config",
        "app:v1.shop:tenants:{*}:m:*",
        "app:v1.shop:grid:*:*",
        "app:v1.shop:tags",
        "app:v1.shop:logo",
        "app:v1.shop:stats:visits",
        "app:v1.shop:stats:views:*",
        "app:v1.shop:type",
        "app:v1.shop:open",
    ] {
        assert!(schema.contains_key(key), "{key} not in {schema:#?}");
    }
    assert_eq!(schema.len(), 12, "{schema:#?}");
    assert_eq!(schema["app:v1.shop:sessions:*"]["ttl_secs"], 1800);
    assert_eq!(schema["app:v1.shop:tenants:{*}:m:*"]["ttl_secs"], 604_800);
    assert_eq!(schema["app:v1.shop:tenants:{*}:config"]["ttl_secs"], 0.5);

    assert!(Empty::schema().as_object().is_some_and(|o| o.is_empty()));
    let _ = Empty::open(backend.clone()).clone();

    let tree = Tree::open(backend.clone());
    let leaf = tree.children().at("a").children().at("b");
    assert_eq!(leaf.label().key(), "children:a:children:b:label");

    let inner = private::Inner::open(backend);
    assert_eq!(inner.count().key(), "in-mod:count");
    Ok(())
}

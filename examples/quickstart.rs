//! The README's tour, on the in-memory backend: no server needed. Run with
//! `cargo run --example quickstart`. (This file is the tour, character for character after this
//! header: `tests/readme.rs` checks it.)

use std::time::Duration;

use kvstore::{Blob, Counter, Dynamic, Error, Item, MemoryBackend, SetOf, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Settings {
    currency: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Session {
    user: String,
}

#[derive(Store)] // a nested store: no prefix of its own
struct Tenant {
    config: Item<Settings>,
    orders: Counter,
}

#[derive(Store)] // generates open, open_with_prefix, schema, accessors, Clone
#[store(prefix = "shop")] // optional root key prefix
struct Shop {
    settings: Item<Settings>, // shop:settings
    #[store(rename = "u")]
    users: Dynamic<Item<User>>, // shop:u:<id>
    #[store(ttl = "30m")] // default TTL of every value written under this field
    sessions: Dynamic<Item<Session>>, // shop:sessions:<id>
    visits: Counter,          // shop:visits
    views: Dynamic<Counter, u64>, // shop:views:<u64>
    tags: SetOf<String>,      // shop:tags (a Redis SET)
    logo: Blob,               // shop:logo (raw bytes)
    tenants: Dynamic<Tenant>, // shop:tenants:<id>:config, shop:tenants:<id>:orders
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Any backend, by value: MemoryBackend, RedisBackend, RedisClusterBackend, or
    // `kvstore::connect(url).await?`. `open` is not async and sends nothing.
    let shop = Shop::open(MemoryBackend::new());

    let alice = User {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        age: 36,
    };
    shop.users().set("alice", &alice).await?; // validated, then written
    assert_eq!(shop.users().get("alice").await?, Some(alice.clone()));
    assert_eq!(shop.users().at("alice").key(), "shop:u:alice");

    // An invalid value is refused, and nothing is written.
    let bad = User {
        name: "Bob".into(),
        email: "nope".into(),
        age: 200,
    };
    match shop.users().set("bob", &bad).await {
        Err(Error::Validation { key, issues, .. }) => {
            assert_eq!(key, "shop:u:bob");
            for issue in &issues {
                println!("{}: {}", issue.path, issue.message); // "/age: 200 is greater than ..."
            }
        }
        other => panic!("{other:?}"),
    }

    // Batches: validated first, then written in one atomic step; reads in one round trip.
    let carol = User {
        name: "Carol".into(),
        email: "carol@example.com".into(),
        age: 41,
    };
    shop.users()
        .set_many([("carol", &carol), ("alice", &alice)])
        .await?;
    let found = shop.users().get_many(["alice", "nobody"]).await?;
    assert_eq!(found, vec![Some(alice.clone()), None]);
    assert_eq!(shop.users().count().await?, 2);

    // Atomic read-modify-write; returning None would remove the value.
    shop.users()
        .at("carol")
        .modify(|u| {
            u.map(|u| User {
                age: u.age + 1,
                ..u
            })
        })
        .await?;

    // TTLs: the field default, or one per write.
    shop.sessions()
        .set(
            "s1",
            &Session {
                user: "alice".into(),
            },
        )
        .await?;
    assert!(shop.sessions().at("s1").ttl().await?.unwrap() <= Duration::from_secs(1800));
    let pending = shop.sessions().at("s2");
    assert!(
        pending
            .set_if_absent(&Session {
                user: "carol".into()
            })
            .await?
    );
    pending.expire(Duration::from_secs(60)).await?;

    // Counters, sets, blobs.
    assert_eq!(shop.visits().increment(1).await?, 1);
    shop.views().at(42).increment(5).await?;
    shop.tags().add(&"rust".to_string()).await?;
    assert!(shop.tags().contains(&"rust".to_string()).await?);
    shop.logo().set(b"\x89PNG...").await?;

    // Nested keyspaces.
    let acme = shop.tenants().at("acme");
    acme.config()
        .set(&Settings {
            currency: "EUR".into(),
        })
        .await?;
    acme.orders().increment(1).await?;
    assert_eq!(acme.config().key(), "shop:tenants:acme:config");
    assert_eq!(shop.tenants().keys().await?, vec!["acme".to_string()]);

    // The manifest of every key pattern, with each value's JSON Schema and default TTL.
    let schema = Shop::schema();
    assert_eq!(schema["shop:sessions:*"]["ttl_secs"], 1800);
    assert_eq!(schema["shop:tenants:*:orders"]["kind"], "counter");
    Ok(())
}

// Not part of the tour: the store's manifest is committed in `examples/quickstart.schema.json`,
// and `cargo test --example quickstart` fails when the layout drifts from it (accept a change
// with `KVSTORE_ACCEPT_MANIFEST=1`).
#[cfg(test)]
mod tests {
    #[test]
    fn the_layout_is_the_committed_one() {
        kvstore::manifest::assert_snapshot(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/quickstart.schema.json"
            ),
            &super::Shop::schema(),
        );
    }
}

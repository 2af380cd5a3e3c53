//! A tour of kvstore on the in-memory backend: no server needed.
//!
//! Run with `cargo run --example quickstart`.

use kvstore::{Counter, Dynamic, Error, Item, MemoryBackend, SetOf, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Settings {
    currency: String,
    open: bool,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct TenantConfig {
    plan: String,
    seats: u32,
}

/// A nested store: one per tenant id.
#[derive(Store)]
struct Tenant {
    config: Item<TenantConfig>,
    orders: Counter,
}

#[derive(Store)]
#[store(prefix = "example:quickstart")]
struct Shop {
    settings: Item<Settings>,
    #[store(rename = "u")]
    users: Dynamic<Item<User>>,
    visits: Counter,
    tags: SetOf<String>,
    tenants: Dynamic<Tenant>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shop = Shop::open(MemoryBackend::new());

    // A single typed value.
    let settings = Settings {
        currency: "EUR".into(),
        open: true,
    };
    shop.settings().set(&settings).await?;
    println!(
        "{} = {:?}",
        shop.settings().key(),
        shop.settings().get().await?
    );

    // A map from ids to users: validated on write, and again on read.
    let alice = User {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        age: 36,
    };
    shop.users().set("alice", &alice).await?;
    println!(
        "{} = {:?}",
        shop.users().at("alice").key(),
        shop.users().get("alice").await?
    );

    // An invalid value is refused before anything is written.
    let bad = User {
        name: "Bob".into(),
        email: "not-an-email".into(),
        age: 200,
    };
    match shop.users().set("bob", &bad).await {
        Err(Error::Validation { key, issues, .. }) => {
            println!("rejected {key}:");
            for issue in issues {
                println!("  {} -> {}", issue.path, issue.message);
            }
        }
        other => return Err(format!("expected a validation error, got {other:?}").into()),
    }
    assert_eq!(shop.users().get("bob").await?, None);
    println!("users: {:?}", shop.users().keys().await?);

    // An atomic counter and a set.
    shop.visits().increment(1).await?;
    let visits = shop.visits().increment(2).await?;
    println!("{} = {visits}", shop.visits().key());
    shop.tags().add(&"rust".to_string()).await?;
    shop.tags().add(&"redis".to_string()).await?;
    let new = shop.tags().add(&"rust".to_string()).await?;
    println!(
        "{} has {} members (adding `rust` again was new: {new})",
        shop.tags().key(),
        shop.tags().len().await?
    );

    // A nested store per tenant.
    let acme = shop.tenants().at("acme");
    acme.config()
        .set(&TenantConfig {
            plan: "pro".into(),
            seats: 25,
        })
        .await?;
    acme.orders().increment(1).await?;
    println!("{} = {:?}", acme.config().key(), acme.config().get().await?);
    println!("tenants: {:?}", shop.tenants().keys().await?);

    // The manifest of every key pattern, with the JSON Schema of each value.
    println!(
        "schema:\n{}",
        serde_json::to_string_pretty(&Shop::schema())?
    );
    Ok(())
}

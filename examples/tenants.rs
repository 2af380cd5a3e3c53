//! Per-tenant keyspaces: every tenant gets the same nested store, and no operation on one tenant
//! ever touches another.
//!
//! Run with `cargo run --example tenants` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example tenants`.

use kvstore::{Counter, Dynamic, Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Config {
    plan: String,
    #[schemars(range(min = 1, max = 10000))]
    seats: u32,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Member {
    name: String,
    admin: bool,
}

/// What every tenant has.
#[derive(Store)]
struct Tenant {
    config: Item<Config>,
    users: Dynamic<Item<Member>>,
    api_calls: Counter,
}

#[derive(Store)]
#[store(prefix = "example:tenants")]
struct App {
    tenants: Dynamic<Tenant>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let app = App::open(kvstore::connect(&url).await?);
    println!("backend: {url}");

    for (tenant, plan, people) in [
        ("acme", "pro", &["ann", "ali"][..]),
        ("globex", "free", &["gus"][..]),
        ("a:b", "free", &["x"][..]),
    ] {
        let t = app.tenants().at(tenant);
        t.config()
            .set(&Config {
                plan: plan.into(),
                seats: 10,
            })
            .await?;
        for name in people {
            t.users()
                .set(
                    *name,
                    &Member {
                        name: name.to_string(),
                        admin: false,
                    },
                )
                .await?;
        }
        t.api_calls().increment(people.len() as i64).await?;
    }

    // The key layout: prefix, field names, ids (percent-encoded: `a:b` cannot escape its tenant).
    let acme = app.tenants().at("acme");
    println!("keys of tenant acme:");
    println!("  {}", acme.config().key());
    println!("  {}", acme.users().at("ann").key());
    println!("  {}", acme.api_calls().key());
    println!("  {}", app.tenants().at("a:b").config().key());

    let mut tenants = app.tenants().keys().await?;
    tenants.sort();
    println!("tenants: {tenants:?} ({})", app.tenants().count().await?);

    // Listing and clearing one tenant's users stays inside that tenant.
    let globex = app.tenants().at("globex");
    println!(
        "acme users: {}, globex users: {}",
        acme.users().count().await?,
        globex.users().count().await?
    );
    let removed = acme.users().clear().await?;
    println!("cleared acme users ({removed} keys)");
    println!(
        "acme users: {}, globex users: {:?}",
        acme.users().count().await?,
        globex.users().keys().await?
    );
    assert_eq!(globex.users().count().await?, 1);
    assert_eq!(acme.api_calls().get().await?, 2);

    // Remove everything of every tenant (and only that).
    let removed = app.tenants().clear().await?;
    println!(
        "removed {removed} keys; tenants left: {}",
        app.tenants().count().await?
    );
    Ok(())
}

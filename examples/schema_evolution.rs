//! Changing a value type without an outage: `Profile` went through three versions, and the data
//! written by the first two keeps working.
//!
//! 1. Week 1 stores `ProfileV1 { name }`; week 2 `ProfileV2 { first, last }`, and some TTLs.
//! 2. Week 3's program opens the store with `Profile { first, last, country }` and lists the
//!    older versions in `#[store(migrate_from(ProfileV2, ProfileV1))]`.
//! 3. Reading an old profile converts it (`V1 -> V2 -> Profile`), writes it back in the new shape
//!    (keeping its TTL), and returns it. A profile that fits no version is an error naming its
//!    key — and `get_each`/`stream` still return every other profile.
//! 4. `audit()` counts what is current, outdated and broken; `migrate()` rewrites the outdated
//!    ones; the second audit shows only the broken one left.
//!
//! Run with `cargo run --example schema_evolution` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example schema_evolution`.

use std::time::Duration;

use futures_util::StreamExt;
use kvstore::{
    backend::{BackendExt, SetOptions},
    Dynamic, Item, Store,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Week 1.
#[derive(Serialize, Deserialize, JsonSchema)]
struct ProfileV1 {
    name: String,
}

/// Week 2: the name is split in two.
#[derive(Serialize, Deserialize, JsonSchema)]
struct ProfileV2 {
    first: String,
    last: String,
}

/// Week 3: a required country code.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Profile {
    first: String,
    last: String,
    #[schemars(length(equal = 2))]
    country: String,
}

impl From<ProfileV1> for ProfileV2 {
    fn from(v1: ProfileV1) -> Self {
        let (first, last) = v1.name.split_once(' ').unwrap_or((&v1.name, ""));
        ProfileV2 {
            first: first.to_owned(),
            last: last.to_owned(),
        }
    }
}

impl From<ProfileV2> for Profile {
    fn from(v2: ProfileV2) -> Self {
        Profile {
            first: v2.first,
            last: v2.last,
            country: "ZZ".to_owned(), // unknown until the user tells us
        }
    }
}

#[derive(Store)]
#[store(prefix = "example:evolution")]
struct App {
    /// Older versions, newest first.
    #[store(migrate_from(ProfileV2, ProfileV1))]
    profiles: Dynamic<Item<Profile>>,
    /// The same chain on a single item.
    #[store(migrate_from(ProfileV2, ProfileV1))]
    admin: Item<Profile>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let backend = kvstore::connect(&url).await?;
    let app = App::open(backend.clone());
    println!("backend: {url}");
    app.profiles().clear().await?;
    app.admin().remove().await?;

    // Weeks 1 and 2: what older versions of the program wrote (raw JSON, as they stored it).
    let key = |id: &str| app.profiles().at(id).key().to_owned();
    let write = |key: String, json: &'static str, ttl: Option<Duration>| {
        let backend = backend.clone();
        async move {
            let options = SetOptions {
                ttl,
                ..SetOptions::default()
            };
            backend.set(&key, json.as_bytes(), options).await
        }
    };
    write(key("ada"), r#"{"name":"Ada Lovelace"}"#, None).await?;
    write(key("alan"), r#"{"name":"Alan Turing"}"#, None).await?;
    let hour = Some(Duration::from_secs(3600));
    write(key("grace"), r#"{"first":"Grace","last":"Hopper"}"#, hour).await?;
    write(key("broken"), r#"{"nick":"???"}"#, None).await?;
    write(
        app.admin().key().to_owned(),
        r#"{"name":"Root Admin"}"#,
        None,
    )
    .await?;
    app.profiles()
        .set(
            "edsger",
            &Profile {
                first: "Edsger".into(),
                last: "Dijkstra".into(),
                country: "NL".into(),
            },
        )
        .await?;
    println!("\nstored by weeks 1-3: 2 x V1, 1 x V2 (with a 1 h TTL), 1 x current, 1 broken");

    // Week 3 reads everything through the current type.
    let before = app.audit().await?;
    println!("\naudit before migrating:\n{before}");

    let grace = app.profiles().get("grace").await?;
    println!("grace (a V2 value, converted on read): {grace:?}");
    let ttl = app.profiles().at("grace").ttl().await?;
    println!("  written back in the new shape, TTL kept: {ttl:?}");

    // Rewrite the rest before dropping the oldest version from the code.
    let report = app.migrate().await?;
    println!("\nmigrate: {report}");
    let again = app.migrate().await?;
    println!("migrate again: {again}");

    let after = app.audit().await?;
    println!("audit after migrating:\n{after}");
    assert_eq!(after.outdated, 0);
    assert_eq!(after.invalid, 1);
    assert_eq!(again.migrated, 0);

    // One bad record does not take the others down.
    let each = app.profiles().get_each(["ada", "broken", "nobody"]).await?;
    for (id, result) in ["ada", "broken", "nobody"].iter().zip(&each) {
        match result {
            Ok(value) => println!("get_each {id}: {value:?}"),
            Err(e) => println!(
                "get_each {id}: error (stored data: {}): {e}",
                e.is_stored_data()
            ),
        }
    }
    let mut stream = std::pin::pin!(app.profiles().stream());
    let (mut good, mut bad) = (0, 0);
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => good += 1,
            Err(_) => bad += 1,
        }
    }
    println!("stream: {good} profiles, {bad} error(s)");

    app.profiles().clear().await?;
    app.admin().remove().await?;
    Ok(())
}

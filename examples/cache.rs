//! A read-through cache: `get`, compute on a miss, `set` with a TTL.
//!
//! Run with `cargo run --example cache` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example cache`.

use std::time::Duration;

use kvstore::{Counter, Dynamic, Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Profile {
    user_id: u64,
    display_name: String,
    followers: u32,
}

#[derive(Store)]
#[store(prefix = "example:cache")]
struct Cache {
    /// Cached profiles live for 1 second.
    #[store(ttl = "1s")]
    profiles: Dynamic<Item<Profile>, u64>,
    hits: Counter,
    misses: Counter,
}

/// The slow source of truth (a database, another service...).
async fn load_profile(user_id: u64) -> Profile {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Profile {
        user_id,
        display_name: format!("user-{user_id}"),
        followers: (user_id * 37 % 1000) as u32,
    }
}

async fn profile(cache: &Cache, user_id: u64) -> kvstore::Result<Profile> {
    if let Some(p) = cache.profiles().get(user_id).await? {
        cache.hits().increment(1).await?;
        return Ok(p);
    }
    cache.misses().increment(1).await?;
    let p = load_profile(user_id).await;
    cache.profiles().set(user_id, &p).await?;
    Ok(p)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let cache = Cache::open(kvstore::connect(&url).await?);
    println!("backend: {url}");

    for round in 1..=2 {
        for user in [1, 2, 1, 3] {
            let start = std::time::Instant::now();
            let p = profile(&cache, user).await?;
            println!("round {round}: {} in {:?}", p.display_name, start.elapsed());
        }
    }
    println!(
        "hits {}, misses {}",
        cache.hits().get().await?,
        cache.misses().get().await?
    );
    assert_eq!(
        (cache.hits().get().await?, cache.misses().get().await?),
        (5, 3)
    );

    // Entries expire: after the TTL every lookup is a miss again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    println!("cached after expiry: {:?}", cache.profiles().keys().await?);
    profile(&cache, 1).await?;
    println!(
        "hits {}, misses {}",
        cache.hits().get().await?,
        cache.misses().get().await?
    );

    cache.profiles().clear().await?;
    cache.hits().remove().await?;
    cache.misses().remove().await?;
    Ok(())
}

//! Feature flags with a percentage rollout and per-user overrides.
//!
//! Run with `cargo run --example feature_flags` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example feature_flags`.

use kvstore::{Dynamic, Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Flag {
    enabled: bool,
    /// Share of users who get the feature, 0 to 100.
    #[schemars(range(max = 100))]
    rollout_percent: u8,
}

/// One nested store per flag name.
#[derive(Store)]
struct FlagState {
    config: Item<Flag>,
    /// Per-user decisions that win over the rollout.
    overrides: Dynamic<Item<bool>, u64>,
}

#[derive(Store)]
#[store(prefix = "example:flags")]
struct Flags {
    flags: Dynamic<FlagState>,
}

/// A stable hash (FNV-1a) of flag and user: a user's bucket never changes between runs or hosts.
fn bucket(flag: &str, user_id: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in flag.bytes().chain(user_id.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash % 100
}

async fn is_enabled(flags: &Flags, name: &str, user_id: u64) -> kvstore::Result<bool> {
    let flag = flags.flags().at(name);
    if let Some(decision) = flag.overrides().get(user_id).await? {
        return Ok(decision);
    }
    Ok(match flag.config().get().await? {
        Some(cfg) => cfg.enabled && bucket(name, user_id) < u64::from(cfg.rollout_percent),
        None => false,
    })
}

async fn enabled_users(flags: &Flags, name: &str) -> kvstore::Result<Vec<u64>> {
    let mut on = Vec::new();
    for user in 1..=20 {
        if is_enabled(flags, name, user).await? {
            on.push(user);
        }
    }
    Ok(on)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let flags = Flags::open(kvstore::connect(&url).await?);
    println!("backend: {url}");

    let checkout = flags.flags().at("new-checkout");
    checkout
        .config()
        .set(&Flag {
            enabled: true,
            rollout_percent: 25,
        })
        .await?;
    println!(
        "25% rollout, users 1..=20 enabled: {:?}",
        enabled_users(&flags, "new-checkout").await?
    );

    // Overrides: user 3 always gets it, user 7 never does.
    checkout.overrides().set(3, &true).await?;
    checkout.overrides().set(7, &false).await?;
    println!(
        "with overrides:                  {:?}",
        enabled_users(&flags, "new-checkout").await?
    );

    // Widen the rollout atomically: concurrent editors never lose each other's change.
    let updated = checkout
        .config()
        .modify(|cfg| {
            cfg.map(|f| Flag {
                rollout_percent: (f.rollout_percent + 25).min(100),
                ..f
            })
        })
        .await?;
    println!("modify -> {updated:?}");
    println!(
        "50% rollout:                     {:?}",
        enabled_users(&flags, "new-checkout").await?
    );

    // An out-of-range rollout is refused by the schema (`maximum: 100`).
    let err = checkout
        .config()
        .set(&Flag {
            enabled: true,
            rollout_percent: 150,
        })
        .await
        .unwrap_err();
    println!("refused: {err}");

    flags.flags().clear().await?;
    Ok(())
}

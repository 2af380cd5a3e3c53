//! A lease (a lock with a time limit): `set_if_absent` to acquire, `expire` to renew, and an
//! atomic `modify` so that only the holder can release it.
//!
//! Run with `cargo run --example lease` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example lease`.

use std::time::Duration;

use kvstore::{Dynamic, Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Holder {
    worker: String,
    token: u64,
}

#[derive(Store)]
#[store(prefix = "example:lease")]
struct Coordination {
    /// A lease that is not renewed ends by itself after 1 second (a crashed holder frees it).
    #[store(ttl = "1s")]
    leases: Dynamic<Item<Holder>>,
}

/// Releases the lease only if `me` still holds it; returns whether it did.
async fn release(lease: &Item<Holder>, me: &Holder) -> kvstore::Result<bool> {
    let mut released = false;
    lease
        .modify(|current| match current {
            Some(h) if h == *me => {
                released = true;
                None // removes the key
            }
            other => {
                released = false;
                other // someone else's lease (or none): unchanged
            }
        })
        .await?;
    Ok(released)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let coord = Coordination::open(kvstore::connect(&url).await?);
    println!("backend: {url}");

    let lease = coord.leases().at("nightly-report");
    let a = Holder {
        worker: "worker-a".into(),
        token: 1,
    };
    let b = Holder {
        worker: "worker-b".into(),
        token: 2,
    };

    println!("a acquires: {}", lease.set_if_absent(&a).await?);
    println!(
        "b acquires: {} (held by {:?})",
        lease.set_if_absent(&b).await?,
        lease.get().await?.map(|h| h.worker)
    );

    // Renew while working.
    tokio::time::sleep(Duration::from_millis(600)).await;
    println!(
        "a renews: {}, ttl {:?}",
        lease.expire(Duration::from_secs(1)).await?,
        lease.ttl().await?
    );

    // b cannot release a's lease; a can.
    println!("b releases: {}", release(&lease, &b).await?);
    println!("a releases: {}", release(&lease, &a).await?);
    println!("b acquires: {}", lease.set_if_absent(&b).await?);

    // b crashes without releasing: the lease ends by itself.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    println!(
        "after b's lease expired, a acquires: {}",
        lease.set_if_absent(&a).await?
    );
    assert_eq!(lease.get().await?, Some(a.clone()));

    coord.leases().clear().await?;
    Ok(())
}

//! A lease (a lock with a time limit): `set_if_absent` to acquire, `expire` to renew, and an
//! atomic `modify` so that only the holder can release it. A holder also watches its lease
//! (`watch()`), so it notices at once when it has lost it: the lease expired (the holder stalled
//! and missed a renewal) or another holder took it over; and a waiter watches it to take it as
//! soon as it is free, without polling.
//!
//! Run with `cargo run --example lease` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example lease`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kvstore::{BackendErrorKind, Dynamic, Error, Item, Store};
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

/// Follows the lease for its holder `me` until `me` no longer holds it: it expired or was
/// released (`Ok(None)`), or someone else holds it now (`Ok(Some(them))`). An error (bytes that
/// are not a `Holder`, a backend that cannot be read) ends it too: a holder that cannot tell must
/// assume it lost the lease.
async fn until_lost(lease: Item<Holder>, me: Holder) -> kvstore::Result<Option<Holder>> {
    // The first item is the lease as it is now (still ours, or already lost: nothing slips
    // between acquiring and watching); then one item per change. A renewal (`expire`) leaves the
    // bytes as they were, so it yields nothing.
    let mut changes = Box::pin(lease.watch());
    while let Some(change) = changes.next().await {
        match change? {
            Some(holder) if holder == me => continue,
            other => return Ok(other),
        }
    }
    let ended = "the watch ended (the backend cannot watch)";
    Err(Error::backend(
        BackendErrorKind::Other,
        Some(lease.key()),
        ended,
    ))
}

/// Waits until the lease is free, then takes it (trying again if someone else was faster).
async fn acquire_when_free(lease: Item<Holder>, me: Holder) -> kvstore::Result<()> {
    let mut changes = Box::pin(lease.watch());
    while let Some(change) = changes.next().await {
        if change?.is_none() && lease.set_if_absent(&me).await? {
            return Ok(());
        }
    }
    let ended = "the watch ended (the backend cannot watch)";
    Err(Error::backend(
        BackendErrorKind::Other,
        Some(lease.key()),
        ended,
    ))
}

/// Waits at most 5 s for a task: none of them may hang the example.
async fn within_5s<T>(task: tokio::task::JoinHandle<T>, what: &str) -> T {
    match tokio::time::timeout(Duration::from_secs(5), task).await {
        Ok(done) => done.expect("the task panicked"),
        Err(_) => panic!("{what}: nothing within 5 s"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let coord = Coordination::open(kvstore::connect(&url).await?);
    println!("backend: {url}");
    coord.leases().clear().await?; // start clean, in case an earlier run was interrupted

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

    // a holds the lease again and watches it while it works.
    println!("\na watches its lease");
    let a_watch = tokio::spawn(until_lost(lease.clone(), a.clone()));
    let mut renewed = Instant::now();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        renewed = Instant::now();
        assert!(lease.expire(Duration::from_secs(1)).await?);
        assert!(!a_watch.is_finished(), "a renewal is not a loss");
    }
    println!("a renewed twice: its watch reported nothing");

    // b waits for the lease, watching it too. a stalls (a long pause, a stuck disk) and misses
    // its next renewal: the lease expires; a's watch tells a, and b takes the lease.
    let b_waits = tokio::spawn(acquire_when_free(lease.clone(), b.clone()));
    let now_held_by = within_5s(a_watch, "a's watch after its lease expired").await?;
    let lost_after = renewed.elapsed();
    println!(
        "a stalled: {lost_after:?} after its last renewal its watch reports the lease lost (now held by {:?})",
        now_held_by.as_ref().map(|h| &h.worker)
    );
    // Not before the TTL ran out; and the watch coalesces, so it may show the lease already
    // taken by b rather than free.
    assert!(lost_after >= Duration::from_millis(900), "{lost_after:?}");
    assert!(now_held_by.is_none() || now_held_by.as_ref() == Some(&b));
    within_5s(b_waits, "b waiting for the free lease").await?;
    assert_eq!(lease.get().await?, Some(b.clone()));
    println!("b took the lease as soon as it was free");

    // b holds it and watches it; an operator hands the lease to c by force (a plain `set`).
    let b_watch = tokio::spawn(until_lost(lease.clone(), b.clone()));
    let c = Holder {
        worker: "worker-c".into(),
        token: 3,
    };
    lease.set(&c).await?;
    let now_held_by = within_5s(b_watch, "b's watch after c took over").await?;
    println!(
        "c takes the lease over: b's watch reports it lost to {:?}",
        now_held_by.as_ref().map(|h| &h.worker)
    );
    assert_eq!(now_held_by, Some(c.clone()));
    // b stops working for the lease; it cannot release c's lease either.
    assert!(!release(&lease, &b).await?);
    assert!(release(&lease, &c).await?);

    coord.leases().clear().await?;
    Ok(())
}

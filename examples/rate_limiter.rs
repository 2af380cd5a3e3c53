//! A fixed-window rate limiter: at most `LIMIT` requests per client per second.
//!
//! Run with `cargo run --example rate_limiter` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example rate_limiter`.

use std::time::Duration;

use kvstore::{Counter, Dynamic, Store};

const LIMIT: i64 = 5;

#[derive(Store)]
#[store(prefix = "example:ratelimit")]
struct Limits {
    /// One counter per client. A counter created by `increment` gets the 1 s TTL; later
    /// increments keep it, so the window is fixed and the counter disappears when it ends.
    #[store(ttl = "1s")]
    requests: Dynamic<Counter>,
}

/// Counts one request and says whether it is allowed.
async fn allow(limits: &Limits, client: &str) -> kvstore::Result<(bool, i64)> {
    let used = limits.requests().at(client).increment(1).await?;
    Ok((used <= LIMIT, used))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let limits = Limits::open(kvstore::connect(&url).await?);
    println!("backend: {url}, limit {LIMIT} requests per 1 s window");

    let mut allowed = 0;
    for i in 1..=7 {
        let (ok, used) = allow(&limits, "203.0.113.7").await?;
        allowed += usize::from(ok);
        println!(
            "request {i}: count {used} -> {}",
            if ok { "allowed" } else { "DENIED" }
        );
    }
    assert_eq!(allowed, LIMIT as usize);

    // Another client has its own window.
    let (ok, _) = allow(&limits, "198.51.100.1").await?;
    println!("other client: {}", if ok { "allowed" } else { "DENIED" });

    let counter = limits.requests().at("203.0.113.7");
    println!("{} expires in {:?}", counter.key(), counter.ttl().await?);

    // Wait for the window to end: the counter is gone, and requests are allowed again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    println!(
        "after the window: count {}, exists {}",
        counter.get().await?,
        counter.exists().await?
    );
    let (ok, used) = allow(&limits, "203.0.113.7").await?;
    println!(
        "request 8: count {used} -> {}",
        if ok { "allowed" } else { "DENIED" }
    );
    assert!(ok);

    limits.requests().clear().await?;
    Ok(())
}

//! Login sessions that expire after a period of inactivity.
//!
//! Run with `cargo run --example sessions` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example sessions`.

use std::time::Duration;

use kvstore::{Dynamic, Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Session {
    user_id: u64,
    #[schemars(length(min = 1))]
    user_agent: String,
    created_at_unix: u64,
}

#[derive(Store)]
#[store(prefix = "example:sessions")]
struct Auth {
    /// Every session written here expires 2 seconds after its last write or touch.
    #[store(ttl = "2s")]
    sessions: Dynamic<Item<Session>>,
}

const IDLE: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let auth = Auth::open(kvstore::connect(&url).await?);
    let sessions = auth.sessions();
    println!("backend: {url}");

    // Log two users in: `set` gives each session the field's default TTL.
    for (id, user_id) in [("s-alice", 1), ("s-bob", 2)] {
        let session = Session {
            user_id,
            user_agent: "curl/8".into(),
            created_at_unix: 1_700_000_000,
        };
        sessions.set(id, &session).await?;
        println!(
            "login  {} (ttl {:?})",
            sessions.at(id).key(),
            sessions.at(id).ttl().await?
        );
    }

    // Alice stays active: each request slides her expiry forward.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let touched = sessions.at("s-alice").expire(IDLE).await?;
        println!(
            "touch  s-alice: {touched}, ttl now {:?}",
            sessions.at("s-alice").ttl().await?
        );
    }

    // 2.4 s later Bob, who did nothing, has expired; Alice has not.
    let mut active = sessions.keys().await?;
    active.sort();
    println!("active sessions: {active:?}");
    assert_eq!(active, ["s-alice"]);
    assert_eq!(sessions.get("s-bob").await?, None);

    // Logout removes the session at once.
    let removed = sessions.remove("s-alice").await?;
    println!(
        "logout s-alice: removed {removed}; active sessions: {}",
        sessions.count().await?
    );

    sessions.clear().await?;
    Ok(())
}

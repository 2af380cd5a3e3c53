//! Client-side read caches: what a task that reads through one sees.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{note, Env, Shop};

/// How many writes the staleness rule times.
const ROUNDS: usize = 5;

/// The staleness window a cached read must keep (loopback).
const WINDOW: Duration = Duration::from_millis(100);

/// Longest a cached read may stay stale before the rule gives up on it.
const GIVE_UP: Duration = Duration::from_secs(2);

rules! {
    /// A task that only reads cached values, on a current-thread runtime (every
    /// `#[tokio::test]`), never keeps the cache from applying invalidations: its loop of `get`s
    /// (no other `.await` in it) sees another client's acknowledged write within the staleness
    /// window (median of several writes under 100 ms; none stale for 2 s). Runs through
    /// [`Env::cached_client`] when the environment has one, else through its backend.
    pub async fn cache_hits_never_starve_invalidations(env: Env) {
        let writer = env.shop().notes();
        writer.set("flag", &note("v0")).await.unwrap();
        let acked: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let reader = {
            let (env, acked) = (env.clone(), acked.clone());
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("current-thread runtime: {e}"))?;
                runtime.block_on(async move {
                    let backend = env.cached_client().await;
                    let hits = || backend.info().client_cache.map(|c| c.hits());
                    let hits_before = hits();
                    let notes = Shop::open_with_prefix(backend.clone(), &env.prefix).notes();
                    let mut windows = Vec::new();
                    for round in 0..=ROUNDS {
                        let expected = note(format!("v{round}"));
                        let started = Instant::now();
                        // A tight loop of reads, as a request handler's would be.
                        loop {
                            let value = notes.get("flag").await.map_err(|e| e.to_string())?;
                            if value.as_ref() == Some(&expected) {
                                break;
                            }
                            if started.elapsed() > GIVE_UP {
                                return Err(format!(
                                    "a cached read still returned {value:?} {GIVE_UP:?} after \
                                     {expected:?} was written (round {round})"
                                ));
                            }
                        }
                        if round > 0 {
                            let acked = acked.lock().unwrap().take();
                            windows.push(acked.map_or(Duration::ZERO, |at| at.elapsed()));
                        }
                        if round == ROUNDS {
                            break;
                        }
                        // Cached now: the next round's loop hits it while the other client
                        // writes.
                        let _ = ready_tx.send(());
                    }
                    // With a cache, the loops were served by it (not by the server).
                    if let (Some(before), Some(after)) = (hits_before, hits()) {
                        if after <= before {
                            return Err("no read was a cache hit".to_owned());
                        }
                    }
                    Ok(windows)
                })
            })
        };
        for round in 1..=ROUNDS {
            if ready_rx.recv().await.is_none() {
                break; // the reader failed: its error is reported below
            }
            // Give the reader's loop a moment of pure hits before the write.
            tokio::time::sleep(Duration::from_millis(5)).await;
            writer.set("flag", &note(format!("v{round}"))).await.unwrap();
            *acked.lock().unwrap() = Some(Instant::now());
        }
        let windows = tokio::task::spawn_blocking(move || reader.join())
            .await
            .expect("join the reader")
            .expect("the reader thread panicked")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut sorted = windows.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        assert!(
            median < WINDOW,
            "another client's write reached a cached read after a median of {median:?} \
             (windows {windows:?}); the staleness window is {WINDOW:?}"
        );
    }
}

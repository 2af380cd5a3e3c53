//! Concurrency: no lost update with 32 concurrent callers, and listing while writers
//! run, on the memory backend, a real `redis-server` and a 3-primary Redis Cluster.
//!
//! - 32 tasks × R `modify` increments of one value end at exactly 32 × R, and the values the
//!   `modify` calls return are exactly 1..=32 × R, each once (no two calls saw the same state).
//! - 32 tasks × R counter increments likewise (returned values 1..=32 × R, each once).
//! - `keys()` and `clear()` while writers create and remove other keys of the same keyspace (and
//!   of a sibling keyspace): every key present for the whole scan is returned (or removed)
//!   exactly once, and no id is ever returned that was never written.
//!
//! R = 1,000 for counters on every backend and for `modify` on memory; R = 200 for `modify` on
//! Redis and the cluster (6,400 updates; `KVSTORE_CONCURRENCY_ROUNDS=1000` for 32,000).

mod support;

use support::backends::{self, Kind, Options};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvstore::{Counter, DynBackend, Dynamic, Error, Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const TASKS: u64 = 32;
const ROUNDS: u64 = 1000;
/// `modify` rounds per task on Redis: optimistic compare-and-set with 32 contenders costs about
/// 32 round trips per update, so 32 x 1,000 takes minutes; `KVSTORE_CONCURRENCY_ROUNDS=1000`
/// runs the full count locally, and the bench (`kvstore-bench --only cluster`) runs 32 x 1,000 on
/// a cluster (`cluster: modify, 32 tasks on one key`).
fn redis_modify_rounds() -> u64 {
    std::env::var("KVSTORE_CONCURRENCY_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Tally {
    n: u64,
}

#[derive(Store)]
struct Conc {
    tally: Item<Tally>,
    hits: Counter,
    docs: Dynamic<Item<u64>>,
    /// A sibling keyspace whose writes must never show up in `docs`.
    docsx: Dynamic<Item<u64>>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn prefix(name: &str) -> String {
    format!(
        "kvc:{name}:{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What `modify_race` requires beyond "no lost update".
#[derive(Clone, Copy, PartialEq)]
enum GiveUp {
    /// Every `modify` must succeed: the value ends at exactly 32 × rounds.
    Never,
    /// A `modify` may give up with `Error::Conflict` (nothing written); the value must then end
    /// at exactly the number of calls that succeeded.
    Allowed,
}

/// 32 tasks × `rounds` `modify` increments of one value. Returns how many gave up.
async fn modify_race(backend: &DynBackend, rounds: u64, give_up: GiveUp) -> u64 {
    let store = Conc::open_with_prefix(backend.clone(), &prefix("modify"));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let tally = store.tally().clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(rounds as usize);
            let mut conflicts = 0u64;
            for _ in 0..rounds {
                let r = tally
                    .modify(|t| {
                        Some(Tally {
                            n: t.map_or(0, |t| t.n) + 1,
                        })
                    })
                    .await;
                match r {
                    Ok(now) => seen.push(now.expect("modify stored a value").n),
                    Err(Error::Conflict { key, .. }) if give_up == GiveUp::Allowed => {
                        assert_eq!(key, tally.key());
                        conflicts += 1;
                    }
                    Err(e) => panic!("modify failed: {e:?}"),
                }
            }
            (seen, conflicts)
        }));
    }
    let mut all = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let (seen, c) = t.await.expect("a modify task panicked");
        all.extend(seen);
        conflicts += c;
    }
    let total = TASKS * rounds;
    let succeeded = total - conflicts;
    assert_eq!(
        store.tally().get().await.unwrap(),
        Some(Tally { n: succeeded }),
        "lost updates ({conflicts} calls gave up)"
    );
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=succeeded).collect::<Vec<_>>(),
        "two modify calls saw the same state"
    );
    eprintln!(
        "{}: {TASKS} x {rounds} modify -> {succeeded} in {:?} ({conflicts} gave up with Conflict)",
        backend.info().name,
        started.elapsed()
    );
    conflicts
}

/// 32 tasks × `rounds` counter increments (and as many decrements of a second counter).
async fn counter_race(backend: &DynBackend, rounds: u64) {
    let store = Conc::open_with_prefix(backend.clone(), &prefix("counter"));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let hits: Counter = store.hits().clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(rounds as usize);
            for _ in 0..rounds {
                seen.push(hits.increment(1).await.expect("increment"));
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("an increment task panicked"));
    }
    let total = (TASKS * rounds) as i64;
    assert_eq!(store.hits().get().await.unwrap(), total, "lost increments");
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=total).collect::<Vec<_>>(),
        "two increments returned the same value"
    );
    eprintln!(
        "{}: {TASKS} x {rounds} increments -> {total} in {:?}",
        backend.info().name,
        started.elapsed()
    );
}

/// Writers that create and remove ids `c<n>` under `docs` and `docsx` until stopped; every id
/// is recorded in `written` before it is written.
fn spawn_writers(
    store: &Conc,
    stop: &Arc<AtomicBool>,
    written: &Arc<Mutex<HashSet<String>>>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    (0..4u64)
        .map(|w| {
            let docs = store.docs().clone();
            let sibling = store.docsx().clone();
            let stop = stop.clone();
            let written = written.clone();
            tokio::spawn(async move {
                let mut ops = 0u64;
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("c{}", i % 600);
                    written.lock().unwrap().insert(id.clone());
                    docs.set(&id, &i).await.expect("writer set");
                    sibling.set(&id, &i).await.expect("sibling set");
                    let old = format!("c{}", (i + 300) % 600);
                    docs.remove(&old).await.expect("writer remove");
                    ops += 3;
                    i += 4;
                    if ops & 63 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                ops
            })
        })
        .collect()
}

/// `keys()` and `clear()` while writers run.
async fn listing_under_writes(backend: &DynBackend, stable: usize) {
    let store = Conc::open_with_prefix(backend.clone(), &prefix("listing"));
    let stable_ids: Vec<String> = (0..stable).map(|i| format!("s{i}")).collect();
    for chunk in stable_ids.chunks(500) {
        store
            .docs()
            .set_many(chunk.iter().map(|id| (id.as_str(), 1u64)))
            .await
            .expect("seed");
    }
    let stable_set: HashSet<&String> = stable_ids.iter().collect();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(Mutex::new(HashSet::new()));
    let writers = spawn_writers(&store, &stop, &written);
    // Let the writers get going (polled, not slept: wait until they have written something).
    let deadline = Instant::now() + Duration::from_secs(10);
    while written.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "writers never started");
        tokio::task::yield_now().await;
    }

    let mut scans = 0;
    for _ in 0..5 {
        let keys = store.docs().keys().await.expect("keys under writes");
        let known = written.lock().unwrap().clone();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for k in &keys {
            *counts.entry(k.as_str()).or_default() += 1;
        }
        let dupes: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dupes.is_empty(), "ids returned more than once: {dupes:?}");
        for id in &stable_ids {
            assert_eq!(counts.get(id.as_str()), Some(&1), "stable id {id} missing");
        }
        for k in &keys {
            assert!(
                stable_set.contains(k) || known.contains(k),
                "keys() returned {k:?}, which was never written"
            );
        }
        let count = store.docs().count().await.expect("count under writes");
        assert!(count >= stable, "count {count} < {stable} stable ids");
        scans += 1;
    }

    // clear() while writers run: every stable key is removed, nothing outside `docs` is.
    let sibling_before = store.docsx().count().await.unwrap();
    let removed = store.docs().clear().await.expect("clear under writes");
    assert!(removed >= stable, "clear removed {removed} < {stable}");
    let left: Vec<Option<u64>> = store
        .docs()
        .get_many(stable_ids.iter().map(String::as_str))
        .await
        .unwrap();
    assert!(left.iter().all(Option::is_none), "clear left stable keys");

    stop.store(true, Ordering::Relaxed);
    let mut ops = 0;
    for w in writers {
        ops += w.await.expect("writer panicked");
    }
    let sibling_after = store.docsx().count().await.unwrap();
    assert!(
        sibling_after >= sibling_before,
        "clear touched the sibling keyspace"
    );
    // Whatever remains in `docs` was written by a writer after (or during) the clear.
    let known = written.lock().unwrap().clone();
    for k in store.docs().keys().await.unwrap() {
        assert!(known.contains(&k), "{k} was never written");
    }
    eprintln!(
        "{}: {scans} keys() scans + 1 clear() of {stable} stable ids under {ops} concurrent writes",
        backend.info().name
    );
}

/// The races on one backend of the shared list.
async fn races(kind: Kind) {
    let running = backends::start(kind, Options::default()).await;
    let backend = &running.backend;
    // Every `modify` must succeed: its backoff spreads contending callers so none starves.
    let rounds = match kind {
        Kind::Memory => ROUNDS,
        Kind::Redis | Kind::Cluster => redis_modify_rounds(),
    };
    modify_race(backend, rounds, GiveUp::Never).await;
    counter_race(backend, ROUNDS).await;
    listing_under_writes(backend, 3000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_no_lost_updates_and_consistent_listing() {
    races(Kind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_no_lost_updates_and_consistent_listing() {
    races(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_no_lost_updates_and_consistent_listing() {
    races(Kind::Cluster).await;
}

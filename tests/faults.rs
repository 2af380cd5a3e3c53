//! Faults against real `redis-server` processes.
//!
//! - SIGKILL at random points of a 10,000-operation load, restart on the same port
//!   (`appendonly yes`, `appendfsync always`): every call ends in `Ok` or a typed transient
//!   `Error::Backend` within the response timeout plus a margin, nothing panics, the same store
//!   (no new connect) works again after the restart, and every acknowledged write is there.
//! - SIGSTOP (a hung server): calls fail with `Error::Backend` of kind `Timeout` within the
//!   bound, then succeed after SIGCONT.
//! - Wrong or missing password: a clear `Auth` error, fast.

mod support;

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvstore::{BackendErrorKind, Counter, Dynamic, Error, Item, RedisBackend, Store};
use support::RedisServer;

#[derive(Store)]
struct Load {
    docs: Dynamic<Item<u64>>,
    acks: Counter,
}

const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How much longer than the response timeout any single call may take.
const MARGIN: Duration = Duration::from_millis(500);

fn random_u64() -> u64 {
    RandomState::new().hash_one(Instant::now())
}

fn server_pid(server: &RedisServer) -> String {
    let info = server.cmd(&["INFO", "server"]).text();
    info.lines()
        .find_map(|l| l.trim().strip_prefix("process_id:"))
        .expect("INFO server has process_id")
        .trim()
        .to_owned()
}

fn signal(pid: &str, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

/// The error kinds a call may end with while the server is killed, restarting or loading.
fn transient(e: &Error) -> Option<BackendErrorKind> {
    match e {
        Error::Backend(b) if b.is_transient() => Some(b.kind()),
        _ => None,
    }
}

/// Runs `op` with the bound; panics if it takes longer (a hang).
async fn bounded<T>(what: &str, op: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let bound = RESPONSE_TIMEOUT + MARGIN;
    match tokio::time::timeout(bound, op).await {
        Ok(v) => (v, started.elapsed()),
        Err(_) => panic!("{what} did not end within {bound:?}: a hang"),
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    errors: Mutex<HashMap<String, usize>>,
    max_latency_us: AtomicU64,
}

impl Tally {
    fn record<T>(&self, r: &kvstore::Result<T>, latency: Duration) {
        self.max_latency_us
            .fetch_max(latency.as_micros() as u64, Ordering::Relaxed);
        match r {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let kind = transient(e)
                    .unwrap_or_else(|| panic!("a call failed with a non-transient error: {e:?}"));
                *self
                    .errors
                    .lock()
                    .unwrap()
                    .entry(format!("{kind:?}"))
                    .or_default() += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_load_loses_no_acknowledged_write() {
    const TASKS: u64 = 8;
    const OPS_PER_TASK: u64 = 1250; // 10,000 operations
    let mut server = RedisServer::builder()
        .appendonly(true)
        .appendfsync("always")
        .start();
    let backend = RedisBackend::builder(&server.url())
        .response_timeout(RESPONSE_TIMEOUT)
        .connect_timeout(Duration::from_millis(200))
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .await
        .expect("connect");
    let store = Load::open_with_prefix(backend, "faults:kill");

    let seed = random_u64();
    let total = TASKS * OPS_PER_TASK;
    // Two kills, at random points of the first and the second half of the load.
    let kills = [
        1000 + seed % (total / 2 - 2000),
        total / 2 + 1000 + (seed >> 20) % (total / 2 - 3000),
    ];
    eprintln!("seed {seed}: SIGKILL after operations {kills:?} of {total}");

    let done = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    // Per task: the ids whose `set` was acknowledged, and the acknowledged/attempted increments.
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store_docs = store.docs().clone();
        let acks = store.acks().clone();
        let done = done.clone();
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let (mut inc_ok, mut inc_tried) = (0u64, 0u64);
            for i in 0..OPS_PER_TASK {
                let id = format!("t{t}-{i}");
                if i % 4 == 3 {
                    inc_tried += 1;
                    let (r, lat) = bounded("increment", acks.increment(1)).await;
                    tally.record(&r, lat);
                    inc_ok += u64::from(r.is_ok());
                } else {
                    let (r, lat) = bounded("set", store_docs.set(&id, &i)).await;
                    tally.record(&r, lat);
                    if r.is_ok() {
                        acked.push((id, i));
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
                if yield_point(i) {
                    tokio::task::yield_now().await;
                }
            }
            (acked, inc_ok, inc_tried)
        }));
    }

    let mut downtime_errors = Vec::new();
    for &at in &kills {
        // Polled: wait for the load to reach the kill point.
        while done.load(Ordering::Relaxed) < at {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let errors_before: usize = tally.errors.lock().unwrap().values().sum();
        tokio::task::block_in_place(|| server.kill());
        // Keep it down until the load has seen it (some calls failed), or 2 s at most.
        let deadline = Instant::now() + Duration::from_secs(2);
        while tally.errors.lock().unwrap().values().sum::<usize>() < errors_before + 20
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        downtime_errors.push(tally.errors.lock().unwrap().values().sum::<usize>() - errors_before);
        tokio::task::block_in_place(|| server.restart());
    }

    let mut acked = Vec::new();
    let (mut inc_ok, mut inc_tried) = (0, 0);
    for t in tasks {
        let (a, ok, tried) = t.await.expect("a load task panicked");
        acked.extend(a);
        inc_ok += ok;
        inc_tried += tried;
    }

    // The same store recovers by itself: poll until a call succeeds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.docs().get("probe").await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline && transient(&e).is_some() => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("the store did not recover after the restart: {e:?}"),
        }
    }

    // Every acknowledged write is there (read back in batches through the same store).
    let mut lost = Vec::new();
    for chunk in acked.chunks(500) {
        let got = store
            .docs()
            .get_many(chunk.iter().map(|(id, _)| id.as_str()))
            .await
            .expect("read back");
        for ((id, v), g) in chunk.iter().zip(got) {
            if g != Some(*v) {
                lost.push(id.clone());
            }
        }
    }
    let counter = store.acks().get().await.expect("counter");
    let errors = tally.errors.lock().unwrap().clone();
    eprintln!(
        "{total} operations: {} ok, errors {errors:?} (during the downtimes: {downtime_errors:?}), \
         max latency {} ms; {} acknowledged sets checked, {} lost; counter {counter} \
         (acknowledged {inc_ok}, attempted {inc_tried})",
        tally.ok.load(Ordering::Relaxed),
        tally.max_latency_us.load(Ordering::Relaxed) / 1000,
        acked.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(
        (inc_ok as i64..=inc_tried as i64).contains(&counter),
        "counter {counter} outside [acknowledged {inc_ok}, attempted {inc_tried}]"
    );
    assert!(
        downtime_errors.iter().all(|&n| n > 0),
        "the kills were not seen by the load: {downtime_errors:?}"
    );
    assert!(tally.ok.load(Ordering::Relaxed) as u64 > total / 2);
}

/// Yield now and then so that the killer task gets scheduled promptly.
fn yield_point(i: u64) -> bool {
    i & 15 == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_times_out_then_recovers_after_sigcont() {
    let server = RedisServer::start();
    let backend = RedisBackend::builder(&server.url())
        .response_timeout(RESPONSE_TIMEOUT)
        .build()
        .await
        .expect("connect");
    let store = Load::open_with_prefix(backend, "faults:stop");
    store.docs().set("before", &1).await.unwrap();
    let pid = server_pid(&server);

    signal(&pid, "-STOP");
    // A hung server: every kind of call fails by timeout within the bound, concurrently too.
    let docs = store.docs().clone();
    let mut calls = Vec::new();
    for i in 0..8u64 {
        let docs = docs.clone();
        let acks = store.acks().clone();
        calls.push(tokio::spawn(async move {
            match i % 4 {
                0 => bounded("get", async { docs.get("before").await.map(drop) }).await,
                1 => bounded("set", docs.set(&format!("during-{i}"), &i)).await,
                2 => bounded("increment", async { acks.increment(1).await.map(drop) }).await,
                _ => bounded("keys", async { docs.keys().await.map(drop) }).await,
            }
        }));
    }
    let mut timeouts = 0;
    for c in calls {
        let (r, lat) = c.await.expect("a call panicked");
        match r {
            Err(Error::Backend(b)) if b.kind() == BackendErrorKind::Timeout => timeouts += 1,
            other => {
                signal(&pid, "-CONT");
                panic!("expected a Timeout backend error from a stopped server, got {other:?}")
            }
        }
        assert!(
            lat >= RESPONSE_TIMEOUT.mul_f32(0.9),
            "failed before the timeout: {lat:?}"
        );
    }
    signal(&pid, "-CONT");

    // After SIGCONT the same store works again (polled).
    let deadline = Instant::now() + Duration::from_secs(5);
    let recovered = loop {
        match store.docs().get("before").await {
            Ok(v) => break v,
            Err(e) if Instant::now() < deadline => {
                assert!(transient(&e).is_some(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("no recovery after SIGCONT: {e:?}"),
        }
    };
    assert_eq!(recovered, Some(1));
    store.docs().set("after", &2).await.unwrap();
    assert_eq!(store.docs().get("after").await.unwrap(), Some(2));
    // A write that timed out may still have been applied once the server resumed: a timeout
    // means "unknown", not "not written" (documented in RELIABILITY.md).
    let applied = store
        .docs()
        .get_many(["during-1", "during-5"])
        .await
        .unwrap()
        .iter()
        .filter(|v| v.is_some())
        .count();
    eprintln!(
        "SIGSTOP: {timeouts} calls timed out within the bound; {applied} of 2 timed-out sets \
         were applied after SIGCONT"
    );
    assert_eq!(timeouts, 8);
}

#[tokio::test]
async fn wrong_password_is_a_fast_auth_error() {
    let server = RedisServer::builder().password("s3cret-pw").start();
    let base = server.url_without_auth();
    let wrong = base.replace("redis://", "redis://:wrong-pw@");
    for url in [wrong.as_str(), base.as_str()] {
        for connect in 0..2 {
            let started = Instant::now();
            let r = if connect == 0 {
                RedisBackend::builder(url)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .build()
                    .await
                    .map(drop)
            } else {
                kvstore::connect(url).await.map(drop)
            };
            let elapsed = started.elapsed();
            match r {
                Err(Error::Backend(b)) => {
                    assert_eq!(b.kind(), BackendErrorKind::Auth, "{b}");
                    assert!(
                        !b.to_string().contains("wrong-pw"),
                        "password in the error: {b}"
                    );
                }
                other => panic!("{url}: expected an Auth error, got {other:?}"),
            }
            assert!(
                elapsed < Duration::from_secs(1),
                "auth failure took {elapsed:?}"
            );
        }
    }
    // The right password works.
    let b = RedisBackend::connect(&server.url())
        .await
        .expect("right password");
    let store = Load::open_with_prefix(b, "faults:auth");
    store.docs().set("k", &1).await.unwrap();
}

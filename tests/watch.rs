//! Watches and the client cache under load and faults, on memory, a real `redis-server` and a
//! real 3-primary Redis Cluster: convergence of concurrent watchers, a server restart and a
//! failover in the middle of a watch, a server that refuses `CONFIG`, unsubscribing, and the
//! cache's staleness window, own writes and disconnects.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, BoxStream, StreamExt};
use kvstore::{
    backend::Backend, BackendErrorKind, DynBackend, Dynamic, Error, Instrumented, IntoBackend,
    Item, MemoryBackend, RedisBackend, RedisClusterBackend, Store,
};
use support::{RedisCluster, RedisServer};

#[derive(Store)]
struct Registry {
    counts: Dynamic<Item<u64>>,
    config: Item<String>,
}

const KEYS: usize = 100;
const WRITES: usize = 10_000;
const WRITERS: usize = 8;

/// A watcher's view: the last value per id, checked never to go back.
type View = Arc<std::sync::Mutex<HashMap<String, u64>>>;

fn record(view: &View, who: &str, id: String, value: Option<u64>) {
    let value = value.unwrap_or(0);
    let mut view = view.lock().unwrap();
    let last = view.entry(id.clone()).or_insert(0);
    assert!(
        value >= *last,
        "{who}: {id} went back from {last} to {value}"
    );
    *last = value;
}

/// The streams of one watcher, subscribed: the `Dynamic` watch, or one `Item` watch per id
/// merged (each subscribed before its first value is read).
async fn watcher(registry: &Registry, per_item: bool) -> BoxStream<'static, (String, Option<u64>)> {
    if per_item {
        let streams = (0..KEYS).map(|i| {
            let id = format!("k{i}");
            registry
                .counts()
                .at(id.as_str())
                .watch()
                .map(move |v| (id.clone(), v.expect("a watched value")))
                .boxed()
        });
        stream::select_all(streams).boxed()
    } else {
        registry
            .counts()
            .watch_ready()
            .await
            .expect("a subscribed watch")
            .map(|change| change.expect("a watched change"))
            .boxed()
    }
}

/// 10,000 increments (read-modify-write: stored values only grow) from 8 tasks over 100 keys,
/// while 4 watchers (two `Dynamic` watches, two sets of per-item watches) run: no watcher ever
/// sees a value go back, and once the writes stop each converges on what is stored.
async fn convergence(backend: DynBackend, label: &str) {
    let registry = Registry::open_with_prefix(backend.clone(), &format!("conv-{label}"));
    let views: Vec<View> = (0..4).map(|_| View::default()).collect();
    let mut watchers = Vec::new();
    for (n, view) in views.iter().enumerate() {
        let mut changes = watcher(&registry, n % 2 == 1).await;
        let view = view.clone();
        let who = format!("{label} watcher {n}");
        watchers.push(tokio::spawn(async move {
            while let Some((id, value)) = changes.next().await {
                record(&view, &who, id, value);
            }
        }));
    }

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let counts = registry.counts();
        writers.push(tokio::spawn(async move {
            for i in 0..WRITES / WRITERS {
                let id = format!("k{}", (i * 7 + w * 13) % KEYS);
                counts
                    .at(id.as_str())
                    .modify(|v| Some(v.unwrap_or(0) + 1))
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let ids: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let stored = registry.counts().get_many(&ids).await.unwrap();
    assert_eq!(
        stored.iter().map(|v| v.unwrap_or(0)).sum::<u64>(),
        WRITES as u64
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    for (n, view) in views.iter().enumerate() {
        loop {
            let lagging: Vec<&String> = {
                let view = view.lock().unwrap();
                ids.iter()
                    .zip(&stored)
                    .filter(|(id, v)| view.get(*id).copied() != Some(v.unwrap_or(0)))
                    .map(|(id, _)| id)
                    .collect()
            };
            if lagging.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{label} watcher {n} did not converge on {} keys, e.g. {:?}",
                lagging.len(),
                &lagging[..lagging.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for watcher in watchers {
        watcher.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_converge_on_memory() {
    convergence(MemoryBackend::new().interleaved().into_backend(), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_converge_on_redis() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    convergence(backend.into_backend(), "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_converge_on_a_cluster() {
    let cluster = RedisCluster::start(3, 0);
    let backend = RedisClusterBackend::connect(cluster.urls()).await.unwrap();
    convergence(backend.into_backend(), "cluster").await;
}

/// The next value of a watch within `within`.
async fn next_value<T>(
    changes: &mut (impl futures_util::Stream<Item = kvstore::Result<T>> + Unpin),
    within: Duration,
    what: &str,
) -> kvstore::Result<T> {
    match tokio::time::timeout(within, changes.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("{what}: the watch ended"),
        Err(_) => panic!("{what}: nothing within {within:?}"),
    }
}

/// Waits until `changes` yields `want` (skipping other values) within `within`.
async fn until_value(
    changes: &mut (impl futures_util::Stream<Item = kvstore::Result<Option<String>>> + Unpin),
    want: &str,
    within: Duration,
    what: &str,
) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, changes.next()).await {
            Ok(Some(Ok(Some(v)))) if v == want => return,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{what}: the watch ended"),
            Err(_) => panic!("{what}: never saw {want:?} within {within:?}"),
        }
    }
}

type Watching =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = kvstore::Result<Option<String>>> + Send>>;

/// A watch of `config` once it holds `value` (written first, then seen as the first item).
async fn watching(config: &Item<String>, value: &str) -> Watching {
    config.set(&value.to_owned()).await.unwrap();
    let mut changes: Watching = Box::pin(config.watch());
    assert_eq!(
        next_value(&mut changes, Duration::from_secs(5), "initial")
            .await
            .unwrap()
            .as_deref(),
        Some(value)
    );
    changes
}

/// Retries a write until the server takes it (after a restart or a failover).
async fn set_until_ok(item: &Item<String>, value: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        match item.set(&value.to_owned()).await {
            Ok(()) => return,
            Err(e) => {
                assert!(Instant::now() < deadline, "the write never succeeded: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_watch_recovers_from_a_server_restart() {
    let mut server = RedisServer::start();
    let backend = RedisBackend::builder(&server.url())
        .response_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let registry = Registry::open_with_prefix(backend, "restart");
    let config = registry.config();
    let mut changes = watching(&config, "v1").await;
    // The restart loses the data (no persistence: no notification says so) and the
    // keyspace-event flags; the watch reconnects, sets them again, re-reads (the value is gone),
    // and sees the writes made after it.
    server.restart();
    assert_eq!(
        next_value(
            &mut changes,
            Duration::from_secs(10),
            "re-read after the restart"
        )
        .await
        .unwrap(),
        None
    );
    set_until_ok(&config, "v2", Duration::from_secs(10)).await;
    until_value(&mut changes, "v2", Duration::from_secs(10), "after restart").await;
    config.set(&"v3".to_owned()).await.unwrap();
    until_value(&mut changes, "v3", Duration::from_secs(5), "a later write").await;
}

#[tokio::test]
async fn a_watch_started_while_the_server_is_down_converges() {
    let mut server = RedisServer::builder()
        .appendonly(true)
        .appendfsync("always")
        .start();
    let backend = RedisBackend::builder(&server.url())
        .response_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let registry = Registry::open_with_prefix(backend, "down");
    let config = registry.config();
    config.set(&"kept".to_owned()).await.unwrap();
    server.kill();
    let mut changes = Box::pin(config.watch());
    // The first read fails: the server is away.
    assert!(
        next_value(&mut changes, Duration::from_secs(5), "while down")
            .await
            .is_err()
    );
    // It comes back with its data (append-only file) and nobody writes: the watch re-reads.
    server.restart();
    until_value(&mut changes, "kept", Duration::from_secs(10), "once back").await;
}

#[tokio::test]
async fn a_server_that_refuses_config_gets_an_error_naming_the_flags() {
    let server = RedisServer::builder()
        .config("rename-command CONFIG \"\"")
        .start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let registry = Registry::open_with_prefix(backend, "noconfig");
    let mut changes = Box::pin(registry.config().watch());
    let err = next_value(&mut changes, Duration::from_secs(5), "refused")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::Backend(e) if e.kind() == BackendErrorKind::Unsupported),
        "{err:?}"
    );
    assert!(
        message.contains("notify-keyspace-events Kg$lshzxe"),
        "{message}"
    );
    assert_eq!(err.key(), Some(registry.config().key()));
    assert!(changes.next().await.is_none(), "the watch ends");
}

/// A managed Redis: `CONFIG` refused, the flags set by its operator. With
/// `keyspace_events_configured`, watches work.
#[tokio::test]
async fn flags_set_by_the_operator_are_trusted_when_told() {
    let server = RedisServer::builder()
        .config("notify-keyspace-events KA")
        .config("rename-command CONFIG \"\"")
        .start();
    let backend = RedisBackend::builder(&server.url())
        .keyspace_events_configured()
        .build()
        .await
        .unwrap();
    let registry = Registry::open_with_prefix(backend, "managed");
    let config = registry.config();
    let mut changes = watching(&config, "v1").await;
    config.set(&"v2".to_owned()).await.unwrap();
    until_value(&mut changes, "v2", Duration::from_secs(5), "a change").await;
}

#[tokio::test]
async fn flags_are_added_to_the_servers_own() {
    let server = RedisServer::builder()
        .config("notify-keyspace-events Ex")
        .start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let registry = Registry::open_with_prefix(backend, "flags");
    let mut changes = Box::pin(registry.config().watch());
    next_value(&mut changes, Duration::from_secs(5), "initial")
        .await
        .unwrap();
    let flags = server
        .cmd(&["CONFIG", "GET", "notify-keyspace-events"])
        .text();
    for flag in ['E', 'x', 'K'] {
        assert!(flags.contains(flag) || flags.contains('A'), "{flags}");
    }
}

#[tokio::test]
async fn dropping_the_last_watch_unsubscribes() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let registry = Registry::open_with_prefix(backend, "unsub");
    let numpat = || server.cmd(&["PUBSUB", "NUMPAT"]).text();
    let mut one = Box::pin(registry.config().watch());
    let mut two = Box::pin(registry.config().watch());
    let all = Box::pin(registry.counts().watch_ready().await.unwrap());
    next_value(&mut one, Duration::from_secs(5), "one")
        .await
        .unwrap();
    next_value(&mut two, Duration::from_secs(5), "two")
        .await
        .unwrap();
    assert_eq!(numpat(), "2", "one pattern per watched key or prefix");
    drop(one);
    drop(all);
    let wait_for = |want: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(5);
        while numpat() != want {
            assert!(
                Instant::now() < deadline,
                "PUBSUB NUMPAT stayed {}",
                numpat()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    wait_for("1").await;
    drop(two);
    wait_for("0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_follows_a_cluster_failover() {
    let mut cluster = RedisCluster::start(3, 1);
    let backend = RedisClusterBackend::builder(cluster.urls())
        .response_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let registry = Registry::open_with_prefix(backend, "failover");
    let config = registry.config();
    let mut changes = watching(&config, "v1").await;
    cluster.wait_for_replication(Duration::from_secs(10));
    // Kill the primary that owns the key.
    let slot_owner = (0..cluster.primaries())
        .find(|i| {
            let reply = cluster.nodes()[*i]
                .cmd(&["CLUSTER", "COUNTKEYSINSLOT", &keyslot(config.key())])
                .text();
            reply != "0"
        })
        .expect("a primary holds the key");
    cluster.kill(slot_owner);
    set_until_ok(&config, "v2", Duration::from_secs(30)).await;
    until_value(
        &mut changes,
        "v2",
        Duration::from_secs(15),
        "after the failover",
    )
    .await;
    config.set(&"v3".to_owned()).await.unwrap();
    until_value(&mut changes, "v3", Duration::from_secs(5), "a later write").await;
}

/// The hash slot of `key` (CRC16 of the key or its hash tag, mod 16384).
fn keyslot(key: &str) -> String {
    let bytes = key.as_bytes();
    let tagged = key
        .find('{')
        .and_then(|open| {
            let close = key[open + 1..].find('}')? + open + 1;
            (close > open + 1).then(|| &bytes[open + 1..close])
        })
        .unwrap_or(bytes);
    let mut crc: u16 = 0;
    for &b in tagged {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    (crc % 16384).to_string()
}

// ---------------------------------------------------------------------------------------------
// The client cache
// ---------------------------------------------------------------------------------------------

/// Another client's write is seen by a cached read within the staleness window (measured, under
/// a background load of cached reads); own writes are never read stale.
async fn cache_window(backend: impl Backend + Clone, other: DynBackend, label: &str) {
    let instrumented = Instrumented::new(backend.clone());
    let metrics = instrumented.metrics();
    let registry = Registry::open_with_prefix(instrumented, &format!("cache-{label}"));
    let writer = Registry::open_with_prefix(other, &format!("cache-{label}"));
    let counts = registry.counts();
    for i in 0..KEYS {
        counts.set(format!("k{i}").as_str(), &0).await.unwrap();
    }
    // Load: readers keep the cache busy.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for r in 0..4 {
        let counts = registry.counts();
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut i = r;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                counts.get(format!("k{}", i % KEYS).as_str()).await.unwrap();
                i += 7;
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut delays = Vec::new();
    for n in 1..=200u64 {
        let id = format!("k{}", n % 10);
        // Cached now.
        counts.get(id.as_str()).await.unwrap();
        writer
            .counts()
            .set(id.as_str(), &(1_000 + n))
            .await
            .unwrap();
        let written = Instant::now();
        loop {
            if counts.get(id.as_str()).await.unwrap() == Some(1_000 + n) {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(2),
                "{label}: a cached read stayed stale for 2 s"
            );
            tokio::task::yield_now().await;
        }
        delays.push(written.elapsed());
        // Own writes: never stale, at once.
        counts.set(id.as_str(), &(5_000 + n)).await.unwrap();
        assert_eq!(counts.get(id.as_str()).await.unwrap(), Some(5_000 + n));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    delays.sort();
    let cache = metrics.cache().expect("the cache's metrics");
    println!(
        "{label}: invalidation delay p50 {:?}, p99 {:?}, max {:?}; cache hits {} misses {}",
        delays[delays.len() / 2],
        delays[delays.len() * 99 / 100],
        delays[delays.len() - 1],
        cache.hits,
        cache.misses,
    );
    assert!(cache.hits > 0 && cache.misses > 0, "{cache:?}");
    assert!(cache.entries <= KEYS + 1, "{cache:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_window_on_redis() {
    let server = RedisServer::start();
    let cached = RedisBackend::builder(&server.url())
        .client_cache(10_000)
        .build()
        .await
        .unwrap();
    let other = RedisBackend::connect(&server.url()).await.unwrap();
    cache_window(cached, other.into_backend(), "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_window_on_a_cluster() {
    let cluster = RedisCluster::start(3, 0);
    let cached = RedisClusterBackend::builder(cluster.urls())
        .client_cache(10_000)
        .build()
        .await
        .unwrap();
    let other = RedisClusterBackend::connect(cluster.urls()).await.unwrap();
    cache_window(cached, other.into_backend(), "cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stale_is_served_after_a_disconnect() {
    let mut server = RedisServer::start();
    let cached = RedisBackend::builder(&server.url())
        .response_timeout(Duration::from_millis(500))
        .client_cache(1_000)
        .build()
        .await
        .unwrap();
    let registry = Registry::open_with_prefix(cached.clone(), "disc");
    let config = registry.config();
    config.set(&"old".to_owned()).await.unwrap();
    let cache = cached.info().client_cache.unwrap();
    // The cache serves once its connection is up (a moment after `build`).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cache.is_live() {
        assert!(Instant::now() < deadline, "the cache never went live");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The first read fills the cache, a later one is a hit (the server's invalidation of the
    // write above may still drop the first fill).
    for _ in 0..100 {
        assert_eq!(config.get().await.unwrap().as_deref(), Some("old"));
        if cache.hits() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(cache.hits() >= 1, "{cache:?}");
    // The server goes away and comes back empty; another client writes meanwhile.
    server.kill();
    let down = Instant::now();
    while cache.is_live() {
        assert!(
            down.elapsed() < Duration::from_secs(5),
            "the cache stayed live"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.restart();
    let other = RedisBackend::connect(&server.url()).await.unwrap();
    Registry::open_with_prefix(other, "disc")
        .config()
        .set(&"new".to_owned())
        .await
        .unwrap();
    // Never the old value: an error while reconnecting, then the new one.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match config.get().await {
            Ok(value) => {
                assert_eq!(
                    value.as_deref(),
                    Some("new"),
                    "a stale read after reconnecting"
                );
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // And the cache serves again once its connection is back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cache.is_live() {
        assert!(Instant::now() < deadline, "the cache never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hits = cache.hits();
    for _ in 0..3 {
        assert_eq!(config.get().await.unwrap().as_deref(), Some("new"));
    }
    assert!(cache.hits() > hits, "{cache:?}");
}

/// What a watch yields is never newer than what a `get` through the cache returns right after:
/// the notification drops the cached entry before the watch re-reads (the server's own
/// invalidation comes later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_after_a_watch_yielded_is_not_older() {
    let server = RedisServer::start();
    let cached = RedisBackend::builder(&server.url())
        .client_cache(1_000)
        .build()
        .await
        .unwrap();
    let other = RedisBackend::connect(&server.url()).await.unwrap();
    let reader = Registry::open_with_prefix(cached, "trail");
    let writer = Registry::open_with_prefix(other, "trail");
    let item = reader.counts().at("n");
    item.set(&0).await.unwrap();
    let mut changes = Box::pin(item.watch());
    assert_eq!(
        next_value(&mut changes, Duration::from_secs(5), "initial")
            .await
            .unwrap(),
        Some(0)
    );
    for n in 1..=300u64 {
        // Cached.
        assert!(item.get().await.unwrap().is_some());
        writer.counts().set("n", &n).await.unwrap();
        loop {
            let seen = next_value(&mut changes, Duration::from_secs(5), "change")
                .await
                .unwrap()
                .unwrap();
            let got = item.get().await.unwrap().unwrap();
            assert!(
                got >= seen,
                "the watch yielded {seen}, then get() read {got}"
            );
            if seen == n {
                break;
            }
        }
    }
}

/// A user that may not run `CLIENT` cannot keep a cache fresh: `build` says so (and what to
/// change), instead of serving from a cache nobody invalidates.
#[tokio::test]
async fn a_refused_client_tracking_fails_the_build() {
    let server = RedisServer::builder()
        .acl_user("app", "app-pw", "~* &* +@all -client")
        .start();
    let err = RedisBackend::builder(&server.url_as("app", "app-pw"))
        .client_cache(100)
        .build()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::Backend(e) if e.kind() == BackendErrorKind::Permission),
        "{err:?}"
    );
    assert!(message.contains("CLIENT TRACKING"), "{message}");
    assert!(message.contains("+client"), "{message}");
    // Without the cache, the same user connects.
    RedisBackend::connect(&server.url_as("app", "app-pw"))
        .await
        .unwrap();
}

/// A cache whose notification task is gone (its runtime shut down) must not serve: nothing
/// would invalidate it any more.
#[test]
fn a_shut_down_runtime_turns_the_cache_off() {
    let server = RedisServer::start();
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let backend = first.block_on(async {
        RedisBackend::builder(&server.url())
            .client_cache(100)
            .build()
            .await
            .unwrap()
    });
    let cache = backend.info().client_cache.unwrap().clone();
    assert!(cache.is_live());
    drop(first);
    assert!(!cache.is_live(), "{cache:?}");
}

/// The memory backend's expiry notifications run on a task of the runtime of the first watch:
/// when that runtime is gone, the next watch (on another runtime) starts them again.
#[test]
fn memory_expiry_notifications_survive_a_runtime_shutdown() {
    let clock = kvstore::ManualClock::new();
    let backend = MemoryBackend::with_clock(clock.clone());
    let registry = Registry::open_with_prefix(backend, "rt");
    let config = registry.config();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    first.block_on(async {
        let mut changes = Box::pin(config.watch());
        next_value(&mut changes, Duration::from_secs(5), "initial")
            .await
            .unwrap();
    });
    drop(first);
    runtime().block_on(async {
        let mut changes = Box::pin(config.watch());
        next_value(&mut changes, Duration::from_secs(5), "initial")
            .await
            .unwrap();
        config
            .set_with_ttl(&"short".to_owned(), Duration::from_secs(1))
            .await
            .unwrap();
        until_value(&mut changes, "short", Duration::from_secs(5), "set").await;
        clock.advance(Duration::from_secs(2));
        let expired = next_value(&mut changes, Duration::from_secs(5), "expiry").await;
        assert_eq!(expired.unwrap(), None);
    });
}

//! The client cache and `watch()` rows (`--only cache`), on the standalone Redis server the bench
//! starts (the cluster section, `cluster.rs`, runs the registry mix on a Redis Cluster).
//!
//! - **Registry mix**: 10,000 ids of the external workload's `User` (String ids `k{i}`), 64 tasks
//!   in flight, 95% `get` / 5% `set` of pseudo-random ids (the same sequence on every side):
//!   typed `Dynamic<Item<User>>` over a `RedisBackend` with `client_cache(16_384)` (warmed by one
//!   `get` of every id before each round), the same typed workload without a cache, and raw
//!   redis-rs `GET`/`SET` + serde_json on one multiplexed connection cloned per task. Only the
//!   `get`s are timed (the p50/p99 columns), on every side; a `get` that completes at its first
//!   poll never waited for the server — on the cached side, a hit — and the note gives the hits'
//!   and the misses' percentiles apart. Every round opens fresh backends and a fresh raw
//!   connection, so no side pays for another's idle connections or invalidations.
//! - **Warm-up by `get_many`**: one task reading every id once, all hits, after the cache was
//!   filled by `get_many` (typed column) or by `get` (raw column).
//! - **Staleness**: another client (raw redis-rs, its own connection) `SET`s a fresh value on a
//!   probe id that the cache holds; the time from that `SET`'s reply to the first cached typed
//!   `get` (polled in a loop with `yield_now`) that returns the new value — with nothing else
//!   running, and while the cached mix runs (64 tasks, until stopped); and read by a task on a
//!   current-thread runtime of its own that polls in a tight loop with no other `.await` (cache
//!   hits must not keep the invalidations from being applied).
//! - **Watch delivery**: a typed `set` on one backend handle, then the time from its reply to the
//!   value coming out of a `watch()` stream on another handle (each delivery awaited before the
//!   next write, so nothing coalesces). `Item::watch` and `Dynamic::watch` (measured once a
//!   marker write came through), on Redis (two backends) and on memory (two clones of one
//!   backend). The watch rows run last: they turn on the server's keyspace notifications, which
//!   are put back as they were afterwards.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use kvstore::{backend::Backend, Dynamic, Item, MemoryBackend, RedisBackend, Store};

use crate::external::{user, User};
use crate::{timed, Config, Res, Row, Sample};

#[derive(Store)]
#[store(prefix = "cachebench")]
pub(crate) struct Registry {
    users: Dynamic<Item<User>>,
    config: Item<User>,
}

/// Ids of the registry.
pub(crate) const IDS: u64 = 10_000;
pub(crate) const TASKS: u64 = 64;
/// The client cache's size: room for every id (and the probes).
pub(crate) const CACHE_ENTRIES: usize = 16_384;
/// Percent of the mix's operations that are `set`s.
const SET_PERCENT: u64 = 5;
/// Where the raw side keeps its copy of the registry.
const RAW_PREFIX: &str = "cacheraw:users:";
/// How long one wait (a stale read, a delivery) may take before the bench gives up.
pub(crate) const GIVE_UP: Duration = Duration::from_secs(5);

/// Counts for the full and the quick run.
pub(crate) struct Counts {
    /// Operations of the mix per round (each side).
    pub(crate) mix_ops: u64,
    /// Stale-read samples.
    probes: u64,
    /// Watched writes per row.
    deliveries: u64,
}

impl Counts {
    pub(crate) fn of(cfg: &Config) -> Counts {
        if cfg.quick {
            Counts {
                mix_ops: 50_000,
                probes: 100,
                deliveries: 200,
            }
        } else {
            Counts {
                mix_ops: 200_000,
                probes: 200,
                deliveries: 1_000,
            }
        }
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Operation `i` of the mix of round `seed`: the id, and whether it is a `set`.
fn op(seed: u64, i: u64) -> (usize, bool) {
    let h = splitmix((seed << 40) ^ i);
    ((h % IDS) as usize, (h >> 32) % 100 < SET_PERCENT)
}

/// A round of the mix: its sample (every `get` timed), and the latencies of the `get`s that
/// completed at their first poll (on the cached side: the hits) and of the others.
pub(crate) struct Mixed {
    pub(crate) sample: Sample,
    pub(crate) immediate: Vec<Duration>,
    pub(crate) waited: Vec<Duration>,
}

/// Runs the mix: `ops` operations from 64 tasks, `get(id)` or `set(id)`. Only the `get`s are
/// timed. With a `stop` flag the tasks run until it is raised (the ops count is then ignored),
/// and `done` counts the operations.
pub(crate) async fn mix<G, GF, S, SF>(
    seed: u64,
    ops: u64,
    stop: Option<Arc<AtomicBool>>,
    done: Arc<AtomicU64>,
    get: G,
    set: S,
) -> Res<Mixed>
where
    G: Fn(usize) -> GF + Send + Sync + 'static,
    GF: Future<Output = Res<()>> + Send,
    S: Fn(usize) -> SF + Send + Sync + 'static,
    SF: Future<Output = Res<()>> + Send,
{
    let (get, set) = (Arc::new(get), Arc::new(set));
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let (get, set, stop, done) = (get.clone(), set.clone(), stop.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity((ops / TASKS + 1).min(1 << 20) as usize);
            let mut i = t;
            loop {
                match &stop {
                    Some(stop) if stop.load(Ordering::Relaxed) => break,
                    None if i >= ops => break,
                    _ => {}
                }
                let (id, write) = op(seed, i);
                if write {
                    set(id).await?;
                } else {
                    // A get that completes at its first poll never waited for the server: on
                    // the cached side, a hit.
                    let mut get = pin!(get(id));
                    let mut polls = 0u32;
                    let t0 = Instant::now();
                    std::future::poll_fn(|cx| {
                        polls += 1;
                        get.as_mut().poll(cx)
                    })
                    .await?;
                    latencies.push((t0.elapsed(), polls == 1));
                }
                done.fetch_add(1, Ordering::Relaxed);
                i += TASKS;
            }
            Res::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await??);
    }
    Ok(Mixed {
        sample: Sample {
            ops_per_sec: done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
            latencies: latencies.iter().map(|(d, _)| *d).collect(),
            cpu: None,
        },
        immediate: latencies
            .iter()
            .filter_map(|(d, immediate)| immediate.then_some(*d))
            .collect(),
        waited: latencies
            .iter()
            .filter_map(|(d, immediate)| (!immediate).then_some(*d))
            .collect(),
    })
}

/// The typed mix on `store`.
pub(crate) async fn typed_mix(
    store: &Registry,
    seed: u64,
    ops: u64,
    stop: Option<Arc<AtomicBool>>,
    done: Arc<AtomicU64>,
    ids: &Arc<Vec<String>>,
    users: &Arc<Vec<User>>,
) -> Res<Mixed> {
    let (s1, i1) = (store.clone(), ids.clone());
    let (s2, i2, u2) = (store.clone(), ids.clone(), users.clone());
    mix(
        seed,
        ops,
        stop,
        done,
        move |id| {
            let (s, ids) = (s1.clone(), i1.clone());
            async move {
                s.users().get(ids[id].as_str()).await?.ok_or("missing")?;
                Ok(())
            }
        },
        move |id| {
            let (s, ids, users) = (s2.clone(), i2.clone(), u2.clone());
            async move { Ok(s.users().set(ids[id].as_str(), &users[id]).await?) }
        },
    )
    .await
}

/// The raw mix: `GET`/`SET` + serde_json on one multiplexed connection cloned per operation.
async fn raw_mix(
    conn: &redis::aio::MultiplexedConnection,
    seed: u64,
    ops: u64,
    keys: &Arc<Vec<String>>,
    users: &Arc<Vec<User>>,
) -> Res<Mixed> {
    let (c1, k1) = (conn.clone(), keys.clone());
    let (c2, k2, u2) = (conn.clone(), keys.clone(), users.clone());
    mix(
        seed,
        ops,
        None,
        Arc::new(AtomicU64::new(0)),
        move |id| {
            let (mut c, keys) = (c1.clone(), k1.clone());
            async move {
                let bytes: Option<Vec<u8>> =
                    redis::cmd("GET").arg(&keys[id]).query_async(&mut c).await?;
                let _: User = serde_json::from_slice(&bytes.ok_or("missing")?)?;
                Ok(())
            }
        },
        move |id| {
            let (mut c, keys, users) = (c2.clone(), k2.clone(), u2.clone());
            async move {
                let bytes = serde_json::to_vec(&users[id])?;
                redis::cmd("SET")
                    .arg(&keys[id])
                    .arg(bytes)
                    .query_async::<()>(&mut c)
                    .await?;
                Ok(())
            }
        },
    )
    .await
}

/// A Redis backend with a client cache, once the cache serves reads.
async fn cached_backend(url: &str) -> Res<RedisBackend> {
    let backend = RedisBackend::builder(url)
        .client_cache(CACHE_ENTRIES)
        .build()
        .await?;
    let cache = backend.info().client_cache.ok_or("no client cache")?;
    let since = Instant::now();
    while !cache.is_live() {
        if since.elapsed() > GIVE_UP {
            return Err("the client cache never went live".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(backend)
}

/// Reads every id once from 64 tasks (fills a client cache).
pub(crate) async fn warm(store: &Registry, ids: &Arc<Vec<String>>) -> Res<()> {
    let mut handles = Vec::new();
    for t in 0..TASKS as usize {
        let (s, ids) = (store.clone(), ids.clone());
        handles.push(tokio::spawn(async move {
            for id in ids.iter().skip(t).step_by(TASKS as usize) {
                s.users().get(id.as_str()).await?.ok_or("missing")?;
            }
            Res::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(())
}

/// (hits, misses) of a backend's client cache.
fn cache_counts(backend: &RedisBackend) -> (u64, u64) {
    backend
        .info()
        .client_cache
        .map_or((0, 0), |c| (c.hits(), c.misses()))
}

pub(crate) fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Every row of the section.
pub async fn rows(cfg: &Config, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    let counts = Counts::of(cfg);
    let ids: Arc<Vec<String>> = Arc::new((0..IDS).map(|i| format!("k{i}")).collect());
    let raw_keys: Arc<Vec<String>> =
        Arc::new(ids.iter().map(|id| format!("{RAW_PREFIX}{id}")).collect());
    let users: Arc<Vec<User>> = Arc::new((0..IDS).map(user).collect());

    // Pre-fill both copies.
    let setup = Registry::open(RedisBackend::connect(url).await?);
    let mut raw = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    for start in (0..IDS as usize).step_by(1000) {
        let end = (start + 1000).min(IDS as usize);
        setup
            .users()
            .set_many((start..end).map(|i| (ids[i].as_str(), &users[i])))
            .await?;
        let mut mset = redis::cmd("MSET");
        for i in start..end {
            mset.arg(&raw_keys[i]).arg(serde_json::to_vec(&users[i])?);
        }
        mset.query_async::<()>(&mut raw).await?;
    }

    registry_rows(cfg, &counts, url, &ids, &raw_keys, &users, rows).await?;
    warm_by_get_many(cfg, url, &ids, rows).await?;
    staleness(false, &counts, url, &ids, &users, rows).await?;
    staleness(true, &counts, url, &ids, &users, rows).await?;
    staleness_current_thread(&counts, url, rows).await?;
    watch_rows(&counts, url, rows).await?;

    setup.users().clear().await?;
    setup.config().remove().await?;
    for chunk in raw_keys.chunks(1000) {
        let _: usize = redis::cmd("UNLINK")
            .arg(chunk)
            .query_async(&mut raw)
            .await?;
    }
    Ok(())
}

async fn registry_rows(
    cfg: &Config,
    counts: &Counts,
    url: &str,
    ids: &Arc<Vec<String>>,
    raw_keys: &Arc<Vec<String>>,
    users: &Arc<Vec<User>>,
    rows: &mut Vec<Row>,
) -> Res<()> {
    let ops = counts.mix_ops;
    let mut cached = Row {
        workload: "cache: registry 95/5, cached, 64 tasks".into(),
        ..Row::default()
    };
    let mut uncached = Row {
        workload: "cache: registry 95/5, no cache, 64 tasks".into(),
        ..Row::default()
    };
    let mut hit_rates = Vec::new();
    let (mut hits, mut misses) = (Vec::new(), Vec::new());
    for round in 0..cfg.rounds as u64 {
        let seed = round + 1;

        let backend = cached_backend(url).await?;
        let store = Registry::open(backend.clone());
        warm(&store, ids).await?;
        let (h0, m0) = cache_counts(&backend);
        let done = Arc::new(AtomicU64::new(0));
        let mixed = typed_mix(&store, seed, ops, None, done, ids, users).await?;
        let (h, m) = cache_counts(&backend);
        let (h, m) = (h - h0, m - m0);
        hit_rates.push(h as f64 / (h + m).max(1) as f64);
        cached.typed.push(mixed.sample);
        hits.extend(mixed.immediate);
        misses.extend(mixed.waited);
        drop((store, backend));

        let conn = redis::Client::open(url)?
            .get_multiplexed_async_connection()
            .await?;
        let raw = raw_mix(&conn, seed, ops, raw_keys, users).await?.sample;
        drop(conn);
        cached.raw.push(raw.clone());
        uncached.raw.push(raw);

        let store = Registry::open(RedisBackend::connect(url).await?);
        let done = Arc::new(AtomicU64::new(0));
        let mixed = typed_mix(&store, seed, ops, None, done, ids, users).await?;
        uncached.typed.push(mixed.sample);
    }
    let all = cached
        .typed
        .iter()
        .map(|s| s.latencies.len())
        .sum::<usize>();
    let share = 100.0 * hits.len() as f64 / all.max(1) as f64;
    let p = |latencies: Vec<Duration>| {
        let s = [Sample {
            ops_per_sec: f64::NAN,
            latencies,
            cpu: None,
        }];
        format!(
            "p50 {} p99 {}",
            crate::fmt_latency(crate::percentile(&s, 0.5)),
            crate::fmt_latency(crate::percentile(&s, 0.99))
        )
    };
    cached.note = format!(
        "hit rate {} (median); p50/p99 columns: every get; hits ({share:.1}% of gets) {}; \
         misses {}",
        pct(median(hit_rates)),
        p(hits),
        p(misses),
    );
    uncached.note = "reference: the same typed workload without client_cache".into();
    rows.push(cached);
    rows.push(uncached);
    Ok(())
}

/// One task reading every id once through the cache: after a fill by `get_many` (typed
/// column) against after a fill by `get` (raw column).
async fn warm_by_get_many(
    cfg: &Config,
    url: &str,
    ids: &Arc<Vec<String>>,
    rows: &mut Vec<Row>,
) -> Res<()> {
    let mut row = Row {
        workload: "cache: get hits, get_many- vs get-warmed".into(),
        ..Row::default()
    };
    for _ in 0..cfg.rounds {
        for by_get_many in [true, false] {
            let backend = cached_backend(url).await?;
            let store = Registry::open(backend.clone());
            if by_get_many {
                for chunk in ids.chunks(1000) {
                    store
                        .users()
                        .get_many(chunk.iter().map(String::as_str))
                        .await?;
                }
            } else {
                for id in ids.iter() {
                    store.users().get(id.as_str()).await?;
                }
            }
            let (hits, _) = cache_counts(&backend);
            let s = store.clone();
            let sample = timed(IDS, true, |i| {
                let (s, ids) = (s.clone(), ids.clone());
                async move {
                    s.users()
                        .get(ids[i as usize].as_str())
                        .await?
                        .ok_or("missing")?;
                    Ok(())
                }
            })
            .await?;
            let (h, _) = cache_counts(&backend);
            if h - hits != IDS {
                return Err(format!("only {} of {IDS} reads were cache hits", h - hits).into());
            }
            if by_get_many {
                row.typed.push(sample);
            } else {
                row.raw.push(sample);
            }
        }
    }
    row.note = "1 task, 100% hits; raw column: the same reads after a fill by get".into();
    rows.push(row);
    Ok(())
}

/// Another client's write, seen by a cached read: the delay, under the cached mix (`loaded`)
/// or with nothing else running.
async fn staleness(
    loaded: bool,
    counts: &Counts,
    url: &str,
    ids: &Arc<Vec<String>>,
    users: &Arc<Vec<User>>,
    rows: &mut Vec<Row>,
) -> Res<()> {
    let backend = cached_backend(url).await?;
    let store = Registry::open(backend.clone());
    warm(&store, ids).await?;
    let mut other = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    const PROBES: u64 = 10;
    let probe_ids: Vec<String> = (0..PROBES).map(|p| format!("probe{p}")).collect();
    for (p, id) in probe_ids.iter().enumerate() {
        store.users().set(id.as_str(), &user(p as u64)).await?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let load = loaded.then(|| {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        let (ids, users) = (ids.clone(), users.clone());
        tokio::spawn(async move {
            typed_mix(&store, 99, u64::MAX, Some(stop), done, &ids, &users).await
        })
    });
    let (hits, misses) = cache_counts(&backend);
    let started = Instant::now();
    let mut delays = Vec::with_capacity(counts.probes as usize);
    // How long the read that saw the new value took (a miss: one GET round trip).
    let mut final_reads = Vec::with_capacity(counts.probes as usize);
    let mut first_poll_fresh = 0;
    let result: Res<()> = async {
        for n in 0..counts.probes {
            let id = probe_ids[(n % PROBES) as usize].as_str();
            // Cached now (the second read is a hit).
            for _ in 0..2 {
                store.users().get(id).await?.ok_or("missing")?;
            }
            let fresh = user(1_000_000 + n);
            redis::cmd("SET")
                .arg(format!("cachebench:users:{id}"))
                .arg(serde_json::to_vec(&fresh)?)
                .query_async::<()>(&mut other)
                .await?;
            let acked = Instant::now();
            let mut polls = 0;
            loop {
                polls += 1;
                let poll = Instant::now();
                if store.users().get(id).await?.as_ref() == Some(&fresh) {
                    final_reads.push(poll.elapsed());
                    break;
                }
                if acked.elapsed() > GIVE_UP {
                    return Err(format!("a cached read of {id} stayed stale for 5 s").into());
                }
                tokio::task::yield_now().await;
            }
            delays.push(acked.elapsed());
            if polls == 1 {
                first_poll_fresh += 1;
            }
        }
        Ok(())
    }
    .await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(load) = load {
        load.await??;
    }
    result?;
    let load_ops = done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
    let (h, m) = cache_counts(&backend);
    let (h, m) = (h - hits, m - misses);
    for id in &probe_ids {
        store.users().remove(id.as_str()).await?;
    }
    let hit_rate = pct(h as f64 / (h + m).max(1) as f64);
    let final_reads = [Sample {
        ops_per_sec: f64::NAN,
        latencies: final_reads,
        cpu: None,
    }];
    let final_read = format!(
        "the read that saw it (a GET) p50 {} p99 {}",
        crate::fmt_latency(crate::percentile(&final_reads, 0.5)),
        crate::fmt_latency(crate::percentile(&final_reads, 0.99)),
    );
    let (workload, note) = if loaded {
        (
            "cache: other's SET -> cached get, loaded",
            format!(
                "{} samples from the SET's reply; under the cached mix at {}/s, hit rate \
                 {hit_rate}; {first_poll_fresh} fresh at the first poll; {final_read}",
                counts.probes,
                crate::fmt_ops(load_ops),
            ),
        )
    } else {
        (
            "cache: other's SET -> cached get, idle",
            format!(
                "{} samples from the SET's reply; nothing else running; \
                 {first_poll_fresh} fresh at the first poll; {final_read}",
                counts.probes
            ),
        )
    };
    rows.push(Row {
        workload: workload.into(),
        typed: vec![Sample {
            ops_per_sec: f64::NAN,
            latencies: delays,
            cpu: None,
        }],
        note,
        ..Row::default()
    });
    Ok(())
}

/// Another client's write, seen by a task on a current-thread runtime (its own thread, its own
/// cached backend) that reads cached values in a tight loop with no other `.await`: the delay
/// from the `SET`'s reply to the first `get` that returns the new value. The hits yield through
/// tokio's cooperative budget, so the runtime's invalidation task runs between them.
async fn staleness_current_thread(counts: &Counts, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    const ID: &str = "probe-ct";
    let key = format!("cachebench:users:{ID}");
    let mut other = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let set = |n: u64| {
        let mut c = redis::cmd("SET");
        c.arg(&key)
            .arg(serde_json::to_vec(&user(n)).unwrap_or_default());
        c
    };
    set(0).query_async::<()>(&mut other).await?;
    let probes = counts.probes;
    let acked = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let reader = {
        let (url, acked) = (url.to_owned(), acked.clone());
        std::thread::spawn(move || -> Result<(Vec<Duration>, u64), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let backend = cached_backend(&url).await.map_err(|e| e.to_string())?;
                let store = Registry::open(backend);
                let (mut delays, mut reads) = (Vec::new(), 0u64);
                for n in 0..=probes {
                    let expected = user(n);
                    let started = Instant::now();
                    loop {
                        reads += 1;
                        let got = store.users().get(ID).await.map_err(|e| e.to_string())?;
                        if got.as_ref() == Some(&expected) {
                            break;
                        }
                        if started.elapsed() > GIVE_UP {
                            return Err(format!("a cached read stayed stale for {GIVE_UP:?}"));
                        }
                    }
                    if n > 0 {
                        let at = acked.lock().map_err(|e| e.to_string())?.take();
                        delays.push(at.map_or(Duration::ZERO, |at| at.elapsed()));
                    }
                    if n < probes {
                        let _ = ready_tx.send(());
                    }
                }
                Ok((delays, reads))
            })
        })
    };
    for n in 1..=probes {
        if ready_rx.recv().await.is_none() {
            break; // the reader failed: its error is reported below
        }
        // Let the reader's loop run on hits for a moment before the write.
        tokio::time::sleep(Duration::from_millis(2)).await;
        set(n).query_async::<()>(&mut other).await?;
        *acked.lock().map_err(|_| "a poisoned lock")? = Some(Instant::now());
    }
    let (delays, reads) = tokio::task::spawn_blocking(move || reader.join())
        .await?
        .map_err(|_| "the reader thread panicked")??;
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut other)
        .await?;
    rows.push(Row {
        workload: "cache: other's SET -> cached get, current-thread reader".into(),
        typed: vec![Sample {
            ops_per_sec: f64::NAN,
            latencies: delays,
            cpu: None,
        }],
        note: format!(
            "{probes} samples from the SET's reply; the reader: a tight loop of cached gets \
             (no yield_now) on a current-thread runtime, {reads} reads"
        ),
        ..Row::default()
    });
    Ok(())
}

/// The next item of a watch stream, within [`GIVE_UP`].
async fn next<S: Stream<Item = kvstore::Result<T>> + Unpin, T>(stream: &mut S) -> Res<T> {
    match tokio::time::timeout(GIVE_UP, stream.next()).await {
        Err(_) => Err("no watch delivery within 5 s".into()),
        Ok(None) => Err("the watch stream ended".into()),
        Ok(Some(item)) => Ok(item?),
    }
}

/// `Item::watch` on `watcher`, `set` on `writer`: the delay from each `set`'s reply to the value
/// coming out of the stream.
async fn item_delivery(writer: &Registry, watcher: &Registry, writes: u64) -> Res<Sample> {
    let mut stream = pin!(watcher.config().watch());
    // The current value first: the subscription is confirmed by then.
    next(&mut stream).await?;
    let mut latencies = Vec::with_capacity(writes as usize);
    let started = Instant::now();
    for n in 0..writes {
        let value = user(2_000_000 + n);
        writer.config().set(&value).await?;
        let acked = Instant::now();
        while next(&mut stream).await? != Some(value.clone()) {}
        latencies.push(acked.elapsed());
    }
    Ok(Sample {
        ops_per_sec: writes as f64 / started.elapsed().as_secs_f64(),
        latencies,
        cpu: None,
    })
}

/// `Dynamic::watch` on `watcher`, `set` of ids `w0`..`w15` on `writer`; a marker id is written
/// until the stream reports it (the subscription is confirmed) before measuring.
async fn dynamic_delivery(writer: &Registry, watcher: &Registry, writes: u64) -> Res<Sample> {
    let mut stream = pin!(watcher.users().watch());
    let since = Instant::now();
    for n in 0.. {
        writer.users().set("marker", &user(3_000_000 + n)).await?;
        match tokio::time::timeout(Duration::from_millis(50), stream.next()).await {
            Ok(Some(Ok((id, _)))) if id == "marker" => break,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err("the watch stream ended".into()),
            _ if since.elapsed() > GIVE_UP => return Err("the watch never saw the marker".into()),
            _ => {}
        }
    }
    let mut latencies = Vec::with_capacity(writes as usize);
    let started = Instant::now();
    for n in 0..writes {
        let id = format!("w{}", n % 16);
        let value = user(4_000_000 + n);
        writer.users().set(id.as_str(), &value).await?;
        let acked = Instant::now();
        loop {
            let (got_id, got) = next(&mut stream).await?;
            if got_id == id && got.as_ref() == Some(&value) {
                break;
            }
        }
        latencies.push(acked.elapsed());
    }
    writer.users().remove("marker").await?;
    for w in 0..16 {
        writer.users().remove(format!("w{w}").as_str()).await?;
    }
    Ok(Sample {
        ops_per_sec: writes as f64 / started.elapsed().as_secs_f64(),
        latencies,
        cpu: None,
    })
}

async fn watch_rows(counts: &Counts, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    let writes = counts.deliveries;
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let (_, flags): (String, String) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query_async(&mut conn)
        .await?;
    let note = |writes: u64| {
        format!(
            "{writes} writes; from the set's reply to the stream's item; op/s = write+delivery cycles/s"
        )
    };

    let memory = MemoryBackend::new();
    let (writer, watcher) = (
        Registry::open(memory.clone()),
        Registry::open(memory.clone()),
    );
    let memory_item = item_delivery(&writer, &watcher, writes).await?;
    let memory_dynamic = dynamic_delivery(&writer, &watcher, writes).await?;

    let writer = Registry::open(RedisBackend::connect(url).await?);
    let watcher = Registry::open(RedisBackend::connect(url).await?);
    let redis_item = item_delivery(&writer, &watcher, writes).await?;
    let redis_dynamic = dynamic_delivery(&writer, &watcher, writes).await?;
    drop((writer, watcher));

    for (workload, sample) in [
        ("watch: memory Item, set -> item", memory_item),
        ("watch: redis Item, set -> item", redis_item),
        ("watch: memory Dynamic, set -> item", memory_dynamic),
        ("watch: redis Dynamic, set -> item", redis_dynamic),
    ] {
        rows.push(Row {
            workload: workload.into(),
            typed: vec![sample],
            note: note(writes),
            ..Row::default()
        });
    }

    // The watches turned keyspace notifications on: put the server's setting back.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg(flags)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

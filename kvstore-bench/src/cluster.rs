//! The cluster rows (`--only cluster`): a real 3-primary Redis Cluster (no replicas) that the
//! bench starts on free loopback ports, in temporary directories, and kills (and removes) when
//! the section ends — also on an error or a panic. Typed `RedisClusterBackend` against raw
//! redis-rs `cluster_async::ClusterConnection`:
//!
//! - the external workload's rows (`User`, ids `k{i}`): `set`/`get` of 20k values from 64 tasks,
//!   `set_many`/`get_many` of 1,000 (raw: one `MSET`/`MGET` per hash slot, all sent at once),
//!   `keys()` of the 20k ids (raw: a `SCAN MATCH .. COUNT 1000` loop on every primary, merged,
//!   sorted and deduplicated);
//! - the registry mix of `cache.rs` (95% `get` / 5% `set`, 10k ids, 64 tasks), typed with
//!   `client_cache(16_384)` (and, for reference, without) against raw cluster `GET`/`SET`;
//! - `modify` under contention: 32 tasks x 1,000 increments of one key (20 with `--quick`), each
//!   of which must succeed, with an exact total.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvstore::{backend::Backend, RedisClusterBackend};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;

use crate::cache::{self, Registry};
use crate::external::{single_ops, user, Bench, User};
use crate::{raw_scan, Config, Res, Row, Sample};

// ---------------------------------------------------------------------------------------------
// A Redis Cluster of our own.

/// One `redis-server` of the cluster; killed (and its directory removed) when dropped.
struct Node {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A cluster-enabled `redis-server` on a free loopback port whose cluster bus port
    /// (`port + 10000`) is free too.
    fn start() -> Res<Node> {
        for _ in 0..20 {
            let port = loop {
                let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                    .local_addr()?
                    .port();
                let Some(bus) = port.checked_add(10000) else {
                    continue;
                };
                if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok() {
                    break port;
                }
            };
            let dir = tempfile::Builder::new()
                .prefix("kvstore-bench-cluster-")
                .tempdir()?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .args(["--logfile", "redis.log"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "2000"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("redis-server on PATH (Debian package redis-server): {e}"))?;
            let mut node = Node {
                child,
                port,
                _dir: dir,
            };
            for _ in 0..200 {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Ok(node);
                }
                if node.child.try_wait().ok().flatten().is_some() {
                    break; // the port was taken between probing and binding: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Dropping `node` kills it and removes its directory.
        }
        Err("could not start a cluster-enabled redis-server".into())
    }
}

/// A 3-primary Redis Cluster without replicas; every node is killed when dropped.
pub(crate) struct Cluster {
    nodes: Vec<Node>,
}

impl Cluster {
    pub(crate) fn start() -> Res<Cluster> {
        let nodes = (0..3).map(|_| Node::start()).collect::<Res<Vec<_>>>()?;
        let cluster = Cluster { nodes };
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port)),
            )
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("redis-cli on PATH (Debian package redis-tools): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        cluster.wait_until_ok(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Until every node reports `cluster_state:ok`, all slots assigned and every node known.
    fn wait_until_ok(&self, timeout: Duration) -> Res<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut last = None;
            for node in &self.nodes {
                let info = redis::Client::open(node.url())
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                    .unwrap_or_else(|e| e.to_string());
                let has = |field: &str| info.lines().any(|l| l.trim() == field);
                if !(has("cluster_state:ok")
                    && has("cluster_slots_assigned:16384")
                    && has("cluster_slots_ok:16384")
                    && has(&format!("cluster_known_nodes:{}", self.nodes.len())))
                {
                    last = Some(format!("node {}:\n{info}", node.port));
                    break;
                }
            }
            let Some(last) = last else {
                return Ok(());
            };
            if Instant::now() > deadline {
                return Err(format!("the cluster is not ok after {timeout:?}; {last}").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads.

const N: u64 = 20_000;
const BATCH: u64 = 1_000;
/// Where the raw side of the registry mix keeps its copy.
const RAW_PREFIX: &str = "clusterraw:users:";

fn sample(ops: u64, started: Instant) -> Sample {
    Sample {
        ops_per_sec: ops as f64 / started.elapsed().as_secs_f64(),
        latencies: Vec::new(),
        cpu: None,
    }
}

fn row(name: &str) -> Row {
    Row {
        workload: format!("cluster: {name}"),
        ..Row::default()
    }
}

/// Keys grouped by hash slot (every group can go in one `MSET`/`MGET`).
fn by_slot<'a>(keys: impl Iterator<Item = (usize, &'a str)>) -> Vec<Vec<(usize, &'a str)>> {
    let mut groups: HashMap<Slot, Vec<(usize, &'a str)>> = HashMap::new();
    for (i, key) in keys {
        groups.entry(Slot::for_key(key)).or_default().push((i, key));
    }
    groups.into_values().collect()
}

/// `MSET` of the pairs, one command per hash slot, all in flight at once.
async fn raw_mset(conn: &ClusterConnection, pairs: &[(String, Vec<u8>)]) -> Res<()> {
    let groups = by_slot(pairs.iter().map(|(k, _)| k.as_str()).enumerate());
    let sends = groups.iter().map(|group| {
        let mut c = conn.clone();
        let mut mset = redis::cmd("MSET");
        for (i, key) in group {
            mset.arg(*key).arg(&pairs[*i].1);
        }
        async move { mset.query_async::<()>(&mut c).await }
    });
    for r in futures_util::future::join_all(sends).await {
        r?;
    }
    Ok(())
}

/// `MGET` of the keys, one command per hash slot, all in flight at once; values in key order.
async fn raw_mget(conn: &ClusterConnection, keys: &[String]) -> Res<Vec<Option<Vec<u8>>>> {
    let groups = by_slot(keys.iter().map(String::as_str).enumerate());
    let sends = groups.iter().map(|group| {
        let mut c = conn.clone();
        let mut mget = redis::cmd("MGET");
        for (_, key) in group {
            mget.arg(*key);
        }
        async move { mget.query_async::<Vec<Option<Vec<u8>>>>(&mut c).await }
    });
    let replies = futures_util::future::join_all(sends).await;
    let mut out = vec![None; keys.len()];
    for (group, reply) in groups.iter().zip(replies) {
        for ((i, _), value) in group.iter().zip(reply?) {
            out[*i] = value;
        }
    }
    Ok(out)
}

/// Every row of the section, on a cluster started here (and stopped when this returns).
pub async fn rows(cfg: &Config, rows: &mut Vec<Row>) -> Res<()> {
    let cluster = tokio::task::block_in_place(Cluster::start)?;
    let urls = cluster.urls();
    external_rows(cfg, &urls, rows).await?;
    registry_rows(cfg, &urls, rows).await?;
    // 32 x 1,000 in the full run: every `modify` on one key succeeds on a cluster too.
    let per_task = if cfg.quick { 20 } else { 1_000 };
    let backend = Arc::new(RedisClusterBackend::connect(&urls).await?);
    rows.push(
        crate::modify_row("cluster: modify, 32 tasks on one key", backend, per_task, 1).await?,
    );
    drop(cluster);
    Ok(())
}

async fn raw_connection(urls: &[String]) -> Res<ClusterConnection> {
    Ok(redis::cluster::ClusterClient::new(urls.to_vec())?
        .get_async_connection()
        .await?)
}

async fn external_rows(cfg: &Config, urls: &[String], rows: &mut Vec<Row>) -> Res<()> {
    let bench = Bench::open(RedisClusterBackend::connect(urls).await?);
    let conn = raw_connection(urls).await?;
    // For the raw SCAN: one connection per primary (all three nodes are primaries).
    let mut per_node = Vec::new();
    for url in urls {
        per_node.push(
            redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await?,
        );
    }
    let users: Arc<Vec<User>> = Arc::new((0..N).map(user).collect());
    let (mut set, mut get) = (row("set, 64 in flight"), row("get, 64 in flight"));
    let (mut set_many, mut get_many) = (row("set_many 1k"), row("get_many 1k"));
    let mut keys = row("keys() 20k");
    for _ in 0..cfg.rounds {
        single_ops(&bench, &conn, &users, &mut set, &mut get).await?;

        let t = Instant::now();
        bench
            .users()
            .set_many((0..BATCH).map(|i| (format!("k{i}"), &users[i as usize])))
            .await?;
        set_many.typed.push(sample(BATCH, t));
        let t = Instant::now();
        let mut pairs = Vec::with_capacity(BATCH as usize);
        for i in 0..BATCH {
            pairs.push((
                format!("bench:users:k{i}"),
                serde_json::to_vec(&users[i as usize])?,
            ));
        }
        raw_mset(&conn, &pairs).await?;
        set_many.raw.push(sample(BATCH, t));

        let t = Instant::now();
        let got = bench
            .users()
            .get_many((0..BATCH).map(|i| format!("k{i}")))
            .await?;
        assert!(got.iter().all(Option::is_some));
        get_many.typed.push(sample(BATCH, t));
        let t = Instant::now();
        let keys_1k: Vec<String> = (0..BATCH).map(|i| format!("bench:users:k{i}")).collect();
        for bytes in raw_mget(&conn, &keys_1k).await? {
            let _: User = serde_json::from_slice(&bytes.ok_or("missing")?)?;
        }
        get_many.raw.push(sample(BATCH, t));

        let t = Instant::now();
        assert_eq!(bench.users().keys().await?.len() as u64, N);
        keys.typed.push(sample(N, t));
        let t = Instant::now();
        let mut found = Vec::new();
        for node in &per_node {
            found.extend(raw_scan(node, "bench:users:*").await?);
        }
        found.sort_unstable();
        found.dedup();
        assert_eq!(found.len() as u64, N);
        keys.raw.push(sample(N, t));
    }
    bench.users().clear().await?;
    set_many.note = "raw: one MSET per hash slot, all in flight (~1 key/slot)".into();
    get_many.note = "raw: one MGET per hash slot, all in flight (~1 key/slot)".into();
    keys.note = "raw: SCAN MATCH COUNT 1000 on each of 3 primaries, sort, dedup".into();
    rows.extend([set, get, set_many, get_many, keys]);
    Ok(())
}

/// A cluster backend with a client cache of 16,384 entries, live.
async fn cached_backend(urls: &[String]) -> Res<RedisClusterBackend> {
    let backend = RedisClusterBackend::builder(urls)
        .client_cache(cache::CACHE_ENTRIES)
        .build()
        .await?;
    let cache = backend.info().client_cache.ok_or("no client cache")?;
    let since = Instant::now();
    while !cache.is_live() {
        if since.elapsed() > cache::GIVE_UP {
            return Err("the client cache never went live".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(backend)
}

fn cache_counts(backend: &RedisClusterBackend) -> (u64, u64) {
    backend
        .info()
        .client_cache
        .map_or((0, 0), |c| (c.hits(), c.misses()))
}

/// The registry mix of `cache.rs` with raw cluster `GET`/`SET` on one cluster connection.
async fn raw_mix(
    conn: &ClusterConnection,
    seed: u64,
    ops: u64,
    keys: &Arc<Vec<String>>,
    users: &Arc<Vec<User>>,
) -> Res<cache::Mixed> {
    let (c1, k1) = (conn.clone(), keys.clone());
    let (c2, k2, u2) = (conn.clone(), keys.clone(), users.clone());
    cache::mix(
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

async fn registry_rows(cfg: &Config, urls: &[String], rows: &mut Vec<Row>) -> Res<()> {
    let counts = cache::Counts::of(cfg);
    let ops = counts.mix_ops;
    let ids: Arc<Vec<String>> = Arc::new((0..cache::IDS).map(|i| format!("k{i}")).collect());
    let raw_keys: Arc<Vec<String>> =
        Arc::new(ids.iter().map(|id| format!("{RAW_PREFIX}{id}")).collect());
    let users: Arc<Vec<User>> = Arc::new((0..cache::IDS).map(user).collect());

    // Pre-fill both copies.
    let setup = Registry::open(RedisClusterBackend::connect(urls).await?);
    let conn = raw_connection(urls).await?;
    for start in (0..cache::IDS as usize).step_by(1000) {
        let end = (start + 1000).min(cache::IDS as usize);
        setup
            .users()
            .set_many((start..end).map(|i| (ids[i].as_str(), &users[i])))
            .await?;
        let mut pairs = Vec::with_capacity(end - start);
        for i in start..end {
            pairs.push((raw_keys[i].clone(), serde_json::to_vec(&users[i])?));
        }
        raw_mset(&conn, &pairs).await?;
    }
    drop(conn);

    let mut cached = row("registry 95/5, cached");
    let mut uncached = row("registry 95/5, no cache");
    let mut hit_rates = Vec::new();
    let (mut hits, mut misses) = (Vec::new(), Vec::new());
    for round in 0..cfg.rounds as u64 {
        let seed = round + 1;

        let backend = cached_backend(urls).await?;
        let store = Registry::open(backend.clone());
        cache::warm(&store, &ids).await?;
        let (h0, m0) = cache_counts(&backend);
        let done = Arc::new(AtomicU64::new(0));
        let mixed = cache::typed_mix(&store, seed, ops, None, done, &ids, &users).await?;
        let (h, m) = cache_counts(&backend);
        let (h, m) = (h - h0, m - m0);
        hit_rates.push(h as f64 / (h + m).max(1) as f64);
        cached.typed.push(mixed.sample);
        hits.extend(mixed.immediate);
        misses.extend(mixed.waited);
        drop((store, backend));

        let conn = raw_connection(urls).await?;
        let raw = raw_mix(&conn, seed, ops, &raw_keys, &users).await?.sample;
        drop(conn);
        cached.raw.push(raw.clone());
        uncached.raw.push(raw);

        let store = Registry::open(RedisClusterBackend::connect(urls).await?);
        let done = Arc::new(AtomicU64::new(0));
        let mixed = cache::typed_mix(&store, seed, ops, None, done, &ids, &users).await?;
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
        "64 tasks, client_cache(16384), hit rate {} (median); raw: cluster GET/SET; hits ({share:.1}% of \
         gets) {}; misses {}",
        cache::pct(cache::median(hit_rates)),
        p(hits),
        p(misses),
    );
    uncached.note = "64 tasks; reference: the same typed workload without client_cache".into();
    rows.push(cached);
    rows.push(uncached);
    Ok(())
}

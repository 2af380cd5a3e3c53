//! Side-by-side benchmark: the typed kvstore layer against the raw baseline it wraps, on the same
//! data, in one run, printed as one table.
//!
//! ```text
//! cargo run --release -p kvstore-bench              # full run (a few minutes)
//! cargo run --release -p kvstore-bench -- --quick   # under a minute
//! cargo run --release -p kvstore-bench -- --redis-url redis://127.0.0.1:6379/  # an existing server
//! cargo run --release -p kvstore-bench -- --only native  # some sections: external,memory,redis,native,redb,scale,index,cache,cluster
//! cargo run --release -p kvstore-bench -- --markdown  # then BENCHMARKS.md's table becomes this run's
//! cargo run --release -p kvstore-bench -- --markdown other.md  # or another file's (between the same markers)
//! ```
//!
//! Without `--redis-url` it starts its own `redis-server` on a free loopback port (Debian's
//! `redis-server` must be on PATH); the `cluster` section starts a 3-primary Redis Cluster of
//! its own the same way (`redis-cli` too). Every workload runs several rounds, alternating typed
//! and raw, and the table shows medians.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod cache;
mod cluster;
mod external;
mod indexes;
mod native;
mod persistent;
mod scale;

use kvstore::{
    backend::{async_trait, Backend, BackendExt, BackendInfo, Reply, Swap},
    DynBackend, Dynamic, Item, ManualClock, MemoryBackend, RedisBackend, Store,
};

use redis::AsyncCommands;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The value every workload stores: about 150 bytes of JSON, with a format and a range constraint
/// so the typed layer always validates it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Profile {
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
    city: String,
    tags: Vec<String>,
    active: bool,
}

fn profile(i: u64) -> Profile {
    Profile {
        name: format!("User Number {i}"),
        email: format!("user{i}@example.com"),
        age: (i % 100) as u32,
        city: "Amsterdam".into(),
        tags: vec!["alpha".into(), "beta".into(), "gamma".into()],
        active: i.is_multiple_of(2),
    }
}

/// An older version of `Profile`, for the read-path row: reading current data through a field
/// that lists older versions must cost what reading it through a plain field does.
#[derive(Serialize, Deserialize, JsonSchema)]
struct ProfileV1 {
    full_name: String,
}

impl From<ProfileV1> for Profile {
    fn from(old: ProfileV1) -> Profile {
        Profile {
            name: old.full_name,
            email: "unknown@example.com".into(),
            age: 0,
            city: String::new(),
            tags: Vec::new(),
            active: false,
        }
    }
}

#[derive(Store)]
struct Bench {
    profiles: Dynamic<Item<Profile>, u64>,
    #[store(migrate_from(ProfileV1))]
    versioned: Dynamic<Item<Profile>, u64>,
    scan: Dynamic<Item<Profile>, u64>,
    hot: Item<u64>,
}

struct Config {
    quick: bool,
    rounds: usize,
    single_ops: u64,
    batch: u64,
    batches: u64,
    scan_ids: u64,
    modify_per_task: u64,
    redis_url: Option<String>,
    /// `--only a,b`: run only these sections (`external`, `memory`, `redis`, `native`, `redb`, `index`,
    /// `scale`, `cache`, `cluster`).
    only: Option<Vec<String>>,
    /// `--markdown [PATH]`: after the run, the table in PATH (BENCHMARKS.md at the workspace
    /// root by default), between its table markers, is replaced with the one printed.
    markdown: Option<std::path::PathBuf>,
}

impl Config {
    fn from_args() -> Config {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let markdown = args.iter().position(|a| a == "--markdown").map(|i| {
            match args.get(i + 1).filter(|next| !next.starts_with("--")) {
                Some(path) => std::path::PathBuf::from(path),
                None => benchmarks_path(),
            }
        });
        let redis_url = args
            .iter()
            .position(|a| a == "--redis-url")
            .and_then(|i| args.get(i + 1).cloned());
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(|list| list.split(',').map(str::to_owned).collect::<Vec<_>>());
        const SECTIONS: [&str; 9] = [
            "external", "memory", "redis", "native", "redb", "scale", "cache", "cluster", "index",
        ];
        for s in only.iter().flatten() {
            assert!(
                SECTIONS.contains(&s.as_str()),
                "--only: unknown section {s:?} (one of {SECTIONS:?})"
            );
        }
        if quick {
            Config {
                quick,
                rounds: 3,
                single_ops: 5_000,
                batch: 1_000,
                batches: 10,
                scan_ids: 10_000,
                modify_per_task: 20,
                redis_url,
                only,
                markdown: markdown.clone(),
            }
        } else {
            Config {
                quick,
                rounds: 7,
                single_ops: 20_000,
                batch: 1_000,
                batches: 30,
                scan_ids: 100_000,
                modify_per_task: 50,
                redis_url,
                only,
                markdown: markdown.clone(),
            }
        }
    }

    /// Whether `section` runs (all do without `--only`).
    fn runs(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == section))
    }
}

/// One measured round: operations per second, and per-op latencies when measured.
#[derive(Default, Clone)]
struct Sample {
    ops_per_sec: f64,
    latencies: Vec<Duration>,
    /// The bench process's CPU time (user + system, `getrusage`) per operation: the client's
    /// own cost, apart from the server's (which shares the machine's cores).
    cpu: Option<Duration>,
}

/// The CPU time this process has used so far (user + system).
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[derive(Default)]
struct Row {
    workload: String,
    typed: Vec<Sample>,
    raw: Vec<Sample>,
    note: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(samples: &[Sample], p: f64) -> Option<Duration> {
    let mut all: Vec<Duration> = samples.iter().flat_map(|s| s.latencies.clone()).collect();
    if all.is_empty() {
        return None;
    }
    all.sort();
    let idx = ((all.len() as f64 - 1.0) * p).round() as usize;
    Some(all[idx])
}

/// The median CPU time per operation of the samples that measured it.
fn median_cpu(samples: &[Sample]) -> Option<Duration> {
    let mut cpu: Vec<Duration> = samples.iter().filter_map(|s| s.cpu).collect();
    if cpu.is_empty() {
        return None;
    }
    cpu.sort();
    Some(cpu[cpu.len() / 2])
}

fn fmt_latency(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d < Duration::from_millis(1) => format!("{:.1}µs", d.as_secs_f64() * 1e6),
        Some(d) => format!("{:.2}ms", d.as_secs_f64() * 1e3),
    }
}

fn fmt_ops(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

/// The results as a Markdown table (each line ends with a newline).
fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {:<40} | {:>10} | {:>10} | {:>6} | {:>9} | {:>9} | {:>9} | {:>9} | {:>9} | {:>9} | note",
        "workload",
        "typed op/s",
        "raw op/s",
        "ratio",
        "typed p50",
        "typed p99",
        "raw p50",
        "raw p99",
        "typed cpu",
        "raw cpu"
    );
    let _ = writeln!(
        out,
        "|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|---",
        "-".repeat(42),
        "-".repeat(12),
        "-".repeat(12),
        "-".repeat(8),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(11)
    );
    for row in rows {
        let typed = median(row.typed.iter().map(|s| s.ops_per_sec).collect());
        let raw = median(row.raw.iter().map(|s| s.ops_per_sec).collect());
        let ratio = if raw.is_nan() {
            "-".into()
        } else {
            format!("{:.2}", typed / raw)
        };
        let _ = writeln!(
            out,
            "| {:<40} | {:>10} | {:>10} | {:>6} | {:>9} | {:>9} | {:>9} | {:>9} | {:>9} | {:>9} | {}",
            row.workload,
            fmt_ops(typed),
            fmt_ops(raw),
            ratio,
            fmt_latency(percentile(&row.typed, 0.5)),
            fmt_latency(percentile(&row.typed, 0.99)),
            fmt_latency(percentile(&row.raw, 0.5)),
            fmt_latency(percentile(&row.raw, 0.99)),
            fmt_latency(median_cpu(&row.typed)),
            fmt_latency(median_cpu(&row.raw)),
            row.note
        );
    }
    out
}

const README_BEGIN: &str = "<!-- kvstore-bench table: begin -->";
const README_END: &str = "<!-- kvstore-bench table: end -->";

/// `readme` (a Markdown file's text) with what stands between its two table markers (each there
/// once, in order) replaced by `table` in a ```text block.
fn replace_table(readme: &str, table: &str) -> Result<String, String> {
    for marker in [README_BEGIN, README_END] {
        match readme.matches(marker).count() {
            1 => {}
            0 => {
                return Err(format!(
                    "no `{marker}` line: the table must stand between `{README_BEGIN}` and \
                     `{README_END}`"
                ))
            }
            _ => return Err(format!("`{marker}` is there more than once")),
        }
    }
    let (begin, end) = (readme.find(README_BEGIN), readme.find(README_END));
    let (begin, end) = (begin.unwrap() + README_BEGIN.len(), end.unwrap());
    if end < begin {
        return Err(format!("`{README_END}` stands before `{README_BEGIN}`"));
    }
    Ok(format!(
        "{}\n```text\n{table}```\n{}",
        &readme[..begin],
        &readme[end..]
    ))
}

/// The workspace's BENCHMARKS.md.
fn benchmarks_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md")
}

/// Replaces the table in the Markdown file at `path` with `table`.
fn write_markdown(path: &std::path::Path, table: &str) -> Res<()> {
    let readme = std::fs::read_to_string(path)
        .map_err(|e| format!("--markdown: reading {}: {e}", path.display()))?;
    let updated = replace_table(&readme, table)
        .map_err(|e| format!("--markdown: {}: {e}", path.display()))?;
    std::fs::write(path, updated)
        .map_err(|e| format!("--markdown: writing {}: {e}", path.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Heap accounting (the `scale` rows): the global allocator is `System`, counting while
// `count_heap(true)`: the bytes allocated (a `realloc` counts its growth), and the net bytes held
// since counting began (freed blocks count even if allocated before) and their peak. Off — every
// other section — it costs one relaxed load per call, not three contended atomic updates.

struct CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static CURRENT: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

fn grew(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATED.fetch_add(bytes as u64, Ordering::Relaxed);
        let now = CURRENT.fetch_add(bytes as i64, Ordering::Relaxed) + bytes as i64;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn shrank(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        CURRENT.fetch_sub(bytes as i64, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        // On failure the old block is untouched.
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

/// The heap counters: bytes allocated, and net bytes held and their peak, since counting began.
#[derive(Clone, Copy)]
struct Heap {
    allocated: u64,
    current: i64,
    peak: i64,
}

fn heap() -> Heap {
    Heap {
        allocated: ALLOCATED.load(Ordering::Relaxed),
        current: CURRENT.load(Ordering::Relaxed),
        peak: PEAK.load(Ordering::Relaxed),
    }
}

/// Turns the heap counting on or off.
fn count_heap(on: bool) {
    COUNTING.store(on, Ordering::Relaxed);
}

/// Starts a new peak from what is held now.
fn reset_heap_peak() {
    PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------
// A redis-server of our own.

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .args(["--logfile", "redis.log"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server on PATH (Debian package redis-server)");
            let mut server = Server {
                child,
                url: format!("redis://127.0.0.1:{port}/"),
                _dir: dir,
            };
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return server;
                }
                if server.child.try_wait().ok().flatten().is_some() {
                    break; // the port was taken between probing and binding: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start redis-server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A backend wrapper that counts lost compare-and-set rounds (for the modify workload).

struct CountingCas {
    inner: DynBackend,
    lost: AtomicU64,
    total: AtomicU64,
}

#[async_trait]
impl Backend for CountingCas {
    fn info(&self) -> BackendInfo<'_> {
        self.inner.info()
    }
    async fn execute(&self, command: kvstore::backend::Command<'_>) -> kvstore::Result<Reply> {
        let reply = self.inner.execute(command).await?;
        if let Reply::Swap(swap) = &reply {
            self.total.fetch_add(1, Ordering::Relaxed);
            if *swap != Swap::Done {
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(reply)
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads.

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn raw_key(prefix: &str, field: &str, id: u64) -> String {
    format!("{prefix}:{field}:{id}")
}

async fn timed<F, Fut>(ops: u64, measure_each: bool, mut f: F) -> Res<Sample>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Res<()>>,
{
    let mut latencies = Vec::with_capacity(if measure_each { ops as usize } else { 0 });
    let start = Instant::now();
    for i in 0..ops {
        if measure_each {
            let t = Instant::now();
            f(i).await?;
            latencies.push(t.elapsed());
        } else {
            f(i).await?;
        }
    }
    Ok(Sample {
        ops_per_sec: ops as f64 / start.elapsed().as_secs_f64(),
        latencies,
        cpu: None,
    })
}

/// Runs `ops` operations from `tasks` concurrent tasks (`f` is called with the op number).
async fn concurrent<F, Fut>(ops: u64, tasks: u64, f: F) -> Res<Sample>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Res<()>> + Send,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let cpu_before = cpu_time();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let f = f.clone();
        handles.push(tokio::spawn(async move {
            let mut i = t;
            while i < ops {
                f(i).await?;
                i += tasks;
            }
            Res::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(Sample {
        ops_per_sec: ops as f64 / start.elapsed().as_secs_f64(),
        latencies: Vec::new(),
        cpu: Some((cpu_time() - cpu_before) / u32::try_from(ops.max(1)).unwrap_or(u32::MAX)),
    })
}

async fn memory_rows(cfg: &Config, rows: &mut Vec<Row>) -> Res<()> {
    let ops = cfg.single_ops * 5;
    let mut set = Row {
        workload: "memory set (1 task)".into(),
        ..Row::default()
    };
    let mut get = Row {
        workload: "memory get (1 task)".into(),
        ..Row::default()
    };
    let values: Arc<Vec<Profile>> = Arc::new((0..ops).map(profile).collect());
    for _ in 0..cfg.rounds {
        let store = Bench::open(MemoryBackend::new());
        let raw: Mutex<HashMap<String, Vec<u8>>> = Mutex::new(HashMap::new());

        let s = store.clone();
        let v = values.clone();
        set.typed.push(
            timed(ops, true, |i| {
                let (s, v) = (s.clone(), v.clone());
                async move { Ok(s.profiles().set(i, &v[i as usize]).await?) }
            })
            .await?,
        );
        set.raw.push(
            timed(ops, true, |i| {
                let r = (|| {
                    let bytes = serde_json::to_vec(&values[i as usize])?;
                    raw.lock()
                        .unwrap()
                        .insert(raw_key("", "profiles", i), bytes);
                    Res::Ok(())
                })();
                async move { r }
            })
            .await?,
        );
        let s = store.clone();
        get.typed.push(
            timed(ops, true, |i| {
                let s = s.clone();
                async move {
                    let p = s.profiles().get(i).await?;
                    assert!(p.is_some());
                    Ok(())
                }
            })
            .await?,
        );
        get.raw.push(
            timed(ops, true, |i| {
                let r = (|| {
                    let bytes = raw
                        .lock()
                        .unwrap()
                        .get(&raw_key("", "profiles", i))
                        .cloned()
                        .ok_or("missing")?;
                    let _p: Profile = serde_json::from_slice(&bytes)?;
                    Res::Ok(())
                })();
                async move { r }
            })
            .await?,
        );
    }
    rows.push(set);
    rows.push(get);

    // The typed layer against itself: the read path of a field with older versions, on current
    // data, against the same read of a plain field; and an interleaved memory backend against a
    // plain one.
    let plain_get = |s: Bench, i: u64| async move { Ok(s.profiles().get(i).await?.is_some()) };
    let versioned_get = |s: Bench, i: u64| async move { Ok(s.versioned().get(i).await?.is_some()) };
    rows.push(
        typed_vs_typed(
            cfg,
            "memory get, migrate_from field",
            "raw column: the same get on a field without migrate_from",
            |backend| (Bench::open(backend.clone()), Bench::open(backend)),
            versioned_get,
            plain_get,
        )
        .await?,
    );
    rows.push(
        typed_vs_typed(
            cfg,
            "memory get, interleaved backend",
            "raw column: the same get on a plain MemoryBackend",
            |backend| {
                (
                    Bench::open(backend.clone().interleaved()),
                    Bench::open(backend),
                )
            },
            plain_get,
            plain_get,
        )
        .await?,
    );

    // TTL sweep of expired keys.
    for n in [1_000u64, if cfg.quick { 20_000 } else { 100_000 }] {
        let mut row = Row {
            workload: format!("memory sweep {n} expired keys"),
            ..Row::default()
        };
        let mut times = Vec::new();
        for _ in 0..cfg.rounds {
            let clock = ManualClock::new();
            let backend = MemoryBackend::with_clock(clock.clone());
            let store = Bench::open(backend.clone());
            let entries: Vec<(u64, Profile)> = (0..n).map(|i| (i, profile(i))).collect();
            for chunk in entries.chunks(1000) {
                store
                    .profiles()
                    .set_many(chunk.iter().map(|(i, p)| (*i, p)))
                    .await?;
            }
            for i in 0..n {
                store
                    .profiles()
                    .at(i)
                    .expire(Duration::from_secs(1))
                    .await?;
            }
            clock.advance(Duration::from_secs(2));
            let t = Instant::now();
            let removed = backend.purge_expired();
            let took = t.elapsed();
            assert_eq!(removed as u64, n);
            times.push(took);
            row.typed.push(Sample {
                ops_per_sec: n as f64 / took.as_secs_f64(),
                latencies: vec![took],
                cpu: None,
            });
        }
        times.sort();
        row.note = format!(
            "median sweep {:.2}ms",
            times[times.len() / 2].as_secs_f64() * 1e3
        );
        rows.push(row);
    }
    Ok(())
}

/// A row of two typed reads of the same stored values: `typed` on the first store `stores` opens
/// over a fresh memory backend, `raw` on the second.
async fn typed_vs_typed<G1, G2, F1, F2>(
    cfg: &Config,
    workload: &str,
    note: &str,
    stores: impl Fn(MemoryBackend) -> (Bench, Bench),
    typed: G1,
    raw: G2,
) -> Res<Row>
where
    G1: Fn(Bench, u64) -> F1 + Copy,
    G2: Fn(Bench, u64) -> F2 + Copy,
    F1: std::future::Future<Output = Res<bool>>,
    F2: std::future::Future<Output = Res<bool>>,
{
    let ops = cfg.single_ops * 5;
    let mut row = Row {
        workload: workload.into(),
        note: note.into(),
        ..Row::default()
    };
    for _ in 0..cfg.rounds {
        let (first, second) = stores(MemoryBackend::new());
        let entries: Vec<(u64, Profile)> = (0..ops).map(|i| (i, profile(i))).collect();
        for chunk in entries.chunks(1000) {
            let chunk = chunk.iter().map(|(i, p)| (*i, p));
            first.profiles().set_many(chunk.clone()).await?;
            first.versioned().set_many(chunk).await?;
        }
        let found = |found: bool| if found { Ok(()) } else { Err("missing".into()) };
        let s = first.clone();
        row.typed.push(
            timed(ops, true, |i| {
                let s = s.clone();
                async move { found(typed(s, i).await?) }
            })
            .await?,
        );
        let s = second.clone();
        row.raw.push(
            timed(ops, true, |i| {
                let s = s.clone();
                async move { found(raw(s, i).await?) }
            })
            .await?,
        );
    }
    Ok(row)
}

/// The raw baseline of `keys()`: a `SCAN MATCH pattern COUNT 1000` loop to the end, sorted and
/// deduplicated.
pub(crate) async fn raw_scan(
    conn: &redis::aio::MultiplexedConnection,
    pattern: &str,
) -> Res<Vec<String>> {
    let mut c = conn.clone();
    let mut cursor = 0u64;
    let mut found = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await?;
        found.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

async fn redis_rows(cfg: &Config, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    let client = redis::Client::open(url)?;
    let raw = client.get_multiplexed_async_connection().await?;
    let backend = RedisBackend::connect(url).await?;
    let values: Arc<Vec<Profile>> = Arc::new((0..cfg.single_ops).map(profile).collect());
    let ops = cfg.single_ops;

    for tasks in [1u64, 64] {
        let mut set = Row {
            workload: format!("redis set ({tasks} in flight)"),
            ..Row::default()
        };
        let mut get = Row {
            workload: format!("redis get ({tasks} in flight)"),
            ..Row::default()
        };
        for round in 0..cfg.rounds {
            let typed_prefix = format!("bench:t{tasks}:{round}");
            let raw_prefix = format!("bench:r{tasks}:{round}");
            let store = Bench::open_with_prefix(backend.clone(), &typed_prefix);
            if tasks == 1 {
                let s = store.clone();
                let v = values.clone();
                set.typed.push(
                    timed(ops, true, |i| {
                        let (s, v) = (s.clone(), v.clone());
                        async move { Ok(s.profiles().set(i, &v[i as usize]).await?) }
                    })
                    .await?,
                );
                let (c, v, p) = (raw.clone(), values.clone(), raw_prefix.clone());
                set.raw.push(
                    timed(ops, true, |i| {
                        let (mut c, v, p) = (c.clone(), v.clone(), p.clone());
                        async move {
                            let bytes = serde_json::to_vec(&v[i as usize])?;
                            let () = c.set(raw_key(&p, "profiles", i), bytes).await?;
                            Ok(())
                        }
                    })
                    .await?,
                );
                let s = store.clone();
                get.typed.push(
                    timed(ops, true, |i| {
                        let s = s.clone();
                        async move {
                            s.profiles().get(i).await?.ok_or("missing")?;
                            Ok(())
                        }
                    })
                    .await?,
                );
                let (c, p) = (raw.clone(), raw_prefix.clone());
                get.raw.push(
                    timed(ops, true, |i| {
                        let (mut c, p) = (c.clone(), p.clone());
                        async move {
                            let bytes: Option<Vec<u8>> = c.get(raw_key(&p, "profiles", i)).await?;
                            let _p: Profile = serde_json::from_slice(&bytes.ok_or("missing")?)?;
                            Ok(())
                        }
                    })
                    .await?,
                );
            } else {
                let (s, v) = (store.clone(), values.clone());
                set.typed.push(
                    concurrent(ops, tasks, move |i| {
                        let (s, v) = (s.clone(), v.clone());
                        async move { Ok(s.profiles().set(i, &v[i as usize]).await?) }
                    })
                    .await?,
                );
                let (c, v, p) = (raw.clone(), values.clone(), raw_prefix.clone());
                set.raw.push(
                    concurrent(ops, tasks, move |i| {
                        let (mut c, v, p) = (c.clone(), v.clone(), p.clone());
                        async move {
                            let bytes = serde_json::to_vec(&v[i as usize])?;
                            let () = c.set(raw_key(&p, "profiles", i), bytes).await?;
                            Ok(())
                        }
                    })
                    .await?,
                );
                let s = store.clone();
                get.typed.push(
                    concurrent(ops, tasks, move |i| {
                        let s = s.clone();
                        async move {
                            s.profiles().get(i).await?.ok_or("missing")?;
                            Ok(())
                        }
                    })
                    .await?,
                );
                let (c, p) = (raw.clone(), raw_prefix.clone());
                get.raw.push(
                    concurrent(ops, tasks, move |i| {
                        let (mut c, p) = (c.clone(), p.clone());
                        async move {
                            let bytes: Option<Vec<u8>> = c.get(raw_key(&p, "profiles", i)).await?;
                            let _p: Profile = serde_json::from_slice(&bytes.ok_or("missing")?)?;
                            Ok(())
                        }
                    })
                    .await?,
                );
            }
            store.profiles().clear().await?;
            let mut c = raw.clone();
            for chunk in (0..ops).collect::<Vec<_>>().chunks(1000) {
                let keys: Vec<String> = chunk
                    .iter()
                    .map(|i| raw_key(&raw_prefix, "profiles", *i))
                    .collect();
                let _: usize = c.unlink(keys).await?;
            }
        }
        rows.push(set);
        rows.push(get);
    }

    // The backend alone (bytes in, bytes out, no codec): what the Redis backend itself costs.
    let mut bytes_row = Row {
        workload: "redis Backend::get bytes (64 in flight)".into(),
        note: "no codec: backend overhead only".into(),
        ..Row::default()
    };
    {
        let prefix = "bench:bytes";
        let payload = serde_json::to_vec(&profile(1))?;
        let mut c = raw.clone();
        let keys: Vec<String> = (0..ops).map(|i| raw_key(prefix, "b", i)).collect();
        for chunk in keys.chunks(1000) {
            let pairs: Vec<(&String, &Vec<u8>)> = chunk.iter().map(|k| (k, &payload)).collect();
            let () = c.mset(&pairs).await?;
        }
        let keys = Arc::new(keys);
        for _ in 0..cfg.rounds {
            let (b, k) = (backend.clone(), keys.clone());
            bytes_row.typed.push(
                concurrent(ops, 64, move |i| {
                    let (b, k) = (b.clone(), k.clone());
                    async move {
                        b.get(&k[i as usize]).await?.ok_or("missing")?;
                        Ok(())
                    }
                })
                .await?,
            );
            let (c, k) = (raw.clone(), keys.clone());
            bytes_row.raw.push(
                concurrent(ops, 64, move |i| {
                    let (mut c, k) = (c.clone(), k.clone());
                    async move {
                        let v: Option<Vec<u8>> = c.get(&k[i as usize]).await?;
                        v.ok_or("missing")?;
                        Ok(())
                    }
                })
                .await?,
            );
        }
        for chunk in keys.chunks(1000) {
            let _: usize = c.unlink(chunk).await?;
        }
    }
    rows.push(bytes_row);

    // Batches of 1,000.
    let batch = cfg.batch;
    let mut set_many = Row {
        workload: format!("redis set_many {batch} (vs MSET)"),
        ..Row::default()
    };
    let mut get_many = Row {
        workload: format!("redis get_many {batch} (vs MGET)"),
        ..Row::default()
    };
    let batch_values: Vec<Profile> = (0..batch).map(profile).collect();
    for round in 0..cfg.rounds {
        let typed_prefix = format!("bench:bt:{round}");
        let raw_prefix = format!("bench:br:{round}");
        let store = Bench::open_with_prefix(backend.clone(), &typed_prefix);
        set_many.typed.push(
            timed(cfg.batches, true, |b| {
                let s = store.clone();
                let vals = &batch_values;
                async move {
                    s.profiles()
                        .set_many(
                            vals.iter()
                                .enumerate()
                                .map(|(i, p)| (b * batch + i as u64, p)),
                        )
                        .await?;
                    Ok(())
                }
            })
            .await?,
        );
        set_many.raw.push(
            timed(cfg.batches, true, |b| {
                let mut c = raw.clone();
                let vals = &batch_values;
                let p = raw_prefix.clone();
                async move {
                    let mut pairs = Vec::with_capacity(vals.len());
                    for (i, v) in vals.iter().enumerate() {
                        pairs.push((
                            raw_key(&p, "profiles", b * batch + i as u64),
                            serde_json::to_vec(v)?,
                        ));
                    }
                    let () = c.mset(&pairs).await?;
                    Ok(())
                }
            })
            .await?,
        );
        get_many.typed.push(
            timed(cfg.batches, true, |b| {
                let s = store.clone();
                async move {
                    let got = s
                        .profiles()
                        .get_many((0..batch).map(|i| b * batch + i))
                        .await?;
                    assert!(got.iter().all(Option::is_some));
                    Ok(())
                }
            })
            .await?,
        );
        get_many.raw.push(
            timed(cfg.batches, true, |b| {
                let mut c = raw.clone();
                let p = raw_prefix.clone();
                async move {
                    let keys: Vec<String> = (0..batch)
                        .map(|i| raw_key(&p, "profiles", b * batch + i))
                        .collect();
                    let got: Vec<Option<Vec<u8>>> = c.mget(&keys).await?;
                    let decoded = got
                        .iter()
                        .map(|b| {
                            b.as_deref()
                                .map(serde_json::from_slice::<Profile>)
                                .transpose()
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    assert!(decoded.iter().all(Option::is_some));
                    Ok(())
                }
            })
            .await?,
        );
        store.profiles().clear().await?;
        Bench::open_with_prefix(backend.clone(), &raw_prefix)
            .profiles()
            .clear()
            .await?;
    }
    // Per-batch ops/s -> values/s.
    for s in set_many.typed.iter_mut().chain(set_many.raw.iter_mut()) {
        s.ops_per_sec *= batch as f64;
    }
    for s in get_many.typed.iter_mut().chain(get_many.raw.iter_mut()) {
        s.ops_per_sec *= batch as f64;
    }
    set_many.note = "op/s = values/s; latency per batch".into();
    get_many.note = "op/s = values/s; latency per batch".into();
    rows.push(set_many);
    rows.push(get_many);

    // keys() of a large keyspace vs a raw SCAN MATCH loop.
    let n = cfg.scan_ids;
    let store = Bench::open_with_prefix(backend.clone(), "bench:scan");
    let filler = profile(1);
    for start in (0..n).step_by(1000) {
        store
            .scan()
            .set_many((start..(start + 1000).min(n)).map(|i| (i, &filler)))
            .await?;
    }
    let mut keys = Row {
        workload: format!("redis keys() of {n} ids (vs SCAN)"),
        ..Row::default()
    };
    for _ in 0..cfg.rounds {
        let t = Instant::now();
        let ids = store.scan().keys().await?;
        let took = t.elapsed();
        assert_eq!(ids.len() as u64, n);
        keys.typed.push(Sample {
            ops_per_sec: n as f64 / took.as_secs_f64(),
            latencies: vec![took],
            cpu: None,
        });
        let t = Instant::now();
        let found = raw_scan(&raw, "bench:scan:scan:*").await?;
        let ids: Vec<u64> = found
            .iter()
            .filter_map(|k| k.rsplit(':').next()?.parse().ok())
            .collect();
        let took = t.elapsed();
        assert_eq!(ids.len() as u64, n);
        keys.raw.push(Sample {
            ops_per_sec: n as f64 / took.as_secs_f64(),
            latencies: vec![took],
            cpu: None,
        });
    }
    keys.note = "op/s = ids/s; latency per full listing".into();
    rows.push(keys);
    store.scan().clear().await?;

    // modify under contention: 32 tasks on one key.
    let per_task = cfg.modify_per_task;
    let modify = modify_row(
        "redis modify, 32 tasks on one key",
        Arc::new(backend.clone()),
        per_task,
        cfg.rounds,
    )
    .await?;
    rows.push(modify);
    Ok(())
}

/// `modify` under contention: 32 tasks add 1 to one key `per_task` times each, `rounds` times;
/// every `modify` must succeed (none gives up) and the total must be exact. The note counts
/// the compare-and-set rounds lost and retried.
async fn modify_row(label: &str, backend: DynBackend, per_task: u64, rounds: usize) -> Res<Row> {
    let counting = Arc::new(CountingCas {
        inner: backend,
        lost: AtomicU64::new(0),
        total: AtomicU64::new(0),
    });
    let mut modify = Row {
        workload: label.into(),
        ..Row::default()
    };
    for round in 0..rounds {
        let store = Bench::open_with_prefix(
            counting.clone() as DynBackend,
            &format!("bench:modify:{round}"),
        );
        let s = store.clone();
        modify.typed.push(
            concurrent(32 * per_task, 32, move |_| {
                let s = s.clone();
                async move {
                    s.hot().modify(|v| Some(v.unwrap_or(0) + 1)).await?;
                    Ok(())
                }
            })
            .await?,
        );
        assert_eq!(store.hot().get().await?, Some(32 * per_task));
        store.hot().remove().await?;
    }
    let lost = counting.lost.load(Ordering::Relaxed);
    let total = counting.total.load(Ordering::Relaxed);
    modify.note = format!(
        "{per_task} per task; {:.0}% of CAS rounds lost and retried ({lost}/{total}); no lost \
         update, none gave up",
        100.0 * lost as f64 / total.max(1) as f64
    );
    Ok(modify)
}

fn main() -> Res<()> {
    let cfg = Config::from_args();
    // Two workers, as the external benchmark (and this 2-core machine) has.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = match &cfg.redis_url {
        Some(_) => None,
        None => Some(Server::start()),
    };
    let url = cfg
        .redis_url
        .clone()
        .or_else(|| server.as_ref().map(|s| s.url.clone()))
        .expect("a url");
    println!(
        "kvstore-bench ({} mode, {} rounds, medians), redis at {url}",
        if cfg.quick { "quick" } else { "full" },
        cfg.rounds
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    runtime.block_on(async {
        if cfg.runs("external") {
            external::memory(&cfg, &mut rows).await?;
            external::redis(&cfg, &url, &mut rows).await?;
        }
        if cfg.runs("memory") {
            memory_rows(&cfg, &mut rows).await?;
        }
        if cfg.runs("redis") {
            redis_rows(&cfg, &url, &mut rows).await?;
        }
        if cfg.runs("native") {
            native::memory(&cfg, &mut rows).await?;
            native::redis(&cfg, &url, &mut rows).await?;
        }
        if cfg.runs("redb") {
            persistent::rows(&cfg, &mut rows).await?;
        }
        if cfg.runs("scale") {
            scale::memory(&cfg, &mut rows).await?;
            scale::redis(&cfg, &url, &mut rows).await?;
        }
        if cfg.runs("index") {
            indexes::rows(&cfg, &url, &mut rows).await?;
        }
        // On a 3-primary Redis Cluster of its own (started and stopped by the section).
        if cfg.runs("cluster") {
            cluster::rows(&cfg, &mut rows).await?;
        }
        // Last: its watch rows turn on the server's keyspace notifications (and put them back).
        if cfg.runs("cache") {
            cache::rows(&cfg, &url, &mut rows).await?;
        }
        Res::Ok(())
    })?;
    let table = table(&rows);
    print!("\n{table}");
    println!("\ntotal time {:.1}s", started.elapsed().as_secs_f64());
    if let Some(path) = &cfg.markdown {
        write_markdown(path, &table)?;
        println!("{}: table replaced", path.display());
        if cfg.quick || cfg.only.is_some() {
            println!("note: from a --quick or --only run (the full run is the reference)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "| workload | typed op/s |\n|---|---|\n| new row | 1.00M |\n";

    #[test]
    fn replace_table_replaces_between_the_markers() {
        let readme = format!(
            "# Title\n\n## Performance\n\nText:\n\n{README_BEGIN}\n```text\n| workload | old |\n| old row | 1 |\n```\n{README_END}\n\nAfter.\n"
        );
        let expected = format!(
            "# Title\n\n## Performance\n\nText:\n\n{README_BEGIN}\n```text\n{TABLE}```\n{README_END}\n\nAfter.\n"
        );
        let updated = replace_table(&readme, TABLE).unwrap();
        assert_eq!(updated, expected);
        // Again: the same text.
        assert_eq!(replace_table(&updated, TABLE).unwrap(), expected);
    }

    #[test]
    fn replace_table_fails_without_markers() {
        let no_begin = format!("```text\n| workload |\n```\n{README_END}\n");
        let err = replace_table(&no_begin, TABLE).unwrap_err();
        assert!(err.contains(README_BEGIN), "{err}");
        let no_end = format!("{README_BEGIN}\n```text\n| workload |\n```\n");
        let err = replace_table(&no_end, TABLE).unwrap_err();
        assert!(err.contains(README_END), "{err}");
        let end_first = format!("{README_END}\n```text\n```\n{README_BEGIN}\n");
        assert!(replace_table(&end_first, TABLE).is_err());
        let twice = format!("{README_BEGIN}\n{README_END}\n{README_BEGIN}\n{README_END}\n");
        assert!(replace_table(&twice, TABLE).is_err());
    }

    #[test]
    fn benchmarks_md_has_the_markers() {
        let readme = std::fs::read_to_string(benchmarks_path()).unwrap();
        let block = readme.split(README_BEGIN).nth(1).unwrap();
        let block = block.split(README_END).next().unwrap();
        let table = block.strip_prefix("\n```text\n").unwrap();
        let table = table.strip_suffix("```\n").unwrap();
        assert!(table.starts_with("| workload "));
        assert_eq!(replace_table(&readme, table).unwrap(), readme);
    }

    #[test]
    fn table_is_what_the_readme_block_holds() {
        let row = Row {
            workload: "w".into(),
            typed: vec![Sample {
                ops_per_sec: 1e6,
                latencies: Vec::new(),
                cpu: None,
            }],
            ..Row::default()
        };
        let table = table(&[row]);
        assert!(table.starts_with("| workload "), "{table}");
        assert!(table.ends_with('\n'), "{table}");
        assert_eq!(table.lines().count(), 3);
    }
}

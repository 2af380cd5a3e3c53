//! Model-based differential testing.
//!
//! Random sequences of every handle operation — items (get/set/set_with_ttl/set_if_absent/
//! modify/remove/exists/ttl/expire/persist), counters, sets, dynamic keyspaces (get/set/remove/
//! get_many/set_many/entries/keys/count/clear), nested and colocated tenants, hostile and
//! over-long ids, values at and over the size limit, values that fail validation, and bytes
//! written behind the store's back — run against a plain `BTreeMap` model and against a real
//! backend. Every result must equal the model's exactly, and after every operation the raw keys
//! under the case's prefix must be exactly the model's keys, encoded by an independent encoder
//! written here from the README's key layout (so the layout is checked too).
//!
//! Backends: the memory backend and `RedbBackend` (a new file per case) on a `ManualClock` (time
//! advances by `Sleep` operations, so TTL expiry is checked exactly), a real `redis-server` (one per test, a fresh prefix per case; no
//! sleeping: TTLs are long, `ttl()` is checked within the real time elapsed), and a 3-primary
//! Redis Cluster (few cases).
//!
//! A second model (`Nat`, `NOp`, `NModel`) does the same for the native types: lists (pushes,
//! pops, `LRANGE`/`LTRIM` indexes, `LMOVE`, TTLs of lists created in a keyspace with a default
//! TTL), sorted sets (scores with infinities and `-0`, ties, ranks, ranges both ways and by
//! score, NaN increments), maps (hostile and empty fields, `set_many`, `get_many`, `HINCRBY`
//! overflow), packed `i16` slots and bits, containers emptied and cleared, and strings written
//! behind the store's back at a container's key (`WrongType`).
//!
//! One test binary, three files: this one (the value type, the prefix scheme, results and how
//! they are compared, the targets a case runs on), `items.rs` (the first model: items,
//! counters, sets, dynamic keyspaces, tenants, atomic steps) and `native.rs` (the second).
//!
//! Cases: 64 on memory, 16 on Redis, 8 on the cluster (each model). `KVSTORE_MODEL_CASES=N` runs N on memory
//! and Redis and N/8 on the cluster, e.g. `KVSTORE_MODEL_CASES=5000 cargo test --test model`.
//! A failure prints the shrunk sequence; commit it as a `regression_*` test in the model's file.
//!
//! A third model (`indexes.rs`: `IOp`, `IModel`) does the same for secondary indexes: every
//! index-keeping write path, raw writes and expiry, every lookup predicted exactly (stale
//! entries and their cleaning included), `repair()` and the raw entries at the end of a case.

#[path = "../support/mod.rs"]
mod support;

use support::backends::{self, Kind, Options};

use kvstore::backend::BackendExt as _;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kvstore::{
    backend::Limits, Atomic, Bits, Counter, DynBackend, Dynamic, Error, InvalidKeyReason, Item,
    ListOf, ManualClock, MapOf, MemoryBackend, PackedInts, SetOf, SortedSetOf, Store,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// The store under test
// ---------------------------------------------------------------------------------------------

/// The value type: `n` has a schema constraint, so it is validated on write and on read.
#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    #[schemars(range(max = 1000))]
    n: u32,
    s: String,
}

impl fmt::Debug for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rec({}, {:?})", self.n, Short(&self.s))
    }
}

/// The value size limit of every backend here (small, so the boundary is cheap to hit).
const MAX_VALUE: usize = 4096;
const MAX_KEY: usize = 1024;
/// Every case's prefix has this length (`kvm:` + 16 hex digits).
const PREFIX_LEN: usize = 20;
const DEFAULT_TTL_MS: u64 = 120_000;

/// Long strings print short in shrunk sequences.
struct Short<'a>(&'a str);

impl fmt::Debug for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let first = s.chars().next();
        if s.len() > 40 && first.is_some_and(|c| s.chars().all(|x| x == c)) {
            write!(f, "{:?}*{}", first.unwrap(), s.chars().count())
        } else if s.len() > 40 {
            let head: String = s.chars().take(16).collect();
            write!(f, "{head:?}..({} bytes)", s.len())
        } else {
            write!(f, "{s:?}")
        }
    }
}

/// An id (prints short).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Id(String);

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Short(&self.0).fmt(f)
    }
}

fn id(s: &str) -> Id {
    Id(s.to_owned())
}

fn rec() -> impl Strategy<Value = Rec> {
    let n = prop::sample::select(vec![0u32, 1, 7, 999, 1000, 1001, 5000]);
    let s = prop_oneof![
        4 => prop::sample::select(vec!["", "x", "ü\0\"\\", "{\"n\":1}"]).prop_map(str::to_owned),
        1 => (0usize..=1).prop_map(|extra| format!("#{extra}")),
    ];
    (n, s).prop_map(|(n, s)| {
        // `#0` / `#1`: a string that makes the encoded value exactly the limit, or one over.
        if let Some(extra) = s.strip_prefix('#') {
            let base = serde_json::to_vec(&Rec {
                n,
                s: String::new(),
            })
            .unwrap()
            .len();
            let extra: usize = extra.parse().unwrap();
            Rec {
                n,
                s: "y".repeat(MAX_VALUE - base + extra),
            }
        } else {
            Rec { n, s }
        }
    })
}

fn encode(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars() {
        if matches!(c, '%' | ':' | '*' | '?' | '[' | ']' | '\\' | '{' | '}') || c.is_ascii_control()
        {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Out {
    Unit,
    B(bool),
    I(i64),
    U(usize),
    R(Option<Rec>),
    Rs(Vec<Option<Rec>>),
    Ids(Vec<Id>),
    Ents(Vec<(Id, Rec)>),
    Members(Vec<Id>),
    Ttl(Option<Duration>),
    /// An optional integer (`MapOf<_, i64>::get`).
    Oi(Option<i64>),
    /// A sorted-set score.
    F(Option<f64>),
    /// A sorted-set rank.
    Rank(Option<usize>),
    /// Sorted-set members with scores, in order.
    Scored(Vec<(String, f64)>),
    /// List elements, in order.
    Recs(Vec<Rec>),
    /// Map fields (sorted).
    Strs(Vec<String>),
    /// Map fields with values (sorted).
    SEnts(Vec<(String, Rec)>),
    /// A normalized error: `Variant[/reason]@key`.
    E(String),
    /// Any of these (several values are broken and the order of a scan is unspecified).
    OneOf(Vec<Out>),
}

fn norm(e: &Error) -> String {
    // Every error that concerns a key names it in its Display.
    if let Some(k) = e.key() {
        assert!(
            e.to_string().contains(k),
            "Display of {e:?} does not name its key"
        );
    }
    match e {
        Error::Validation { key, issues, .. } => {
            assert!(!issues.is_empty());
            format!("Validation@{key}")
        }
        Error::Decode { key, .. } => format!("Decode@{key}"),
        Error::InvalidKey { key, reason } => {
            let r = match reason {
                InvalidKeyReason::EmptyId => "EmptyId",
                InvalidKeyReason::KeyTooLong { .. } => "KeyTooLong",
                InvalidKeyReason::ValueTooLarge { .. } => "ValueTooLarge",
                InvalidKeyReason::BadName(_) => "BadName",
                _ => "other",
            };
            format!("InvalidKey/{r}@{key}")
        }
        Error::WrongType { key } => format!("WrongType@{key}"),
        Error::Conflict { key, .. } => format!("Conflict@{key}"),
        Error::Overflow { key } => format!("Overflow@{key}"),
        Error::InvalidTtl { key, .. } => format!("InvalidTtl@{key}"),
        Error::Backend(b) => format!("Backend/{:?}@{:?}: {b}", b.kind(), b.key()),
        other => format!("unexpected error {other:?}"),
    }
}

fn out<T>(r: kvstore::Result<T>, f: impl FnOnce(T) -> Out) -> Out {
    match r {
        Ok(v) => f(v),
        Err(e) => Out::E(norm(&e)),
    }
}

/// Whether `actual` is what the model predicted. On Redis, `ttl()` may be below the model's
/// (real time passes, the model's does not) by at most `slack`.
fn same(expected: &Out, actual: &Out, slack: Duration) -> bool {
    match (expected, actual) {
        (Out::OneOf(options), a) => options.iter().any(|o| same(o, a, slack)),
        (Out::Ttl(Some(e)), Out::Ttl(Some(a))) => a <= e && *a + slack >= *e,
        (e, a) => e == a,
    }
}

fn err_at(kind: &str, key: &str) -> Out {
    Out::E(format!("{kind}@{key}"))
}

/// Encodes a value as the store would, or the error it would give.
fn encode_rec(key: &str, v: &Rec) -> Result<Vec<u8>, Out> {
    if v.n > 1000 {
        return Err(err_at("Validation", key));
    }
    let bytes = serde_json::to_vec(v).unwrap();
    if bytes.len() > MAX_VALUE {
        return Err(err_at("InvalidKey/ValueTooLarge", key));
    }
    Ok(bytes)
}

fn encode_member(key: &str, m: &Id) -> Result<Vec<u8>, Out> {
    let bytes = serde_json::to_vec(&m.0).unwrap();
    if bytes.len() > MAX_VALUE {
        return Err(err_at("InvalidKey/ValueTooLarge", key));
    }
    Ok(bytes)
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(out) => return out,
        }
    };
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

static CASE: AtomicU64 = AtomicU64::new(0);

fn fresh_prefix() -> String {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let p = format!("kvm:{:08x}{:08x}", std::process::id() ^ nanos, n as u32);
    assert_eq!(p.len(), PREFIX_LEN);
    p
}

/// What one case runs on.
#[derive(Clone)]
enum Target {
    Memory,
    /// A new `RedbBackend` file per case in this directory, on a manual clock.
    Redb(std::sync::Arc<tempfile::TempDir>),
    Redis(DynBackend),
}

impl Target {
    /// The backend of one case, and its manual clock when it has one.
    fn open(&self) -> (DynBackend, Option<ManualClock>) {
        let limits = Limits {
            max_value_size: MAX_VALUE,
            max_key_len: MAX_KEY,
        };
        match self {
            Target::Memory => {
                let clock = ManualClock::new();
                let b = MemoryBackend::with_options(clock.clone(), limits);
                (std::sync::Arc::new(b), Some(clock))
            }
            Target::Redb(dir) => {
                let clock = ManualClock::new();
                let n = CASE.fetch_add(1, Ordering::Relaxed);
                let b = kvstore::RedbBackend::builder(dir.path().join(format!("case-{n}.redb")))
                    .clock(clock.clone())
                    .limits(limits)
                    .background_sweep(false)
                    .open()
                    .expect("open a redb file");
                (std::sync::Arc::new(b), Some(clock))
            }
            Target::Redis(b) => (b.clone(), None),
        }
    }

    fn redb() -> Target {
        Target::Redb(std::sync::Arc::new(
            tempfile::tempdir().expect("a temporary directory"),
        ))
    }
}

fn cases(default: u32, divisor: u32) -> u32 {
    match std::env::var("KVSTORE_MODEL_CASES") {
        Ok(n) => (n.parse::<u32>().expect("KVSTORE_MODEL_CASES is a number") / divisor).max(1),
        Err(_) => default,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A Redis backend of the shared list, with the model's value limit.
fn start(rt: &tokio::runtime::Runtime, kind: Kind) -> backends::Running {
    let options = Options {
        max_value_size: MAX_VALUE,
        ..Options::default()
    };
    rt.block_on(backends::start(kind, options))
}

// After the shared items above: the models use its macros (`tri!`).
mod indexes;
mod items;
mod native;

/// After op #`i`: the keys stored under `scan_prefix` must be exactly the model's (`want`,
/// sorted), encoded per the key layout.
async fn same_keys(
    backend: &DynBackend,
    scan_prefix: &str,
    want: Vec<String>,
    i: usize,
    op: &dyn fmt::Debug,
) -> Result<(), String> {
    let mut raw = backend
        .scan_prefix(scan_prefix)
        .await
        .map_err(|e| format!("raw scan after op #{i}: {e}"))?;
    raw.sort();
    if raw == want {
        return Ok(());
    }
    let short = |keys: &[String]| {
        keys.iter()
            .map(|k| format!("{:?}", Short(k)))
            .collect::<Vec<_>>()
    };
    Err(format!(
        "after op #{i} {op:?} the stored keys differ\n  model   {:?}\n  backend {:?}",
        short(&want),
        short(&raw)
    ))
}

/// Deletes what a case left under `scan_prefix` (keeps later scans of a long local run fast).
async fn leave_nothing(backend: &DynBackend, scan_prefix: &str) -> Result<(), String> {
    let left = backend
        .scan_prefix(scan_prefix)
        .await
        .map_err(|e| format!("cleanup scan: {e}"))?;
    if !left.is_empty() {
        backend
            .delete(&left)
            .await
            .map_err(|e| format!("cleanup: {e}"))?;
    }
    Ok(())
}

/// Runs `cases` random sequences of `strategy` through `case` (which answers how many
/// operations it checked); panics with the shrunk failing sequence.
fn run_cases<S: Strategy>(
    what: &str,
    cases: u32,
    strategy: S,
    case: impl Fn(S::Value) -> Result<usize, String>,
) {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ops_run = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&strategy, |ops| {
        let n = case(ops).map_err(TestCaseError::fail)?;
        ops_run.fetch_add(n, Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{what} mismatch (commit the shrunk sequence as a regression test):\n{e}");
    }
    eprintln!(
        "{what}: {cases} cases, {} operations checked",
        ops_run.load(Ordering::Relaxed)
    );
}

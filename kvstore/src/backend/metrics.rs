//! Metrics: [`Instrumented`] wraps any backend and counts every operation, its errors and its
//! latency; with the `metrics` feature, the same observations also go to the `metrics` facade.
//! Both are fed from one place, [`Observer::record`], called once per operation by the one call
//! path of handles and `BackendExt`.
//!
//! Zero cost when off: a store opened over a plain backend, without the feature, never times an
//! operation. Wrap the backend to turn it on, and read (or export) [`Metrics::snapshot`]
//! whenever you like:
//!
//! ```
//! use kvstore::{Counter, Instrumented, MemoryBackend, Store};
//!
//! #[derive(Store)]
//! struct App { hits: Counter }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let backend = Instrumented::new(MemoryBackend::new());
//! let metrics = backend.metrics();
//! let app = App::open(backend);
//! app.hits().increment(1).await?;
//! app.hits().get().await?;
//!
//! let incr = metrics.snapshot().into_iter().find(|s| s.op == "increment").unwrap();
//! assert_eq!((incr.calls, incr.errors), (1, 0));
//! println!("increment: {} calls, p99 <= {:?}", incr.calls, incr.quantile(0.99));
//! # Ok::<(), kvstore::Error>(()) }).unwrap();
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::command::{Command, Reply};
use super::{async_trait, Backend, BackendInfo, ClientCache};
use crate::error::Result;

/// Latency buckets: bucket `i` counts calls that took less than 2^i µs (the last one: the rest).
const BUCKETS: usize = 24;

#[derive(Default)]
struct OpStats {
    calls: AtomicU64,
    errors: AtomicU64,
    total_nanos: AtomicU64,
    max_nanos: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

/// Counters of one [`Instrumented`] backend, shared by its clones. Lock-free: recording is a few
/// relaxed atomic additions.
pub struct Metrics {
    ops: [OpStats; Command::NAMES.len()],
    cache: Option<ClientCache>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            ops: std::array::from_fn(|_| OpStats::default()),
            cache: None,
        }
    }
}

/// What [`Metrics::cache`] reports: the wrapped backend's client cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSnapshot {
    /// Reads answered from the cache (they never reach the backend, so they are not counted
    /// as `get` calls).
    pub hits: u64,
    /// Reads that went to the server (counted as `get` / `get_many` calls too).
    pub misses: u64,
    /// Keys cached now.
    pub entries: usize,
}

/// What [`Metrics::snapshot`] reports for one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSnapshot {
    /// The command ([`Command::name`]): `"get"`, `"set"`, `"increment"`, `"scan_prefix"`, ...
    pub op: &'static str,
    /// How many calls completed.
    pub calls: u64,
    /// How many of them returned an error.
    pub errors: u64,
    /// Their summed latency.
    pub total: Duration,
    /// The slowest call.
    pub max: Duration,
    /// Latency histogram: `buckets[i]` calls took less than 2^i µs (and at least 2^(i-1) µs);
    /// the last bucket holds everything slower.
    pub buckets: Vec<u64>,
}

impl OpSnapshot {
    /// The mean latency (zero without calls).
    pub fn mean(&self) -> Duration {
        match u32::try_from(self.calls) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.total / n,
            Err(_) => Duration::from_nanos(
                u64::try_from(self.total.as_nanos() / u128::from(self.calls)).unwrap_or(u64::MAX),
            ),
        }
    }

    /// An upper bound of the `q` quantile (`0.5`, `0.99`) of the latency, from the histogram:
    /// the bucket's upper edge, or [`OpSnapshot::max`] when that is smaller.
    pub fn quantile(&self, q: f64) -> Duration {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                if i + 1 == BUCKETS {
                    return self.max;
                }
                return Duration::from_micros(1 << i).min(self.max);
            }
        }
        self.max
    }
}

impl Metrics {
    /// The client cache's hits, misses and size, when the wrapped backend keeps one
    /// ([`BackendInfo::client_cache`](super::BackendInfo::client_cache)).
    pub fn cache(&self) -> Option<CacheSnapshot> {
        self.cache.as_ref().map(|cache| CacheSnapshot {
            hits: cache.hits(),
            misses: cache.misses(),
            entries: cache.len(),
        })
    }

    fn record(&self, op: usize, elapsed: Duration, failed: bool) {
        let stats = &self.ops[op];
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        stats.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        stats.total_nanos.fetch_add(nanos, Ordering::Relaxed);
        stats.max_nanos.fetch_max(nanos, Ordering::Relaxed);
        let micros = nanos / 1_000;
        let bucket = (u64::BITS - micros.leading_zeros()) as usize;
        stats.buckets[bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters of every operation called at least once.
    pub fn snapshot(&self) -> Vec<OpSnapshot> {
        Command::NAMES
            .iter()
            .zip(&self.ops)
            .filter(|(_, s)| s.calls.load(Ordering::Relaxed) > 0)
            .map(|(op, s)| OpSnapshot {
                op,
                calls: s.calls.load(Ordering::Relaxed),
                errors: s.errors.load(Ordering::Relaxed),
                total: Duration::from_nanos(s.total_nanos.load(Ordering::Relaxed)),
                max: Duration::from_nanos(s.max_nanos.load(Ordering::Relaxed)),
                buckets: s
                    .buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect(),
            })
            .collect()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.snapshot()).finish()
    }
}

/// Where the outcome of each operation goes: an [`Instrumented`] backend's counters, and the
/// `metrics` facade (feature `metrics`). Made once per store (see [`Observer::of`]).
#[derive(Clone, Debug)]
pub(crate) struct Observer {
    counters: Option<Arc<Metrics>>,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    backend: &'static str,
}

impl Observer {
    /// The observer of the backend `info` describes; `None` when nothing would be recorded
    /// (no counters, no facade): operations are then not even timed.
    pub(crate) fn of(info: &BackendInfo<'_>) -> Option<Observer> {
        let counters = info.metrics.cloned();
        if counters.is_none() && !cfg!(feature = "metrics") {
            return None;
        }
        // The facade's `backend` label: `memory`, `redb`, `redis`, `redis_cluster`.
        let backend = match info.name {
            "redis-cluster" => "redis_cluster",
            name => name,
        };
        Some(Observer { counters, backend })
    }

    /// Records one operation: the command at `op` in [`Command::NAMES`], how long it took, and
    /// how it ended.
    pub(crate) fn record(&self, op: usize, elapsed: Duration, result: &Result<Reply>) {
        if let Some(counters) = &self.counters {
            counters.record(op, elapsed, result.is_err());
        }
        #[cfg(feature = "metrics")]
        {
            let name = Command::NAMES[op];
            let outcome = match result {
                Ok(_) => "ok",
                Err(e) => e.kind_label(),
            };
            ::metrics::counter!(
                "kvstore_operations_total",
                "op" => name,
                "backend" => self.backend,
                "outcome" => outcome
            )
            .increment(1);
            ::metrics::histogram!(
                "kvstore_operation_duration_seconds",
                "op" => name,
                "backend" => self.backend
            )
            .record(elapsed.as_secs_f64());
        }
    }
}

/// Facade counters recorded outside the operations (feature `metrics`; nothing otherwise).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) mod facade {
    /// A client-cache hit (`true`) or miss.
    #[inline]
    pub(crate) fn cache(hit: bool) {
        #[cfg(feature = "metrics")]
        {
            if hit {
                ::metrics::counter!("kvstore_cache_hits_total").increment(1);
            } else {
                ::metrics::counter!("kvstore_cache_misses_total").increment(1);
            }
        }
    }

    /// A value of the key pattern `pattern` that failed validation, on write (`stored:
    /// false`) or on read.
    #[cfg(feature = "metrics")]
    pub(crate) fn validation_failure(pattern: &str, stored: bool) {
        ::metrics::counter!(
            "kvstore_validation_failures_total",
            "pattern" => pattern.to_owned(),
            "direction" => if stored { "read" } else { "write" }
        )
        .increment(1);
    }

    /// A value of the key pattern `pattern` written back in the current version.
    #[cfg(feature = "metrics")]
    pub(crate) fn migrated(pattern: &str) {
        ::metrics::counter!("kvstore_migrated_values_total", "pattern" => pattern.to_owned())
            .increment(1);
    }
}

/// A backend that records [`Metrics`] for every operation of the backend it wraps (every
/// operation made through a store's handles or [`BackendExt`](super::BackendExt)).
///
/// Cheap to clone; clones share the counters.
#[derive(Clone, Debug)]
pub struct Instrumented<B> {
    inner: B,
    metrics: Arc<Metrics>,
}

impl<B: Backend> Instrumented<B> {
    /// Wraps `inner`, with fresh counters.
    pub fn new(inner: B) -> Instrumented<B> {
        let metrics = Metrics {
            cache: inner.info().client_cache.cloned(),
            ..Metrics::default()
        };
        Instrumented {
            inner,
            metrics: Arc::new(metrics),
        }
    }

    /// The counters (shared: keep this and read it while the store runs).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

/// The wrapped backend, unchanged; its info names the counters, which the one call path of
/// handles records into.
#[async_trait]
impl<B: Backend> Backend for Instrumented<B> {
    fn info(&self) -> BackendInfo<'_> {
        BackendInfo {
            metrics: Some(&self.metrics),
            ..self.inner.info()
        }
    }

    async fn execute(&self, command: Command<'_>) -> Result<Reply> {
        self.inner.execute(command).await
    }

    fn execute_now(&self, command: Command<'_>) -> Option<Result<Reply>> {
        self.inner.execute_now(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        backend::{BackendExt, SetOptions},
        MemoryBackend,
    };

    #[test]
    fn counts_calls_errors_and_latency() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let b = Instrumented::new(MemoryBackend::new());
            let m = b.metrics();
            b.set("k", b"1", SetOptions::default()).await.unwrap();
            b.get("k").await.unwrap();
            b.get("k").await.unwrap();
            b.set_add("k", b"x", None).await.unwrap_err(); // WRONGTYPE
            let snap = m.snapshot();
            let by = |op: &str| snap.iter().find(|s| s.op == op).cloned().unwrap();
            assert_eq!((by("get").calls, by("get").errors), (2, 0));
            assert_eq!((by("set_add").calls, by("set_add").errors), (1, 1));
            assert_eq!(by("get").buckets.iter().sum::<u64>(), 2);
            assert!(by("get").quantile(0.99) <= by("get").max.max(Duration::from_micros(1)));
            assert!(by("get").mean() <= by("get").max);
            assert!(snap.iter().all(|s| s.op != "scan_prefix"));
        });
    }

    #[test]
    fn quantiles_come_from_the_histogram() {
        let m = Metrics::default();
        for _ in 0..99 {
            m.record(0, Duration::from_micros(3), false);
        }
        m.record(0, Duration::from_millis(5), true);
        let s = &m.snapshot()[0];
        assert_eq!((s.calls, s.errors), (100, 1));
        assert_eq!(s.quantile(0.5), Duration::from_micros(4));
        assert_eq!(s.quantile(1.0), Duration::from_micros(8192).min(s.max));
        assert_eq!(s.max, Duration::from_millis(5));
    }
}

//! How the cost of the typed batch calls grows with the batch: `set_many` and `get_many` of 1k,
//! 10k and 100k values, on the memory backend and on Redis, against the raw baselines of the
//! external workload (its `User`, store and keys): `Mutex<HashMap>` + serde_json, one insert or
//! one get and decode per value; one `MSET` / `MGET` of them all.
//!
//! Throughput, latency per call and CPU time come from the rounds, with the heap counting off
//! (medians; a sample is several calls when they are small). The heap figures come from one more
//! call of each side, with the counting on: the bytes it allocated, and how far the heap rose
//! above where it started (the peak), both per value. CPU time is the whole process's (user and
//! system, every thread): on the Redis rows, the client's alone.

use std::time::{Duration, Instant};

use kvstore::MemoryBackend;
use redis::aio::MultiplexedConnection;

use crate::external::{
    connect, raw_insert, raw_mget, raw_mset, raw_read, typed_get_many, typed_set_many, user, Bench,
    RawMap, User,
};
use crate::{count_heap, fmt_latency, heap, median, reset_heap_peak, Config, Res, Row, Sample};

const SIZES: [u64; 3] = [1_000, 10_000, 100_000];

/// Values per sample, at least: 100 calls of 1k, 10 of 10k, one of 100k.
const VALUES_PER_SAMPLE: u64 = 100_000;

/// Memory backend vs `Mutex<HashMap>` + serde_json: `set_many` into a new store (vs inserting
/// into a new map), then `get_many` of all of it (vs a get and a decode each, collected).
pub async fn memory(cfg: &Config, rows: &mut Vec<Row>) -> Res<()> {
    let users: Vec<User> = (0..SIZES[2]).map(user).collect();
    for n in SIZES {
        let batch = &users[..n as usize];
        let set = compare(
            cfg,
            "memory set_many",
            n,
            Side {
                prepare: async || Ok(Bench::open(MemoryBackend::new())),
                call: async |bench: &Bench| typed_set_many(bench, batch).await,
            },
            Side {
                prepare: async || Ok(RawMap::default()),
                call: async |raw: &RawMap| raw_insert(raw, batch),
            },
        )
        .await?;
        rows.push(set);

        let bench = Bench::open(MemoryBackend::new());
        typed_set_many(&bench, batch).await?;
        let raw = RawMap::default();
        raw_insert(&raw, batch)?;
        let raw_get = async |got: &mut Vec<User>| raw_read(&raw, n, |u| got.push(u));
        rows.push(get_many_row(cfg, "memory get_many", n, &bench, raw_get).await?);
    }
    Ok(())
}

/// Redis vs one `MSET` / `MGET` on a multiplexed connection: `set_many` into an emptied keyspace,
/// then `get_many` of all of it (the raw side's values decoded and collected).
pub async fn redis(cfg: &Config, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    let (bench, conn) = connect(url).await?;
    let users: Vec<User> = (0..SIZES[2]).map(user).collect();
    for n in SIZES {
        let batch = &users[..n as usize];
        let set = compare(
            cfg,
            "redis set_many",
            n,
            Side {
                prepare: async || {
                    bench.users().clear().await?;
                    Ok(&bench)
                },
                call: async |bench: &&Bench| typed_set_many(bench, batch).await,
            },
            Side {
                prepare: async || {
                    bench.users().clear().await?;
                    Ok(&conn)
                },
                call: async |conn: &&MultiplexedConnection| raw_mset(conn, batch).await,
            },
        )
        .await?;
        rows.push(set);

        // The last call of the set row (the raw side's) left the `n` values in place.
        let raw_get = async |got: &mut Vec<User>| raw_mget(&conn, n, |u| got.push(u)).await;
        rows.push(get_many_row(cfg, "redis get_many", n, &bench, raw_get).await?);
    }
    bench.users().clear().await?;
    Ok(())
}

/// The row `get_many` of the `n` values in `bench`, against `raw` collecting them into its
/// argument.
async fn get_many_row(
    cfg: &Config,
    what: &str,
    n: u64,
    bench: &Bench,
    mut raw: impl AsyncFnMut(&mut Vec<User>) -> Res<()>,
) -> Res<Row> {
    compare(
        cfg,
        what,
        n,
        Side {
            prepare: async || Ok(()),
            call: async |_: &()| typed_get_many(bench, n).await,
        },
        Side {
            prepare: async || Ok(()),
            call: async |_: &()| {
                let mut got = Vec::with_capacity(n as usize);
                raw(&mut got).await?;
                Ok(got)
            },
        },
    )
    .await
}

/// One side of a row: `call` measured, each time on what `prepare` (not measured) returns; what
/// the call returns is dropped after the measurement.
struct Side<P, C> {
    prepare: P,
    call: C,
}

/// A side's calls in one round.
struct Calls {
    wall: Duration,
    cpu: Duration,
    latencies: Vec<Duration>,
}

/// What one call did to the heap, in bytes.
struct HeapUse {
    allocated: u64,
    peak_growth: i64,
}

impl<P, C> Side<P, C> {
    async fn run<S, R>(&mut self, calls: u64) -> Res<Calls>
    where
        P: AsyncFnMut() -> Res<S>,
        C: AsyncFnMut(&S) -> Res<R>,
    {
        let mut latencies = Vec::with_capacity(calls as usize);
        let mut cpu = Duration::ZERO;
        for _ in 0..calls {
            let state = (self.prepare)().await?;
            let (started, cpu_before) = (Instant::now(), cpu_time());
            let out = (self.call)(&state).await?;
            cpu += cpu_time().saturating_sub(cpu_before);
            latencies.push(started.elapsed());
            drop(out);
        }
        Ok(Calls {
            wall: latencies.iter().sum(),
            cpu,
            latencies,
        })
    }

    async fn heap<S, R>(&mut self) -> Res<HeapUse>
    where
        P: AsyncFnMut() -> Res<S>,
        C: AsyncFnMut(&S) -> Res<R>,
    {
        let state = (self.prepare)().await?;
        count_heap(true);
        reset_heap_peak();
        let before = heap();
        let out = (self.call)(&state).await;
        let after = heap();
        count_heap(false);
        drop(out?);
        Ok(HeapUse {
            allocated: after.allocated - before.allocated,
            peak_growth: after.peak - before.current,
        })
    }
}

/// The row `scale: {what} {n/1000}k`: `typed` against `raw`, each call handling `n` values.
async fn compare<S, R, P, C, T, Q, PR, CR>(
    cfg: &Config,
    what: &str,
    n: u64,
    mut typed: Side<P, C>,
    mut raw: Side<PR, CR>,
) -> Res<Row>
where
    P: AsyncFnMut() -> Res<S>,
    C: AsyncFnMut(&S) -> Res<R>,
    PR: AsyncFnMut() -> Res<T>,
    CR: AsyncFnMut(&T) -> Res<Q>,
{
    let calls = (VALUES_PER_SAMPLE / n).max(1);
    let values = (calls * n) as f64;
    let mut row = Row {
        workload: format!("scale: {what} {}k", n / 1000),
        ..Row::default()
    };
    let (mut typed_cpu, mut raw_cpu) = (Vec::new(), Vec::new());
    for _ in 0..cfg.rounds {
        let t = typed.run(calls).await?;
        let r = raw.run(calls).await?;
        for (calls, samples, cpu) in [
            (t, &mut row.typed, &mut typed_cpu),
            (r, &mut row.raw, &mut raw_cpu),
        ] {
            samples.push(Sample {
                ops_per_sec: values / calls.wall.as_secs_f64(),
                latencies: calls.latencies,
                cpu: None,
            });
            cpu.push(calls.cpu.as_secs_f64() / values);
        }
    }
    let (t, r) = (typed.heap().await?, raw.heap().await?);
    let per_value = |bytes: f64| fmt_bytes(bytes / n as f64);
    let cpu = |v: Vec<f64>| fmt_latency(Some(Duration::from_secs_f64(median(v))));
    row.note = format!(
        "op/s = values/s; latency per call; per value, typed vs raw: allocated {} vs {}, \
         peak heap +{} vs +{}, CPU {} vs {}",
        per_value(t.allocated as f64),
        per_value(r.allocated as f64),
        per_value(t.peak_growth as f64),
        per_value(r.peak_growth as f64),
        cpu(typed_cpu),
        cpu(raw_cpu),
    );
    Ok(row)
}

fn fmt_bytes(bytes: f64) -> String {
    if bytes.abs() >= 1024.0 {
        format!("{:.1}KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0}B")
    }
}

/// The process's CPU time so far: user and system, all threads.
fn cpu_time() -> Duration {
    // SAFETY: `rusage` is plain data (all zeros is a valid value), and getrusage only writes it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(
            libc::getrusage(libc::RUSAGE_SELF, &mut usage),
            0,
            "getrusage"
        );
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

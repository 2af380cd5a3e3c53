//! The workload of an independent benchmark, reproduced exactly, so that this bench predicts what
//! users measure: its value type (`User`, String ids `k{i}`), its store, and its raw baselines —
//! and, unlike the other rows, no per-operation timer on either side (a timer per call costs
//! about as much as a raw `HashMap` insert, which flatters the typed side's ratio).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kvstore::{Dynamic, Item, MemoryBackend, RedisBackend, Store};
use redis::aio::MultiplexedConnection;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{concurrent, raw_scan, Config, Res, Row, Sample};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct User {
    id: String,
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
    tags: Vec<String>,
    created_at: i64,
}

pub(crate) fn user(i: u64) -> User {
    User {
        id: format!("user-{i}"),
        name: format!("User Number {i}"),
        email: format!("user{i}@example.com"),
        age: (i % 100) as u32,
        tags: vec!["alpha".into(), "beta".into(), format!("t{}", i % 10)],
        created_at: 1_700_000_000 + i as i64,
    }
}

#[derive(Store)]
#[store(prefix = "bench")]
pub(crate) struct Bench {
    users: Dynamic<Item<User>>,
}

const N: u64 = 20_000;
const TASKS: u64 = 64;
const BATCH: u64 = 1_000;
/// Batch calls per sample.
const BATCH_CALLS: u64 = 10;

fn sample(ops: u64, started: Instant) -> Sample {
    Sample {
        ops_per_sec: ops as f64 / started.elapsed().as_secs_f64(),
        latencies: Vec::new(),
        cpu: None,
    }
}

fn row(name: &str) -> Row {
    Row {
        workload: format!("external: {name}"),
        ..Row::default()
    }
}

/// Memory: 20k `set` then 20k `get` from one task, typed vs `Mutex<HashMap>` + serde_json.
pub async fn memory(cfg: &Config, rows: &mut Vec<Row>) -> Res<()> {
    let users: Vec<User> = (0..N).map(user).collect();
    let (mut set, mut get) = (row("memory set"), row("memory get"));
    for _ in 0..cfg.rounds {
        let bench = Bench::open(MemoryBackend::new());
        let t = Instant::now();
        for (i, u) in users.iter().enumerate() {
            bench.users().set(&format!("k{i}"), u).await?;
        }
        set.typed.push(sample(N, t));
        let t = Instant::now();
        for i in 0..N {
            assert!(bench.users().get(&format!("k{i}")).await?.is_some());
        }
        get.typed.push(sample(N, t));

        let raw = RawMap::default();
        let t = Instant::now();
        raw_insert(&raw, &users)?;
        set.raw.push(sample(N, t));
        let t = Instant::now();
        raw_read(&raw, N, drop)?;
        get.raw.push(sample(N, t));
    }
    rows.push(set);
    rows.push(get);
    Ok(())
}

/// One round of the single-operation rows: `set`, then `get`, of every user from 64 tasks,
/// typed through `bench` and raw (`SET`/`GET` of serde_json bytes on `conn`, cloned per task).
/// On one server or a cluster: `conn` is either kind of redis-rs connection.
pub(crate) async fn single_ops<C>(
    bench: &Bench,
    conn: &C,
    users: &Arc<Vec<User>>,
    set: &mut Row,
    get: &mut Row,
) -> Res<()>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    let (b, u) = (bench.clone(), users.clone());
    set.typed.push(
        concurrent(N, TASKS, move |i| {
            let (b, u) = (b.clone(), u.clone());
            async move { Ok(b.users().set(&format!("k{i}"), &u[i as usize]).await?) }
        })
        .await?,
    );
    let (c, u) = (conn.clone(), users.clone());
    set.raw.push(
        concurrent(N, TASKS, move |i| {
            let (mut c, u) = (c.clone(), u.clone());
            async move {
                let bytes = serde_json::to_vec(&u[i as usize])?;
                redis::cmd("SET")
                    .arg(format!("bench:users:k{i}"))
                    .arg(bytes)
                    .query_async::<()>(&mut c)
                    .await?;
                Ok(())
            }
        })
        .await?,
    );
    let b = bench.clone();
    get.typed.push(
        concurrent(N, TASKS, move |i| {
            let b = b.clone();
            async move {
                assert!(b.users().get(&format!("k{i}")).await?.is_some());
                Ok(())
            }
        })
        .await?,
    );
    let c = conn.clone();
    get.raw.push(
        concurrent(N, TASKS, move |i| {
            let mut c = c.clone();
            async move {
                let bytes: Vec<u8> = redis::cmd("GET")
                    .arg(format!("bench:users:k{i}"))
                    .query_async(&mut c)
                    .await?;
                let _: User = serde_json::from_slice(&bytes)?;
                Ok(())
            }
        })
        .await?,
    );
    Ok(())
}

/// Redis: `set`/`get` of 20k values from 64 tasks, `set_many`/`get_many` of 1,000 (vs
/// `MSET`/`MGET`), `keys()` of the 20k ids (vs a `SCAN MATCH .. COUNT 1000` loop, sorted and
/// deduplicated).
pub async fn redis(cfg: &Config, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    let (bench, conn) = connect(url).await?;
    let users: Arc<Vec<User>> = Arc::new((0..N).map(user).collect());
    let (mut set, mut get) = (
        row("redis set, 64 in flight"),
        row("redis get, 64 in flight"),
    );
    let (mut set_many, mut get_many) = (row("redis set_many 1k"), row("redis get_many 1k"));
    let mut keys = row("redis keys() 20k");
    for _ in 0..cfg.rounds {
        single_ops(&bench, &conn, &users, &mut set, &mut get).await?;

        // A batch call takes a few milliseconds: each sample is several calls, so that one
        // scheduling hiccup does not make a round.
        let batch = &users[..BATCH as usize];
        let t = Instant::now();
        for _ in 0..BATCH_CALLS {
            typed_set_many(&bench, batch).await?;
        }
        set_many.typed.push(sample(BATCH * BATCH_CALLS, t));
        let t = Instant::now();
        for _ in 0..BATCH_CALLS {
            raw_mset(&conn, batch).await?;
        }
        set_many.raw.push(sample(BATCH * BATCH_CALLS, t));

        let t = Instant::now();
        for _ in 0..BATCH_CALLS {
            typed_get_many(&bench, BATCH).await?;
        }
        get_many.typed.push(sample(BATCH * BATCH_CALLS, t));
        let t = Instant::now();
        for _ in 0..BATCH_CALLS {
            raw_mget(&conn, BATCH, drop).await?;
        }
        get_many.raw.push(sample(BATCH * BATCH_CALLS, t));

        let t = Instant::now();
        assert_eq!(bench.users().keys().await?.len() as u64, N);
        keys.typed.push(sample(N, t));
        let t = Instant::now();
        let found = raw_scan(&conn, "bench:users:*").await?;
        assert_eq!(found.len() as u64, N);
        keys.raw.push(sample(N, t));
    }
    bench.users().clear().await?;
    rows.extend([set, get, set_many, get_many, keys]);
    Ok(())
}

// The batch calls and their raw baselines, shared with the `scale` section: value `i` of `users`
// at id `k{i}`, key `bench:users:k{i}`.

/// The raw memory baseline: a `Mutex<HashMap>` of serde_json bytes.
pub(crate) type RawMap = Mutex<HashMap<String, Vec<u8>>>;

/// The store on Redis at `url`, and the raw baseline's connection.
pub(crate) async fn connect(url: &str) -> Res<(Bench, MultiplexedConnection)> {
    let bench = Bench::open(RedisBackend::connect(url).await?);
    let conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    Ok((bench, conn))
}

/// Typed: one `set_many` of `users`.
pub(crate) async fn typed_set_many(bench: &Bench, users: &[User]) -> Res<()> {
    let entries = users.iter().enumerate().map(|(i, u)| (format!("k{i}"), u));
    Ok(bench.users().set_many(entries).await?)
}

/// Typed: one `get_many` of the first `n` ids, all present.
pub(crate) async fn typed_get_many(bench: &Bench, n: u64) -> Res<Vec<Option<User>>> {
    let got = bench
        .users()
        .get_many((0..n).map(|i| format!("k{i}")))
        .await?;
    assert!(got.iter().all(Option::is_some));
    Ok(got)
}

/// Raw memory: each of `users` encoded and inserted, one lock each.
pub(crate) fn raw_insert(raw: &RawMap, users: &[User]) -> Res<()> {
    for (i, u) in users.iter().enumerate() {
        let bytes = serde_json::to_vec(u)?;
        raw.lock()
            .unwrap()
            .insert(format!("bench:users:k{i}"), bytes);
    }
    Ok(())
}

/// Raw memory: the first `n` values read (a lock and a copy each) and decoded, each given to
/// `each`.
pub(crate) fn raw_read(raw: &RawMap, n: u64, mut each: impl FnMut(User)) -> Res<()> {
    for i in 0..n {
        let bytes = raw
            .lock()
            .unwrap()
            .get(&format!("bench:users:k{i}"))
            .cloned()
            .ok_or("missing")?;
        each(serde_json::from_slice(&bytes)?);
    }
    Ok(())
}

/// Raw Redis: one `MSET` of `users`.
pub(crate) async fn raw_mset(conn: &MultiplexedConnection, users: &[User]) -> Res<()> {
    let mut mset = redis::cmd("MSET");
    for (i, u) in users.iter().enumerate() {
        mset.arg(format!("bench:users:k{i}"))
            .arg(serde_json::to_vec(u)?);
    }
    mset.query_async::<()>(&mut conn.clone()).await?;
    Ok(())
}

/// Raw Redis: one `MGET` of the first `n` keys, each value decoded and given to `each`.
pub(crate) async fn raw_mget(
    conn: &MultiplexedConnection,
    n: u64,
    mut each: impl FnMut(User),
) -> Res<()> {
    let mut mget = redis::cmd("MGET");
    for i in 0..n {
        mget.arg(format!("bench:users:k{i}"));
    }
    let got: Vec<Vec<u8>> = mget.query_async(&mut conn.clone()).await?;
    for bytes in &got {
        each(serde_json::from_slice(bytes)?);
    }
    Ok(())
}

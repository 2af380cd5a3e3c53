//! The native node types — `ListOf` (a LIST), `SortedSetOf` (a ZSET), `MapOf` (a HASH) — against
//! the raw redis-rs commands they map to, with the same serde_json values: the bench's `Profile`,
//! encoded with `serde_json::to_vec` and decoded with `serde_json::from_slice` (no validation) on
//! the raw side. On Redis every workload runs 64 tasks in flight, over one multiplexed redis-rs
//! connection cloned per task on the raw side, as the `redis set/get (64 in flight)` rows do. No
//! field has a default TTL, so every typed write is the plain command (no script).

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use kvstore::{ListOf, MapOf, MemoryBackend, RedisBackend, SortedSetOf, Store};
use redis::AsyncCommands;

use crate::{concurrent, profile, timed, Config, Profile, Res, Row};

#[derive(Store)]
struct Native {
    queue: ListOf<Profile>,
    board: SortedSetOf<Profile>,
    fields: MapOf<u64, Profile>,
}

const TASKS: u64 = 64;
/// Members of the sorted set the top-10 row reads.
const BOARD_SIZE: u64 = 100_000;

fn row(workload: &str, note: &str) -> Row {
    Row {
        workload: workload.into(),
        note: note.into(),
        ..Row::default()
    }
}

/// Memory: `push_back` then `pop_front` of N values from one task, typed vs a raw
/// `Mutex<HashMap<String, VecDeque<Vec<u8>>>>` + serde_json (the memory rows' raw map, with a
/// deque per key). No timer around each operation (it would flatter the ratio).
pub async fn memory(cfg: &Config, rows: &mut Vec<Row>) -> Res<()> {
    let ops = cfg.single_ops * 5;
    let note = "1 list; no per-op timer";
    let mut push = row("memory ListOf push_back (1 task)", note);
    let mut pop = row("memory ListOf pop_front (1 task)", note);
    let values: Vec<Profile> = (0..ops).map(profile).collect();
    for _ in 0..cfg.rounds {
        let store = Native::open(MemoryBackend::new());
        let queue = store.queue();
        push.typed.push(
            timed(ops, false, |i| {
                let (q, v) = (queue.clone(), &values[i as usize]);
                async move {
                    q.push_back(v).await?;
                    Ok(())
                }
            })
            .await?,
        );
        pop.typed.push(
            timed(ops, false, |_| {
                let q = queue.clone();
                async move {
                    q.pop_front().await?.ok_or("missing")?;
                    Ok(())
                }
            })
            .await?,
        );

        let raw: Mutex<HashMap<String, VecDeque<Vec<u8>>>> = Mutex::new(HashMap::new());
        let key = queue.key().to_owned();
        push.raw.push(
            timed(ops, false, |i| {
                let r = (|| {
                    let bytes = serde_json::to_vec(&values[i as usize])?;
                    raw.lock()
                        .unwrap()
                        .entry(key.clone())
                        .or_default()
                        .push_back(bytes);
                    Res::Ok(())
                })();
                async move { r }
            })
            .await?,
        );
        pop.raw.push(
            timed(ops, false, |_| {
                let r = (|| {
                    let bytes = {
                        let mut map = raw.lock().unwrap();
                        let list = map.get_mut(&key).ok_or("missing")?;
                        let bytes = list.pop_front().ok_or("missing")?;
                        if list.is_empty() {
                            map.remove(&key); // as LPOP of the last element removes the key
                        }
                        bytes
                    };
                    let _p: Profile = serde_json::from_slice(&bytes)?;
                    Res::Ok(())
                })();
                async move { r }
            })
            .await?,
        );
    }
    rows.push(push);
    rows.push(pop);
    Ok(())
}

/// Redis, 64 in flight: `push_back`/`pop_front` of N values on one list (vs `RPUSH`/`LPOP`),
/// `add` of N members with scores to one sorted set (vs `ZADD`), M top-10 reads of a
/// 100k-member sorted set (`range_rev(0, 9)` vs `ZRANGE key 0 9 REV WITHSCORES` + decoding the
/// members), and `set`/`get` of N fields of one map (vs `HSET`/`HGET`).
pub async fn redis(cfg: &Config, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    let raw = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let backend = RedisBackend::connect(url).await?;
    let values: Arc<Vec<Profile>> = Arc::new((0..cfg.single_ops).map(profile).collect());
    let ops = cfg.single_ops;

    let mut push = row("redis ListOf push_back (64 in flight)", "vs RPUSH; 1 list");
    let mut pop = row("redis ListOf pop_front (64 in flight)", "vs LPOP; 1 list");
    let mut add = row("redis SortedSetOf add (64 in flight)", "vs ZADD; 1 set");
    let mut set = row("redis MapOf set (64 in flight)", "vs HSET; 1 map");
    let mut get = row("redis MapOf get (64 in flight)", "vs HGET; 1 map");
    for round in 0..cfg.rounds {
        let typed = Native::open_with_prefix(backend.clone(), &format!("bench:native:t{round}"));
        let other = Native::open_with_prefix(backend.clone(), &format!("bench:native:r{round}"));
        // The raw side's keys: the typed layout under another prefix.
        let queue = Arc::new(other.queue().key().to_owned());
        let board = Arc::new(other.board().key().to_owned());
        let fields = Arc::new(other.fields().key().to_owned());

        // ListOf push_back vs RPUSH.
        let (s, v) = (typed.clone(), values.clone());
        push.typed.push(
            concurrent(ops, TASKS, move |i| {
                let (s, v) = (s.clone(), v.clone());
                async move {
                    s.queue().push_back(&v[i as usize]).await?;
                    Ok(())
                }
            })
            .await?,
        );
        let (c, v, k) = (raw.clone(), values.clone(), queue.clone());
        push.raw.push(
            concurrent(ops, TASKS, move |i| {
                let (mut c, v, k) = (c.clone(), v.clone(), k.clone());
                async move {
                    let bytes = serde_json::to_vec(&v[i as usize])?;
                    let _len: usize = c.rpush(&*k, bytes).await?;
                    Ok(())
                }
            })
            .await?,
        );

        // ListOf pop_front vs LPOP, of the N values just pushed.
        let s = typed.clone();
        pop.typed.push(
            concurrent(ops, TASKS, move |_| {
                let s = s.clone();
                async move {
                    s.queue().pop_front().await?.ok_or("missing")?;
                    Ok(())
                }
            })
            .await?,
        );
        let (c, k) = (raw.clone(), queue.clone());
        pop.raw.push(
            concurrent(ops, TASKS, move |_| {
                let (mut c, k) = (c.clone(), k.clone());
                async move {
                    let bytes: Option<Vec<u8>> = c.lpop(&*k, None::<NonZeroUsize>).await?;
                    let _p: Profile = serde_json::from_slice(&bytes.ok_or("missing")?)?;
                    Ok(())
                }
            })
            .await?,
        );

        // SortedSetOf add vs ZADD.
        let (s, v) = (typed.clone(), values.clone());
        add.typed.push(
            concurrent(ops, TASKS, move |i| {
                let (s, v) = (s.clone(), v.clone());
                async move {
                    s.board().add(&v[i as usize], i as f64).await?;
                    Ok(())
                }
            })
            .await?,
        );
        let (c, v, k) = (raw.clone(), values.clone(), board.clone());
        add.raw.push(
            concurrent(ops, TASKS, move |i| {
                let (mut c, v, k) = (c.clone(), v.clone(), k.clone());
                async move {
                    let bytes = serde_json::to_vec(&v[i as usize])?;
                    let _new: usize = c.zadd(&*k, bytes, i as f64).await?;
                    Ok(())
                }
            })
            .await?,
        );

        // MapOf set vs HSET.
        let (s, v) = (typed.clone(), values.clone());
        set.typed.push(
            concurrent(ops, TASKS, move |i| {
                let (s, v) = (s.clone(), v.clone());
                async move { Ok(s.fields().set(i, &v[i as usize]).await?) }
            })
            .await?,
        );
        let (c, v, k) = (raw.clone(), values.clone(), fields.clone());
        set.raw.push(
            concurrent(ops, TASKS, move |i| {
                let (mut c, v, k) = (c.clone(), v.clone(), k.clone());
                async move {
                    let bytes = serde_json::to_vec(&v[i as usize])?;
                    let _new: usize = c.hset(&*k, i, bytes).await?;
                    Ok(())
                }
            })
            .await?,
        );

        // MapOf get vs HGET, of the N fields just set.
        let s = typed.clone();
        get.typed.push(
            concurrent(ops, TASKS, move |i| {
                let s = s.clone();
                async move {
                    s.fields().get(i).await?.ok_or("missing")?;
                    Ok(())
                }
            })
            .await?,
        );
        let (c, k) = (raw.clone(), fields.clone());
        get.raw.push(
            concurrent(ops, TASKS, move |i| {
                let (mut c, k) = (c.clone(), k.clone());
                async move {
                    let bytes: Option<Vec<u8>> = c.hget(&*k, i).await?;
                    let _p: Profile = serde_json::from_slice(&bytes.ok_or("missing")?)?;
                    Ok(())
                }
            })
            .await?,
        );

        for store in [&typed, &other] {
            store.queue().clear().await?;
            store.board().clear().await?;
            store.fields().clear().await?;
        }
    }
    rows.extend([push, pop, add]);

    // Top 10 of a 100k-member sorted set, both sides reading the same key, filled once.
    let reads = cfg.single_ops;
    let mut top = row(
        "redis SortedSetOf range_rev(0, 9)",
        &format!("vs ZRANGE 0 9 REV WITHSCORES; {BOARD_SIZE} members; op/s = top-10 reads/s"),
    );
    let store = Native::open_with_prefix(backend.clone(), "bench:native:top");
    let key = Arc::new(store.board().key().to_owned());
    let mut c = raw.clone();
    for start in (0..BOARD_SIZE).step_by(1000) {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(&*key);
        for i in start..(start + 1000).min(BOARD_SIZE) {
            zadd.arg(i as f64).arg(serde_json::to_vec(&profile(i))?);
        }
        zadd.query_async::<()>(&mut c).await?;
    }
    assert_eq!(store.board().len().await? as u64, BOARD_SIZE);
    for _ in 0..cfg.rounds {
        let s = store.clone();
        top.typed.push(
            concurrent(reads, TASKS, move |_| {
                let s = s.clone();
                async move {
                    let top = s.board().range_rev(0, 9).await?;
                    assert_eq!(top.len(), 10);
                    Ok(())
                }
            })
            .await?,
        );
        let (c, k) = (raw.clone(), key.clone());
        top.raw.push(
            concurrent(reads, TASKS, move |_| {
                let (mut c, k) = (c.clone(), k.clone());
                async move {
                    let got: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGE")
                        .arg(&*k)
                        .arg(0)
                        .arg(9)
                        .arg("REV")
                        .arg("WITHSCORES")
                        .query_async(&mut c)
                        .await?;
                    let top = got
                        .iter()
                        .map(|(m, score)| Ok((serde_json::from_slice::<Profile>(m)?, *score)))
                        .collect::<Res<Vec<_>>>()?;
                    assert_eq!(top.len(), 10);
                    Ok(())
                }
            })
            .await?,
        );
    }
    store.board().clear().await?;
    rows.extend([top, set, get]);
    Ok(())
}

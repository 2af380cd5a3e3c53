//! The native container types against real Redis: `redis-cli` sees plain Redis data (`LRANGE`,
//! `ZRANGE ... WITHSCORES`, `HGETALL`, `GETBIT`/`BITCOUNT`, `BITFIELD GET`), what `redis-cli`
//! writes is read back — and refused, naming the key, when it breaks the schema — and blocking
//! pops never hold up the other operations (standalone and cluster); streams are `XRANGE`-able
//! entries with one field `v`, and a `tail` survives a server restart.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use kvstore::{
    Bits, Dynamic, Error, ListOf, MapOf, PackedInts, RedisBackend, RedisClusterBackend,
    SortedSetOf, Store, StreamId, StreamOf,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use support::{RedisCluster, RedisServer};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Job {
    #[schemars(length(max = 8))]
    name: String,
    #[schemars(range(max = 10))]
    tries: u32,
}

fn job(name: &str, tries: u32) -> Job {
    Job {
        name: name.to_owned(),
        tries,
    }
}

#[derive(Store)]
#[store(prefix = "interop")]
struct Natives {
    jobs: ListOf<Job>,
    board: SortedSetOf<String>,
    profile: MapOf<String, Job>,
    flags: Bits,
    wins: PackedInts<i64>,
    hours: PackedInts<u16>,
    events: StreamOf<Job>,
    #[store(colocate)]
    queues: Dynamic<Queue>,
}

#[derive(Store)]
struct Queue {
    pending: ListOf<Job>,
    processing: ListOf<Job>,
}

/// Runs the real `redis-cli` against `server` (raw output: one reply element per line).
fn cli(server: &RedisServer, args: &[&str]) -> String {
    let port = server.port().to_string();
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port, "--raw"])
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

#[tokio::test]
async fn redis_cli_reads_what_the_handles_wrote() -> R {
    let server = RedisServer::start();
    let n = Natives::open(RedisBackend::connect(&server.url()).await?);

    n.jobs().push_back(&job("a", 1)).await?;
    n.jobs().push_back(&job("b", 2)).await?;
    assert_eq!(cli(&server, &["TYPE", "interop:jobs"]), "list");
    assert_eq!(
        cli(&server, &["LRANGE", "interop:jobs", "0", "-1"]),
        format!("{}\n{}", json(&job("a", 1)), json(&job("b", 2)))
    );

    n.board().add(&"alice".to_owned(), 10.5).await?;
    n.board().add(&"bob".to_owned(), 3.0).await?;
    assert_eq!(cli(&server, &["TYPE", "interop:board"]), "zset");
    assert_eq!(
        cli(
            &server,
            &["ZRANGE", "interop:board", "0", "-1", "WITHSCORES"]
        ),
        "\"bob\"\n3\n\"alice\"\n10.5"
    );

    n.profile().set("home", &job("h", 0)).await?;
    assert_eq!(cli(&server, &["TYPE", "interop:profile"]), "hash");
    assert_eq!(
        cli(&server, &["HGETALL", "interop:profile"]),
        format!("home\n{}", json(&job("h", 0)))
    );

    n.flags().set(3, true).await?;
    n.flags().set(9, true).await?;
    assert_eq!(cli(&server, &["GETBIT", "interop:flags", "3"]), "1");
    assert_eq!(cli(&server, &["GETBIT", "interop:flags", "4"]), "0");
    assert_eq!(cli(&server, &["BITCOUNT", "interop:flags"]), "2");

    n.wins().set(2, -5).await?;
    n.wins().increment(0, i64::MAX).await?;
    assert_eq!(
        cli(
            &server,
            &[
                "BITFIELD",
                "interop:wins",
                "GET",
                "i64",
                "#2",
                "GET",
                "i64",
                "#0"
            ]
        ),
        format!("-5\n{}", i64::MAX)
    );
    n.hours().increment(5, 300).await?;
    assert_eq!(
        cli(&server, &["BITFIELD", "interop:hours", "GET", "u16", "#5"]),
        "300"
    );

    let id = n.events().append(&job("e", 1)).await?;
    assert_eq!(cli(&server, &["TYPE", "interop:events"]), "stream");
    assert_eq!(
        cli(&server, &["XRANGE", "interop:events", "-", "+"]),
        format!("{id}\nv\n{}", json(&job("e", 1)))
    );
    Ok(())
}

#[tokio::test]
async fn stream_entries_redis_cli_adds_are_read_and_checked() -> R {
    let server = RedisServer::start();
    let n = Natives::open(RedisBackend::connect(&server.url()).await?);
    let id: StreamId = cli(
        &server,
        &["XADD", "interop:events", "*", "v", &json(&job("cli", 2))],
    )
    .parse()?;
    let got = n.events().read_after(StreamId::MIN, 10, None).await?;
    assert_eq!(got, vec![(id, job("cli", 2))]);
    // Breaking the schema, or without the field `v`: errors naming the key.
    cli(
        &server,
        &[
            "XADD",
            "interop:events",
            "*",
            "v",
            r#"{"name":"far too long","tries":1}"#,
        ],
    );
    let e = n
        .events()
        .range(StreamId::MIN, StreamId::MAX, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Validation { key, .. } if key == "interop:events"),
        "{e:?}"
    );
    n.events().trim(0).await?;
    cli(&server, &["XADD", "interop:events", "*", "other", "1"]);
    let e = n
        .events()
        .read_after(StreamId::MIN, 10, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Decode { key, .. } if key == "interop:events"),
        "{e:?}"
    );
    Ok(())
}

#[tokio::test]
async fn what_redis_cli_writes_is_read_and_checked() -> R {
    let server = RedisServer::start();
    let n = Natives::open(RedisBackend::connect(&server.url()).await?);

    // Valid values written by hand read back.
    cli(&server, &["RPUSH", "interop:jobs", &json(&job("ok", 1))]);
    assert_eq!(n.jobs().range(0, -1).await?, vec![job("ok", 1)]);
    cli(&server, &["ZADD", "interop:board", "7", "\"carol\""]);
    assert_eq!(n.board().score(&"carol".to_owned()).await?, Some(7.0));
    cli(
        &server,
        &["HSET", "interop:profile", "work", &json(&job("w", 3))],
    );
    assert_eq!(n.profile().get("work").await?, Some(job("w", 3)));
    cli(&server, &["SETBIT", "interop:flags", "12", "1"]);
    assert!(n.flags().get(12).await?);
    cli(
        &server,
        &["BITFIELD", "interop:hours", "SET", "u16", "#1", "500"],
    );
    assert_eq!(n.hours().get(1).await?, 500);
    assert_eq!(n.hours().sum(0, 10).await?, 500);

    // Values that break the schema are refused on read, naming the key.
    let stored_error = |e: Error, key: &str| {
        assert_eq!(e.key(), Some(key), "{e:?}");
        assert!(e.is_stored_data(), "{e:?}");
        assert!(e.to_string().contains(key), "{e}");
    };
    cli(
        &server,
        &[
            "RPUSH",
            "interop:jobs",
            r#"{"name":"far too long","tries":1}"#,
        ],
    );
    stored_error(n.jobs().range(0, -1).await.unwrap_err(), "interop:jobs");
    cli(&server, &["ZADD", "interop:board", "1", "not json"]);
    stored_error(n.board().range(0, -1).await.unwrap_err(), "interop:board");
    cli(
        &server,
        &[
            "HSET",
            "interop:profile",
            "bad",
            r#"{"name":"x","tries":99}"#,
        ],
    );
    stored_error(n.profile().get("bad").await.unwrap_err(), "interop:profile");
    assert!(n.profile().entries().await.is_err());
    // A field that is not an encoded id (a raw `:`).
    cli(
        &server,
        &["HSET", "interop:profile", "a:b", &json(&job("x", 1))],
    );
    let e = n.profile().fields().await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert_eq!(e.key(), Some("interop:profile"));

    // A key of another kind.
    cli(&server, &["SET", "interop:board", "a string"]);
    let e = n.board().len().await.unwrap_err();
    assert!(matches!(e, Error::WrongType { .. }), "{e:?}");
    assert_eq!(e.key(), Some("interop:board"));
    Ok(())
}

/// 16 blocking pops wait at once; other operations meanwhile take their usual time; pushes
/// wake every pop; a pop with nothing to take gives up at its timeout with `Ok(None)`.
async fn blocking_pops_leave_the_connection_free(n: &Natives) -> R {
    let queue = n.queues().at("q");
    let pending = queue.pending();
    let waiting: Vec<_> = (0..16)
        .map(|_| {
            let pending = pending.clone();
            tokio::spawn(async move { pending.pop_front_blocking(Duration::from_secs(20)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    for i in 0..200u32 {
        n.profile().set(format!("f{i}"), &job("j", i % 10)).await?;
        assert_eq!(
            n.profile().get(format!("f{i}")).await?,
            Some(job("j", i % 10))
        );
    }
    let busy = started.elapsed();
    assert!(
        busy < Duration::from_secs(5),
        "400 operations took {busy:?} while 16 pops were blocked"
    );
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "the pops still wait"
    );

    for i in 0..16 {
        pending.push_back(&job("w", i % 10)).await?;
    }
    let mut got = Vec::new();
    for w in waiting {
        let popped = tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("a push wakes each pop")??;
        got.push(popped.expect("an element").tries);
    }
    got.sort_unstable();
    let mut want: Vec<u32> = (0..16).map(|i| i % 10).collect();
    want.sort_unstable();
    assert_eq!(got, want, "each element popped once");

    let started = Instant::now();
    assert_eq!(
        pending
            .pop_front_blocking(Duration::from_millis(300))
            .await?,
        None
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // The reliable-queue step works across the two colocated lists.
    pending.push_back(&job("r", 1)).await?;
    assert_eq!(
        pending.move_front_to_back(&queue.processing()).await?,
        Some(job("r", 1))
    );
    assert_eq!(queue.processing().len().await?, 1);
    Ok(())
}

#[tokio::test]
async fn standalone_blocking_pops_use_their_own_connections() -> R {
    let mut server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await?;
    let n = Natives::open(backend);
    blocking_pops_leave_the_connection_free(&n).await?;

    // After a restart, the pooled connections are dead: a pop still works (on a new one).
    server.restart();
    let jobs = n.jobs();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match jobs.push_back(&job("after", 1)).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(
        jobs.pop_front_blocking(Duration::from_secs(2)).await?,
        Some(job("after", 1))
    );
    Ok(())
}

#[tokio::test]
async fn cluster_blocking_pops_use_their_own_connections() -> R {
    let cluster = RedisCluster::start(3, 0);
    let backend = RedisClusterBackend::connect(cluster.urls()).await?;
    let n = Natives::open(backend);
    blocking_pops_leave_the_connection_free(&n).await?;

    // Two lists in different slots cannot move atomically: a typed error, nothing moved.
    let other = n.queues().at("other");
    n.jobs().push_back(&job("x", 1)).await?;
    let e = n
        .jobs()
        .move_front_to_back(&other.processing())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::CrossSlot { .. }), "{e:?}");
    assert_eq!(n.jobs().len().await?, 1);
    Ok(())
}

/// `tail` goes on across a server restart: the read that was waiting fails, the tail retries
/// with a pause (yielding nothing), and resumes after the last entry it yielded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_after_a_server_restart() -> R {
    use futures_util::StreamExt as _;
    let mut server = RedisServer::builder()
        .appendonly(true)
        .appendfsync("always")
        .start();
    let n = Natives::open(RedisBackend::connect(&server.url()).await?);
    let first = n.events().append(&job("a", 1)).await?;
    let mut tail = Box::pin(n.events().tail(StreamId::MIN));
    let next = tokio::time::timeout(Duration::from_secs(10), tail.next()).await?;
    assert_eq!(next.expect("never ends")?, (first, job("a", 1)));

    // The tail is now waiting in a blocking read; the server goes away under it.
    let waiting = tokio::spawn(async move {
        let next = tokio::time::timeout(Duration::from_secs(30), tail.next()).await;
        next.map(|item| item.expect("never ends"))
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::task::block_in_place(|| server.kill());
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| server.restart());

    // The same store recovers by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        match n.events().append(&job("b", 2)).await {
            Ok(id) => break id,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let got = waiting.await??;
    assert_eq!(
        got?,
        (second, job("b", 2)),
        "the entry after the last one yielded"
    );
    Ok(())
}

#[tokio::test]
async fn groups_are_redis_consumer_groups() -> R {
    let server = RedisServer::start();
    let n = Natives::open(RedisBackend::connect(&server.url()).await?);
    let group = n.events().group("billing");
    assert!(group.create_from_beginning().await?);
    // The group is Redis's own: `XINFO GROUPS` lists it, `redis-cli` reads for it.
    assert!(cli(&server, &["XINFO", "GROUPS", "interop:events"]).contains("billing"));
    let good = n.events().append(&job("a", 1)).await?;
    // Another program's entries: breaking the schema, and without the field `v`.
    cli(
        &server,
        &[
            "XADD",
            "interop:events",
            "*",
            "v",
            r#"{"name":"far too long","tries":1}"#,
        ],
    );
    cli(&server, &["XADD", "interop:events", "*", "other", "1"]);
    let got = group.read("c1", 10, None).await?;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id, &got[0].value, got[0].deliveries),
        (good, &job("a", 1), 1)
    );
    assert_eq!(
        cli(&server, &["XPENDING", "interop:events", "billing"])
            .lines()
            .next(),
        Some("1")
    );
    let dead = group.dead_letters(10).await?;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0].raw, r#"{"name":"far too long","tries":1}"#);
    assert_eq!(dead[1].raw, "(no field v) other 1");
    // The dead letters are a plain stream too.
    assert_eq!(cli(&server, &["XLEN", "interop:events:dead:billing"]), "2");
    // What `redis-cli` claims shows in the delivery counts.
    cli(
        &server,
        &[
            "XCLAIM",
            "interop:events",
            "billing",
            "c2",
            "0",
            &good.to_string(),
        ],
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let claimed = group
        .claim_idle("c3", Duration::from_millis(10), 10)
        .await?;
    assert_eq!(
        claimed
            .iter()
            .map(|d| (d.id, d.deliveries))
            .collect::<Vec<_>>(),
        [(good, 3)]
    );
    Ok(())
}

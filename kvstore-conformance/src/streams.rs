//! Streams (`StreamOf`): ids that only grow, inclusive ranges both ways, exact trims and bounded
//! appends, reads after an id (blocking ones woken by an append), `WRONGTYPE`, TTLs, entries that
//! do not decode, the tail, and the same answers as the embedded engine.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use kvstore::backend::BackendExt as _;
use kvstore::backend::{Command, End, ListOp, Reply, StreamOp};
use kvstore::{StreamId, StreamOf};

use super::*;

/// Redis's approximate trim (`XADD MAXLEN ~`) keeps whole internal nodes: up to
/// `stream-node-max-entries` (100 by default) entries more than asked.
const REDIS_SLACK: u64 = 100;

/// The store of the stream rules, opened under the test's prefix at `<prefix>:s`.
#[derive(Store)]
pub struct Streams {
    /// Notes.
    pub events: StreamOf<Note>,
    /// Constrained values.
    pub labels: StreamOf<Label>,
    /// Trimmed to about 10 entries on append.
    #[store(max_len = 10)]
    pub capped: StreamOf<u64>,
    /// With a default TTL.
    #[store(ttl = "30m")]
    pub log: StreamOf<String>,
    /// Streams by id, with a default TTL, each trimmed to about 5 entries.
    #[store(ttl = "30m", max_len = 5)]
    pub feeds: Dynamic<StreamOf<Note>>,
    /// An item, to find a stream's key holding another kind.
    pub text: Item<String>,
}

fn streams(env: &Env) -> Streams {
    Streams::open_with_prefix(env.backend.clone(), &env.key("s"))
}

fn ids<T>(entries: &[(StreamId, T)]) -> Vec<StreamId> {
    entries.iter().map(|(id, _)| *id).collect()
}

fn values<T: Clone>(entries: &[(StreamId, T)]) -> Vec<T> {
    entries.iter().map(|(_, v)| v.clone()).collect()
}

#[track_caller]
fn assert_increasing(ids: &[StreamId]) {
    for pair in ids.windows(2) {
        assert!(pair[0] < pair[1], "ids do not increase: {ids:?}");
    }
}

#[track_caller]
fn expect_wrong_type<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::WrongType");
    assert!(matches!(e, Error::WrongType { .. }), "{e:?}");
    assert_names_key(&e, key);
}

/// Appends `value` as it is, bypassing the typed handle (what another program may write).
async fn raw_append(env: &Env, key: &str, value: &[u8]) -> StreamId {
    let command = Command::Stream {
        key,
        op: StreamOp::Append {
            value,
            max_len: None,
            ttl_if_created: None,
        },
    };
    match env.backend.execute(command).await.unwrap() {
        Reply::EntryId(id) => id,
        other => panic!("XADD answered {other:?}"),
    }
}

/// What a sequence of stream operations answered, ids left out (they come from each backend's
/// clock): lengths, trim counts, values read, and the positions (in append order) of the
/// entries each read returned.
async fn stream_script(stream: &StreamOf<Note>) -> Vec<String> {
    let mut out = Vec::new();
    let mut appended = Vec::new();
    for i in 0..12 {
        appended.push(stream.append(&note(format!("n{i}"))).await.unwrap());
    }
    assert_increasing(&appended);
    let pos = |entries: &[(StreamId, Note)]| -> String {
        entries
            .iter()
            .map(|(id, n)| {
                let at = appended
                    .iter()
                    .position(|a| a == id)
                    .map_or(-1, |p| p as i64);
                format!("{at}:{}", n.text)
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    out.push(format!("len {}", stream.len().await.unwrap()));
    let r = stream.range(appended[2], appended[5], 100).await.unwrap();
    out.push(format!("range {}", pos(&r)));
    let r = stream.range(appended[2], appended[5], 2).await.unwrap();
    out.push(format!("range count {}", pos(&r)));
    let r = stream.range(appended[5], appended[2], 100).await.unwrap();
    out.push(format!("range backwards {}", pos(&r)));
    let r = stream.range(StreamId::MIN, StreamId::MAX, 0).await.unwrap();
    out.push(format!("range count 0 {}", pos(&r)));
    let r = stream.range_rev(appended[7], appended[4], 3).await.unwrap();
    out.push(format!("range_rev {}", pos(&r)));
    let r = stream
        .range_rev(StreamId::MAX, StreamId::MIN, 2)
        .await
        .unwrap();
    out.push(format!("range_rev newest {}", pos(&r)));
    let r = stream.read_after(appended[9], 0, None).await.unwrap();
    out.push(format!("read_after {}", pos(&r)));
    let r = stream.read_after(appended[3], 2, None).await.unwrap();
    out.push(format!("read_after count {}", pos(&r)));
    let r = stream.read_after(appended[11], 5, None).await.unwrap();
    out.push(format!("read_after last {}", pos(&r)));
    out.push(format!("trim 20 {}", stream.trim(20).await.unwrap()));
    out.push(format!("trim 4 {}", stream.trim(4).await.unwrap()));
    let r = stream
        .range(StreamId::MIN, StreamId::MAX, 100)
        .await
        .unwrap();
    out.push(format!("after trim {}", pos(&r)));
    out.push(format!("trim 0 {}", stream.trim(0).await.unwrap()));
    out.push(format!(
        "emptied: len {} exists {}",
        stream.len().await.unwrap(),
        stream.exists().await.unwrap()
    ));
    let next = stream.append(&note("again")).await.unwrap();
    out.push(format!(
        "append after emptying grows: {}",
        next > appended[11]
    ));
    out.push(format!("len {}", stream.len().await.unwrap()));
    out
}

rules! {
    /// Appends get increasing ids (from the backend's clock: close to the wall clock); ranges
    /// are inclusive at both ends, both ways, and count-limited; `len` counts entries.
    pub async fn stream_append_and_range(env: Env) {
        let s = streams(&env);
        let events = s.events();
        assert_eq!(events.key(), env.key("s:events"));
        assert_eq!(events.len().await.unwrap(), 0);
        assert!(events.is_empty().await.unwrap());
        assert!(!events.exists().await.unwrap());
        assert_eq!(events.range(StreamId::MIN, StreamId::MAX, 10).await.unwrap(), vec![]);
        assert_eq!(events.range_rev(StreamId::MAX, StreamId::MIN, 10).await.unwrap(), vec![]);

        let mut appended = Vec::new();
        for i in 0..5 {
            appended.push(events.append(&note(format!("e{i}"))).await.unwrap());
        }
        assert_increasing(&appended);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(
            appended[4].ms.abs_diff(now_ms) < 600_000,
            "an id's milliseconds are the clock's: {} vs {now_ms}",
            appended[4]
        );
        assert_eq!(appended[0].to_string().parse::<StreamId>().unwrap(), appended[0]);
        assert!(events.exists().await.unwrap());
        assert_eq!(events.len().await.unwrap(), 5);

        let all = events.range(StreamId::MIN, StreamId::MAX, 100).await.unwrap();
        assert_eq!(ids(&all), appended);
        assert_eq!(
            values(&all),
            (0..5).map(|i| note(format!("e{i}"))).collect::<Vec<_>>()
        );
        // Inclusive bounds, both ways.
        let mid = events.range(appended[1], appended[3], 100).await.unwrap();
        assert_eq!(ids(&mid), appended[1..=3]);
        let mid_rev = events.range_rev(appended[3], appended[1], 100).await.unwrap();
        assert_eq!(ids(&mid_rev), [appended[3], appended[2], appended[1]]);
        // Counts.
        let first_two = events.range(StreamId::MIN, StreamId::MAX, 2).await.unwrap();
        assert_eq!(ids(&first_two), appended[..2]);
        assert_eq!(
            ids(&events.range_rev(StreamId::MAX, StreamId::MIN, 2).await.unwrap()),
            [appended[4], appended[3]]
        );
        assert_eq!(events.range(StreamId::MIN, StreamId::MAX, 0).await.unwrap(), vec![]);
        // A bound between two ids, and bounds the wrong way round.
        let after_first = appended[0].next().unwrap();
        assert_eq!(ids(&events.range(after_first, StreamId::MAX, 1).await.unwrap()), [appended[1]]);
        assert_eq!(events.range(appended[3], appended[1], 10).await.unwrap(), vec![]);
        assert_eq!(events.range_rev(appended[1], appended[3], 10).await.unwrap(), vec![]);
        // A single id.
        assert_eq!(ids(&events.range(appended[2], appended[2], 10).await.unwrap()), [appended[2]]);

        // Many appends in the same millisecond still increase.
        let mut burst = Vec::new();
        for i in 0..50 {
            burst.push(events.append(&note(format!("b{i}"))).await.unwrap());
        }
        assert_increasing(&burst);
        assert!(burst[0] > appended[4]);
        assert_eq!(events.len().await.unwrap(), 55);
        assert!(events.clear().await.unwrap());
        assert!(!events.exists().await.unwrap());
        assert!(!events.clear().await.unwrap());
    }

    /// `trim` is exact and returns how many it removed (the oldest); a stream trimmed to nothing
    /// still exists, with a length of 0, and keeps giving greater ids.
    pub async fn stream_trim_exact(env: Env) {
        let s = streams(&env);
        let events = s.events();
        assert_eq!(events.trim(0).await.unwrap(), 0);
        assert!(!events.exists().await.unwrap(), "trimming a missing stream creates nothing");
        let mut appended = Vec::new();
        for i in 0..10 {
            appended.push(events.append(&note(format!("t{i}"))).await.unwrap());
        }
        assert_eq!(events.trim(4).await.unwrap(), 6);
        assert_eq!(events.len().await.unwrap(), 4);
        let kept = events.range(StreamId::MIN, StreamId::MAX, 100).await.unwrap();
        assert_eq!(ids(&kept), appended[6..]);
        assert_eq!(events.trim(10).await.unwrap(), 0);
        assert_eq!(events.trim(4).await.unwrap(), 0);
        assert_eq!(events.trim(0).await.unwrap(), 4);
        assert_eq!(events.len().await.unwrap(), 0);
        assert!(events.exists().await.unwrap(), "a stream trimmed to nothing remains");
        assert!(env.raw_exists("s:events").await);
        assert_eq!(events.read_after(StreamId::MIN, 10, None).await.unwrap(), vec![]);
        let next = events.append(&note("later")).await.unwrap();
        assert!(next > appended[9], "{next} after {}", appended[9]);
        assert_eq!(events.len().await.unwrap(), 1);
    }

    /// A field's `max_len` keeps the stream bounded as it grows (approximately on Redis: whole
    /// internal nodes), keeping the newest entries; also on the streams of a `Dynamic`.
    pub async fn stream_max_len_bounds(env: Env) {
        let s = streams(&env);
        let capped = s.capped();
        let mut last = StreamId::MIN;
        for i in 0..300u64 {
            last = capped.append(&i).await.unwrap();
        }
        let len = capped.len().await.unwrap();
        assert!((10..=10 + REDIS_SLACK).contains(&len), "len {len} after 300 appends, max_len 10");
        let newest = capped.range_rev(StreamId::MAX, StreamId::MIN, 10).await.unwrap();
        assert_eq!(values(&newest), (290..300u64).rev().collect::<Vec<_>>());
        assert_eq!(newest[0].0, last);

        let feed = s.feeds().at("a");
        for i in 0..250 {
            feed.append(&note(format!("f{i}"))).await.unwrap();
        }
        let len = feed.len().await.unwrap();
        assert!((5..=5 + REDIS_SLACK).contains(&len), "len {len} after 250 appends, max_len 5");
        // A stream without max_len is never trimmed.
        let events = s.events();
        for i in 0..120 {
            events.append(&note(format!("k{i}"))).await.unwrap();
        }
        assert_eq!(events.len().await.unwrap(), 120);
    }

    /// `read_after` returns the entries after an id, oldest first, up to `count` (0: all);
    /// nothing after the last one or on a missing stream; a zero wait does not wait.
    pub async fn stream_read_after(env: Env) {
        let s = streams(&env);
        let events = s.events();
        assert_eq!(events.read_after(StreamId::MIN, 10, None).await.unwrap(), vec![]);
        let started = Instant::now();
        assert_eq!(
            events.read_after(StreamId::MIN, 10, Some(Duration::ZERO)).await.unwrap(),
            vec![]
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut appended = Vec::new();
        for i in 0..6 {
            appended.push(events.append(&note(format!("r{i}"))).await.unwrap());
        }
        let all = events.read_after(StreamId::MIN, 0, None).await.unwrap();
        assert_eq!(ids(&all), appended);
        assert_eq!(values(&all)[0], note("r0"));
        assert_eq!(ids(&events.read_after(appended[2], 2, None).await.unwrap()), appended[3..5]);
        assert_eq!(ids(&events.read_after(appended[2], 100, None).await.unwrap()), appended[3..]);
        assert_eq!(events.read_after(appended[5], 10, None).await.unwrap(), vec![]);
        // Strictly after: the id given is not returned.
        assert_eq!(ids(&events.read_after(appended[1], 1, None).await.unwrap()), [appended[2]]);
        // Entries already there: a blocking read answers at once.
        let started = Instant::now();
        let got = events
            .read_after(appended[4], 10, Some(Duration::from_secs(10)))
            .await
            .unwrap();
        assert_eq!(ids(&got), [appended[5]]);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A blocking read returns empty at its timeout (about the time asked), and is woken by an
    /// append from another task while other operations go on.
    pub async fn stream_blocking_read(env: Env) {
        let s = streams(&env);
        let events = s.events();
        let first = events.append(&note("first")).await.unwrap();

        let started = Instant::now();
        assert_eq!(
            events.read_after(first, 10, Some(Duration::from_millis(200))).await.unwrap(),
            vec![]
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
            "waited {waited:?}"
        );

        // On a stream that does not exist yet, too.
        let feed = s.feeds().at("new");
        let waiter = {
            let feed = feed.clone();
            tokio::spawn(async move {
                feed.read_after(StreamId::MIN, 10, Some(Duration::from_secs(10))).await
            })
        };
        let reader = {
            let events = events.clone();
            tokio::spawn(async move {
                events.read_after(first, 10, Some(Duration::from_secs(10))).await
            })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Other operations proceed while the reads wait.
        assert_eq!(events.len().await.unwrap(), 1);
        s.text().set(&"busy".to_owned()).await.unwrap();
        let appended = events.append(&note("late")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the blocked read is woken by the append")
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![(appended, note("late"))]);
        let created = feed.append(&note("created")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the blocked read is woken by the append that creates the stream")
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![(created, note("created"))]);
    }

    /// A stream's key holding another kind is `WrongType` naming the key for every operation;
    /// a stream's key is another kind for the other types.
    pub async fn stream_wrong_type(env: Env) {
        let s = streams(&env);
        let key = env.key("s:events");
        env.raw_set("s:events", b"\"a string\"").await;
        let events = s.events();
        expect_wrong_type(events.append(&note("x")).await, &key);
        expect_wrong_type(events.range(StreamId::MIN, StreamId::MAX, 10).await, &key);
        expect_wrong_type(events.range_rev(StreamId::MAX, StreamId::MIN, 10).await, &key);
        expect_wrong_type(events.len().await, &key);
        expect_wrong_type(events.trim(1).await, &key);
        expect_wrong_type(events.read_after(StreamId::MIN, 10, None).await, &key);
        expect_wrong_type(
            events.read_after(StreamId::MIN, 10, Some(Duration::from_millis(50))).await,
            &key,
        );
        // The string is untouched.
        assert_eq!(env.raw_get("s:events").await.as_deref(), Some(&b"\"a string\""[..]));

        let log = s.log();
        log.append(&"entry".to_owned()).await.unwrap();
        let log_key = env.key("s:log");
        let push = Command::List {
            key: &log_key,
            op: ListOp::Push {
                end: End::Back,
                value: b"1",
                ttl_if_created: None,
            },
        };
        expect_wrong_type(env.backend.execute(push).await, &log_key);
        let e = err(env.backend.get(&log_key).await, "GET on a stream");
        assert!(matches!(e, Error::WrongType { .. }), "{e:?}");
        assert_eq!(log.len().await.unwrap(), 1);
    }

    /// A stream created by an append gets the field's default TTL; later appends and trims keep
    /// the TTL the stream has; `expire`, `persist` and `ttl` work on streams.
    pub async fn stream_ttl(env: Env) {
        let s = streams(&env);
        let log = s.log();
        assert_eq!(log.ttl().await.unwrap(), None);
        log.append(&"one".to_owned()).await.unwrap();
        let ttl = log.ttl().await.unwrap().expect("a default TTL");
        assert!(ttl <= Duration::from_secs(1800) && ttl > Duration::from_secs(1740), "{ttl:?}");
        assert!(log.persist().await.unwrap());
        log.append(&"two".to_owned()).await.unwrap();
        assert_eq!(log.ttl().await.unwrap(), None, "an append to an existing stream keeps no TTL");
        assert!(log.expire(Duration::from_secs(100)).await.unwrap());
        log.append(&"three".to_owned()).await.unwrap();
        log.trim(1).await.unwrap();
        let ttl = log.ttl().await.unwrap().expect("kept");
        assert!(ttl <= Duration::from_secs(100) && ttl > Duration::from_secs(40), "{ttl:?}");
        // Without a default TTL, none.
        let events = s.events();
        events.append(&note("x")).await.unwrap();
        assert_eq!(events.ttl().await.unwrap(), None);
        assert!(!events.persist().await.unwrap());
        // The streams of a `Dynamic` get its TTL.
        let feed = s.feeds().at("t");
        feed.append(&note("x")).await.unwrap();
        let ttl = feed.ttl().await.unwrap().expect("the Dynamic's default TTL");
        assert!(ttl > Duration::from_secs(1740), "{ttl:?}");
        // Expiry removes the stream.
        assert!(events.expire(Duration::from_secs(1)).await.unwrap());
        env.sleep(Duration::from_millis(1100)).await;
        assert!(!events.exists().await.unwrap());
        assert_eq!(events.len().await.unwrap(), 0);
        assert!(!events.expire(Duration::from_secs(1)).await.unwrap());
    }

    /// An entry written by another program whose `v` is not JSON of the type, or breaks its
    /// schema, is an error naming the key on every read; the tail yields the error and goes on.
    pub async fn stream_bad_entries(env: Env) {
        let s = streams(&env);
        let key = env.key("s:labels");
        let labels = s.labels();
        let good = labels.append(&label("ok")).await.unwrap();
        raw_append(&env, &key, b"not json").await;
        let after = labels.append(&label("fine")).await.unwrap();
        let e = err(labels.range(StreamId::MIN, StreamId::MAX, 10).await, "a bad entry");
        assert!(matches!(e, Error::Decode { .. }), "{e:?}");
        assert_names_key(&e, &key);
        let e = err(labels.read_after(good, 10, None).await, "a bad entry");
        assert_names_key(&e, &key);
        let e = err(labels.range_rev(StreamId::MAX, StreamId::MIN, 10).await, "a bad entry");
        assert_names_key(&e, &key);
        assert_eq!(labels.len().await.unwrap(), 3);
        // Reads that do not reach it are fine.
        assert_eq!(labels.range(StreamId::MIN, good, 10).await.unwrap(), vec![(good, label("ok"))]);
        assert_eq!(labels.read_after(after, 10, None).await.unwrap(), vec![]);
        // Valid JSON that breaks the schema.
        raw_append(&env, &key, br#"{"name":"far too long"}"#).await;
        let e = err(labels.read_after(after, 10, None).await, "an invalid entry");
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_names_key(&e, &key);
        // Appends validate.
        let e = err(labels.append(&label("much too long")).await, "an invalid value");
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_names_key(&e, &key);

        // The tail yields the bad entries as errors, in order, and goes on.
        let last = labels.append(&label("last")).await.unwrap();
        let mut tail = Box::pin(labels.tail(StreamId::MIN));
        let mut seen = Vec::new();
        for _ in 0..5 {
            let item = tokio::time::timeout(Duration::from_secs(10), tail.next())
                .await
                .expect("the tail yields what is there")
                .expect("the tail never ends");
            seen.push(match item {
                Ok((id, l)) => format!("{}@{}", l.name, id == last || id == good || id == after),
                Err(e) => {
                    assert_names_key(&e, &key);
                    "error".to_owned()
                }
            });
        }
        assert_eq!(seen, ["ok@true", "error", "fine@true", "error", "last@true"]);

        // The audit counts the stream as invalid.
        let report = s.audit().await.unwrap();
        assert!(
            report.problems.iter().any(|p| p.key == key),
            "{report}"
        );
    }

    /// `tail` yields the entries after the id given, then each one appended later, in order.
    pub async fn stream_tail(env: Env) {
        let s = streams(&env);
        let events = s.events();
        let first = events.append(&note("a")).await.unwrap();
        let second = events.append(&note("b")).await.unwrap();
        let mut from_start = Box::pin(events.tail(StreamId::MIN));
        let mut resumed = Box::pin(events.tail(first));
        let producer = {
            let events = events.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for t in ["c", "d", "e"] {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    ids.push(events.append(&note(t)).await.unwrap());
                }
                ids
            })
        };
        let mut got = Vec::new();
        for _ in 0..5 {
            let item = tokio::time::timeout(Duration::from_secs(10), from_start.next())
                .await
                .expect("the tail yields each entry")
                .expect("the tail never ends")
                .unwrap();
            got.push(item);
        }
        let later = producer.await.unwrap();
        let expected_ids: Vec<StreamId> =
            [first, second].into_iter().chain(later.clone()).collect();
        assert_eq!(ids(&got), expected_ids);
        assert_eq!(values(&got), ["a", "b", "c", "d", "e"].map(note));
        let mut got = Vec::new();
        for _ in 0..4 {
            let item = tokio::time::timeout(Duration::from_secs(10), resumed.next())
                .await
                .expect("the resumed tail yields each entry")
                .expect("the tail never ends")
                .unwrap();
            got.push(item.0);
        }
        assert_eq!(got, expected_ids[1..]);
    }

    /// The manifest lists streams as `"stream"` with their schema and `max_len`.
    pub async fn stream_manifest(env: Env) {
        let _ = env;
        let schema = Streams::schema();
        let capped = &schema["capped"];
        assert_eq!(capped["kind"], "stream", "{schema:#}");
        assert_eq!(capped["max_len"], 10, "{schema:#}");
        assert!(capped["schema"].is_object(), "{schema:#}");
        assert_eq!(schema["events"]["kind"], "stream");
        assert!(schema["events"].get("max_len").is_none());
        assert_eq!(schema["feeds:*"]["kind"], "stream", "{schema:#}");
        assert_eq!(schema["feeds:*"]["max_len"], 5);
    }

    /// The same operations answer as on the embedded engine (a `MemoryBackend`): lengths,
    /// trim counts, and the entries each read returns (ids aside, which come from each
    /// backend's clock).
    pub async fn stream_parity_with_memory(env: Env) {
        let here = streams(&env).events();
        let memory = Streams::open_with_prefix(kvstore::MemoryBackend::new(), "parity").events();
        let expected = stream_script(&memory).await;
        let got = stream_script(&here).await;
        assert_eq!(got, expected);
        // What the memory backend answers, spelled out (so that both cannot be wrong alike).
        assert_eq!(
            expected,
            [
                "len 12",
                "range 2:n2,3:n3,4:n4,5:n5",
                "range count 2:n2,3:n3",
                "range backwards ",
                "range count 0 ",
                "range_rev 7:n7,6:n6,5:n5",
                "range_rev newest 11:n11,10:n10",
                "read_after 10:n10,11:n11",
                "read_after count 4:n4,5:n5",
                "read_after last ",
                "trim 20 0",
                "trim 4 8",
                "after trim 8:n8,9:n9,10:n10,11:n11",
                "trim 0 4",
                "emptied: len 0 exists true",
                "append after emptying grows: true",
                "len 1",
            ]
        );
    }
}

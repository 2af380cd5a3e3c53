//! The native container types: `ListOf`, `SortedSetOf`, `MapOf`, `Bits`, `PackedInts` — Redis's
//! semantics (empty containers vanish, `WRONGTYPE`, index and rank rules), validation, default
//! TTLs on creation, overflow that changes nothing.

use std::time::{Duration, Instant};

use kvstore::backend::BackendExt as _;
use kvstore::{
    backend::{Command, LexBound, ListOp, Reply, SortedSetOp},
    Bits, ListOf, MapOf, PackedInts, SortedSetOf,
};

use super::*;

/// The store of the native types, opened under the test's prefix at `<prefix>:n`.
#[derive(Store)]
pub struct Natives {
    /// A list of notes.
    pub jobs: ListOf<Note>,
    /// A list of constrained values.
    pub labels: ListOf<Label>,
    /// A list with a default TTL.
    #[store(ttl = "30m")]
    pub log: ListOf<String>,
    /// A sorted set.
    pub board: SortedSetOf<String>,
    /// Sorted sets by id, with a default TTL.
    #[store(ttl = "30m")]
    pub boards: Dynamic<SortedSetOf<Label>>,
    /// A map of notes.
    pub profile: MapOf<String, Note>,
    /// Integer maps by numeric id, with a default TTL.
    #[store(ttl = "30m")]
    pub totals: Dynamic<MapOf<u64, i64>>,
    /// Bits.
    pub flags: Bits,
    /// Bits with a default TTL.
    #[store(ttl = "30m")]
    pub seen: Bits,
    /// Packed 64-bit counters.
    pub wins: PackedInts<i64>,
    /// Packed unsigned 16-bit counters by id, with a default TTL.
    #[store(ttl = "30m")]
    pub hourly: Dynamic<PackedInts<u16>>,
    /// Packed signed bytes.
    pub small: PackedInts<i8>,
    /// Queues by id, each in one cluster slot.
    #[store(colocate)]
    pub queues: Dynamic<Queue>,
}

/// A reliable queue: jobs move from `pending` to `processing` atomically.
#[derive(Store)]
pub struct Queue {
    /// Waiting jobs.
    pub pending: ListOf<Note>,
    /// Jobs taken by a worker.
    pub processing: ListOf<Note>,
}

fn natives(env: &Env) -> Natives {
    Natives::open_with_prefix(env.backend.clone(), &env.key("n"))
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn notes(texts: &[&str]) -> Vec<Note> {
    texts.iter().map(|t| note(*t)).collect()
}

#[track_caller]
fn expect_wrong_type<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::WrongType");
    assert!(matches!(e, Error::WrongType { .. }), "{e:?}");
    assert_names_key(&e, key);
}

#[track_caller]
fn expect_overflow<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::Overflow");
    assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
    assert_names_key(&e, key);
}

/// A default TTL of 30 minutes was applied (within a minute of it).
async fn assert_default_ttl(ttl: kvstore::Result<Option<Duration>>) {
    let ttl = ttl.unwrap().expect("a TTL");
    assert!(
        ttl <= Duration::from_secs(1800) && ttl > Duration::from_secs(1740),
        "{ttl:?}"
    );
}

rules! {
    /// Lists: pushes at both ends, pops, `LRANGE` indexes (negative, clamped), `LTRIM`, length;
    /// an emptied list disappears.
    pub async fn list_basics(env: Env) {
        let n = natives(&env);
        let jobs = n.jobs();
        assert_eq!(jobs.key(), env.key("n:jobs"));
        assert_eq!(jobs.len().await.unwrap(), 0);
        assert!(jobs.is_empty().await.unwrap());
        assert_eq!(jobs.pop_front().await.unwrap(), None);
        assert_eq!(jobs.pop_back().await.unwrap(), None);
        assert_eq!(jobs.range(0, -1).await.unwrap(), vec![]);
        jobs.trim(0, 1).await.unwrap();
        assert!(!jobs.exists().await.unwrap());

        assert_eq!(jobs.push_back(&note("b")).await.unwrap(), 1);
        assert_eq!(jobs.push_back(&note("c")).await.unwrap(), 2);
        assert_eq!(jobs.push_front(&note("a")).await.unwrap(), 3);
        assert_eq!(jobs.push_back(&note("d")).await.unwrap(), 4);
        assert_eq!(jobs.len().await.unwrap(), 4);
        assert_eq!(jobs.range(0, -1).await.unwrap(), notes(&["a", "b", "c", "d"]));
        assert_eq!(jobs.range(1, 2).await.unwrap(), notes(&["b", "c"]));
        assert_eq!(jobs.range(-2, -1).await.unwrap(), notes(&["c", "d"]));
        assert_eq!(jobs.range(-100, 100).await.unwrap(), notes(&["a", "b", "c", "d"]));
        assert_eq!(jobs.range(3, 1).await.unwrap(), vec![]);
        assert_eq!(jobs.range(4, 10).await.unwrap(), vec![]);
        assert_eq!(jobs.range(0, -5).await.unwrap(), vec![]);
        assert_eq!(jobs.range(0, 0).await.unwrap(), notes(&["a"]));

        assert_eq!(jobs.pop_front().await.unwrap(), Some(note("a")));
        assert_eq!(jobs.pop_back().await.unwrap(), Some(note("d")));
        assert_eq!(jobs.range(0, -1).await.unwrap(), notes(&["b", "c"]));

        for t in ["e", "f", "g"] {
            jobs.push_back(&note(t)).await.unwrap();
        }
        jobs.trim(1, -2).await.unwrap();
        assert_eq!(jobs.range(0, -1).await.unwrap(), notes(&["c", "e", "f"]));
        jobs.trim(-2, 100).await.unwrap();
        assert_eq!(jobs.range(0, -1).await.unwrap(), notes(&["e", "f"]));

        // An emptied list disappears, by pops and by a trim to nothing.
        assert!(jobs.pop_front().await.unwrap().is_some());
        assert!(jobs.pop_front().await.unwrap().is_some());
        assert!(!jobs.exists().await.unwrap());
        assert!(!env.raw_exists("n:jobs").await);
        jobs.push_back(&note("x")).await.unwrap();
        jobs.trim(5, 10).await.unwrap();
        assert!(!jobs.exists().await.unwrap());

        jobs.push_back(&note("y")).await.unwrap();
        assert!(jobs.clear().await.unwrap());
        assert!(!jobs.clear().await.unwrap());
        assert_eq!(jobs.len().await.unwrap(), 0);
    }

    /// `pop_front_many`/`pop_back_many`: up to n elements in popping order, one round trip;
    /// none from a missing list; the key removed with its last element; another kind of key is
    /// `WrongType`.
    pub async fn list_pop_many(env: Env) {
        let natives = Natives::open_with_prefix(env.backend.clone(), &env.key("n"));
        let log = natives.log();
        assert!(log.pop_front_many(3).await.unwrap().is_empty(), "a missing list");
        for s in ["a", "b", "c", "d", "e"] {
            log.push_back(&s.to_owned()).await.unwrap();
        }
        assert!(log.pop_front_many(0).await.unwrap().is_empty());
        assert_eq!(log.pop_front_many(2).await.unwrap(), ["a", "b"]);
        assert_eq!(log.pop_back_many(2).await.unwrap(), ["e", "d"], "last first");
        assert_eq!(log.pop_back_many(9).await.unwrap(), ["c"]);
        assert!(!log.exists().await.unwrap(), "popping the last removes the key");
        env.raw_set("n:log", b"a string").await;
        let e = log.pop_front_many(2).await.unwrap_err();
        assert!(matches!(&e, Error::WrongType { key } if *key == env.key("n:log")), "{e:?}");
    }

    /// `rank_rev`: 0 is the highest score; `None` for a member that is not there.
    pub async fn sorted_set_rank_rev(env: Env) {
        let natives = Natives::open_with_prefix(env.backend.clone(), &env.key("n"));
        let board = natives.board();
        for (m, s) in [("low", 1.0), ("mid", 5.0), ("top", 9.0)] {
            board.add(&m.to_owned(), s).await.unwrap();
        }
        assert_eq!(board.rank_rev(&"top".to_owned()).await.unwrap(), Some(0));
        assert_eq!(board.rank_rev(&"low".to_owned()).await.unwrap(), Some(2));
        assert_eq!(board.rank(&"low".to_owned()).await.unwrap(), Some(0));
        assert_eq!(board.rank_rev(&"none".to_owned()).await.unwrap(), None);
    }

    /// List elements are validated when pushed (nothing written) and when read.
    pub async fn list_validation(env: Env) {
        let n = natives(&env);
        let labels = n.labels();
        let key = env.key("n:labels");
        let issues = expect_validation(labels.push_back(&label("far too long")).await, &key);
        assert_issue_at(&issues, "/name");
        assert!(!labels.exists().await.unwrap(), "nothing was written");

        labels.push_back(&label("ok")).await.unwrap();
        // Another program pushes an element that breaks the schema.
        let bad = br#"{"name":"much too long for it"}"#;
        let push = Command::List {
            key: &key,
            op: ListOp::Push {
                end: kvstore::backend::End::Back,
                value: bad,
                ttl_if_created: None,
            },
        };
        env.backend.execute(push).await.unwrap();
        expect_validation(labels.range(0, -1).await, &key);
        assert_eq!(labels.pop_front().await.unwrap(), Some(label("ok")));
        expect_validation(labels.pop_front().await, &key);
    }

    /// Byte-wise ranges of a sorted set whose members share one score (`ZRANGE .. BYLEX`,
    /// `ZLEXCOUNT`): `[`/`(` bounds, `-`/`+`, descending, a limit; nothing for a missing key,
    /// `WRONGTYPE` for a string.
    pub async fn sorted_set_lex_ranges(env: Env) {
        let key = env.key("lex");
        for member in ["c", "a", "ba", "b", "b!"] {
            let add = Command::SortedSet {
                key: &key,
                op: SortedSetOp::Add {
                    member: member.as_bytes(),
                    score: 0.0,
                    ttl_if_created: None,
                },
            };
            env.backend.execute(add).await.unwrap();
        }
        let range = |min, max, rev, limit| {
            let backend = env.backend.clone();
            let key = key.clone();
            async move {
                let op = SortedSetOp::RangeByLex {
                    min,
                    max,
                    rev,
                    limit,
                };
                match backend.execute(Command::SortedSet { key: &key, op }).await {
                    Ok(Reply::Members(m)) => m
                        .into_iter()
                        .map(|m| String::from_utf8(m).unwrap())
                        .collect::<Vec<_>>(),
                    other => panic!("unexpected reply {other:?}"),
                }
            }
        };
        let (b, c) = (b"b".as_slice(), b"c".as_slice());
        assert_eq!(
            range(LexBound::Min, LexBound::Max, false, None).await,
            ["a", "b", "b!", "ba", "c"]
        );
        assert_eq!(
            range(LexBound::Included(b), LexBound::Excluded(c), false, None).await,
            ["b", "b!", "ba"]
        );
        assert_eq!(
            range(LexBound::Excluded(b), LexBound::Included(c), false, Some(2)).await,
            ["b!", "ba"]
        );
        assert_eq!(
            range(LexBound::Min, LexBound::Excluded(c), true, Some(2)).await,
            ["ba", "b!"]
        );
        assert!(range(LexBound::Excluded(c), LexBound::Max, false, None)
            .await
            .is_empty());
        assert!(range(LexBound::Max, LexBound::Min, false, None).await.is_empty());
        let count = Command::SortedSet {
            key: &key,
            op: SortedSetOp::CountByLex {
                min: LexBound::Included(b),
                max: LexBound::Max,
            },
        };
        assert_eq!(env.backend.execute(count).await.unwrap(), Reply::Len(4));
        let missing = env.key("lex-missing");
        let count = Command::SortedSet {
            key: &missing,
            op: SortedSetOp::CountByLex {
                min: LexBound::Min,
                max: LexBound::Max,
            },
        };
        assert_eq!(env.backend.execute(count).await.unwrap(), Reply::Len(0));
        let text = env.key("lex-text");
        env.backend.set(&text, b"x", Default::default()).await.unwrap();
        let on_text = Command::SortedSet {
            key: &text,
            op: SortedSetOp::RangeByLex {
                min: LexBound::Min,
                max: LexBound::Max,
                rev: false,
                limit: None,
            },
        };
        expect_wrong_type(env.backend.execute(on_text).await, &text);
    }

    /// A list created by a push gets the field's default TTL; later pushes keep it.
    pub async fn list_default_ttl(env: Env) {
        let n = natives(&env);
        let log = n.log();
        log.push_back(&s("one")).await.unwrap();
        assert_default_ttl(log.ttl().await).await;
        assert!(log.expire(Duration::from_secs(100)).await.unwrap());
        log.push_front(&s("zero")).await.unwrap();
        let ttl = log.ttl().await.unwrap().unwrap();
        assert!(ttl <= Duration::from_secs(100), "a push keeps the TTL: {ttl:?}");
        assert!(log.persist().await.unwrap());
        assert_eq!(log.ttl().await.unwrap(), None);
        env.sleep(Duration::from_millis(5)).await;
        assert_eq!(log.range(0, -1).await.unwrap(), strings(&["zero", "one"]));
    }

    /// `pop_front_blocking` returns an element pushed while it waits, `Ok(None)` at its timeout,
    /// and at once when there is one.
    pub async fn list_blocking_pop(env: Env) {
        let n = natives(&env);
        let jobs = n.jobs();
        jobs.push_back(&note("ready")).await.unwrap();
        assert_eq!(
            jobs.pop_front_blocking(Duration::from_secs(5)).await.unwrap(),
            Some(note("ready"))
        );

        let started = Instant::now();
        assert_eq!(
            jobs.pop_front_blocking(Duration::from_millis(200)).await.unwrap(),
            None
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
            "waited {waited:?}"
        );
        assert_eq!(jobs.pop_front_blocking(Duration::ZERO).await.unwrap(), None);

        let waiter = {
            let jobs = jobs.clone();
            tokio::spawn(async move { jobs.pop_front_blocking(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Other operations proceed while the pop waits.
        assert_eq!(n.board().len().await.unwrap(), 0);
        jobs.push_back(&note("late")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the blocked pop is woken by the push")
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(note("late")));
        assert!(!jobs.exists().await.unwrap());
    }

    /// `move_front_to_back` moves atomically (a reliable queue), rotates a list onto itself,
    /// answers `None` on an empty source, and checks the destination's type first.
    pub async fn list_move_front_to_back(env: Env) {
        let n = natives(&env);
        let q = n.queues().at("q1");
        let (pending, processing) = (q.pending(), q.processing());
        assert_eq!(pending.move_front_to_back(&processing).await.unwrap(), None);
        for t in ["a", "b", "c"] {
            pending.push_back(&note(t)).await.unwrap();
        }
        assert_eq!(
            pending.move_front_to_back(&processing).await.unwrap(),
            Some(note("a"))
        );
        assert_eq!(
            pending.move_front_to_back(&processing).await.unwrap(),
            Some(note("b"))
        );
        assert_eq!(pending.range(0, -1).await.unwrap(), notes(&["c"]));
        assert_eq!(processing.range(0, -1).await.unwrap(), notes(&["a", "b"]));

        // A rotation.
        assert_eq!(
            processing.move_front_to_back(&processing).await.unwrap(),
            Some(note("a"))
        );
        assert_eq!(processing.range(0, -1).await.unwrap(), notes(&["b", "a"]));

        // The last element moved: the source disappears.
        pending.move_front_to_back(&processing).await.unwrap();
        assert!(!pending.exists().await.unwrap());
        assert_eq!(processing.len().await.unwrap(), 3);

        // A destination of another kind: WRONGTYPE, and nothing moved.
        let other = n.queues().at("q2");
        other.pending().push_back(&note("kept")).await.unwrap();
        let dest_key = other.processing().key().to_owned();
        env.backend
            .set(&dest_key, b"a string", Default::default())
            .await
            .unwrap();
        expect_wrong_type(
            other.pending().move_front_to_back(&other.processing()).await,
            &dest_key,
        );
        assert_eq!(other.pending().range(0, -1).await.unwrap(), notes(&["kept"]));
    }

    /// Sorted sets: adds and updates, scores, increments, ranks, ranges by rank (both ways, with
    /// negative ranks) and by score; ties ordered by member; an emptied set disappears.
    pub async fn sorted_set_basics(env: Env) {
        let n = natives(&env);
        let board = n.board();
        assert_eq!(board.len().await.unwrap(), 0);
        assert_eq!(board.score(&s("a")).await.unwrap(), None);
        assert_eq!(board.rank(&s("a")).await.unwrap(), None);
        assert_eq!(board.range(0, -1).await.unwrap(), vec![]);
        assert!(!board.remove(&s("a")).await.unwrap());

        assert!(board.add(&s("carol"), 30.0).await.unwrap());
        assert!(board.add(&s("alice"), 10.0).await.unwrap());
        assert!(board.add(&s("bob"), 20.5).await.unwrap());
        assert!(!board.add(&s("bob"), 20.0).await.unwrap(), "an update is not new");
        assert_eq!(board.score(&s("bob")).await.unwrap(), Some(20.0));
        assert_eq!(board.len().await.unwrap(), 3);

        assert_eq!(board.increment(&s("alice"), 15.0).await.unwrap(), 25.0);
        assert_eq!(board.increment(&s("dave"), -1.5).await.unwrap(), -1.5);
        assert_eq!(board.rank(&s("dave")).await.unwrap(), Some(0));
        assert_eq!(board.rank(&s("bob")).await.unwrap(), Some(1));
        assert_eq!(board.rank(&s("alice")).await.unwrap(), Some(2));
        assert_eq!(board.rank(&s("carol")).await.unwrap(), Some(3));

        let all = board.range(0, -1).await.unwrap();
        assert_eq!(
            all,
            vec![(s("dave"), -1.5), (s("bob"), 20.0), (s("alice"), 25.0), (s("carol"), 30.0)]
        );
        assert_eq!(
            board.range_rev(0, 1).await.unwrap(),
            vec![(s("carol"), 30.0), (s("alice"), 25.0)]
        );
        assert_eq!(board.range(-2, -1).await.unwrap(), all[2..].to_vec());
        assert_eq!(board.range_rev(-1, -1).await.unwrap(), vec![(s("dave"), -1.5)]);
        assert_eq!(board.range(2, 1).await.unwrap(), vec![]);
        assert_eq!(board.range(0, 100).await.unwrap(), all);
        assert_eq!(
            board.range_by_score(0.0, 25.0).await.unwrap(),
            vec![(s("bob"), 20.0), (s("alice"), 25.0)]
        );
        assert_eq!(
            board.range_by_score(f64::NEG_INFINITY, f64::INFINITY).await.unwrap(),
            all
        );
        assert_eq!(board.range_by_score(26.0, 25.0).await.unwrap(), vec![]);

        // Ties: ordered by the members' bytes (their JSON text).
        board.add(&s("zed"), 20.0).await.unwrap();
        board.add(&s("amy"), 20.0).await.unwrap();
        let tied: Vec<String> = board
            .range_by_score(20.0, 20.0)
            .await
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(tied, strings(&["amy", "bob", "zed"]));
        assert_eq!(board.rank(&s("zed")).await.unwrap(), Some(3));

        // Infinite scores are scores; NaN is refused; inf + -inf is an overflow.
        board.add(&s("top"), f64::INFINITY).await.unwrap();
        assert_eq!(board.range_rev(0, 0).await.unwrap(), vec![(s("top"), f64::INFINITY)]);
        let key = env.key("n:board");
        expect_validation(board.add(&s("nan"), f64::NAN).await, &key);
        expect_validation(board.increment(&s("x"), f64::NAN).await, &key);
        expect_validation(board.range_by_score(f64::NAN, 1.0).await, &key);
        expect_overflow(board.increment(&s("top"), f64::NEG_INFINITY).await, &key);
        assert_eq!(board.score(&s("top")).await.unwrap(), Some(f64::INFINITY));
        assert_eq!(board.score(&s("nan")).await.unwrap(), None);

        for m in ["dave", "bob", "alice", "carol", "zed", "amy", "top"] {
            assert!(board.remove(&s(m)).await.unwrap(), "{m}");
        }
        assert!(!board.exists().await.unwrap(), "an emptied sorted set disappears");
    }

    /// Sorted sets inside a `Dynamic`: default TTL on creation, validated members.
    pub async fn sorted_set_in_dynamic(env: Env) {
        let n = natives(&env);
        let week = n.boards().at("week 1");
        assert_eq!(week.key(), env.key("n:boards:week 1"));
        let key = week.key().to_owned();
        assert!(week.add(&label("ann"), 3.0).await.unwrap());
        assert_default_ttl(week.ttl().await).await;
        expect_validation(week.add(&label("much too long"), 1.0).await, &key);
        assert_eq!(week.len().await.unwrap(), 1);
        n.boards().at("week 2").add(&label("bo"), 1.0).await.unwrap();
        let mut ids = n.boards().keys().await.unwrap();
        ids.sort();
        assert_eq!(ids, strings(&["week 1", "week 2"]));
        assert_eq!(n.boards().count().await.unwrap(), 2);
        assert_eq!(n.boards().clear().await.unwrap(), 2);
        assert!(!week.exists().await.unwrap());
    }

    /// Maps: get/set/set_if_absent/remove/contains/fields/entries/get_many/set_many/len; fields
    /// round-trip whatever their characters; an emptied map disappears.
    pub async fn map_basics(env: Env) {
        let n = natives(&env);
        let profile = n.profile();
        let key = env.key("n:profile");
        assert_eq!(profile.key(), key);
        assert_eq!(profile.get("a").await.unwrap(), None);
        assert!(!profile.contains("a").await.unwrap());
        assert!(!profile.remove("a").await.unwrap());
        assert_eq!(profile.len().await.unwrap(), 0);
        assert_eq!(profile.fields().await.unwrap(), Vec::<String>::new());
        assert_eq!(profile.entries().await.unwrap(), vec![]);

        profile.set("bio", &note("hello")).await.unwrap();
        profile.set("bio", &note("hi")).await.unwrap();
        assert_eq!(profile.get("bio").await.unwrap(), Some(note("hi")));
        assert!(!profile.set_if_absent("bio", &note("no")).await.unwrap());
        assert!(profile.set_if_absent("motto", &note("yes")).await.unwrap());
        assert_eq!(profile.get("motto").await.unwrap(), Some(note("yes")));
        assert!(profile.contains("motto").await.unwrap());

        // Hostile field names are just names.
        let odd = ["a:b", "*", "x?[y]", "100%", "with space ✓", "{tag}", "back\\slash"];
        for f in odd {
            profile.set(f, &note(f)).await.unwrap();
        }
        for f in odd {
            assert_eq!(profile.get(f).await.unwrap(), Some(note(f)), "{f}");
        }
        let mut fields = profile.fields().await.unwrap();
        fields.sort();
        let mut want: Vec<String> = odd.iter().map(|f| s(f)).collect();
        want.extend([s("bio"), s("motto")]);
        want.sort();
        assert_eq!(fields, want);
        let mut entries = profile.entries().await.unwrap();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(entries.len(), want.len());
        assert_eq!(entries[0].0, want[0]);
        assert_eq!(profile.len().await.unwrap(), want.len());

        assert_eq!(
            profile.get_many(["bio", "nope", "*"]).await.unwrap(),
            vec![Some(note("hi")), None, Some(note("*"))]
        );
        assert_eq!(profile.get_many(Vec::<String>::new()).await.unwrap(), vec![]);
        profile
            .set_many([("m1", note("one")), ("m2", note("two"))])
            .await
            .unwrap();
        assert_eq!(profile.get("m2").await.unwrap(), Some(note("two")));

        // An empty field is refused before anything is sent.
        let e = err(profile.set("", &note("x")).await, "an empty field");
        assert!(matches!(e, Error::InvalidKey { .. }), "{e:?}");
        assert_names_key(&e, &key);

        for f in profile.fields().await.unwrap() {
            assert!(profile.remove(f.as_str()).await.unwrap());
        }
        assert!(!profile.exists().await.unwrap(), "an emptied map disappears");

        profile.set("k", &note("v")).await.unwrap();
        assert!(profile.clear().await.unwrap());
        assert!(!profile.exists().await.unwrap());
    }

    /// Maps validate values both ways; `set_many` validates everything before writing.
    pub async fn map_validation(env: Env) {
        let n = natives(&env);
        let profile = n.profile();
        let key = env.key("n:profile");
        profile.set("ok", &note("fine")).await.unwrap();
        let hset = Command::Map {
            key: &key,
            op: kvstore::backend::MapOp::Set {
                field: "bad",
                value: b"{\"text\": 12}",
                only_if_absent: false,
                ttl_if_created: None,
            },
        };
        env.backend.execute(hset).await.unwrap();
        let e = err(profile.get("bad").await, "a stored value of the wrong shape");
        assert!(e.is_stored_data(), "{e:?}");
        assert_names_key(&e, &key);
        assert!(profile.entries().await.is_err());

        let totals = n.totals().at("7");
        let tkey = totals.key().to_owned();
        let e = err(
            n.boards().at("b").add(&label("way too long"), 1.0).await,
            "invalid member",
        );
        assert!(matches!(e, Error::Validation { .. }));
        totals.set(1, &5).await.unwrap();
        assert_eq!(totals.get(1).await.unwrap(), Some(5));
        let hset = Command::Map {
            key: &tkey,
            op: kvstore::backend::MapOp::Set {
                field: "not-a-number",
                value: b"1",
                only_if_absent: false,
                ttl_if_created: None,
            },
        };
        env.backend.execute(hset).await.unwrap();
        let e = err(totals.fields().await, "a field that is not a u64 id");
        assert!(matches!(e, Error::Decode { .. }), "{e:?}");
        assert_names_key(&e, &tkey);
    }

    /// `MapOf<_, i64>::increment` is `HINCRBY`: missing counts as 0, a non-integer value is
    /// `Decode` and an overflow `Overflow` (both change nothing); a created map gets the default
    /// TTL.
    pub async fn map_increment(env: Env) {
        let n = natives(&env);
        let totals = n.totals().at("42");
        let key = env.key("n:totals:42");
        assert_eq!(totals.key(), key);
        assert_eq!(totals.increment(1, 5).await.unwrap(), 5);
        assert_default_ttl(totals.ttl().await).await;
        assert_eq!(totals.increment(1, -7).await.unwrap(), -2);
        assert_eq!(totals.get(1).await.unwrap(), Some(-2));
        totals.set(2, &i64::MAX).await.unwrap();
        expect_overflow(totals.increment(2, 1).await, &key);
        assert_eq!(totals.get(2).await.unwrap(), Some(i64::MAX));
        let hset = Command::Map {
            key: &key,
            op: kvstore::backend::MapOp::Set {
                field: "3",
                value: b"1.5",
                only_if_absent: false,
                ttl_if_created: None,
            },
        };
        env.backend.execute(hset).await.unwrap();
        let e = err(totals.increment(3, 1).await, "a non-integer value");
        assert!(matches!(e, Error::Decode { .. }), "{e:?}");
        assert_names_key(&e, &key);
        let mut fields = totals.fields().await.unwrap();
        fields.sort();
        assert_eq!(fields, vec![1, 2, 3]);
    }

    /// `set_many` of thousands of fields on a map with a default TTL is one step: every field
    /// written, the TTL set once; on a key of another kind, nothing written.
    pub async fn map_set_many_large(env: Env) {
        let n = natives(&env);
        let totals = n.totals().at("big");
        let entries: Vec<(u64, i64)> = (0..5_000).map(|i| (i, i as i64)).collect();
        totals
            .set_many(entries.iter().map(|(f, v)| (*f, v)))
            .await
            .unwrap();
        assert_eq!(totals.len().await.unwrap(), 5_000);
        assert_eq!(totals.get(4_999).await.unwrap(), Some(4_999));
        assert_default_ttl(totals.ttl().await).await;
        let other = n.totals().at("str");
        env.backend
            .set(other.key(), b"a string", Default::default())
            .await
            .unwrap();
        expect_wrong_type(
            other.set_many(entries.iter().map(|(f, v)| (*f, v))).await,
            other.key(),
        );
        assert_eq!(env.backend.get(other.key()).await.unwrap().as_deref(), Some(&b"a string"[..]));
    }

    /// Bits: set returns the previous bit, reads past the end are false, `count` is
    /// `BITCOUNT`; a hostile offset is refused before anything is sent.
    pub async fn bits_basics(env: Env) {
        let n = natives(&env);
        let flags = n.flags();
        let key = env.key("n:flags");
        assert!(!flags.get(0).await.unwrap());
        assert!(!flags.get(1_000_000).await.unwrap());
        assert_eq!(flags.count().await.unwrap(), 0);
        assert!(!flags.set(7, true).await.unwrap());
        assert!(flags.set(7, true).await.unwrap());
        assert!(!flags.set(0, true).await.unwrap());
        assert!(!flags.set(100, true).await.unwrap());
        assert!(flags.get(7).await.unwrap() && flags.get(0).await.unwrap());
        assert!(!flags.get(1).await.unwrap());
        assert_eq!(flags.count().await.unwrap(), 3);
        // Bit 0 is the highest bit of the first byte, as SETBIT numbers them.
        let raw = env.raw_get("n:flags").await.unwrap();
        assert_eq!(raw.len(), 13);
        assert_eq!(raw[0], 0b1000_0001);
        assert!(flags.set(7, false).await.unwrap());
        assert_eq!(flags.count().await.unwrap(), 2);

        let e = err(flags.set(u64::MAX, true).await, "an offset past the size limit");
        assert!(matches!(e, Error::InvalidKey { .. }), "{e:?}");
        assert_names_key(&e, &key);

        let seen = n.seen();
        seen.set(3, true).await.unwrap();
        assert_default_ttl(seen.ttl().await).await;
        assert!(flags.clear().await.unwrap());
        assert!(!flags.exists().await.unwrap());
    }

    /// Packed integers: get/set/increment/sum/len, big-endian slots as `BITFIELD` writes them,
    /// signed and unsigned widths; an overflow is `Overflow` and changes nothing at all.
    pub async fn packed_ints_basics(env: Env) {
        let n = natives(&env);
        let wins = n.wins();
        let key = env.key("n:wins");
        assert_eq!(wins.get(3).await.unwrap(), 0);
        assert_eq!(wins.len().await.unwrap(), 0);
        assert_eq!(wins.sum(0, 100).await.unwrap(), 0);
        assert_eq!(wins.set(2, 7).await.unwrap(), 0);
        assert_eq!(wins.set(2, -9).await.unwrap(), 7);
        assert_eq!(wins.len().await.unwrap(), 3);
        assert_eq!(wins.increment(0, i64::MAX - 1).await.unwrap(), i64::MAX - 1);
        assert_eq!(wins.increment(0, 1).await.unwrap(), i64::MAX);
        expect_overflow(wins.increment(0, 1).await, &key);
        assert_eq!(wins.get(0).await.unwrap(), i64::MAX);
        assert_eq!(wins.sum(0, 3).await.unwrap(), i64::MAX - 9);
        assert_eq!(wins.sum(1, 3).await.unwrap(), -9);
        wins.set(1, 10).await.unwrap();
        expect_overflow(wins.sum(0, 3).await, &key);
        wins.set(1, 0).await.unwrap();
        assert_eq!(wins.sum(2, 2).await.unwrap(), 0);
        assert_eq!(wins.sum(3, 1).await.unwrap(), 0);
        let raw = env.raw_get("n:wins").await.unwrap();
        assert_eq!(raw.len(), 24);
        assert_eq!(&raw[16..24], &(-9i64).to_be_bytes());

        // Signed bytes: the range is the type's.
        let small = n.small();
        let skey = env.key("n:small");
        assert_eq!(small.increment(1, i8::MIN).await.unwrap(), i8::MIN);
        expect_overflow(small.increment(1, -1).await, &skey);
        assert_eq!(small.increment(1, i8::MAX).await.unwrap(), -1);
        assert_eq!(small.sum(0, 2).await.unwrap(), -1);
        assert_eq!(small.len().await.unwrap(), 2);

        // Unsigned slots in a `Dynamic`, with the default TTL on creation.
        let hours = n.hourly().at("node-1");
        assert_eq!(hours.increment(23, 65_535).await.unwrap(), 65_535);
        assert_default_ttl(hours.ttl().await).await;
        expect_overflow(hours.increment(23, 1).await, hours.key());
        assert_eq!(hours.len().await.unwrap(), 24);
        assert_eq!(hours.set(0, 1).await.unwrap(), 0);
        assert_eq!(hours.sum(0, 24).await.unwrap(), 65_536);
        assert_eq!(hours.sum(0, 1_000_000).await.unwrap(), 65_536);
    }

    /// An overflowing increment of a packed integer leaves the stored string exactly as it was
    /// (same bytes, same length, same TTL); reads create nothing.
    pub async fn packed_ints_overflow_changes_nothing(env: Env) {
        let n = natives(&env);
        let hours = n.hourly().at("h");
        assert_eq!(hours.get(5).await.unwrap(), 0);
        assert_eq!(hours.sum(0, 10).await.unwrap(), 0);
        assert!(!hours.exists().await.unwrap(), "reads create nothing");
        hours.set(1, 65_000).await.unwrap();
        assert_eq!(hours.len().await.unwrap(), 2);
        let key = hours.key().to_owned();
        let before = env.backend.get(&key).await.unwrap().unwrap();
        expect_overflow(hours.increment(1, 1_000).await, &key);
        assert_eq!(env.backend.get(&key).await.unwrap().unwrap(), before);
        assert_eq!(hours.get(1).await.unwrap(), 65_000);
        assert_default_ttl(hours.ttl().await).await;
        // A slot past the end reads as 0, so an increment there always fits, and grows it.
        assert_eq!(hours.increment(9, 65_535).await.unwrap(), 65_535);
        assert_eq!(hours.len().await.unwrap(), 10);
    }

    /// Every native type's operations on a key of another kind are `WrongType` naming the key.
    pub async fn native_wrong_type(env: Env) {
        let n = natives(&env);
        for tail in ["n:jobs", "n:board", "n:profile"] {
            env.raw_set(tail, b"a string").await;
        }
        let jobs_key = env.key("n:jobs");
        expect_wrong_type(n.jobs().push_back(&note("x")).await, &jobs_key);
        expect_wrong_type(n.jobs().pop_front().await, &jobs_key);
        expect_wrong_type(n.jobs().range(0, -1).await, &jobs_key);
        expect_wrong_type(n.jobs().len().await, &jobs_key);
        expect_wrong_type(n.jobs().trim(0, 1).await, &jobs_key);
        expect_wrong_type(n.jobs().pop_front_blocking(Duration::from_millis(50)).await, &jobs_key);
        let board_key = env.key("n:board");
        expect_wrong_type(n.board().add(&s("a"), 1.0).await, &board_key);
        expect_wrong_type(n.board().score(&s("a")).await, &board_key);
        expect_wrong_type(n.board().range_rev(0, 9).await, &board_key);
        expect_wrong_type(n.board().rank(&s("a")).await, &board_key);
        expect_wrong_type(n.board().increment(&s("a"), 1.0).await, &board_key);
        let profile_key = env.key("n:profile");
        expect_wrong_type(n.profile().get("a").await, &profile_key);
        expect_wrong_type(n.profile().set("a", &note("x")).await, &profile_key);
        expect_wrong_type(n.profile().entries().await, &profile_key);
        expect_wrong_type(n.profile().len().await, &profile_key);
        // Bits and packed integers are strings: a list there is another kind.
        n.jobs().clear().await.unwrap();
        n.jobs().push_back(&note("x")).await.unwrap();
        let wins_key = env.key("n:wins");
        let push = Command::List {
            key: &wins_key,
            op: ListOp::Push {
                end: kvstore::backend::End::Back,
                value: b"x",
                ttl_if_created: None,
            },
        };
        env.backend.execute(push).await.unwrap();
        expect_wrong_type(n.wins().get(0).await, &wins_key);
        expect_wrong_type(n.wins().increment(0, 1).await, &wins_key);
        expect_wrong_type(n.wins().sum(0, 4).await, &wins_key);
        expect_wrong_type(n.wins().len().await, &wins_key);
        // And the string commands see the list as another kind too.
        let e = err(env.backend.get(&wins_key).await, "GET on a list");
        assert!(matches!(e, Error::WrongType { .. }));
    }

    /// `audit()` reads every element, member, field and value of the native containers: valid
    /// ones, invalid ones (an element that breaks the schema, a field that is not an encoded id)
    /// and keys of another kind are counted per pattern; bits and packed integers are any string.
    pub async fn native_audit(env: Env) {
        let n = natives(&env);
        n.jobs().push_back(&note("a")).await.unwrap();
        n.labels().push_back(&label("ok")).await.unwrap();
        n.board().add(&s("p"), 1.0).await.unwrap();
        n.boards().at("w1").add(&label("ok"), 1.0).await.unwrap();
        n.boards().at("w2").add(&label("ok"), 1.0).await.unwrap();
        n.profile().set("f", &note("x")).await.unwrap();
        n.totals().at("1").increment(3, 1).await.unwrap();
        n.flags().set(1, true).await.unwrap();
        n.wins().set(1, 1).await.unwrap();
        n.hourly().at("h").set(1, 1).await.unwrap();
        // An invalid list element, an invalid sorted-set member, a field that is no u64, a
        // string where a map belongs.
        let labels_key = env.key("n:labels");
        let push = Command::List {
            key: &labels_key,
            op: ListOp::Push {
                end: kvstore::backend::End::Back,
                value: br#"{"name":"far too long"}"#,
                ttl_if_created: None,
            },
        };
        env.backend.execute(push).await.unwrap();
        let w2 = env.key("n:boards:w2");
        let add = Command::SortedSet {
            key: &w2,
            op: kvstore::backend::SortedSetOp::Add {
                member: b"not json",
                score: 2.0,
                ttl_if_created: None,
            },
        };
        env.backend.execute(add).await.unwrap();
        let t2 = env.key("n:totals:2");
        let hset = Command::Map {
            key: &t2,
            op: kvstore::backend::MapOp::Set {
                field: "x",
                value: b"1",
                only_if_absent: false,
                ttl_if_created: None,
            },
        };
        env.backend.execute(hset).await.unwrap();
        env.raw_set("n:profile", b"a string").await;

        let report = n.audit().await.unwrap();
        let text = report.to_string();
        // jobs, board, boards:w1, totals:1, flags, wins, hourly:h valid; labels, boards:w2,
        // totals:2 invalid; profile of another kind.
        assert_eq!(report.valid, 7, "{text}");
        assert_eq!(report.invalid, 3, "{text}");
        assert_eq!(report.wrong_type, 1, "{text}");
        assert_eq!(report.unknown, 0, "{text}");
        let pattern = |p: &str| {
            report
                .patterns
                .iter()
                .find(|r| r.pattern == env.key(p))
                .unwrap_or_else(|| panic!("no pattern {p} in {text}"))
        };
        assert_eq!((pattern("n:boards:*").valid, pattern("n:boards:*").invalid), (1, 1));
        assert_eq!(pattern("n:labels").invalid, 1, "{text}");
        assert_eq!(pattern("n:profile").wrong_type, 1, "{text}");
        assert!(report
            .problems
            .iter()
            .any(|p| p.key == labels_key && p.kind == kvstore::ProblemKind::Invalid));
    }

    /// The manifest lists the native kinds with their member/value schemas, the packed integer
    /// type, and default TTLs.
    pub async fn native_manifest(_env: Env) {
        let m = Natives::schema();
        let kind = |p: &str| m[p]["kind"].as_str().map(str::to_owned);
        assert_eq!(kind("jobs").as_deref(), Some("list"));
        assert_eq!(kind("board").as_deref(), Some("sorted_set"));
        assert_eq!(kind("boards:*").as_deref(), Some("sorted_set"));
        assert_eq!(kind("profile").as_deref(), Some("map"));
        assert_eq!(kind("totals:*").as_deref(), Some("map"));
        assert_eq!(kind("flags").as_deref(), Some("bits"));
        assert_eq!(kind("wins").as_deref(), Some("packed_ints"));
        assert_eq!(m["wins"]["int"], "i64");
        assert_eq!(m["hourly:*"]["int"], "u16");
        assert_eq!(m["hourly:*"]["ttl_secs"], 1800);
        assert_eq!(kind("queues:{*}:pending").as_deref(), Some("list"));
        assert!(m["jobs"]["schema"].is_object(), "{m:#}");
        assert!(m["labels"]["schema"].to_string().contains("maxLength"));
        assert!(m["flags"].get("schema").is_none());
    }
}

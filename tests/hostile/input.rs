//! Hostile ids, values and stored bytes, on every backend, and the key length limit.

use super::*;

fn user(name: &str) -> User {
    User {
        name: name.to_owned(),
        email: "a@example.com".to_owned(),
        age: 30,
    }
}

fn note(text: &str) -> Note {
    Note {
        text: text.to_owned(),
        n: 1,
    }
}

/// Ids with every character the key layout escapes, controls, non-ASCII, and look-alikes of other
/// keyspaces and tenants.
fn hostile_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        ":",
        "*",
        "?",
        "[",
        "]",
        "\\",
        "{",
        "}",
        "%",
        "%25",
        "%3A",
        "%%",
        "a:b",
        "a*",
        "*:*",
        "[a-z]*",
        "}{",
        "\\*",
        "..",
        "../x",
        " ",
        "  lead",
        "trail ",
        "\0",
        "a\0b",
        "\r\n",
        "\t",
        "\x1b[31m",
        "\x7f",
        "é",
        "日本語",
        "🦀",
        "e\u{301}",
        "\u{202e}rtl",
        "\u{feff}",
        "NaN",
        "-1",
        "tenants:acme:profile",
        "acme:notes:x",
        "{tag}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ids.push((1u8..32).map(char::from).collect());
    ids.push("x".repeat(900));
    ids
}

/// Every key in the backend with its content (strings, or the members of sets, lists, sorted
/// sets and hashes).
async fn snapshot(b: &dyn Backend) -> BTreeMap<String, String> {
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let mut out = BTreeMap::new();
    for key in b.scan_prefix("").await.expect("scan") {
        let value = match b.get(&key).await {
            Ok(v) => format!("{:?}", v.map(|v| text(&v))),
            Err(Error::WrongType { .. }) => {
                let reads = [
                    Command::Set {
                        key: &key,
                        op: SetOp::Members,
                    },
                    Command::List {
                        key: &key,
                        op: ListOp::Range { start: 0, stop: -1 },
                    },
                    Command::SortedSet {
                        key: &key,
                        op: SortedSetOp::Range {
                            start: 0,
                            stop: -1,
                            rev: false,
                        },
                    },
                    Command::Map {
                        key: &key,
                        op: MapOp::Entries,
                    },
                ];
                let mut found = None;
                for read in reads {
                    match b.execute(read).await {
                        Ok(Reply::Members(m)) => {
                            let mut m: Vec<String> = m.iter().map(|m| text(m)).collect();
                            if matches!(
                                read,
                                Command::Set {
                                    op: SetOp::Members,
                                    ..
                                }
                            ) {
                                m.sort();
                            }
                            found = Some(format!("{} {m:?}", read.name()));
                        }
                        Ok(Reply::Scored(m)) => {
                            let m: Vec<(String, f64)> =
                                m.iter().map(|(m, s)| (text(m), *s)).collect();
                            found = Some(format!("zset {m:?}"));
                        }
                        Ok(Reply::Pairs(p)) => {
                            let mut p: Vec<(String, String)> =
                                p.iter().map(|(f, v)| (text(f), text(v))).collect();
                            p.sort();
                            found = Some(format!("hash {p:?}"));
                        }
                        Err(Error::WrongType { .. }) => continue,
                        other => panic!("snapshot {key}: {other:?}"),
                    }
                    break;
                }
                found.unwrap_or_else(|| panic!("snapshot {key}: of no known kind"))
            }
            Err(e) => panic!("snapshot {key}: {e}"),
        };
        out.insert(key, value);
    }
    out
}

/// The keys whose presence or content differ between two snapshots.
fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[track_caller]
fn expect_invalid_key<T: std::fmt::Debug>(
    r: kvstore::Result<T>,
    want: fn(&InvalidKeyReason) -> bool,
) -> String {
    match r {
        Err(Error::InvalidKey { key, reason }) if want(&reason) => key,
        other => panic!("expected InvalidKey, got {other:?}"),
    }
}

/// The same rules, over any backend. `other` holds data of another store and tenants that no
/// operation here may touch.
async fn hostile_checks(backend: DynBackend, prefix: &str) {
    let b: &dyn Backend = &*backend;
    let shop = Shop::open_with_prefix(backend.clone(), prefix);
    // Neighbours: another store (a prefix that is a string prefix of ours), and tenants whose
    // ids look like globs or prefixes of each other.
    let neighbour = Shop::open_with_prefix(backend.clone(), &format!("{prefix}x"));
    neighbour.users().set("alice", &user("n")).await.unwrap();
    for t in [
        "acme", "acme:x", "acme*", "acm", "acme%3A", "{acme}", "acme}", "ac?e",
    ] {
        shop.tenants().at(t).profile().set(&user(t)).await.unwrap();
        shop.tenants()
            .at(t)
            .notes()
            .at("n1")
            .set(&note(t))
            .await
            .unwrap();
        shop.co().at(t).hits().increment(1).await.unwrap();
    }

    // 1. Hostile ids round-trip, at every level, and each write changes exactly one key.
    for id in hostile_ids() {
        let before = snapshot(b).await;
        shop.users()
            .set(&id, &user(&id))
            .await
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
        assert_eq!(
            shop.users().get(&id).await.unwrap(),
            Some(user(&id)),
            "{id:?}"
        );
        let after = snapshot(b).await;
        let diff = changed(&before, &after);
        assert_eq!(diff.len(), 1, "{id:?} changed {diff:?}");
        assert!(diff[0].starts_with(&format!("{prefix}:users:")), "{diff:?}");
        assert_eq!(diff[0], shop.users().at(&id).key());
        if id.len() > 400 {
            continue; // nested twice, a 900-byte id is over the key limit (checked below)
        }

        let t = shop.tenants().at(&id);
        t.notes().set(&id, &note(&id)).await.unwrap();
        t.tags().add(&id).await.unwrap();
        t.hits().increment(2).await.unwrap();
        let c = shop.co().at(&id);
        c.notes().set(&id, &note(&id)).await.unwrap();
        assert_eq!(t.notes().keys().await.unwrap(), vec![id.clone()]);
        assert_eq!(t.tags().members().await.unwrap(), vec![id.clone()]);
        assert_eq!(c.notes().keys().await.unwrap(), vec![id.clone()]);
        assert_eq!(c.notes().get(&id).await.unwrap(), Some(note(&id)));
        assert_eq!(c.hits().get().await.unwrap(), 0);

        // Clearing the hostile tenant removes its keys and nothing else.
        let before = snapshot(b).await;
        assert_eq!(shop.tenants().at(&id).notes().clear().await.unwrap(), 1);
        let diff = changed(&before, &snapshot(b).await);
        assert_eq!(diff, vec![t.notes().at(&id).key().to_owned()], "{id:?}");
    }
    // Keys come back decoded, each once.
    let mut keys = shop.users().keys().await.unwrap();
    keys.sort();
    let mut want = hostile_ids();
    want.sort();
    assert_eq!(keys, want);
    let mut tenants = shop.tenants().keys().await.unwrap();
    tenants.sort();
    let mut want_tenants: Vec<String> = hostile_ids()
        .into_iter()
        .filter(|id| id.len() <= 400)
        .collect();
    want_tenants.extend(
        [
            "acme", "acme:x", "acme*", "acm", "acme%3A", "{acme}", "acme}", "ac?e",
        ]
        .map(String::from),
    );
    want_tenants.sort();
    want_tenants.dedup();
    assert_eq!(tenants, want_tenants);

    // 2. Empty and over-long ids: InvalidKey naming the key, nothing written or read.
    let before = snapshot(b).await;
    let key = expect_invalid_key(shop.users().set("", &user("e")).await, |r| {
        *r == InvalidKeyReason::EmptyId
    });
    assert_eq!(key, format!("{prefix}:users:"));
    expect_invalid_key(shop.tenants().at("").hits().increment(1).await, |r| {
        *r == InvalidKeyReason::EmptyId
    });
    let long = "k".repeat(10 * 1024);
    for r in [
        shop.users().set(&long, &user("l")).await.map(drop),
        shop.users().get(&long).await.map(drop),
        shop.users().at(&long).remove().await.map(drop),
        shop.tenants().at(&long).profile().set(&user("l")).await,
        shop.tenants().at(&long).notes().clear().await.map(drop),
        shop.tenants()
            .at(&long)
            .tags()
            .add(&"x".to_owned())
            .await
            .map(drop),
        shop.counters().at(&long).increment(1).await.map(drop),
        shop.files().at(&long).set(b"x").await,
        shop.users()
            .set_many([("ok", user("a")), (long.as_str(), user("b"))])
            .await,
        shop.users().get_many(["ok", long.as_str()]).await.map(drop),
    ] {
        let key = expect_invalid_key(r, |r| matches!(r, InvalidKeyReason::KeyTooLong { .. }));
        assert!(key.len() > 1024);
    }
    // A `:`-only id triples in size when encoded: 400 of them are over the limit.
    expect_invalid_key(shop.users().set(&":".repeat(400), &user("c")).await, |r| {
        matches!(r, InvalidKeyReason::KeyTooLong { .. })
    });
    assert_eq!(changed(&before, &snapshot(b).await), Vec::<String>::new());

    // 3. Values over the size limit: refused before anything is sent.
    let limit = b.info().limits.max_value_size;
    let big = "x".repeat(limit);
    let before = snapshot(b).await;
    let r = shop.notes().set("big", &note(&big)).await;
    assert_eq!(
        expect_invalid_key(r, |r| matches!(r, InvalidKeyReason::ValueTooLarge { .. })),
        shop.notes().at("big").key()
    );
    expect_invalid_key(
        shop.files().at("big").set(&vec![0u8; limit + 1]).await,
        |r| matches!(r, InvalidKeyReason::ValueTooLarge { .. }),
    );
    expect_invalid_key(
        shop.notes()
            .set_many([("small", note("s")), ("big", note(&big))])
            .await,
        |r| matches!(r, InvalidKeyReason::ValueTooLarge { .. }),
    );
    expect_invalid_key(shop.tags().add(&note(&big)).await, |r| {
        matches!(r, InvalidKeyReason::ValueTooLarge { .. })
    });
    expect_invalid_key(
        shop.notes().at("m").modify(|_| Some(note(&big))).await,
        |r| matches!(r, InvalidKeyReason::ValueTooLarge { .. }),
    );
    assert_eq!(changed(&before, &snapshot(b).await), Vec::<String>::new());
    // Exactly at the limit is fine.
    shop.files()
        .at("edge")
        .set(&vec![7u8; limit])
        .await
        .unwrap();
    assert_eq!(
        shop.files()
            .at("edge")
            .get()
            .await
            .unwrap()
            .map(|v| v.len()),
        Some(limit)
    );

    // 4. Stored bytes that are random, truncated, not UTF-8, or JSON of the wrong shape: a
    //    typed error naming the key, from every read path, and no write.
    let valid = serde_json::to_vec(&user("v")).unwrap();
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut random = || {
        (0..64)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect::<Vec<u8>>()
    };
    let corrupt: Vec<(&str, Vec<u8>)> = vec![
        ("random1", random()),
        ("random2", random()),
        ("truncated", valid[..valid.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("not-utf8", vec![0xff, 0xfe, b'{', b'}']),
        ("array", b"[1,2,3]".to_vec()),
        ("string", b"\"alice\"".to_vec()),
        ("null", b"null".to_vec()),
        (
            "missing-field",
            br#"{"name":"a","email":"a@example.com"}"#.to_vec(),
        ),
        (
            "bad-email",
            br#"{"name":"a","email":"nope","age":1}"#.to_vec(),
        ),
        (
            "too-old",
            br#"{"name":"a","email":"a@example.com","age":151}"#.to_vec(),
        ),
        (
            "negative",
            br#"{"name":"a","email":"a@example.com","age":-1}"#.to_vec(),
        ),
        (
            "huge-int",
            br#"{"name":"a","email":"a@example.com","age":1e400}"#.to_vec(),
        ),
        ("trailing", [valid.clone(), b"garbage".to_vec()].concat()),
        ("bom", [b"\xef\xbb\xbf".to_vec(), valid.clone()].concat()),
    ];
    for (id, bytes) in &corrupt {
        let key = shop.users().at(*id).key().to_owned();
        assert!(b.set(&key, bytes, Default::default()).await.unwrap());
        let note_key = shop.notes().at(*id).key().to_owned();
        assert!(b.set(&note_key, bytes, Default::default()).await.unwrap());
        let before = snapshot(b).await;
        let reads: Vec<(&str, Error, &str)> = vec![
            ("get", shop.users().get(*id).await.unwrap_err(), &key),
            (
                "at.get",
                shop.users().at(*id).get().await.unwrap_err(),
                &key,
            ),
            (
                "get_many",
                shop.users().get_many(["nope", id]).await.unwrap_err(),
                &key,
            ),
            (
                "modify",
                shop.users().at(*id).modify(|u| u).await.unwrap_err(),
                &key,
            ),
            (
                "structural get",
                shop.notes().get(*id).await.unwrap_err(),
                &note_key,
            ),
            ("entries", shop.notes().entries().await.unwrap_err(), ""),
        ];
        for (what, e, key) in reads {
            assert!(
                matches!(e, Error::Decode { .. } | Error::Validation { .. }),
                "{id}: {what}: {e:?}"
            );
            let named = e.key().unwrap();
            if key.is_empty() {
                // entries(): some corrupt key of this keyspace.
                assert!(named.starts_with(&format!("{prefix}:notes:")), "{e}");
            } else {
                assert_eq!(named, key, "{id}: {what}");
            }
            assert!(e.to_string().contains(named));
        }
        assert_eq!(
            changed(&before, &snapshot(b).await),
            Vec::<String>::new(),
            "{id}"
        );
        b.delete(&[key, note_key]).await.unwrap();
    }
    // Counters and set members too.
    for bad in [
        &b"1.5"[..],
        b" 1",
        b"+1",
        b"01",
        b"99999999999999999999",
        b"",
        b"\xff",
    ] {
        let c = shop.counters().at("bad");
        b.set(c.key(), bad, Default::default()).await.unwrap();
        assert!(matches!(c.get().await, Err(Error::Decode { ref key, .. }) if key == c.key()));
        assert!(
            matches!(c.increment(1).await, Err(Error::Decode { ref key, .. }) if key == c.key())
        );
        assert_eq!(
            b.get(c.key()).await.unwrap().as_deref(),
            Some(bad),
            "changed by a failed increment"
        );
    }
    let tags_key = shop.tags().key().to_owned();
    b.set_add(&tags_key, b"{\"text\":1}", None).await.unwrap();
    assert!(
        matches!(shop.tags().members().await, Err(Error::Decode { ref key, .. }) if *key == tags_key)
    );
    b.delete(std::slice::from_ref(&tags_key)).await.unwrap();
    // The key holds a value of another kind: WrongType naming the key.
    b.set_add(shop.users().at("kind").key(), b"x", None)
        .await
        .unwrap();
    assert!(
        matches!(shop.users().get("kind").await, Err(Error::WrongType { ref key }) if key == shop.users().at("kind").key())
    );

    // 5. Deeply nested stored bytes (10,000 levels) read as a `serde_json::Value`: a decode
    //    error (serde_json's recursion limit), not a stack overflow.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_key = shop.anything().at("deep").key().to_owned();
    b.set(&deep_key, deep.as_bytes(), Default::default())
        .await
        .unwrap();
    let e = shop.anything().get("deep").await.unwrap_err();
    assert!(
        matches!(&e, Error::Decode { key, .. } if *key == deep_key),
        "{e:?}"
    );
    let e = shop.anything().entries().await.unwrap_err();
    assert!(matches!(&e, Error::Decode { .. }), "{e:?}");

    // The neighbours were never touched.
    assert_eq!(
        neighbour.users().keys().await.unwrap(),
        vec!["alice".to_owned()]
    );
    for t in [
        "acme", "acme:x", "acme*", "acm", "acme%3A", "{acme}", "acme}", "ac?e",
    ] {
        assert_eq!(
            shop.tenants().at(t).profile().get().await.unwrap(),
            Some(user(t))
        );
        assert_eq!(
            shop.tenants().at(t).notes().keys().await.unwrap(),
            vec!["n1".to_owned()]
        );
        assert_eq!(shop.co().at(t).hits().get().await.unwrap(), 1);
    }
    // Clearing one tenant removes exactly its keys.
    let before = snapshot(b).await;
    assert_eq!(shop.tenants().at("acme").notes().clear().await.unwrap(), 1);
    assert_eq!(
        changed(&before, &snapshot(b).await),
        vec![format!("{prefix}:tenants:acme:notes:n1")]
    );
    let before = snapshot(b).await;
    let removed = shop.co().clear().await.unwrap();
    let diff = changed(&before, &snapshot(b).await);
    assert_eq!(removed, diff.len());
    assert!(
        diff.iter()
            .all(|k| k.starts_with(&format!("{prefix}:co:{{"))),
        "{diff:?}"
    );
}

#[derive(Store)]
struct Natives {
    lists: Dynamic<ListOf<Note>>,
    boards: Dynamic<SortedSetOf<String>>,
    maps: Dynamic<MapOf<String, Note>>,
    flags: Dynamic<Bits>,
    ints: Dynamic<PackedInts<i32>>,
}

/// Hostile ids, fields, members, values, offsets, indexes and timeouts on the native types: each
/// round-trips or is a typed error naming the key, and nothing outside its own key changes.
async fn hostile_native_checks(backend: DynBackend, prefix: &str) {
    let b: &dyn Backend = &*backend;
    let n = Natives::open_with_prefix(backend.clone(), prefix);
    let limit = b.info().limits.max_value_size;
    for id in hostile_ids() {
        let list = n.lists().at(id.as_str());
        list.push_back(&note(&id)).await.unwrap();
        assert_eq!(
            list.range(i64::MIN, i64::MAX).await.unwrap(),
            vec![note(&id)],
            "{id:?}"
        );
        let board = n.boards().at(id.as_str());
        board.add(&id, 1.0).await.unwrap();
        assert_eq!(
            board.range_rev(0, -1).await.unwrap(),
            vec![(id.clone(), 1.0)]
        );
        assert_eq!(board.rank(&id).await.unwrap(), Some(0));
        let map = n.maps().at(id.as_str());
        map.set(id.as_str(), &note(&id)).await.unwrap();
        assert_eq!(map.fields().await.unwrap(), vec![id.clone()], "{id:?}");
        assert_eq!(map.get(id.as_str()).await.unwrap(), Some(note(&id)));
        n.flags().at(id.as_str()).set(9, true).await.unwrap();
        n.ints().at(id.as_str()).increment(3, -7).await.unwrap();
    }
    let mut ids = n.lists().keys().await.unwrap();
    ids.sort();
    let mut want = hostile_ids();
    want.sort();
    assert_eq!(ids, want, "every hostile id decodes back");
    assert_eq!(n.ints().count().await.unwrap(), want.len());

    let before = snapshot(b).await;
    let list = n.lists().at("victim");
    let key = list.key().to_owned();
    // Over the value limit, empty ids and fields, oversized fields: typed errors, no write.
    let big = note(&"x".repeat(limit));
    let e = list.push_back(&big).await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidKey { key: k, reason: InvalidKeyReason::ValueTooLarge { .. } } if *k == key),
        "{e:?}"
    );
    let board = n.boards().at("victim");
    let e = board.add(&"y".repeat(limit), 1.0).await.unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e:?}");
    assert!(matches!(
        board.add(&"m".to_owned(), f64::NAN).await,
        Err(Error::Validation { .. })
    ));
    let map = n.maps().at("victim");
    let e = map.set("", &note("x")).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidKey {
                reason: InvalidKeyReason::EmptyId,
                ..
            }
        ),
        "{e:?}"
    );
    let e = map
        .set("f".repeat(5000).as_str(), &note("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidKey {
                reason: InvalidKeyReason::KeyTooLong { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let e = map
        .set_many([("ok", note("fine")), ("huge", big.clone())])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e:?}");
    let e = n.lists().at("").push_back(&note("x")).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidKey {
                reason: InvalidKeyReason::EmptyId,
                ..
            }
        ),
        "{e:?}"
    );
    // Offsets past the size limit are refused before anything is sent; reads past the end are
    // zero, however far.
    let flags = n.flags().at("victim");
    for offset in [u64::MAX, u64::MAX / 2, (limit as u64) * 8] {
        let e = flags.set(offset, true).await.unwrap_err();
        assert!(matches!(e, Error::InvalidKey { .. }), "{offset}: {e:?}");
        assert!(!flags.get(offset).await.unwrap());
    }
    let ints = n.ints().at("victim");
    for index in [u64::MAX, u64::MAX / 4, limit as u64] {
        assert!(
            matches!(ints.set(index, 1).await, Err(Error::InvalidKey { .. })),
            "{index}"
        );
        assert!(matches!(
            ints.increment(index, 1).await,
            Err(Error::InvalidKey { .. })
        ));
        assert_eq!(ints.get(index).await.unwrap(), 0);
        assert_eq!(ints.sum(index, u64::MAX).await.unwrap(), 0);
    }
    assert_eq!(ints.sum(0, u64::MAX).await.unwrap(), 0);
    // Extreme indexes and an absurd timeout on an empty list.
    assert_eq!(list.range(i64::MIN, i64::MIN).await.unwrap(), vec![]);
    list.trim(i64::MAX, i64::MIN).await.unwrap();
    assert_eq!(board.range_rev(i64::MIN, i64::MAX).await.unwrap(), vec![]);
    assert_eq!(
        board
            .range_by_score(f64::INFINITY, f64::NEG_INFINITY)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        list.pop_front_blocking(Duration::from_nanos(1))
            .await
            .unwrap(),
        None
    );
    let long = tokio::time::timeout(
        Duration::from_millis(300),
        list.pop_front_blocking(Duration::MAX),
    )
    .await;
    assert!(long.is_err(), "a year-long wait is still waiting");
    assert_eq!(changed(&before, &snapshot(b).await), Vec::<String>::new());

    // Clearing one id's list touches exactly that key.
    let before = snapshot(b).await;
    assert!(n.lists().at("a*").clear().await.unwrap());
    assert_eq!(
        changed(&before, &snapshot(b).await),
        vec![n.lists().at("a*").key().to_owned()]
    );
}

#[tokio::test]
async fn hostile_input_memory() {
    let running = backends::start(Kind::Memory, Options::default()).await;
    hostile_checks(running.backend.clone(), "hm").await;
    hostile_native_checks(running.backend.clone(), "hnm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_redis() {
    let running = backends::start(Kind::Redis, Options::default()).await;
    hostile_checks(running.backend.clone(), "hr").await;
    hostile_native_checks(running.backend.clone(), "hnr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_cluster() {
    let running = backends::start(Kind::Cluster, Options::default()).await;
    hostile_checks(running.backend.clone(), "hc").await;
    hostile_native_checks(running.backend.clone(), "hnc").await;
}

/// An invalid root prefix: every operation is `InvalidKey` (`BadName`), nothing is written.
#[tokio::test]
async fn hostile_prefix_is_refused() {
    let backend = MemoryBackend::new();
    for prefix in ["a b", "a*", "a:", ":a", "a::b", "{a}", "a\0"] {
        let shop = Shop::open_with_prefix(backend.clone(), prefix);
        let r = shop.users().set("x", &user("x")).await;
        expect_invalid_key(r, |r| matches!(r, InvalidKeyReason::BadName(_)));
        let r = shop.tenants().keys().await;
        expect_invalid_key(r, |r| matches!(r, InvalidKeyReason::BadName(_)));
    }
    assert!(backend.scan_prefix("").await.unwrap().is_empty());
}

/// The key layout: "an encoded key over 1024 bytes is `InvalidKey`" — also when the id itself fits
/// and the static segments after it push the key over the limit.
#[tokio::test]
async fn nested_key_over_the_limit_is_invalid_key() {
    let backend = MemoryBackend::new();
    let shop = Shop::open_with_prefix(backend.clone(), "p");
    // `p:tenants:<id>` is exactly 1024 bytes; `p:tenants:<id>:profile` is 1032.
    let id = "t".repeat(1024 - "p:tenants:".len());
    let profile = shop.tenants().at(id.as_str()).profile().clone();
    assert_eq!(profile.key().len(), 1032);
    let r = profile.set(&user("x")).await;
    let stored = backend.scan_prefix("").await.unwrap();
    assert!(
        matches!(r, Err(Error::InvalidKey { .. })),
        "a {}-byte key was accepted ({r:?}); stored: {:?}",
        profile.key().len(),
        stored.iter().map(String::len).collect::<Vec<_>>()
    );
}

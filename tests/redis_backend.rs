//! Backend-level tests of `RedisBackend` and `RedisClusterBackend` against real servers spawned
//! by `support` (a standalone `redis-server`, and a 3-primary Redis Cluster), through the
//! `kvstore::backend::Backend` trait directly.

mod support;

use kvstore::backend::BackendExt as _;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use kvstore::{
    backend::{Backend, KeyTtl, SetOptions, Swap},
    BackendErrorKind, Error, InvalidKeyReason, PartialWriteError, RedisBackend,
    RedisClusterBackend,
};
use support::{RedisCluster, RedisServer, Resp};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn kind(e: &Error) -> Option<BackendErrorKind> {
    match e {
        Error::Backend(b) => Some(b.kind()),
        _ => None,
    }
}

fn plain() -> SetOptions {
    SetOptions::default()
}

fn with_ttl(ttl: Duration) -> SetOptions {
    SetOptions {
        ttl: Some(ttl),
        ..SetOptions::default()
    }
}

fn nx() -> SetOptions {
    SetOptions {
        ttl: None,
        only_if_absent: true,
        ..SetOptions::default()
    }
}

fn expires(ttl: KeyTtl) -> Duration {
    match ttl {
        KeyTtl::Expires(d) => d,
        other => panic!("expected a TTL, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Semantics, shared by the standalone and the cluster backend. Every function uses its own
// namespace `ns`, so they can share a server.
// ---------------------------------------------------------------------------------------------

async fn strings(b: &dyn Backend, ns: &str) -> R {
    let k = format!("{ns}s");
    assert_eq!(b.get(&k).await?, None);
    assert!(b.set(&k, b"one", plain()).await?);
    assert_eq!(b.get(&k).await?.as_deref(), Some(&b"one"[..]));
    // Binary-safe, empty values included.
    let binary = [0u8, 255, 13, 10, 0, 128];
    assert!(b.set(&k, &binary, plain()).await?);
    assert_eq!(b.get(&k).await?.as_deref(), Some(&binary[..]));
    assert!(b.set(&k, b"", plain()).await?);
    assert_eq!(b.get(&k).await?.as_deref(), Some(&b""[..]));

    // NX writes only when absent.
    assert!(!b.set(&k, b"two", nx()).await?);
    assert_eq!(b.get(&k).await?.as_deref(), Some(&b""[..]));
    let fresh = format!("{ns}nx");
    assert!(b.set(&fresh, b"first", nx()).await?);
    assert_eq!(b.get(&fresh).await?.as_deref(), Some(&b"first"[..]));
    let nx_ttl = SetOptions {
        ttl: Some(Duration::from_secs(60)),
        only_if_absent: true,
        ..SetOptions::default()
    };
    let fresh2 = format!("{ns}nx2");
    assert!(b.set(&fresh2, b"x", nx_ttl).await?);
    assert!(expires(b.ttl(&fresh2).await?) > Duration::from_secs(50));

    // SET replaces the TTL; without one, the key becomes persistent.
    assert!(b.set(&k, b"t", with_ttl(Duration::from_secs(100))).await?);
    let ttl = expires(b.ttl(&k).await?);
    assert!(
        ttl > Duration::from_secs(90) && ttl <= Duration::from_secs(100),
        "{ttl:?}"
    );
    assert!(b.set(&k, b"p", plain()).await?);
    assert_eq!(b.ttl(&k).await?, KeyTtl::Persistent);

    // Sub-millisecond TTLs round up instead of becoming 0; a zero TTL is refused.
    let tiny = format!("{ns}tiny");
    assert!(
        b.set(&tiny, b"x", with_ttl(Duration::from_nanos(1)))
            .await?
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(b.get(&tiny).await?, None);

    // A SET replaces a value of another kind.
    let set_key = format!("{ns}was-a-set");
    assert!(b.set_add(&set_key, b"m", None).await?);
    assert!(b.set(&set_key, b"now a string", plain()).await?);
    assert_eq!(
        b.get(&set_key).await?.as_deref(),
        Some(&b"now a string"[..])
    );
    Ok(())
}

async fn expiry(b: &dyn Backend, ns: &str) -> R {
    let k = format!("{ns}e");
    assert!(b.set(&k, b"v", with_ttl(Duration::from_millis(80))).await?);
    assert!(b.exists(&k).await?);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.get(&k).await?, None);
    assert!(!b.exists(&k).await?);
    assert_eq!(b.ttl(&k).await?, KeyTtl::Missing);
    assert_eq!(b.get_many(std::slice::from_ref(&k)).await?, vec![None]);
    assert!(b.scan_prefix(&k).await?.is_empty());

    // expire / persist / ttl.
    let p = format!("{ns}p");
    assert!(!b.expire(&p, Duration::from_secs(5)).await?, "missing key");
    assert!(!b.persist(&p).await?, "missing key");
    assert_eq!(b.ttl(&p).await?, KeyTtl::Missing);
    b.set(&p, b"v", plain()).await?;
    assert_eq!(b.ttl(&p).await?, KeyTtl::Persistent);
    assert!(!b.persist(&p).await?, "no TTL to remove");
    assert!(b.expire(&p, Duration::from_secs(30)).await?);
    let ttl = expires(b.ttl(&p).await?);
    assert!(
        ttl > Duration::from_secs(25) && ttl <= Duration::from_secs(30),
        "{ttl:?}"
    );
    assert!(b.persist(&p).await?);
    assert_eq!(b.ttl(&p).await?, KeyTtl::Persistent);
    // A sub-millisecond TTL is 1 ms, not "delete now".
    assert!(b.expire(&p, Duration::from_micros(10)).await?);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!b.exists(&p).await?);
    // A zero TTL deletes the key and says whether it existed.
    b.set(&p, b"v", plain()).await?;
    assert!(b.expire(&p, Duration::ZERO).await?);
    assert!(!b.exists(&p).await?);
    assert!(!b.expire(&p, Duration::ZERO).await?);
    // Sets expire too.
    let s = format!("{ns}set");
    b.set_add(&s, b"m", None).await?;
    assert!(b.expire(&s, Duration::from_secs(9)).await?);
    assert!(expires(b.ttl(&s).await?) <= Duration::from_secs(9));
    Ok(())
}

async fn many(b: &dyn Backend, ns: &str) -> R {
    assert!(b.get_many(&[]).await?.is_empty());
    b.set_many(&[], None).await?;
    b.set_many(&[], Some(Duration::from_secs(1))).await?;

    let names: Vec<String> = (0..60).map(|i| format!("{ns}m{i}")).collect();
    let entries: Vec<(String, Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), format!("v{i}").into_bytes()))
        .collect();
    b.set_many(&entries, None).await?;
    for k in &names {
        assert_eq!(b.ttl(k).await?, KeyTtl::Persistent);
    }

    // Order kept; missing keys and keys of another kind read as None.
    let set_key = format!("{ns}a-set");
    b.set_add(&set_key, b"m", None).await?;
    let mut query: Vec<String> = names.iter().rev().cloned().collect();
    query.insert(7, format!("{ns}missing"));
    query.insert(20, set_key.clone());
    query.push(names[3].clone()); // a key twice
    let got = b.get_many(&query).await?;
    assert_eq!(got.len(), query.len());
    for (k, v) in query.iter().zip(&got) {
        let expected = names
            .iter()
            .position(|n| n == k)
            .map(|i| format!("v{i}").into_bytes());
        assert_eq!(v, &expected, "{k}");
    }

    // With a TTL, every key gets it (replacing no TTL), and the values are replaced.
    let entries: Vec<(String, Vec<u8>)> =
        names.iter().map(|k| (k.clone(), b"ttl".to_vec())).collect();
    b.set_many(&entries, Some(Duration::from_secs(50))).await?;
    for k in &names {
        let ttl = expires(b.ttl(k).await?);
        assert!(ttl > Duration::from_secs(40), "{k}: {ttl:?}");
        assert_eq!(b.get(k).await?.as_deref(), Some(&b"ttl"[..]));
    }
    // Without a TTL, it is removed again (SET semantics).
    b.set_many(&entries[..5], None).await?;
    assert_eq!(b.ttl(&names[0]).await?, KeyTtl::Persistent);
    // Entries can replace a set.
    b.set_many(&[(set_key.clone(), b"str".to_vec())], None)
        .await?;
    assert_eq!(b.get(&set_key).await?.as_deref(), Some(&b"str"[..]));

    // delete: how many existed, of any kind.
    let mut doomed = names[..10].to_vec();
    doomed.push(format!("{ns}missing"));
    doomed.push(set_key.clone());
    b.set_add(&format!("{ns}s2"), b"x", None).await?;
    doomed.push(format!("{ns}s2"));
    assert_eq!(b.delete(&doomed).await?, 12);
    assert_eq!(b.delete(&doomed).await?, 0);
    assert_eq!(b.delete(&[]).await?, 0);
    assert_eq!(b.get(&names[0]).await?, None);
    assert!(b.exists(&names[10]).await?);
    Ok(())
}

async fn cas(b: &dyn Backend, ns: &str) -> R {
    let k = format!("{ns}c");
    // Create: expected None, with a TTL for the created key.
    assert!(
        b.compare_and_swap(&k, None, Some(b"1"), Some(Duration::from_secs(100)))
            .await?
    );
    assert_eq!(b.get(&k).await?.as_deref(), Some(&b"1"[..]));
    let created_ttl = expires(b.ttl(&k).await?);
    assert!(created_ttl > Duration::from_secs(90));
    // Expected None but the key exists: no change.
    assert!(!b.compare_and_swap(&k, None, Some(b"x"), None).await?);
    // Mismatch: no change.
    assert!(!b.compare_and_swap(&k, Some(b"2"), Some(b"x"), None).await?);
    assert_eq!(b.get(&k).await?.as_deref(), Some(&b"1"[..]));
    // Replace keeps the remaining TTL (KEEPTTL), and ttl_if_created does not apply.
    assert!(
        b.compare_and_swap(&k, Some(b"1"), Some(b"2"), Some(Duration::from_secs(5)))
            .await?
    );
    assert_eq!(b.get(&k).await?.as_deref(), Some(&b"2"[..]));
    let kept = expires(b.ttl(&k).await?);
    assert!(kept > Duration::from_secs(80), "KEEPTTL: {kept:?}");
    // A persistent key stays persistent.
    let p = format!("{ns}cp");
    b.set(&p, b"a", plain()).await?;
    assert!(b.compare_and_swap(&p, Some(b"a"), Some(b"b"), None).await?);
    assert_eq!(b.ttl(&p).await?, KeyTtl::Persistent);
    // Created without a TTL: persistent.
    let q = format!("{ns}cq");
    assert!(b.compare_and_swap(&q, None, Some(b"q"), None).await?);
    assert_eq!(b.ttl(&q).await?, KeyTtl::Persistent);
    // Binary comparison (no string coercion).
    let bin = format!("{ns}cbin");
    b.set(&bin, &[0, 1, 2], plain()).await?;
    assert!(!b.compare_and_swap(&bin, Some(&[0, 1]), None, None).await?);
    assert!(
        b.compare_and_swap(&bin, Some(&[0, 1, 2]), Some(&[]), None)
            .await?
    );
    assert_eq!(b.get(&bin).await?.as_deref(), Some(&[][..]));
    // Delete with new = None.
    assert!(b.compare_and_swap(&k, Some(b"2"), None, None).await?);
    assert!(!b.exists(&k).await?);
    // Expected a value on a missing key: no change.
    assert!(!b.compare_and_swap(&k, Some(b"2"), Some(b"3"), None).await?);
    assert!(!b.exists(&k).await?);
    // Missing, expected missing, delete: nothing to do, and it matched.
    assert!(b.compare_and_swap(&k, None, None, None).await?);
    assert!(!b.exists(&k).await?);
    // compare_and_swap_or_get: the stored value comes back with a lost swap.
    let g = format!("{ns}cget");
    assert_eq!(
        b.compare_and_swap_or_get(&g, Some(b"x"), Some(b"y"), None)
            .await?,
        Swap::Current(None)
    );
    assert_eq!(
        b.compare_and_swap_or_get(&g, None, Some(&[0, 255]), Some(Duration::from_secs(60)))
            .await?,
        Swap::Done
    );
    assert!(expires(b.ttl(&g).await?) > Duration::from_secs(50));
    assert_eq!(
        b.compare_and_swap_or_get(&g, None, Some(b"z"), None)
            .await?,
        Swap::Current(Some(vec![0, 255]))
    );
    assert_eq!(
        b.compare_and_swap_or_get(&g, Some(b"nope"), None, None)
            .await?,
        Swap::Current(Some(vec![0, 255]))
    );
    assert_eq!(
        b.compare_and_swap_or_get(&g, Some(&[0, 255]), Some(b""), None)
            .await?,
        Swap::Done
    );
    assert!(
        expires(b.ttl(&g).await?) > Duration::from_secs(50),
        "KEEPTTL"
    );
    assert_eq!(
        b.compare_and_swap_or_get(&g, Some(b"x"), None, None)
            .await?,
        Swap::Current(Some(Vec::new()))
    );
    assert_eq!(
        b.compare_and_swap_or_get(&g, Some(b""), None, None).await?,
        Swap::Done
    );
    assert!(!b.exists(&g).await?);
    // A set under the key: WrongType, untouched.
    let s = format!("{ns}cset");
    b.set_add(&s, b"m", None).await?;
    let err = b
        .compare_and_swap(&s, None, Some(b"x"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongType { key } if key == &s),
        "{err:?}"
    );
    let err = b
        .compare_and_swap_or_get(&s, None, Some(b"x"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongType { key } if key == &s),
        "{err:?}"
    );
    assert!(b.set_contains(&s, b"m").await?);
    Ok(())
}

async fn counters(b: &dyn Backend, ns: &str) -> R {
    let k = format!("{ns}n");
    assert_eq!(b.increment(&k, 5, None).await?, 5);
    assert_eq!(b.increment(&k, -7, None).await?, -2);
    assert_eq!(b.get(&k).await?.as_deref(), Some(&b"-2"[..]));
    assert_eq!(b.ttl(&k).await?, KeyTtl::Persistent);
    // ttl_if_created only applies when the counter is created ...
    assert_eq!(b.increment(&k, 1, Some(Duration::from_secs(9))).await?, -1);
    assert_eq!(b.ttl(&k).await?, KeyTtl::Persistent);
    let w = format!("{ns}window");
    assert_eq!(b.increment(&w, 1, Some(Duration::from_secs(60))).await?, 1);
    let first = expires(b.ttl(&w).await?);
    assert!(first > Duration::from_secs(50));
    // ... and an existing counter keeps its TTL.
    assert_eq!(b.increment(&w, 1, Some(Duration::from_secs(5))).await?, 2);
    assert_eq!(b.increment(&w, 1, None).await?, 3);
    assert!(expires(b.ttl(&w).await?) > Duration::from_secs(50));

    // Exact past 2^53, on both paths (Lua numbers are doubles).
    let big = format!("{ns}big");
    let start = (1i64 << 60) + 1;
    assert_eq!(
        b.increment(&big, start, Some(Duration::from_secs(60)))
            .await?,
        start
    );
    assert_eq!(
        b.increment(&big, 2, Some(Duration::from_secs(60))).await?,
        start + 2
    );
    assert_eq!(b.increment(&big, 2, None).await?, start + 4);

    // Overflow: typed, value unchanged.
    let max = format!("{ns}max");
    b.set(&max, i64::MAX.to_string().as_bytes(), plain())
        .await?;
    for ttl in [None, Some(Duration::from_secs(5))] {
        let err = b.increment(&max, 1, ttl).await.unwrap_err();
        assert!(
            matches!(&err, Error::Overflow { key } if key == &max),
            "{err:?}"
        );
    }
    assert_eq!(b.get(&max).await?, Some(i64::MAX.to_string().into_bytes()));
    let min = format!("{ns}min");
    let err = b.increment(&min, i64::MIN, None).await.map(|_| ());
    assert!(err.is_ok());
    let err = b.increment(&min, -1, None).await.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err:?}");

    // Not an integer: Decode naming the key, value unchanged.
    let text = format!("{ns}text");
    for stored in [&b"abc"[..], b"1.5", b"", b"99999999999999999999"] {
        b.set(&text, stored, plain()).await?;
        for ttl in [None, Some(Duration::from_secs(5))] {
            let err = b.increment(&text, 1, ttl).await.unwrap_err();
            assert!(
                matches!(&err, Error::Decode { key, .. } if key == &text),
                "{err:?}"
            );
            assert_eq!(b.get(&text).await?.as_deref(), Some(stored));
        }
    }
    // A set: WrongType.
    let s = format!("{ns}nset");
    b.set_add(&s, b"m", None).await?;
    for ttl in [None, Some(Duration::from_secs(5))] {
        let err = b.increment(&s, 1, ttl).await.unwrap_err();
        assert!(
            matches!(&err, Error::WrongType { key } if key == &s),
            "{err:?}"
        );
    }
    Ok(())
}

/// Redis cannot store a zero TTL, so the Redis backends refuse it on every write, naming the key,
/// and write nothing (handles refuse it before calling any backend).
async fn zero_ttls(b: &dyn Backend, ns: &str) -> R {
    let zero = Some(Duration::ZERO);
    let k = format!("{ns}zero");
    let check = |r: Result<(), Error>| match r {
        Err(Error::InvalidTtl { key, ttl }) => {
            assert_eq!((key.as_str(), ttl), (k.as_str(), Duration::ZERO))
        }
        other => panic!("expected InvalidTtl, got {other:?}"),
    };
    check(b.set(&k, b"x", with_ttl(Duration::ZERO)).await.map(|_| ()));
    check(b.set_many(&[(k.clone(), b"1".to_vec())], zero).await);
    check(
        b.compare_and_swap(&k, None, Some(b"r"), zero)
            .await
            .map(|_| ()),
    );
    check(b.increment(&k, 1, zero).await.map(|_| ()));
    check(b.set_add(&k, b"m", zero).await.map(|_| ()));
    assert!(!b.exists(&k).await?);
    Ok(())
}

async fn sets(b: &dyn Backend, ns: &str) -> R {
    let k = format!("{ns}set");
    assert_eq!(b.set_len(&k).await?, 0);
    assert!(b.set_members(&k).await?.is_empty());
    assert!(!b.set_contains(&k, b"a").await?);
    assert!(!b.set_remove(&k, b"a").await?);
    assert!(b.set_add(&k, b"a", Some(Duration::from_secs(60))).await?);
    let created = expires(b.ttl(&k).await?);
    assert!(created > Duration::from_secs(50));
    assert!(!b.set_add(&k, b"a", Some(Duration::from_secs(5))).await?);
    assert!(
        b.set_add(&k, &[0, 255], Some(Duration::from_secs(5)))
            .await?
    );
    assert!(b.set_add(&k, b"c", None).await?);
    // An existing set keeps its TTL.
    assert!(expires(b.ttl(&k).await?) > Duration::from_secs(50));
    assert_eq!(b.set_len(&k).await?, 3);
    assert!(b.set_contains(&k, &[0, 255]).await?);
    let mut members = b.set_members(&k).await?;
    members.sort();
    assert_eq!(members, vec![vec![0, 255], b"a".to_vec(), b"c".to_vec()]);
    assert!(b.set_remove(&k, b"a").await?);
    assert!(!b.set_remove(&k, b"a").await?);
    assert!(b.set_remove(&k, &[0, 255]).await?);
    assert!(b.set_remove(&k, b"c").await?);
    // An emptied set disappears.
    assert!(!b.exists(&k).await?);
    assert_eq!(b.ttl(&k).await?, KeyTtl::Missing);
    // Created without a TTL: persistent.
    assert!(b.set_add(&k, b"x", None).await?);
    assert_eq!(b.ttl(&k).await?, KeyTtl::Persistent);

    // WRONGTYPE both ways, naming the key.
    let s = format!("{ns}str");
    b.set(&s, b"v", plain()).await?;
    let wrong = |r: Result<(), Error>, key: &str| match r {
        Err(Error::WrongType { key: k }) if k == key => {}
        other => panic!("expected WrongType for {key}, got {other:?}"),
    };
    wrong(b.set_add(&s, b"m", None).await.map(|_| ()), &s);
    wrong(
        b.set_add(&s, b"m", Some(Duration::from_secs(1)))
            .await
            .map(|_| ()),
        &s,
    );
    wrong(b.set_remove(&s, b"m").await.map(|_| ()), &s);
    wrong(b.set_contains(&s, b"m").await.map(|_| ()), &s);
    wrong(b.set_members(&s).await.map(|_| ()), &s);
    wrong(b.set_len(&s).await.map(|_| ()), &s);
    wrong(b.get(&k).await.map(|_| ()), &k);
    wrong(b.increment(&k, 1, None).await.map(|_| ()), &k);
    assert_eq!(b.get(&s).await?.as_deref(), Some(&b"v"[..]));
    // exists / delete / expire work on any kind.
    assert!(b.exists(&k).await?);
    assert!(b.expire(&k, Duration::from_secs(3)).await?);
    assert!(b.persist(&k).await?);
    assert_eq!(b.delete(std::slice::from_ref(&k)).await?, 1);
    Ok(())
}

async fn scans(b: &dyn Backend, ns: &str) -> R {
    // More keys than one SCAN page, and a sibling keyspace that must not be listed.
    let inside: Vec<String> = (0..2500).map(|i| format!("{ns}scan:{i}")).collect();
    let entries: Vec<(String, Vec<u8>)> =
        inside.iter().map(|k| (k.clone(), b"1".to_vec())).collect();
    for chunk in entries.chunks(500) {
        b.set_many(chunk, None).await?;
    }
    b.set(&format!("{ns}scanner"), b"x", plain()).await?;
    b.set(&format!("{ns}sca"), b"x", plain()).await?;
    b.set_add(&format!("{ns}scan:set"), b"m", None).await?;
    b.set(
        &format!("{ns}scan:gone"),
        b"x",
        with_ttl(Duration::from_millis(30)),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let found = b.scan_prefix(&format!("{ns}scan:")).await?;
    let unique: HashSet<&String> = found.iter().collect();
    assert_eq!(unique.len(), found.len(), "duplicates in scan_prefix");
    let mut expected: HashSet<String> = inside.iter().cloned().collect();
    expected.insert(format!("{ns}scan:set"));
    let found: HashSet<String> = found.into_iter().collect();
    assert_eq!(found, expected);

    // The prefix is a literal: glob characters are escaped.
    let literal = format!("{ns}g*l?o[b]\\:");
    let tricky = [
        format!("{literal}1"),
        format!("{literal}2"),
        format!("{ns}gXl?o[b]\\:3"),
        format!("{ns}g*lXo[b]\\:4"),
        format!("{ns}g*l?ob\\:5"),
        format!("{ns}g*l?o[b]:6"),
        format!("{ns}g*l?o[b]X:7"),
        format!("{ns}g*l?o\\[b]\\:8"),
    ];
    for k in &tricky {
        b.set(k, b"v", plain()).await?;
    }
    let mut found = b.scan_prefix(&literal).await?;
    found.sort();
    assert_eq!(found, tricky[..2].to_vec());
    let none = b.scan_prefix(&format!("{ns}nothing-here:")).await?;
    assert!(none.is_empty());
    Ok(())
}

async fn limits(b: &dyn Backend, ns: &str, limit: usize) -> R {
    assert_eq!(b.info().limits.max_value_size, limit);
    let k = format!("{ns}big");
    let too_big = vec![b'x'; limit + 1];
    let check = |r: Result<(), Error>| match r {
        Err(Error::InvalidKey {
            key,
            reason: InvalidKeyReason::ValueTooLarge { size, limit: l },
        }) => {
            assert_eq!(key, k);
            assert_eq!((size, l), (limit + 1, limit));
        }
        other => panic!("expected ValueTooLarge, got {other:?}"),
    };
    check(b.set(&k, &too_big, plain()).await.map(|_| ()));
    check(b.set_many(&[(k.clone(), too_big.clone())], None).await);
    check(
        b.compare_and_swap(&k, None, Some(&too_big), None)
            .await
            .map(|_| ()),
    );
    check(b.set_add(&k, &too_big, None).await.map(|_| ()));
    assert!(!b.exists(&k).await?);
    assert!(b.set(&k, &too_big[..limit], plain()).await?);
    Ok(())
}

async fn concurrency(b: &dyn Backend, ns: &str) -> R {
    // Concurrent increments and compare-and-swap loops lose no update.
    let counter = format!("{ns}hits");
    let cell = format!("{ns}cell");
    let tasks = (0..8).map(|_| async {
        for _ in 0..25 {
            b.increment(&counter, 1, Some(Duration::from_secs(60)))
                .await?;
            loop {
                let cur = b.get(&cell).await?;
                let n: u64 = match &cur {
                    Some(v) => std::str::from_utf8(v).unwrap().parse().unwrap(),
                    None => 0,
                };
                let next = (n + 1).to_string();
                if b.compare_and_swap(&cell, cur.as_deref(), Some(next.as_bytes()), None)
                    .await?
                {
                    break;
                }
            }
        }
        Ok::<(), Error>(())
    });
    for r in futures_join_all(tasks).await {
        r?;
    }
    assert_eq!(b.increment(&counter, 0, None).await?, 200);
    assert_eq!(b.get(&cell).await?.as_deref(), Some(&b"200"[..]));
    Ok(())
}

/// A tiny join_all (the root package does not depend on `futures`).
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}

async fn all_semantics(b: &dyn Backend, ns: &str) -> R {
    strings(b, &format!("{ns}strings:")).await?;
    expiry(b, &format!("{ns}expiry:")).await?;
    many(b, &format!("{ns}many:")).await?;
    cas(b, &format!("{ns}cas:")).await?;
    counters(b, &format!("{ns}counters:")).await?;
    sets(b, &format!("{ns}sets:")).await?;
    scans(b, &format!("{ns}scans:")).await?;
    concurrency(b, &format!("{ns}conc:")).await?;
    if b.info().name != "memory" {
        zero_ttls(b, &format!("{ns}zero:")).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Standalone.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn standalone_semantics() -> R {
    let server = RedisServer::start();
    let b = RedisBackend::connect(&server.url()).await?;
    assert_eq!(b.info().name, "redis");
    all_semantics(&b, "t:").await?;
    // Clones share the connection.
    let clone = b.clone();
    clone.set("t:clone", b"v", plain()).await?;
    assert_eq!(b.get("t:clone").await?.as_deref(), Some(&b"v"[..]));
    Ok(())
}

#[tokio::test]
async fn standalone_uses_native_strings_and_sets() -> R {
    // What the backend writes is plain Redis data that redis-cli users see as such.
    let server = RedisServer::start();
    let b = RedisBackend::connect(&server.url()).await?;
    b.set("n:item", br#"{"a":1}"#, with_ttl(Duration::from_secs(100)))
        .await?;
    b.increment("n:counter", 41, None).await?;
    b.set_add("n:set", b"m", None).await?;
    assert_eq!(
        server.cmd(&["TYPE", "n:item"]),
        Resp::Simple("string".into())
    );
    assert_eq!(server.cmd(&["GET", "n:item"]).text(), r#"{"a":1}"#);
    assert_eq!(server.cmd(&["TYPE", "n:set"]), Resp::Simple("set".into()));
    assert_eq!(server.cmd(&["INCRBY", "n:counter", "1"]), Resp::Int(42));
    assert_eq!(b.increment("n:counter", 0, None).await?, 42);
    // Lua scripts are cached by SHA: after SCRIPT FLUSH, EVALSHA falls back to loading them.
    b.compare_and_swap("n:cas", None, Some(b"1"), Some(Duration::from_secs(5)))
        .await?;
    assert_eq!(server.cmd(&["SCRIPT", "FLUSH"]), Resp::Simple("OK".into()));
    assert!(
        b.compare_and_swap("n:cas", Some(b"1"), Some(b"2"), None)
            .await?
    );
    Ok(())
}

#[tokio::test]
async fn standalone_value_limit_is_configurable() -> R {
    let server = RedisServer::start();
    let b = RedisBackend::builder(&server.url())
        .max_value_size(64)
        .build()
        .await?;
    limits(&b, "lim:", 64).await?;
    let default = RedisBackend::connect(&server.url()).await?;
    assert_eq!(default.info().limits.max_value_size, 1024 * 1024);
    Ok(())
}

#[tokio::test]
async fn standalone_reconnects_after_restart() -> R {
    let mut server = RedisServer::start();
    let response_timeout = Duration::from_millis(800);
    let b = RedisBackend::builder(&server.url())
        .response_timeout(response_timeout)
        .connect_timeout(Duration::from_millis(300))
        .build()
        .await?;
    b.set("r:k", b"before", plain()).await?;

    server.kill();
    // Every call fails fast with a typed error while the server is down.
    for _ in 0..3 {
        let started = Instant::now();
        let err = b.get("r:k").await.unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(
                kind(&err),
                Some(BackendErrorKind::Connection | BackendErrorKind::Timeout)
            ),
            "{err:?}"
        );
        assert_eq!(err.key(), Some("r:k"));
        assert!(
            took < response_timeout + Duration::from_millis(400),
            "took {took:?}"
        );
    }
    let err = b.increment("r:n", 1, None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Backend(e) if e.is_transient()),
        "{err:?}"
    );

    server.restart();
    // The next call succeeds: no reconnection by hand (the data is gone: no persistence).
    assert_eq!(b.get("r:k").await?, None);
    assert!(b.set("r:k", b"after", plain()).await?);
    assert_eq!(b.get("r:k").await?.as_deref(), Some(&b"after"[..]));

    // A restart while idle: the next call succeeds.
    b.set("r:k", b"again", plain()).await?;
    server.restart();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.get("r:k").await?, None);

    // An outage longer than all the reconnection attempts, nobody calling meanwhile.
    b.set("r:k", b"again", plain()).await?;
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    assert!(b.set("r:k", b"back", plain()).await?);
    assert_eq!(b.get("r:k").await?.as_deref(), Some(&b"back"[..]));
    Ok(())
}

#[tokio::test]
async fn standalone_response_timeout() -> R {
    let server = RedisServer::start();
    let b = RedisBackend::builder(&server.url())
        .response_timeout(Duration::from_millis(300))
        .build()
        .await?;
    b.set("slow:k", b"v", plain()).await?;
    // Every client is paused for 1.5 s: the call gives up after the response timeout.
    assert_eq!(
        server.cmd(&["CLIENT", "PAUSE", "1500", "ALL"]),
        Resp::Simple("OK".into())
    );
    let started = Instant::now();
    let err = b.get("slow:k").await.unwrap_err();
    assert_eq!(kind(&err), Some(BackendErrorKind::Timeout), "{err:?}");
    assert_eq!(err.key(), Some("slow:k"));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.get("slow:k").await?.as_deref(), Some(&b"v"[..]));
    Ok(())
}

#[tokio::test]
async fn standalone_auth_errors_are_fast_and_typed() -> R {
    let server = RedisServer::builder()
        .password("s3cret")
        .acl_user("app", "apppw", "~app:* +@all")
        .acl_user("reader", "readpw", "~* +@read +ping")
        .start();

    for url in [
        format!("redis://:badpw-7731@127.0.0.1:{}", server.port()),
        server.url_without_auth(),
        server.url_as("app", "badpw-7731"),
        server.url_as("nobody", "x"),
    ] {
        let started = Instant::now();
        let err = RedisBackend::connect(&url).await.unwrap_err();
        assert_eq!(kind(&err), Some(BackendErrorKind::Auth), "{url}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        // The password never shows up in errors.
        assert!(!err.to_string().contains("badpw-7731"), "{err}");
    }

    let b = RedisBackend::connect(&server.url()).await?;
    b.set("any:key", b"v", plain()).await?;

    // An ACL user limited to `app:*`: other keys are a Permission error naming the key.
    let app = RedisBackend::connect(&server.url_as("app", "apppw")).await?;
    app.set("app:k", b"v", plain()).await?;
    let err = app.get("other:k").await.unwrap_err();
    assert_eq!(kind(&err), Some(BackendErrorKind::Permission), "{err:?}");
    assert_eq!(err.key(), Some("other:k"));
    // A read-only user: writes (and scripts) are refused.
    let reader = RedisBackend::connect(&server.url_as("reader", "readpw")).await?;
    assert_eq!(reader.get("any:key").await?.as_deref(), Some(&b"v"[..]));
    let err = reader.set("any:key", b"w", plain()).await.unwrap_err();
    assert_eq!(kind(&err), Some(BackendErrorKind::Permission), "{err:?}");
    let err = reader
        .compare_and_swap("any:key", Some(b"v"), Some(b"w"), None)
        .await
        .unwrap_err();
    assert_eq!(kind(&err), Some(BackendErrorKind::Permission), "{err:?}");
    assert_eq!(b.get("any:key").await?.as_deref(), Some(&b"v"[..]));
    Ok(())
}

#[tokio::test]
async fn standalone_connection_errors_are_fast_and_typed() -> R {
    // A port with nothing listening (the server is started and killed: the port is ours).
    let mut server = RedisServer::start();
    let url = server.url();
    server.kill();
    let started = Instant::now();
    let err = RedisBackend::connect(&url).await.unwrap_err();
    assert_eq!(kind(&err), Some(BackendErrorKind::Connection), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // Invalid URLs and databases.
    let err = RedisBackend::connect("redis://127.0.0.1:notaport")
        .await
        .unwrap_err();
    assert_eq!(kind(&err), Some(BackendErrorKind::Other), "{err:?}");
    server.restart();
    let err = RedisBackend::connect(&format!("{url}/99999"))
        .await
        .unwrap_err();
    assert!(kind(&err).is_some(), "{err:?}");
    let db1 = RedisBackend::connect(&format!("{url}/1")).await?;
    db1.set("db:k", b"1", plain()).await?;
    let db0 = RedisBackend::connect(&format!("{url}/0")).await?;
    assert_eq!(db0.get("db:k").await?, None);
    Ok(())
}

#[tokio::test]
async fn standalone_unavailable_server_errors() -> R {
    // READONLY: writing to a replica.
    let primary = RedisServer::start();
    let replica = RedisServer::builder()
        .config(format!("replicaof 127.0.0.1 {}", primary.port()))
        .start();
    let b = RedisBackend::connect(&replica.url()).await?;
    let err = b.set("ro:k", b"v", plain()).await.unwrap_err();
    assert_eq!(kind(&err), Some(BackendErrorKind::Unavailable), "{err:?}");
    assert_eq!(err.key(), Some("ro:k"));

    // BUSY: a script that runs past busy-reply-threshold.
    let busy = RedisServer::builder()
        .config("busy-reply-threshold 100")
        .start();
    let b = RedisBackend::builder(&busy.url())
        .response_timeout(Duration::from_secs(3))
        .build()
        .await?;
    let port = busy.port();
    let blocker = std::thread::spawn(move || {
        let _ = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "EVAL", "while true do end", "0"])
            .output();
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        match b.get("busy:k").await {
            Err(err) => break err,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Ok(_) => panic!("the server never got busy"),
        }
    };
    assert_eq!(kind(&err), Some(BackendErrorKind::Unavailable), "{err:?}");
    assert_eq!(busy.cmd(&["SCRIPT", "KILL"]), Resp::Simple("OK".into()));
    blocker.join().unwrap();
    assert_eq!(b.get("busy:k").await?, None);
    Ok(())
}

#[tokio::test]
async fn connect_by_url() -> R {
    let server = RedisServer::start();
    let b = kvstore::connect(&server.url()).await?;
    assert_eq!(b.info().name, "redis");
    b.set("u:k", b"v", plain()).await?;
    let memory = kvstore::connect("memory://").await?;
    assert_eq!(memory.info().name, "memory");
    assert_eq!(memory.get("u:k").await?, None);
    let Err(err) = kvstore::connect("mysql://localhost").await else {
        panic!("an unknown scheme must fail")
    };
    assert_eq!(kind(&err), Some(BackendErrorKind::Other));
    assert!(err.to_string().contains("redis+cluster://"), "{err}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cluster (3 primaries).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cluster_semantics() -> R {
    let cluster = RedisCluster::start(3, 0);
    let b = RedisClusterBackend::connect(&cluster.urls()).await?;
    assert_eq!(b.info().name, "redis-cluster");
    all_semantics(&b, "t:").await?;
    limits(&b, "lim:", 1024 * 1024).await?;

    // The data is spread over every primary, and scan_prefix saw all of it.
    let counts = cluster.key_counts();
    assert!(counts.iter().all(|&n| n > 100), "{counts:?}");

    // kvstore::connect with a redis+cluster:// URL (one seed node is enough).
    let ports: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    let b2 = kvstore::connect(&format!("redis+cluster://{}", ports.join(","))).await?;
    assert_eq!(b2.info().name, "redis-cluster");
    assert_eq!(b2.get("t:strings:s").await?, b.get("t:strings:s").await?);
    let b3 = kvstore::connect(&format!("redis+cluster://{}", ports[1])).await?;
    assert_eq!(b3.scan_prefix("t:scans:scan:").await?.len(), 2501);
    Ok(())
}

#[tokio::test]
async fn cluster_multi_key_operations_across_slots() -> R {
    let cluster = RedisCluster::start(3, 0);
    let b = RedisClusterBackend::builder(cluster.urls())
        .response_timeout(Duration::from_secs(2))
        .build()
        .await?;
    // Keys on every node, in an order that interleaves slots; a hash-tagged group too.
    let mut names: Vec<String> = (0..300).map(|i| format!("x:{i}")).collect();
    names.extend((0..20).map(|i| format!("x:{{tag}}:{i}")));
    let entries: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|k| (k.clone(), k.as_bytes().to_vec()))
        .collect();
    b.set_many(&entries, None).await?;
    let counts = cluster.key_counts();
    assert!(counts.iter().all(|&n| n > 50), "{counts:?}");
    let got = b.get_many(&names).await?;
    for (k, v) in names.iter().zip(got) {
        assert_eq!(v.as_deref(), Some(k.as_bytes()));
    }
    // With a TTL, per slot (MULTI/EXEC on each node).
    b.set_many(&entries, Some(Duration::from_secs(30))).await?;
    for k in names.iter().step_by(17) {
        assert!(expires(b.ttl(k).await?) > Duration::from_secs(20));
    }
    // Scan sees each key exactly once, from every primary.
    let mut found = b.scan_prefix("x:").await?;
    found.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(found, expected);
    // Delete across slots counts every existing key.
    let mut doomed = names.clone();
    doomed.push("x:missing".into());
    assert_eq!(b.delete(&doomed).await?, names.len());
    assert!(b.scan_prefix("x:").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn cluster_partial_write_names_the_keys() -> R {
    let mut cluster = RedisCluster::start(3, 0);
    for node in cluster.nodes() {
        // The surviving primaries keep serving their slots while one is down.
        node.cmd(&["CONFIG", "SET", "cluster-require-full-coverage", "no"]);
    }
    let b = RedisClusterBackend::builder(cluster.urls())
        .response_timeout(Duration::from_millis(1500))
        .reconnect_attempts(2)
        .build()
        .await?;
    let names: Vec<String> = (0..60).map(|i| format!("pw:{i}")).collect();
    let entries: Vec<(String, Vec<u8>)> =
        names.iter().map(|k| (k.clone(), b"1".to_vec())).collect();
    b.set_many(&entries, None).await?;

    cluster.kill(2);
    let started = Instant::now();
    let err = b
        .set_many(&entries, Some(Duration::from_secs(60)))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let Error::Backend(backend) = &err else {
        panic!("expected a backend error, got {err:?}")
    };
    assert!(backend.is_transient(), "{err:?}");
    let partial = std::error::Error::source(backend)
        .and_then(|s| s.downcast_ref::<PartialWriteError>())
        .unwrap_or_else(|| panic!("no PartialWriteError in {err:?}"));
    assert!(
        !partial.written().is_empty() && !partial.not_written().is_empty(),
        "{partial}"
    );
    assert_eq!(
        partial.written().len() + partial.not_written().len(),
        names.len()
    );
    assert!(partial
        .not_written()
        .contains(&backend.key().unwrap().to_owned()));
    assert!(err.to_string().contains("pw:"), "{err}");
    // The written keys really were written (with the TTL); the others were not.
    for k in partial.written() {
        assert!(expires(b.ttl(k).await?) > Duration::from_secs(50), "{k}");
    }
    Ok(())
}

#[tokio::test]
async fn cluster_follows_a_failover() -> R {
    // 3 primaries with one replica each; the primaries are nodes 0..3.
    let mut cluster = RedisCluster::start(3, 1);
    let b = RedisClusterBackend::builder(cluster.urls())
        .response_timeout(Duration::from_secs(1))
        .build()
        .await?;
    let names: Vec<String> = (0..90).map(|i| format!("fo:{i}")).collect();
    let entries: Vec<(String, Vec<u8>)> =
        names.iter().map(|k| (k.clone(), b"1".to_vec())).collect();
    b.set_many(&entries, None).await?;
    // Every replica has everything before the primary goes away.
    cluster.wait_for_replication(Duration::from_secs(10));

    cluster.kill(0);
    // Calls fail (typed, transient) until the replica is promoted, then succeed with no help.
    let killed = Instant::now();
    let until_ok = |what: &'static str| {
        let b = &b;
        let names = &names;
        let entries = &entries;
        async move {
            loop {
                let result = match what {
                    "get_many" => b.get_many(names).await.map(|values| {
                        assert!(values.iter().all(|v| v.as_deref() == Some(&b"1"[..])));
                    }),
                    _ => b.set_many(entries, Some(Duration::from_secs(60))).await,
                };
                match result {
                    Ok(()) => return,
                    Err(err) => {
                        assert!(
                            matches!(&err, Error::Backend(e) if e.is_transient()),
                            "{what}: {err:?}"
                        );
                        assert!(
                            killed.elapsed() < Duration::from_secs(30),
                            "{what} did not recover after the failover: {err:?}"
                        );
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    };
    until_ok("get_many").await;
    until_ok("set_many").await;
    cluster.wait_until_ok(Duration::from_secs(30));
    // Once the cluster is ok again, everything works at the first try.
    b.set_many(&entries, Some(Duration::from_secs(60))).await?;
    b.set_many(&entries, None).await?;
    assert_eq!(b.get_many(&names).await?.len(), names.len());
    let mut found = b.scan_prefix("fo:").await?;
    found.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(found, expected);
    assert!(
        b.compare_and_swap("fo:0", Some(b"1"), Some(b"2"), None)
            .await?
    );

    // The old primary comes back (same port, same cluster config) and rejoins as a replica.
    cluster.restart(0);
    cluster.wait_until_ok(Duration::from_secs(30));
    let role = cluster.nodes()[0].cmd(&["ROLE"]).text();
    assert!(role.starts_with("slave"), "{role}");
    assert_eq!(b.get_many(&names).await?.len(), names.len());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The in-memory backend keeps the same semantics (the same checks, no server).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn memory_backend_agrees() -> R {
    let b = kvstore::MemoryBackend::new();
    all_semantics(&b, "t:").await
}

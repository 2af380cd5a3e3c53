//! Watching for changes: `Item`, `Counter` and `Dynamic<Item<T>>` streams yield the current
//! value, then each change (writes, removals, expiries), coalesced, never going back in time;
//! a bad stored value is an `Err` naming the key and the stream goes on.

use std::time::Duration;

use futures_util::{Stream, StreamExt};

use super::*;

/// The next item of a watch, or a panic after 10 s.
async fn next<S: Stream + Unpin>(stream: &mut S, what: &str) -> S::Item {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("{what}: the watch ended"),
        Err(_) => panic!("{what}: no change within 10 s"),
    }
}

/// The next change of a `Dynamic` watch, skipping marker ids (`~...`).
async fn next_change<S, T>(stream: &mut S, what: &str) -> Result<(String, Option<T>), Error>
where
    S: Stream<Item = Result<(String, Option<T>), Error>> + Unpin,
{
    loop {
        match next(stream, what).await {
            Ok((id, _)) if id.starts_with('~') => continue,
            other => return other,
        }
    }
}

rules! {
    /// An item's watch yields its current value, then the value after each write and removal.
    pub async fn watch_item_yields_each_change(env: Env) {
        let shop = env.shop();
        let settings = shop.settings();
        settings.set(&Settings::new("dark")).await.unwrap();
        let mut changes = Box::pin(settings.watch());
        assert_eq!(next(&mut changes, "initial").await.unwrap(), Some(Settings::new("dark")));
        settings.set(&Settings::new("light")).await.unwrap();
        assert_eq!(next(&mut changes, "set").await.unwrap(), Some(Settings::new("light")));
        settings.remove().await.unwrap();
        assert_eq!(next(&mut changes, "remove").await.unwrap(), None);
        settings.set(&Settings::new("blue")).await.unwrap();
        assert_eq!(next(&mut changes, "set again").await.unwrap(), Some(Settings::new("blue")));
    }

    /// A consumer that falls behind gets the latest value, never an older one after a newer.
    pub async fn watch_item_coalesces_and_never_goes_back(env: Env) {
        let shop = env.shop();
        let note = shop.stats().last();
        let mut changes = Box::pin(note.watch());
        assert_eq!(next(&mut changes, "initial").await.unwrap(), None);
        for i in 1..=50 {
            note.set(&note_n(i)).await.unwrap();
        }
        let mut last = 0;
        while last < 50 {
            let value = next(&mut changes, "catching up").await.unwrap().unwrap();
            let n: u32 = value.text.parse().unwrap();
            assert!(n > last, "{n} after {last}: a watch went back in time");
            last = n;
        }
    }

    /// A stored value that fails validation is an `Err` naming the key; the stream goes on.
    pub async fn watch_item_bad_value_is_an_error_and_goes_on(env: Env) {
        let shop = env.shop();
        let settings = shop.settings();
        let mut changes = Box::pin(settings.watch());
        assert_eq!(next(&mut changes, "initial").await.unwrap(), None);
        env.raw_set("settings", b"{\"theme\": 42}").await;
        let err = next(&mut changes, "bad value").await.unwrap_err();
        assert_eq!(err.key(), Some(settings.key()), "{err}");
        settings.set(&Settings::new("ok")).await.unwrap();
        assert_eq!(next(&mut changes, "good value").await.unwrap(), Some(Settings::new("ok")));
    }

    /// An expiry is a change: the watch yields `None` when the value's TTL runs out.
    pub async fn watch_item_sees_expiry(env: Env) {
        let shop = env.shop();
        let user = shop.users().at("exp");
        let mut changes = Box::pin(user.watch());
        assert_eq!(next(&mut changes, "initial").await.unwrap(), None);
        // Long enough that a stalled machine still reads it before it expires.
        user.set_with_ttl(&User::new("exp", 1), Duration::from_millis(600))
            .await
            .unwrap();
        assert_eq!(next(&mut changes, "set").await.unwrap(), Some(User::new("exp", 1)));
        env.sleep(Duration::from_millis(800)).await;
        assert_eq!(next(&mut changes, "expiry").await.unwrap(), None);
    }

    /// A counter's watch yields its value (0 when absent) after each change.
    pub async fn watch_counter(env: Env) {
        let shop = env.shop();
        let visits = shop.visits();
        let mut changes = Box::pin(visits.watch());
        assert_eq!(next(&mut changes, "initial").await.unwrap(), 0);
        visits.increment(5).await.unwrap();
        assert_eq!(next(&mut changes, "increment").await.unwrap(), 5);
        visits.decrement(2).await.unwrap();
        assert_eq!(next(&mut changes, "decrement").await.unwrap(), 3);
        visits.remove().await.unwrap();
        assert_eq!(next(&mut changes, "remove").await.unwrap(), 0);
    }

    /// A blob's watch yields its bytes after each change.
    pub async fn watch_blob(env: Env) {
        let shop = env.shop();
        let logo = shop.logo();
        let mut changes = Box::pin(logo.watch());
        assert_eq!(next(&mut changes, "initial").await.unwrap(), None);
        logo.set(b"\x89PNG").await.unwrap();
        assert_eq!(next(&mut changes, "set").await.unwrap().as_deref(), Some(&b"\x89PNG"[..]));
        logo.remove().await.unwrap();
        assert_eq!(next(&mut changes, "remove").await.unwrap(), None);
    }

    /// A set's watch yields its members after each change that changed them.
    pub async fn watch_set(env: Env) {
        let shop = env.shop();
        let tags = shop.tags();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let mut changes = Box::pin(tags.watch());
        assert!(next(&mut changes, "initial").await.unwrap().is_empty());
        tags.add(&"b".to_owned()).await.unwrap();
        tags.add(&"a".to_owned()).await.unwrap();
        let mut seen = sorted(next(&mut changes, "add").await.unwrap());
        if seen.len() < 2 {
            seen = sorted(next(&mut changes, "second add").await.unwrap());
        }
        assert_eq!(seen, ["a", "b"]);
        // Adding a member that is there changes nothing: no item.
        tags.add(&"a".to_owned()).await.unwrap();
        tags.clear().await.unwrap();
        assert!(next(&mut changes, "clear").await.unwrap().is_empty());
    }

    /// Lists, sorted sets, bits and packed integers watch too: the whole value first, then the
    /// value after each change (coalesced: a burst may arrive as its last state).
    pub async fn watch_native_nodes(env: Env) {
        let natives = crate::native::Natives::open_with_prefix(env.backend.clone(), &env.key("n"));
        /// Items until one satisfies `done` (a burst of changes may be seen in steps).
        async fn until<S, T>(changes: &mut S, what: &str, done: impl Fn(&T) -> bool) -> T
        where
            S: Stream<Item = Result<T, Error>> + Unpin,
        {
            loop {
                let value = next(changes, what).await.unwrap();
                if done(&value) {
                    return value;
                }
            }
        }
        let log = natives.log();
        let mut lists = Box::pin(log.watch());
        assert!(next(&mut lists, "list initial").await.unwrap().is_empty());
        log.push_back(&"a".to_owned()).await.unwrap();
        log.push_back(&"b".to_owned()).await.unwrap();
        let seen = until(&mut lists, "pushes", |v: &Vec<String>| v.len() == 2).await;
        assert_eq!(seen, ["a", "b"], "in list order, not sorted");
        log.push_front(&"z".to_owned()).await.unwrap();
        assert_eq!(next(&mut lists, "push_front").await.unwrap(), ["z", "a", "b"]);
        assert_eq!(log.pop_front_many(5).await.unwrap(), ["z", "a", "b"]);
        assert!(until(&mut lists, "emptied", |v: &Vec<String>| v.is_empty()).await.is_empty());

        let board = natives.board();
        let mut boards = Box::pin(board.watch());
        assert!(next(&mut boards, "sorted set initial").await.unwrap().is_empty());
        board.add(&"x".to_owned(), 2.0).await.unwrap();
        board.add(&"y".to_owned(), 1.0).await.unwrap();
        let seen = until(&mut boards, "adds", |v: &Vec<(String, f64)>| v.len() == 2).await;
        assert_eq!(seen, [("y".to_owned(), 1.0), ("x".to_owned(), 2.0)]);

        let flags = natives.flags();
        let mut bits = Box::pin(flags.watch());
        assert!(next(&mut bits, "bits initial").await.unwrap().is_empty());
        flags.set(9, true).await.unwrap();
        flags.set(3, true).await.unwrap();
        assert_eq!(until(&mut bits, "bits", |v: &Vec<u64>| v.len() == 2).await, [3, 9]);

        let small = natives.small();
        let mut slots = Box::pin(small.watch());
        assert!(next(&mut slots, "slots initial").await.unwrap().is_empty());
        small.set(2, -5).await.unwrap();
        assert_eq!(next(&mut slots, "slot").await.unwrap(), [0, 0, -5]);
        small.clear().await.unwrap();
        assert!(next(&mut slots, "cleared").await.unwrap().is_empty());
    }

    /// A map's watch yields its entries after each change.
    pub async fn watch_map(env: Env) {
        let natives = crate::native::Natives::open_with_prefix(env.backend.clone(), &env.key("n"));
        let profile = natives.profile();
        let mut changes = Box::pin(profile.watch());
        assert!(next(&mut changes, "initial").await.unwrap().is_empty());
        profile.set("bio", &note("hi")).await.unwrap();
        assert_eq!(
            next(&mut changes, "set").await.unwrap(),
            [("bio".to_owned(), note("hi"))]
        );
        profile.remove("bio").await.unwrap();
        assert!(next(&mut changes, "remove").await.unwrap().is_empty());
    }

    /// A `Dynamic<Item<T>>` watch yields `(id, value)` per changed id (no initial dump),
    /// removals as `None`, hostile ids decoded, and nothing of a sibling keyspace.
    pub async fn watch_dynamic_yields_changed_ids(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        users.set("before", &User::new("before", 1)).await.unwrap();
        let mut changes = Box::pin(users.watch_ready().await.unwrap());
        // A sibling whose name starts with the same letter, then the watched keyspace.
        shop.u2().set("x", &User::new("x", 1)).await.unwrap();
        let hostile = "a*b?[c]{d}:e";
        users.set(hostile, &User::new("h", 2)).await.unwrap();
        let (id, user) = next_change(&mut changes, "hostile id").await.unwrap();
        assert_eq!((id.as_str(), user), (hostile, Some(User::new("h", 2))));
        users.remove(hostile).await.unwrap();
        let (id, user) = next_change(&mut changes, "removal").await.unwrap();
        assert_eq!((id.as_str(), user), (hostile, None));
        users.set("before", &User::new("before", 2)).await.unwrap();
        let (id, user) = next_change(&mut changes, "update").await.unwrap();
        assert_eq!((id.as_str(), user), ("before", Some(User::new("before", 2))));
    }

    /// A bad value under a `Dynamic` watch is an `Err` naming its key; the stream goes on.
    pub async fn watch_dynamic_bad_value_goes_on(env: Env) {
        let shop = env.shop();
        let notes = shop.notes();
        let mut changes = Box::pin(notes.watch_ready().await.unwrap());
        env.raw_set("notes:bad", b"not json").await;
        let err = next_change(&mut changes, "bad").await.unwrap_err();
        assert_eq!(err.key(), Some(env.key("notes:bad").as_str()), "{err}");
        notes.set("good", &note("fine")).await.unwrap();
        let (id, value) = next_change(&mut changes, "good").await.unwrap();
        assert_eq!((id.as_str(), value), ("good", Some(note("fine"))));
    }

    /// A watch of an invalid id yields the key error and ends.
    pub async fn watch_invalid_key_is_an_error(env: Env) {
        let shop = env.shop();
        let mut changes = Box::pin(shop.users().at("").watch());
        assert!(matches!(
            next(&mut changes, "invalid").await,
            Err(Error::InvalidKey { .. })
        ));
        assert!(changes.next().await.is_none());
    }
}

fn note_n(i: u32) -> Note {
    note(i.to_string())
}

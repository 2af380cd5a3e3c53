//! `Item<T>`: get/set/set_with_ttl/set_if_absent/modify/remove/exists/ttl/expire/persist/key.

use std::time::Duration;

use super::*;

rules! {
    /// `SET ... GET` (what an indexed write uses to learn the record it replaces): the old
    /// string comes back; with NX, an old string means nothing was written; a key of another
    /// kind is `WrongType` and keeps its value; the TTL is the write's.
    pub async fn item_set_returning_the_old_value(env: Env) {
        use kvstore::backend::{Command, Reply, SetOptions, StringOp};
        let key = env.key("swapped");
        let set = |value: &'static [u8], only_if_absent: bool, ttl: Option<Duration>| {
            let key = key.clone();
            let backend = env.backend.clone();
            async move {
                let options = SetOptions {
                    get: true,
                    only_if_absent,
                    ttl,
                    ..SetOptions::default()
                };
                let op = StringOp::Set { value, options };
                backend.execute(Command::Str { key: &key, op }).await
            }
        };
        assert!(matches!(set(b"1", false, None).await, Ok(Reply::Value(None))));
        match set(b"2", false, Some(Duration::from_secs(60))).await {
            Ok(Reply::Value(Some(old))) => assert_eq!(old, b"1"),
            other => panic!("{other:?}"),
        }
        let ttl = env.backend.ttl(&key).await.unwrap();
        assert!(
            matches!(ttl, kvstore::backend::KeyTtl::Expires(t) if t > Duration::from_secs(50)),
            "{ttl:?}"
        );
        match set(b"3", true, None).await {
            Ok(Reply::Value(Some(old))) => assert_eq!(old, b"2", "NX found it"),
            other => panic!("{other:?}"),
        }
        assert_eq!(env.backend.get(&key).await.unwrap().as_deref(), Some(&b"2"[..]));
        env.backend.delete(std::slice::from_ref(&key)).await.unwrap();
        assert!(matches!(set(b"4", true, None).await, Ok(Reply::Value(None))));
        assert_eq!(env.backend.get(&key).await.unwrap().as_deref(), Some(&b"4"[..]));
        env.raw_set_add("a_set", b"m").await;
        let set_key = env.key("a_set");
        let options = SetOptions {
            get: true,
            ..SetOptions::default()
        };
        let op = StringOp::Set { value: b"x", options };
        let e = env.backend.execute(Command::Str { key: &set_key, op }).await.unwrap_err();
        assert!(matches!(e, Error::WrongType { .. }), "{e:?}");
        assert_eq!(env.backend.set_members(&set_key).await.unwrap(), [b"m".to_vec()]);
    }

    /// get/set/remove/exists round trip, on a static item and on an item of a `Dynamic`.
    pub async fn item_get_set_remove_exists(env: Env) {
        let shop = env.shop();
        let settings = shop.settings();
        assert_eq!(settings.key(), env.key("settings"));
        assert_eq!(settings.get().await.unwrap(), None);
        assert!(!settings.exists().await.unwrap());
        assert!(
            !settings.remove().await.unwrap(),
            "remove of a missing item"
        );

        settings.set(&Settings::new("dark")).await.unwrap();
        assert_eq!(settings.get().await.unwrap(), Some(Settings::new("dark")));
        assert!(settings.exists().await.unwrap());

        // set overwrites.
        settings.set(&Settings::new("light")).await.unwrap();
        assert_eq!(settings.get().await.unwrap(), Some(Settings::new("light")));

        assert!(settings.remove().await.unwrap());
        assert_eq!(settings.get().await.unwrap(), None);
        assert!(!settings.exists().await.unwrap());
        assert!(!settings.remove().await.unwrap());
        assert!(!env.raw_exists("settings").await);

        let alice = shop.users().at("alice");
        assert_eq!(alice.key(), env.key("u:alice"));
        alice.set(&User::new("alice", 30)).await.unwrap();
        assert_eq!(alice.get().await.unwrap(), Some(User::new("alice", 30)));
        assert!(alice.exists().await.unwrap());
        // Another id is another key.
        assert_eq!(shop.users().at("bob").get().await.unwrap(), None);
        assert!(alice.remove().await.unwrap());
        assert!(!alice.exists().await.unwrap());
    }

    /// set_if_absent writes only when nothing is stored, and says whether it wrote.
    pub async fn item_set_if_absent(env: Env) {
        let shop = env.shop();
        let item = shop.users().at("carol");
        assert!(item.set_if_absent(&User::new("carol", 1)).await.unwrap());
        assert!(!item.set_if_absent(&User::new("carol", 2)).await.unwrap());
        assert_eq!(item.get().await.unwrap(), Some(User::new("carol", 1)));
        assert!(item.remove().await.unwrap());
        assert!(item.set_if_absent(&User::new("carol", 3)).await.unwrap());
        assert_eq!(item.get().await.unwrap(), Some(User::new("carol", 3)));

        // A static item too.
        let s = shop.settings();
        assert!(s.set_if_absent(&Settings::new("a")).await.unwrap());
        assert!(!s.set_if_absent(&Settings::new("b")).await.unwrap());
        assert_eq!(s.get().await.unwrap(), Some(Settings::new("a")));
    }

    /// modify: sees None for a missing key, writes what the closure returns, returns the new value.
    pub async fn item_modify(env: Env) {
        let shop = env.shop();
        let tally = shop.tally();

        let mut seen = Vec::new();
        let r = tally
            .modify(|old| {
                seen.push(old.clone());
                Some(Tally {
                    n: old.map_or(0, |t| t.n) + 1,
                })
            })
            .await
            .unwrap();
        assert_eq!(r, Some(Tally { n: 1 }));
        assert_eq!(
            seen.last(),
            Some(&None),
            "modify on a missing key gets None"
        );
        assert_eq!(tally.get().await.unwrap(), Some(Tally { n: 1 }));

        let r = tally
            .modify(|old| {
                let old = old.expect("modify on an existing key gets the value");
                Some(Tally { n: old.n + 10 })
            })
            .await
            .unwrap();
        assert_eq!(r, Some(Tally { n: 11 }));
        assert_eq!(tally.get().await.unwrap(), Some(Tally { n: 11 }));

        // Returning the value unchanged keeps it.
        let r = tally.modify(|old| old).await.unwrap();
        assert_eq!(r, Some(Tally { n: 11 }));
        assert_eq!(tally.get().await.unwrap(), Some(Tally { n: 11 }));

        // modify on a missing key that returns None writes nothing.
        let missing = shop.users().at("nobody");
        let r = missing
            .modify(|old| {
                assert!(old.is_none());
                None
            })
            .await
            .unwrap();
        assert_eq!(r, None);
        assert!(!missing.exists().await.unwrap());
        assert!(!env.raw_exists("u:nobody").await);
    }

    /// modify returning None removes the value.
    pub async fn item_modify_none_removes(env: Env) {
        let shop = env.shop();
        let item = shop.users().at("dave");
        item.set(&User::new("dave", 40)).await.unwrap();
        let r = item
            .modify(|old| {
                assert_eq!(old, Some(User::new("dave", 40)));
                None
            })
            .await
            .unwrap();
        assert_eq!(r, None);
        assert_eq!(item.get().await.unwrap(), None);
        assert!(!item.exists().await.unwrap());
        assert!(!env.raw_exists("u:dave").await);
    }

    /// ttl/expire/persist/set_with_ttl on an item.
    pub async fn item_ttl_expire_persist(env: Env) {
        let shop = env.shop();
        let item = shop.users().at("erin");

        // Missing: no TTL, expire and persist say false.
        assert_eq!(item.ttl().await.unwrap(), None);
        assert!(!item.expire(Duration::from_secs(10)).await.unwrap());
        assert!(
            !item.exists().await.unwrap(),
            "expire must not create the key"
        );
        assert!(!item.persist().await.unwrap());

        // Persistent: no TTL; persist says false.
        item.set(&User::new("erin", 5)).await.unwrap();
        assert_eq!(item.ttl().await.unwrap(), None);
        assert!(!item.persist().await.unwrap());

        // expire sets one.
        assert!(item.expire(Duration::from_secs(10)).await.unwrap());
        assert_ttl_about(&env, item.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
        // persist removes it, once.
        assert!(item.persist().await.unwrap());
        assert_eq!(item.ttl().await.unwrap(), None);
        assert!(!item.persist().await.unwrap());
        assert_eq!(item.get().await.unwrap(), Some(User::new("erin", 5)));

        // set_with_ttl writes the value and the TTL.
        item.set_with_ttl(&User::new("erin", 6), Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(item.get().await.unwrap(), Some(User::new("erin", 6)));
        assert_ttl_about(&env, item.ttl().await.unwrap(), 20 * SECOND, 2 * SECOND);

        // Time passes: the TTL goes down, and the value is still there.
        env.sleep(Duration::from_millis(300)).await;
        assert_ttl_in(
            item.ttl().await.unwrap(),
            Duration::from_secs(17),
            Duration::from_millis(19_700),
        );
        assert!(item.exists().await.unwrap());

        // expire replaces the TTL.
        assert!(item.expire(Duration::from_secs(100)).await.unwrap());
        assert_ttl_about(&env, item.ttl().await.unwrap(), 100 * SECOND, 2 * SECOND);

        // A short TTL really expires.
        assert!(item.expire(Duration::from_millis(150)).await.unwrap());
        env.sleep(Duration::from_millis(400)).await;
        assert_eq!(item.get().await.unwrap(), None);
        assert!(!item.exists().await.unwrap());
        assert_eq!(item.ttl().await.unwrap(), None);
        assert!(!item.persist().await.unwrap());
        assert!(!item.expire(Duration::from_secs(1)).await.unwrap());
    }

    /// set_with_ttl(Duration::ZERO) is Error::InvalidTtl and writes nothing.
    pub async fn item_set_with_zero_ttl_is_invalid(env: Env) {
        let shop = env.shop();
        let item = shop.users().at("zed");
        let key = env.key("u:zed");
        expect_invalid_ttl(
            item.set_with_ttl(&User::new("zed", 1), Duration::ZERO)
                .await,
            &key,
        );
        assert!(!item.exists().await.unwrap());

        // An existing value is left alone.
        item.set(&User::new("zed", 2)).await.unwrap();
        expect_invalid_ttl(
            item.set_with_ttl(&User::new("zed", 3), Duration::ZERO)
                .await,
            &key,
        );
        assert_eq!(item.get().await.unwrap(), Some(User::new("zed", 2)));
        assert_eq!(item.ttl().await.unwrap(), None);

        let logo = shop.logo();
        expect_invalid_ttl(
            logo.set_with_ttl(b"png", Duration::ZERO).await,
            &env.key("logo"),
        );
        assert!(!logo.exists().await.unwrap());
    }
}

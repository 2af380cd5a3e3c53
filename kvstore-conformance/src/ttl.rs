//! TTL rules: field defaults, `set` replaces, `modify`/increments keep, fixed windows, expiry.

use std::time::Duration;

use super::*;

const HALF_HOUR: Duration = Duration::from_secs(30 * 60);
const HOUR: Duration = Duration::from_secs(60 * 60);

/// The slack of a TTL read right after it was set, on a real clock: enough for a machine that
/// stalls for 250 ms between the write and the read.
const STALL_SLACK: Duration = Duration::from_millis(450);

rules! {
    /// A field's `ttl` is the default for every write beneath it.
    pub async fn ttl_field_default_applies_to_every_write(env: Env) {
        let shop = env.shop();
        let sessions = shop.sessions();
        let slack = 5 * SECOND;

        sessions.set("a", &Session::new("a", 1)).await.unwrap();
        assert_ttl_about(
            &env,
            sessions.at("a").ttl().await.unwrap(),
            HALF_HOUR,
            slack,
        );
        sessions.at("b").set(&Session::new("b", 1)).await.unwrap();
        assert_ttl_about(
            &env,
            sessions.at("b").ttl().await.unwrap(),
            HALF_HOUR,
            slack,
        );
        assert!(sessions
            .at("c")
            .set_if_absent(&Session::new("c", 1))
            .await
            .unwrap());
        assert_ttl_about(
            &env,
            sessions.at("c").ttl().await.unwrap(),
            HALF_HOUR,
            slack,
        );
        sessions
            .at("d")
            .modify(|v| {
                assert!(v.is_none());
                Some(Session::new("d", 1))
            })
            .await
            .unwrap();
        assert_ttl_about(
            &env,
            sessions.at("d").ttl().await.unwrap(),
            HALF_HOUR,
            slack,
        );
        sessions
            .set_many([("e", Session::new("e", 1)), ("f", Session::new("f", 1))])
            .await
            .unwrap();
        for id in ["e", "f"] {
            assert_ttl_about(&env, sessions.at(id).ttl().await.unwrap(), HALF_HOUR, slack);
        }
        // set_with_ttl overrides the default.
        sessions
            .at("g")
            .set_with_ttl(&Session::new("g", 1), 10 * SECOND)
            .await
            .unwrap();
        assert_ttl_about(
            &env,
            sessions.at("g").ttl().await.unwrap(),
            10 * SECOND,
            2 * SECOND,
        );

        // Counters, sets and blobs with a field ttl.
        shop.hits().at("h").increment(1).await.unwrap();
        assert_ttl_about(
            &env,
            shop.hits().at("h").ttl().await.unwrap(),
            SECOND,
            500 * Duration::from_millis(1),
        );
        shop.recent().add(&"r".to_string()).await.unwrap();
        assert_ttl_about(&env, shop.recent().ttl().await.unwrap(), HALF_HOUR, slack);
        shop.thumbs().at("t").set(b"t").await.unwrap();
        assert_ttl_about(
            &env,
            shop.thumbs().at("t").ttl().await.unwrap(),
            HALF_HOUR,
            slack,
        );

        // A ttl on a nested static store applies to every field of it.
        let cache = shop.cache();
        cache.last().set(&note("x")).await.unwrap();
        assert_ttl_about(&env, cache.last().ttl().await.unwrap(), HOUR, slack);
        cache.hits().increment(1).await.unwrap();
        assert_ttl_about(&env, cache.hits().ttl().await.unwrap(), HOUR, slack);
        cache.daily().at("mon").increment(1).await.unwrap();
        assert_ttl_about(
            &env,
            cache.daily().at("mon").ttl().await.unwrap(),
            HOUR,
            slack,
        );

        // Fields without a ttl write persistent values.
        shop.users().set("p", &User::new("p", 1)).await.unwrap();
        assert_eq!(shop.users().at("p").ttl().await.unwrap(), None);
        shop.stats().last().set(&note("x")).await.unwrap();
        assert_eq!(shop.stats().last().ttl().await.unwrap(), None);
        shop.visits().increment(1).await.unwrap();
        assert_eq!(shop.visits().ttl().await.unwrap(), None);
        shop.tags().add(&"t".to_string()).await.unwrap();
        assert_eq!(shop.tags().ttl().await.unwrap(), None);
        shop.logo().set(b"l").await.unwrap();
        assert_eq!(shop.logo().ttl().await.unwrap(), None);
    }

    /// `set` replaces the TTL: with the field default, or with none.
    pub async fn ttl_set_replaces(env: Env) {
        let shop = env.shop();
        let user = shop.users().at("a");
        user.set_with_ttl(&User::new("a", 1), 10 * SECOND)
            .await
            .unwrap();
        assert_ttl_about(&env, user.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
        user.set(&User::new("a", 2)).await.unwrap();
        assert_eq!(
            user.ttl().await.unwrap(),
            None,
            "a plain set clears the TTL"
        );
        shop.users().set("a", &User::new("a", 3)).await.unwrap();
        assert_eq!(user.ttl().await.unwrap(), None);
        user.set_with_ttl(&User::new("a", 4), 10 * SECOND)
            .await
            .unwrap();
        shop.users()
            .set_many([("a", &User::new("a", 5))])
            .await
            .unwrap();
        assert_eq!(
            user.ttl().await.unwrap(),
            None,
            "set_many replaces the TTL too"
        );
        user.set_with_ttl(&User::new("a", 6), 10 * SECOND)
            .await
            .unwrap();
        user.set_with_ttl(&User::new("a", 7), 20 * SECOND)
            .await
            .unwrap();
        assert_ttl_about(&env, user.ttl().await.unwrap(), 20 * SECOND, 2 * SECOND);
        // set_if_absent that does not write changes nothing.
        assert!(!user.set_if_absent(&User::new("a", 8)).await.unwrap());
        assert_ttl_about(&env, user.ttl().await.unwrap(), 20 * SECOND, 2 * SECOND);
        assert_eq!(user.get().await.unwrap(), Some(User::new("a", 7)));

        // With a field default, set puts the default back.
        let s = shop.sessions().at("s");
        s.set_with_ttl(&Session::new("s", 1), 10 * SECOND)
            .await
            .unwrap();
        assert_ttl_about(&env, s.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
        s.set(&Session::new("s", 2)).await.unwrap();
        assert_ttl_about(&env, s.ttl().await.unwrap(), HALF_HOUR, 5 * SECOND);
        assert!(s.persist().await.unwrap());
        s.set(&Session::new("s", 3)).await.unwrap();
        assert_ttl_about(&env, s.ttl().await.unwrap(), HALF_HOUR, 5 * SECOND);

        // Blobs.
        let logo = shop.logo();
        logo.set_with_ttl(b"a", 10 * SECOND).await.unwrap();
        logo.set(b"b").await.unwrap();
        assert_eq!(logo.ttl().await.unwrap(), None);
    }

    /// `modify` and counter increments keep the remaining TTL (and do not restore a default).
    pub async fn ttl_modify_and_increment_keep(env: Env) {
        let shop = env.shop();
        let user = shop.users().at("m");
        user.set_with_ttl(&User::new("m", 1), 10 * SECOND)
            .await
            .unwrap();
        env.sleep(Duration::from_millis(200)).await;
        let r = user
            .modify(|u| {
                let mut u = u.unwrap();
                u.age += 1;
                Some(u)
            })
            .await
            .unwrap();
        assert_eq!(r, Some(User::new("m", 2)));
        assert_ttl_in(
            user.ttl().await.unwrap(),
            8 * SECOND,
            Duration::from_millis(9_800),
        );
        // modify on a persistent value keeps it persistent.
        shop.users().set("p", &User::new("p", 1)).await.unwrap();
        shop.users().at("p").modify(|u| u).await.unwrap();
        assert_eq!(shop.users().at("p").ttl().await.unwrap(), None);

        // With a field default: the remaining TTL, not the default, and not none.
        let s = shop.sessions().at("s");
        s.set(&Session::new("s", 1)).await.unwrap();
        assert!(s.expire(10 * SECOND).await.unwrap());
        s.modify(|v| v.map(|v| Session::new("s", v.n + 1)))
            .await
            .unwrap();
        assert_eq!(s.get().await.unwrap(), Some(Session::new("s", 2)));
        assert_ttl_about(&env, s.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);

        // Counters.
        let c = shop.visits();
        c.increment(1).await.unwrap();
        assert!(c.expire(10 * SECOND).await.unwrap());
        env.sleep(Duration::from_millis(200)).await;
        assert_eq!(c.increment(1).await.unwrap(), 2);
        assert_eq!(c.decrement(5).await.unwrap(), -3);
        assert_ttl_in(
            c.ttl().await.unwrap(),
            8 * SECOND,
            Duration::from_millis(9_800),
        );
        // A counter with a field ttl keeps a longer TTL it was given.
        let h = shop.hits().at("h");
        h.increment(1).await.unwrap();
        assert!(h.expire(100 * SECOND).await.unwrap());
        h.increment(1).await.unwrap();
        assert_ttl_about(&env, h.ttl().await.unwrap(), 100 * SECOND, 2 * SECOND);
        // And a persisted one stays persistent.
        assert!(h.persist().await.unwrap());
        h.increment(1).await.unwrap();
        assert_eq!(h.ttl().await.unwrap(), None);
        assert_eq!(h.get().await.unwrap(), 3);
    }

    /// A counter with a default TTL gets it on creation only: a fixed-window rate limiter.
    pub async fn ttl_counter_fixed_window(env: Env) {
        let shop = env.shop();
        let window = shop.hits().at("client");
        assert_eq!(window.increment(1).await.unwrap(), 1);
        assert_ttl_about(&env, window.ttl().await.unwrap(), SECOND, STALL_SLACK);

        env.sleep(Duration::from_millis(400)).await;
        assert_eq!(window.increment(1).await.unwrap(), 2);
        // Not reset to 1 s by the second increment.
        assert_ttl_in(
            window.ttl().await.unwrap(),
            Duration::from_millis(200),
            Duration::from_millis(650),
        );

        env.sleep(Duration::from_millis(900)).await;
        assert_eq!(window.get().await.unwrap(), 0, "the window is over");
        assert!(!window.exists().await.unwrap());
        // A new window.
        assert_eq!(window.increment(1).await.unwrap(), 1);
        assert_ttl_about(&env, window.ttl().await.unwrap(), SECOND, STALL_SLACK);
        // Another client has its own window.
        assert_eq!(shop.hits().at("other").increment(5).await.unwrap(), 5);
        assert_eq!(window.get().await.unwrap(), 1);
    }

    /// Expired values are never returned by any operation.
    pub async fn ttl_expired_values_are_never_returned(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        users.set("live", &User::new("live", 1)).await.unwrap();
        let written = std::time::Instant::now();
        users
            .at("gone")
            .set_with_ttl(&User::new("gone", 1), Duration::from_millis(150))
            .await
            .unwrap();
        // The field default (300 ms) expires too.
        let flash = shop.flash();
        flash.set("f", &Session::new("f", 1)).await.unwrap();
        assert_ttl_about(
            &env,
            flash.at("f").ttl().await.unwrap(),
            Duration::from_millis(300),
            Duration::from_millis(300),
        );
        shop.tags().add(&"t".to_string()).await.unwrap();
        assert!(shop
            .tags()
            .expire(Duration::from_millis(150))
            .await
            .unwrap());
        shop.logo()
            .set_with_ttl(b"l", Duration::from_millis(150))
            .await
            .unwrap();
        shop.views().at(1u64).increment(3).await.unwrap();
        assert!(shop
            .views()
            .at(1u64)
            .expire(Duration::from_millis(150))
            .await
            .unwrap());
        shop.views().at(2u64).increment(4).await.unwrap();
        let t = shop.tenants().at("temp");
        t.config().set(&Settings::new("t")).await.unwrap();
        assert!(t.config().expire(Duration::from_millis(150)).await.unwrap());
        shop.tenants().at("kept").hits().increment(1).await.unwrap();
        shop.grid()
            .at("g")
            .at("x")
            .set_with_ttl(&note("x"), Duration::from_millis(150))
            .await
            .unwrap();

        // Still there before the TTL — checked only while the shortest TTL cannot have run out
        // (on a real clock, a stalled machine may have spent it already).
        if env.manual_clock() || written.elapsed() < Duration::from_millis(100) {
            assert_eq!(users.count().await.unwrap(), 2);
            assert!(flash.at("f").exists().await.unwrap());
        }

        env.sleep(Duration::from_millis(700)).await;

        assert_eq!(users.get("gone").await.unwrap(), None);
        assert!(!users.at("gone").exists().await.unwrap());
        assert_eq!(users.at("gone").ttl().await.unwrap(), None);
        assert_eq!(users.keys().await.unwrap(), strings(&["live"]));
        assert_eq!(users.count().await.unwrap(), 1);
        assert_eq!(
            users.get_many(["gone", "live"]).await.unwrap(),
            vec![None, Some(User::new("live", 1))]
        );
        assert_eq!(
            users.entries().await.unwrap(),
            vec![("live".to_string(), User::new("live", 1))]
        );
        assert_eq!(
            users
                .at("gone")
                .modify(|v| {
                    assert!(v.is_none(), "modify must not see an expired value");
                    v
                })
                .await
                .unwrap(),
            None
        );
        assert!(!users.remove("gone").await.unwrap());

        assert_eq!(flash.get("f").await.unwrap(), None);
        assert_eq!(flash.keys().await.unwrap(), Vec::<String>::new());
        assert_eq!(flash.count().await.unwrap(), 0);
        assert_eq!(flash.entries().await.unwrap(), Vec::new());

        assert_eq!(shop.tags().members().await.unwrap(), Vec::<String>::new());
        assert_eq!(shop.tags().len().await.unwrap(), 0);
        assert!(!shop.tags().contains(&"t".to_string()).await.unwrap());
        assert_eq!(shop.logo().get().await.unwrap(), None);
        assert_eq!(shop.views().at(1u64).get().await.unwrap(), 0);
        assert_eq!(shop.views().keys().await.unwrap(), vec![2u64]);
        assert_eq!(shop.views().count().await.unwrap(), 1);
        assert_eq!(shop.tenants().keys().await.unwrap(), strings(&["kept"]));
        assert_eq!(shop.tenants().count().await.unwrap(), 1);
        assert_eq!(shop.grid().keys().await.unwrap(), Vec::<String>::new());
        assert_eq!(
            shop.grid().at("g").get_many(["x"]).await.unwrap(),
            vec![None]
        );

        // An expired key is absent for writes too: set_if_absent writes, with the field TTL.
        let written = std::time::Instant::now();
        assert!(flash
            .at("f")
            .set_if_absent(&Session::new("f", 2))
            .await
            .unwrap());
        let read = flash.get("f").await.unwrap();
        if env.manual_clock() || written.elapsed() < Duration::from_millis(200) {
            assert_eq!(read, Some(Session::new("f", 2)));
        }
        assert!(users
            .at("gone")
            .set_if_absent(&User::new("gone", 2))
            .await
            .unwrap());
        assert_eq!(users.at("gone").ttl().await.unwrap(), None);
        // clear() counts only live keys.
        assert_eq!(shop.views().clear().await.unwrap(), 1);
    }
}

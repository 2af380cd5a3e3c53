//! `Counter`: get (0 when absent)/increment/decrement/remove/exists/ttl/expire/persist/key.

use std::time::Duration;

use super::*;

rules! {
    /// The basic counter operations.
    pub async fn counter_basics(env: Env) {
        let shop = env.shop();
        let visits = shop.visits();
        assert_eq!(visits.key(), env.key("visits"));
        assert_eq!(visits.get().await.unwrap(), 0, "a missing counter reads 0");
        assert!(!visits.exists().await.unwrap());
        assert!(!visits.remove().await.unwrap());

        assert_eq!(visits.increment(5).await.unwrap(), 5);
        assert!(visits.exists().await.unwrap());
        assert_eq!(visits.get().await.unwrap(), 5);
        assert_eq!(visits.decrement(2).await.unwrap(), 3);
        assert_eq!(visits.increment(-10).await.unwrap(), -7);
        assert_eq!(visits.decrement(-8).await.unwrap(), 1);
        assert_eq!(visits.increment(0).await.unwrap(), 1);
        assert_eq!(visits.get().await.unwrap(), 1);

        assert!(visits.remove().await.unwrap());
        assert_eq!(visits.get().await.unwrap(), 0);
        assert!(!visits.exists().await.unwrap());
        assert!(!visits.remove().await.unwrap());

        // A decrement creates the counter too.
        assert_eq!(visits.decrement(4).await.unwrap(), -4);
        assert_eq!(visits.get().await.unwrap(), -4);

        // Counters of a Dynamic and of a nested store are independent.
        let views = shop.views();
        assert_eq!(views.at(1u64).increment(2).await.unwrap(), 2);
        assert_eq!(views.at(2u64).increment(3).await.unwrap(), 3);
        assert_eq!(views.at(1u64).get().await.unwrap(), 2);
        assert_eq!(shop.stats().hits().increment(1).await.unwrap(), 1);
        assert_eq!(shop.visits().get().await.unwrap(), -4);
    }

    /// ttl/expire/persist on a counter.
    pub async fn counter_ttl_expire_persist(env: Env) {
        let shop = env.shop();
        let c = shop.visits();
        assert_eq!(c.ttl().await.unwrap(), None);
        assert!(!c.expire(Duration::from_secs(10)).await.unwrap());
        assert!(
            !c.exists().await.unwrap(),
            "expire must not create the counter"
        );
        assert!(!c.persist().await.unwrap());

        c.increment(1).await.unwrap();
        assert_eq!(c.ttl().await.unwrap(), None, "a counter without field ttl");
        assert!(!c.persist().await.unwrap());
        assert!(c.expire(Duration::from_secs(10)).await.unwrap());
        assert_ttl_about(&env, c.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
        assert!(c.persist().await.unwrap());
        assert_eq!(c.ttl().await.unwrap(), None);
        assert!(!c.persist().await.unwrap());
        assert_eq!(c.get().await.unwrap(), 1);

        assert!(c.expire(Duration::from_millis(150)).await.unwrap());
        env.sleep(Duration::from_millis(400)).await;
        assert_eq!(c.get().await.unwrap(), 0, "an expired counter reads 0");
        assert!(!c.exists().await.unwrap());
        assert_eq!(c.ttl().await.unwrap(), None);
        // It starts again from 0, without a TTL.
        assert_eq!(c.increment(1).await.unwrap(), 1);
        assert_eq!(c.ttl().await.unwrap(), None);
    }

    /// An increment that would overflow an i64 is Error::Overflow and changes nothing.
    pub async fn counter_overflow(env: Env) {
        let shop = env.shop();
        let c = shop.visits();
        let key = env.key("visits");
        assert_eq!(c.increment(i64::MAX).await.unwrap(), i64::MAX);
        expect_overflow(c.increment(1).await, &key);
        assert_eq!(c.get().await.unwrap(), i64::MAX);
        assert_eq!(c.decrement(i64::MAX).await.unwrap(), 0);
        assert_eq!(c.decrement(i64::MAX).await.unwrap(), -i64::MAX);
        expect_overflow(c.decrement(2).await, &key);
        assert_eq!(c.get().await.unwrap(), -i64::MAX);

        // decrement(i64::MIN) cannot be negated: an overflow on a fresh counter, never a panic.
        let fresh = shop.views().at(9u64);
        let fresh_key = env.key("views:9");
        expect_overflow(fresh.decrement(i64::MIN).await, &fresh_key);
        assert_eq!(fresh.get().await.unwrap(), 0);
        assert_eq!(fresh.increment(i64::MIN).await.unwrap(), i64::MIN);
        expect_overflow(fresh.decrement(1).await, &fresh_key);
        assert_eq!(fresh.get().await.unwrap(), i64::MIN);
    }

    /// A counter whose stored value is not a decimal i64 is Error::Decode naming the key, and an
    /// increment leaves it unchanged.
    pub async fn counter_decode_errors(env: Env) {
        let shop = env.shop();
        let c = shop.visits();
        let key = env.key("visits");
        for garbage in [
            &b"abc"[..],
            b"\"5\"",
            b"1.5",
            b"",
            b"99999999999999999999",
            b"\xff\xfe",
        ] {
            env.raw_set("visits", garbage).await;
            expect_decode(c.get().await, &key);
            expect_decode(c.increment(1).await, &key);
            expect_decode(c.decrement(1).await, &key);
            assert_eq!(
                env.raw_get("visits").await.as_deref(),
                Some(garbage),
                "a failed increment leaves the value unchanged"
            );
        }
        // A counter is decimal text written by anyone.
        env.raw_set("visits", b"41").await;
        assert_eq!(c.get().await.unwrap(), 41);
        assert_eq!(c.increment(1).await.unwrap(), 42);
        env.raw_set("visits", b"-3").await;
        assert_eq!(c.get().await.unwrap(), -3);
        assert!(env.backend.delete(&[key]).await.unwrap() == 1);
    }
}

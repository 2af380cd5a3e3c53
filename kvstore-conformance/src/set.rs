//! `SetOf<T>`: add/remove/contains/members/len/clear/exists/ttl/expire/persist/key.

use std::time::Duration;

use super::*;

fn s(v: &str) -> String {
    v.to_owned()
}

rules! {
    /// The basic set operations.
    pub async fn set_basics(env: Env) {
        let shop = env.shop();
        let tags = shop.tags();
        assert_eq!(tags.key(), env.key("tags"));
        assert_eq!(tags.members().await.unwrap(), Vec::<String>::new());
        assert_eq!(tags.len().await.unwrap(), 0);
        assert!(!tags.exists().await.unwrap());
        assert!(!tags.contains(&s("a")).await.unwrap());
        assert!(!tags.remove(&s("a")).await.unwrap());
        assert!(!tags.clear().await.unwrap(), "clear of a missing set");

        assert!(tags.add(&s("a")).await.unwrap());
        assert!(!tags.add(&s("a")).await.unwrap(), "adding twice");
        assert!(tags.add(&s("b")).await.unwrap());
        assert!(tags.add(&s("with space ✓")).await.unwrap());
        assert!(
            tags.add(&s("")).await.unwrap(),
            "the empty string is a member"
        );
        assert!(tags.exists().await.unwrap());
        assert_eq!(tags.len().await.unwrap(), 4);
        assert!(tags.contains(&s("a")).await.unwrap());
        assert!(tags.contains(&s("")).await.unwrap());
        assert!(!tags.contains(&s("c")).await.unwrap());
        assert_eq!(
            sorted(tags.members().await.unwrap()),
            strings(&["", "a", "b", "with space ✓"])
        );

        assert!(tags.remove(&s("a")).await.unwrap());
        assert!(!tags.remove(&s("a")).await.unwrap());
        assert!(!tags.contains(&s("a")).await.unwrap());
        assert_eq!(tags.len().await.unwrap(), 3);

        assert!(tags.clear().await.unwrap());
        assert!(!tags.exists().await.unwrap());
        assert_eq!(tags.len().await.unwrap(), 0);
        assert_eq!(tags.members().await.unwrap(), Vec::<String>::new());
        assert!(!tags.clear().await.unwrap());

        // Removing the last member removes the set.
        assert!(tags.add(&s("only")).await.unwrap());
        assert!(tags.remove(&s("only")).await.unwrap());
        assert!(!tags.exists().await.unwrap());
        assert!(!env.raw_exists("tags").await);

        // Sets of structs, and a set in a nested store.
        let labels = shop.labels();
        assert!(labels.add(&label("x")).await.unwrap());
        assert!(labels.add(&label("y")).await.unwrap());
        assert!(labels.contains(&label("x")).await.unwrap());
        let mut names: Vec<String> = labels
            .members()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        names.sort();
        assert_eq!(names, strings(&["x", "y"]));

        let seen = shop.tenants().at("acme").seen().clone();
        assert_eq!(seen.key(), env.key("tenants:acme:seen"));
        assert!(seen.add(&s("a")).await.unwrap());
        assert!(!tags.contains(&s("a")).await.unwrap());
        assert_eq!(seen.members().await.unwrap(), strings(&["a"]));
    }

    /// ttl/expire/persist on a set, and a field TTL given on creation only.
    pub async fn set_ttl_expire_persist(env: Env) {
        let shop = env.shop();
        let tags = shop.tags();
        assert_eq!(tags.ttl().await.unwrap(), None);
        assert!(!tags.expire(Duration::from_secs(10)).await.unwrap());
        assert!(!tags.exists().await.unwrap());
        assert!(!tags.persist().await.unwrap());

        tags.add(&s("a")).await.unwrap();
        assert_eq!(tags.ttl().await.unwrap(), None);
        assert!(!tags.persist().await.unwrap());
        assert!(tags.expire(Duration::from_secs(10)).await.unwrap());
        assert_ttl_about(&env, tags.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
        // Adding keeps the TTL of an existing set.
        tags.add(&s("b")).await.unwrap();
        assert_ttl_about(&env, tags.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
        assert!(tags.persist().await.unwrap());
        assert_eq!(tags.ttl().await.unwrap(), None);
        assert!(!tags.persist().await.unwrap());

        assert!(tags.expire(Duration::from_millis(150)).await.unwrap());
        env.sleep(Duration::from_millis(400)).await;
        assert!(!tags.exists().await.unwrap());
        assert_eq!(tags.len().await.unwrap(), 0);
        assert_eq!(tags.members().await.unwrap(), Vec::<String>::new());
        assert!(!tags.contains(&s("a")).await.unwrap());
        assert_eq!(tags.ttl().await.unwrap(), None);
        // A new set starts empty and persistent.
        assert!(tags.add(&s("a")).await.unwrap());
        assert_eq!(tags.members().await.unwrap(), strings(&["a"]));
        assert_eq!(tags.ttl().await.unwrap(), None);

        // A field TTL: the set gets it when created; later adds keep the remaining TTL.
        let recent = shop.recent();
        recent.add(&s("x")).await.unwrap();
        assert_ttl_about(&env, recent.ttl().await.unwrap(), 30 * MINUTE, 5 * SECOND);
        assert!(recent.expire(Duration::from_secs(10)).await.unwrap());
        assert!(recent.add(&s("y")).await.unwrap());
        assert_ttl_about(&env, recent.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
    }

    /// Members are validated on add (nothing written) and on read.
    pub async fn set_validation(env: Env) {
        let shop = env.shop();
        let labels = shop.labels();
        let key = env.key("labels");
        let issues = expect_validation(labels.add(&label("far-too-long")).await, &key);
        assert_issue_at(&issues, "/name");
        assert!(!labels.exists().await.unwrap(), "nothing written");
        assert!(!env.raw_exists("labels").await);

        labels.add(&label("ok")).await.unwrap();
        expect_validation(labels.add(&label("far-too-long")).await, &key);
        assert_eq!(labels.len().await.unwrap(), 1);

        // A member written by someone else that breaks the constraint.
        env.raw_set_add("labels", br#"{"name":"far-too-long"}"#)
            .await;
        let issues = expect_validation(labels.members().await, &key);
        assert_issue_at(&issues, "/name");

        // A member that is not JSON.
        let tags = shop.tags();
        let tags_key = env.key("tags");
        tags.add(&s("fine")).await.unwrap();
        env.raw_set_add("tags", b"not json").await;
        expect_decode(tags.members().await, &tags_key);
        // Members are JSON text: a raw JSON string member reads back.
        let recent_key = env.key("recent");
        env.raw_set_add("recent", br#""from-redis-cli""#).await;
        assert_eq!(
            shop.recent().members().await.unwrap(),
            strings(&["from-redis-cli"]),
            "{recent_key}"
        );
    }
}

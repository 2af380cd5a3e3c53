//! Validation on write and on read, formats, wrong kinds, error messages.

use super::*;

fn bad_email(name: &str) -> User {
    User {
        name: name.into(),
        email: "not-an-email".into(),
        age: 20,
    }
}

fn too_old(name: &str) -> User {
    User {
        name: name.into(),
        email: format!("{name}@example.com"),
        age: 151,
    }
}

rules! {
    /// An invalid value is Error::Validation (issue paths are JSON pointers) and nothing is written.
    pub async fn validation_on_write(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let key = env.key("u:v");

        let issues = expect_validation(users.set("v", &bad_email("v")).await, &key);
        assert_issue_at(&issues, "/email");
        let issues = expect_validation(users.set("v", &too_old("v")).await, &key);
        assert_issue_at(&issues, "/age");
        // Both problems are reported.
        let both = User {
            name: "v".into(),
            email: "nope".into(),
            age: 200,
        };
        let issues = expect_validation(users.at("v").set(&both).await, &key);
        assert_issue_at(&issues, "/email");
        assert_issue_at(&issues, "/age");
        for issue in &issues {
            assert!(!issue.message.is_empty(), "{issue:?}");
        }
        expect_validation(users.at("v").set_if_absent(&bad_email("v")).await, &key);
        expect_validation(
            users
                .at("v")
                .set_with_ttl(&bad_email("v"), 10 * SECOND)
                .await,
            &key,
        );
        expect_validation(users.at("v").modify(|_| Some(too_old("v"))).await, &key);
        assert_eq!(users.get("v").await.unwrap(), None);
        assert!(!env.raw_exists("u:v").await, "nothing written");

        // An existing value is left as it was.
        users.set("v", &User::new("v", 10)).await.unwrap();
        expect_validation(users.set("v", &too_old("v")).await, &key);
        expect_validation(
            users
                .at("v")
                .modify(|u| {
                    let mut u = u.unwrap();
                    u.age = 1000;
                    Some(u)
                })
                .await,
            &key,
        );
        assert_eq!(users.get("v").await.unwrap(), Some(User::new("v", 10)));

        // A length constraint, on a static item.
        let settings = shop.settings();
        let long = Settings {
            theme: "t".into(),
            motd: "this message is far too long".into(),
        };
        let issues = expect_validation(settings.set(&long).await, &env.key("settings"));
        assert_issue_at(&issues, "/motd");
        assert!(!settings.exists().await.unwrap());
        // The boundary: 16 characters are fine.
        let ok = Settings {
            theme: "t".into(),
            motd: "x".repeat(16),
        };
        settings.set(&ok).await.unwrap();
        assert_eq!(settings.get().await.unwrap(), Some(ok));

        // In a nested store.
        let tk = env.key("tenants:acme:users:x");
        expect_validation(
            shop.tenants()
                .at("acme")
                .users()
                .set("x", &too_old("x"))
                .await,
            &tk,
        );
        assert_eq!(shop.tenants().count().await.unwrap(), 0);
        // The age boundary: 150 is fine.
        users.set("old", &User::new("old", 150)).await.unwrap();
    }

    /// Formats are checked: `not-an-email` is not an email.
    pub async fn validation_formats_are_checked(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let key = env.key("u:f");
        for email in ["not-an-email", "", "a@", "@b.c", "a b@c.d"] {
            let u = User {
                name: "f".into(),
                email: email.into(),
                age: 1,
            };
            let issues = expect_validation(users.set("f", &u).await, &key);
            assert_issue_at(&issues, "/email");
        }
        assert!(!users.at("f").exists().await.unwrap());
        for email in ["a@b.co", "first.last+tag@example.org"] {
            let u = User {
                name: "f".into(),
                email: email.into(),
                age: 1,
            };
            users.set("f", &u).await.unwrap();
            assert_eq!(users.get("f").await.unwrap(), Some(u));
        }
        // On read too.
        env.raw_set("u:r", br#"{"name":"r","email":"not-an-email","age":1}"#)
            .await;
        let issues = expect_validation(users.get("r").await, &env.key("u:r"));
        assert_issue_at(&issues, "/email");
    }

    /// What another program stored is checked on read: garbage is Decode, JSON of the wrong shape is
    /// Decode (or Validation), constraint-breaking JSON is Validation; every error names the key.
    pub async fn validation_on_read(env: Env) {
        let shop = env.shop();
        let users = shop.users();

        env.raw_set("u:garbage", b"not json at all").await;
        let key = env.key("u:garbage");
        expect_decode(users.get("garbage").await, &key);
        expect_decode(users.at("garbage").get().await, &key);
        expect_decode(users.at("garbage").modify(|v| v).await, &key);

        env.raw_set("u:bin", b"\xff\xfe\x00").await;
        expect_decode(users.get("bin").await, &env.key("u:bin"));

        for (id, json) in [
            ("shape1", &br#"{"name":1,"email":"a@b.co","age":1}"#[..]),
            ("shape2", br#"[1,2,3]"#),
            ("shape3", br#""just a string""#),
            ("shape4", br#"{"name":"a","email":"a@b.co"}"#),
            ("shape5", br#"{"name":"a","email":"a@b.co","age":-1}"#),
            ("shape6", b"null"),
        ] {
            env.raw_set(&format!("u:{id}"), json).await;
            expect_decode_or_validation(users.get(id).await, &env.key(&format!("u:{id}")));
        }

        env.raw_set(
            "u:old",
            br#"{"name":"old","email":"old@example.com","age":151}"#,
        )
        .await;
        let key = env.key("u:old");
        let issues = expect_validation(users.get("old").await, &key);
        assert_issue_at(&issues, "/age");
        // modify never sees an invalid value and leaves it in place.
        let mut called = false;
        expect_validation(
            users
                .at("old")
                .modify(|v| {
                    called = true;
                    v
                })
                .await,
            &key,
        );
        assert!(
            !called,
            "modify must not call the closure with an invalid value"
        );
        assert!(env.raw_exists("u:old").await);

        // A static item and a nested one.
        env.raw_set(
            "settings",
            br#"{"theme":"t","motd":"this message is far too long"}"#,
        )
        .await;
        let issues = expect_validation(shop.settings().get().await, &env.key("settings"));
        assert_issue_at(&issues, "/motd");
        env.raw_set("tenants:t:config", b"{").await;
        expect_decode(
            shop.tenants().at("t").config().get().await,
            &env.key("tenants:t:config"),
        );

        // exists/remove/ttl do not read the value.
        assert!(users.at("garbage").exists().await.unwrap());
        assert!(users.remove("garbage").await.unwrap());
    }

    /// get_many and entries check every value and name the bad key.
    pub async fn validation_on_read_in_bulk(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        users.set("good", &User::new("good", 1)).await.unwrap();
        env.raw_set(
            "u:bad",
            br#"{"name":"bad","email":"bad@example.com","age":999}"#,
        )
        .await;
        let key = env.key("u:bad");
        let issues = expect_validation(users.get_many(["good", "bad"]).await, &key);
        assert_issue_at(&issues, "/age");
        let issues = expect_validation(users.entries().await, &key);
        assert_issue_at(&issues, "/age");

        env.raw_set("u:bad", b"garbage").await;
        expect_decode(users.get_many(["bad", "good"]).await, &key);
        expect_decode(users.entries().await, &key);

        // keys/count do not read values.
        assert_eq!(
            sorted(users.keys().await.unwrap()),
            strings(&["bad", "good"])
        );
        assert_eq!(users.count().await.unwrap(), 2);
        assert!(users.remove("bad").await.unwrap());
        assert_eq!(
            users.get_many(["bad", "good"]).await.unwrap(),
            vec![None, Some(User::new("good", 1))]
        );
    }

    /// A key that holds another kind of value is Error::WrongType naming the key.
    pub async fn wrong_type_is_reported(env: Env) {
        let shop = env.shop();

        // A set where an item, a counter, a blob are expected.
        env.raw_set_add("settings", br#""member""#).await;
        let key = env.key("settings");
        expect_wrong_type(shop.settings().get().await, &key);
        expect_wrong_type(shop.settings().modify(|v| v).await, &key);

        env.raw_set_add("visits", b"1").await;
        let key = env.key("visits");
        expect_wrong_type(shop.visits().get().await, &key);
        expect_wrong_type(shop.visits().increment(1).await, &key);
        expect_wrong_type(shop.visits().decrement(1).await, &key);

        env.raw_set_add("logo", b"x").await;
        expect_wrong_type(shop.logo().get().await, &env.key("logo"));

        env.raw_set_add("u:setuser", br#""x""#).await;
        expect_wrong_type(shop.users().get("setuser").await, &env.key("u:setuser"));

        // A string where a set is expected.
        shop.settings().remove().await.unwrap();
        env.raw_set("tags", br#""a string""#).await;
        let key = env.key("tags");
        let tags = shop.tags();
        expect_wrong_type(tags.add(&"x".to_string()).await, &key);
        expect_wrong_type(tags.remove(&"x".to_string()).await, &key);
        expect_wrong_type(tags.contains(&"x".to_string()).await, &key);
        expect_wrong_type(tags.members().await, &key);
        expect_wrong_type(tags.len().await, &key);
        // The string is untouched.
        assert_eq!(env.raw_get("tags").await, Some(br#""a string""#.to_vec()));

        // An item written by the store, read as a counter through another store's layout.
        shop.stats().last().set(&note("n")).await.unwrap();
        env.raw_set_add("stats:hits", b"1").await;
        expect_wrong_type(shop.stats().hits().get().await, &env.key("stats:hits"));
        // exists/ttl/remove work on any kind.
        assert!(shop.stats().hits().exists().await.unwrap());
        assert_eq!(shop.stats().hits().ttl().await.unwrap(), None);
        assert!(shop.stats().hits().remove().await.unwrap());
        assert_eq!(shop.stats().hits().get().await.unwrap(), 0);
    }

    /// Every error's Display names the key (and `Error::key()` returns it).
    pub async fn errors_name_the_key(env: Env) {
        let shop = env.shop();
        let key = env.key("u:k");
        let e = shop.users().set("k", &bad_email("k")).await.unwrap_err();
        assert_names_key(&e, &key);
        assert!(e.to_string().contains("/email"), "{e}");

        env.raw_set("u:k", b"garbage").await;
        let e = shop.users().get("k").await.unwrap_err();
        assert_names_key(&e, &key);

        let e = shop
            .users()
            .at("k")
            .set_with_ttl(&User::new("k", 1), std::time::Duration::ZERO)
            .await
            .unwrap_err();
        assert_names_key(&e, &key);

        env.raw_set_add("visits", b"x").await;
        let e = shop.visits().get().await.unwrap_err();
        assert_names_key(&e, &env.key("visits"));

        let e = shop.users().set("", &User::new("e", 1)).await.unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains(&env.key("u")), "{shown}");
        assert!(
            e.key().is_some_and(|k| k.starts_with(&env.key("u"))),
            "{e:?}"
        );

        // Errors are std errors, Send + Sync + 'static.
        let boxed: Box<dyn std::error::Error + Send + Sync + 'static> = Box::new(e);
        assert!(!boxed.to_string().is_empty());
    }
}

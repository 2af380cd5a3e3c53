//! Key layout: exact keys, id encoding, invalid keys, keyspace isolation.

use super::*;

rules! {
    /// The documented layout: prefix, field names (or rename), encoded ids, joined by `:`.
    pub async fn key_layout(env: Env) {
        let shop = env.shop();
        let p = &env.prefix;
        let cases: Vec<(String, String)> = vec![
            (shop.settings().key().to_owned(), format!("{p}:settings")),
            (
                shop.users().at("alice").key().to_owned(),
                format!("{p}:u:alice"),
            ),
            (
                shop.u2().at("alice").key().to_owned(),
                format!("{p}:u2:alice"),
            ),
            (
                shop.sessions().at("s1").key().to_owned(),
                format!("{p}:sessions:s1"),
            ),
            (shop.visits().key().to_owned(), format!("{p}:visits")),
            (
                shop.views().at(42u64).key().to_owned(),
                format!("{p}:views:42"),
            ),
            (shop.tags().key().to_owned(), format!("{p}:tags")),
            (shop.logo().key().to_owned(), format!("{p}:logo")),
            (
                shop.tenants().at("acme").config().key().to_owned(),
                format!("{p}:tenants:acme:config"),
            ),
            (
                shop.tenants().at("acme").users().at("bob").key().to_owned(),
                format!("{p}:tenants:acme:users:bob"),
            ),
            (
                shop.ctenants().at("acme").config().key().to_owned(),
                format!("{p}:ctenants:{{acme}}:config"),
            ),
            (
                shop.stats().hits().key().to_owned(),
                format!("{p}:stats:hits"),
            ),
            (
                shop.stats().daily().at("mon").key().to_owned(),
                format!("{p}:stats:daily:mon"),
            ),
            (
                shop.grid().at("x").at("y").key().to_owned(),
                format!("{p}:grid:x:y"),
            ),
            (
                shop.ledger().at(-5i64).key().to_owned(),
                format!("{p}:ledger:-5"),
            ),
            (
                shop.small().at(7u32).key().to_owned(),
                format!("{p}:small:7"),
            ),
            (
                shop.big().at(u128::MAX).key().to_owned(),
                format!("{p}:big:340282366920938463463374607431768211455"),
            ),
        ];
        for (got, want) in &cases {
            assert_eq!(got, want);
        }

        // The keys are really the stored keys.
        shop.settings().set(&Settings::new("x")).await.unwrap();
        shop.users()
            .set("alice", &User::new("alice", 1))
            .await
            .unwrap();
        shop.visits().increment(1).await.unwrap();
        shop.tags().add(&"t".to_string()).await.unwrap();
        shop.logo().set(b"l").await.unwrap();
        shop.tenants()
            .at("acme")
            .config()
            .set(&Settings::new("a"))
            .await
            .unwrap();
        shop.ctenants()
            .at("acme")
            .config()
            .set(&Settings::new("a"))
            .await
            .unwrap();
        shop.grid().at("x").at("y").set(&note("xy")).await.unwrap();
        shop.ledger().set(-5i64, &note("m")).await.unwrap();
        assert_eq!(
            env.raw_keys().await,
            sorted(vec![
                format!("{p}:settings"),
                format!("{p}:u:alice"),
                format!("{p}:visits"),
                format!("{p}:tags"),
                format!("{p}:logo"),
                format!("{p}:tenants:acme:config"),
                format!("{p}:ctenants:{{acme}}:config"),
                format!("{p}:grid:x:y"),
                format!("{p}:ledger:-5"),
            ])
        );
        assert_eq!(env.raw_get("visits").await, Some(b"1".to_vec()));

        // A root prefix from the attribute (no I/O: only the key is built).
        let prefixed = Prefixed::open(env.backend.clone());
        assert_eq!(prefixed.name().key(), "app:v1:name");
        assert_eq!(prefixed.counts().at(3u64).key(), "app:v1:counts:3");
    }

    /// `% : * ? [ ] \ { }` and control characters are percent-encoded; everything else is kept; ids
    /// decode back exactly.
    pub async fn key_id_encoding(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let cases: &[(&str, &str)] = &[
            ("a:b", "a%3Ab"),
            ("100%", "100%25"),
            ("%3A", "%253A"),
            ("*", "%2A"),
            ("?", "%3F"),
            ("[x]", "%5Bx%5D"),
            ("back\\slash", "back%5Cslash"),
            ("{tag}", "%7Btag%7D"),
            ("line\nfeed\ttab", "line%0Afeed%09tab"),
            ("nul\0esc\x1bdel\x7f", "nul%00esc%1Bdel%7F"),
            ("sp ace", "sp ace"),
            ("ünïcødé ✓ 日本", "ünïcødé ✓ 日本"),
            ("a.b-c_d/e'f\"g", "a.b-c_d/e'f\"g"),
            ("::", "%3A%3A"),
            ("a*b?c[d]e\\f{g}h:%", "a%2Ab%3Fc%5Bd%5De%5Cf%7Bg%7Dh%3A%25"),
        ];
        for (i, (id, encoded)) in cases.iter().enumerate() {
            let want = env.key(&format!("u:{encoded}"));
            assert_eq!(users.at(*id).key(), want, "id {id:?}");
            users.set(*id, &User::new("u", i as u32)).await.unwrap();
            assert!(
                env.backend.exists(&want).await.unwrap(),
                "stored under {want:?}"
            );
        }
        let mut want_ids: Vec<String> = cases.iter().map(|(id, _)| id.to_string()).collect();
        want_ids.sort();
        assert_eq!(
            sorted(users.keys().await.unwrap()),
            want_ids,
            "keys() returns decoded ids"
        );
        assert_eq!(users.count().await.unwrap(), cases.len());
        for (i, (id, _)) in cases.iter().enumerate() {
            assert_eq!(
                users.get(*id).await.unwrap(),
                Some(User::new("u", i as u32)),
                "id {id:?}"
            );
        }
        let mut entries = users.entries().await.unwrap();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            entries.into_iter().map(|e| e.0).collect::<Vec<_>>(),
            want_ids
        );
        assert_eq!(users.clear().await.unwrap(), cases.len());
        assert_eq!(env.raw_keys().await, Vec::<String>::new());

        // The same encoding for tenant ids and nested ids.
        assert_eq!(
            shop.tenants().at("a:b").users().at("c:d").key(),
            env.key("tenants:a%3Ab:users:c%3Ad")
        );
        assert_eq!(shop.grid().at("*").at("?").key(), env.key("grid:%2A:%3F"));
    }

    /// The empty id is InvalidKey on every operation, and nothing is written.
    pub async fn key_empty_id_is_invalid(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let start = env.key("u");
        expect_empty_id(users.set("", &User::new("e", 1)).await, &start);
        expect_empty_id(users.get("").await, &start);
        expect_empty_id(users.remove("").await, &start);
        expect_empty_id(users.get_many(["a", ""]).await, &start);
        let e = users.at("");
        expect_empty_id(e.get().await, &start);
        expect_empty_id(e.set(&User::new("e", 1)).await, &start);
        expect_empty_id(e.set_if_absent(&User::new("e", 1)).await, &start);
        expect_empty_id(e.modify(|_| Some(User::new("e", 1))).await, &start);
        expect_empty_id(e.exists().await, &start);
        expect_empty_id(e.remove().await, &start);
        expect_empty_id(e.ttl().await, &start);

        let hits = shop.hits().at("");
        expect_empty_id(hits.increment(1).await, &env.key("hits"));
        expect_empty_id(hits.get().await, &env.key("hits"));
        let seen = shop.tenants().at("").seen().clone();
        expect_empty_id(seen.add(&"x".to_string()).await, &env.key("tenants"));
        expect_empty_id(seen.members().await, &env.key("tenants"));
        let thumb = shop.thumbs().at("");
        expect_empty_id(thumb.set(b"x").await, &env.key("thumbs"));
        // An empty inner id, under a valid outer one.
        let inner = shop.grid().at("a").at("");
        expect_empty_id(inner.set(&note("x")).await, &env.key("grid:a"));
        expect_empty_id(
            shop.tenants()
                .at("t")
                .users()
                .set("", &User::new("e", 1))
                .await,
            &env.key("tenants:t:users"),
        );

        assert_eq!(
            env.raw_keys().await,
            Vec::<String>::new(),
            "nothing written"
        );
    }

    /// An encoded key over 1024 bytes is InvalidKey; exactly 1024 is fine.
    pub async fn key_too_long_is_invalid(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let base = env.key("u:");
        let room = 1024 - base.len();

        let fits = "x".repeat(room);
        assert_eq!(users.at(fits.as_str()).key().len(), 1024);
        users
            .set(fits.as_str(), &User::new("fits", 1))
            .await
            .unwrap();
        assert_eq!(
            users.get(fits.as_str()).await.unwrap(),
            Some(User::new("fits", 1))
        );
        assert_eq!(users.keys().await.unwrap(), vec![fits.clone()]);

        let over = "x".repeat(room + 1);
        expect_key_too_long(users.set(over.as_str(), &User::new("over", 1)).await, &base);
        expect_key_too_long(users.get(over.as_str()).await, &base);
        expect_key_too_long(users.at(over.as_str()).exists().await, &base);
        expect_key_too_long(users.get_many([fits.as_str(), over.as_str()]).await, &base);

        // The encoded length counts: a short id of `:` encodes to three times its length.
        let colons = ":".repeat(room / 3 + 1);
        assert!(colons.len() < room);
        expect_key_too_long(users.set(colons.as_str(), &User::new("c", 1)).await, &base);

        // Multi-byte characters count in bytes.
        let wide = "é".repeat(room / 2 + 1);
        expect_key_too_long(users.set(wide.as_str(), &User::new("w", 1)).await, &base);

        // Under a tenant.
        expect_key_too_long(
            shop.tenants()
                .at(over.as_str())
                .config()
                .set(&Settings::new("x"))
                .await,
            &env.key("tenants:"),
        );
        expect_key_too_long(
            shop.tenants().at(fits.as_str()).hits().increment(1).await,
            &env.key("tenants:"),
        );

        assert_eq!(env.raw_keys().await, vec![env.key(&format!("u:{fits}"))]);
    }

    /// No id reaches a key of another keyspace or another tenant.
    pub async fn key_hostile_ids_stay_in_their_keyspace(env: Env) {
        let shop = env.shop();
        let tenants = shop.tenants();
        // Without encoding, tenant "acme:config"'s hits would be `tenants:acme:config:hits`, and the
        // inner id "b:c" of "a" would collide with the inner id "c" of "a:b".
        tenants
            .at("acme")
            .config()
            .set(&Settings::new("acme"))
            .await
            .unwrap();
        tenants
            .at("acme:users:bob")
            .config()
            .set(&Settings::new("evil"))
            .await
            .unwrap();
        assert_eq!(
            tenants.at("acme").users().get("bob").await.unwrap(),
            None,
            "a tenant id cannot reach into another tenant"
        );
        tenants
            .at("acme")
            .users()
            .set("x:config", &User::new("x", 1))
            .await
            .unwrap();
        assert_eq!(
            tenants.at("acme").config().get().await.unwrap(),
            Some(Settings::new("acme"))
        );
        assert_eq!(
            sorted(tenants.keys().await.unwrap()),
            strings(&["acme", "acme:users:bob"])
        );
        assert_eq!(
            tenants.at("acme").users().keys().await.unwrap(),
            strings(&["x:config"])
        );

        let grid = shop.grid();
        grid.at("a:b").at("c").set(&note("1")).await.unwrap();
        assert_eq!(grid.at("a").at("b:c").get().await.unwrap(), None);
        grid.at("a").at("b:c").set(&note("2")).await.unwrap();
        assert_eq!(grid.at("a:b").at("c").get().await.unwrap(), Some(note("1")));
        assert_eq!(sorted(grid.keys().await.unwrap()), strings(&["a", "a:b"]));
        assert_eq!(grid.at("a").keys().await.unwrap(), strings(&["b:c"]));
        assert_eq!(grid.at("a").clear().await.unwrap(), 1);
        assert_eq!(grid.at("a:b").at("c").get().await.unwrap(), Some(note("1")));

        // Glob characters in ids never widen a listing.
        let users = shop.users();
        users.set("*", &User::new("star", 1)).await.unwrap();
        users.set("a", &User::new("a", 1)).await.unwrap();
        users.set("a?", &User::new("aq", 1)).await.unwrap();
        let star = tenants.at("*");
        star.users().set("s", &User::new("s", 1)).await.unwrap();
        assert_eq!(star.users().keys().await.unwrap(), strings(&["s"]));
        assert_eq!(star.users().clear().await.unwrap(), 1);
        assert_eq!(
            tenants.at("acme").users().count().await.unwrap(),
            1,
            "clearing tenant `*` leaves the others"
        );
        let t = tenants.at("a[cm]e");
        t.users().set("q", &User::new("q", 1)).await.unwrap();
        assert_eq!(t.users().keys().await.unwrap(), strings(&["q"]));
        assert_eq!(
            sorted(users.keys().await.unwrap()),
            strings(&["*", "a", "a?"])
        );
        assert_eq!(users.get("*").await.unwrap(), Some(User::new("star", 1)));
        assert!(users.remove("*").await.unwrap());
        assert_eq!(users.count().await.unwrap(), 2);
        assert_eq!(users.get("a").await.unwrap(), Some(User::new("a", 1)));
    }

    /// keys/count/clear stay inside their keyspace: siblings with a common name prefix (`u`/`u2`),
    /// tenants with a common id prefix, stores at a common root prefix.
    pub async fn key_listing_never_leaves_its_keyspace(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let u2 = shop.u2();
        users.set("x", &User::new("x", 1)).await.unwrap();
        u2.set("x", &User::new("x2", 2)).await.unwrap();
        u2.set("y", &User::new("y2", 2)).await.unwrap();
        assert_eq!(users.keys().await.unwrap(), strings(&["x"]));
        assert_eq!(users.count().await.unwrap(), 1);
        assert_eq!(
            users.entries().await.unwrap(),
            vec![("x".to_string(), User::new("x", 1))]
        );
        assert_eq!(users.clear().await.unwrap(), 1);
        assert_eq!(u2.count().await.unwrap(), 2);
        assert_eq!(u2.get("x").await.unwrap(), Some(User::new("x2", 2)));

        // Tenants whose ids share a prefix.
        let tenants = shop.tenants();
        for id in ["a", "ab", "a b", "a%"] {
            let mut u = User::new("t", 1);
            u.name = id.to_owned();
            tenants.at(id).users().set("u", &u).await.unwrap();
            tenants.at(id).hits().increment(1).await.unwrap();
        }
        let a = tenants.at("a");
        assert_eq!(a.users().keys().await.unwrap(), strings(&["u"]));
        assert_eq!(a.users().count().await.unwrap(), 1);
        assert_eq!(a.users().clear().await.unwrap(), 1);
        for id in ["ab", "a b", "a%"] {
            assert_eq!(
                tenants.at(id).users().get("u").await.unwrap(),
                Some(User {
                    name: id.to_owned(),
                    ..User::new("t", 1)
                }),
                "tenant {id:?} untouched"
            );
        }
        assert_eq!(tenants.count().await.unwrap(), 4, "tenant a still has hits");

        // Stores at root prefixes that share a prefix.
        let s1 = env.shop_at("s");
        let s2 = env.shop_at("s2");
        s1.users().set("k", &User::new("s1", 1)).await.unwrap();
        s2.users().set("k", &User::new("s2", 1)).await.unwrap();
        s2.users().set("l", &User::new("s2", 1)).await.unwrap();
        assert_eq!(s1.users().keys().await.unwrap(), strings(&["k"]));
        assert_eq!(s1.users().clear().await.unwrap(), 1);
        assert_eq!(s2.users().count().await.unwrap(), 2);
        // The outer store's `users` sees none of them.
        assert_eq!(users.count().await.unwrap(), 0);

        // A store's static fields are not listed by a sibling Dynamic.
        shop.stats().daily().at("d").increment(1).await.unwrap();
        shop.stats().hits().increment(1).await.unwrap();
        assert_eq!(shop.stats().daily().keys().await.unwrap(), strings(&["d"]));
        assert_eq!(shop.stats().daily().clear().await.unwrap(), 1);
        assert_eq!(shop.stats().hits().get().await.unwrap(), 1);
    }

    /// Keys under a keyspace that are not of its layout (written by someone else) are neither listed
    /// nor counted.
    pub async fn key_listing_ignores_foreign_keys(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        users.set("alice", &User::new("alice", 1)).await.unwrap();
        let alice_json = env.raw_get("u:alice").await.unwrap();
        // Deeper than an item id, or not a canonical encoding.
        env.raw_set("u:alice:extra", &alice_json).await;
        env.raw_set("u:raw*glob", &alice_json).await;
        env.raw_set("u:%3a", &alice_json).await;
        env.raw_set("u:", &alice_json).await;
        assert_eq!(users.keys().await.unwrap(), strings(&["alice"]));
        assert_eq!(users.count().await.unwrap(), 1);
        assert_eq!(
            users.entries().await.unwrap(),
            vec![("alice".to_string(), User::new("alice", 1))]
        );

        // Integer ids: only canonical decimal segments of the id type.
        let views = shop.views();
        views.at(7u64).increment(1).await.unwrap();
        env.raw_set("views:abc", b"1").await;
        env.raw_set("views:007", b"1").await;
        env.raw_set("views:-1", b"1").await;
        env.raw_set("views:7:x", b"1").await;
        assert_eq!(views.keys().await.unwrap(), vec![7u64]);
        assert_eq!(views.count().await.unwrap(), 1);

        // A nested Dynamic: a key with one segment too few is not an outer id.
        let grid = shop.grid();
        grid.at("a").at("b").set(&note("ab")).await.unwrap();
        env.raw_set("grid:lonely", br#"{"text":"x"}"#).await;
        assert_eq!(grid.keys().await.unwrap(), strings(&["a"]));
        assert_eq!(grid.count().await.unwrap(), 1);
    }
}

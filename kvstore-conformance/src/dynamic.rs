//! `Dynamic<N, K>`: at/keys/count/clear, and for items get/set/remove/get_many/set_many/entries.

use super::*;

fn assert_handle<T: Clone + Send + Sync + 'static>(_: &T) {}

rules! {
    /// get/set/remove by id, keys/count/clear.
    pub async fn dynamic_item_ops(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        assert_eq!(users.keys().await.unwrap(), Vec::<String>::new());
        assert_eq!(users.count().await.unwrap(), 0);
        assert_eq!(users.clear().await.unwrap(), 0);
        assert_eq!(users.get("alice").await.unwrap(), None);
        assert!(!users.remove("alice").await.unwrap());

        users.set("alice", &User::new("alice", 30)).await.unwrap();
        users.set("bob", &User::new("bob", 40)).await.unwrap();
        let carol = String::from("carol");
        users.set(&carol, &User::new("carol", 50)).await.unwrap();
        users
            .set(String::from("dave"), &User::new("dave", 60))
            .await
            .unwrap();

        assert_eq!(
            users.get("alice").await.unwrap(),
            Some(User::new("alice", 30))
        );
        assert_eq!(
            users.get(&carol).await.unwrap(),
            Some(User::new("carol", 50))
        );
        assert_eq!(
            users.get(String::from("dave")).await.unwrap(),
            Some(User::new("dave", 60))
        );
        assert_eq!(
            sorted(users.keys().await.unwrap()),
            strings(&["alice", "bob", "carol", "dave"])
        );
        assert_eq!(users.count().await.unwrap(), 4);

        assert!(users.remove("bob").await.unwrap());
        assert!(!users.remove("bob").await.unwrap());
        assert_eq!(users.get("bob").await.unwrap(), None);
        assert_eq!(
            sorted(users.keys().await.unwrap()),
            strings(&["alice", "carol", "dave"])
        );
        assert_eq!(users.count().await.unwrap(), 3);

        assert_eq!(users.clear().await.unwrap(), 3);
        assert_eq!(users.count().await.unwrap(), 0);
        assert_eq!(users.keys().await.unwrap(), Vec::<String>::new());
        assert_eq!(users.get("alice").await.unwrap(), None);
        assert_eq!(users.clear().await.unwrap(), 0);
        assert_eq!(env.raw_keys().await, Vec::<String>::new());
    }

    /// `at(id)` gives the same item as the id shortcuts of the `Dynamic`.
    pub async fn dynamic_at_matches_shortcuts(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        users.at("alice").set(&User::new("alice", 1)).await.unwrap();
        assert_eq!(
            users.get("alice").await.unwrap(),
            Some(User::new("alice", 1))
        );
        users.set("alice", &User::new("alice", 2)).await.unwrap();
        assert_eq!(
            users.at("alice").get().await.unwrap(),
            Some(User::new("alice", 2))
        );
        assert_eq!(
            users.at(String::from("alice")).get().await.unwrap(),
            Some(User::new("alice", 2))
        );
        assert!(users.remove("alice").await.unwrap());
        assert!(!users.at("alice").exists().await.unwrap());
        // A handle made before the write sees it (handles hold no data).
        let early = shop.users().at("late");
        users.set("late", &User::new("late", 3)).await.unwrap();
        assert_eq!(early.get().await.unwrap(), Some(User::new("late", 3)));
    }

    /// get_many: any IntoIterator of ids, results in the same order, None for missing.
    pub async fn dynamic_get_many(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let empty: Vec<&str> = Vec::new();
        assert_eq!(users.get_many(empty).await.unwrap(), Vec::new());

        users.set("a", &User::new("a", 1)).await.unwrap();
        users.set("c", &User::new("c", 3)).await.unwrap();

        let a = Some(User::new("a", 1));
        let c = Some(User::new("c", 3));
        // An array of &str.
        assert_eq!(
            users.get_many(["c", "b", "a"]).await.unwrap(),
            vec![c.clone(), None, a.clone()]
        );
        // A Vec<String>, by value.
        assert_eq!(
            users
                .get_many(vec!["a".to_string(), "a".to_string(), "zz".to_string()])
                .await
                .unwrap(),
            vec![a.clone(), a.clone(), None]
        );
        // A borrowed Vec<String>.
        let ids = strings(&["a", "c"]);
        assert_eq!(
            users.get_many(&ids).await.unwrap(),
            vec![a.clone(), c.clone()]
        );
        // An iterator.
        assert_eq!(
            users
                .get_many(["x", "c"].iter().map(|s| s.to_string()))
                .await
                .unwrap(),
            vec![None, c.clone()]
        );
        // Many ids.
        let many: Vec<String> = (0..300).map(|i| format!("id{i}")).collect();
        for i in (0..300).step_by(7) {
            users
                .set(format!("id{i}"), &User::new("many", i as u32 % 150))
                .await
                .unwrap();
        }
        let got = users.get_many(&many).await.unwrap();
        assert_eq!(got.len(), 300);
        for (i, v) in got.iter().enumerate() {
            if i % 7 == 0 {
                assert_eq!(v, &Some(User::new("many", i as u32 % 150)), "id{i}");
            } else {
                assert_eq!(v, &None, "id{i}");
            }
        }

        // Integer ids.
        let ledger = shop.ledger();
        ledger.set(-1i64, &note("minus one")).await.unwrap();
        ledger.set(5i64, &note("five")).await.unwrap();
        assert_eq!(
            ledger.get_many([5i64, 0, -1]).await.unwrap(),
            vec![Some(note("five")), None, Some(note("minus one"))]
        );
        assert_eq!(
            ledger.get_many(vec![-1i64]).await.unwrap(),
            vec![Some(note("minus one"))]
        );
    }

    /// set_many: owned or borrowed values, any IntoIterator of pairs.
    pub async fn dynamic_set_many(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let a = User::new("a", 1);
        let b = User::new("b", 2);
        // Borrowed values, &str ids.
        users.set_many([("a", &a), ("b", &b)]).await.unwrap();
        assert_eq!(
            users.get_many(["a", "b"]).await.unwrap(),
            vec![Some(a.clone()), Some(b.clone())]
        );
        // Owned values, String ids; overwrites.
        users
            .set_many(vec![
                ("b".to_string(), User::new("b", 20)),
                ("c".to_string(), User::new("c", 30)),
            ])
            .await
            .unwrap();
        assert_eq!(
            users.get_many(["a", "b", "c"]).await.unwrap(),
            vec![
                Some(a.clone()),
                Some(User::new("b", 20)),
                Some(User::new("c", 30))
            ]
        );
        // An iterator of pairs.
        users
            .set_many((0..50u32).map(|i| (format!("n{i}"), User::new("n", i))))
            .await
            .unwrap();
        assert_eq!(users.count().await.unwrap(), 53);
        assert_eq!(users.get("n49").await.unwrap(), Some(User::new("n", 49)));
        // Nothing to write is fine.
        users.set_many(Vec::<(String, User)>::new()).await.unwrap();
        assert_eq!(users.count().await.unwrap(), 53);

        // Integer ids.
        let small = shop.small();
        small
            .set_many([(1u32, note("one")), (u32::MAX, note("max"))])
            .await
            .unwrap();
        assert_eq!(sorted(small.keys().await.unwrap()), vec![1u32, u32::MAX]);
        assert_eq!(small.get(u32::MAX).await.unwrap(), Some(note("max")));
    }

    /// set_many validates every value before writing any: one invalid value, nothing written.
    pub async fn dynamic_set_many_validates_all_first(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        users.set("keep", &User::new("keep", 1)).await.unwrap();

        let mut bad = User::new("bad", 2);
        bad.email = "not-an-email".into();
        let issues = expect_validation(
            users
                .set_many([
                    ("keep", &User::new("keep", 99)),
                    ("x", &User::new("x", 3)),
                    ("bad", &bad),
                    ("y", &User::new("y", 4)),
                ])
                .await,
            &env.key("u:bad"),
        );
        assert_issue_at(&issues, "/email");
        assert_eq!(
            users.get_many(["keep", "x", "bad", "y"]).await.unwrap(),
            vec![Some(User::new("keep", 1)), None, None, None],
            "nothing written"
        );
        assert_eq!(users.count().await.unwrap(), 1);

        // The last value is the bad one.
        let mut old = User::new("old", 3);
        old.age = 151;
        let issues = expect_validation(
            users
                .set_many(vec![
                    ("p".to_string(), User::new("p", 5)),
                    ("old".to_string(), old),
                ])
                .await,
            &env.key("u:old"),
        );
        assert_issue_at(&issues, "/age");
        assert_eq!(users.count().await.unwrap(), 1);

        // A bad id is refused before anything is written too.
        expect_empty_id(
            users
                .set_many([("q", &User::new("q", 1)), ("", &User::new("e", 1))])
                .await,
            &env.key("u"),
        );
        assert_eq!(users.get("q").await.unwrap(), None);
        assert_eq!(
            sorted(env.raw_keys().await),
            vec![env.key("u:keep")],
            "no key written"
        );
    }

    /// Large batches (hundreds of values, which handles may encode and decode on several
    /// threads) keep the order of the small ones: values in id order, and the first bad entry in
    /// order is the error — a bad value before a bad id, a bad id before a bad value, the first of
    /// two corrupt stored values.
    pub async fn dynamic_large_batches_keep_order(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        let all: Vec<(String, User)> = (0..600u32)
            .map(|i| (format!("b{i}"), User::new(&format!("b{i}"), i % 100)))
            .collect();

        let mut entries = all.clone();
        entries[300].1.email = "not-an-email".into();
        entries[450].0 = String::new();
        let issues = expect_validation(users.set_many(entries).await, &env.key("u:b300"));
        assert_issue_at(&issues, "/email");
        let mut entries = all.clone();
        entries[100].0 = String::new();
        entries[300].1.email = "not-an-email".into();
        expect_invalid_key(users.set_many(entries).await, &env.key("u:"));
        assert_eq!(users.count().await.unwrap(), 0, "nothing written");

        users.set_many(all.clone()).await.unwrap();
        let ids: Vec<&String> = all.iter().map(|(id, _)| id).collect();
        let got = users.get_many(ids.iter().copied()).await.unwrap();
        let expected: Vec<Option<User>> = all.iter().map(|(_, u)| Some(u.clone())).collect();
        assert_eq!(got, expected);

        env.raw_set("u:b500", b"not json at all").await;
        env.raw_set("u:b200", b"\xff\xfe").await;
        expect_decode(users.get_many(ids.iter().copied()).await, &env.key("u:b200"));
    }

    /// entries: every (id, value) pair.
    pub async fn dynamic_entries(env: Env) {
        let shop = env.shop();
        let users = shop.users();
        assert_eq!(users.entries().await.unwrap(), Vec::new());
        users.set("b", &User::new("b", 2)).await.unwrap();
        users.set("a", &User::new("a", 1)).await.unwrap();
        users.set("a:b c", &User::new("odd", 3)).await.unwrap();
        let mut entries = users.entries().await.unwrap();
        entries.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            entries,
            vec![
                ("a".to_string(), User::new("a", 1)),
                ("a:b c".to_string(), User::new("odd", 3)),
                ("b".to_string(), User::new("b", 2)),
            ]
        );

        let big = shop.big();
        big.set(u128::MAX, &note("max")).await.unwrap();
        big.set(0u128, &note("zero")).await.unwrap();
        let mut entries = big.entries().await.unwrap();
        entries.sort_by_key(|e| e.0);
        assert_eq!(
            entries,
            vec![(0u128, note("zero")), (u128::MAX, note("max"))]
        );
    }

    /// i64, u32, u128 and u64 ids: keys, decoding, keys() typed.
    pub async fn dynamic_integer_ids(env: Env) {
        let shop = env.shop();
        let ledger = shop.ledger();
        for id in [i64::MIN, -1, 0, 1, i64::MAX] {
            ledger.set(id, &note(id.to_string())).await.unwrap();
        }
        assert_eq!(ledger.at(-1i64).key(), env.key("ledger:-1"));
        assert_eq!(
            ledger.at(i64::MIN).key(),
            env.key(&format!("ledger:{}", i64::MIN))
        );
        assert_eq!(
            sorted(ledger.keys().await.unwrap()),
            vec![i64::MIN, -1, 0, 1, i64::MAX]
        );
        assert_eq!(ledger.count().await.unwrap(), 5);
        assert_eq!(
            ledger.get(i64::MIN).await.unwrap(),
            Some(note(i64::MIN.to_string()))
        );
        let id = 1i64;
        // `at` also takes a reference to an id.
        #[allow(clippy::needless_borrows_for_generic_args)]
        let by_ref = ledger.at(&id);
        assert_eq!(by_ref.get().await.unwrap(), Some(note("1")));
        assert!(ledger.remove(0i64).await.unwrap());
        assert_eq!(ledger.count().await.unwrap(), 4);

        let small = shop.small();
        small.set(0u32, &note("zero")).await.unwrap();
        small.set(u32::MAX, &note("max")).await.unwrap();
        assert_eq!(small.at(u32::MAX).key(), env.key("small:4294967295"));
        assert_eq!(sorted(small.keys().await.unwrap()), vec![0u32, u32::MAX]);

        let big = shop.big();
        big.set(u128::MAX, &note("max")).await.unwrap();
        assert_eq!(
            big.at(u128::MAX).key(),
            env.key(&format!("big:{}", u128::MAX))
        );
        assert_eq!(big.keys().await.unwrap(), vec![u128::MAX]);
        assert_eq!(big.get(u128::MAX).await.unwrap(), Some(note("max")));

        let views = shop.views();
        views.at(42u64).increment(1).await.unwrap();
        views.at(u64::MAX).increment(1).await.unwrap();
        assert_eq!(views.at(42u64).key(), env.key("views:42"));
        assert_eq!(sorted(views.keys().await.unwrap()), vec![42u64, u64::MAX]);
    }

    /// Dynamic<Counter, u64> and Dynamic<Blob>: at/keys/count/clear.
    pub async fn dynamic_counters_and_blobs(env: Env) {
        let shop = env.shop();
        let views = shop.views();
        assert_eq!(views.count().await.unwrap(), 0);
        for id in 1..=5u64 {
            assert_eq!(views.at(id).increment(id as i64).await.unwrap(), id as i64);
        }
        assert_eq!(views.at(3u64).get().await.unwrap(), 3);
        assert_eq!(views.count().await.unwrap(), 5);
        assert_eq!(sorted(views.keys().await.unwrap()), vec![1, 2, 3, 4, 5]);
        assert!(views.at(2u64).remove().await.unwrap());
        assert_eq!(views.count().await.unwrap(), 4);
        assert_eq!(views.clear().await.unwrap(), 4);
        assert_eq!(views.count().await.unwrap(), 0);
        assert_eq!(views.at(3u64).get().await.unwrap(), 0);

        let thumbs = shop.thumbs();
        thumbs.at("a").set(b"\xffa").await.unwrap();
        thumbs.at("b").set(b"\xffb").await.unwrap();
        assert_eq!(sorted(thumbs.keys().await.unwrap()), strings(&["a", "b"]));
        assert_eq!(thumbs.count().await.unwrap(), 2);
        assert_eq!(thumbs.at("b").get().await.unwrap(), Some(b"\xffb".to_vec()));
        assert_eq!(thumbs.clear().await.unwrap(), 2);
        assert_eq!(thumbs.at("a").get().await.unwrap(), None);
    }

    /// Dynamic<Dynamic<Item<_>>>: two levels of ids.
    pub async fn dynamic_nested_dynamic(env: Env) {
        let shop = env.shop();
        let grid = shop.grid();
        assert_eq!(grid.at("a").at("b").key(), env.key("grid:a:b"));
        grid.at("a").set("b", &note("ab")).await.unwrap();
        grid.at("a").set("c", &note("ac")).await.unwrap();
        grid.at("d").at("e").set(&note("de")).await.unwrap();

        assert_eq!(grid.at("a").at("b").get().await.unwrap(), Some(note("ab")));
        assert_eq!(grid.at("a").get("c").await.unwrap(), Some(note("ac")));
        assert_eq!(sorted(grid.keys().await.unwrap()), strings(&["a", "d"]));
        assert_eq!(grid.count().await.unwrap(), 2, "count() counts ids");
        assert_eq!(
            sorted(grid.at("a").keys().await.unwrap()),
            strings(&["b", "c"])
        );
        assert_eq!(grid.at("a").count().await.unwrap(), 2);
        assert_eq!(grid.at("zz").count().await.unwrap(), 0);

        // Clearing one inner keyspace leaves the others.
        assert_eq!(grid.at("a").clear().await.unwrap(), 2);
        assert_eq!(grid.keys().await.unwrap(), strings(&["d"]));
        assert_eq!(grid.at("d").get("e").await.unwrap(), Some(note("de")));

        grid.at("a").set("b", &note("ab")).await.unwrap();
        grid.at("a").set("c", &note("ac")).await.unwrap();
        assert_eq!(grid.clear().await.unwrap(), 3, "clear() counts stored keys");
        assert_eq!(grid.count().await.unwrap(), 0);
        assert_eq!(env.raw_keys().await, Vec::<String>::new());
    }

    /// Dynamic<Tenant>: a nested store per id.
    pub async fn dynamic_nested_store(env: Env) {
        let shop = env.shop();
        let tenants = shop.tenants();
        let acme = tenants.at("acme");
        assert_eq!(acme.config().key(), env.key("tenants:acme:config"));
        assert_eq!(
            acme.users().at("bob").key(),
            env.key("tenants:acme:users:bob")
        );
        assert_eq!(acme.hits().key(), env.key("tenants:acme:hits"));
        assert_eq!(acme.docs().at(7u64).key(), env.key("tenants:acme:docs:{7}"));

        acme.config().set(&Settings::new("acme")).await.unwrap();
        acme.users().set("bob", &User::new("bob", 1)).await.unwrap();
        acme.seen().add(&"x".to_string()).await.unwrap();
        acme.docs().set(7u64, &note("seven")).await.unwrap();
        let globex = tenants.at("globex");
        globex.hits().increment(3).await.unwrap();
        globex
            .users()
            .set("bob", &User::new("bob", 2))
            .await
            .unwrap();

        assert_eq!(
            sorted(tenants.keys().await.unwrap()),
            strings(&["acme", "globex"])
        );
        assert_eq!(tenants.count().await.unwrap(), 2);
        assert_eq!(
            acme.users().get("bob").await.unwrap(),
            Some(User::new("bob", 1))
        );
        assert_eq!(
            globex.users().get("bob").await.unwrap(),
            Some(User::new("bob", 2))
        );
        assert_eq!(globex.config().get().await.unwrap(), None);
        assert_eq!(acme.hits().get().await.unwrap(), 0);
        assert_eq!(acme.docs().keys().await.unwrap(), vec![7u64]);
        // The Tenant's `users` is not the Shop's `users`.
        assert_eq!(shop.users().count().await.unwrap(), 0);

        // Clearing one tenant's keyspace leaves the other tenant.
        assert_eq!(acme.users().clear().await.unwrap(), 1);
        assert_eq!(globex.users().count().await.unwrap(), 1);
        assert_eq!(
            acme.config().get().await.unwrap(),
            Some(Settings::new("acme"))
        );

        // Clearing all tenants removes every stored key beneath (config, seen, docs:7, hits, users:bob).
        assert_eq!(tenants.clear().await.unwrap(), 5);
        assert_eq!(tenants.count().await.unwrap(), 0);
        assert_eq!(env.raw_keys().await, Vec::<String>::new());
    }

    /// #[store(colocate)]: the id is wrapped in a hash tag; ids still decode.
    pub async fn dynamic_colocated_store(env: Env) {
        let shop = env.shop();
        let ct = shop.ctenants();
        let acme = ct.at("acme");
        assert_eq!(acme.config().key(), env.key("ctenants:{acme}:config"));
        assert_eq!(
            acme.users().at("bob").key(),
            env.key("ctenants:{acme}:users:bob")
        );
        // No second hash tag inside a tagged key.
        assert_eq!(
            acme.docs().at(7u64).key(),
            env.key("ctenants:{acme}:docs:7")
        );
        // A brace in an id is encoded, so it can never open or close a tag.
        assert_eq!(
            ct.at("{x}").config().key(),
            env.key("ctenants:{%7Bx%7D}:config")
        );

        acme.config().set(&Settings::new("acme")).await.unwrap();
        acme.users().set("bob", &User::new("bob", 1)).await.unwrap();
        acme.docs().set(7u64, &note("seven")).await.unwrap();
        ct.at("{x}").hits().increment(1).await.unwrap();
        assert!(env.raw_exists("ctenants:{acme}:config").await);
        assert!(env.raw_exists("ctenants:{%7Bx%7D}:hits").await);
        assert_eq!(sorted(ct.keys().await.unwrap()), strings(&["acme", "{x}"]));
        assert_eq!(ct.count().await.unwrap(), 2);
        assert_eq!(acme.users().keys().await.unwrap(), strings(&["bob"]));
        assert_eq!(acme.docs().keys().await.unwrap(), vec![7u64]);
        assert_eq!(
            acme.users().get_many(["bob", "x"]).await.unwrap(),
            vec![Some(User::new("bob", 1)), None]
        );
        // The non-colocated tenants are another keyspace.
        assert_eq!(shop.tenants().count().await.unwrap(), 0);
        assert_eq!(ct.at("{x}").hits().get().await.unwrap(), 1);
        assert_eq!(ct.clear().await.unwrap(), 4);
        assert_eq!(env.raw_keys().await, Vec::<String>::new());
    }

    /// A nested static store: its fields are keys under the field's name.
    pub async fn nested_static_store(env: Env) {
        let shop = env.shop();
        let stats = shop.stats();
        assert_eq!(stats.hits().key(), env.key("stats:hits"));
        assert_eq!(stats.last().key(), env.key("stats:last"));
        assert_eq!(stats.daily().at("mon").key(), env.key("stats:daily:mon"));
        assert_eq!(stats.hits().increment(2).await.unwrap(), 2);
        stats.last().set(&note("x")).await.unwrap();
        stats.daily().at("mon").increment(1).await.unwrap();
        stats.daily().at("tue").increment(1).await.unwrap();
        assert_eq!(stats.last().get().await.unwrap(), Some(note("x")));
        assert_eq!(
            sorted(stats.daily().keys().await.unwrap()),
            strings(&["mon", "tue"])
        );
        // `cache` is another Stats.
        assert_eq!(shop.cache().hits().get().await.unwrap(), 0);
        assert_eq!(shop.cache().last().get().await.unwrap(), None);
        assert_eq!(shop.cache().hits().key(), env.key("cache:hits"));
        assert_eq!(shop.stats().hits().get().await.unwrap(), 2);
        assert_eq!(stats.daily().clear().await.unwrap(), 2);
        assert_eq!(stats.hits().get().await.unwrap(), 2);
    }

    /// Handles are Clone + Send + Sync and can be used from many tasks; `open` is not async.
    pub async fn handles_are_cheap_and_shareable(env: Env) {
        let shop = env.shop();
        assert_handle(&shop);
        assert_handle(&shop.users());
        assert_handle(&shop.users().at("a"));
        let tenant = shop.tenants().at("t");
        assert_handle(&tenant);
        assert_handle(&tenant.config());
        assert_handle(&shop.visits());
        assert_handle(&shop.tags());
        assert_handle(&shop.logo());
        assert_handle(&shop.stats());

        let copy = shop.clone();
        let task = tokio::spawn(async move {
            copy.users().set("a", &User::new("a", 1)).await.unwrap();
            copy.visits().increment(1).await.unwrap()
        });
        assert_eq!(task.await.unwrap(), 1);
        assert_eq!(
            shop.users().get("a").await.unwrap(),
            Some(User::new("a", 1))
        );
        // A second store opened over the same backend and prefix sees the same data.
        let again = Shop::open_with_prefix(env.backend.clone(), &env.prefix);
        assert_eq!(again.visits().get().await.unwrap(), 1);
    }
}

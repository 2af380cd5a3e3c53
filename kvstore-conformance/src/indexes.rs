//! Secondary indexes (`UniqueIndex`, `IndexOf`, `OrderedIndex`): unique keys stay unique under
//! racing writers, every write path keeps them, lookups check every entry against its record,
//! ordered pages resume exactly, `repair()` rebuilds — with entries and records in different
//! hash slots on a cluster.

use kvstore::{IndexOf, OrderedIndex, UniqueIndex};

use super::*;

/// A user.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
    #[schemars(email)]
    email: String,
    country: Option<String>,
    score: i64,
}

fn lowercase_email(user: &User) -> Option<String> {
    Some(user.email.to_lowercase())
}

/// The indexed store of these rules.
#[derive(Store)]
struct App {
    users: Dynamic<Item<User>>,
    #[store(index(of = users, key = email))]
    user_by_email: UniqueIndex<String>,
    #[store(index(of = users, key_fn = lowercase_email))]
    user_by_lower_email: UniqueIndex<String>,
    #[store(index(of = users, key = country))]
    users_by_country: IndexOf<String>,
    #[store(index(of = users, key = score))]
    users_by_score: OrderedIndex<i64>,
}

fn user(name: &str, email: &str, country: Option<&str>, score: i64) -> User {
    User {
        name: name.into(),
        email: email.into(),
        country: country.map(Into::into),
        score,
    }
}

/// A member as an older version stored it.
#[derive(Serialize, Deserialize, JsonSchema)]
struct MemberV1 {
    email: String,
}

/// A member now.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Member {
    email: String,
    plan: String,
}

impl From<MemberV1> for Member {
    fn from(v1: MemberV1) -> Member {
        Member {
            email: v1.email,
            plan: "free".into(),
        }
    }
}

/// Members with older versions and a unique index.
#[derive(Store)]
struct Club {
    #[store(migrate_from(MemberV1))]
    members: Dynamic<Item<Member>>,
    #[store(index(of = members, key = email))]
    member_by_email: UniqueIndex<String>,
}

rules! {
    /// Unique, non-unique and ordered lookups answer from the records: a record rewritten
    /// behind the index is not returned by its old keys, a stale unique key is taken over, a second record
    /// with one unique key writes nothing, a removed record lets its keys go.
    pub async fn index_lookups_check_records(env: Env) {
        let (backend, prefix) = (env.backend.clone(), env.prefix.as_str());
        let app = App::open_with_prefix(backend.clone(), prefix);
        let alice = user("Alice", "alice@example.com", Some("NO"), 30);
        app.users().set("alice", &alice).await.unwrap();
        app.users()
            .set("bob", &user("Bob", "Bob@Example.com", Some("NO"), 10))
            .await
            .unwrap();
        app.users()
            .set("carol", &user("Carol", "carol@example.com", Some("SE"), 30))
            .await
            .unwrap();

        let by_email = app.user_by_email();
        assert_eq!(
            by_email.get("alice@example.com").await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(
            by_email.id("alice@example.com").await.unwrap().as_deref(),
            Some("alice")
        );
        assert!(!by_email.contains("nobody@example.com").await.unwrap());
        assert_eq!(
            app.user_by_lower_email()
                .id("bob@example.com")
                .await
                .unwrap()
                .as_deref(),
            Some("bob")
        );
        assert_eq!(
            app.users_by_country().ids("NO").await.unwrap(),
            ["alice", "bob"]
        );
        assert_eq!(app.users_by_country().count("SE").await.unwrap(), 1);
        let top: Vec<String> = app
            .users_by_score()
            .last(2)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            top,
            ["carol", "alice"],
            "highest first, ties by id descending"
        );
        let low: Vec<String> = app
            .users_by_score()
            .range(0, 30, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(low, ["bob", "alice", "carol"]);

        // Another program rewrites alice's record behind the index: the stale entries lie no more.
        let key = format!("{prefix}:users:alice");
        let moved = br#"{"name":"Alice","email":"alice@elsewhere.org","country":"DK","score":1}"#;
        backend.set(&key, moved, Default::default()).await.unwrap();
        assert_eq!(by_email.get("alice@example.com").await.unwrap(), None);
        assert_eq!(app.users_by_country().ids("NO").await.unwrap(), ["bob"]);
        let top = app.users_by_score().last(1).await.unwrap();
        assert_eq!(top[0].0, "carol");
        // The stale unique entry was cleaned: the email is free for another record.
        app.users()
            .set("dave", &user("Dave", "alice@example.com", None, 5))
            .await
            .unwrap();
        assert_eq!(
            by_email.id("alice@example.com").await.unwrap().as_deref(),
            Some("dave")
        );

        // Unique means unique: the second record with one email writes nothing.
        let e = app
            .users()
            .set("eve", &user("Eve", "carol@example.com", None, 1))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unique { holder, .. } if holder == "carol"),
            "{e:?}"
        );
        assert_eq!(app.users().get("eve").await.unwrap(), None);

        // A removed record lets its keys go.
        assert!(app.users().remove("carol").await.unwrap());
        assert!(!by_email.contains("carol@example.com").await.unwrap());
        app.users()
            .set("eve", &user("Eve", "carol@example.com", None, 1))
            .await
            .unwrap();
    }

    /// Of 32 tasks racing to register one email under different ids, exactly one succeeds; the
    /// others get `Error::Unique` and write nothing.
    pub async fn index_racing_sign_ups(env: Env) {
        let (backend, prefix) = (env.backend.clone(), env.prefix.as_str());
        let app = App::open_with_prefix(backend, prefix);
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let users = app.users();
                tokio::spawn(async move {
                    users
                        .set(format!("u{i}"), &user("U", "same@example.com", None, i))
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(Error::Unique { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won, 1, "exactly one of 32 racing writers wins");
        assert_eq!(
            app.users().keys().await.unwrap().len(),
            1,
            "the others wrote nothing"
        );
    }

    /// `set_many` (claims first: a batch with one unique key twice writes nothing), `modify`
    /// (into a held key: refused), `set_if_absent`, atomic steps (a step's commit is the record
    /// write: claims before, entries after; a step not committed leaves no claim), `clear` keep
    /// the indexes.
    pub async fn index_every_write_path_keeps_them(env: Env) {
        let (backend, prefix) = (env.backend.clone(), env.prefix.as_str());
        let app = App::open_with_prefix(backend.clone(), prefix);
        let users = app.users();
        // set_many: all claimed first; one unique key held twice in the batch writes nothing.
        let e = users
            .set_many([
                ("a", user("A", "a@example.com", Some("NO"), 1)),
                ("b", user("B", "a@example.com", Some("NO"), 2)),
            ])
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Unique { .. }), "{e:?}");
        assert!(users.keys().await.unwrap().is_empty(), "nothing written");
        users
            .set_many([
                ("a", user("A", "a@example.com", Some("NO"), 1)),
                ("b", user("B", "b@example.com", Some("NO"), 2)),
            ])
            .await
            .unwrap();
        assert_eq!(app.users_by_country().ids("NO").await.unwrap(), ["a", "b"]);
        assert_eq!(
            app.user_by_email()
                .id("b@example.com")
                .await
                .unwrap()
                .as_deref(),
            Some("b")
        );
        // modify: the new key claimed around the compare-and-swap, the old one let go.
        users
            .at("a")
            .modify(|u| {
                u.map(|mut u| {
                    u.email = "a2@example.com".into();
                    u.country = Some("SE".into());
                    u
                })
            })
            .await
            .unwrap();
        assert!(!app.user_by_email().contains("a@example.com").await.unwrap());
        assert_eq!(
            app.user_by_email()
                .id("a2@example.com")
                .await
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert_eq!(app.users_by_country().ids("SE").await.unwrap(), ["a"]);
        // modify into a key another record holds: refused, nothing changed.
        let e = users
            .at("a")
            .modify(|u| {
                u.map(|mut u| {
                    u.email = "b@example.com".into();
                    u
                })
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unique { holder, .. } if holder == "b"),
            "{e:?}"
        );
        assert_eq!(
            users.get("a").await.unwrap().unwrap().email,
            "a2@example.com"
        );
        // modify to nothing removes the record and lets its keys go.
        users.at("b").modify(|_| None).await.unwrap();
        assert!(!app.user_by_email().contains("b@example.com").await.unwrap());
        // set_if_absent: a lost NX lets its claim go.
        assert!(!users
            .at("a")
            .set_if_absent(&user("A", "c@example.com", None, 0))
            .await
            .unwrap());
        assert!(!app.user_by_email().contains("c@example.com").await.unwrap());
        users
            .set("c", &user("C", "c@example.com", None, 0))
            .await
            .unwrap();
        // An atomic step writes an indexed record as `set` does: claims before its commit, the
        // entries after.
        let c = users.at("c");
        assert!(kvstore::Atomic::new()
            .set(&c, &user("C", "d@example.com", Some("DK"), 4))
            .commit()
            .await
            .unwrap());
        assert!(!app.user_by_email().contains("c@example.com").await.unwrap());
        assert_eq!(
            app.user_by_email()
                .id("d@example.com")
                .await
                .unwrap()
                .as_deref(),
            Some("c")
        );
        assert_eq!(app.users_by_country().ids("DK").await.unwrap(), ["c"]);
        assert_eq!(app.users_by_score().last(1).await.unwrap()[0].0, "c");
        // A step whose check does not hold writes nothing and leaves no claim behind.
        let claim = format!("{}:e@example.com", app.user_by_email().key());
        assert!(!kvstore::Atomic::new()
            .check(&c, Some(&user("C", "other@example.com", None, 0)))
            .set(&c, &user("C", "e@example.com", None, 0))
            .commit()
            .await
            .unwrap());
        assert_eq!(backend.get(&claim).await.unwrap(), None, "the claim put back");
        // A step into a key another record holds: `Error::Unique`, nothing written.
        let e = kvstore::Atomic::new()
            .set(&c, &user("C", "a2@example.com", None, 0))
            .commit()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unique { holder, .. } if holder == "a"),
            "{e:?}"
        );
        assert_eq!(
            users.get("c").await.unwrap().unwrap().email,
            "d@example.com"
        );
        // A step that removes the record lets its keys go.
        assert!(kvstore::Atomic::new().remove(&c).commit().await.unwrap());
        assert!(!app.user_by_email().contains("d@example.com").await.unwrap());
        assert!(app.users_by_country().ids("DK").await.unwrap().is_empty());
        let left = backend
            .get(&format!("{}:d@example.com", app.user_by_email().key()))
            .await
            .unwrap();
        assert_eq!(left, None, "the removed record's claim released");
        users
            .set("c", &user("C", "c@example.com", None, 0))
            .await
            .unwrap();
        // clear() lets every key go with its record.
        assert_eq!(users.clear().await.unwrap(), 2);
        let left = backend.scan_prefix(&format!("{prefix}:")).await.unwrap();
        assert!(left.is_empty(), "entries left behind: {left:?}");
    }

    /// Ordered pages resume exactly after the last item among equal scores: paging through an
    /// index nobody writes returns every record once, in order; the cursor travels as JSON.
    pub async fn index_ordered_pages(env: Env) {
        let (backend, prefix) = (env.backend.clone(), env.prefix.as_str());
        let app = App::open_with_prefix(backend, prefix);
        let mut want = Vec::new();
        for i in 0..25 {
            let id = format!("u{i:02}");
            let score = [3, 1, 2][i % 3];
            app.users()
                .set(&id, &user("U", &format!("{id}@example.com"), None, score))
                .await
                .unwrap();
            want.push((score, id));
        }
        want.sort();
        let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
        let scores = app.users_by_score();
        assert_eq!(scores.count(1, 3).await.unwrap(), 25);
        assert_eq!(scores.count(2, 2).await.unwrap(), 8);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = scores.page(0, 10, after, 4).await.unwrap();
            assert!(page.items.len() <= 4);
            seen.extend(page.items.into_iter().map(|(id, _)| id));
            // The cursor travels as JSON.
            let Some(next) = page.next else { break };
            let json = serde_json::to_string(&next).unwrap();
            after = Some(serde_json::from_str(&json).unwrap());
        }
        assert_eq!(seen, want, "every record once, by score then id");
        let ones: Vec<String> = scores
            .range(1, 1, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ones, want[..ones.len()]);
        assert_eq!(scores.first(1).await.unwrap()[0].0, want[0]);
    }

    /// `repair()` adds what the records have and the index lost, removes stale entries, and reports
    /// two records with one unique key as a conflict; a store's `audit()` reports the missing and
    /// stale entries and the conflicts.
    pub async fn index_repair_rebuilds_from_the_records(env: Env) {
        let (backend, prefix) = (env.backend.clone(), env.prefix.as_str());
        let app = App::open_with_prefix(backend.clone(), prefix);
        for (id, email, country, score) in [
            ("a", "a@example.com", "NO", 1),
            ("b", "b@example.com", "NO", 2),
            ("c", "c@example.com", "SE", 3),
        ] {
            app.users()
                .set(id, &user(id, email, Some(country), score))
                .await
                .unwrap();
        }
        // The index is lost (an index added to existing data looks the same), a stale entry
        // appears, and two records are given one email behind the index's back.
        for index in ["user_by_email", "users_by_country", "users_by_score"] {
            let keys = backend
                .scan_prefix(&format!("{prefix}:{index}"))
                .await
                .unwrap();
            backend.delete(&keys).await.unwrap();
        }
        backend
            .set_add(&format!("{prefix}:users_by_country:NO"), b"ghost", None)
            .await
            .unwrap();
        let twin = br#"{"name":"d","email":"c@example.com","country":null,"score":4}"#;
        backend
            .set(&format!("{prefix}:users:d"), twin, Default::default())
            .await
            .unwrap();

        // The audit sees it: every record missing from the three lost indexes (4 records, d
        // without a country), the ghost stale, and d's lowercased email held by c.
        let audit = app.audit().await.unwrap();
        assert_eq!(
            (audit.missing_entries, audit.stale_entries, audit.index_conflicts),
            (4 + 3 + 4, 1, 1),
            "{audit}"
        );
        assert!(
            audit.problems.iter().any(|p| p.kind == kvstore::ProblemKind::IndexConflict
                && p.key == format!("{prefix}:users:d")),
            "{audit}"
        );
        assert_eq!(audit.unknown, 0, "{audit}");
        assert!(
            audit.problems.iter().any(|p| p.kind == kvstore::ProblemKind::StaleEntry
                && p.key == format!("{prefix}:users_by_country:NO ghost")),
            "{audit}"
        );
        assert!(
            audit.problems.iter().any(|p| p.kind == kvstore::ProblemKind::MissingEntry
                && p.key == format!("{prefix}:users:a")),
            "{audit}"
        );

        let report = app.user_by_email().repair().await.unwrap();
        assert_eq!(
            (report.scanned, report.added, report.conflicts),
            (4, 3, 1),
            "{report:?}"
        );
        assert_eq!(report.conflicting.len(), 1);
        assert_eq!(
            app.user_by_email()
                .id("a@example.com")
                .await
                .unwrap()
                .as_deref(),
            Some("a")
        );
        let report = app.users_by_country().repair().await.unwrap();
        assert_eq!((report.added, report.removed), (3, 1), "{report:?}");
        assert_eq!(app.users_by_country().ids("NO").await.unwrap(), ["a", "b"]);
        let report = app.users_by_score().repair().await.unwrap();
        assert_eq!(report.added, 4, "{report:?}");
        assert_eq!(app.users_by_score().last(1).await.unwrap()[0].0, "d");
        // Run again: nothing to do.
        let again = app.users_by_country().repair().await.unwrap();
        assert_eq!((again.added, again.removed), (0, 0));
        app.user_by_lower_email().repair().await.unwrap();
        // Now only the two conflicts (d and c share an email, in both unique indexes) are left.
        let audit = app.audit().await.unwrap();
        assert_eq!(
            (audit.missing_entries, audit.stale_entries, audit.index_conflicts),
            (0, 0, 2),
            "{audit}"
        );
    }

    /// Each index has its key; the manifest names each index, the records it keeps (`of`) and
    /// its key.
    pub async fn index_manifest(env: Env) {
        let app = App::open_with_prefix(env.backend.clone(), &env.prefix);
        assert_eq!(app.user_by_email().key(), env.key("user_by_email"));
        assert_eq!(app.users_by_score().key(), env.key("users_by_score"));
        let schema = App::schema();
        let unique = &schema["user_by_email:*"];
        assert_eq!(unique["kind"], "unique_index");
        assert_eq!(unique["of"], "users:*");
        assert_eq!(unique["key"], "email");
        assert_eq!(schema["user_by_lower_email:*"]["key"], "lowercase_email");
        assert_eq!(schema["user_by_lower_email:*"]["computed"], true);
        assert_eq!(schema["users_by_country:*"]["kind"], "index");
        assert_eq!(schema["users_by_score"]["kind"], "ordered_index");
        kvstore::manifest::Manifest::from_json(&schema).expect("the manifest reads back");
    }

    /// A migration write-back and `migrate()` claim and enter the converted value's keys like
    /// any write; a converted value whose unique key another record holds is returned but not
    /// written back (`migrate()` reports it as a failed write-back).
    pub async fn index_migration_write_back(env: Env) {
        let club = Club::open_with_prefix(env.backend.clone(), &env.prefix);
        env.raw_set("members:a", br#"{"email":"a@x.io"}"#).await;
        env.raw_set("members:b", br#"{"email":"a@x.io"}"#).await;
        let a = club.members().get("a").await.unwrap().unwrap();
        assert_eq!(a.plan, "free");
        assert_eq!(
            club.member_by_email().id("a@x.io").await.unwrap().as_deref(),
            Some("a"),
            "the write-back entered the key"
        );
        let b = club.members().get("b").await.unwrap().unwrap();
        assert_eq!(b.email, "a@x.io", "read, converted");
        let stored = env.backend.get(&env.key("members:b")).await.unwrap().unwrap();
        assert_eq!(stored, br#"{"email":"a@x.io"}"#, "not written back: the key is a's");
        assert_eq!(
            club.member_by_email().id("a@x.io").await.unwrap().as_deref(),
            Some("a")
        );
        // `migrate()` writes back through the indexes too: c's key claimed and entered; b's
        // held by a, so b is reported as a failed write-back and left as it is.
        env.raw_set("members:c", br#"{"email":"c@x.io"}"#).await;
        let report = club.migrate().await.unwrap();
        assert_eq!(
            (report.migrated, report.failed),
            (1, 1),
            "{report}"
        );
        assert!(
            report.problems.iter().any(|p| p.key == env.key("members:b")
                && p.kind == kvstore::ProblemKind::WriteFailed),
            "{report}"
        );
        assert_eq!(
            club.member_by_email().id("c@x.io").await.unwrap().as_deref(),
            Some("c")
        );
        let claim = format!("{}:c@x.io", club.member_by_email().key());
        assert!(env.backend.get(&claim).await.unwrap().is_some(), "c's claim");
        let stored = env.backend.get(&env.key("members:c")).await.unwrap().unwrap();
        assert!(stored.starts_with(br#"{"email":"c@x.io","plan""#), "migrated");
    }
}

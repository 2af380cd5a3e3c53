//! Atomic steps over the native types: list pushes, sorted-set members, map fields, bits and
//! packed integers, in one step with other writes — validated before anything is sent, undone
//! together when one fails.

use std::time::Duration;

use kvstore::{
    backend::{Command, MapOp},
    Atomic, Bits, ListOf, MapOf, PackedInts, SortedSetOf,
};

use super::*;

/// One player's data, every key under one hash tag (a step over them fits one cluster slot).
#[derive(Store)]
pub struct Arena {
    /// Players by id.
    #[store(colocate)]
    pub players: Dynamic<Player>,
}

/// What a step changes for one player.
#[derive(Store)]
pub struct Player {
    /// A balance.
    pub coins: Item<i64>,
    /// The player's inbox.
    pub inbox: ListOf<Note>,
    /// Constrained list values.
    pub badges: ListOf<Label>,
    /// A list with a default TTL, for the created-key rule.
    #[store(ttl = "30m")]
    pub recent: ListOf<String>,
    /// Scores of the player's games.
    pub board: SortedSetOf<String>,
    /// Named statistics.
    pub stats: MapOf<String, i64>,
    /// Named notes.
    pub notes: MapOf<String, Note>,
    /// Achievement flags.
    pub flags: Bits,
    /// Per-level counts.
    pub levels: PackedInts<u8>,
}

fn player(env: &Env) -> Player {
    Arena::open_with_prefix(env.backend.clone(), &env.prefix)
        .players()
        .at("p1")
}

/// The raw key of the player's field `tail`.
fn key(env: &Env, tail: &str) -> String {
    env.key(&format!("players:{{p1}}:{tail}"))
}

rules! {
    /// Every native write commits with the step's other writes, under its checks.
    pub async fn step_native_writes_commit(env: Env) {
        let p = player(&env);
        p.coins().set(&100).await.unwrap();
        p.board().add(&"old".to_owned(), 1.0).await.unwrap();
        p.notes().set("gone", &note("x")).await.unwrap();
        let committed = Atomic::new()
            .check(&p.coins(), Some(&100))
            .set(&p.coins(), &90)
            .push_back(&p.inbox(), &note("second"))
            .push_front(&p.inbox(), &note("first"))
            .add_scored(&p.board(), &"win".to_owned(), 10.0)
            .increment_score(&p.board(), &"win".to_owned(), 2.5)
            .increment_score(&p.board(), &"new".to_owned(), 1.0)
            .remove_member(&p.board(), &"old".to_owned())
            .set_field(&p.notes(), "motto", &note("onwards"))
            .remove_field(&p.notes(), "gone")
            .increment_field(&p.stats(), "games", 3)
            .increment_field(&p.stats(), "games", -1)
            .set_bit(&p.flags(), 9, true)
            .set_slot(&p.levels(), 2, 7)
            .increment_slot(&p.levels(), 2, 5)
            .push_back(&p.recent(), &"joined".to_owned())
            .push_back(&p.recent(), &"played".to_owned())
            .commit()
            .await
            .unwrap();
        assert!(committed);
        assert_eq!(p.coins().get().await.unwrap(), Some(90));
        assert_eq!(
            p.inbox().range(0, -1).await.unwrap(),
            vec![note("first"), note("second")]
        );
        assert_eq!(
            p.board().range(0, -1).await.unwrap(),
            vec![("new".to_owned(), 1.0), ("win".to_owned(), 12.5)]
        );
        assert_eq!(p.notes().fields().await.unwrap(), vec!["motto".to_owned()]);
        assert_eq!(p.notes().get("motto").await.unwrap(), Some(note("onwards")));
        assert_eq!(p.stats().get("games").await.unwrap(), Some(2));
        assert!(p.flags().get(9).await.unwrap());
        assert_eq!(p.flags().count().await.unwrap(), 1);
        assert_eq!(p.levels().get(2).await.unwrap(), 12);
        // A key created by the step gets its field's default TTL (a second write to it in the
        // same step keeps it); others none.
        assert_eq!(p.recent().len().await.unwrap(), 2);
        let ttl = p.recent().ttl().await.unwrap().expect("the default TTL");
        assert!(ttl > Duration::from_secs(1740), "{ttl:?}");
        assert_eq!(p.inbox().ttl().await.unwrap(), None);

        // A check that does not hold: no native write happens either.
        let committed = Atomic::new()
            .check(&p.coins(), Some(&100))
            .push_back(&p.inbox(), &note("never"))
            .increment_field(&p.stats(), "games", 1)
            .set_slot(&p.levels(), 0, 1)
            .commit()
            .await
            .unwrap();
        assert!(!committed);
        assert_eq!(p.inbox().len().await.unwrap(), 2);
        assert_eq!(p.stats().get("games").await.unwrap(), Some(2));
        assert_eq!(p.levels().get(0).await.unwrap(), 0);
    }

    /// A bad native write (an invalid value, a NaN score, a hostile field, an offset past the
    /// size limit) fails the step before anything is sent: nothing is written.
    pub async fn step_native_bad_input_writes_nothing(env: Env) {
        let p = player(&env);
        let too_long = label("far too long for eight");
        let cases: Vec<(&str, Atomic, &str)> = vec![
            (
                "an invalid list value",
                Atomic::new().set(&p.coins(), &1).push_back(&p.badges(), &too_long),
                "badges",
            ),
            (
                "a NaN score",
                Atomic::new()
                    .set(&p.coins(), &1)
                    .add_scored(&p.board(), &"x".to_owned(), f64::NAN),
                "board",
            ),
            (
                "a NaN increment",
                Atomic::new()
                    .set(&p.coins(), &1)
                    .increment_score(&p.board(), &"x".to_owned(), f64::NAN),
                "board",
            ),
            (
                "an empty field",
                Atomic::new().set(&p.coins(), &1).set_field(&p.notes(), "", &note("x")),
                "notes",
            ),
            (
                "a bit past the size limit",
                Atomic::new().set(&p.coins(), &1).set_bit(&p.flags(), u64::MAX / 2, true),
                "flags",
            ),
            (
                "a slot past the size limit",
                Atomic::new().set(&p.coins(), &1).increment_slot(&p.levels(), u64::MAX / 16, 1),
                "levels",
            ),
        ];
        for (what, step, field) in cases {
            let e = err(step.commit().await, what);
            assert_names_key(&e, &key(&env, field));
            assert!(env.raw_keys().await.is_empty(), "{what}: {:?}", env.raw_keys().await);
        }
        let e = err(
            Atomic::new()
                .set(&p.coins(), &1)
                .push_back(&p.badges(), &too_long)
                .commit()
                .await,
            "an invalid list value",
        );
        assert!(matches!(e, Error::Validation { stored: false, .. }), "{e:?}");
    }

    /// A push in a step wakes a `pop_front_blocking` waiting on that list, as a push alone
    /// does.
    pub async fn step_native_push_wakes_a_blocked_pop(env: Env) {
        let p = player(&env);
        let waiter = {
            let inbox = p.inbox();
            tokio::spawn(async move { inbox.pop_front_blocking(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let committed = Atomic::new()
            .set(&p.coins(), &1)
            .push_back(&p.inbox(), &note("mail"))
            .commit()
            .await
            .unwrap();
        assert!(committed);
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the blocked pop is woken by the step's push")
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(note("mail")));
    }

    /// A native write the backend refuses (an overflowing slot, a field that is not an integer,
    /// a key of another kind) undoes the whole step.
    pub async fn step_native_failed_write_undoes_the_step(env: Env) {
        let p = player(&env);
        p.coins().set(&100).await.unwrap();
        p.levels().set(0, 250).await.unwrap();
        p.inbox().push_back(&note("kept")).await.unwrap();

        let e = err(
            Atomic::new()
                .set(&p.coins(), &1)
                .push_back(&p.inbox(), &note("undone"))
                .increment_slot(&p.levels(), 0, 10)
                .commit()
                .await,
            "an overflowing slot",
        );
        assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
        assert_names_key(&e, &key(&env, "levels"));
        assert_eq!(p.coins().get().await.unwrap(), Some(100));
        assert_eq!(p.inbox().range(0, -1).await.unwrap(), vec![note("kept")]);
        assert_eq!(p.levels().get(0).await.unwrap(), 250);
        assert_eq!(p.levels().len().await.unwrap(), 1);

        // A score sum that is not a number (+inf + -inf).
        p.board().add(&"x".to_owned(), f64::INFINITY).await.unwrap();
        let e = err(
            Atomic::new()
                .set(&p.coins(), &2)
                .increment_score(&p.board(), &"x".to_owned(), f64::NEG_INFINITY)
                .commit()
                .await,
            "a score sum that is not a number",
        );
        assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
        assert_names_key(&e, &key(&env, "board"));
        assert_eq!(p.coins().get().await.unwrap(), Some(100));
        assert_eq!(
            p.board().score(&"x".to_owned()).await.unwrap(),
            Some(f64::INFINITY)
        );
        p.board().clear().await.unwrap();

        p.notes().set("n", &note("x")).await.unwrap();
        // `stats` is a map of integers; a raw text value there is not one.
        env.backend
            .execute(Command::Map {
                key: &key(&env, "stats"),
                op: MapOp::Set {
                    field: "games",
                    value: b"many",
                    only_if_absent: false,
                    ttl_if_created: None,
                },
            })
            .await
            .unwrap();
        let e = err(
            Atomic::new()
                .remove_field(&p.notes(), "n")
                .increment_field(&p.stats(), "games", 1)
                .commit()
                .await,
            "a field that is not an integer",
        );
        assert!(matches!(e, Error::Decode { .. }), "{e:?}");
        assert_names_key(&e, &key(&env, "stats"));
        assert_eq!(p.notes().get("n").await.unwrap(), Some(note("x")));

        // A key of another kind.
        env.raw_set("players:{p1}:board", b"a string").await;
        let e = err(
            Atomic::new()
                .push_back(&p.inbox(), &note("undone"))
                .add_scored(&p.board(), &"x".to_owned(), 1.0)
                .commit()
                .await,
            "a key of another kind",
        );
        assert!(matches!(e, Error::WrongType { .. }), "{e:?}");
        assert_names_key(&e, &key(&env, "board"));
        assert_eq!(p.inbox().range(0, -1).await.unwrap(), vec![note("kept")]);
    }
}

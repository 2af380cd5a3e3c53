//! Atomic steps across keys (`kvstore::Atomic`): checks, writes, all or nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use kvstore::Atomic;

use super::*;

/// Accounts that share one hash tag (so a step over them fits one cluster slot).
#[derive(Store)]
pub struct Bank {
    #[store(colocate)]
    pub branches: Dynamic<Branch>,
    /// Not colocated: ids of different slots on a cluster.
    pub loose: Dynamic<Item<i64>>,
}

/// One branch's accounts and ledger.
#[derive(Store)]
pub struct Branch {
    pub accounts: Dynamic<Item<i64>>,
    pub transfers: Counter,
    pub tags: SetOf<String>,
    pub note: Item<Note>,
    pub settings: Item<Settings>,
}

fn bank(env: &Env) -> Bank {
    Bank::open_with_prefix(env.backend.clone(), &env.prefix)
}

fn is_cluster(env: &Env) -> bool {
    env.backend.info().name == "redis-cluster"
}

rules! {
    /// A step whose checks hold writes everything: sets, a removal, an increment, set members.
    pub async fn step_commits_every_write(env: Env) {
        let branch = bank(&env).branches().at("main");
        let (a, b, gone) = (
            branch.accounts().at("a"),
            branch.accounts().at("b"),
            branch.accounts().at("gone"),
        );
        a.set(&100).await.unwrap();
        gone.set(&1).await.unwrap();
        branch.tags().add(&"old".to_owned()).await.unwrap();
        let committed = Atomic::new()
            .check(&a, Some(&100))
            .check(&b, None)
            .set(&a, &60)
            .set(&b, &40)
            .remove(&gone)
            .increment(&branch.transfers(), 1)
            .add(&branch.tags(), &"new".to_owned())
            .remove_member(&branch.tags(), &"old".to_owned())
            .commit()
            .await
            .unwrap();
        assert!(committed);
        assert_eq!(a.get().await.unwrap(), Some(60));
        assert_eq!(b.get().await.unwrap(), Some(40));
        assert!(!gone.exists().await.unwrap());
        assert_eq!(branch.transfers().get().await.unwrap(), 1);
        assert_eq!(
            branch.tags().members().await.unwrap(),
            vec!["new".to_owned()]
        );
        // An empty step commits trivially.
        assert!(Atomic::new().commit().await.unwrap());
    }

    /// A check that does not hold writes nothing (every key inspected raw).
    pub async fn step_failed_check_writes_nothing(env: Env) {
        let branch = bank(&env).branches().at("main");
        let (a, b) = (branch.accounts().at("a"), branch.accounts().at("b"));
        a.set(&100).await.unwrap();
        let before_a = env.raw_get("branches:{main}:accounts:a").await;
        let committed = Atomic::new()
            .check(&a, Some(&99)) // stale
            .set(&a, &0)
            .set(&b, &100)
            .increment(&branch.transfers(), 1)
            .commit()
            .await
            .unwrap();
        assert!(!committed);
        assert_eq!(env.raw_get("branches:{main}:accounts:a").await, before_a);
        assert!(!env.raw_exists("branches:{main}:accounts:b").await);
        assert!(!env.raw_exists("branches:{main}:transfers").await);
        // "Absent" is a check too.
        let committed = Atomic::new()
            .check(&a, None)
            .set(&b, &1)
            .commit()
            .await
            .unwrap();
        assert!(!committed);
        assert!(!env.raw_exists("branches:{main}:accounts:b").await);
    }

    /// An invalid value anywhere in the step (the fifth write) fails it before anything is sent.
    pub async fn step_invalid_value_writes_nothing(env: Env) {
        let branch = bank(&env).branches().at("main");
        let a = branch.accounts().at("a");
        let mut bad = Settings::new("dark");
        bad.motd = "far too long for its sixteen characters".into();
        let err = Atomic::new()
            .set(&a, &1)
            .set(&branch.accounts().at("b"), &2)
            .increment(&branch.transfers(), 1)
            .add(&branch.tags(), &"t".to_owned())
            .set(&branch.settings(), &bad) // the fifth write breaks its schema
            .set(&branch.note(), &note("fine"))
            .commit()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { stored: false, .. }), "{err:?}");
        assert_names_key(&err, &env.key("branches:{main}:settings"));
        assert!(env.raw_keys().await.is_empty(), "{:?}", env.raw_keys().await);
        // A zero TTL likewise.
        let err = Atomic::new()
            .set(&a, &1)
            .set_with_ttl(&branch.note(), &note("x"), std::time::Duration::ZERO)
            .commit()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidTtl { .. }), "{err:?}");
        assert!(env.raw_keys().await.is_empty());
        // A value over the size limit, and an invalid id, likewise.
        let err = Atomic::new()
            .set(&a, &1)
            .set(&branch.accounts().at(""), &2)
            .commit()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
        assert!(env.raw_keys().await.is_empty());
    }

    /// A write the backend refuses (an increment of a non-integer) undoes the whole step.
    pub async fn step_failed_write_undoes_the_step(env: Env) {
        let branch = bank(&env).branches().at("main");
        let (a, b) = (branch.accounts().at("a"), branch.accounts().at("b"));
        a.set(&100).await.unwrap();
        env.raw_set("branches:{main}:transfers", b"not a number").await;
        let err = Atomic::new()
            .set(&a, &1)
            .set(&b, &2)
            .remove(&branch.note())
            .increment(&branch.transfers(), 1)
            .commit()
            .await
            .unwrap_err();
        assert_names_key(&err, &env.key("branches:{main}:transfers"));
        assert_eq!(a.get().await.unwrap(), Some(100));
        assert!(!b.exists().await.unwrap());
        // An overflow too.
        env.raw_set("branches:{main}:transfers", i64::MAX.to_string().as_bytes())
            .await;
        let err = Atomic::new()
            .set(&a, &7)
            .increment(&branch.transfers(), 1)
            .commit()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Overflow { .. }), "{err:?}");
        assert_eq!(a.get().await.unwrap(), Some(100));
    }

    /// Handles of two backends in one step: an error, nothing written.
    pub async fn step_mixing_backends_is_an_error(env: Env) {
        let here = bank(&env).branches().at("main");
        let other = Bank::open_with_prefix(MemoryBackend::new(), &env.prefix);
        let err = Atomic::new()
            .set(&here.accounts().at("a"), &1)
            .set(&other.branches().at("main").accounts().at("b"), &2)
            .commit()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::MixedBackends { .. }), "{err:?}");
        assert!(env.raw_keys().await.is_empty());
        // Two stores over clones of one backend are one backend.
        let again = Bank::open_with_prefix(env.backend.clone(), &env.prefix);
        assert!(Atomic::new()
            .set(&here.accounts().at("a"), &1)
            .set(&again.branches().at("main").accounts().at("b"), &2)
            .commit()
            .await
            .unwrap());
    }

    /// Keys of different slots: on a cluster, a typed error naming them, nothing written;
    /// elsewhere, one step like any other.
    pub async fn step_across_slots(env: Env) {
        let loose = bank(&env).loose();
        let step = Atomic::new()
            .set(&loose.at("alpha"), &1)
            .set(&loose.at("beta"), &2)
            .set(&loose.at("gamma"), &3);
        if is_cluster(&env) {
            let err = step.commit().await.unwrap_err();
            match &err {
                Error::CrossSlot { keys } => {
                    assert!(keys.contains(&env.key("loose:alpha")), "{err}");
                    assert!(err.to_string().contains("colocate"), "{err}");
                }
                other => panic!("expected CrossSlot, got {other:?}"),
            }
            assert!(env.raw_keys().await.is_empty());
        } else {
            assert!(step.commit().await.unwrap());
            assert_eq!(loose.get("beta").await.unwrap(), Some(2));
        }
    }

    /// Concurrent transfers with the retrying helper: the total never changes, and a reader
    /// never sees a step half applied.
    pub async fn step_transfers_keep_the_total(env: Env) {
        const ACCOUNTS: usize = 10;
        const TASKS: u64 = 32;
        const TRANSFERS: u64 = 500;
        let branch = bank(&env).branches().at("main");
        let ids: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct{i}")).collect();
        branch
            .accounts()
            .set_many(ids.iter().map(|id| (id.as_str(), 1_000i64)))
            .await
            .unwrap();
        let total = 1_000 * ACCOUNTS as i64;
        let done = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let reader = {
            let (branch, ids, done, reads) =
                (branch.clone(), ids.clone(), done.clone(), reads.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let values = branch.accounts().get_many(&ids).await.unwrap();
                    let sum: i64 = values.into_iter().map(|v| v.unwrap()).sum();
                    assert_eq!(sum, total, "a reader saw a step half applied");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let committed = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (branch, ids, committed) = (branch.clone(), ids.clone(), committed.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0..TRANSFERS {
                    let from = branch.accounts().at(&ids[((t + n) % 10) as usize]);
                    let to = branch.accounts().at(&ids[((t * 3 + n * 7 + 1) % 10) as usize]);
                    if from.key() == to.key() {
                        continue;
                    }
                    let transfers = branch.transfers();
                    let moved = Atomic::retry(|| async {
                        let (a, b) = (from.get().await?, to.get().await?);
                        let (a_now, b_now) = (a.unwrap(), b.unwrap());
                        if a_now < 1 {
                            return Ok(None);
                        }
                        Ok(Some(
                            Atomic::new()
                                .check(&from, a.as_ref())
                                .check(&to, b.as_ref())
                                .set(&from, &(a_now - 1))
                                .set(&to, &(b_now + 1))
                                .increment(&transfers, 1),
                        ))
                    })
                    .await
                    .unwrap();
                    if moved {
                        committed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        done.store(true, Ordering::Relaxed);
        reader.await.unwrap();
        let values = branch.accounts().get_many(&ids).await.unwrap();
        assert_eq!(values.into_iter().map(|v| v.unwrap()).sum::<i64>(), total);
        // Every committed step incremented the counter in the same step: exactly once each.
        let committed = committed.load(Ordering::Relaxed);
        assert!(committed > 0);
        assert_eq!(branch.transfers().get().await.unwrap(), committed as i64);
        assert!(reads.load(Ordering::Relaxed) > 0);
    }
}

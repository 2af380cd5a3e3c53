//! Atomicity with concurrent callers: modify, counters, set_if_absent, set_many, set adds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

const TASKS: usize = 32;
const ROUNDS: usize = 50;

rules! {
    /// 32 tasks × 50 `modify` increments of one value: no lost update.
    pub async fn atomic_modify_no_lost_update(env: Env) {
        let shop = env.shop();
        let mut handles = Vec::new();
        for _ in 0..TASKS {
            let tally = shop.tally().clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    tally
                        .modify(|t| {
                            Some(Tally {
                                n: t.map_or(0, |t| t.n) + 1,
                            })
                        })
                        .await
                        .unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(
            shop.tally().get().await.unwrap(),
            Some(Tally {
                n: (TASKS * ROUNDS) as u64
            })
        );

        // Concurrent removes and re-creates through modify are atomic too: every task toggles a flag
        // stored as present/absent; an even number of toggles per task leaves it absent.
        let item = shop.notes().at("toggle");
        let flips = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let item = item.clone();
            let flips = flips.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..10 {
                    item.modify(|v| match v {
                        Some(_) => None,
                        None => Some(note("on")),
                    })
                    .await
                    .unwrap();
                    flips.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(flips.load(Ordering::Relaxed), 80);
        assert_eq!(
            item.get().await.unwrap(),
            None,
            "80 atomic toggles end where they began"
        );
    }

    /// Concurrent increments and decrements of counters: no lost update.
    pub async fn atomic_counter_no_lost_update(env: Env) {
        let shop = env.shop();
        let mut handles = Vec::new();
        for t in 0..TASKS {
            let visits = shop.visits().clone();
            let window = shop.views().at(1u64).clone();
            handles.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..ROUNDS {
                    visits.increment(2).await.unwrap();
                    if t % 2 == 0 {
                        visits.decrement(1).await.unwrap();
                    }
                    seen.push(window.increment(1).await.unwrap());
                }
                seen
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        let expected = (TASKS * ROUNDS * 2 - (TASKS / 2) * ROUNDS) as i64;
        assert_eq!(shop.visits().get().await.unwrap(), expected);
        assert_eq!(
            shop.views().at(1u64).get().await.unwrap(),
            (TASKS * ROUNDS) as i64
        );
        // Every increment returned the value it produced: 1, 2, ... each exactly once.
        all.sort();
        assert_eq!(all, (1..=(TASKS * ROUNDS) as i64).collect::<Vec<_>>());
    }

    /// set_if_absent: among many concurrent callers exactly one wins, and its value is stored.
    pub async fn atomic_set_if_absent_one_winner(env: Env) {
        let shop = env.shop();
        for round in 0..5 {
            let id = format!("lock{round}");
            let start = Arc::new(tokio::sync::Barrier::new(TASKS));
            let mut handles = Vec::new();
            for t in 0..TASKS {
                let item = shop.sessions().at(id.as_str()).clone();
                let start = start.clone();
                handles.push(tokio::spawn(async move {
                    start.wait().await;
                    let won = item
                        .set_if_absent(&Session::new("owner", t as u64))
                        .await
                        .unwrap();
                    (t, won)
                }));
            }
            let mut winners = Vec::new();
            for h in handles {
                let (t, won) = h.await.unwrap();
                if won {
                    winners.push(t);
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
            assert_eq!(
                shop.sessions().get(id.as_str()).await.unwrap(),
                Some(Session::new("owner", winners[0] as u64))
            );
            assert!(shop
                .sessions()
                .at(id.as_str())
                .ttl()
                .await
                .unwrap()
                .is_some());
        }
    }

    /// set_many is atomic: a concurrent get_many sees all of a batch or none of it.
    ///
    /// The keys share a hash tag (a colocated tenant), so this holds on a cluster too.
    pub async fn atomic_set_many_visibility(env: Env) {
        let shop = env.shop();
        let notes = shop.ctenants().at("atom").notes().clone();
        let ids: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        const BATCHES: usize = 100;
        let done = Arc::new(AtomicBool::new(false));

        let writer = {
            let notes = notes.clone();
            let ids = ids.clone();
            let done = done.clone();
            tokio::spawn(async move {
                for v in 1..=BATCHES {
                    notes
                        .set_many(ids.iter().map(|id| (id.clone(), note(v.to_string()))))
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        let mut readers = Vec::new();
        for _ in 0..2 {
            let notes = notes.clone();
            let ids = ids.clone();
            let done = done.clone();
            readers.push(tokio::spawn(async move {
                let mut reads = 0usize;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let got = notes.get_many(&ids).await.unwrap();
                    reads += 1;
                    let first = &got[0];
                    assert!(
                        got.iter().all(|v| v == first),
                        "a reader saw a partly written batch: {got:?}"
                    );
                    if finished {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                reads
            }));
        }
        writer.await.unwrap();
        for r in readers {
            assert!(r.await.unwrap() >= 1);
        }
        assert_eq!(
            notes.get_many(&ids).await.unwrap(),
            vec![Some(note(BATCHES.to_string())); ids.len()]
        );
    }

    /// Concurrent set adds: every new member counted once.
    pub async fn atomic_set_add_no_lost_update(env: Env) {
        let shop = env.shop();
        let mut handles = Vec::new();
        for t in 0..16 {
            let tags = shop.tags().clone();
            handles.push(tokio::spawn(async move {
                let mut new = 0;
                for i in 0..20 {
                    // Every member is added by two tasks: exactly one sees it as new.
                    if tags.add(&format!("m{}", (t / 2) * 20 + i)).await.unwrap() {
                        new += 1;
                    }
                }
                new
            }));
        }
        let mut new = 0;
        for h in handles {
            new += h.await.unwrap();
        }
        assert_eq!(new, 8 * 20);
        assert_eq!(shop.tags().len().await.unwrap(), 8 * 20);
    }
}

//! The memory backend shows races as a server does: with `MemoryBackend::interleaved()`, a
//! read-then-write transfer written as `get_many` + `set_many` loses updates under concurrency
//! (as it does on Redis), and the same transfer as an `Atomic` step does not.

use kvstore::{Atomic, Dynamic, Item, MemoryBackend, Store};

#[derive(Store)]
struct Bank {
    accounts: Dynamic<Item<i64>>,
}

const TASKS: usize = 50;

/// 50 concurrent "move 1 from a to b", written naively: read both, write both.
async fn naive_transfers(bank: &Bank) -> (i64, i64) {
    bank.accounts()
        .set_many([("a", 1_000i64), ("b", 1_000)])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let bank = bank.clone();
        tasks.push(tokio::spawn(async move {
            let v = bank.accounts().get_many(["a", "b"]).await.unwrap();
            let (a, b) = (v[0].unwrap(), v[1].unwrap());
            bank.accounts()
                .set_many([("a", a - 1), ("b", b + 1)])
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let v = bank.accounts().get_many(["a", "b"]).await.unwrap();
    (v[0].unwrap(), v[1].unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_naive_transfer_loses_updates_when_interleaved() {
    // Interleaving makes the race likely, not certain: a loss in any of a few rounds proves it.
    let bank = Bank::open(MemoryBackend::new().interleaved());
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let (a, b) = naive_transfers(&bank).await;
        assert_eq!(a + b, 2_000, "each transfer writes both sides");
        outcomes.push(a);
        if a > 1_000 - TASKS as i64 {
            return; // some transfers overwrote each other
        }
    }
    panic!("no update was lost in 10 rounds of {TASKS} interleaved transfers: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_atomic_transfer_loses_nothing_when_interleaved() {
    let bank = Bank::open(MemoryBackend::new().interleaved());
    bank.accounts()
        .set_many([("a", 1_000i64), ("b", 1_000)])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let bank = bank.clone();
        tasks.push(tokio::spawn(async move {
            let (from, to) = (bank.accounts().at("a"), bank.accounts().at("b"));
            let moved = Atomic::retry(|| async {
                let (a, b) = (from.get().await?, to.get().await?);
                Ok(Some(
                    Atomic::new()
                        .check(&from, a.as_ref())
                        .check(&to, b.as_ref())
                        .set(&from, &(a.unwrap() - 1))
                        .set(&to, &(b.unwrap() + 1)),
                ))
            })
            .await
            .unwrap();
            assert!(moved);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let v = bank.accounts().get_many(["a", "b"]).await.unwrap();
    assert_eq!(
        (v[0], v[1]),
        (Some(1_000 - TASKS as i64), Some(1_000 + TASKS as i64))
    );
}

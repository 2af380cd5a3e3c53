//! Transfers between accounts as atomic steps: 32 tasks make 1,000 random transfers each among
//! 10 accounts, each one read-check-write with `Atomic::retry` over versioned reads
//! (`get_versioned` + `Atomic::check_unchanged`). The total before and after is
//! the same, however the tasks interleave.
//!
//! The accounts live under one colocated branch id (`#[store(colocate)]`), so on a Redis Cluster
//! every key of a step hashes to one slot.
//!
//! Run with `cargo run --example bank` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example bank`, or a cluster with
//! `KVSTORE_URL=redis+cluster://127.0.0.1:7000 cargo run --example bank`.

use std::time::Instant;

use kvstore::{Atomic, Counter, Dynamic, Item, Store};

#[derive(Store)]
#[store(prefix = "example:bank")]
struct Bank {
    /// One hash tag per branch: `example:bank:branches:{main}:...`.
    #[store(colocate)]
    branches: Dynamic<Branch>,
}

#[derive(Store)]
struct Branch {
    accounts: Dynamic<Item<i64>>,
    transfers: Counter,
}

const ACCOUNTS: u64 = 10;
const TASKS: u64 = 32;
const TRANSFERS: u64 = 1_000;

async fn total(branch: &Branch) -> kvstore::Result<i64> {
    let ids: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct{i}")).collect();
    let balances = branch.accounts().get_many(&ids).await?;
    Ok(balances.into_iter().map(Option::unwrap_or_default).sum())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let bank = Bank::open(kvstore::connect(&url).await?);
    let branch = bank.branches().at("main");
    bank.branches().clear().await?;
    branch
        .accounts()
        .set_many((0..ACCOUNTS).map(|i| (format!("acct{i}"), 1_000i64)))
        .await?;
    let before = total(&branch).await?;
    println!("backend: {url}\ntotal before: {before}");

    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let branch = branch.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for _ in 0..TRANSFERS {
                // xorshift: a cheap pseudo-random pair of accounts and an amount.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let (from, to) = (rng % ACCOUNTS, (rng >> 8) % ACCOUNTS);
                if from == to {
                    continue;
                }
                let amount = (rng >> 16) as i64 % 50 + 1;
                let (from, to) = (
                    branch.accounts().at(format!("acct{from}")),
                    branch.accounts().at(format!("acct{to}")),
                );
                let transfers = branch.transfers();
                Atomic::retry(|| async {
                    // Versioned reads: each remembers the exact bytes stored, so the step
                    // commits only if nobody wrote either account since (whatever wrote it).
                    let (a, b) = (from.get_versioned().await?, to.get_versioned().await?);
                    let balance = a.as_deref().copied().unwrap_or_default();
                    if balance < amount {
                        return Ok(None); // insufficient funds: nothing to do
                    }
                    let credit = b.as_deref().copied().unwrap_or_default() + amount;
                    Ok(Some(
                        Atomic::new()
                            .check_unchanged(&from, &a)
                            .check_unchanged(&to, &b)
                            .set(&from, &(balance - amount))
                            .set(&to, &credit)
                            .increment(&transfers, 1),
                    ))
                })
                .await?;
            }
            Ok::<(), kvstore::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let after = total(&branch).await?;
    let done = branch.transfers().get().await?;
    println!(
        "{done} transfers committed by {TASKS} tasks in {:.2?}\ntotal after:  {after}",
        started.elapsed()
    );
    assert_eq!(before, after, "money was created or destroyed");
    bank.branches().clear().await?;
    Ok(())
}

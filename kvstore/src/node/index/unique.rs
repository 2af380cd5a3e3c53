//! The unique-key claims of a [`UniqueIndex`](super::UniqueIndex) (see ARCHITECTURE.md,
//! "Secondary indexes"): claim before the record write, confirm after it, release the old key.
//! Every change of a claim is a compare-and-swap on its exact bytes (or `SET NX`), so claims are
//! linearized whatever the backend, a cluster included.

use std::future::Future;

use super::encoding::{now_ms, Claim};
use crate::backend::command::{Command, SetOptions, StringOp, Swap};
use crate::error::{Error, Result};
use crate::layout::decode_id;
use crate::node::Context;

/// How many times a claim is tried when other writers keep changing the entry.
const ATTEMPTS: u32 = 16;

/// A pending claim this writer made, and what the entry held before (to put it back if the
/// record write fails).
#[derive(Debug)]
pub(crate) struct Claimed {
    pub(crate) ours: Claim,
    pub(crate) previous: Option<Vec<u8>>,
}

async fn read(ctx: &Context, entry: &str) -> Result<Option<Vec<u8>>> {
    let get = Command::Str {
        key: entry,
        op: StringOp::Get,
    };
    ctx.execute(get).await?.into_value(&get)
}

/// Compare-and-swap of the entry's exact bytes; whether it swapped.
async fn swap(
    ctx: &Context,
    entry: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<bool> {
    let cas = Command::Str {
        key: entry,
        op: StringOp::CompareAndSwap {
            expected,
            new,
            ttl_if_created: None,
        },
    };
    Ok(ctx.execute(cas).await?.into_swap(&cas)? == Swap::Done)
}

/// Claims `entry` for the record `id` (encoded). A claim of another id is respected while it
/// is pending and within its lease, or while `holds(holder)` says that holder's record is live
/// with this key: then [`Error::Unique`] and nothing written. A stale claim is taken over.
pub(crate) async fn claim<F, Fut>(ctx: &Context, entry: &str, id: &str, holds: F) -> Result<Claimed>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    for _ in 0..ATTEMPTS {
        let ours = Claim::pending(id.to_owned());
        let bytes = ours.to_bytes();
        // `SET NX GET`: a free key is claimed in one command; otherwise the claim there comes
        // back, to be judged.
        let set = Command::Str {
            key: entry,
            op: StringOp::Set {
                value: &bytes,
                options: SetOptions {
                    only_if_absent: true,
                    get: true,
                    ..SetOptions::default()
                },
            },
        };
        let Some(current) = ctx.execute(set).await?.into_value(&set)? else {
            return Ok(Claimed {
                ours,
                previous: None,
            });
        };
        if let Some(theirs) = Claim::parse(&current).filter(|c| c.id != id) {
            let held = theirs.within_lease(now_ms()) || holds(theirs.id.clone()).await?;
            if held {
                return Err(Error::Unique {
                    key: entry.to_owned(),
                    holder: decode_id(&theirs.id).unwrap_or(theirs.id),
                });
            }
        }
        // Ours already (a fresh token linearizes us with a concurrent take-over), stale, or
        // bytes this crate did not write.
        if swap(ctx, entry, Some(&current), Some(&bytes)).await? {
            return Ok(Claimed {
                ours,
                previous: Some(current),
            });
        }
    }
    Err(Error::Conflict {
        key: entry.to_owned(),
        attempts: ATTEMPTS,
    })
}

/// Confirms a pending claim after the record write; `false` when it is no longer ours (the
/// writer stalled past the lease and another took the key over).
///
/// One plain `SET .. GET` (no script): the claim is written held, and what it replaced tells
/// whether it was still ours. Our pending claim, or nothing (a claim is only removed once its
/// lease is over, and then nobody claimed the key since): confirmed. Anything else — a writer
/// took the key over while this one stalled past the lease, or a writer of the same id claimed
/// it again — is put back at once (compare-and-swap of our held claim), and the claim is lost.
pub(crate) async fn confirm(ctx: &Context, entry: &str, claimed: &Claimed) -> Result<bool> {
    let held = claimed.ours.confirmed().to_bytes();
    let set = Command::Str {
        key: entry,
        op: StringOp::Set {
            value: &held,
            options: SetOptions {
                get: true,
                ..SetOptions::default()
            },
        },
    };
    match ctx.execute(set).await?.into_value(&set)? {
        None => Ok(true),
        Some(previous) if previous == claimed.ours.to_bytes() => Ok(true),
        Some(previous) => {
            swap(ctx, entry, Some(&held), Some(&previous)).await?;
            Ok(false)
        }
    }
}

/// Puts back what the entry held before `claimed`, when the record write failed (a claim that
/// someone changed since is left alone).
pub(crate) async fn restore(ctx: &Context, entry: &str, claimed: &Claimed) -> Result<()> {
    let ours = claimed.ours.to_bytes();
    swap(ctx, entry, Some(&ours), claimed.previous.as_deref())
        .await
        .map(drop)
}

/// Releases `entry` if it is held by `id` and `holds()` (the record, read now) says the record
/// no longer has this key. Compare-and-swap on the bytes read: a writer of the same id that
/// re-claimed it meanwhile (a new token) keeps it.
pub(crate) async fn release<Fut>(ctx: &Context, entry: &str, id: &str, holds: Fut) -> Result<()>
where
    Fut: Future<Output = Result<bool>>,
{
    let Some(current) = read(ctx, entry).await? else {
        return Ok(());
    };
    let Some(claim) = Claim::parse(&current) else {
        return Ok(());
    };
    if claim.id != id || claim.within_lease(now_ms()) || holds.await? {
        return Ok(());
    }
    swap(ctx, entry, Some(&current), None).await.map(drop)
}

/// The id (encoded) the claim at `entry` names, and whether it is a pending claim within its
/// lease; `None` when there is none.
pub(crate) async fn holder(ctx: &Context, entry: &str) -> Result<Option<(String, Vec<u8>)>> {
    let Some(current) = read(ctx, entry).await? else {
        return Ok(None);
    };
    Ok(Claim::parse(&current).map(|c| (c.id, current)))
}

/// Removes a stale claim met by a reader: only a held (or expired pending) one, and only if it
/// is still exactly `bytes`.
pub(crate) async fn clean(ctx: &Context, entry: &str, bytes: &[u8]) -> Result<()> {
    if Claim::parse(bytes).is_some_and(|c| c.within_lease(now_ms())) {
        return Ok(());
    }
    swap(ctx, entry, Some(bytes), None).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryBackend;

    fn ctx() -> Context {
        Context::new(MemoryBackend::new())
    }

    /// A claim by `id` on a free (or its own) entry, confirmed.
    async fn held(ctx: &Context, entry: &str, id: &str) -> Claimed {
        let claimed = claim(ctx, entry, id, |_| async { Ok(false) })
            .await
            .unwrap();
        assert!(confirm(ctx, entry, &claimed).await.unwrap());
        claimed
    }

    #[tokio::test]
    async fn one_claim_wins_and_its_holder_is_respected() {
        let ctx = ctx();
        let entry = "idx:alice@example.com";
        let a = claim(&ctx, entry, "a", |_| async { Ok(false) })
            .await
            .unwrap();
        assert!(a.previous.is_none());
        // Pending and within its lease: respected even though the record does not say so.
        let e = claim(&ctx, entry, "b", |_| async { Ok(false) })
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unique { holder, .. } if holder == "a"),
            "{e:?}"
        );
        assert!(confirm(&ctx, entry, &a).await.unwrap());
        // Held, and the record has the key.
        let e = claim(&ctx, entry, "b", |_| async { Ok(true) })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Unique { .. }));
        // Held, but the record moved on: stale, taken over.
        let b = claim(&ctx, entry, "b", |h| async move {
            assert_eq!(h, "a");
            Ok(false)
        })
        .await
        .unwrap();
        assert!(b.previous.is_some());
        // a's confirmation of its old claim can no longer succeed.
        assert!(!confirm(&ctx, entry, &a).await.unwrap());
        assert_eq!(holder(&ctx, entry).await.unwrap().unwrap().0, "b");
    }

    #[tokio::test]
    async fn reclaiming_refreshes_the_token_so_a_release_keeps_it() {
        let ctx = ctx();
        let entry = "idx:k";
        let first = held(&ctx, entry, "a").await;
        let (_, before) = holder(&ctx, entry).await.unwrap().unwrap();
        let again = claim(&ctx, entry, "a", |_| async { Ok(false) })
            .await
            .unwrap();
        assert_eq!(again.previous.as_deref(), Some(before.as_slice()));
        assert_ne!(again.ours.token, first.ours.token);
        // A pending claim within its lease is never released.
        release(&ctx, entry, "a", async { Ok(false) })
            .await
            .unwrap();
        assert!(holder(&ctx, entry).await.unwrap().is_some());
        assert!(confirm(&ctx, entry, &again).await.unwrap());
        // Held by a, and a's record still has the key: kept.
        release(&ctx, entry, "a", async { Ok(true) }).await.unwrap();
        assert!(holder(&ctx, entry).await.unwrap().is_some());
        // Not another id's claim.
        release(&ctx, entry, "b", async { Ok(false) })
            .await
            .unwrap();
        assert!(holder(&ctx, entry).await.unwrap().is_some());
        release(&ctx, entry, "a", async { Ok(false) })
            .await
            .unwrap();
        assert!(holder(&ctx, entry).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_failed_record_write_puts_the_claim_back() {
        let ctx = ctx();
        let entry = "idx:k";
        held(&ctx, entry, "a").await;
        let (_, stored) = holder(&ctx, entry).await.unwrap().unwrap();
        let again = claim(&ctx, entry, "a", |_| async { Ok(false) })
            .await
            .unwrap();
        restore(&ctx, entry, &again).await.unwrap();
        assert_eq!(holder(&ctx, entry).await.unwrap().unwrap().1, stored);
        let fresh = claim(&ctx, "idx:new", "a", |_| async { Ok(false) })
            .await
            .unwrap();
        restore(&ctx, "idx:new", &fresh).await.unwrap();
        assert!(holder(&ctx, "idx:new").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn readers_clean_only_settled_claims() {
        let ctx = ctx();
        let entry = "idx:k";
        let pending = claim(&ctx, entry, "a", |_| async { Ok(false) })
            .await
            .unwrap();
        clean(&ctx, entry, &pending.ours.to_bytes()).await.unwrap();
        assert!(
            holder(&ctx, entry).await.unwrap().is_some(),
            "a writer is between its steps"
        );
        assert!(confirm(&ctx, entry, &pending).await.unwrap());
        clean(&ctx, entry, &pending.ours.to_bytes()).await.unwrap();
        assert!(
            holder(&ctx, entry).await.unwrap().is_some(),
            "not the bytes stored"
        );
        let (_, held) = holder(&ctx, entry).await.unwrap().unwrap();
        clean(&ctx, entry, &held).await.unwrap();
        assert!(holder(&ctx, entry).await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_32_racing_claims_exactly_one_wins() {
        let ctx = ctx();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    claim(&ctx, "idx:same", &format!("id{i}"), |_| async { Ok(false) }).await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(Error::Unique { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won, 1);
    }
}

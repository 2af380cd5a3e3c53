//! The entries of the non-unique indexes, [`IndexOf`](super::IndexOf) (a set of ids per key)
//! and [`OrderedIndex`](super::OrderedIndex) (one sorted set of `<score>:<id>` members): the
//! record is written first, then its entry is added; an old entry is removed, then the record is
//! read again and the entry added back if the record has that key again (see ARCHITECTURE.md,
//! "Secondary indexes").

use std::future::Future;

use crate::backend::command::{Command, SetOp, SortedSetOp};
use crate::error::Result;
use crate::node::Context;

/// Where one entry of a non-unique index is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The id `member` in the set at `key` (`IndexOf`).
    Set { key: String, member: String },
    /// The member `<score>:<id>` of the sorted set at `key` (`OrderedIndex`).
    Ordered { key: String, member: String },
}

impl Entry {
    /// Adds the entry (`SADD`, or `ZADD` with score 0: members order byte-wise); whether it
    /// was missing.
    pub(crate) async fn add(&self, ctx: &Context) -> Result<bool> {
        let command = match self {
            Entry::Set { key, member } => Command::Set {
                key,
                op: SetOp::Add {
                    member: member.as_bytes(),
                    ttl_if_created: None,
                },
            },
            Entry::Ordered { key, member } => Command::SortedSet {
                key,
                op: SortedSetOp::Add {
                    member: member.as_bytes(),
                    score: 0.0,
                    ttl_if_created: None,
                },
            },
        };
        ctx.execute(command).await?.into_bool(&command)
    }

    /// Whether the entry is there (`SISMEMBER` / `ZSCORE`).
    pub(crate) async fn exists(&self, ctx: &Context) -> Result<bool> {
        match self {
            Entry::Set { key, member } => {
                let command = Command::Set {
                    key,
                    op: SetOp::Contains {
                        member: member.as_bytes(),
                    },
                };
                ctx.execute(command).await?.into_bool(&command)
            }
            Entry::Ordered { key, member } => {
                let command = Command::SortedSet {
                    key,
                    op: SortedSetOp::Score {
                        member: member.as_bytes(),
                    },
                };
                Ok(ctx.execute(command).await?.into_score(&command)?.is_some())
            }
        }
    }

    /// Removes the entry (`SREM` / `ZREM`).
    pub(crate) async fn remove(&self, ctx: &Context) -> Result<()> {
        let command = match self {
            Entry::Set { key, member } => Command::Set {
                key,
                op: SetOp::Remove {
                    member: member.as_bytes(),
                },
            },
            Entry::Ordered { key, member } => Command::SortedSet {
                key,
                op: SortedSetOp::Remove {
                    member: member.as_bytes(),
                },
            },
        };
        ctx.execute(command).await?.into_bool(&command).map(drop)
    }

    /// Removes a stale entry, then asks `belongs()` (the record read now) and adds it back if the
    /// record has this key again: whoever writes the record adds its entry after the write, and
    /// a removal is always followed by this re-read, so the last writer's entry stays.
    pub(crate) async fn remove_stale<Fut>(&self, ctx: &Context, belongs: Fut) -> Result<()>
    where
        Fut: Future<Output = Result<bool>>,
    {
        self.remove(ctx).await?;
        if belongs.await? {
            self.add(ctx).await?;
        }
        Ok(())
    }
}

/// After a record write: the new entry added, the old one (if it differs) removed as stale.
pub(crate) async fn moved<Fut>(
    ctx: &Context,
    old: Option<&Entry>,
    new: Option<&Entry>,
    old_belongs: Fut,
) -> Result<()>
where
    Fut: Future<Output = Result<bool>>,
{
    if let Some(new) = new {
        new.add(ctx).await?;
    }
    match old {
        Some(old) if Some(old) != new => old.remove_stale(ctx, old_belongs).await,
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::command::Reply;
    use crate::MemoryBackend;

    async fn members(ctx: &Context, key: &str) -> Vec<Vec<u8>> {
        let command = Command::Set {
            key,
            op: SetOp::Members,
        };
        let Reply::Members(mut m) = ctx.execute(command).await.unwrap() else {
            panic!()
        };
        m.sort();
        m
    }

    #[tokio::test]
    async fn a_move_adds_then_removes_and_re_adds_what_belongs() {
        let ctx = Context::new(MemoryBackend::new());
        let entry = |k: &str| Entry::Set {
            key: format!("idx:{k}"),
            member: "alice".into(),
        };
        moved(&ctx, None, Some(&entry("NO")), async { Ok(false) })
            .await
            .unwrap();
        assert_eq!(members(&ctx, "idx:NO").await, [b"alice".to_vec()]);
        moved(&ctx, Some(&entry("NO")), Some(&entry("SE")), async {
            Ok(false)
        })
        .await
        .unwrap();
        assert!(members(&ctx, "idx:NO").await.is_empty());
        assert_eq!(members(&ctx, "idx:SE").await, [b"alice".to_vec()]);
        // Another writer put the record back on SE meanwhile: the entry is added back.
        moved(&ctx, Some(&entry("SE")), Some(&entry("DK")), async {
            Ok(true)
        })
        .await
        .unwrap();
        assert_eq!(members(&ctx, "idx:SE").await, [b"alice".to_vec()]);
        assert_eq!(members(&ctx, "idx:DK").await, [b"alice".to_vec()]);
        // Same key: nothing removed.
        moved(&ctx, Some(&entry("DK")), Some(&entry("DK")), async {
            Ok(false)
        })
        .await
        .unwrap();
        assert_eq!(members(&ctx, "idx:DK").await, [b"alice".to_vec()]);
    }

    #[tokio::test]
    async fn an_ordered_entry_moves_with_its_score() {
        use crate::backend::command::LexBound;
        use crate::node::index::encoding::ordered_member;
        let ctx = Context::new(MemoryBackend::new());
        let entry = |score: f64, id: &str| Entry::Ordered {
            key: "idx:score".into(),
            member: ordered_member("idx:score", score, &id.to_owned()).unwrap(),
        };
        moved(&ctx, None, Some(&entry(5.0, "b")), async { Ok(false) })
            .await
            .unwrap();
        moved(&ctx, None, Some(&entry(5.0, "a")), async { Ok(false) })
            .await
            .unwrap();
        moved(
            &ctx,
            Some(&entry(5.0, "b")),
            Some(&entry(-1.0, "b")),
            async { Ok(false) },
        )
        .await
        .unwrap();
        let range = Command::SortedSet {
            key: "idx:score",
            op: SortedSetOp::RangeByLex {
                min: LexBound::Min,
                max: LexBound::Max,
                rev: false,
                limit: None,
            },
        };
        let Reply::Members(found) = ctx.execute(range).await.unwrap() else {
            panic!()
        };
        let found: Vec<(f64, String)> = found
            .iter()
            .map(|m| {
                crate::node::index::encoding::parse_ordered_member(std::str::from_utf8(m).unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(found, [(-1.0, "b".to_owned()), (5.0, "a".to_owned())]);
    }
}

//! An indexed record written or removed by an [`Atomic`](crate::Atomic) step: the step's
//! commit is the record write of the protocol (see ARCHITECTURE.md, "Secondary indexes"), so
//! its unique keys are claimed before the commit, and confirmed (with the old entries moved)
//! after it — or put back when the step was not committed.

use std::time::{Duration, Instant};

use super::encoding::LEASE_MS;
use super::hooks::{restore_all, restore_unless_unknown, Keyed, Planned};
use super::unique::Claimed;
use crate::backend::command::{Command, StringOp};
use crate::error::{Error, Result};
use crate::node::audit::BoxFuture;
use crate::node::Item;
use crate::value::Storable;

/// The longest a step may take from its first claim to its commit: well inside the claims'
/// lease, so that no other writer can take a claim over while the step commits.
pub(crate) const CLAIM_DEADLINE: Duration = Duration::from_millis(LEASE_MS / 3);

/// One indexed record of a step, type-erased (a step holds records of any types).
pub(crate) trait StepRecord: Send + Sync {
    /// Reads the record as it is and claims the unique keys of what the step writes.
    fn before(&mut self) -> BoxFuture<'_, Result<()>>;
    /// After the commit: `Ok(true)` committed (claims confirmed, old entries moved or
    /// released); `Ok(false)` not committed (claims put back); an error: the claims put back
    /// unless the outcome is unknown.
    fn after<'a>(&'a mut self, outcome: &'a Result<bool>) -> BoxFuture<'a, Result<()>>;
}

/// A write (`new`: what the indexes key the new value by, and its bytes) or a removal (`None`)
/// of the record `item`.
pub(crate) struct StepWrite<T> {
    item: Item<T>,
    new: Option<(Vec<Option<Keyed>>, Vec<u8>)>,
    old_bytes: Option<Vec<u8>>,
    old: Option<T>,
    plan: Option<Planned>,
    claims: Vec<(String, Claimed)>,
}

impl<T: Storable> StepWrite<T> {
    /// A write of the value encoded as `bytes` to `item`; `None` when `item` has no indexes.
    pub(crate) fn write(
        item: &Item<T>,
        value: &T,
        bytes: &[u8],
    ) -> Result<Option<Box<dyn StepRecord>>> {
        let at = item.at()?;
        let Some(indexes) = at.indexes else {
            return Ok(None);
        };
        let keys = indexes.keys_of(at.key, Some(value))?;
        Ok(Some(Box::new(StepWrite {
            item: item.clone(),
            new: Some((keys, bytes.to_vec())),
            old_bytes: None,
            old: None,
            plan: None,
            claims: Vec::new(),
        })))
    }

    /// A removal of `item`; `None` when `item` has no indexes.
    pub(crate) fn removal(item: &Item<T>) -> Option<Box<dyn StepRecord>> {
        item.at().ok()?.indexes?;
        Some(Box::new(StepWrite {
            item: item.clone(),
            new: None,
            old_bytes: None,
            old: None,
            plan: None,
            claims: Vec::new(),
        }))
    }
}

impl<T: Storable> StepRecord for StepWrite<T> {
    fn before(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let at = self.item.at()?;
            let Some(indexes) = at.indexes else {
                return Ok(());
            };
            let get = Command::Str {
                key: at.key,
                op: StringOp::Get,
            };
            self.old_bytes = at.ctx.execute(get).await?.into_value(&get)?;
            self.old = self
                .old_bytes
                .as_ref()
                .and_then(|b| at.classify(b).ok().map(|r| r.into_value()));
            let Some((new_keys, _)) = &self.new else {
                return Ok(());
            };
            self.plan = at.plan_keys(indexes, new_keys.clone(), self.old.as_ref());
            if let Some(plan) = &self.plan {
                self.claims = at.claim_all(indexes, std::slice::from_ref(plan)).await?;
            }
            Ok(())
        })
    }

    fn after<'a>(&'a mut self, outcome: &'a Result<bool>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let at = self.item.at()?;
            let Some(indexes) = at.indexes else {
                return Ok(());
            };
            match outcome {
                Ok(true) => {}
                Ok(false) => {
                    restore_all(at.ctx, &self.claims).await;
                    return Ok(());
                }
                Err(e) => {
                    restore_unless_unknown(at.ctx, &self.claims, e).await;
                    return Ok(());
                }
            }
            match (&self.new, &self.plan) {
                (Some((_, bytes)), Some(plan)) => {
                    if let Some(entry) = at.confirm_all(&self.claims).await? {
                        // Only when the commit itself outlasted the lease (see
                        // `CLAIM_DEADLINE`): the record is put back, the rest of the step stays.
                        at.put_back(bytes, self.old_bytes.as_deref()).await?;
                        restore_all(at.ctx, &self.claims).await;
                        return at.lost(entry).await.map(drop);
                    }
                    at.settle(indexes, plan).await
                }
                (None, _) => match &self.old {
                    Some(old) => at.removed(indexes, old).await,
                    None => Ok(()),
                },
                (Some(_), None) => Ok(()),
            }
        })
    }
}

/// Runs `commit` between the records' claims and their settling: all claims first (one that
/// fails puts back those made and fails the step before anything is sent), then the commit,
/// then every record's confirmations and entries. A step that took longer than
/// [`CLAIM_DEADLINE`] to claim is not committed.
pub(crate) async fn around<F>(records: &mut [Box<dyn StepRecord>], commit: F) -> Result<bool>
where
    F: std::future::Future<Output = Result<bool>>,
{
    if records.is_empty() {
        return commit.await;
    }
    let started = Instant::now();
    for done in 0..records.len() {
        if let Err(e) = records[done].before().await {
            undo(&mut records[..done]).await;
            return Err(e);
        }
    }
    if started.elapsed() > CLAIM_DEADLINE {
        undo(records).await;
        return Err(Error::backend(
            crate::BackendErrorKind::Timeout,
            None,
            "an atomic step took longer than its unique keys' lease to claim them: nothing \
             was written, try again",
        ));
    }
    let outcome = commit.await;
    let mut first_error = None;
    for record in records.iter_mut() {
        if let Err(e) = record.after(&outcome).await {
            first_error.get_or_insert(e);
        }
    }
    let committed = outcome?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(committed),
    }
}

/// Puts back the claims of records whose step is not committed.
async fn undo(records: &mut [Box<dyn StepRecord>]) {
    for record in records {
        let _ = record.after(&Ok(false)).await;
    }
}

//! Group commit: concurrent writers share one write transaction and one fsync.
//!
//! redb has one write transaction at a time, and a durable commit costs an fsync. A writer joins
//! the open transaction if there is one (running its change inside it, serialized by a lock) or
//! opens one; the writer that opened it commits it after letting the writers already waiting
//! join, and every writer of the batch returns once that commit is durable. While a commit is
//! being synced, arriving writers wait, then form the next batch together: under load, one
//! fsync covers many writes.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use ::redb::{Database, WriteTransaction};

use super::storage_error;
use crate::error::{BackendErrorKind, Error, Result};

#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The batch writers may join.
    open: Option<WriteTransaction>,
    /// Whether the open batch's opener has claimed its commit.
    claimed: bool,
    /// Whether a batch is being committed (no new one can start before).
    committing: bool,
    /// Whether a writer of the open batch changed anything.
    wrote: bool,
    /// The number of the last batch opened, and of the last one finished.
    opened: u64,
    finished: u64,
    /// Why recent batches failed to commit.
    failures: BTreeMap<u64, String>,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in a write transaction shared with concurrent writers, and returns once the
    /// transaction is durable. `f` returns its result and whether it changed anything; a
    /// failing `f` must have changed nothing.
    pub(super) fn run<R>(
        &self,
        db: &Database,
        f: impl FnOnce(&WriteTransaction) -> Result<(R, bool)>,
    ) -> Result<R> {
        let mut state = self.lock();
        while state.open.is_none() && state.committing {
            state = self.wait(state);
        }
        if state.open.is_none() {
            state.open = Some(db.begin_write().map_err(storage_error)?);
            state.opened += 1;
            state.claimed = false;
            state.wrote = false;
        }
        let batch = state.opened;
        let result = match state.open.as_ref() {
            Some(txn) => f(txn),
            None => unreachable!("a batch is open"),
        };
        if let Ok((_, true)) = &result {
            state.wrote = true;
        }
        if state.claimed {
            // Another writer commits this batch.
            while state.finished < batch {
                state = self.wait(state);
            }
        } else {
            state.claimed = true;
            // Let the writers already waiting join before committing.
            drop(state);
            std::thread::yield_now();
            state = self.lock();
            let txn = state.open.take();
            let wrote = state.wrote;
            state.committing = true;
            drop(state);
            let committed = match txn {
                Some(txn) if wrote => txn.commit().map_err(|e| e.to_string()),
                Some(txn) => txn.abort().map_err(|e| e.to_string()),
                None => Ok(()),
            };
            state = self.lock();
            state.committing = false;
            state.finished = batch;
            if let Err(e) = committed {
                state.failures.insert(batch, e);
                while state.failures.len() > 64 {
                    state.failures.pop_first();
                }
            }
            self.changed.notify_all();
        }
        if let Some(e) = state.failures.get(&batch) {
            return Err(Error::backend(
                BackendErrorKind::Other,
                None,
                format!("the redb commit failed, nothing of it was written: {e}"),
            ));
        }
        result.map(|(r, _)| r)
    }
}

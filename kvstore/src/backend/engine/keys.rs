//! The keyspace: [`KeyOp`], deletes and prefix scans with Redis's semantics (`db.c`,
//! `expire.c`): expired keys are invisible, `PEXPIRE 0` deletes.

use std::time::Duration;

use super::{Op, StorageTxn};
use crate::backend::command::{KeyOp, KeyTtl, Reply};
use crate::error::Result;

impl<T: StorageTxn> Op<'_, T> {
    fn exists(&mut self, key: &str) -> Result<bool> {
        Ok(self.live(key)?.is_some())
    }

    pub(super) fn key(&mut self, key: &str, op: KeyOp) -> Result<Reply> {
        Ok(match op {
            KeyOp::Exists => Reply::Bool(self.exists(key)?),
            KeyOp::Ttl => Reply::Ttl(match self.live(key)? {
                None => KeyTtl::Missing,
                Some((_, None)) => KeyTtl::Persistent,
                Some((_, Some(at))) => {
                    KeyTtl::Expires(Duration::from_millis(at.saturating_sub(self.now)))
                }
            }),
            KeyOp::Expire { ttl } => {
                if !self.exists(key)? {
                    return Ok(Reply::Bool(false));
                }
                if ttl.is_zero() {
                    self.txn.remove(key)?;
                } else {
                    let at = self.deadline(Some(ttl));
                    self.txn.set_expiry(key, at)?;
                }
                Reply::Bool(true)
            }
            KeyOp::Persist => match self.live(key)? {
                Some((_, Some(_))) => {
                    self.txn.set_expiry(key, None)?;
                    Reply::Bool(true)
                }
                _ => Reply::Bool(false),
            },
        })
    }

    /// `UNLINK`: how many of the keys existed.
    pub(super) fn delete(&mut self, keys: &[String]) -> Result<Reply> {
        let mut removed = 0;
        for key in keys {
            if self.exists(key)? {
                self.txn.remove(key)?;
                removed += 1;
            }
        }
        Ok(Reply::Len(removed))
    }

    /// Every live key under `prefix`.
    pub(super) fn scan_prefix(&mut self, prefix: &str) -> Result<Vec<String>> {
        let now = self.now;
        let mut keys = Vec::new();
        self.txn.scan_prefix(prefix, &mut |key, expires_at| {
            if expires_at.is_none_or(|at| at > now) {
                keys.push(key.to_owned());
            }
        })?;
        Ok(keys)
    }
}

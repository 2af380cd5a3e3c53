//! Strings: [`StringOp`], `MGET` and `MSET` with Redis's semantics (`t_string.c`): `SET NX`,
//! `KEEPTTL` on compare-and-swap, strict `INCRBY` parsing and overflow.

use std::time::Duration;

use super::{Op, StorageTxn, Stored};
use crate::backend::command::{Reply, StringOp, Swap};
use crate::backend::write_ttl;
use crate::error::{Error, Result};
use crate::value::{Decimal, LeafCodec};

pub(super) fn as_string(stored: &mut Stored) -> Option<&mut Vec<u8>> {
    match stored {
        Stored::Str(bytes) => Some(bytes),
        _ => None,
    }
}

impl<T: StorageTxn> Op<'_, T> {
    pub(super) fn string(&mut self, key: &str, op: StringOp<'_>) -> Result<Reply> {
        Ok(match op {
            StringOp::Get => Reply::Value(self.typed(key, as_string)?.map(|v| v.clone())),
            StringOp::Set { value, options } => {
                self.limits.check_value(key, value.len())?;
                let ttl = write_ttl(key, options.ttl)?;
                // `SET ... GET`: what the key held (a string, or WrongType and nothing written).
                let old = match options.get {
                    true => self.typed(key, as_string)?.map(|v| v.clone()),
                    false => None,
                };
                // A plain SET (the common case) needs no lookup: it replaces whatever is there.
                let current = if options.only_if_absent || options.keep_ttl {
                    self.live(key)?.map(|(_, deadline)| deadline)
                } else {
                    None
                };
                if options.only_if_absent && current.is_some() {
                    return Ok(match options.get {
                        true => Reply::Value(old),
                        false => Reply::Bool(false),
                    });
                }
                let expires_at = match current {
                    Some(deadline) if options.keep_ttl => deadline,
                    _ if options.keep_ttl => None,
                    _ => self.deadline(ttl),
                };
                let value = Stored::Str(value.to_vec());
                self.txn.put(key, super::Entry { value, expires_at })?;
                match options.get {
                    true => Reply::Value(old),
                    false => Reply::Bool(true),
                }
            }
            StringOp::CompareAndSwap {
                expected,
                new,
                ttl_if_created,
            } => {
                if let Some(new) = new {
                    self.limits.check_value(key, new.len())?;
                }
                let ttl = write_ttl(key, ttl_if_created)?;
                let current = self.typed(key, as_string)?;
                if current.as_deref().map(Vec::as_slice) != expected {
                    return Ok(Reply::Swap(Swap::Current(current.cloned())));
                }
                match (current, new) {
                    // Replaced in place: the TTL is kept.
                    (Some(bytes), Some(new)) => new.clone_into(bytes),
                    (Some(_), None) => {
                        self.txn.remove(key)?;
                    }
                    (None, Some(new)) => self.put(key, Stored::Str(new.to_vec()), ttl)?,
                    (None, None) => {}
                }
                Reply::Swap(Swap::Done)
            }
            StringOp::Increment {
                delta,
                ttl_if_created,
            } => {
                let ttl = write_ttl(key, ttl_if_created)?;
                match self.typed(key, as_string)? {
                    Some(bytes) => {
                        let current = Decimal.decode(key, bytes).map_err(|_| Error::Decode {
                            key: key.to_owned(),
                            message: "value is not an integer or out of range".into(),
                        })?;
                        let next = current.checked_add(delta).ok_or_else(|| Error::Overflow {
                            key: key.to_owned(),
                        })?;
                        *bytes = next.to_string().into_bytes();
                        Reply::Int(next)
                    }
                    None => {
                        self.put(key, Stored::Str(delta.to_string().into_bytes()), ttl)?;
                        Reply::Int(delta)
                    }
                }
            }
        })
    }

    /// `MGET`: a missing key and a key of another kind read as nil.
    pub(super) fn get_many(&mut self, keys: &[String]) -> Result<Reply> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.typed(key, as_string).ok().flatten().map(|v| v.clone()));
        }
        Ok(Reply::Values(values))
    }

    /// `MSET`, each key with `ttl`: every value is checked before anything is written.
    pub(super) fn set_many(
        &mut self,
        entries: &[(String, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<Reply> {
        let ttl = match entries.first() {
            Some((first, _)) => write_ttl(first, ttl)?,
            None => None,
        };
        for (key, value) in entries {
            self.limits.check_value(key, value.len())?;
        }
        for (key, value) in entries {
            self.put(key, Stored::Str(value.clone()), ttl)?;
        }
        Ok(Reply::Unit)
    }
}

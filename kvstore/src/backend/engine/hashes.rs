//! Hashes: [`MapOp`] with Redis's semantics (`t_hash.c`).

use std::collections::HashMap;

use super::{Op, StorageTxn, Stored};
use crate::backend::command::{MapOp, Reply};
use crate::backend::write_ttl;
use crate::error::{Error, Result};
use crate::value::{Decimal, LeafCodec};

fn as_hash(stored: &mut Stored) -> Option<&mut HashMap<Vec<u8>, Vec<u8>>> {
    match stored {
        Stored::Hash(hash) => Some(hash),
        _ => None,
    }
}

impl<T: StorageTxn> Op<'_, T> {
    pub(super) fn map(&mut self, key: &str, op: MapOp<'_>) -> Result<Reply> {
        let empty_hash = || Stored::Hash(Box::default());
        Ok(match op {
            MapOp::Get { field } => Reply::Value(
                self.typed(key, as_hash)?
                    .and_then(|h| h.get(field.as_bytes()).cloned()),
            ),
            MapOp::Set {
                field,
                value,
                only_if_absent,
                ttl_if_created,
            } => {
                self.limits.check_value(key, value.len())?;
                let hash = self.typed_or_create(key, as_hash, empty_hash, ttl_if_created)?;
                if only_if_absent && hash.contains_key(field.as_bytes()) {
                    return Ok(Reply::Bool(false));
                }
                Reply::Bool(
                    hash.insert(field.as_bytes().to_vec(), value.to_vec())
                        .is_none(),
                )
            }
            MapOp::SetMany {
                entries,
                ttl_if_created,
            } => {
                for (_, value) in entries {
                    self.limits.check_value(key, value.len())?;
                }
                if entries.is_empty() {
                    write_ttl(key, ttl_if_created)?;
                    return Ok(Reply::Unit);
                }
                let hash = self.typed_or_create(key, as_hash, empty_hash, ttl_if_created)?;
                for (field, value) in entries {
                    hash.insert(field.as_bytes().to_vec(), value.clone());
                }
                Reply::Unit
            }
            MapOp::Remove { field } => {
                let Some(hash) = self.typed(key, as_hash)? else {
                    return Ok(Reply::Bool(false));
                };
                let removed = hash.remove(field.as_bytes()).is_some();
                let empty = hash.is_empty();
                self.drop_if_empty(key, empty)?;
                Reply::Bool(removed)
            }
            MapOp::Contains { field } => Reply::Bool(
                self.typed(key, as_hash)?
                    .is_some_and(|h| h.contains_key(field.as_bytes())),
            ),
            // As the Redis mapping: no fields, nothing to read.
            MapOp::GetMany { fields: [] } => Reply::Values(Vec::new()),
            MapOp::GetMany { fields } => {
                let hash = self.typed(key, as_hash)?;
                Reply::Values(match hash {
                    Some(hash) => fields
                        .iter()
                        .map(|f| hash.get(f.as_bytes()).cloned())
                        .collect(),
                    None => vec![None; fields.len()],
                })
            }
            MapOp::Fields => Reply::Members(
                self.typed(key, as_hash)?
                    .map(|h| h.keys().cloned().collect())
                    .unwrap_or_default(),
            ),
            MapOp::Entries => Reply::Pairs(
                self.typed(key, as_hash)?
                    .map(|h| h.iter().map(|(f, v)| (f.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            ),
            MapOp::Len => Reply::Len(self.typed(key, as_hash)?.map_or(0, |h| h.len())),
            MapOp::Increment {
                field,
                delta,
                ttl_if_created,
            } => {
                let current = match self
                    .typed(key, as_hash)?
                    .and_then(|h| h.get(field.as_bytes()))
                {
                    None => 0,
                    Some(bytes) => Decimal.decode(key, bytes).map_err(|_| Error::Decode {
                        key: key.to_owned(),
                        message: format!("hash field `{field}` is not an integer or out of range"),
                    })?,
                };
                let next = current.checked_add(delta).ok_or_else(|| Error::Overflow {
                    key: key.to_owned(),
                })?;
                let hash = self.typed_or_create(key, as_hash, empty_hash, ttl_if_created)?;
                hash.insert(field.as_bytes().to_vec(), next.to_string().into_bytes());
                Reply::Int(next)
            }
        })
    }
}

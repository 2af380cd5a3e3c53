//! Sets: [`SetOp`] with Redis's semantics (`t_set.c`): an emptied set disappears.

use std::collections::HashSet;

use super::{Op, StorageTxn, Stored};
use crate::backend::command::{Reply, SetOp};
use crate::error::Result;

fn as_set(stored: &mut Stored) -> Option<&mut HashSet<Vec<u8>>> {
    match stored {
        Stored::Set(set) => Some(set),
        _ => None,
    }
}

impl<T: StorageTxn> Op<'_, T> {
    pub(super) fn set(&mut self, key: &str, op: SetOp<'_>) -> Result<Reply> {
        Ok(match op {
            SetOp::Add {
                member,
                ttl_if_created,
            } => {
                self.limits.check_value(key, member.len())?;
                let empty_set = || Stored::Set(Box::default());
                let set = self.typed_or_create(key, as_set, empty_set, ttl_if_created)?;
                Reply::Bool(set.insert(member.to_vec()))
            }
            SetOp::Remove { member } => {
                let Some(set) = self.typed(key, as_set)? else {
                    return Ok(Reply::Bool(false));
                };
                let removed = set.remove(member);
                let empty = set.is_empty();
                self.drop_if_empty(key, empty)?;
                Reply::Bool(removed)
            }
            SetOp::Contains { member } => Reply::Bool(
                self.typed(key, as_set)?
                    .is_some_and(|set| set.contains(member)),
            ),
            SetOp::Members => Reply::Members(
                self.typed(key, as_set)?
                    .map(|set| set.iter().cloned().collect())
                    .unwrap_or_default(),
            ),
            SetOp::Len => Reply::Len(self.typed(key, as_set)?.map_or(0, |set| set.len())),
        })
    }
}

//! Lists, sorted sets, hashes and bit strings: Redis's semantics for the container commands.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::{wrong_type, Op, StorageTxn, Stored};
use crate::backend::command::{BitsOp, End, IntType, ListOp, MapOp, Reply, SortedSetOp};
use crate::backend::write_ttl;
use crate::error::{not_a_number, Error, Result};
use crate::value::{Decimal, LeafCodec};

/// The inclusive index span `start..=stop` of a container of `len` elements, negative indexes
/// counting from the end (`LRANGE`/`LTRIM`/`ZRANGE`); `None` when it is empty.
pub(crate) fn span(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        len.saturating_add(start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len.saturating_add(stop)
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop as usize))
}

fn as_list(stored: &mut Stored) -> Option<&mut VecDeque<Vec<u8>>> {
    match stored {
        Stored::List(list) => Some(list),
        _ => None,
    }
}

fn as_sorted_set(stored: &mut Stored) -> Option<&mut super::SortedSet> {
    match stored {
        Stored::SortedSet(set) => Some(set),
        _ => None,
    }
}

fn as_hash(stored: &mut Stored) -> Option<&mut HashMap<Vec<u8>, Vec<u8>>> {
    match stored {
        Stored::Hash(hash) => Some(hash),
        _ => None,
    }
}

fn as_string(stored: &mut Stored) -> Option<&mut Vec<u8>> {
    match stored {
        Stored::Str(bytes) => Some(bytes),
        _ => None,
    }
}

/// The bytes of slot `index` of `ty` (zero-padded past the end of `bytes`).
fn slot(bytes: &[u8], ty: IntType, index: u64) -> i64 {
    let at = usize::try_from(index.saturating_mul(ty.bytes())).unwrap_or(usize::MAX);
    ty.decode_padded(bytes.get(at..).unwrap_or_default())
}

impl<T: StorageTxn> Op<'_, T> {
    /// The live container at `key` picked by `pick`, or `WrongType`.
    fn typed<V>(
        &mut self,
        key: &str,
        pick: fn(&mut Stored) -> Option<&mut V>,
    ) -> Result<Option<&mut V>> {
        match self.live(key)? {
            None => Ok(None),
            Some((stored, _)) => pick(stored).map(Some).ok_or_else(|| wrong_type(key)),
        }
    }

    /// The container at `key`, created empty (with `ttl`) when missing.
    fn typed_or_create<V>(
        &mut self,
        key: &str,
        pick: fn(&mut Stored) -> Option<&mut V>,
        empty: fn() -> Stored,
        ttl: Option<Duration>,
    ) -> Result<&mut V> {
        let ttl = write_ttl(key, ttl)?;
        if self.typed(key, pick)?.is_none() {
            self.put(key, empty(), ttl)?;
        }
        self.typed(key, pick)?.ok_or_else(|| wrong_type(key))
    }

    /// Removes `key` if `empty` (an emptied container disappears).
    fn drop_if_empty(&mut self, key: &str, empty: bool) -> Result<()> {
        if empty {
            self.txn.remove(key)?;
        }
        Ok(())
    }

    pub(super) fn list(&mut self, key: &str, op: ListOp<'_>) -> Result<Reply> {
        let empty_list = || Stored::List(Box::default());
        Ok(match op {
            ListOp::Push {
                end,
                value,
                ttl_if_created,
            } => {
                self.limits.check_value(key, value.len())?;
                let list = self.typed_or_create(key, as_list, empty_list, ttl_if_created)?;
                match end {
                    End::Front => list.push_front(value.to_vec()),
                    End::Back => list.push_back(value.to_vec()),
                }
                Reply::Len(list.len())
            }
            ListOp::Pop { end } => {
                let Some(list) = self.typed(key, as_list)? else {
                    return Ok(Reply::Value(None));
                };
                let value = match end {
                    End::Front => list.pop_front(),
                    End::Back => list.pop_back(),
                };
                let empty = list.is_empty();
                self.drop_if_empty(key, empty)?;
                Reply::Value(value)
            }
            // The engine's caller waits between attempts (see `Engine::pop_front_blocking`).
            ListOp::PopFrontBlocking { .. } => self.list(key, ListOp::Pop { end: End::Front })?,
            ListOp::MoveFrontToBack {
                dest,
                ttl_if_created,
            } => {
                let ttl = write_ttl(dest, ttl_if_created)?;
                // As Redis: a missing source is `nil` whatever the destination; then the
                // destination's type is checked before anything moves.
                if self.typed(key, as_list)?.is_none() {
                    return Ok(Reply::Value(None));
                }
                self.typed(dest, as_list)?;
                let Some(list) = self.typed(key, as_list)? else {
                    return Ok(Reply::Value(None));
                };
                let Some(value) = list.pop_front() else {
                    return Ok(Reply::Value(None));
                };
                let empty = list.is_empty();
                if dest == key {
                    list.push_back(value.clone());
                    return Ok(Reply::Value(Some(value)));
                }
                self.drop_if_empty(key, empty)?;
                let target = self.typed_or_create(dest, as_list, empty_list, ttl)?;
                target.push_back(value.clone());
                Reply::Value(Some(value))
            }
            ListOp::Range { start, stop } => {
                let Some(list) = self.typed(key, as_list)? else {
                    return Ok(Reply::Members(Vec::new()));
                };
                Reply::Members(match span(list.len(), start, stop) {
                    Some((from, to)) => list.range(from..=to).cloned().collect(),
                    None => Vec::new(),
                })
            }
            ListOp::Trim { start, stop } => {
                let Some(list) = self.typed(key, as_list)? else {
                    return Ok(Reply::Unit);
                };
                match span(list.len(), start, stop) {
                    Some((from, to)) => {
                        list.truncate(to + 1);
                        list.drain(..from);
                    }
                    None => list.clear(),
                }
                let empty = list.is_empty();
                self.drop_if_empty(key, empty)?;
                Reply::Unit
            }
            ListOp::Len => Reply::Len(self.typed(key, as_list)?.map_or(0, |l| l.len())),
        })
    }

    pub(super) fn sorted_set(&mut self, key: &str, op: SortedSetOp<'_>) -> Result<Reply> {
        let empty_set = || Stored::SortedSet(Box::default());
        Ok(match op {
            SortedSetOp::Add {
                member,
                score,
                ttl_if_created,
            } => {
                self.limits.check_value(key, member.len())?;
                if score.is_nan() {
                    return Err(not_a_number(key));
                }
                let set = self.typed_or_create(key, as_sorted_set, empty_set, ttl_if_created)?;
                Reply::Bool(set.insert(member, score))
            }
            SortedSetOp::Score { member } => Reply::Score(
                self.typed(key, as_sorted_set)?
                    .and_then(|set| set.score(member)),
            ),
            SortedSetOp::Increment {
                member,
                by,
                ttl_if_created,
            } => {
                self.limits.check_value(key, member.len())?;
                if by.is_nan() {
                    return Err(not_a_number(key));
                }
                let current = self
                    .typed(key, as_sorted_set)?
                    .and_then(|s| s.score(member));
                let next = current.unwrap_or(0.0) + by;
                if next.is_nan() {
                    return Err(Error::Overflow {
                        key: key.to_owned(),
                    });
                }
                let set = self.typed_or_create(key, as_sorted_set, empty_set, ttl_if_created)?;
                set.insert(member, next);
                Reply::Score(Some(next))
            }
            SortedSetOp::Remove { member } => {
                let Some(set) = self.typed(key, as_sorted_set)? else {
                    return Ok(Reply::Bool(false));
                };
                let removed = set.remove(member);
                let empty = set.is_empty();
                self.drop_if_empty(key, empty)?;
                Reply::Bool(removed)
            }
            SortedSetOp::Rank { member } => {
                Reply::Rank(self.typed(key, as_sorted_set)?.and_then(|s| s.rank(member)))
            }
            SortedSetOp::Range { start, stop, rev } => {
                let Some(set) = self.typed(key, as_sorted_set)? else {
                    return Ok(Reply::Scored(Vec::new()));
                };
                let Some((from, to)) = span(set.len(), start, stop) else {
                    return Ok(Reply::Scored(Vec::new()));
                };
                let own = |(m, s): (&[u8], f64)| (m.to_vec(), s);
                Reply::Scored(if rev {
                    set.iter()
                        .rev()
                        .skip(from)
                        .take(to - from + 1)
                        .map(own)
                        .collect()
                } else {
                    set.iter().skip(from).take(to - from + 1).map(own).collect()
                })
            }
            SortedSetOp::RangeByScore { min, max } => {
                if min.is_nan() || max.is_nan() {
                    return Err(not_a_number(key));
                }
                Reply::Scored(match self.typed(key, as_sorted_set)? {
                    Some(set) => set
                        .range_by_score(min, max)
                        .map(|(m, s)| (m.to_vec(), s))
                        .collect(),
                    None => Vec::new(),
                })
            }
            SortedSetOp::Len => Reply::Len(self.typed(key, as_sorted_set)?.map_or(0, |s| s.len())),
        })
    }

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

    pub(super) fn bits(&mut self, key: &str, op: BitsOp) -> Result<Reply> {
        let empty_string = || Stored::Str(Vec::new());
        Ok(match op {
            BitsOp::Get { offset } => {
                let bytes = self.typed(key, as_string)?;
                let byte = usize::try_from(offset / 8).unwrap_or(usize::MAX);
                Reply::Bool(
                    bytes
                        .and_then(|b| b.get(byte))
                        .is_some_and(|b| b & (0x80 >> (offset % 8)) != 0),
                )
            }
            BitsOp::Set {
                offset,
                bit,
                ttl_if_created,
            } => {
                let len = offset / 8 + 1;
                self.limits
                    .check_value(key, usize::try_from(len).unwrap_or(usize::MAX))?;
                let bytes = self.typed_or_create(key, as_string, empty_string, ttl_if_created)?;
                let byte = len as usize - 1;
                if bytes.len() <= byte {
                    bytes.resize(byte + 1, 0);
                }
                let mask = 0x80u8 >> (offset % 8);
                let previous = bytes[byte] & mask != 0;
                if bit {
                    bytes[byte] |= mask;
                } else {
                    bytes[byte] &= !mask;
                }
                Reply::Bool(previous)
            }
            BitsOp::Count => Reply::Len(
                self.typed(key, as_string)?
                    .map_or(0, |b| b.iter().map(|byte| byte.count_ones() as usize).sum()),
            ),
            BitsOp::FieldGet { ty, index } => Reply::Int(
                self.typed(key, as_string)?
                    .map_or(0, |bytes| slot(bytes, ty, index)),
            ),
            BitsOp::FieldSet {
                ty,
                index,
                value,
                ttl_if_created,
            } => {
                ty.check(key, value)?;
                self.write_slot(key, ty, index, ttl_if_created, |_| Some(value))?
            }
            BitsOp::FieldIncrement {
                ty,
                index,
                by,
                ttl_if_created,
            } => {
                let current = self
                    .typed(key, as_string)?
                    .map_or(0, |bytes| slot(bytes, ty, index));
                let next = current.checked_add(by).ok_or_else(|| Error::Overflow {
                    key: key.to_owned(),
                })?;
                let next = ty.check(key, next)?;
                self.write_slot(key, ty, index, ttl_if_created, |_| Some(next))?;
                Reply::Int(next)
            }
            BitsOp::FieldSum { ty, start, end } => {
                let Some(bytes) = self.typed(key, as_string)? else {
                    return Ok(Reply::Int(0));
                };
                let slots = bytes.len() as u64 / ty.bytes() + 1;
                let mut sum = 0i64;
                for index in start..end.min(slots) {
                    sum =
                        sum.checked_add(slot(bytes, ty, index))
                            .ok_or_else(|| Error::Overflow {
                                key: key.to_owned(),
                            })?;
                }
                Reply::Int(sum)
            }
            BitsOp::Len => Reply::Len(self.typed(key, as_string)?.map_or(0, |b| b.len())),
        })
    }

    /// Writes slot `index` with what `f` makes of its current value; the previous value.
    fn write_slot(
        &mut self,
        key: &str,
        ty: IntType,
        index: u64,
        ttl_if_created: Option<Duration>,
        f: impl FnOnce(i64) -> Option<i64>,
    ) -> Result<Reply> {
        let end = index.saturating_add(1).saturating_mul(ty.bytes());
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        self.limits.check_value(key, end)?;
        let empty_string = || Stored::Str(Vec::new());
        let bytes = self.typed_or_create(key, as_string, empty_string, ttl_if_created)?;
        let previous = slot(bytes, ty, index);
        if let Some(value) = f(previous) {
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            let at = end - ty.bytes() as usize;
            ty.encode(value, &mut bytes[at..end]);
        }
        Ok(Reply::Int(previous))
    }
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn spans_follow_lrange() {
        assert_eq!(span(5, 0, -1), Some((0, 4)));
        assert_eq!(span(5, -2, -1), Some((3, 4)));
        assert_eq!(span(5, -100, 100), Some((0, 4)));
        assert_eq!(span(5, 3, 1), None);
        assert_eq!(span(5, 5, 10), None);
        assert_eq!(span(5, 0, -6), None);
        assert_eq!(span(0, 0, -1), None);
        assert_eq!(span(3, i64::MIN, i64::MAX), Some((0, 2)));
    }
}

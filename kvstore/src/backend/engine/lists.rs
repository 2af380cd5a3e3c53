//! Lists: [`ListOp`] with Redis's semantics (`t_list.c`).

use std::collections::VecDeque;

use super::{Op, StorageTxn, Stored};
use crate::backend::command::{End, ListOp, Reply};
use crate::backend::write_ttl;
use crate::error::Result;

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

impl<T: StorageTxn> Op<'_, T> {
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
            ListOp::Pop { end, count } => {
                let Some(list) = self.typed(key, as_list)? else {
                    return Ok(match count {
                        None => Reply::Value(None),
                        Some(_) => Reply::Members(Vec::new()),
                    });
                };
                let mut popped = Vec::new();
                while popped.len() < count.unwrap_or(1) {
                    let value = match end {
                        End::Front => list.pop_front(),
                        End::Back => list.pop_back(),
                    };
                    match value {
                        Some(value) => popped.push(value),
                        None => break,
                    }
                }
                let empty = list.is_empty();
                self.drop_if_empty(key, empty)?;
                match count {
                    None => Reply::Value(popped.pop()),
                    Some(_) => Reply::Members(popped),
                }
            }
            // The engine's caller waits between attempts (see `Engine::pop_front_blocking`).
            ListOp::PopFrontBlocking { .. } => self.list(
                key,
                ListOp::Pop {
                    end: End::Front,
                    count: None,
                },
            )?,
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

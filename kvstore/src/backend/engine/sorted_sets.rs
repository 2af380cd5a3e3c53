//! Sorted sets: [`SortedSetOp`] with Redis's semantics (`t_zset.c`).

use super::lists::span;
use super::{Op, StorageTxn, Stored};
use crate::backend::command::{Reply, SortedSetOp};
use crate::error::{not_a_number, Error, Result};

fn as_sorted_set(stored: &mut Stored) -> Option<&mut super::SortedSet> {
    match stored {
        Stored::SortedSet(set) => Some(set),
        _ => None,
    }
}

impl<T: StorageTxn> Op<'_, T> {
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
            SortedSetOp::Rank { member, rev } => {
                let set = self.typed(key, as_sorted_set)?;
                Reply::Rank(set.and_then(|s| {
                    let rank = s.rank(member)?;
                    Some(if rev { s.len() - 1 - rank } else { rank })
                }))
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
            SortedSetOp::RangeByLex {
                min,
                max,
                rev,
                limit,
            } => {
                let Some(set) = self.typed(key, as_sorted_set)? else {
                    return Ok(Reply::Members(Vec::new()));
                };
                let within = |m: &&[u8]| min.below(m) && max.above(m);
                let members = set.iter().map(|(m, _)| m);
                let limit = limit.unwrap_or(usize::MAX);
                Reply::Members(if rev {
                    let found = members.rev().filter(within).take(limit);
                    found.map(<[u8]>::to_vec).collect()
                } else {
                    let found = members.filter(within).take(limit);
                    found.map(<[u8]>::to_vec).collect()
                })
            }
            SortedSetOp::CountByLex { min, max } => {
                Reply::Len(self.typed(key, as_sorted_set)?.map_or(0, |set| {
                    set.iter()
                        .filter(|(m, _)| min.below(m) && max.above(m))
                        .count()
                }))
            }
        })
    }
}

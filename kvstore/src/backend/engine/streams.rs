//! Streams: [`StreamOp`] with Redis's semantics (`t_stream.c`): ids from the engine's clock that
//! only grow, inclusive ranges, exact trims (an `XADD MAXLEN ~` trims exactly here), and a
//! stream that remains when trimmed to nothing.

use std::collections::btree_map::Entry as MapEntry;

use super::{Group, Op, PendingEntry, StorageTxn, Stored, Stream};
use crate::backend::command::{Reply, StreamId, StreamOp, CLAIM_ATTEMPTS_FACTOR};
use crate::backend::ttl_ms;
use crate::error::{BackendErrorKind, Error, Result};

fn as_stream(stored: &mut Stored) -> Option<&mut Stream> {
    match stored {
        Stored::Stream(stream) => Some(stream),
        _ => None,
    }
}

/// At most `count` items (`usize::MAX` when `count` is 0 and `zero_is_all`).
fn limit(count: usize, zero_is_all: bool) -> usize {
    if count == 0 && zero_is_all {
        usize::MAX
    } else {
        count
    }
}

/// The error of a group op on a missing stream or group (Redis's `NOGROUP`).
fn no_group(key: &str, group: &str) -> Error {
    Error::backend(
        BackendErrorKind::Other,
        Some(key),
        format!("NOGROUP No such key '{key}' or consumer group '{group}'"),
    )
}

/// The group `group` of the stream at `key`, or `NOGROUP`.
fn group_of<'s>(stream: Option<&'s mut Stream>, key: &str, group: &str) -> Result<&'s mut Group> {
    stream
        .and_then(|s| s.groups.get_mut(group))
        .ok_or_else(|| no_group(key, group))
}

fn owned<'a>(entries: impl Iterator<Item = (StreamId, &'a [u8])>) -> Vec<(StreamId, Vec<u8>)> {
    entries.map(|(id, v)| (id, v.to_vec())).collect()
}

impl<T: StorageTxn> Op<'_, T> {
    pub(super) fn stream(&mut self, key: &str, op: StreamOp<'_>) -> Result<Reply> {
        let empty_stream = || Stored::Stream(Box::default());
        Ok(match op {
            StreamOp::Append {
                value,
                max_len,
                ttl_if_created,
            } => {
                self.limits.check_value(key, value.len())?;
                let now = self.now;
                let stream = self.typed_or_create(key, as_stream, empty_stream, ttl_if_created)?;
                let Some(id) = stream.next_id(now) else {
                    return Err(Error::backend(
                        BackendErrorKind::Other,
                        Some(key),
                        "the stream has exhausted the last possible id",
                    ));
                };
                stream.push(id, value.to_vec());
                if let Some(max_len) = max_len {
                    stream.trim(max_len);
                }
                Reply::EntryId(id)
            }
            StreamOp::Range {
                start,
                end,
                count,
                rev,
            } => {
                let Some(stream) = self.typed(key, as_stream)? else {
                    return Ok(Reply::Entries(Vec::new()));
                };
                let count = limit(count, false);
                Reply::Entries(if rev {
                    owned(stream.range(end, start).rev().take(count))
                } else {
                    owned(stream.range(start, end).take(count))
                })
            }
            StreamOp::Len => Reply::Len(self.typed(key, as_stream)?.map_or(0, |s| s.len())),
            StreamOp::Trim { max_len } => {
                Reply::Len(self.typed(key, as_stream)?.map_or(0, |s| s.trim(max_len)))
            }
            // The engine's caller waits between attempts (see `Engine::run_async`).
            StreamOp::ReadAfter { after, count, .. } => {
                let Some(stream) = self.typed(key, as_stream)? else {
                    return Ok(Reply::Entries(Vec::new()));
                };
                let Some(from) = after.next() else {
                    return Ok(Reply::Entries(Vec::new()));
                };
                Reply::Entries(owned(
                    stream.range(from, StreamId::MAX).take(limit(count, true)),
                ))
            }
            StreamOp::CreateGroup { group, from_start } => {
                let stream = self.typed_or_create(key, as_stream, empty_stream, None)?;
                let last_delivered = if from_start {
                    StreamId::MIN
                } else {
                    stream.last_id()
                };
                match stream.groups.entry(group.to_owned()) {
                    MapEntry::Occupied(_) => Reply::Bool(false),
                    MapEntry::Vacant(slot) => {
                        slot.insert(Group {
                            last_delivered,
                            pending: Default::default(),
                        });
                        Reply::Bool(true)
                    }
                }
            }
            StreamOp::ReadGroup {
                group,
                consumer,
                count,
            } => {
                let now = self.now;
                let stream = self.typed(key, as_stream)?;
                let Some(stream) = stream else {
                    return Err(no_group(key, group));
                };
                let Some(from) = stream
                    .groups
                    .get(group)
                    .ok_or_else(|| no_group(key, group))?
                    .last_delivered
                    .next()
                else {
                    return Ok(Reply::Entries(Vec::new()));
                };
                let entries = owned(stream.range(from, StreamId::MAX).take(limit(count, true)));
                let group = group_of(Some(stream), key, group)?;
                for (id, _) in &entries {
                    group.last_delivered = *id;
                    group.pending.insert(
                        *id,
                        PendingEntry {
                            consumer: consumer.to_owned(),
                            deliveries: 1,
                            delivered_at: now,
                        },
                    );
                }
                Reply::Entries(entries)
            }
            StreamOp::Ack { group, ids } => {
                let stream = self.typed(key, as_stream)?;
                let Some(group) = stream.and_then(|s| s.groups.get_mut(group)) else {
                    return Ok(Reply::Len(0));
                };
                Reply::Len(
                    ids.iter()
                        .filter(|id| group.pending.remove(id).is_some())
                        .count(),
                )
            }
            StreamOp::Pending { group } => Reply::Len(
                group_of(self.typed(key, as_stream)?, key, group)?
                    .pending
                    .len(),
            ),
            StreamOp::ClaimIdle {
                group,
                consumer,
                min_idle,
                count,
            } => {
                let now = self.now;
                let min_idle = ttl_ms(min_idle);
                let stream = self.typed(key, as_stream)?;
                let Some(stream) = stream else {
                    return Err(no_group(key, group));
                };
                let (entries, groups) = stream.entries_and_groups();
                let group = groups.get_mut(group).ok_or_else(|| no_group(key, group))?;
                let mut left = count.max(1);
                let mut attempts = left.saturating_mul(CLAIM_ATTEMPTS_FACTOR);
                let mut claimed = Vec::new();
                let mut deleted = Vec::new();
                for (id, pending) in group.pending.iter_mut() {
                    if attempts == 0 || left == 0 {
                        break;
                    }
                    attempts -= 1;
                    // As Redis 7: an entry the stream no longer has is dropped, idle or not,
                    // and counts as one of the `count`.
                    let Some(value) = entries.get(id) else {
                        deleted.push(*id);
                        left -= 1;
                        continue;
                    };
                    if now.saturating_sub(pending.delivered_at) < min_idle {
                        continue;
                    }
                    pending.consumer = consumer.to_owned();
                    pending.deliveries += 1;
                    pending.delivered_at = now;
                    claimed.push((*id, value.clone(), pending.deliveries));
                    left -= 1;
                }
                for id in deleted {
                    group.pending.remove(&id);
                }
                Reply::Claimed(claimed)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_xadd() {
        let mut s = Stream::default();
        assert_eq!(s.next_id(1000), Some(StreamId::new(1000, 0)));
        s.push(StreamId::new(1000, 0), b"a".to_vec());
        // The clock did not move, then went back: the sequence goes on.
        assert_eq!(s.next_id(1000), Some(StreamId::new(1000, 1)));
        assert_eq!(s.next_id(10), Some(StreamId::new(1000, 1)));
        assert_eq!(s.next_id(1001), Some(StreamId::new(1001, 0)));
        s.push(StreamId::new(1000, u64::MAX), b"b".to_vec());
        assert_eq!(s.next_id(5), Some(StreamId::new(1001, 0)));
        // Trimmed to nothing, the stream keeps its last id.
        assert_eq!(s.trim(0), 2);
        assert!(s.is_empty());
        assert_eq!(s.next_id(5), Some(StreamId::new(1001, 0)));
        s.push(StreamId::MAX, Vec::new());
        assert_eq!(s.next_id(5), None);
    }

    #[test]
    fn ranges_are_inclusive() {
        let mut s = Stream::default();
        for ms in 1..=5 {
            s.push(StreamId::new(ms, 0), vec![ms as u8]);
        }
        let ids = |it: Vec<(StreamId, &[u8])>| it.iter().map(|(id, _)| id.ms).collect::<Vec<_>>();
        assert_eq!(
            ids(s.range(StreamId::new(2, 0), StreamId::new(4, 0)).collect()),
            [2, 3, 4]
        );
        assert_eq!(
            ids(s
                .range(StreamId::new(2, 0), StreamId::new(4, 0))
                .rev()
                .collect()),
            [4, 3, 2]
        );
        assert!(s
            .range(StreamId::new(4, 0), StreamId::new(2, 0))
            .next()
            .is_none());
        let entries = s.iter().map(|(id, v)| (id, v.to_vec())).collect();
        let rebuilt = Stream::from_parts(entries, StreamId::MIN);
        assert_eq!(rebuilt.last_id(), StreamId::new(5, 0));
    }
}

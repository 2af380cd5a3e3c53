//! The on-disk format of the redb backend, version 1.
//!
//! Three tables:
//!
//! - `kvstore.meta` (`&str` → `&[u8]`): `format` → the format version as decimal text (`1`).
//! - `kvstore.entries` (`&str` → `&[u8]`): each key's entry: a kind byte, the deadline (`u64`
//!   little-endian, milliseconds since the Unix epoch; `u64::MAX`: none), then the value:
//!   - `0` string: the bytes;
//!   - `1` set, `2` list: each member as `u32` little-endian length + bytes (lists in order);
//!   - `3` sorted set: each member as `f64` little-endian score + `u32` length + bytes;
//!   - `4` hash: each field as `u32` length + bytes, then its value likewise;
//!   - `5` stream: the last id given (`u64` milliseconds, `u64` sequence, little-endian), the
//!     number of entries (`u64`), each entry, oldest first, as its id likewise + `u32` length +
//!     the value's bytes; then each consumer group, by name: its name (`u32` length + bytes),
//!     its last-delivered id, the number of its pending entries (`u64`), and each pending
//!     entry by id: the id, the consumer (`u32` length + bytes), the delivery count (`u64`)
//!     and the last delivery's time (`u64` Unix milliseconds on the engine's clock).
//! - `kvstore.expiry` (`(u64, &str)` → `()`): the deadline and key of every entry that has one,
//!   so that expired entries are found in deadline order without a scan.
//!
//! A change of any of this is a new format version; a file of a version this build does not know
//! is refused when opened.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::backend::command::StreamId;
use crate::backend::engine::{Entry, Group, PendingEntry, SortedSet, Stored, Stream};

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The length of an entry's header (kind + deadline).
pub(crate) const HEADER: usize = 9;

const NO_DEADLINE: u64 = u64::MAX;

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_le_bytes());
    out.extend_from_slice(&id.seq.to_le_bytes());
}

/// The bytes of `entry`.
pub(crate) fn encode(entry: &Entry) -> Vec<u8> {
    let deadline = entry.expires_at.unwrap_or(NO_DEADLINE);
    let mut out = Vec::with_capacity(HEADER + 16);
    let kind = match &entry.value {
        Stored::Str(_) => 0u8,
        Stored::Set(_) => 1,
        Stored::List(_) => 2,
        Stored::SortedSet(_) => 3,
        Stored::Hash(_) => 4,
        Stored::Stream(_) => 5,
    };
    out.push(kind);
    out.extend_from_slice(&deadline.to_le_bytes());
    match &entry.value {
        Stored::Str(bytes) => out.extend_from_slice(bytes),
        Stored::Set(set) => set.iter().for_each(|m| put_bytes(&mut out, m)),
        Stored::List(list) => list.iter().for_each(|m| put_bytes(&mut out, m)),
        Stored::SortedSet(set) => {
            for (member, score) in set.iter() {
                out.extend_from_slice(&score.to_le_bytes());
                put_bytes(&mut out, member);
            }
        }
        Stored::Hash(hash) => {
            for (field, value) in hash.iter() {
                put_bytes(&mut out, field);
                put_bytes(&mut out, value);
            }
        }
        Stored::Stream(stream) => {
            put_id(&mut out, stream.last_id());
            out.extend_from_slice(&(stream.len() as u64).to_le_bytes());
            for (id, value) in stream.iter() {
                put_id(&mut out, id);
                put_bytes(&mut out, value);
            }
            for (name, group) in &stream.groups {
                put_bytes(&mut out, name.as_bytes());
                put_id(&mut out, group.last_delivered);
                out.extend_from_slice(&(group.pending.len() as u64).to_le_bytes());
                for (id, pending) in &group.pending {
                    put_id(&mut out, *id);
                    put_bytes(&mut out, pending.consumer.as_bytes());
                    out.extend_from_slice(&pending.deliveries.to_le_bytes());
                    out.extend_from_slice(&pending.delivered_at.to_le_bytes());
                }
            }
        }
    }
    out
}

/// The deadline in an entry's header; `Err` when the bytes are not an entry.
pub(crate) fn deadline(bytes: &[u8]) -> Result<Option<u64>, &'static str> {
    let header = bytes
        .get(..HEADER)
        .ok_or("an entry shorter than its header")?;
    if header[0] > 5 {
        return Err("an entry of an unknown kind");
    }
    let mut at = [0u8; 8];
    at.copy_from_slice(&header[1..]);
    let at = u64::from_le_bytes(at);
    Ok((at != NO_DEADLINE).then_some(at))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("an entry cut short");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, &'static str> {
        let mut len = [0u8; 4];
        len.copy_from_slice(self.take(4)?);
        Ok(self.take(u32::from_le_bytes(len) as usize)?.to_vec())
    }

    fn f64(&mut self) -> Result<f64, &'static str> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(raw))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    fn id(&mut self) -> Result<StreamId, &'static str> {
        Ok(StreamId::new(self.u64()?, self.u64()?))
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// The entry in `bytes`; `Err` with what is wrong when they are not one. A string reuses the
/// buffer.
pub(crate) fn decode_owned(mut bytes: Vec<u8>) -> Result<Entry, &'static str> {
    let expires_at = deadline(&bytes)?;
    if bytes[0] == 0 {
        bytes.drain(..HEADER);
        return Ok(Entry {
            value: Stored::Str(bytes),
            expires_at,
        });
    }
    decode(&bytes)
}

/// The entry in `bytes`; `Err` with what is wrong when they are not one.
pub(crate) fn decode(bytes: &[u8]) -> Result<Entry, &'static str> {
    let expires_at = deadline(bytes)?;
    let mut r = Reader(&bytes[HEADER..]);
    let value = match bytes[0] {
        0 => Stored::Str(r.0.to_vec()),
        1 => {
            let mut set = HashSet::new();
            while !r.done() {
                set.insert(r.bytes()?);
            }
            Stored::Set(Box::new(set))
        }
        2 => {
            let mut list = VecDeque::new();
            while !r.done() {
                list.push_back(r.bytes()?);
            }
            Stored::List(Box::new(list))
        }
        3 => {
            let mut set = SortedSet::default();
            while !r.done() {
                let score = r.f64()?;
                if score.is_nan() {
                    return Err("a NaN score");
                }
                set.insert(&r.bytes()?, score);
            }
            Stored::SortedSet(Box::new(set))
        }
        5 => {
            let last = r.id()?;
            let mut entries = BTreeMap::new();
            let mut previous = None;
            for _ in 0..r.u64()? {
                let id = r.id()?;
                if previous.is_some_and(|p| p >= id) {
                    return Err("stream entries out of order");
                }
                previous = Some(id);
                entries.insert(id, r.bytes()?);
            }
            let mut stream = Stream::from_parts(entries, last);
            while !r.done() {
                let name = String::from_utf8(r.bytes()?).map_err(|_| "a group name not UTF-8")?;
                let mut group = Group {
                    last_delivered: r.id()?,
                    pending: BTreeMap::new(),
                };
                for _ in 0..r.u64()? {
                    let id = r.id()?;
                    let consumer =
                        String::from_utf8(r.bytes()?).map_err(|_| "a consumer name not UTF-8")?;
                    let pending = PendingEntry {
                        consumer,
                        deliveries: r.u64()?,
                        delivered_at: r.u64()?,
                    };
                    group.pending.insert(id, pending);
                }
                stream.groups.insert(name, group);
            }
            Stored::Stream(Box::new(stream))
        }
        _ => {
            let mut hash = HashMap::new();
            while !r.done() {
                let field = r.bytes()?;
                hash.insert(field, r.bytes()?);
            }
            Stored::Hash(Box::new(hash))
        }
    };
    Ok(Entry { value, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let mut zset = SortedSet::default();
        zset.insert(b"a", 1.5);
        zset.insert(b"b", f64::NEG_INFINITY);
        let values = [
            Stored::Str(b"bytes".to_vec()),
            Stored::Str(Vec::new()),
            Stored::Set(Box::new(HashSet::from([b"x".to_vec(), Vec::new()]))),
            Stored::List(Box::new(VecDeque::from([
                b"1".to_vec(),
                b"2".to_vec(),
                Vec::new(),
            ]))),
            Stored::SortedSet(Box::new(zset)),
            Stored::Hash(Box::new(HashMap::from([(b"f".to_vec(), b"v".to_vec())]))),
            Stored::Stream(Box::default()),
            Stored::Stream(Box::new(Stream::from_parts(
                BTreeMap::from([
                    (StreamId::new(5, 0), b"a".to_vec()),
                    (StreamId::new(5, 1), Vec::new()),
                ]),
                StreamId::new(9, 3),
            ))),
            Stored::Stream(Box::new({
                let mut stream = Stream::from_parts(
                    BTreeMap::from([(StreamId::new(5, 0), b"a".to_vec())]),
                    StreamId::new(5, 0),
                );
                stream.groups.insert("empty".into(), Group::default());
                stream.groups.insert(
                    "billing".into(),
                    Group {
                        last_delivered: StreamId::new(5, 0),
                        pending: BTreeMap::from([(
                            StreamId::new(4, 2),
                            PendingEntry {
                                consumer: "worker-1".into(),
                                deliveries: 3,
                                delivered_at: 1_700_000_000_000,
                            },
                        )]),
                    },
                );
                stream
            })),
        ];
        for value in values {
            for expires_at in [None, Some(0), Some(1_700_000_000_000)] {
                let entry = Entry {
                    value: value.clone(),
                    expires_at,
                };
                let bytes = encode(&entry);
                assert_eq!(deadline(&bytes), Ok(expires_at));
                assert_eq!(decode(&bytes), Ok(entry.clone()));
                assert_eq!(decode_owned(bytes), Ok(entry));
            }
        }
    }

    #[test]
    fn corrupt_entries_are_errors() {
        assert!(decode(b"").is_err());
        assert!(decode(&[9; 9]).is_err());
        let mut list = encode(&Entry {
            value: Stored::List(Box::new(VecDeque::from([b"abc".to_vec()]))),
            expires_at: None,
        });
        list.pop();
        assert!(decode(&list).is_err());
    }
}

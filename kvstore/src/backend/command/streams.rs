//! Streams (Redis `STREAM`, `t_stream.c`): [`StreamOp`] and the entries' [`StreamId`]s.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The id of a stream entry: `ms-seq`, as Redis writes it (`1700000000000-0`).
///
/// Ids are ordered by `ms`, then `seq`; a stream's ids only grow. [`StreamId::MIN`] (`0-0`) and
/// [`StreamId::MAX`] bound every range. Serialized (serde) as its text, `"ms-seq"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// The milliseconds part: when the entry was added, in milliseconds since the Unix epoch
    /// (or later, when the clock went back).
    pub ms: u64,
    /// The sequence number among the entries of the same millisecond.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`, below every entry's id: `read_after(StreamId::MIN, ..)` reads from the start.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The greatest id, `18446744073709551615-18446744073709551615`.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The id `ms-seq`.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The id right after this one (`None` after [`StreamId::MAX`]).
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => Some(StreamId {
                ms: self.ms.checked_add(1)?,
                seq: 0,
            }),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why a text is not a [`StreamId`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamIdError {
    /// The text that was parsed (cut to 64 bytes).
    pub text: String,
}

impl fmt::Display for StreamIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a stream id: expected `<ms>-<seq>`, two unsigned 64-bit decimal integers",
            self.text
        )
    }
}

impl std::error::Error for StreamIdError {}

impl FromStr for StreamId {
    type Err = StreamIdError;

    /// Parses `ms-seq` (both parts decimal `u64`s, digits only).
    fn from_str(s: &str) -> Result<StreamId, StreamIdError> {
        let part = |p: &str| -> Option<u64> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        s.split_once('-')
            .and_then(|(ms, seq)| {
                Some(StreamId {
                    ms: part(ms)?,
                    seq: part(seq)?,
                })
            })
            .ok_or_else(|| StreamIdError {
                text: s.chars().take(64).collect(),
            })
    }
}

impl serde::Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for StreamId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<StreamId, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = StreamId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stream id `ms-seq`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StreamId, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A string `ms-seq` (both decimal), so that an id can be part of a stored value (a reader's
/// checkpoint).
impl schemars::JsonSchema for StreamId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StreamId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,20}-[0-9]{1,20}$",
            "description": "A stream entry id: `<milliseconds>-<sequence>`",
        })
    }
}

/// An operation on the stream at `key` (Redis `STREAM`). Each entry is one field `v` holding
/// the value's bytes. Unlike the other containers, a stream emptied by a trim still exists (as
/// on Redis: its last id is kept, so ids never go back). A key of another kind is
/// [`Error::WrongType`](crate::Error::WrongType).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum StreamOp<'a> {
    /// Appends an entry with a new id (`XADD key [MAXLEN ~ n] * v value`): the backend's
    /// clock's milliseconds and a sequence number, greater than every id the stream has had
    /// (when the clock has not moved or went back, the last id's milliseconds and the next
    /// sequence number). With `max_len`, older entries are then trimmed to about `max_len`
    /// (approximate: Redis keeps whole internal nodes, up to about 100 entries more; the engine
    /// trims exactly). A stream created here gets `ttl_if_created`. Reply:
    /// [`Reply::EntryId`](super::Reply::EntryId).
    Append {
        /// The entry's value (field `v`).
        value: &'a [u8],
        /// Trim to about this many entries after appending.
        max_len: Option<u64>,
        /// The TTL of a stream created by this append.
        ttl_if_created: Option<Duration>,
    },
    /// The entries with ids from `start` to `end`, both inclusive, at most `count` of them
    /// (`XRANGE key start end COUNT count`; `count` 0: none); with `rev`, from `start` down to
    /// `end` (`XREVRANGE key start end`: there `start >= end`). Reply:
    /// [`Reply::Entries`](super::Reply::Entries).
    Range {
        /// The first id (the highest, with `rev`).
        start: StreamId,
        /// The last id (the lowest, with `rev`), inclusive.
        end: StreamId,
        /// At most this many entries.
        count: usize,
        /// Newest first.
        rev: bool,
    },
    /// The number of entries (`XLEN`); 0 for a missing key. Reply:
    /// [`Reply::Len`](super::Reply::Len).
    Len,
    /// Removes the oldest entries until at most `max_len` are left (`XTRIM key MAXLEN =
    /// max_len`, exact); the stream remains, even empty. Reply:
    /// [`Reply::Len`](super::Reply::Len), the number removed.
    Trim {
        /// The entries kept, at most.
        max_len: u64,
    },
    /// Up to `count` entries with ids greater than `after`, oldest first (`XREAD [BLOCK ms]
    /// COUNT count STREAMS key after`; `count` 0: no limit). With `block`, when there is none,
    /// waits up to that long for one to be appended (a zero wait does not wait; one over
    /// [`MAX_BLOCKING_WAIT`](super::MAX_BLOCKING_WAIT) waits that long); empty when none came.
    /// A blocked read never blocks other commands of the backend. Reply:
    /// [`Reply::Entries`](super::Reply::Entries).
    ReadAfter {
        /// Entries after this id.
        after: StreamId,
        /// At most this many (0: no limit).
        count: usize,
        /// How long to wait for one, if any.
        block: Option<Duration>,
    },
    /// Creates the consumer group `group` (`XGROUP CREATE key group 0|$ MKSTREAM`), whose
    /// reads start after `0-0` (`from_start`) or after the stream's last id (`$`); a missing
    /// stream is created empty (without a TTL). Reply: [`Reply::Bool`](super::Reply::Bool),
    /// false when the group existed (`BUSYGROUP`: it is left as it was).
    CreateGroup {
        /// The group's name.
        group: &'a str,
        /// Deliver the entries already there (`0`), or only later ones (`$`).
        from_start: bool,
    },
    /// Up to `count` entries never delivered to `group` (`XREADGROUP GROUP group consumer COUNT
    /// count STREAMS key >`; `count` 0: no limit), oldest first: each is added to the group's
    /// pending entries, owned by `consumer`, delivered once, at the backend's clock's now; the
    /// group's last-delivered id moves past them. Never waits (a waiting read is composed from
    /// this and a blocking [`StreamOp::ReadAfter`]). A missing stream or group is an error
    /// naming the key (`NOGROUP`). Reply: [`Reply::Entries`](super::Reply::Entries).
    ReadGroup {
        /// The group.
        group: &'a str,
        /// The consumer the entries are delivered to.
        consumer: &'a str,
        /// At most this many (0: no limit).
        count: usize,
    },
    /// Acknowledges `ids` in `group` (`XACK key group id...`): removes them from its pending
    /// entries. Reply: [`Reply::Len`](super::Reply::Len), how many were pending (0 for a
    /// missing stream or group).
    Ack {
        /// The group.
        group: &'a str,
        /// The entries' ids.
        ids: &'a [StreamId],
    },
    /// The number of `group`'s pending entries, delivered and not acknowledged (`XPENDING key
    /// group`, its summary's count). A missing stream or group is an error naming the key
    /// (`NOGROUP`). Reply: [`Reply::Len`](super::Reply::Len).
    Pending {
        /// The group.
        group: &'a str,
    },
    /// Takes over up to `count` of `group`'s pending entries idle for at least `min_idle`
    /// (`XAUTOCLAIM key group consumer min-idle 0-0 COUNT count`, scanning at most `10 *
    /// count` pending entries from the lowest id, as Redis does): each becomes `consumer`'s,
    /// its idle time restarts and its delivery count grows by one. A pending entry the
    /// stream no longer has (trimmed) is removed from the pending entries instead, idle or
    /// not, and counts as one of the `count` (as on Redis 7: a claim may then return fewer
    /// entries than it could have). A missing
    /// stream or group is an error naming the key (`NOGROUP`). Reply:
    /// [`Reply::Claimed`](super::Reply::Claimed), oldest first, with each entry's delivery
    /// count (this one included).
    ClaimIdle {
        /// The group.
        group: &'a str,
        /// The consumer that takes the entries.
        consumer: &'a str,
        /// How long an entry must have been idle (since its last delivery).
        min_idle: Duration,
        /// At most this many (0 is taken as 1, as Redis's minimum).
        count: usize,
    },
}

/// The scan bound of a claim: at most this many pending entries per entry asked for (Redis's
/// `XAUTOCLAIM` attempts factor).
pub(crate) const CLAIM_ATTEMPTS_FACTOR: usize = 10;

impl StreamOp<'_> {
    pub(crate) fn index(&self) -> usize {
        match self {
            StreamOp::Append { .. } => 0,
            StreamOp::Range { .. } => 1,
            StreamOp::Len => 2,
            StreamOp::Trim { .. } => 3,
            StreamOp::ReadAfter { .. } => 4,
            StreamOp::CreateGroup { .. } => 5,
            StreamOp::ReadGroup { .. } => 6,
            StreamOp::Ack { .. } => 7,
            StreamOp::Pending { .. } => 8,
            StreamOp::ClaimIdle { .. } => 9,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        !matches!(
            self,
            StreamOp::Range { .. }
                | StreamOp::Len
                | StreamOp::ReadAfter { .. }
                | StreamOp::Pending { .. }
        )
    }

    /// Whether the op may wait (a blocking read with a non-zero wait).
    pub(crate) fn may_wait(&self) -> bool {
        matches!(self, StreamOp::ReadAfter { block: Some(wait), .. } if !wait.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_parse_and_order() {
        let id = StreamId::new(1_700_000_000_000, 3);
        assert_eq!(id.to_string(), "1700000000000-3");
        assert_eq!("1700000000000-3".parse::<StreamId>(), Ok(id));
        assert_eq!(StreamId::MIN.to_string(), "0-0");
        assert_eq!(
            StreamId::MAX.to_string().parse::<StreamId>(),
            Ok(StreamId::MAX)
        );
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "1-2-3",
            "+1-0",
            "1- 2",
            "a-b",
            "18446744073709551616-0",
        ] {
            let e = bad.parse::<StreamId>().unwrap_err();
            assert_eq!(e.text, bad);
            assert!(e.to_string().contains("not a stream id"), "{e}");
        }
        assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
        assert!(StreamId::new(2, 0) < StreamId::new(2, 1));
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
    }

    #[test]
    fn ids_serialize_as_their_text() {
        let id = StreamId::new(5, 7);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"5-7\"");
        assert_eq!(serde_json::from_str::<StreamId>("\"5-7\"").unwrap(), id);
        assert!(serde_json::from_str::<StreamId>("\"5\"").is_err());
        assert!(serde_json::from_str::<StreamId>("5").is_err());
    }

    #[test]
    fn ids_can_be_stored_values() {
        #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        struct Checkpoint {
            last: StreamId,
        }
        let codec = crate::value::codec::<Checkpoint>();
        let bytes = codec
            .encode(
                "k",
                &Checkpoint {
                    last: StreamId::MAX,
                },
                1 << 20,
            )
            .unwrap();
        let back: Checkpoint = codec.decode("k", &bytes).unwrap();
        assert_eq!(back.last, StreamId::MAX);
        assert!(codec
            .decode::<Checkpoint>("k", br#"{"last":"12"}"#)
            .is_err());
    }
}

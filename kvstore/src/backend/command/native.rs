//! The operations on Redis's native container types: lists, sorted sets, hashes, and strings
//! used as bit arrays or arrays of fixed-width integers (`BITFIELD`).
//!
//! One enum per data type, each variant named after the Redis command it has the semantics of.
//! A [`Command`](super::Command) carries them with the key: `Command::List { key, op }`, ...

use std::fmt;
use std::time::Duration;

/// The longest a blocking command waits (a year); longer timeouts are capped to it.
pub const MAX_BLOCKING_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The highest bit offset Redis can address in a string (`2^32 - 1`: 512 MiB of bits).
pub(crate) const MAX_BIT_OFFSET: u64 = u32::MAX as u64;

/// An end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (`LPUSH`, `LPOP`, `LEFT`).
    Front,
    /// The tail (`RPUSH`, `RPOP`, `RIGHT`).
    Back,
}

/// An operation on the list at a key (Redis `LIST`). An emptied list disappears; a key of
/// another kind is [`Error::WrongType`](crate::Error::WrongType).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ListOp<'a> {
    /// Pushes `value` at `end` (`LPUSH`/`RPUSH`); a list created here gets `ttl_if_created`.
    /// Reply: [`Reply::Len`](super::Reply::Len), the new length.
    Push {
        /// Where.
        end: End,
        /// The element.
        value: &'a [u8],
        /// The TTL of a list created by this push.
        ttl_if_created: Option<Duration>,
    },
    /// Removes and returns the element at `end` (`LPOP`/`RPOP`). Reply:
    /// [`Reply::Value`](super::Reply::Value).
    Pop {
        /// Where.
        end: End,
    },
    /// Pops the head, waiting up to `timeout` for an element to arrive (`BLPOP`); `None` when
    /// none came. A zero timeout does not wait; one over [`MAX_BLOCKING_WAIT`] waits that long.
    /// Never blocks other commands of the backend.
    /// Reply: [`Reply::Value`](super::Reply::Value).
    PopFrontBlocking {
        /// How long to wait.
        timeout: Duration,
    },
    /// Atomically pops the head of this list and pushes it at the tail of `dest` (`LMOVE key
    /// dest LEFT RIGHT`; `dest` may be the same list: a rotation). A list created at `dest` gets
    /// `ttl_if_created`. Reply: [`Reply::Value`](super::Reply::Value), the element moved.
    MoveFrontToBack {
        /// The destination list's key.
        dest: &'a str,
        /// The TTL of a destination list created by this move.
        ttl_if_created: Option<Duration>,
    },
    /// The elements from `start` to `stop`, inclusive; negative indexes count from the end
    /// (`LRANGE`). Reply: [`Reply::Members`](super::Reply::Members).
    Range {
        /// The first index.
        start: i64,
        /// The last index (inclusive).
        stop: i64,
    },
    /// Keeps only the elements from `start` to `stop` (`LTRIM`, same indexes as `Range`).
    /// Reply: [`Reply::Unit`](super::Reply::Unit).
    Trim {
        /// The first index kept.
        start: i64,
        /// The last index kept (inclusive).
        stop: i64,
    },
    /// The number of elements (`LLEN`). Reply: [`Reply::Len`](super::Reply::Len).
    Len,
}

/// An operation on the sorted set at a key (Redis `ZSET`): members ordered by score, ties by
/// the members' bytes. Scores are never NaN. An emptied set disappears.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SortedSetOp<'a> {
    /// Adds `member` with `score`, or updates its score (`ZADD`); a set created here gets
    /// `ttl_if_created`. Reply: [`Reply::Bool`](super::Reply::Bool), whether it was new.
    Add {
        /// The member.
        member: &'a [u8],
        /// Its score (not NaN).
        score: f64,
        /// The TTL of a set created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// The score of `member` (`ZSCORE`). Reply: [`Reply::Score`](super::Reply::Score).
    Score {
        /// The member.
        member: &'a [u8],
    },
    /// Adds `by` to the score of `member` (0 when absent) (`ZINCRBY`); a result that is not a
    /// number is [`Error::Overflow`](crate::Error::Overflow) and changes nothing. Reply:
    /// [`Reply::Score`](super::Reply::Score), the new score.
    Increment {
        /// The member.
        member: &'a [u8],
        /// What to add.
        by: f64,
        /// The TTL of a set created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// Removes `member` (`ZREM`). Reply: [`Reply::Bool`](super::Reply::Bool), whether it was
    /// there.
    Remove {
        /// The member.
        member: &'a [u8],
    },
    /// The 0-based rank of `member`, ascending (`ZRANK`). Reply:
    /// [`Reply::Rank`](super::Reply::Rank).
    Rank {
        /// The member.
        member: &'a [u8],
    },
    /// The members from rank `start` to `stop`, inclusive, with their scores; negative ranks
    /// count from the end (`ZRANGE ... WITHSCORES`, with `rev`: `ZRANGE ... REV`, ranks counted
    /// from the highest score). Reply: [`Reply::Scored`](super::Reply::Scored).
    Range {
        /// The first rank.
        start: i64,
        /// The last rank (inclusive).
        stop: i64,
        /// Descending (the highest score is rank 0).
        rev: bool,
    },
    /// The members whose score is within `min..=max`, ascending (`ZRANGE ... BYSCORE`). Reply:
    /// [`Reply::Scored`](super::Reply::Scored).
    RangeByScore {
        /// The lowest score (may be `-inf`).
        min: f64,
        /// The highest score (may be `+inf`).
        max: f64,
    },
    /// The number of members (`ZCARD`). Reply: [`Reply::Len`](super::Reply::Len).
    Len,
}

/// An operation on the hash at a key (Redis `HASH`): fields to values. An emptied hash
/// disappears.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum MapOp<'a> {
    /// The value of `field` (`HGET`). Reply: [`Reply::Value`](super::Reply::Value).
    Get {
        /// The field.
        field: &'a str,
    },
    /// Sets `field` (`HSET`, or `HSETNX` with `only_if_absent`); a hash created here gets
    /// `ttl_if_created`. Reply: [`Reply::Bool`](super::Reply::Bool): whether the field was
    /// new (with `only_if_absent`: whether it was written).
    Set {
        /// The field.
        field: &'a str,
        /// The value.
        value: &'a [u8],
        /// Write only a new field.
        only_if_absent: bool,
        /// The TTL of a hash created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// Sets every field as one step (`HSET key f1 v1 f2 v2 ...`). Reply:
    /// [`Reply::Unit`](super::Reply::Unit).
    SetMany {
        /// The fields and their values.
        entries: &'a [(String, Vec<u8>)],
        /// The TTL of a hash created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// Removes `field` (`HDEL`). Reply: [`Reply::Bool`](super::Reply::Bool), whether it was
    /// there.
    Remove {
        /// The field.
        field: &'a str,
    },
    /// Whether `field` is set (`HEXISTS`). Reply: [`Reply::Bool`](super::Reply::Bool).
    Contains {
        /// The field.
        field: &'a str,
    },
    /// The values of `fields`, in order (`HMGET`). Reply:
    /// [`Reply::Values`](super::Reply::Values).
    GetMany {
        /// The fields.
        fields: &'a [String],
    },
    /// Every field, in no particular order (`HKEYS`). Reply:
    /// [`Reply::Members`](super::Reply::Members).
    Fields,
    /// Every field and its value, in no particular order (`HGETALL`). Reply:
    /// [`Reply::Pairs`](super::Reply::Pairs).
    Entries,
    /// The number of fields (`HLEN`). Reply: [`Reply::Len`](super::Reply::Len).
    Len,
    /// Adds `delta` to the decimal integer in `field` (0 when absent) (`HINCRBY`). Not a decimal
    /// `i64`: [`Error::Decode`](crate::Error::Decode); overflow:
    /// [`Error::Overflow`](crate::Error::Overflow); both change nothing. Reply:
    /// [`Reply::Int`](super::Reply::Int), the new value.
    Increment {
        /// The field.
        field: &'a str,
        /// What to add.
        delta: i64,
        /// The TTL of a hash created by this call.
        ttl_if_created: Option<Duration>,
    },
}

/// A fixed-width integer type of [`BitsOp`]'s field operations: `BITFIELD`'s `i8`, `u16`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntType {
    /// Width in bits: 8, 16, 32 or 64 (64 only signed).
    pub bits: u8,
    /// Whether it is signed.
    pub signed: bool,
}

impl IntType {
    /// The width in bytes.
    pub fn bytes(self) -> u64 {
        u64::from(self.bits / 8)
    }

    /// The smallest value.
    pub fn min(self) -> i64 {
        if self.signed {
            i64::MIN >> (64 - u32::from(self.bits))
        } else {
            0
        }
    }

    /// The largest value.
    pub fn max(self) -> i64 {
        if self.signed {
            i64::MAX >> (64 - u32::from(self.bits))
        } else {
            ((1u64 << self.bits) - 1) as i64
        }
    }

    /// `Ok` when `value` fits the type; [`Error::Overflow`](crate::Error::Overflow) naming `key`
    /// otherwise.
    pub fn check(self, key: &str, value: i64) -> crate::Result<i64> {
        if (self.min()..=self.max()).contains(&value) {
            Ok(value)
        } else {
            Err(crate::Error::Overflow {
                key: key.to_owned(),
            })
        }
    }

    /// Decodes the slot at the start of `bytes`, zero-padded when they are shorter than a slot
    /// (a slot past the end of a string reads as 0, a cut one as its bytes followed by zeros).
    pub fn decode_padded(self, bytes: &[u8]) -> i64 {
        let width = self.bytes() as usize;
        let mut buf = [0u8; 8];
        let n = bytes.len().min(width);
        buf[..n].copy_from_slice(&bytes[..n]);
        self.decode(&buf[..width])
    }

    /// Decodes one big-endian slot of [`IntType::bytes`] bytes.
    pub fn decode(self, slot: &[u8]) -> i64 {
        let mut raw = 0u64;
        for byte in slot {
            raw = (raw << 8) | u64::from(*byte);
        }
        if self.signed && self.bits < 64 {
            let shift = 64 - u32::from(self.bits);
            ((raw << shift) as i64) >> shift
        } else {
            raw as i64
        }
    }

    /// Encodes `value` (in range) as one big-endian slot.
    pub fn encode(self, value: i64, slot: &mut [u8]) {
        let mut raw = value as u64;
        for byte in slot.iter_mut().rev() {
            *byte = raw as u8;
            raw >>= 8;
        }
    }
}

impl fmt::Display for IntType {
    /// `BITFIELD`'s name of the type: `i8`, `u16`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.signed { 'i' } else { 'u' }, self.bits)
    }
}

/// An operation on the string at a key read as bits or as an array of fixed-width integers.
/// Slot `index` of an [`IntType`] of `w` bits is the big-endian bits `index * w .. (index + 1) *
/// w` (`BITFIELD`'s `#index`); bits and slots past the end read as 0, and writing one grows the
/// string with zero bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitsOp {
    /// The bit at `offset` (`GETBIT`). Reply: [`Reply::Bool`](super::Reply::Bool).
    Get {
        /// The bit's offset (0: the highest bit of the first byte).
        offset: u64,
    },
    /// Sets the bit at `offset` (`SETBIT`); a string created here gets `ttl_if_created`.
    /// Reply: [`Reply::Bool`](super::Reply::Bool), the previous bit.
    Set {
        /// The bit's offset.
        offset: u64,
        /// The new bit.
        bit: bool,
        /// The TTL of a string created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// The number of set bits (`BITCOUNT`). Reply: [`Reply::Len`](super::Reply::Len).
    Count,
    /// Slot `index` (`BITFIELD key GET <ty> #index`). Reply: [`Reply::Int`](super::Reply::Int).
    FieldGet {
        /// The integer type.
        ty: IntType,
        /// The slot.
        index: u64,
    },
    /// Sets slot `index` (`BITFIELD key SET <ty> #index value`). Reply:
    /// [`Reply::Int`](super::Reply::Int), the previous value.
    FieldSet {
        /// The integer type.
        ty: IntType,
        /// The slot.
        index: u64,
        /// The new value (within the type's range).
        value: i64,
        /// The TTL of a string created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// Adds `by` to slot `index` (`BITFIELD key OVERFLOW FAIL INCRBY <ty> #index by`); a result
    /// out of the type's range is [`Error::Overflow`](crate::Error::Overflow) and changes
    /// nothing. Reply: [`Reply::Int`](super::Reply::Int), the new value.
    FieldIncrement {
        /// The integer type.
        ty: IntType,
        /// The slot.
        index: u64,
        /// What to add.
        by: i64,
        /// The TTL of a string created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// The sum of slots `start..end` (end exclusive), in one read (`GETRANGE` of their bytes);
    /// a sum beyond `i64` is [`Error::Overflow`](crate::Error::Overflow). Reply:
    /// [`Reply::Int`](super::Reply::Int).
    FieldSum {
        /// The integer type.
        ty: IntType,
        /// The first slot.
        start: u64,
        /// The slot after the last.
        end: u64,
    },
    /// The length of the string in bytes (`STRLEN`). Reply: [`Reply::Len`](super::Reply::Len).
    Len,
}

impl ListOp<'_> {
    pub(crate) fn index(&self) -> usize {
        match self {
            ListOp::Push { .. } => 0,
            ListOp::Pop { .. } => 1,
            ListOp::PopFrontBlocking { .. } => 2,
            ListOp::MoveFrontToBack { .. } => 3,
            ListOp::Range { .. } => 4,
            ListOp::Trim { .. } => 5,
            ListOp::Len => 6,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        !matches!(self, ListOp::Range { .. } | ListOp::Len)
    }
}

impl SortedSetOp<'_> {
    pub(crate) fn index(&self) -> usize {
        match self {
            SortedSetOp::Add { .. } => 0,
            SortedSetOp::Score { .. } => 1,
            SortedSetOp::Increment { .. } => 2,
            SortedSetOp::Remove { .. } => 3,
            SortedSetOp::Rank { .. } => 4,
            SortedSetOp::Range { .. } => 5,
            SortedSetOp::RangeByScore { .. } => 6,
            SortedSetOp::Len => 7,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self,
            SortedSetOp::Add { .. } | SortedSetOp::Increment { .. } | SortedSetOp::Remove { .. }
        )
    }
}

impl MapOp<'_> {
    pub(crate) fn index(&self) -> usize {
        match self {
            MapOp::Get { .. } => 0,
            MapOp::Set { .. } => 1,
            MapOp::SetMany { .. } => 2,
            MapOp::Remove { .. } => 3,
            MapOp::Contains { .. } => 4,
            MapOp::GetMany { .. } => 5,
            MapOp::Fields => 6,
            MapOp::Entries => 7,
            MapOp::Len => 8,
            MapOp::Increment { .. } => 9,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self,
            MapOp::Set { .. }
                | MapOp::SetMany { .. }
                | MapOp::Remove { .. }
                | MapOp::Increment { .. }
        )
    }
}

impl BitsOp {
    pub(crate) fn index(&self) -> usize {
        match self {
            BitsOp::Get { .. } => 0,
            BitsOp::Set { .. } => 1,
            BitsOp::Count => 2,
            BitsOp::FieldGet { .. } => 3,
            BitsOp::FieldSet { .. } => 4,
            BitsOp::FieldIncrement { .. } => 5,
            BitsOp::FieldSum { .. } => 6,
            BitsOp::Len => 7,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self,
            BitsOp::Set { .. } | BitsOp::FieldSet { .. } | BitsOp::FieldIncrement { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_types_round_trip_big_endian() {
        let i16t = IntType {
            bits: 16,
            signed: true,
        };
        let mut slot = [0u8; 2];
        i16t.encode(-2, &mut slot);
        assert_eq!(slot, [0xff, 0xfe]);
        assert_eq!(i16t.decode(&slot), -2);
        assert_eq!((i16t.min(), i16t.max()), (-32768, 32767));
        let u8t = IntType {
            bits: 8,
            signed: false,
        };
        assert_eq!((u8t.min(), u8t.max()), (0, 255));
        assert_eq!(u8t.decode(&[0xff]), 255);
        let i64t = IntType {
            bits: 64,
            signed: true,
        };
        assert_eq!((i64t.min(), i64t.max()), (i64::MIN, i64::MAX));
        let mut slot = [0u8; 8];
        i64t.encode(i64::MIN, &mut slot);
        assert_eq!(i64t.decode(&slot), i64::MIN);
        assert_eq!(i16t.to_string(), "i16");
        assert_eq!(
            IntType {
                bits: 32,
                signed: false
            }
            .to_string(),
            "u32"
        );
    }
}

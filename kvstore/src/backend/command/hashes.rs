//! Hashes (Redis `HASH`, `t_hash.c`): [`MapOp`], the operations of a `MapOf`.

use std::time::Duration;

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

//! Sets (Redis's `t_set.c`): [`SetOp`], the operations of a `SetOf`.

use std::time::Duration;

/// An operation on the set at a key (Redis `SET`): unordered, distinct members. An emptied set
/// disappears; a key of another kind is [`Error::WrongType`](crate::Error::WrongType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetOp<'a> {
    /// Adds a member (`SADD`); a set created here gets `ttl_if_created`. Reply:
    /// [`Reply::Bool`](super::Reply::Bool), whether it was new.
    Add {
        /// The member.
        member: &'a [u8],
        /// The TTL of a set created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// Removes a member (`SREM`). Reply: [`Reply::Bool`](super::Reply::Bool), whether it was
    /// there.
    Remove {
        /// The member.
        member: &'a [u8],
    },
    /// Whether `member` is in the set (`SISMEMBER`). Reply: [`Reply::Bool`](super::Reply::Bool).
    Contains {
        /// The member.
        member: &'a [u8],
    },
    /// Every member, in no particular order (`SMEMBERS`). Reply:
    /// [`Reply::Members`](super::Reply::Members).
    Members,
    /// The number of members (`SCARD`). Reply: [`Reply::Len`](super::Reply::Len).
    Len,
}

impl SetOp<'_> {
    pub(crate) fn index(&self) -> usize {
        match self {
            SetOp::Add { .. } => 0,
            SetOp::Remove { .. } => 1,
            SetOp::Contains { .. } => 2,
            SetOp::Members => 3,
            SetOp::Len => 4,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(self, SetOp::Add { .. } | SetOp::Remove { .. })
    }
}

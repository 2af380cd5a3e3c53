//! Lists (Redis `LIST`, `t_list.c`): [`ListOp`] and the list [`End`]s.

use std::time::Duration;

/// The longest a blocking command waits (a year); longer timeouts are capped to it.
pub const MAX_BLOCKING_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

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
    /// [`Reply::Value`](super::Reply::Value); with `count`, up to that many elements, in the
    /// order they were popped (`LPOP key count`): [`Reply::Members`](super::Reply::Members)
    /// (empty when the list is missing).
    Pop {
        /// Where.
        end: End,
        /// How many (`None`: one, as a value).
        count: Option<usize>,
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

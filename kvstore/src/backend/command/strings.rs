//! Strings (Redis's `t_string.c`): [`StringOp`] on one key, with [`SetOptions`] and the
//! [`Swap`] a compare-and-swap answers. `MGET`/`MSET` touch many keys and are
//! [`Command::GetMany`](super::Command::GetMany) and [`Command::SetMany`](super::Command::SetMany).

use std::time::Duration;

/// An operation on the string at a key (items, blobs, counters). A key of another kind is
/// [`Error::WrongType`](crate::Error::WrongType).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum StringOp<'a> {
    /// The string (`GET`). Reply: [`Reply::Value`](super::Reply::Value).
    Get,
    /// Writes a string (`SET key value [PX ttl] [NX]`), replacing any value of any kind and its
    /// TTL unless `only_if_absent`. Reply: [`Reply::Bool`](super::Reply::Bool), whether it
    /// wrote (always `true` without NX); with [`SetOptions::get`], the value it replaced.
    Set {
        /// The bytes to store.
        value: &'a [u8],
        /// TTL and NX.
        options: SetOptions,
    },
    /// Atomic compare-and-swap: if the string is exactly `expected` (`None`: absent), store
    /// `new` (`None`: delete the key); a replaced value keeps its remaining TTL (`SET KEEPTTL`),
    /// a created key gets `ttl_if_created`. Reply: [`Reply::Swap`](super::Reply::Swap) — on a
    /// mismatch, with what is stored now, so a retrying read-modify-write needs no extra read.
    CompareAndSwap {
        /// The bytes the caller read (`None`: the key was absent).
        expected: Option<&'a [u8]>,
        /// The bytes to store (`None`: delete).
        new: Option<&'a [u8]>,
        /// The TTL of a key created by this swap.
        ttl_if_created: Option<Duration>,
    },
    /// Atomically adds `delta` to the decimal integer stored (missing counts as 0) (`INCRBY`);
    /// a created key gets `ttl_if_created`, an existing one keeps its TTL. Not a decimal `i64`:
    /// [`Error::Decode`](crate::Error::Decode); overflow:
    /// [`Error::Overflow`](crate::Error::Overflow); both change nothing. Reply:
    /// [`Reply::Int`](super::Reply::Int), the new value.
    Increment {
        /// What to add.
        delta: i64,
        /// The TTL of a counter created by this increment.
        ttl_if_created: Option<Duration>,
    },
}

/// How [`StringOp::Set`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// Expire the key after this long. `None` removes any previous TTL (Redis `SET` semantics).
    pub ttl: Option<Duration>,
    /// Write only if the key does not exist (Redis `SET NX`).
    pub only_if_absent: bool,
    /// Keep the key's remaining TTL (Redis `SET KEEPTTL`; a key created by the write gets
    /// none); `ttl` is then ignored.
    pub keep_ttl: bool,
    /// Return the string the key held before (`SET ... GET`): the reply is then
    /// [`Reply::Value`](super::Reply::Value) with it (`None`: the key was absent; with NX, a
    /// `Some` means nothing was written). A key of another kind is then
    /// [`Error::WrongType`](crate::Error::WrongType) and nothing is written.
    pub get: bool,
}

/// The outcome of [`StringOp::CompareAndSwap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The value was replaced (or deleted, or created).
    Done,
    /// The stored value was not the expected one: this is what is stored now (`None`: nothing).
    Current(Option<Vec<u8>>),
}

impl StringOp<'_> {
    pub(crate) fn index(&self) -> usize {
        match self {
            StringOp::Get => 0,
            StringOp::Set { .. } => 1,
            StringOp::CompareAndSwap { .. } => 2,
            StringOp::Increment { .. } => 3,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        !matches!(self, StringOp::Get)
    }

    pub(crate) fn is_atomic_write(&self) -> bool {
        match self {
            StringOp::Set { options, .. } => !options.get,
            StringOp::Increment { .. } => true,
            _ => false,
        }
    }
}

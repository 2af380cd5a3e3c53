//! The keyspace (Redis's `db.c`, `expire.c`): [`KeyOp`] on one key of any kind, what a TTL
//! query answers ([`KeyTtl`]) and a page of a scan ([`ScanPage`]). Deleting many keys and
//! scanning are [`Command::Delete`](super::Command::Delete),
//! [`Command::ScanPrefix`](super::Command::ScanPrefix) and [`Command::Scan`](super::Command::Scan).

use std::time::Duration;

/// An operation on a key of any kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOp {
    /// Whether the key exists (`EXISTS`). Reply: [`Reply::Bool`](super::Reply::Bool).
    Exists,
    /// The remaining TTL (`PTTL`). Reply: [`Reply::Ttl`](super::Reply::Ttl).
    Ttl,
    /// Sets the TTL of an existing key (`PEXPIRE`); zero deletes it. Reply:
    /// [`Reply::Bool`](super::Reply::Bool), whether the key existed.
    Expire {
        /// The new TTL (rounded up to whole milliseconds).
        ttl: Duration,
    },
    /// Removes the TTL (`PERSIST`). Reply: [`Reply::Bool`](super::Reply::Bool), `true` only if
    /// the key existed and had one.
    Persist,
}

/// The remaining time to live of a key, as Redis's `PTTL` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// The key does not exist (or has expired).
    Missing,
    /// The key exists and never expires.
    Persistent,
    /// The key exists and expires after this long (millisecond precision).
    Expires(Duration),
}

/// One page of [`Command::Scan`](super::Command::Scan).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanPage {
    /// The keys of this page.
    pub keys: Vec<String>,
    /// The cursor of the next page; `None` when the scan is complete.
    pub next: Option<String>,
}

impl KeyOp {
    pub(crate) fn index(&self) -> usize {
        match self {
            KeyOp::Exists => 0,
            KeyOp::Ttl => 1,
            KeyOp::Expire { .. } => 2,
            KeyOp::Persist => 3,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(self, KeyOp::Expire { .. } | KeyOp::Persist)
    }
}

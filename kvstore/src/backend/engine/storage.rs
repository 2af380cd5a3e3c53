//! The minimal transactional storage the engine runs on.

use std::collections::HashSet;

use crate::error::Result;

/// What a key holds: a string (items, blobs, counters) or a set of members.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// A string of bytes.
    Str(Vec<u8>),
    /// A set of members (never empty: an emptied set is removed).
    Set(HashSet<Vec<u8>>),
}

/// A stored key: its value and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: Stored,
    /// When the key expires, in milliseconds since the Unix epoch on the engine's clock
    /// (`None`: never). An entry with `expires_at <= now` is dead: the engine never shows it.
    pub expires_at: Option<u64>,
}

/// Whether a transaction may write (a hint: a storage may serve reads more cheaply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads (though the engine may still drop an expired entry it found).
    Read,
    /// Reads and writes.
    Write,
}

/// Where an [`Engine`](super::Engine) keeps its entries: a map from keys to [`Entry`]s with an
/// expiry index, changed only inside transactions.
///
/// The engine holds all of Redis's semantics; a storage only stores. [`MemoryBackend`] is the
/// engine over a `HashMap` behind a lock; an embedded persistent backend is the engine over a
/// file.
///
/// [`MemoryBackend`]: crate::MemoryBackend
pub trait Storage: Send + Sync + 'static {
    /// An open transaction.
    type Txn<'a>: StorageTxn
    where
        Self: 'a;

    /// A short name for logs and metrics (the backend's [`name`](crate::Backend::name)).
    fn name(&self) -> &'static str;

    /// Runs `f` as one transaction, isolated from every other (serializable): its changes become
    /// visible (and durable, for a persistent storage) together when it returns `Ok`. When `f`
    /// returns `Err`, the engine has already undone its changes (see [`StorageTxn`]); a storage
    /// may also discard them.
    fn transaction<R>(
        &self,
        access: Access,
        f: impl FnOnce(&mut Self::Txn<'_>) -> Result<R>,
    ) -> Result<R>;
}

/// The operations of one transaction of a [`Storage`].
///
/// Entries are returned as stored, expired or not: the engine decides what is live. The expiry
/// index must follow every `put`, `remove` and `set_expiry`.
pub trait StorageTxn {
    /// The entry at `key`: its value (to read or change in place) and its deadline.
    fn get(&mut self, key: &str) -> Result<Option<(&mut Stored, Option<u64>)>>;

    /// Stores `entry` at `key`, replacing whatever was there.
    fn put(&mut self, key: &str, entry: Entry) -> Result<()>;

    /// Removes the entry at `key` and returns it.
    fn remove(&mut self, key: &str) -> Result<Option<Entry>>;

    /// Changes the deadline of the entry at `key` (nothing if there is none).
    fn set_expiry(&mut self, key: &str, expires_at: Option<u64>) -> Result<()>;

    /// Calls `f` with every entry whose key starts with `prefix`, in any order.
    fn scan_prefix(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &Entry)) -> Result<()>;

    /// Removes up to `max` entries whose deadline is `<= now`, earliest first; returns how many.
    fn purge_expired(&mut self, now: u64, max: usize) -> Result<usize>;
}

//! The storage interface every backend implements.
//!
//! Handles never talk to Redis or memory directly: they build full keys, encode and validate
//! values, and call one [`Backend`] method per operation with raw bytes. A backend therefore only
//! moves bytes and keeps the semantics documented on each method — those semantics are exactly
//! Redis's, so that the in-memory backend behaves like the server users deploy.
//!
//! The trait is object safe (`Arc<dyn Backend>`); implement it with [`async_trait`] to plug in a
//! backend of your own, and run the crate's conformance suite against it.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;

pub use async_trait::async_trait;

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

/// The outcome of [`Backend::compare_and_swap_or_get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The value was replaced (or deleted, or created).
    Done,
    /// The stored value was not the expected one: this is what is stored now (`None`: nothing).
    Current(Option<Vec<u8>>),
}

/// How [`Backend::set`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// Expire the key after this long. `None` removes any previous TTL (Redis `SET` semantics).
    pub ttl: Option<Duration>,
    /// Write only if the key does not exist (Redis `SET NX`).
    pub only_if_absent: bool,
}

/// Limits a backend enforces; handles check them before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest encoded value, in bytes (default 1 MiB).
    pub max_value_size: usize,
    /// The longest encoded key, in bytes (default 1024).
    pub max_key_len: usize,
}

impl Limits {
    /// The default value size limit: 1 MiB.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;
    /// The default key length limit: 1024 bytes.
    pub const DEFAULT_MAX_KEY_LEN: usize = 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
            max_key_len: Self::DEFAULT_MAX_KEY_LEN,
        }
    }
}

/// A key-value backend with Redis semantics.
///
/// Keys are UTF-8 strings built by the handles (already encoded and checked against
/// [`Limits::max_key_len`]). Values are raw bytes. A key holds either a *string* (items, blobs and
/// counters) or a *set* (`SetOf`); using a key as the other kind is [`Error::WrongType`]
/// naming the key. Expired keys are invisible to every method, including [`Backend::scan_prefix`].
///
/// Errors: wrong-kind access is `WrongType`; everything that is the backend's own failure
/// (connection, timeout, server error) is [`Error::Backend`] with the key when there is one.
/// A method that fails must not have written anything partially.
///
/// [`Error::WrongType`]: crate::Error::WrongType
/// [`Error::Backend`]: crate::Error::Backend
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and metrics (`"memory"`, `"redis"`, `"redis-cluster"`).
    fn name(&self) -> &'static str;

    /// The limits handles enforce before calling this backend.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// The string stored at `key` (`GET`).
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Writes a string (`SET key value [PX ttl] [NX]`). Replaces any value of any kind and its
    /// TTL unless `only_if_absent`. Returns whether it wrote (always `true` without NX).
    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool>;

    /// The strings at `keys`, in the same order (`MGET`). A missing key, and a key of another
    /// kind, reads as `None` (as `MGET` does).
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;

    /// Writes every entry as one atomic step: no reader ever sees some written and others not, and
    /// on error nothing is written (`MSET`, or a transaction when `ttl` is set). Every key gets
    /// `ttl` (or no TTL).
    ///
    /// A backend that cannot write all keys atomically (a cluster, across slots) must say which
    /// keys were written in its error.
    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Option<Duration>) -> Result<()>;

    /// Atomic compare-and-set: if the string at `key` is exactly `expected` (`None`: the key does
    /// not exist), replace it with `new` (`None`: delete the key) and return `true`; otherwise
    /// change nothing and return `false`.
    ///
    /// A replaced value keeps its remaining TTL (`SET KEEPTTL`); a key created by this call gets
    /// `ttl_if_created`.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<bool>;

    /// [`Backend::compare_and_swap`], returning on a mismatch the string now stored, so that a
    /// retrying read-modify-write needs no extra read (a Redis backend answers both in one
    /// script). The default implementation reads after a lost swap; that read is not atomic with
    /// the swap, which is fine: the next swap checks it again.
    async fn compare_and_swap_or_get(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<Swap> {
        if self
            .compare_and_swap(key, expected, new, ttl_if_created)
            .await?
        {
            Ok(Swap::Done)
        } else {
            Ok(Swap::Current(self.get(key).await?))
        }
    }

    /// Atomically adds `delta` to the decimal integer at `key` (a missing key counts as 0) and
    /// returns the new value (`INCRBY`). A key created by this call gets `ttl_if_created`; an
    /// existing key keeps its TTL. A value that is not a decimal `i64` is `Error::Decode`; an
    /// overflow is `Error::Overflow`; both leave the value unchanged.
    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl_if_created: Option<Duration>,
    ) -> Result<i64>;

    /// Deletes the keys, of any kind (`UNLINK`), and returns how many existed.
    async fn delete(&self, keys: &[String]) -> Result<usize>;

    /// Whether `key` exists, of any kind (`EXISTS`).
    async fn exists(&self, key: &str) -> Result<bool>;

    /// The remaining TTL of `key` (`PTTL`).
    async fn ttl(&self, key: &str) -> Result<KeyTtl>;

    /// Sets the TTL of an existing key (`PEXPIRE`); returns `false` if the key does not exist.
    /// A zero `ttl` deletes the key (and returns `true` if it existed).
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool>;

    /// Removes the TTL of `key` (`PERSIST`); returns `true` only if the key existed and had one.
    async fn persist(&self, key: &str) -> Result<bool>;

    /// Adds `member` to the set at `key` (`SADD`); returns whether it was new. A set created by
    /// this call gets `ttl_if_created`.
    async fn set_add(
        &self,
        key: &str,
        member: &[u8],
        ttl_if_created: Option<Duration>,
    ) -> Result<bool>;

    /// Removes `member` (`SREM`); returns whether it was there. An emptied set disappears.
    async fn set_remove(&self, key: &str, member: &[u8]) -> Result<bool>;

    /// Whether `member` is in the set at `key` (`SISMEMBER`).
    async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool>;

    /// Every member of the set at `key`, in no particular order (`SMEMBERS`).
    async fn set_members(&self, key: &str) -> Result<Vec<Vec<u8>>>;

    /// The number of members (`SCARD`).
    async fn set_len(&self, key: &str) -> Result<usize>;

    /// Every live key that starts with `prefix`, each exactly once, in no particular order.
    /// `prefix` is a literal (not a glob): a Redis backend escapes it for `SCAN MATCH`. Never uses
    /// `KEYS`.
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>>;
}

/// A shared, type-erased backend: what [`connect`](crate::connect) returns.
pub type DynBackend = Arc<dyn Backend>;

/// Anything a store can be opened over: every backend by value, or a [`DynBackend`].
pub trait IntoBackend {
    /// Converts into a shared backend.
    fn into_backend(self) -> DynBackend;
}

impl<B: Backend> IntoBackend for B {
    fn into_backend(self) -> DynBackend {
        Arc::new(self)
    }
}

impl IntoBackend for DynBackend {
    fn into_backend(self) -> DynBackend {
        self
    }
}

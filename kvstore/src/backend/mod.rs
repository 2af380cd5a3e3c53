//! Backends: the interface every storage implements, and the ones this crate ships.
//!
//! Handles never talk to Redis or memory directly: they build full keys, encode and validate
//! values, and send one typed [`Command`] per operation ([`Backend::execute`]). A backend only
//! moves bytes and keeps the semantics documented on each command — exactly Redis's, so that the
//! in-memory backend behaves like the server users deploy.
//!
//! - [`command`]: the command set and the replies.
//! - `engine`: Redis semantics (TTL, `WRONGTYPE`, NX/KEEPTTL, counters, sets) written once over
//!   a minimal transactional [`Storage`]; [`MemoryBackend`] is the engine over a `HashMap`.
//! - `redis`: [`Command`]s mapped onto Redis commands and scripts, for one server
//!   (`RedisBackend`) or a cluster (`RedisClusterBackend`).
//! - [`Instrumented`]: a layer that counts every command; layers wrap a backend and override
//!   only [`Backend::execute`].
//! - [`connect`]: any backend from a URL.
//!
//! The trait is object safe (`Arc<dyn Backend>`); implement it with [`async_trait`](macro@async_trait) to plug in a
//! backend of your own — or implement [`Storage`] and get the Redis semantics for free — and run
//! the `kvstore-conformance` suite against it. [`BackendExt`] adds one typed method per command
//! (`get`, `set`, `increment`, ...) to every backend.

pub(crate) mod cache;
pub mod command;
mod connect;
mod engine;
mod ext;
mod memory;
mod metrics;
#[cfg(feature = "redb")]
pub(crate) mod redb;
#[cfg(feature = "redis")]
pub(crate) mod redis;
mod watch;

use std::sync::Arc;
use std::time::Duration;

pub use async_trait::async_trait;
pub use cache::ClientCache;
pub use command::{
    BitsOp, Check, Command, End, IntType, KeyTtl, ListOp, MapOp, Reply, ScanPage, SetOptions,
    SortedSetOp, Swap,
};
pub use connect::{connect, SCHEMES};
pub use engine::{Engine, Entry, SortedSet, Storage, StorageTxn, Stored};
pub use ext::BackendExt;
pub use memory::{Clock, ManualClock, MemoryBackend, SystemClock};
pub use metrics::{CacheSnapshot, Instrumented, Metrics, OpSnapshot};
pub use watch::{Changes, Subscription};
pub(crate) use watch::{Hub, Target};

use crate::error::{Error, InvalidKeyReason, Result};

/// A key-value backend with Redis semantics: it executes [`Command`]s.
///
/// Keys are UTF-8 strings built by the handles (encoded, and checked against
/// [`Limits::max_key_len`]); values are raw bytes. Each [`Command`] variant documents its
/// semantics and its [`Reply`]. Errors: wrong-kind access is [`Error::WrongType`]; the backend's
/// own failures (connection, timeout, server error) are [`Error::Backend`] with the key when
/// there is one. A command that fails must not have written anything partially.
///
/// [`Command`] is `#[non_exhaustive]`: answer a command you do not implement with
/// `Err(command.unsupported(self.name()))`.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and metrics (`"memory"`, `"redis"`, `"redis-cluster"`).
    fn name(&self) -> &'static str;

    /// The limits handles enforce before calling this backend.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// Runs one command.
    async fn execute(&self, command: Command<'_>) -> Result<Reply>;

    /// Runs `command` at once, without a future, if this backend can: an in-process backend
    /// whose command does not wait (no blocking pop) answers here, and handles then skip the
    /// boxed future of [`execute`](Backend::execute). `None`: call `execute`. The answer must be
    /// exactly what `execute` would give. The default is `None`; a layer that wraps a backend
    /// forwards it (or keeps the default, and every command goes through its `execute`).
    fn execute_now(&self, command: Command<'_>) -> Option<Result<Reply>> {
        let _ = command;
        None
    }

    /// An identity shared by every clone of this backend that reaches the same data: an atomic
    /// step refuses handles of different instances. The default, the address of this value,
    /// is right for a backend that is not cloned; a backend whose clones share data returns
    /// the address of what they share.
    fn instance(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// The backend's client-side read cache, if it keeps one (a Redis backend built with
    /// `client_cache`). Typed reads look there first. A layer that wraps a backend forwards
    /// this (the default, `None`, turns caching off for reads through the layer).
    fn client_cache(&self) -> Option<&ClientCache> {
        None
    }
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

impl Limits {
    /// Refuses a value of `size` bytes over [`Limits::max_value_size`] (handles check before
    /// sending; backends check again, so a direct caller gets the same error).
    pub fn check_value(&self, key: &str, size: usize) -> Result<()> {
        if size > self.max_value_size {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
                reason: InvalidKeyReason::ValueTooLarge {
                    size,
                    limit: self.max_value_size,
                },
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
            max_key_len: Self::DEFAULT_MAX_KEY_LEN,
        }
    }
}

/// A TTL as backends store it: whole milliseconds, rounded up (so that a non-zero TTL never
/// becomes zero).
pub(crate) fn round_up_to_millis(ttl: Duration) -> Duration {
    Duration::from_millis(ttl_ms(ttl))
}

/// A TTL in whole milliseconds, rounded up.
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// The TTL of a write, rounded up to whole milliseconds; zero (which Redis cannot store) is
/// [`Error::InvalidTtl`]. The one place this rule lives: handles and backends both call it.
pub(crate) fn write_ttl(key: &str, ttl: Option<Duration>) -> Result<Option<Duration>> {
    match ttl {
        Some(ttl) if ttl.is_zero() => Err(Error::InvalidTtl {
            key: key.to_owned(),
            ttl,
        }),
        Some(ttl) => Ok(Some(round_up_to_millis(ttl))),
        None => Ok(None),
    }
}

/// Runs `command` on `backend`: the one call path of handles and [`BackendExt`]. With the
/// `tracing` feature, inside a `debug` span named `kvstore` (fields `backend`, `op`, `key`), with
/// a `debug` event when it fails — for every backend.
#[inline]
pub(crate) async fn dispatch<B: Backend + ?Sized>(
    backend: &B,
    command: Command<'_>,
) -> Result<Reply> {
    #[cfg(feature = "tracing")]
    {
        use tracing::Instrument as _;
        let span = tracing::debug_span!(
            "kvstore",
            backend = backend.name(),
            op = command.name(),
            key = command.key()
        );
        let now = {
            let _entered = span.enter();
            backend.execute_now(command)
        };
        let result = match now {
            Some(result) => result,
            None => backend.execute(command).instrument(span.clone()).await,
        };
        if let Err(error) = &result {
            let _entered = span.enter();
            tracing::debug!(%error, "kvstore operation failed");
        }
        result
    }
    #[cfg(not(feature = "tracing"))]
    {
        if let Some(reply) = backend.execute_now(command) {
            return reply;
        }
        backend.execute(command).await
    }
}

/// Runs a batch one command after the other, for backends without a native batch (not atomic).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) async fn run_batch_in_order(backend: &dyn Backend, batch: Command<'_>) -> Result<Reply> {
    let Command::Batch { commands, atomic } = batch else {
        return Err(batch.unexpected(&Reply::Unit));
    };
    if atomic {
        return Err(batch.unsupported(backend.name()));
    }
    let mut replies = Vec::with_capacity(commands.len());
    for command in commands {
        if matches!(command, Command::Batch { .. } | Command::Watch { .. }) {
            return Err(command.unsupported(backend.name()));
        }
        replies.push(backend.execute(*command).await?);
    }
    Ok(Reply::Batch(replies))
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

//! Backends: the interface every storage implements — what a backend *implementer* needs. A store
//! user needs none of it: the backends this crate ships, [`connect`](crate::connect) and
//! [`Instrumented`](crate::Instrumented) are at the crate root.
//!
//! Handles never talk to Redis or memory directly: they build full keys, encode and validate
//! values, and send one typed [`Command`] per operation ([`Backend::execute`]). A backend only
//! moves bytes and keeps the semantics documented on each command — exactly Redis's, so that the
//! in-memory backend behaves like the server users deploy.
//!
//! - [`Command`], [`Reply`] and the operation enums ([`ListOp`], [`SortedSetOp`], [`MapOp`],
//!   [`BitsOp`], [`StreamOp`]): the command set and the replies.
//! - [`storage`]: Redis semantics (TTL, `WRONGTYPE`, NX/KEEPTTL, counters, sets) written once
//!   over a minimal transactional [`Storage`](storage::Storage);
//!   [`MemoryBackend`](crate::MemoryBackend) is the engine over a `HashMap`.
//! - `redis`: [`Command`]s mapped onto Redis commands and scripts, for one server
//!   (`RedisBackend`) or a cluster (`RedisClusterBackend`).
//! - [`Instrumented`](crate::Instrumented): a layer that counts every command; a layer wraps a
//!   backend, forwards [`Backend::info`] and [`Backend::execute_now`], and changes what its
//!   [`Backend::execute`] does.
//! - [`connect`](crate::connect): any backend from a URL ([`SCHEMES`]).
//!
//! The trait is object safe (`Arc<dyn Backend>`); implement it with
//! [`async_trait`](macro@async_trait) to plug in a backend of your own — or implement
//! [`Storage`](storage::Storage) and get the Redis semantics for free — and run the
//! `kvstore-conformance` suite against it. [`BackendExt`] adds one typed method per command
//! (`get`, `set`, `increment`, ...) to every backend.

pub(crate) mod cache;
pub(crate) mod command;
pub(crate) mod connect;
mod engine;
mod ext;
pub(crate) mod memory;
pub(crate) mod metrics;
#[cfg(feature = "redb")]
pub(crate) mod redb;
#[cfg(feature = "redis")]
pub(crate) mod redis;
mod watch;

pub use async_trait::async_trait;
pub use cache::ClientCache;
pub use command::{
    BitsOp, Check, Command, End, IntType, KeyOp, KeyTtl, LexBound, ListOp, MapOp, Reply, ScanPage,
    SetOp, SetOptions, SortedSetOp, StreamId, StreamIdError, StreamOp, StringOp, Swap,
    MAX_BLOCKING_WAIT,
};
pub use connect::SCHEMES;
pub use ext::BackendExt;
pub use watch::{Changes, Subscription};
pub(crate) use watch::{Hub, Target};

/// The embedded engine's storage interface: implement [`Storage`](storage::Storage) (a
/// transactional map of keys to entries) and [`Engine`](storage::Engine) over it is a
/// [`Backend`] with every Redis semantic of the command set (TTLs, `WRONGTYPE`, containers,
/// atomic steps, watches) — as [`MemoryBackend`](crate::MemoryBackend) and the redb backend are.
pub mod storage {
    pub use super::engine::{Engine, Entry, SortedSet, Storage, StorageTxn, Stored, Stream};
}

use std::time::Duration;

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
/// `Err(command.unsupported(self.info().name))`.
///
/// A layer (a type that wraps a backend) forwards [`info`](Backend::info),
/// [`execute`](Backend::execute) and [`execute_now`](Backend::execute_now) to the backend it
/// wraps, and changes only what it is for.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// What handles need to know about this backend besides its commands: its name, its
    /// limits, its identity and its client cache (see [`BackendInfo`]). Cheap: called for
    /// every store opened and every failed command.
    fn info(&self) -> BackendInfo<'_>;

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
}

/// What [`Backend::info`] reports. A layer returns its inner backend's.
#[derive(Clone, Copy)]
pub struct BackendInfo<'a> {
    /// A short name for logs and metrics (`"memory"`, `"redis"`, `"redis-cluster"`).
    pub name: &'static str,
    /// The limits handles enforce before calling this backend.
    pub limits: Limits,
    /// An identity shared by every clone of this backend that reaches the same data: an atomic
    /// step refuses handles of different instances. A backend that is not cloned uses its own
    /// address ([`BackendInfo::new`]); a backend whose clones share data uses the address of
    /// what they share.
    pub instance: usize,
    /// The backend's client-side read cache, if it keeps one (a Redis backend built with
    /// `client_cache`): typed reads look there first. `None` turns caching off.
    pub client_cache: Option<&'a ClientCache>,
    /// The counters every operation is recorded into, when the backend is (or wraps) an
    /// [`Instrumented`](crate::Instrumented); a layer forwards its inner backend's.
    pub metrics: Option<&'a std::sync::Arc<metrics::Metrics>>,
    /// The server's address and port, for a backend that talks to one server (spans'
    /// `server.address` and `server.port`).
    pub server: Option<(&'a str, u16)>,
}

impl BackendInfo<'_> {
    /// The info of `backend`, named `name`: default limits, its own address as its identity,
    /// no client cache. Change the fields that differ.
    pub fn new<B: ?Sized>(name: &'static str, backend: &B) -> BackendInfo<'static> {
        BackendInfo {
            name,
            limits: Limits::default(),
            instance: backend as *const B as *const () as usize,
            client_cache: None,
            metrics: None,
            server: None,
        }
    }
}

impl std::fmt::Debug for BackendInfo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendInfo")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .field("instance", &self.instance)
            .field("client_cache", &self.client_cache.is_some())
            .finish()
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

/// Runs `command` on `backend`: the one call path of handles and [`BackendExt`]. Each
/// operation is recorded once by `observer` (an [`Instrumented`](crate::Instrumented) backend's
/// counters, the `metrics` facade), when there is one. With the `tracing` feature, inside a
/// `debug` span named `kvstore` with OpenTelemetry's database attributes (`db.system.name`,
/// `db.operation.name`, `server.address`, `server.port`, and `kvstore.pattern`, the key's
/// pattern — never its ids — when `pattern` knows it), with a `debug` event when it fails — for
/// every backend.
#[inline]
pub(crate) async fn dispatch<B: Backend + ?Sized>(
    backend: &B,
    observer: Option<&metrics::Observer>,
    pattern: &(dyn Fn(&str) -> Option<String> + Sync),
    command: Command<'_>,
) -> Result<Reply> {
    let started = observer.map(|_| std::time::Instant::now());
    #[cfg(feature = "tracing")]
    let result = {
        use tracing::Instrument as _;
        let info = backend.info();
        let span = tracing::debug_span!(
            "kvstore",
            db.system.name = match info.name {
                "redis" | "redis-cluster" => "redis",
                name => name,
            },
            db.operation.name = command.name(),
            server.address = tracing::field::Empty,
            server.port = tracing::field::Empty,
            kvstore.pattern = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if !span.is_disabled() {
            if let Some((address, port)) = info.server {
                span.record("server.address", address);
                span.record("server.port", port);
            }
            if let Some(pattern) = pattern(command.key()) {
                span.record("kvstore.pattern", pattern.as_str());
            }
        }
        let now = {
            let _entered = span.enter();
            backend.execute_now(command)
        };
        let result = match now {
            Some(result) => result,
            None => backend.execute(command).instrument(span.clone()).await,
        };
        if let Err(error) = &result {
            span.record("error.type", error.kind_label());
            span.record("otel.status_code", "ERROR");
            let _entered = span.enter();
            tracing::debug!(%error, "kvstore operation failed");
        }
        result
    };
    #[cfg(not(feature = "tracing"))]
    let result = {
        let _ = pattern;
        match backend.execute_now(command) {
            Some(reply) => reply,
            None => backend.execute(command).await,
        }
    };
    if let (Some(observer), Some(started)) = (observer, started) {
        observer.record(command.index(), started.elapsed(), &result);
    }
    result
}

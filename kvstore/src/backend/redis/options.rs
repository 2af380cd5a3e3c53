//! The options both Redis builders share (`builder_options!` writes their builder methods once).

use std::time::Duration;

use crate::backend::Limits;

/// The connection options both builders share.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) response_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_attempts: usize,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_value_size: usize,
    /// The client cache's size, if one.
    pub(crate) client_cache: Option<usize>,
    /// Whether the server's `notify-keyspace-events` is left alone (set by its operator).
    pub(crate) keyspace_events_configured: bool,
    /// A CA certificate (PEM) to trust for `rediss://`, instead of the system's roots.
    #[cfg(feature = "tls")]
    pub(crate) tls_root_cert: Option<Vec<u8>>,
    /// `WAIT n timeout` after each write.
    pub(crate) wait_for_replicas: Option<(usize, Duration)>,
}

impl Options {
    pub(crate) const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
    pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    pub(crate) const DEFAULT_RECONNECT_ATTEMPTS: usize = 3;
    pub(crate) const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(50);
    pub(crate) const DEFAULT_BACKOFF_MAX: Duration = Duration::from_millis(1000);
}

impl Default for Options {
    fn default() -> Self {
        Options {
            response_timeout: Self::DEFAULT_RESPONSE_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            reconnect_attempts: Self::DEFAULT_RECONNECT_ATTEMPTS,
            backoff_min: Self::DEFAULT_BACKOFF_MIN,
            backoff_max: Self::DEFAULT_BACKOFF_MAX,
            max_value_size: Limits::DEFAULT_MAX_VALUE_SIZE,
            client_cache: None,
            keyspace_events_configured: false,
            wait_for_replicas: None,
            #[cfg(feature = "tls")]
            tls_root_cert: None,
        }
    }
}

/// Generates the builder methods shared by both builders (each has an `opts: Options` field).
macro_rules! builder_options {
    () => {
        /// The longest one round trip may take, waiting for a reconnection included, before
        /// it fails with a `Timeout` backend error (default 2 s; at least 1 ms).
        pub fn response_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.opts.response_timeout = timeout.max(std::time::Duration::from_millis(1));
            self
        }

        /// How long one connection attempt may take (default 1 s; at least 1 ms).
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.opts.connect_timeout = timeout.max(std::time::Duration::from_millis(1));
            self
        }

        /// How many times a lost connection is retried, with exponential backoff, before the
        /// calls waiting for it fail (default 3). The next call starts a new round of attempts,
        /// so the backend recovers by itself whenever the server comes back.
        pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
            self.opts.reconnect_attempts = attempts;
            self
        }

        /// The backoff between reconnection attempts: it starts at `min` and doubles up to `max`
        /// (defaults 50 ms and 1 s).
        pub fn reconnect_backoff(
            mut self,
            min: std::time::Duration,
            max: std::time::Duration,
        ) -> Self {
            self.opts.backoff_min = min;
            self.opts.backoff_max = max.max(min);
            self
        }

        /// The largest value this backend accepts, in bytes (default 1 MiB). Handles refuse
        /// larger values before sending anything (`Error::InvalidKey`).
        pub fn max_value_size(mut self, bytes: usize) -> Self {
            self.opts.max_value_size = bytes;
            self
        }

        /// Keeps a local cache of up to `max_entries` reads (`get`, `get_many`) that the server
        /// keeps fresh: a dedicated connection (one per primary of a cluster) turns on
        /// broadcast `CLIENT TRACKING`, and every `invalidate` the server pushes (a write by
        /// any client, an expiry, an eviction) drops that key; this client's own writes drop
        /// their keys at once; losing that connection empties the cache until it is back.
        ///
        /// **Staleness window**: another client's write is visible here once its
        /// invalidation arrives (the server sends it before its event loop sleeps) and the
        /// next read goes to the server: measured on loopback, p50 about 0.1 ms when idle, and
        /// 1-2 ms (p99 up to about 20 ms) with 64 tasks keeping a 2-core machine busy — most
        /// of it the re-read queued behind the other requests; under 100 ms on loopback.
        /// Invalidations are applied by a task on the runtime that built the backend; a cache
        /// hit spends one unit of tokio's cooperative budget, so a task that only reads cached
        /// values yields now and then and never keeps that task from running, on a
        /// current-thread runtime too. Your own writes are never read stale.
        ///
        /// **Memory**: at most `max_entries` keys (rounded up to a multiple of 16), each
        /// with its value's bytes and, for a `Clone` value type, the decoded value. A typed
        /// `get` served from the cache is a clone of the decoded value (or a decode without
        /// validation: the bytes were checked against the same type). Hits and misses show in
        /// [`Metrics`](crate::Metrics) through [`Instrumented`](crate::Instrumented), or in
        /// [`BackendInfo::client_cache`](crate::backend::BackendInfo::client_cache).
        pub fn client_cache(mut self, max_entries: usize) -> Self {
            self.opts.client_cache = Some(max_entries.max(1));
            self
        }

        /// Leaves the server's `notify-keyspace-events` alone: for a server that refuses
        /// `CONFIG` (a managed Redis) but whose configuration already has the flags watches
        /// need — `K`, `g`, `$`, `l`, `s`, `h`, `z`, `x` and `e` (`KA` covers them). Without
        /// them, a watch sees no change until it re-reads after a reconnection.
        pub fn keyspace_events_configured(mut self) -> Self {
            self.opts.keyspace_events_configured = true;
            self
        }

        /// Makes every write wait until `replicas` replicas have it (`WAIT replicas timeout`
        /// after each write, on the connection that sent it; on a cluster, on every primary):
        /// a write acknowledged to the caller then survives the loss of its primary as long as
        /// one of those replicas is promoted. A write that is not replicated to `replicas`
        /// replicas within `timeout` fails with a [`Timeout`](crate::BackendErrorKind::Timeout)
        /// error saying it *may have been applied* (it is on the primary, and may be lost on a
        /// failover); retry it, or read it back, as for any timeout. Each write takes a round
        /// trip more; the response timeout of the `WAIT` is `timeout` on top of the response
        /// timeout. Not covered: a blocking pop (`pop_front_blocking`), which runs on a
        /// connection of its own.
        pub fn wait_for_replicas(mut self, replicas: usize, timeout: std::time::Duration) -> Self {
            self.opts.wait_for_replicas = Some((replicas, timeout));
            self
        }
    };
}
pub(crate) use builder_options;

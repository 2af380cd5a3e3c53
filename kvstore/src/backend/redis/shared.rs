//! What the standalone and the cluster backend share: options, the round-trip helper with its
//! deadline, every single-key command, and [`execute`] — the one mapping of [`Command`]s onto
//! Redis. What differs between one server and a cluster (multi-key commands, scans) is the
//! [`Topology`] each backend type implements.

use std::borrow::Cow;
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{
    cmd, from_redis_value_ref, Cmd, ErrorKind, FromRedisValue, RedisResult, ServerErrorKind, Value,
};

use super::errors::{self, map, map_increment};
use super::scripts;
use crate::backend::command::{Check, Command, KeyTtl, ListOp, Reply, ScanPage, SetOptions, Swap};
use crate::backend::{async_trait, ttl_ms, write_ttl, Backend, ClientCache, Limits};
use crate::error::{Error, Result};
use crate::layout::scan_pattern;

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
    };
}
pub(crate) use builder_options;

/// The TTL of a write in whole milliseconds (zero refused: see [`write_ttl`]).
pub(crate) fn write_ttl_ms(key: &str, ttl: Option<Duration>) -> Result<Option<u64>> {
    Ok(write_ttl(key, ttl)?.map(ttl_ms))
}

/// The connection, plus what every operation needs to know.
#[derive(Clone)]
pub(crate) struct Core<C> {
    pub(crate) conn: C,
    pub(crate) response_timeout: Duration,
    /// How long one round trip ([`Core::call_raw`]) may take in all: the one timer of a call
    /// on a standalone server (its connection has none of its own); a little past the
    /// response timeout on a cluster, so that the cluster connection's own timeout, which it
    /// watches to follow the topology, fires first.
    pub(crate) deadline: Duration,
    pub(crate) limits: Limits,
    /// Shared by the clones of one backend: its
    /// [`BackendInfo::instance`](crate::backend::BackendInfo::instance).
    pub(crate) instance: std::sync::Arc<()>,
    /// The client cache, if any (this client's writes invalidate their keys at once).
    pub(crate) cache: Option<ClientCache>,
}

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Refuses a value over the size limit (handles check first; this is the last line).
    pub(crate) fn check_value(&self, key: &str, value: &[u8]) -> Result<()> {
        self.limits.check_value(key, value.len())
    }

    /// Runs one round trip, `f(connection)`, within the response timeout.
    ///
    /// A refused connection means the request was never sent, so it is retried once (the
    /// first call after a server restart may find the connection manager's last failed
    /// reconnection; the retry waits for the new one).
    pub(crate) async fn call_raw<T, F, Fut>(&self, f: F) -> RedisResult<T>
    where
        F: Fn(C) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            match f(self.conn.clone()).await {
                Err(e) if e.is_connection_refusal() => f(self.conn.clone()).await,
                other => other,
            }
        };
        // It also bounds a wait for the connection manager's reconnection, which the
        // connection's own response timeout would not.
        match tokio::time::timeout(self.deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(errors::timeout_error(self.response_timeout)),
        }
    }

    /// Runs a script: `EVALSHA`, then `EVAL` if the server does not know it (`NOSCRIPT`).
    pub(crate) async fn script_raw<T: FromRedisValue>(
        &self,
        (evalsha, eval): &(Cmd, Cmd),
    ) -> RedisResult<T> {
        let first = self
            .call_raw(|mut c| async move { evalsha.query_async::<T>(&mut c).await })
            .await;
        match first {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.call_raw(|mut c| async move { eval.query_async::<T>(&mut c).await })
                    .await
            }
            other => other,
        }
    }

    /// Sends `cmd` and converts the reply; errors name `key`.
    pub(crate) async fn query<T: FromRedisValue>(&self, key: Option<&str>, cmd: &Cmd) -> Result<T> {
        self.call_raw(|mut c| async move { cmd.query_async::<T>(&mut c).await })
            .await
            .map_err(|e| map(e, key))
    }

    /// `MGET` of keys of one slot (any keys, on a standalone server).
    pub(crate) async fn mget_raw(&self, keys: &[&str]) -> RedisResult<Vec<Option<Vec<u8>>>> {
        let mut c = cmd("MGET");
        c.arg(keys);
        let c = &c;
        self.call_raw(|mut conn| async move { c.query_async(&mut conn).await })
            .await
    }

    /// `MSET` of entries of one slot (any entries, on a standalone server): atomic.
    pub(crate) async fn mset_raw(&self, entries: &[&(String, Vec<u8>)]) -> RedisResult<()> {
        let mut c = cmd("MSET");
        for (key, value) in entries {
            c.arg(key).arg(value);
        }
        let c = &c;
        self.call_raw(|mut conn| async move { c.query_async::<()>(&mut conn).await })
            .await
    }

    /// `UNLINK` of keys of one slot; how many existed.
    pub(crate) async fn unlink_raw(&self, keys: &[&str]) -> RedisResult<usize> {
        let mut c = cmd("UNLINK");
        c.arg(keys);
        let c = &c;
        self.call_raw(|mut conn| async move { c.query_async(&mut conn).await })
            .await
    }

    /// Checks the values and the TTL of a `set_many` before anything is sent.
    pub(crate) fn check_entries(
        &self,
        entries: &[(String, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<Option<u64>> {
        for (key, value) in entries {
            self.check_value(key, value)?;
        }
        match entries.first() {
            Some((first, _)) => write_ttl_ms(first, ttl),
            None => Ok(None),
        }
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.query(Some(key), cmd("GET").arg(key)).await
    }

    pub(crate) async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        self.check_value(key, value)?;
        let ttl = write_ttl_ms(key, options.ttl)?;
        let mut c = cmd("SET");
        c.arg(key).arg(value);
        if options.keep_ttl {
            c.arg("KEEPTTL");
        } else if let Some(ms) = ttl {
            c.arg("PX").arg(ms);
        }
        if options.only_if_absent {
            c.arg("NX");
        }
        // `OK`, or nil when NX found the key.
        let reply: ::redis::Value = self.query(Some(key), &c).await?;
        Ok(!matches!(reply, ::redis::Value::Nil))
    }

    /// [`Command::CompareAndSwap`]: one script that compares, then writes or returns what is
    /// stored.
    pub(crate) async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<Swap> {
        if let Some(new) = new {
            self.check_value(key, new)?;
        }
        let ttl = write_ttl_ms(key, ttl_if_created)?;
        let ttl = ttl.map(|ms| ms.to_string()).unwrap_or_default();
        let script = scripts::COMPARE_AND_SWAP.commands(&[key], |c| {
            c.arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or(b""))
                .arg(if new.is_some() { "1" } else { "0" })
                .arg(new.unwrap_or(b""))
                .arg(&ttl)
                .arg("1");
        });
        let reply: Vec<Value> = self
            .script_raw(&script)
            .await
            .map_err(|e| map(e, Some(key)))?;
        match reply.as_slice() {
            [Value::Int(1)] => Ok(Swap::Done),
            [Value::Int(0)] => Ok(Swap::Current(None)),
            [Value::Int(0), Value::Nil | Value::Boolean(false)] => Ok(Swap::Current(None)),
            [Value::Int(0), stored] => Ok(Swap::Current(Some(
                from_redis_value_ref(stored).map_err(|e| map(e.into(), Some(key)))?,
            ))),
            _ => Err(map(
                errors::protocol_error("unexpected compare-and-swap reply"),
                Some(key),
            )),
        }
    }

    pub(crate) async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl_if_created: Option<Duration>,
    ) -> Result<i64> {
        match write_ttl_ms(key, ttl_if_created)? {
            None => {
                let c = cmd("INCRBY").arg(key).arg(delta).to_owned();
                let c = &c;
                self.call_raw(|mut conn| async move { c.query_async::<i64>(&mut conn).await })
                    .await
                    .map_err(|e| map_increment(e, key))
            }
            Some(ms) => {
                let script = scripts::INCREMENT_WITH_TTL.commands(&[key], |c| {
                    c.arg(delta).arg(ms);
                });
                let value: String = self
                    .script_raw(&script)
                    .await
                    .map_err(|e| map_increment(e, key))?;
                value.parse().map_err(|_| Error::Decode {
                    key: key.to_owned(),
                    message: format!("INCRBY left a value that is not an i64: {value:?}"),
                })
            }
        }
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool> {
        let n: i64 = self.query(Some(key), cmd("EXISTS").arg(key)).await?;
        Ok(n > 0)
    }

    pub(crate) async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let ms: i64 = self.query(Some(key), cmd("PTTL").arg(key)).await?;
        Ok(match ms {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            // A key about to expire can report 0.
            ms => KeyTtl::Expires(Duration::from_millis(ms.max(0) as u64)),
        })
    }

    pub(crate) async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        // PEXPIRE 0 deletes the key, and says whether it existed.
        let n: i64 = self
            .query(Some(key), cmd("PEXPIRE").arg(key).arg(ttl_ms(ttl)))
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn persist(&self, key: &str) -> Result<bool> {
        let n: i64 = self.query(Some(key), cmd("PERSIST").arg(key)).await?;
        Ok(n == 1)
    }

    pub(crate) async fn set_add(
        &self,
        key: &str,
        member: &[u8],
        ttl_if_created: Option<Duration>,
    ) -> Result<bool> {
        self.check_value(key, member)?;
        let added: i64 = match write_ttl_ms(key, ttl_if_created)? {
            None => {
                self.query(Some(key), cmd("SADD").arg(key).arg(member))
                    .await?
            }
            Some(ms) => {
                let script = scripts::SET_ADD_WITH_TTL.commands(&[key], |c| {
                    c.arg(member).arg(ms);
                });
                self.script_raw(&script)
                    .await
                    .map_err(|e| map(e, Some(key)))?
            }
        };
        Ok(added == 1)
    }

    pub(crate) async fn set_remove(&self, key: &str, member: &[u8]) -> Result<bool> {
        let n: i64 = self
            .query(Some(key), cmd("SREM").arg(key).arg(member))
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        let n: i64 = self
            .query(Some(key), cmd("SISMEMBER").arg(key).arg(member))
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn set_members(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        self.query(Some(key), cmd("SMEMBERS").arg(key)).await
    }

    pub(crate) async fn set_len(&self, key: &str) -> Result<usize> {
        self.query(Some(key), cmd("SCARD").arg(key)).await
    }

    /// [`Command::Atomic`]: one script (see `scripts::ATOMIC`).
    pub(crate) async fn atomic<'a>(
        &self,
        checks: &'a [Check<'a>],
        writes: &'a [Command<'a>],
    ) -> Result<bool> {
        let index = |key: &'a str, keys: &mut Vec<&'a str>| -> String {
            let at = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            (at + 1).to_string()
        };
        let mut args: Vec<Vec<u8>> = vec![checks.len().to_string().into_bytes()];
        let mut keys: Vec<&'a str> = Vec::new();
        for check in checks {
            args.push(index(check.key, &mut keys).into_bytes());
            args.push(if check.expected.is_some() {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            });
            args.push(check.expected.unwrap_or(b"").to_vec());
        }
        args.push(writes.len().to_string().into_bytes());
        for write in writes {
            match *write {
                Command::Set {
                    key,
                    value,
                    options,
                } => {
                    self.check_value(key, value)?;
                    let px = write_ttl_ms(key, options.ttl)?;
                    let mut flags = String::from("-");
                    if options.keep_ttl {
                        flags.push('K');
                    }
                    if options.only_if_absent {
                        flags.push('N');
                    }
                    args.push(b"S".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(value.to_vec());
                    args.push(px.map(|ms| ms.to_string()).unwrap_or_default().into_bytes());
                    args.push(flags.into_bytes());
                }
                Command::Delete { keys: deleted } => {
                    args.push(b"D".to_vec());
                    args.push(deleted.len().to_string().into_bytes());
                    for key in deleted {
                        args.push(index(key, &mut keys).into_bytes());
                    }
                }
                Command::Increment {
                    key,
                    delta,
                    ttl_if_created,
                } => {
                    let px = write_ttl_ms(key, ttl_if_created)?;
                    args.push(b"I".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(delta.to_string().into_bytes());
                    args.push(px.map(|ms| ms.to_string()).unwrap_or_default().into_bytes());
                }
                Command::SetAdd {
                    key,
                    member,
                    ttl_if_created,
                } => {
                    self.check_value(key, member)?;
                    let px = write_ttl_ms(key, ttl_if_created)?;
                    args.push(b"A".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(member.to_vec());
                    args.push(px.map(|ms| ms.to_string()).unwrap_or_default().into_bytes());
                }
                Command::SetRemove { key, member } => {
                    args.push(b"R".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(member.to_vec());
                }
                ref other => {
                    let (Some(key), Some(native)) =
                        (other.keys().first().copied(), self.native_write(other)?)
                    else {
                        return Err(other.unsupported("redis"));
                    };
                    args.push(b"C".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(
                        native
                            .ttl_ms
                            .map(|ms| ms.to_string())
                            .unwrap_or_default()
                            .into_bytes(),
                    );
                    args.push(if native.overflow_on_nil {
                        b"F".to_vec()
                    } else {
                        Vec::new()
                    });
                    args.push(native.name.as_bytes().to_vec());
                    args.push(native.args.len().to_string().into_bytes());
                    args.extend(native.args.into_iter().map(Cow::into_owned));
                }
            }
        }
        let Some(first) = keys.first().copied() else {
            return Ok(true); // nothing to check, nothing to write
        };
        let script = scripts::ATOMIC.commands(&keys, |c| {
            for arg in &args {
                c.arg(arg.as_slice());
            }
        });
        match self.script_raw::<i64>(&script).await {
            Ok(n) => Ok(n == 1),
            Err(e) => {
                // The script names the key whose write (or check) failed.
                let detail = e.detail().unwrap_or_default().to_owned();
                let key = detail
                    .rsplit_once(" [key ")
                    .and_then(|(_, k)| k.strip_suffix(']'))
                    .unwrap_or(first)
                    .to_owned();
                Err(map_increment(e, &key))
            }
        }
    }

    /// One `SCAN cursor MATCH <escaped prefix>* COUNT count` round trip through `page`: the next
    /// cursor (0 at the end) and the UTF-8 keys (others were not written by this crate).
    pub(crate) async fn scan_once<F, Fut>(
        &self,
        prefix: &str,
        cursor: u64,
        count: usize,
        page: F,
    ) -> Result<(u64, Vec<String>)>
    where
        F: Fn(C, Cmd) -> Fut,
        Fut: Future<Output = RedisResult<(u64, Vec<Vec<u8>>)>>,
    {
        let mut c = cmd("SCAN");
        c.arg(cursor)
            .arg("MATCH")
            .arg(scan_pattern(prefix))
            .arg("COUNT")
            .arg(count.max(1));
        let c = &c;
        let page = &page;
        let (next, keys) = self
            .call_raw(|conn| page(conn, c.clone()))
            .await
            .map_err(|e| map(e, Some(prefix)))?;
        let keys = keys
            .into_iter()
            .filter_map(|k| String::from_utf8(k).ok())
            .collect();
        Ok((next, keys))
    }

    /// `SCAN 0 MATCH <escaped prefix>* COUNT 1000` to the end, through `page` (one `SCAN` round trip to
    /// one node), adding every UTF-8 key to `out`. Keys that are not UTF-8 were not written by
    /// this crate and are skipped.
    pub(crate) async fn scan_with<F, Fut>(
        &self,
        prefix: &str,
        out: &mut HashSet<String>,
        page: F,
    ) -> Result<()>
    where
        F: Fn(C, Cmd) -> Fut,
        Fut: Future<Output = RedisResult<(u64, Vec<Vec<u8>>)>>,
    {
        let mut cursor = 0u64;
        loop {
            let (next, keys) = self.scan_once(prefix, cursor, 1000, &page).await?;
            out.extend(keys);
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// Connections kept for blocking commands (`BLPOP`), so that a call that waits never holds up
/// the shared multiplexed connection: each waiting call has a connection of its own, taken from
/// the idle ones or opened, and given back when it has its answer.
pub(crate) struct BlockingPool<D> {
    idle: parking_lot::Mutex<Vec<D>>,
    connect:
        Box<dyn Fn() -> futures_util::future::BoxFuture<'static, RedisResult<D>> + Send + Sync>,
}

impl<D: ConnectionLike + Send + 'static> BlockingPool<D> {
    /// Idle connections kept, at most.
    const MAX_IDLE: usize = 16;

    /// A pool whose connections `connect` opens (without a response timeout: the caller sets
    /// the deadline of each call).
    pub(crate) fn new(
        connect: impl Fn() -> futures_util::future::BoxFuture<'static, RedisResult<D>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        BlockingPool {
            idle: parking_lot::Mutex::new(Vec::new()),
            connect: Box::new(connect),
        }
    }

    /// `BLPOP key timeout` on a connection of its own, within `timeout` plus `response_timeout`.
    /// A zero timeout does not wait (`LPOP`, on the caller's behalf).
    pub(crate) async fn pop_front<C>(
        &self,
        core: &Core<C>,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>>
    where
        C: ConnectionLike + Clone + Send + Sync + 'static,
    {
        if timeout.is_zero() {
            return core.query(Some(key), cmd("LPOP").arg(key)).await;
        }
        // Whole milliseconds, at least one (BLPOP 0 would wait forever).
        let ms = ttl_ms(timeout.min(crate::backend::command::MAX_BLOCKING_WAIT));
        let mut blpop = cmd("BLPOP");
        blpop
            .arg(key)
            .arg(format!("{}.{:03}", ms / 1000, ms % 1000));
        let deadline = Duration::from_millis(ms) + core.response_timeout;
        let attempt = async {
            let pooled = self.idle.lock().pop();
            let fresh = pooled.is_none();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => (self.connect)().await?,
            };
            let mut result = blpop
                .query_async::<Option<(Vec<u8>, Vec<u8>)>>(&mut conn)
                .await;
            // An idle connection may have been lost (a server restart): once more on a new one.
            if !fresh && matches!(&result, Err(e) if e.is_io_error() || e.is_connection_dropped()) {
                conn = (self.connect)().await?;
                result = blpop.query_async(&mut conn).await;
            }
            if result.is_ok() {
                let mut idle = self.idle.lock();
                if idle.len() < Self::MAX_IDLE {
                    idle.push(conn);
                }
            }
            result
        };
        match tokio::time::timeout(deadline, attempt).await {
            Ok(result) => Ok(result.map_err(|e| map(e, Some(key)))?.map(|(_, v)| v)),
            Err(_) => Err(map(errors::timeout_error(deadline), Some(key))),
        }
    }
}

/// What differs between one Redis server and a cluster: the commands that touch several keys
/// (split by hash slot on a cluster) and scans (on every primary of a cluster).
#[async_trait]
pub(crate) trait Topology: Backend {
    /// The connection type.
    type Conn: ConnectionLike + Clone + Send + Sync + 'static;

    /// The shared connection state.
    fn core(&self) -> &Core<Self::Conn>;

    /// [`Command::GetMany`] (at least one key).
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;

    /// [`Command::SetMany`] (at least one entry; values and TTL already checked).
    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl_ms: Option<u64>) -> Result<()>;

    /// [`Command::Delete`] (at least one key).
    async fn delete(&self, keys: &[String]) -> Result<usize>;

    /// [`Command::ScanPrefix`].
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>>;

    /// [`Command::Scan`].
    async fn scan_page(&self, prefix: &str, cursor: &str, count: usize) -> Result<ScanPage>;

    /// [`ListOp::PopFrontBlocking`]: on a connection of its own.
    async fn pop_front_blocking(&self, key: &str, timeout: Duration) -> Result<Option<Vec<u8>>>;

    /// [`Command::Watch`]: through the backend's notifier.
    async fn watch(&self, key: &str, prefix: bool) -> Result<crate::backend::Subscription>;

    /// Refuses a command whose keys must share a hash slot but do not (a cluster).
    fn check_one_slot(&self, command: &Command<'_>) -> Result<()> {
        let _ = command;
        Ok(())
    }
}

/// Runs `command` on a Redis topology; with a client cache, a write drops its keys from it
/// before it is sent and again once it is done (a read racing with the write is not kept).
pub(crate) async fn execute<T: Topology>(topology: &T, command: Command<'_>) -> Result<Reply> {
    match &topology.core().cache {
        Some(cache) if command.is_write() => {
            let keys = command.keys();
            for key in &keys {
                cache.invalidate(key);
            }
            let result = run(topology, command).await;
            for key in &keys {
                cache.invalidate(key);
            }
            result
        }
        _ => run(topology, command).await,
    }
}

/// The one mapping of the command set onto Redis.
async fn run<T: Topology>(topology: &T, command: Command<'_>) -> Result<Reply> {
    let core = topology.core();
    Ok(match command {
        Command::Get { key } => Reply::Value(core.get(key).await?),
        Command::Set {
            key,
            value,
            options,
        } => Reply::Bool(core.set(key, value, options).await?),
        Command::GetMany { keys: [] } => Reply::Values(Vec::new()),
        Command::GetMany { keys } => Reply::Values(topology.get_many(keys).await?),
        Command::SetMany { entries, ttl } => {
            let ttl_ms = core.check_entries(entries, ttl)?;
            if !entries.is_empty() {
                topology.set_many(entries, ttl_ms).await?;
            }
            Reply::Unit
        }
        Command::CompareAndSwap {
            key,
            expected,
            new,
            ttl_if_created,
        } => Reply::Swap(
            core.compare_and_swap(key, expected, new, ttl_if_created)
                .await?,
        ),
        Command::Increment {
            key,
            delta,
            ttl_if_created,
        } => Reply::Int(core.increment(key, delta, ttl_if_created).await?),
        Command::Delete { keys: [] } => Reply::Len(0),
        Command::Delete { keys } => Reply::Len(topology.delete(keys).await?),
        Command::Exists { key } => Reply::Bool(core.exists(key).await?),
        Command::Ttl { key } => Reply::Ttl(core.ttl(key).await?),
        Command::Expire { key, ttl } => Reply::Bool(core.expire(key, ttl).await?),
        Command::Persist { key } => Reply::Bool(core.persist(key).await?),
        Command::SetAdd {
            key,
            member,
            ttl_if_created,
        } => Reply::Bool(core.set_add(key, member, ttl_if_created).await?),
        Command::SetRemove { key, member } => Reply::Bool(core.set_remove(key, member).await?),
        Command::SetContains { key, member } => Reply::Bool(core.set_contains(key, member).await?),
        Command::SetMembers { key } => Reply::Members(core.set_members(key).await?),
        Command::SetLen { key } => Reply::Len(core.set_len(key).await?),
        Command::ScanPrefix { prefix } => Reply::Keys(topology.scan_prefix(prefix).await?),
        Command::Scan {
            prefix,
            cursor,
            count,
        } => Reply::Page(topology.scan_page(prefix, cursor, count).await?),
        Command::List {
            key,
            op: ListOp::PopFrontBlocking { timeout },
        } => Reply::Value(topology.pop_front_blocking(key, timeout).await?),
        Command::List {
            key,
            op: op @ ListOp::MoveFrontToBack { .. },
        } => {
            topology.check_one_slot(&command)?;
            core.list(key, op).await?
        }
        Command::List { key, op } => core.list(key, op).await?,
        Command::SortedSet { key, op } => core.sorted_set(key, op).await?,
        Command::Map { key, op } => core.map(key, op).await?,
        Command::Bits { key, op } => core.bits(key, op).await?,
        Command::Watch { key, prefix } => Reply::Watch(topology.watch(key, prefix).await?),
        Command::Atomic { checks, writes } => {
            topology.check_one_slot(&command)?;
            Reply::Bool(core.atomic(checks, writes).await?)
        }
    })
}

/// The [`Backend`] impl of a Redis backend type: its info (name, limits, identity, cache) and
/// [`execute`].
macro_rules! redis_backend {
    ($backend:ty, $name:literal) => {
        #[$crate::backend::async_trait]
        impl $crate::backend::Backend for $backend {
            fn info(&self) -> $crate::backend::BackendInfo<'_> {
                $crate::backend::BackendInfo {
                    name: $name,
                    limits: self.core.limits,
                    instance: std::sync::Arc::as_ptr(&self.core.instance) as usize,
                    client_cache: self.core.cache.as_ref(),
                }
            }

            async fn execute(
                &self,
                command: $crate::backend::Command<'_>,
            ) -> $crate::error::Result<$crate::backend::Reply> {
                super::shared::execute(self, command).await
            }
        }
    };
}
pub(crate) use redis_backend;

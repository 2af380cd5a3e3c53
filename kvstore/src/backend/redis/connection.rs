//! The connection core both Redis backends share: round trips with a deadline and the TTL
//! conversion. The commands are in one file per data type (`strings`, `sets`, `lists`,
//! `sorted_sets`, `hashes`, `bits`, `keys`) and `atomic`.

use std::future::Future;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, Cmd, ErrorKind, FromRedisValue, RedisResult, ServerErrorKind};

use super::errors::{self, map};
use crate::backend::{ttl_ms, write_ttl, ClientCache, Limits};
use crate::error::Result;

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
    /// The server's host and port (one server: standalone), for spans.
    pub(crate) server: Option<(String, u16)>,
    /// `WAIT replicas timeout` after each write.
    pub(crate) wait_for_replicas: Option<(usize, Duration)>,
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
        self.call_raw_within(self.deadline, f).await
    }

    /// [`call_raw`](Self::call_raw) within `deadline`.
    pub(crate) async fn call_raw_within<T, F, Fut>(
        &self,
        deadline: Duration,
        f: F,
    ) -> RedisResult<T>
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
        match tokio::time::timeout(deadline, attempt).await {
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

    /// After a write (its first key: `key`): `WAIT replicas timeout` on the connection that
    /// sent it; fewer acknowledgements in time is a timeout that says the write may have been
    /// applied.
    pub(crate) async fn wait_for_replicas(&self, key: Option<&str>) -> Result<()> {
        let Some((replicas, timeout)) = self.wait_for_replicas else {
            return Ok(());
        };
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut wait = cmd("WAIT");
        wait.arg(replicas).arg(ms);
        let wait = &wait;
        let deadline = self.deadline + timeout;
        let call = self.call_raw_within(deadline, |mut c| async move {
            wait.query_async::<i64>(&mut c).await
        });
        let acked = call.await.map_err(|e| map(e, key))?;
        if usize::try_from(acked).unwrap_or(0) >= replicas {
            return Ok(());
        }
        Err(crate::Error::backend(
            crate::BackendErrorKind::Timeout,
            key,
            format!(
                "the write may have been applied: the primary has it, but {acked} of the {replicas} \
                 replicas asked for acknowledged it within {timeout:?}, so a failover may lose it \
                 (read it back, or retry it)"
            ),
        ))
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
}

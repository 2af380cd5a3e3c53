//! Blocking commands (`BLPOP`, `XREAD BLOCK`) on pooled connections of their own.

use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, RedisResult};

use super::connection::Core;
use super::errors::{self, map};
use crate::backend::ttl_ms;
use crate::error::Result;

/// Connections kept for blocking commands (`BLPOP`, `XREAD BLOCK`), so that a call that waits
/// never holds up the shared multiplexed connection: each waiting call has a connection of its
/// own, taken from the idle ones or opened, and given back when it has its answer.
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
        let popped: Option<(Vec<u8>, Vec<u8>)> = self
            .query(core, key, &blpop, Duration::from_millis(ms))
            .await?;
        Ok(popped.map(|(_, v)| v))
    }

    /// Sends `command` (one that may wait up to `wait`: `BLPOP`, `XREAD BLOCK`) on a
    /// connection of its own, within `wait` plus the response timeout; errors name `key`.
    pub(crate) async fn query<C, T>(
        &self,
        core: &Core<C>,
        key: &str,
        command: &::redis::Cmd,
        wait: Duration,
    ) -> Result<T>
    where
        C: ConnectionLike + Clone + Send + Sync + 'static,
        T: ::redis::FromRedisValue,
    {
        let deadline = wait + core.response_timeout;
        let attempt = async {
            let pooled = self.idle.lock().pop();
            let fresh = pooled.is_none();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => (self.connect)().await?,
            };
            let mut result = command.query_async::<T>(&mut conn).await;
            // An idle connection may have been lost (a server restart): once more on a new one.
            if !fresh && matches!(&result, Err(e) if e.is_io_error() || e.is_connection_dropped()) {
                conn = (self.connect)().await?;
                result = command.query_async(&mut conn).await;
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
            Ok(result) => result.map_err(|e| map(e, Some(key))),
            Err(_) => Err(map(errors::timeout_error(deadline), Some(key))),
        }
    }
}

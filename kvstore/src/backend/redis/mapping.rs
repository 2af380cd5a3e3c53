//! The one mapping of [`Command`]s onto Redis ([`execute`]), over a [`Topology`]: what differs
//! between one server and a cluster (multi-key commands, scans); and the `Backend` impl both
//! backend types share (`redis_backend!`).

use std::time::Duration;

use ::redis::aio::ConnectionLike;

use super::connection::Core;
use crate::backend::command::{Command, ListOp, Reply, ScanPage, StreamOp};
use crate::backend::{async_trait, Backend};
use crate::error::Result;

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

    /// A command that may wait up to `wait` (`XREAD BLOCK`): on a connection of its own.
    async fn blocking_query(
        &self,
        key: &str,
        cmd: &::redis::Cmd,
        wait: Duration,
    ) -> Result<::redis::Value>;

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

/// The one mapping of the command set onto Redis; with `wait_for_replicas`, a write waits for
/// its replicas.
async fn run<T: Topology>(topology: &T, command: Command<'_>) -> Result<Reply> {
    let reply = send(topology, command).await?;
    let blocking = matches!(
        command,
        Command::List {
            op: ListOp::PopFrontBlocking { .. },
            ..
        }
    );
    if command.is_write() && !blocking {
        topology
            .core()
            .wait_for_replicas(command.keys().first().copied())
            .await?;
    }
    Ok(reply)
}

/// Sends `command`.
async fn send<T: Topology>(topology: &T, command: Command<'_>) -> Result<Reply> {
    let core = topology.core();
    Ok(match command {
        Command::Str { key, op } => core.string(key, op).await?,
        Command::GetMany { keys: [] } => Reply::Values(Vec::new()),
        Command::GetMany { keys } => Reply::Values(topology.get_many(keys).await?),
        Command::SetMany { entries, ttl } => {
            let ttl_ms = core.check_entries(entries, ttl)?;
            if !entries.is_empty() {
                topology.set_many(entries, ttl_ms).await?;
            }
            Reply::Unit
        }
        Command::Set { key, op } => core.set(key, op).await?,
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
        Command::Stream {
            key,
            op:
                StreamOp::ReadAfter {
                    after,
                    count,
                    block: Some(wait),
                },
        } if !wait.is_zero() => {
            let ms = super::streams::block_ms(wait);
            let xread = super::streams::xread(key, after, count, Some(ms));
            let reply = topology
                .blocking_query(key, &xread, Duration::from_millis(ms))
                .await?;
            Reply::Entries(super::streams::read_reply(key, reply)?)
        }
        Command::Stream { key, op } => core.stream(key, op).await?,
        Command::Map { key, op } => core.map(key, op).await?,
        Command::Bits { key, op } => core.bits(key, op).await?,
        Command::Key { key, op } => core.key(key, op).await?,
        Command::Delete { keys: [] } => Reply::Len(0),
        Command::Delete { keys } => Reply::Len(topology.delete(keys).await?),
        Command::ScanPrefix { prefix } => Reply::Keys(topology.scan_prefix(prefix).await?),
        Command::Scan {
            prefix,
            cursor,
            count,
        } => Reply::Page(topology.scan_page(prefix, cursor, count).await?),
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
                    metrics: None,
                    server: self
                        .core
                        .server
                        .as_ref()
                        .map(|(host, port)| (host.as_str(), *port)),
                }
            }

            async fn execute(
                &self,
                command: $crate::backend::Command<'_>,
            ) -> $crate::error::Result<$crate::backend::Reply> {
                super::mapping::execute(self, command).await
            }
        }
    };
}
pub(crate) use redis_backend;

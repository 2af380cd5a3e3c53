//! [`RedisClusterBackend`]: a Redis Cluster, through redis-rs's async `ClusterConnection`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use ::redis::aio::ConnectionLike;
use ::redis::cluster::{ClusterClient, ClusterClientBuilder};
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use ::redis::{
    cmd, from_redis_value, from_redis_value_ref, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture,
    RedisResult, Value,
};
use futures_util::future::{join_all, try_join_all};

use super::blocking::BlockingPool;
use super::connection::Core;
use super::errors::{self, classify, map, PartialWriteError};
use super::mapping::{redis_backend, Topology};
use super::notify::{Nodes, Notifier};
use super::options::{builder_options, Options};
use super::scripts;
use super::standalone::{bad_cursor, connection_info, parse_cursor};
use crate::backend::connect::redact_url;
use crate::backend::{async_trait, ClientCache, Limits, ScanPage, Subscription};
use crate::error::{BackendErrorKind, Error, Result};

/// The cluster connection, replaced by a fresh one when it stops answering.
///
/// redis-rs's cluster connection can wedge: a slot-map reload that waits for its lock while a
/// reconnection that holds it is not polled (seen after a failover), after which every request
/// times out, forever. So a request that times out or loses its connection starts (at most
/// once per `heal_interval`) a new connection in the background, which replaces this one if it
/// can discover the cluster. A healthy connection replaced that way costs one reconnection.
#[derive(Clone)]
pub(crate) struct HealingConnection {
    shared: Arc<Healing>,
}

struct Healing {
    client: ClusterClient,
    current: parking_lot::RwLock<ClusterConnection>,
    healing: AtomicBool,
    last_heal: parking_lot::Mutex<Option<Instant>>,
    heal_interval: Duration,
    connect_deadline: Duration,
}

impl HealingConnection {
    fn new(client: ClusterClient, conn: ClusterConnection, opts: &Options) -> Self {
        HealingConnection {
            shared: Arc::new(Healing {
                client,
                current: parking_lot::RwLock::new(conn),
                healing: AtomicBool::new(false),
                last_heal: parking_lot::Mutex::new(None),
                heal_interval: opts.response_timeout.max(Duration::from_secs(1)),
                connect_deadline: connect_deadline(opts),
            }),
        }
    }

    fn current(&self) -> ClusterConnection {
        self.shared.current.read().clone()
    }

    /// Looks at the result of a request; a timeout or a connection failure starts a heal.
    fn observe<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result {
            if e.is_timeout() || e.kind() == ErrorKind::Io {
                self.heal();
            }
        }
        result
    }

    fn heal(&self) {
        {
            let mut last = self.shared.last_heal.lock();
            if last.is_some_and(|at| at.elapsed() < self.shared.heal_interval) {
                return;
            }
            if self.shared.healing.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(Instant::now());
        }
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let fresh = tokio::time::timeout(
                shared.connect_deadline,
                shared.client.get_async_connection(),
            )
            .await;
            if let Ok(Ok(conn)) = fresh {
                *shared.current.write() = conn;
            }
            shared.healing.store(false, Ordering::Release);
        });
    }

    /// The primaries' addresses, from `CLUSTER SLOTS` on any node.
    pub(crate) async fn cluster_slots(&self) -> RedisResult<Vec<(String, u16)>> {
        let slots = self
            .route_command(
                cmd("CLUSTER").arg("SLOTS").to_owned(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let mut primaries = Vec::new();
        if let Value::Array(ranges) = slots {
            for range in ranges {
                let Value::Array(range) = range else { continue };
                // [start, end, [host, port, id, ...], replicas...]
                let Some(Value::Array(primary)) = range.get(2) else {
                    continue;
                };
                let host: Option<String> =
                    primary.first().and_then(|h| from_redis_value_ref(h).ok());
                let port: Option<u16> = primary.get(1).and_then(|p| from_redis_value_ref(p).ok());
                if let (Some(host), Some(port)) = (host, port) {
                    if !host.is_empty() && host != "?" {
                        primaries.push((host, port));
                    }
                }
            }
        }
        Ok(primaries)
    }

    /// `route_command` on the current connection.
    async fn route_command(&self, cmd: Cmd, routing: RoutingInfo) -> RedisResult<Value> {
        let result = self.current().route_command(cmd, routing).await;
        self.observe(result)
    }
}

impl ConnectionLike for HealingConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let mut conn = self.current();
        Box::pin(async move {
            let result = conn.req_packed_command(cmd).await;
            self.observe(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let mut conn = self.current();
        Box::pin(async move {
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            self.observe(result)
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

fn connect_deadline(opts: &Options) -> Duration {
    opts.connect_timeout * 2 + opts.response_timeout
}

/// A backend over a Redis Cluster.
///
/// Built by [`RedisClusterBackend::connect`] or [`RedisClusterBackend::builder`] from the URLs
/// of one or more nodes (the others are discovered). It follows slot moves and failovers by
/// itself. Options and error kinds are those of [`RedisBackend`](crate::RedisBackend).
///
/// Single-key operations are routed to the key's slot (scripts touch only their one key).
/// Multi-key operations are split by hash slot, the slots run in parallel, and results come
/// back in the caller's order: `get_many` is one `MGET` per slot; `set_many` is one atomic
/// `MSET` (with a TTL, a Lua script of `SET .. PX`) per slot — keys of different slots cannot
/// be written in one atomic step on a cluster, so when some slots fail and others succeed the
/// error says which keys were written (its source is a [`PartialWriteError`]). Put keys that
/// must be written together under one hash tag (`{...}`, see `Dynamic` colocation) to get one
/// atomic step. `scan_prefix` scans every primary and removes duplicates.
///
/// The connection is replaced by a fresh one (in the background, at most once per second or
/// per response timeout) after a request times out or loses its connection: redis-rs's cluster
/// connection can otherwise stay stuck after a failover.
///
/// Cloning is cheap (a reference count).
#[derive(Clone)]
pub struct RedisClusterBackend {
    core: Core<HealingConnection>,
    blocking: Arc<BlockingPool<ClusterConnection>>,
    notifier: Arc<Notifier>,
    urls: Vec<String>,
}

impl fmt::Debug for RedisClusterBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClusterBackend")
            .field("urls", &self.urls)
            .field("response_timeout", &self.core.response_timeout)
            .field("limits", &self.core.limits)
            .finish()
    }
}

/// Configures and connects a [`RedisClusterBackend`]: from [`RedisClusterBackend::builder`].
#[must_use = "a builder does nothing until `.build().await`"]
#[derive(Clone)]
pub struct RedisClusterBackendBuilder {
    urls: Vec<String>,
    opts: Options,
}

impl fmt::Debug for RedisClusterBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| redact_url(u)).collect();
        f.debug_struct("RedisClusterBackendBuilder")
            .field("urls", &urls)
            .field("options", &self.opts)
            .finish()
    }
}

impl RedisClusterBackend {
    /// Connects with the default options to the cluster that these nodes belong to
    /// (`redis://host:port`, or `rediss://` with the `tls` feature; credentials and TLS are
    /// taken from the first URL).
    pub async fn connect<I, S>(urls: I) -> Result<RedisClusterBackend>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::builder(urls).build().await
    }

    /// A builder to set timeouts, retries and limits before connecting.
    pub fn builder<I, S>(urls: I) -> RedisClusterBackendBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        RedisClusterBackendBuilder {
            urls: urls.into_iter().map(|u| u.as_ref().to_owned()).collect(),
            opts: Options::default(),
        }
    }
}

impl RedisClusterBackendBuilder {
    builder_options!();

    /// Connects: discovers the cluster's slots and nodes through the given URLs.
    ///
    /// For a cluster, `reconnect_attempts` is the number of times a request is retried
    /// (reconnecting, or following a slot move) and `reconnect_backoff` the wait between tries,
    /// all within the response timeout; a node that refuses that many connection attempts in a
    /// row is dropped until the next slot map reload (how a failover is followed).
    pub async fn build(self) -> Result<RedisClusterBackend> {
        let opts = self.opts;
        if self.urls.is_empty() {
            return Err(Error::backend(
                BackendErrorKind::Other,
                None,
                "a Redis Cluster backend needs at least one node URL",
            ));
        }
        let mut nodes = Vec::with_capacity(self.urls.len());
        for url in &self.urls {
            nodes.push(connection_info(url)?);
        }
        let base = nodes[0].clone();
        let protocol = nodes[0].redis_settings().protocol();
        // Blocking calls get connections of their own, whose response timeout each call sets.
        let blocking_client = ClusterClientBuilder::new(nodes.clone())
            .use_protocol(protocol)
            .connection_timeout(opts.connect_timeout)
            .response_timeout(Duration::from_secs(365 * 24 * 3600))
            .build()
            .ok();
        let client = ClusterClientBuilder::new(nodes)
            .use_protocol(protocol)
            .connection_timeout(opts.connect_timeout)
            // A write's `WAIT` may take its own timeout on top of the response timeout.
            .response_timeout(
                opts.response_timeout + opts.wait_for_replicas.map_or(Duration::ZERO, |(_, t)| t),
            )
            .retries(u32::try_from(opts.reconnect_attempts).unwrap_or(u32::MAX))
            // A node that keeps refusing connections is dropped, which makes the client reload
            // the slot map and find the replica that took over (without this, redis-rs retries
            // the dead primary forever and never follows a failover).
            .max_connection_attempts(
                NonZeroUsize::new(opts.reconnect_attempts).unwrap_or(NonZeroUsize::MIN),
            )
            .min_retry_wait(millis(opts.backoff_min))
            .max_retry_wait(millis(opts.backoff_max))
            .build()
            .map_err(|e| {
                let urls: Vec<String> = self.urls.iter().map(|u| redact_url(u)).collect();
                Error::backend(
                    BackendErrorKind::Other,
                    None,
                    format!("invalid Redis Cluster URLs {urls:?}: {e}"),
                )
            })?;
        let deadline = connect_deadline(&opts);
        let conn = match tokio::time::timeout(deadline, client.get_async_connection()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(errors::connecting(&self.urls.join(","), map(e, None))),
            Err(_) => {
                let e = map(errors::timeout_error(deadline), None);
                return Err(errors::connecting(&self.urls.join(","), e));
            }
        };
        let blocking = BlockingPool::new(move || {
            let client = blocking_client.clone();
            Box::pin(async move {
                match client {
                    Some(client) => client.get_async_connection().await,
                    None => Err(errors::protocol_error(
                        "no cluster client for blocking calls",
                    )),
                }
            })
        });
        let conn = HealingConnection::new(client, conn, &opts);
        let cache = opts.client_cache.map(ClientCache::new);
        let notifier = Notifier::new(
            Nodes::Cluster {
                conn: conn.clone(),
                base,
            },
            0,
            cache.clone(),
            &opts,
        );
        if cache.is_some() {
            notifier
                .wait_cache(deadline)
                .await
                .map_err(|e| errors::connecting(&self.urls.join(","), e))?;
        }
        Ok(RedisClusterBackend {
            blocking: Arc::new(blocking),
            notifier: Arc::new(notifier),
            core: Core {
                // Each command goes to the node of its slot: no one server to name.
                server: None,
                conn,
                response_timeout: opts.response_timeout,
                deadline: opts.response_timeout + Duration::from_millis(50),
                limits: Limits {
                    max_value_size: opts.max_value_size,
                    ..Limits::default()
                },
                instance: Default::default(),
                cache,
                wait_for_replicas: opts.wait_for_replicas,
            },
            urls: self.urls.iter().map(|u| redact_url(u)).collect(),
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The indices of `keys` grouped by hash slot, groups in order of first appearance.
fn group_by_slot<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<Vec<usize>> {
    let mut index: HashMap<Slot, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, key) in keys.enumerate() {
        let group = *index.entry(Slot::for_key(key)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(i);
    }
    groups
}

/// Combines the per-slot results of a multi-key write: all succeeded, or the error of the first
/// failed slot, with the keys done and not done when some slots succeeded.
fn combine<T>(
    op: &'static str,
    keys: &[&str],
    groups: &[Vec<usize>],
    results: Vec<RedisResult<T>>,
) -> Result<Vec<T>> {
    if results.iter().all(|r| r.is_ok()) {
        return Ok(results.into_iter().filter_map(|r| r.ok()).collect());
    }
    let mut done = Vec::new();
    let mut not_done = Vec::new();
    let mut first_error: Option<(RedisError, &str)> = None;
    for (group, result) in groups.iter().zip(results) {
        let names = group.iter().map(|&i| keys[i].to_owned());
        match result {
            Ok(_) => done.extend(names),
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some((e, keys[group[0]]));
                }
                not_done.extend(names);
            }
        }
    }
    let (error, key) = first_error.expect("some slot failed");
    if done.is_empty() {
        return Err(map(error, Some(key)));
    }
    Err(Error::backend(
        classify(&error),
        Some(key),
        PartialWriteError::new(op, done, not_done, error),
    ))
}

/// One slot of each primary, from a `CLUSTER SLOTS` reply.
fn primaries(reply: Value) -> RedisResult<Vec<u16>> {
    let ranges: Vec<Vec<Value>> = from_redis_value(reply)?;
    let mut seen: HashMap<(String, i64), u16> = HashMap::new();
    for range in ranges {
        let (Some(start), Some(node)) = (range.first(), range.get(2)) else {
            return Err(errors::protocol_error("unexpected CLUSTER SLOTS reply"));
        };
        let start: u16 = from_redis_value_ref(start)?;
        let node: Vec<Value> = from_redis_value_ref(node)?;
        let (Some(host), Some(port)) = (node.first(), node.get(1)) else {
            return Err(errors::protocol_error("unexpected CLUSTER SLOTS node"));
        };
        let host: String = from_redis_value_ref(host)?;
        let port: i64 = from_redis_value_ref(port)?;
        seen.entry((host, port)).or_insert(start);
    }
    Ok(seen.into_values().collect())
}

redis_backend!(RedisClusterBackend, "redis-cluster");

impl RedisClusterBackend {
    /// One slot of each primary (`CLUSTER SLOTS`); errors name `prefix`.
    async fn primary_slots(&self, prefix: &str) -> Result<Vec<u16>> {
        self.core
            .call_raw(|c| async move {
                let reply = c
                    .route_command(
                        cmd("CLUSTER").arg("SLOTS").to_owned(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await?;
                primaries(reply.extract_error()?)
            })
            .await
            .map_err(|e| map(e, Some(prefix)))
    }
}

#[async_trait]
impl Topology for RedisClusterBackend {
    type Conn = HealingConnection;

    fn core(&self) -> &Core<HealingConnection> {
        &self.core
    }

    /// One `MGET` per hash slot, in parallel, results in the caller's order.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let groups = group_by_slot(keys.iter().copied());
        let fetches = groups.iter().map(|group| {
            let slot_keys: Vec<&str> = group.iter().map(|&i| keys[i]).collect();
            async move {
                self.core
                    .mget_raw(&slot_keys)
                    .await
                    .map_err(|e| map(e, Some(slot_keys[0])))
            }
        });
        let replies = try_join_all(fetches).await?;
        let mut out = vec![None; keys.len()];
        for (group, values) in groups.iter().zip(replies) {
            if values.len() != group.len() {
                return Err(map(
                    errors::protocol_error("MGET returned a wrong number of values"),
                    Some(keys[group[0]]),
                ));
            }
            for (&i, value) in group.iter().zip(values) {
                out[i] = value;
            }
        }
        Ok(out)
    }

    /// One atomic write per hash slot, in parallel: `MSET`, or with a TTL a script of
    /// `SET .. PX` (a script, unlike `MULTI`, follows a `MOVED` after a failover).
    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl_ms: Option<u64>) -> Result<()> {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let groups = group_by_slot(keys.iter().copied());
        let writes = groups.iter().map(|group| {
            let slot_entries: Vec<&(String, Vec<u8>)> =
                group.iter().map(|&i| &entries[i]).collect();
            async move {
                match ttl_ms {
                    None => self.core.mset_raw(&slot_entries).await,
                    Some(ms) => {
                        let keys: Vec<&str> =
                            slot_entries.iter().map(|(key, _)| key.as_str()).collect();
                        let script = scripts::SET_MANY_WITH_TTL.commands(&keys, |c| {
                            c.arg(ms);
                            for (_, value) in &slot_entries {
                                c.arg(value);
                            }
                        });
                        self.core.script_raw(&script).await
                    }
                }
            }
        });
        let results = join_all(writes).await;
        combine("set_many", &keys, &groups, results).map(|_| ())
    }

    /// One `UNLINK` per hash slot, in parallel.
    async fn delete(&self, keys: &[String]) -> Result<usize> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let groups = group_by_slot(keys.iter().copied());
        let unlinks = groups.iter().map(|group| {
            let slot_keys: Vec<&str> = group.iter().map(|&i| keys[i]).collect();
            async move { self.core.unlink_raw(&slot_keys).await }
        });
        let results = join_all(unlinks).await;
        Ok(combine("delete", &keys, &groups, results)?
            .into_iter()
            .sum())
    }

    async fn watch(&self, key: &str, prefix: bool) -> Result<Subscription> {
        self.notifier
            .watch(key, prefix, self.core.response_timeout)
            .await
    }

    async fn pop_front_blocking(&self, key: &str, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.blocking.pop_front(&self.core, key, timeout).await
    }

    async fn blocking_query(
        &self,
        key: &str,
        cmd: &::redis::Cmd,
        wait: Duration,
    ) -> Result<::redis::Value> {
        self.blocking.query(&self.core, key, cmd, wait).await
    }

    /// Every key of an atomic step (and of `LMOVE`) must hash to one slot: a script runs on one
    /// node.
    fn check_one_slot(&self, command: &crate::backend::Command<'_>) -> Result<()> {
        let keys = command.keys();
        let Some(first) = keys.first() else {
            return Ok(());
        };
        let slot = Slot::for_key(first);
        if keys.iter().all(|k| Slot::for_key(k) == slot) {
            return Ok(());
        }
        let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        keys.dedup();
        Err(Error::CrossSlot { keys })
    }

    /// One primary at a time, in the order of their slots: the cursor is `<slot>:<cursor>`,
    /// a slot of the primary being scanned and its `SCAN` cursor.
    async fn scan_page(&self, prefix: &str, cursor: &str, count: usize) -> Result<ScanPage> {
        let mut slots = self.primary_slots(prefix).await?;
        slots.sort_unstable();
        let (slot, node_cursor) = match cursor.split_once(':') {
            None if cursor.is_empty() => (slots.first().copied(), 0),
            Some((slot, node_cursor)) => {
                let slot: u16 = slot.parse().map_err(|_| bad_cursor(prefix, cursor))?;
                let node_cursor = parse_cursor(prefix, node_cursor)?;
                // The primary that serves `slot` now (it may have changed since the last page).
                let at = slots.iter().rposition(|&s| s <= slot).unwrap_or(0);
                (slots.get(at).copied(), node_cursor)
            }
            None => return Err(bad_cursor(prefix, cursor)),
        };
        let Some(slot) = slot else {
            return Ok(ScanPage::default());
        };
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            slot,
            SlotAddr::Master,
        )));
        let route = &route;
        let (next, keys) = self
            .core
            .scan_once(prefix, node_cursor, count, |c, scan| async move {
                let reply = c.route_command(scan, route.clone()).await?;
                Ok(from_redis_value(reply.extract_error()?)?)
            })
            .await?;
        let next = if next != 0 {
            Some(format!("{slot}:{next}"))
        } else {
            slots
                .iter()
                .find(|&&s| s > slot)
                .map(|next_slot| format!("{next_slot}:0"))
        };
        Ok(ScanPage { keys, next })
    }

    /// `SCAN` on every primary (found with `CLUSTER SLOTS`), in parallel, deduplicated.
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let slots = self.primary_slots(prefix).await?;
        let scans = slots.into_iter().map(|slot| async move {
            let mut keys = HashSet::new();
            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
                slot,
                SlotAddr::Master,
            )));
            let route = &route;
            self.core
                .scan_with(prefix, &mut keys, |c, scan| async move {
                    let reply = c.route_command(scan, route.clone()).await?;
                    Ok(from_redis_value(reply.extract_error()?)?)
                })
                .await
                .map(|()| keys)
        });
        let mut all = HashSet::new();
        for keys in try_join_all(scans).await? {
            all.extend(keys);
        }
        Ok(all.into_iter().collect())
    }
}

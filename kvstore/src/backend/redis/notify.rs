//! The notification side of a Redis backend: keyspace notifications for watches, and
//! invalidations for the client cache, on dedicated RESP3 connections (one per server; one per
//! primary of a cluster) that one background task owns.
//!
//! - **Watches.** A watch pattern-subscribes (`PSUBSCRIBE __keyspace@<db>__:<escaped key>[*]`)
//!   on every node; a pattern is subscribed once, whatever the number of watches on it, and
//!   unsubscribed when its last watch is dropped. The first watch adds the
//!   `notify-keyspace-events` flags it needs to the server's own (`CONFIG SET`, never removing
//!   any); where `CONFIG` is refused it fails with an error naming the flags.
//! - **Cache.** Each connection turns on broadcast tracking (`CLIENT TRACKING ON BCAST`): the
//!   server pushes an `invalidate` for every key written, which empties that key's cache entry.
//! - **Reconnection.** A lost connection empties the cache (and turns it off until every
//!   connection is back); once back, every watch is told to re-read everything
//!   ([`Changes::Everything`](crate::backend::Changes::Everything)), because pub/sub loses what was
//!   published meanwhile. A cluster's primaries are listed again every second and after a lost
//!   connection, so that failovers and resharding are followed. Every connection is pinged
//!   every second: one that does not answer within the response timeout counts as lost.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{cmd, AsyncConnectionConfig, Client, PushInfo, PushKind, RedisError, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::errors::map;
use super::options::Options;
use crate::backend::cache::ClientCache;
use crate::backend::{Hub, Subscription, Target};
use crate::error::{BackendErrorKind, Error, Result};
use crate::layout::scan_pattern;

/// The `notify-keyspace-events` flags watches need: keyspace events (`K`) of generic commands,
/// strings, lists, sets, hashes, sorted sets, expiries and evictions.
pub(crate) const NEEDED_FLAGS: &str = "Kg$lshzxe";

/// What the flag `A` stands for.
const ALL_CLASSES: &str = "g$lshzxetd";

/// Where the notification connections go.
pub(crate) enum Nodes {
    /// One server.
    Standalone(Client),
    /// A cluster: its primaries, listed with `CLUSTER SLOTS` on the data connection; each is
    /// reached with the first URL's settings at the primary's address.
    Cluster {
        conn: super::cluster::HealingConnection,
        base: ::redis::ConnectionInfo,
    },
}

/// Where the client cache stands, for the builder to wait on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CacheState {
    Starting,
    Live,
    /// The server refused `CLIENT TRACKING` (its message).
    Refused(String),
}

enum Request {
    Watch {
        target: Target,
        ack: oneshot::Sender<Result<()>>,
    },
    Unused(Target),
}

/// A Redis backend's notifier: the hub watches subscribe to, and the task that feeds it.
pub(crate) struct Notifier {
    hub: Hub,
    requests: mpsc::UnboundedSender<Request>,
    /// The task's end of the request channel, until the task starts.
    start: parking_lot::Mutex<Option<Box<Task>>>,
    cache: Option<ClientCache>,
    cache_state: watch::Receiver<CacheState>,
}

impl Notifier {
    /// A notifier (not started) reaching `nodes`; with a cache, it starts at once.
    pub(crate) fn new(
        nodes: Nodes,
        db: i64,
        cache: Option<ClientCache>,
        opts: &Options,
    ) -> Notifier {
        let hub = Hub::default();
        let (requests, rx) = mpsc::unbounded_channel();
        let weak = requests.downgrade();
        hub.on_unused(move |target| {
            if let Some(requests) = weak.upgrade() {
                let _ = requests.send(Request::Unused(target.clone()));
            }
        });
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let (cache_state_tx, cache_state) = watch::channel(CacheState::Starting);
        let task = Task {
            cache_state: cache_state_tx,
            hub: hub.clone(),
            nodes,
            db,
            cache: cache.clone(),
            connect_timeout: opts.connect_timeout,
            response_timeout: opts.response_timeout,
            backoff: (opts.backoff_min, opts.backoff_max),
            check_flags: !opts.keyspace_events_configured,
            requests: rx,
            push_tx,
            push_rx,
            conns: HashMap::new(),
            patterns: BTreeSet::new(),
            next_connection: 0,
            retry: None,
            failures: 0,
            connected_once: false,
            missed: false,
            next_check: Instant::now(),
        };
        let notifier = Notifier {
            hub,
            requests,
            start: parking_lot::Mutex::new(Some(Box::new(task))),
            cache,
            cache_state,
        };
        if notifier.cache.is_some() {
            notifier.ensure_started();
        }
        notifier
    }

    fn ensure_started(&self) {
        if let Some(task) = self.start.lock().take() {
            tokio::spawn(task.run());
        }
    }

    /// Waits (up to `timeout`) until the client cache serves: `Err` when the server refuses
    /// `CLIENT TRACKING` (the cache could never be kept fresh); `Ok` once it is live, or when
    /// the time is up (reads go to the server until its connection is up).
    pub(crate) async fn wait_cache(&self, timeout: Duration) -> Result<()> {
        let mut state = self.cache_state.clone();
        let settled =
            tokio::time::timeout(timeout, state.wait_for(|s| *s != CacheState::Starting)).await;
        match settled {
            Ok(Ok(state)) => match &*state {
                CacheState::Refused(message) => Err(Error::backend(
                    BackendErrorKind::Permission,
                    None,
                    format!(
                        "the client cache needs `CLIENT TRACKING` (broadcast mode), and the \
                         server refused it ({message}): allow the `client` command for this \
                         user (ACL `+client`), or build the backend without `client_cache`"
                    ),
                )),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// [`Command::Watch`](crate::backend::Command::Watch): subscribed on every node before it
    /// returns.
    pub(crate) async fn watch(
        &self,
        key: &str,
        prefix: bool,
        timeout: Duration,
    ) -> Result<Subscription> {
        self.ensure_started();
        let target = Target {
            key: key.to_owned(),
            prefix,
        };
        let subscription = self.hub.subscribe(target.clone());
        let (ack, done) = oneshot::channel();
        let gone = || {
            Error::backend(
                BackendErrorKind::Connection,
                Some(key),
                "the backend's notification task has stopped",
            )
        };
        self.requests
            .send(Request::Watch { target, ack })
            .map_err(|_| gone())?;
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(result)) => result.map(|()| subscription),
            Ok(Err(_)) => Err(gone()),
            // The server is slow or away: the watch is registered and will re-read when the
            // connection is back.
            Err(_) => Ok(subscription),
        }
    }
}

/// The `PSUBSCRIBE` pattern of a target in database `db`.
fn pattern(db: i64, target: &Target) -> String {
    let mut pattern = format!("__keyspace@{db}__:");
    let escaped = scan_pattern(&target.key);
    if target.prefix {
        pattern.push_str(&escaped);
    } else {
        pattern.push_str(&escaped[..escaped.len() - 1]);
    }
    pattern
}

struct Conn {
    conn: MultiplexedConnection,
    /// Which connection this is (pushes name it).
    id: u64,
    /// Whether this node's `notify-keyspace-events` was checked.
    flags_ok: bool,
}

struct Task {
    cache_state: watch::Sender<CacheState>,
    hub: Hub,
    nodes: Nodes,
    db: i64,
    cache: Option<ClientCache>,
    connect_timeout: Duration,
    response_timeout: Duration,
    backoff: (Duration, Duration),
    /// Whether to add the `notify-keyspace-events` flags (off: the operator set them).
    check_flags: bool,
    requests: mpsc::UnboundedReceiver<Request>,
    push_tx: mpsc::UnboundedSender<(u64, PushInfo)>,
    push_rx: mpsc::UnboundedReceiver<(u64, PushInfo)>,
    /// The live connections, by node address.
    conns: HashMap<String, Conn>,
    /// The patterns subscribed (wanted on every node).
    patterns: BTreeSet<String>,
    next_connection: u64,
    /// When to list the nodes and connect again (`None`: all is well).
    retry: Option<Instant>,
    failures: u32,
    /// Whether a connection was ever up.
    connected_once: bool,
    /// Whether a watch started while no connection was up.
    missed: bool,
    /// When to check the connections (and list a cluster's primaries) next.
    next_check: Instant,
}

/// How often the connections are pinged and a cluster's primaries listed.
const CHECK_EVERY: Duration = Duration::from_secs(1);

impl Task {
    async fn run(mut self: Box<Self>) {
        self.refresh().await;
        loop {
            let wake = self.next_wake();
            tokio::select! {
                push = self.push_rx.recv() => {
                    if let Some((id, push)) = push {
                        self.on_push(id, push);
                    }
                }
                request = self.requests.recv() => match request {
                    // Every backend handle is gone.
                    None => return,
                    Some(request) => self.on_request(request).await,
                },
                () = tokio::time::sleep_until(wake) => self.refresh().await,
            }
        }
    }

    fn next_wake(&self) -> Instant {
        match self.retry {
            Some(at) => at.min(self.next_check),
            None => self.next_check,
        }
    }

    fn schedule_retry(&mut self) {
        let (min, max) = self.backoff;
        let wait = min
            .saturating_mul(1u32 << self.failures.min(16))
            .min(max)
            .max(Duration::from_millis(10));
        self.failures = self.failures.saturating_add(1);
        self.retry = Some(Instant::now() + wait);
    }

    fn update_cache(&self, all_up: bool) {
        if let Some(cache) = &self.cache {
            if cache.is_live() != all_up {
                cache.set_live(all_up);
            }
            if all_up {
                self.cache_state.send_replace(CacheState::Live);
            }
        }
    }

    fn on_push(&mut self, id: u64, push: PushInfo) {
        match push.kind {
            PushKind::PMessage => {
                // [pattern, channel, event]
                let channel = match push.data.get(1) {
                    Some(Value::BulkString(bytes)) => bytes.as_slice(),
                    _ => return,
                };
                let prefix = format!("__keyspace@{}__:", self.db);
                if let Some(key) = channel.strip_prefix(prefix.as_bytes()) {
                    if let Ok(key) = std::str::from_utf8(key) {
                        // The cache's own invalidation (broadcast tracking) is sent later, when
                        // the server is about to sleep: drop the key now, so that a `get` made
                        // after a watch yielded never reads the value before.
                        if let Some(cache) = &self.cache {
                            cache.invalidate(key);
                        }
                        self.hub.publish(key);
                    }
                }
            }
            PushKind::Invalidate => {
                let Some(cache) = &self.cache else { return };
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            if let Value::BulkString(key) = key {
                                if let Ok(key) = std::str::from_utf8(key) {
                                    cache.invalidate(key);
                                }
                            }
                        }
                    }
                    // A flush: everything is stale.
                    _ => cache.clear(),
                }
            }
            PushKind::Disconnection => {
                let before = self.conns.len();
                self.conns.retain(|_, conn| conn.id != id);
                if self.conns.len() != before {
                    self.update_cache(false);
                    self.retry = Some(Instant::now());
                }
            }
            _ => {}
        }
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Watch { target, ack } => {
                let result = self.subscribe(&target).await;
                if result.is_err() && !self.hub.is_watched(&target) {
                    self.patterns.remove(&pattern(self.db, &target));
                }
                let _ = ack.send(result);
            }
            Request::Unused(target) => {
                if self.hub.is_watched(&target) {
                    return;
                }
                let pattern = pattern(self.db, &target);
                if self.patterns.remove(&pattern) {
                    for conn in self.conns.values_mut() {
                        let _ = tokio::time::timeout(
                            self.response_timeout,
                            conn.conn.punsubscribe(&pattern),
                        )
                        .await;
                    }
                }
            }
        }
    }

    /// Subscribes `target` on every connected node (a node connected later subscribes every
    /// pattern when it connects).
    async fn subscribe(&mut self, target: &Target) -> Result<()> {
        let pattern = pattern(self.db, target);
        if self.conns.is_empty() {
            self.refresh().await;
        }
        if self.conns.is_empty() {
            // No server to subscribe on: the watch goes on, and re-reads once one is back.
            self.patterns.insert(pattern);
            self.missed = true;
            return Ok(());
        }
        let mut lost = Vec::new();
        for (addr, conn) in &mut self.conns {
            if !conn.flags_ok {
                match ensure_flags(&mut conn.conn, self.response_timeout, self.check_flags).await {
                    Ok(()) => conn.flags_ok = true,
                    Err(FlagsError::Refused(message)) => {
                        return Err(flags_error(&target.key, addr, &message))
                    }
                    Err(FlagsError::Connection) => {
                        lost.push(addr.clone());
                        continue;
                    }
                }
            }
            if !self.patterns.contains(&pattern) {
                let done =
                    tokio::time::timeout(self.response_timeout, conn.conn.psubscribe(&pattern))
                        .await;
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if !is_connection(&e) => return Err(map(e, Some(&target.key))),
                    _ => lost.push(addr.clone()),
                }
            }
        }
        self.patterns.insert(pattern);
        if !lost.is_empty() {
            for addr in lost {
                self.conns.remove(&addr);
            }
            self.update_cache(false);
            self.retry = Some(Instant::now());
        }
        Ok(())
    }

    /// Lists the nodes, connects to the missing ones (subscribing every pattern, tracking
    /// for the cache), drops the ones no longer listed; after any change every watch
    /// re-reads.
    async fn refresh(&mut self) {
        self.retry = None;
        self.next_check = Instant::now() + CHECK_EVERY;
        self.check_health().await;
        let wanted = match self.list_nodes().await {
            Ok(wanted) => wanted,
            Err(()) => {
                self.update_cache(false);
                self.schedule_retry();
                return;
            }
        };
        let mut changed = false;
        let before = self.conns.len();
        self.conns
            .retain(|addr, _| wanted.iter().any(|(a, _)| a == addr));
        changed |= self.conns.len() != before;
        let mut all_up = true;
        for (addr, client) in wanted {
            if self.conns.contains_key(&addr) {
                continue;
            }
            match self.connect(&client).await {
                Ok((conn, refused)) => {
                    self.conns.insert(addr.clone(), conn);
                    changed = true;
                    if let Some(refused) = refused {
                        // `CONFIG` refused on a node that joined: the watches cannot go on.
                        self.hub.fail_all(|| flags_error("", &addr, &refused));
                    }
                }
                Err(()) => all_up = false,
            }
        }
        if all_up {
            self.failures = 0;
        } else {
            self.schedule_retry();
        }
        self.update_cache(all_up && !self.conns.is_empty());
        // The first connections miss nothing (every watch waits for its subscription), unless
        // a watch started while no server answered; any later change of connections may have
        // lost notifications.
        if changed && (self.connected_once || self.missed) {
            self.hub.publish_everything();
            self.missed = false;
        }
        self.connected_once |= !self.conns.is_empty();
    }

    /// Pings every connection: one that does not answer within the response timeout (a
    /// network partition that never closed the socket) is dropped like a closed one, so the
    /// cache cannot go on trusting a connection whose invalidations no longer arrive.
    async fn check_health(&mut self) {
        let timeout = self.response_timeout;
        let mut dead = Vec::new();
        for (addr, conn) in &mut self.conns {
            let ping = cmd("PING");
            let ping = ping.query_async::<Value>(&mut conn.conn);
            if !matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(_))) {
                dead.push(addr.clone());
            }
        }
        if !dead.is_empty() {
            for addr in dead {
                self.conns.remove(&addr);
            }
            self.update_cache(false);
        }
    }

    async fn list_nodes(&self) -> std::result::Result<Vec<(String, Client)>, ()> {
        match &self.nodes {
            Nodes::Standalone(client) => Ok(vec![(String::new(), client.clone())]),
            Nodes::Cluster { conn, base } => {
                let slots = tokio::time::timeout(self.response_timeout, conn.cluster_slots())
                    .await
                    .map_err(|_| ())?
                    .map_err(|_| ())?;
                let mut out = Vec::new();
                for (host, port) in slots {
                    let addr = format!("{host}:{port}");
                    if out.iter().any(|(a, _)| *a == addr) {
                        continue;
                    }
                    let info = base.clone().set_addr(node_addr(base.addr(), &host, port));
                    let Ok(client) = Client::open(info) else {
                        continue;
                    };
                    out.push((addr, client));
                }
                if out.is_empty() {
                    return Err(());
                }
                Ok(out)
            }
        }
    }

    /// A notification connection to one node, set up: flags checked (if any watch), tracking
    /// on (if a cache), every pattern subscribed. With the message of a refused `CONFIG`, if
    /// it was (then nothing is subscribed).
    async fn connect(
        &mut self,
        client: &Client,
    ) -> std::result::Result<(Conn, Option<String>), ()> {
        let id = self.next_connection;
        self.next_connection += 1;
        let push = self.push_tx.clone();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_push_sender(move |info: PushInfo| push.send((id, info)));
        let deadline = self.connect_timeout + self.response_timeout;
        let setup = async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|_| ())?;
            if self.cache.is_some() {
                let tracking = cmd("CLIENT")
                    .arg("TRACKING")
                    .arg("ON")
                    .arg("BCAST")
                    .query_async::<()>(&mut conn)
                    .await;
                match tracking {
                    Ok(()) => {}
                    Err(e) if is_connection(&e) => return Err(()),
                    Err(e) => {
                        self.cache_state
                            .send_replace(CacheState::Refused(e.to_string()));
                        return Err(());
                    }
                }
            }
            let mut flags_ok = false;
            let mut refused = None;
            if !self.patterns.is_empty() {
                match ensure_flags(&mut conn, self.response_timeout, self.check_flags).await {
                    Ok(()) => flags_ok = true,
                    Err(FlagsError::Refused(message)) => refused = Some(message),
                    Err(FlagsError::Connection) => return Err(()),
                }
                if flags_ok {
                    for pattern in &self.patterns {
                        conn.psubscribe(pattern).await.map_err(|_| ())?;
                    }
                }
            }
            Ok((Conn { conn, id, flags_ok }, refused))
        };
        match tokio::time::timeout(deadline, setup).await {
            Ok(result) => result,
            Err(_) => Err(()),
        }
    }
}

impl Drop for Task {
    /// The task ends when the backend is gone, or when its runtime shuts down under it: then
    /// nothing would keep the cache fresh or tell the watches about changes any more, so the
    /// cache turns off and the watches end with an error.
    fn drop(&mut self) {
        if let Some(cache) = &self.cache {
            cache.set_live(false);
        }
        self.hub.fail_all(|| {
            Error::backend(
                BackendErrorKind::Connection,
                None,
                "the backend's notification task stopped (its tokio runtime shut down); \
                 watch again from a running runtime",
            )
        });
    }
}

/// The address of a node named by `CLUSTER SLOTS`, reached like the first URL (TLS or not).
fn node_addr(base: &::redis::ConnectionAddr, host: &str, port: u16) -> ::redis::ConnectionAddr {
    use ::redis::ConnectionAddr;
    match base {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    }
}

fn is_connection(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal()
}

enum FlagsError {
    Refused(String),
    Connection,
}

/// Adds the flags of [`NEEDED_FLAGS`] that the server's `notify-keyspace-events` lacks.
async fn ensure_flags(
    conn: &mut MultiplexedConnection,
    timeout: Duration,
    check: bool,
) -> std::result::Result<(), FlagsError> {
    if !check {
        return Ok(());
    }
    let get = async {
        cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query_async::<HashMap<String, String>>(conn)
            .await
    };
    let current = match tokio::time::timeout(timeout, get).await {
        Err(_) => return Err(FlagsError::Connection),
        Ok(Err(e)) if is_connection(&e) => return Err(FlagsError::Connection),
        Ok(Err(e)) => return Err(FlagsError::Refused(e.to_string())),
        Ok(Ok(reply)) => reply
            .get("notify-keyspace-events")
            .cloned()
            .unwrap_or_default(),
    };
    let missing = missing_flags(&current);
    if missing.is_empty() {
        return Ok(());
    }
    let set = async {
        cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg(format!("{current}{missing}"))
            .query_async::<()>(conn)
            .await
    };
    match tokio::time::timeout(timeout, set).await {
        Err(_) => Err(FlagsError::Connection),
        Ok(Err(e)) if is_connection(&e) => Err(FlagsError::Connection),
        Ok(Err(e)) => Err(FlagsError::Refused(e.to_string())),
        Ok(Ok(())) => Ok(()),
    }
}

/// The flags of [`NEEDED_FLAGS`] missing from `current` (`A` standing for all classes).
pub(crate) fn missing_flags(current: &str) -> String {
    let has = |c: char| current.contains(c) || (current.contains('A') && ALL_CLASSES.contains(c));
    NEEDED_FLAGS.chars().filter(|c| !has(*c)).collect()
}

fn flags_error(key: &str, node: &str, refused: &str) -> Error {
    let node = if node.is_empty() {
        String::new()
    } else {
        format!(" on {node}")
    };
    Error::backend(
        BackendErrorKind::Unsupported,
        (!key.is_empty()).then_some(key),
        format!(
            "watching needs Redis keyspace notifications, and the server{node} refused `CONFIG` \
             ({refused}); set them on the server: `notify-keyspace-events {NEEDED_FLAGS}` in \
             redis.conf (or add the flags K, g, $, l, s, h, z, x and e to the ones it has), \
             and if it already has them, build the backend with `keyspace_events_configured()`"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_added_not_replaced() {
        assert_eq!(missing_flags(""), "Kg$lshzxe");
        assert_eq!(missing_flags("KA"), "");
        assert_eq!(missing_flags("AK"), "");
        assert_eq!(missing_flags("Ex"), "Kg$lshze");
        assert_eq!(missing_flags("KEA"), "");
    }

    #[test]
    fn patterns_escape_the_key() {
        let t = |key: &str, prefix| Target {
            key: key.into(),
            prefix,
        };
        assert_eq!(pattern(0, &t("app:a", false)), "__keyspace@0__:app:a");
        assert_eq!(pattern(3, &t("app:*", true)), "__keyspace@3__:app:\\**");
    }
}

//! [`RedisBackend`]: one Redis server, through a self-reconnecting `ConnectionManager`.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use ::redis::{
    cmd, AsyncConnectionConfig, Client, ConnectionInfo, IntoConnectionInfo, ProtocolVersion,
    RedisError,
};

use super::blocking::BlockingPool;
use super::connection::Core;
use super::errors::{self, map};
use super::mapping::{redis_backend, Topology};
use super::notify::{Nodes, Notifier};
use super::options::{builder_options, Options};
use crate::backend::connect::redact_url;
use crate::backend::{async_trait, ClientCache, Limits, ScanPage, Subscription};
use crate::error::{BackendErrorKind, Error, Result};

/// A backend over one Redis server (or a primary with replicas behind one address).
///
/// Built by [`RedisBackend::connect`] or [`RedisBackend::builder`]. It holds one multiplexed
/// connection (redis-rs's `ConnectionManager`): every clone and every handle shares it, and it
/// reconnects by itself after the server restarts or the network drops — calls made while the
/// server is away fail with a [`BackendErrorKind::Connection`] or
/// [`BackendErrorKind::Timeout`] error within the response timeout, and calls after it is back
/// succeed, with nothing to do by hand.
///
/// URLs: `redis://host[:port][/db]`, `redis://[user]:password@host[:port][/db]`, and
/// `rediss://...` (TLS) when the crate's `tls` feature is on. The connection speaks RESP3 (Redis
/// 6 or later), which lets it notice a server that went away while idle; add
/// `?protocol=resp2` to the URL for an older server.
///
/// Every operation is native Redis: `GET`, `SET [PX] [NX]`, `MGET`, `MSET` (or `MULTI`/`EXEC`
/// with TTLs), `UNLINK`, `EXISTS`, `PTTL`, `PEXPIRE`, `PERSIST`, `INCRBY`, the set commands,
/// `SCAN MATCH`, and small Lua scripts (sent by SHA) where a step must be atomic:
/// compare-and-swap, and creating a counter or a set with a TTL. It never uses `KEYS` or `WATCH`.
///
/// Cloning is cheap (a reference count).
#[derive(Clone)]
pub struct RedisBackend {
    core: Core<ConnectionManager>,
    blocking: Arc<BlockingPool<MultiplexedConnection>>,
    notifier: Arc<Notifier>,
    url: String,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .field("response_timeout", &self.core.response_timeout)
            .field("limits", &self.core.limits)
            .finish()
    }
}

/// Configures and connects a [`RedisBackend`]: from [`RedisBackend::builder`].
#[must_use = "a builder does nothing until `.build().await`"]
#[derive(Clone)]
pub struct RedisBackendBuilder {
    url: String,
    opts: Options,
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("url", &redact_url(&self.url))
            .field("options", &self.opts)
            .finish()
    }
}

impl RedisBackend {
    /// Connects with the default options (2 s response timeout, 1 s connect timeout).
    ///
    /// Fails fast, with a typed [`Error::Backend`], when the URL is invalid (`Other`), the server
    /// cannot be reached (`Connection`/`Timeout`), or the credentials are refused (`Auth`).
    pub async fn connect(url: &str) -> Result<RedisBackend> {
        Self::builder(url).build().await
    }

    /// A builder to set timeouts, reconnection and limits before connecting.
    pub fn builder(url: &str) -> RedisBackendBuilder {
        RedisBackendBuilder {
            url: url.to_owned(),
            opts: Options::default(),
        }
    }
}

impl RedisBackendBuilder {
    builder_options!();

    /// Trusts this CA certificate (PEM) for a `rediss://` server, instead of the system's root
    /// certificates: for a private CA or a self-signed server. Needs the `tls` feature.
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.opts.tls_root_cert = Some(pem.into());
        self
    }

    /// Connects: opens one connection to check the address and the credentials (no retries, so
    /// a wrong password fails at once), then starts the self-reconnecting connection.
    pub async fn build(self) -> Result<RedisBackend> {
        let opts = self.opts;
        #[cfg(feature = "tls")]
        let client = match &opts.tls_root_cert {
            Some(pem) => ::redis::Client::build_with_tls(
                connection_info(&self.url)?,
                ::redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            )
            .map_err(|e| invalid_url(&self.url, e))?,
            None => open_client(&self.url)?,
        };
        #[cfg(not(feature = "tls"))]
        let client = open_client(&self.url)?;
        let server = match client.get_connection_info().addr() {
            ::redis::ConnectionAddr::Tcp(host, port)
            | ::redis::ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
            _ => None,
        };
        let deadline = opts.connect_timeout + opts.response_timeout;

        // The probe: a refused connection, a wrong password or a bad database number fail here,
        // without the connection manager's retries.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout));
        let probe = async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            cmd("PING").query_async::<()>(&mut conn).await
        };
        match tokio::time::timeout(deadline, probe).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(errors::connecting(&self.url, map(e, None))),
            Err(_) => {
                let e = map(errors::timeout_error(deadline), None);
                return Err(errors::connecting(&self.url, e));
            }
        }

        let cache = opts.client_cache.map(ClientCache::new);
        let notifier = Notifier::new(
            Nodes::Standalone(client.clone()),
            client.get_connection_info().redis_settings().db(),
            cache.clone(),
            &opts,
        );
        let blocking = {
            let client = client.clone();
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(opts.connect_timeout))
                .set_response_timeout(None);
            BlockingPool::new(move || {
                let client = client.clone();
                let config = config.clone();
                Box::pin(async move {
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                })
            })
        };
        // No response timeout of its own: every call has one deadline (`Core::deadline`), which
        // also bounds the wait for a reconnection. One timer per call, not two.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(None)
            .set_number_of_retries(opts.reconnect_attempts)
            .set_min_delay(opts.backoff_min)
            .set_max_delay(opts.backoff_max);
        let conn = match tokio::time::timeout(
            deadline,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(errors::connecting(&self.url, map(e, None))),
            Err(_) => {
                let e = map(errors::timeout_error(deadline), None);
                return Err(errors::connecting(&self.url, e));
            }
        };
        if cache.is_some() {
            notifier
                .wait_cache(deadline)
                .await
                .map_err(|e| errors::connecting(&self.url, e))?;
        }
        Ok(RedisBackend {
            core: Core {
                server,
                conn,
                response_timeout: opts.response_timeout,
                deadline: opts.response_timeout,
                limits: Limits {
                    max_value_size: opts.max_value_size,
                    ..Limits::default()
                },
                instance: Default::default(),
                cache,
                wait_for_replicas: opts.wait_for_replicas,
            },
            blocking: Arc::new(blocking),
            notifier: Arc::new(notifier),
            url: redact_url(&self.url),
        })
    }
}

/// A redis-rs client for `url`.
pub(crate) fn open_client(url: &str) -> Result<Client> {
    Client::open(connection_info(url)?).map_err(|e| invalid_url(url, e))
}

/// The connection info of `url`: RESP3 unless the URL chooses (`?protocol=resp2`), so that an
/// idle connection notices a server that went away and reconnects before the next call.
pub(crate) fn connection_info(url: &str) -> Result<ConnectionInfo> {
    check_tls(url)?;
    let info = url
        .into_connection_info()
        .map_err(|e| invalid_url(url, e))?;
    let chosen = url
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("protocol=")));
    if chosen {
        return Ok(info);
    }
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Ok(info.set_redis_settings(settings))
}

fn invalid_url(url: &str, e: RedisError) -> Error {
    Error::backend(
        BackendErrorKind::Other,
        None,
        format!("invalid Redis URL `{}`: {e}", redact_url(url)),
    )
}

/// `rediss://` needs the crate's `tls` feature.
pub(crate) fn check_tls(url: &str) -> Result<()> {
    if cfg!(not(feature = "tls"))
        && url
            .get(..9)
            .is_some_and(|s| s.eq_ignore_ascii_case("rediss://"))
    {
        return Err(Error::backend(
            BackendErrorKind::Other,
            None,
            "`rediss://` (TLS) needs the `tls` feature of kvstore: `kvstore = { features = [\"tls\"] }`",
        ));
    }
    Ok(())
}

redis_backend!(RedisBackend, "redis");

#[async_trait]
impl Topology for RedisBackend {
    type Conn = ConnectionManager;

    fn core(&self) -> &Core<ConnectionManager> {
        &self.core
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.core
            .mget_raw(&keys)
            .await
            .map_err(|e| map(e, keys.first().copied()))
    }

    /// `MSET`; with a TTL, `MULTI`, `SET .. PX ms`..., `EXEC`.
    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl_ms: Option<u64>) -> Result<()> {
        let first = entries.first().map(|(key, _)| key.as_str());
        let result = match ttl_ms {
            None => {
                let entries: Vec<&(String, Vec<u8>)> = entries.iter().collect();
                self.core.mset_raw(&entries).await
            }
            Some(ms) => {
                let mut pipe = ::redis::pipe();
                pipe.atomic();
                for (key, value) in entries {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("PX")
                        .arg(ms)
                        .ignore();
                }
                let pipe = &pipe;
                self.core
                    .call_raw(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
                    .await
            }
        };
        result.map_err(|e| map(e, first))
    }

    async fn delete(&self, keys: &[String]) -> Result<usize> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.core
            .unlink_raw(&keys)
            .await
            .map_err(|e| map(e, keys.first().copied()))
    }

    async fn scan_page(&self, prefix: &str, cursor: &str, count: usize) -> Result<ScanPage> {
        let cursor = parse_cursor(prefix, cursor)?;
        let (next, keys) = self
            .core
            .scan_once(prefix, cursor, count, |mut c, scan| async move {
                scan.query_async(&mut c).await
            })
            .await?;
        Ok(ScanPage {
            keys,
            next: (next != 0).then(|| next.to_string()),
        })
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

    async fn watch(&self, key: &str, prefix: bool) -> Result<Subscription> {
        self.notifier
            .watch(key, prefix, self.core.response_timeout)
            .await
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = HashSet::new();
        self.core
            .scan_with(prefix, &mut keys, |mut c, scan| async move {
                scan.query_async(&mut c).await
            })
            .await?;
        Ok(keys.into_iter().collect())
    }
}

/// A `SCAN` cursor given back by a previous page (`""`: the start).
pub(crate) fn parse_cursor(prefix: &str, cursor: &str) -> Result<u64> {
    if cursor.is_empty() {
        return Ok(0);
    }
    cursor.parse().map_err(|_| bad_cursor(prefix, cursor))
}

/// The error for a scan cursor this backend did not give out.
pub(crate) fn bad_cursor(prefix: &str, cursor: &str) -> Error {
    Error::backend(
        BackendErrorKind::Other,
        Some(prefix),
        format!("`{cursor}` is not a scan cursor of this backend"),
    )
}

//! The Redis backends: [`RedisBackend`] (one server) and [`RedisClusterBackend`] (a Redis
//! Cluster), plus [`connect`], which opens any backend from a URL.
//!
//! Both keep the [`Backend`](crate::Backend) semantics with native commands:
//!
//! | operation | Redis |
//! | --- | --- |
//! | `get` / `set` | `GET` / `SET key value [PX ms] [NX]` (TTLs rounded up to whole ms) |
//! | `get_many` | `MGET` (cluster: one per hash slot, in parallel, results in order) |
//! | `set_many` | `MSET`; with a TTL `MULTI` + `SET .. PX` + `EXEC` (cluster: per slot, with a TTL a Lua script of `SET .. PX`; see [`PartialWriteError`]) |
//! | `compare_and_swap` (`_or_get`) | a Lua script: compare, then `SET KEEPTTL`, `SET PX`, or `DEL` (or return the stored value) |
//! | `increment` | `INCRBY`; with a TTL for a new counter, a Lua script (`EXISTS`, `INCRBY`, `PEXPIRE`) |
//! | `delete` | `UNLINK` (cluster: per slot) |
//! | `exists` / `ttl` / `expire` / `persist` | `EXISTS` / `PTTL` / `PEXPIRE` (0 deletes) / `PERSIST` |
//! | sets | `SADD` (with a TTL for a new set: Lua), `SREM`, `SISMEMBER`, `SMEMBERS`, `SCARD` |
//! | `scan_prefix` | `SCAN 0 MATCH <escaped prefix>* COUNT 1000` to the end (cluster: on every primary), deduplicated |
//!
//! Errors: `WRONGTYPE` → [`Error::WrongType`]; an `INCRBY` on a non-integer →
//! [`Error::Decode`], an overflow → [`Error::Overflow`]; everything else is
//! [`Error::Backend`] of kind `Auth` (`NOAUTH`, `WRONGPASS`), `Permission` (`NOPERM`),
//! `Unavailable` (`LOADING`, `BUSY`, `CLUSTERDOWN`, `TRYAGAIN`, `READONLY`, `MASTERDOWN`),
//! `Connection` (I/O), `Timeout` (no reply within the response timeout) or `Other`. Every
//! error names the key of the operation (the first key for multi-key operations, the prefix for
//! scans).

mod cluster;
mod errors;
mod scripts;
mod shared;
mod standalone;

use std::sync::Arc;

pub use cluster::{RedisClusterBackend, RedisClusterBackendBuilder};
pub use errors::PartialWriteError;
pub use standalone::{RedisBackend, RedisBackendBuilder};

use crate::backend::DynBackend;
use crate::error::{BackendErrorKind, Error, Result};

const SCHEMES: &str =
    "memory://, redis://, rediss://, redis+cluster://host:port,host:port, rediss+cluster://...";

/// Opens a backend from a URL:
///
/// - `memory://` — a new, empty [`MemoryBackend`](crate::MemoryBackend);
/// - `redis://[[user]:password@]host[:port][/db]` — a [`RedisBackend`]; `rediss://` for TLS (with
///   the `tls` feature);
/// - `redis+cluster://[[user]:password@]host:port,host:port,...` — a [`RedisClusterBackend`]
///   over those seed nodes; `rediss+cluster://` for TLS.
///
/// Redis backends are connected with the default options: use [`RedisBackend::builder`] or
/// [`RedisClusterBackend::builder`] to change them. An unknown scheme is an
/// [`Error::Backend`] of kind `Other` that lists the accepted ones.
///
/// ```no_run
/// # async fn demo() -> kvstore::Result<()> {
/// let backend = kvstore::connect("redis://127.0.0.1:6379/0").await?;
/// assert_eq!(backend.name(), "redis");
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<DynBackend> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("memory") => {
            if url.len() > "memory://".len() {
                return Err(Error::backend(
                    BackendErrorKind::Other,
                    None,
                    format!("`memory://` takes no address, got `{}`", redact_url(url)),
                ));
            }
            Ok(Arc::new(crate::MemoryBackend::new()))
        }
        Some("redis" | "rediss") => Ok(Arc::new(RedisBackend::connect(url).await?)),
        Some(scheme @ ("redis+cluster" | "rediss+cluster")) => {
            let base = scheme.trim_end_matches("+cluster");
            let urls = cluster_urls(base, &url[scheme.len() + 3..]).ok_or_else(|| {
                Error::backend(
                    BackendErrorKind::Other,
                    None,
                    format!(
                        "`{}` names no node: write `{scheme}://host:port,host:port`",
                        redact_url(url)
                    ),
                )
            })?;
            Ok(Arc::new(RedisClusterBackend::connect(&urls).await?))
        }
        _ => Err(Error::backend(
            BackendErrorKind::Other,
            None,
            format!(
                "unsupported backend URL `{}`: the accepted schemes are {SCHEMES}",
                redact_url(url)
            ),
        )),
    }
}

/// Splits `[userinfo@]h1:p1,h2:p2[/db][?query]` into one `base://` URL per node, each with the
/// same credentials, database and query.
fn cluster_urls(base: &str, rest: &str) -> Option<Vec<String>> {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let urls: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| format!("{base}://{userinfo}{host}{tail}"))
        .collect();
    (!urls.is_empty()).then_some(urls)
}

/// `url` with the password replaced by `***`, for logs and errors.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_owned()
            };
            format!("{scheme}://{hidden}@{}{tail}", &authority[at + 1..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cluster_urls() {
        assert_eq!(
            cluster_urls("redis", "a:1,b:2").unwrap(),
            ["redis://a:1", "redis://b:2"]
        );
        assert_eq!(
            cluster_urls("rediss", "u:p@a:1, b:2/0?protocol=3").unwrap(),
            [
                "rediss://u:p@a:1/0?protocol=3",
                "rediss://u:p@b:2/0?protocol=3"
            ]
        );
        assert_eq!(cluster_urls("redis", ""), None);
        assert_eq!(cluster_urls("redis", ",/0"), None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(redact_url("redis://u:secret@h/0"), "redis://u:***@h/0");
        assert_eq!(redact_url("redis://:secret@h"), "redis://:***@h");
        assert_eq!(redact_url("redis://secret@h"), "redis://***@h");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        use std::time::Duration;
        assert_eq!(shared::ttl_ms(Duration::ZERO), 0);
        assert_eq!(shared::ttl_ms(Duration::from_nanos(1)), 1);
        assert_eq!(shared::ttl_ms(Duration::from_micros(1500)), 2);
        assert_eq!(shared::ttl_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(shared::ttl_ms(Duration::MAX), u64::MAX);
    }

    #[tokio::test]
    async fn unknown_schemes_list_the_accepted_ones() {
        for url in ["postgres://x", "localhost:6379", "redis:/x"] {
            let Err(err) = connect(url).await else {
                panic!("{url} should fail")
            };
            let msg = err.to_string();
            assert!(
                matches!(&err, Error::Backend(e) if e.kind() == BackendErrorKind::Other),
                "{err:?}"
            );
            assert!(msg.contains("redis+cluster://"), "{msg}");
        }
        let backend = connect("memory://").await.unwrap();
        assert_eq!(backend.name(), "memory");
    }
}

//! [`connect`]: any backend from a URL, through one table of schemes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Backend;
use crate::error::{BackendErrorKind, Error, Result};
use crate::MemoryBackend;

/// A shared, type-erased backend: what [`connect`](crate::connect) returns.
pub type DynBackend = Arc<dyn Backend>;

/// Anything a store can be opened over: every backend by value, or a [`DynBackend`].
pub trait IntoBackend {
    /// Converts into a shared backend.
    fn into_backend(self) -> DynBackend;
}

impl<B: Backend> IntoBackend for B {
    fn into_backend(self) -> DynBackend {
        Arc::new(self)
    }
}

impl IntoBackend for DynBackend {
    fn into_backend(self) -> DynBackend {
        self
    }
}

type Opened = Pin<Box<dyn Future<Output = Result<DynBackend>> + Send>>;

/// A URL scheme [`connect`] accepts: its name, what it opens, and how.
struct Scheme {
    scheme: &'static str,
    opens: &'static str,
    open: fn(url: String, rest: String) -> Opened,
}

/// The schemes of this build, in the order error messages list them.
const TABLE: &[Scheme] = &[
    Scheme {
        scheme: "memory",
        opens: "a new, empty `MemoryBackend`",
        open: open_memory,
    },
    #[cfg(feature = "redis")]
    Scheme {
        scheme: "redis",
        opens: "a `RedisBackend` (`redis://[[user]:password@]host[:port][/db]`)",
        open: open_redis,
    },
    #[cfg(feature = "redis")]
    Scheme {
        scheme: "rediss",
        opens: "a `RedisBackend` over TLS (feature `tls`)",
        open: open_redis,
    },
    #[cfg(feature = "redis")]
    Scheme {
        scheme: "redis+cluster",
        opens: "a `RedisClusterBackend` (`redis+cluster://[[user]:password@]host:port,host:port`)",
        open: open_cluster,
    },
    #[cfg(feature = "redis")]
    Scheme {
        scheme: "rediss+cluster",
        opens: "a `RedisClusterBackend` over TLS (feature `tls`)",
        open: open_cluster,
    },
    #[cfg(feature = "redb")]
    Scheme {
        scheme: "redb",
        opens: "a `RedbBackend` in a file (`redb://./data.redb`, `redb:///abs/path.redb`; feature `redb`)",
        open: open_redb,
    },
];

/// The URL schemes [`connect`] accepts in this build (`"memory"`, with the `redis` feature
/// `"redis"`, `"rediss"`, `"redis+cluster"`, `"rediss+cluster"`, and with the `redb` feature
/// `"redb"`).
pub const SCHEMES: &[&str] = &[
    "memory",
    #[cfg(feature = "redis")]
    "redis",
    #[cfg(feature = "redis")]
    "rediss",
    #[cfg(feature = "redis")]
    "redis+cluster",
    #[cfg(feature = "redis")]
    "rediss+cluster",
    #[cfg(feature = "redb")]
    "redb",
];

/// Opens a backend from a URL:
///
/// - `memory://` — a new, empty [`MemoryBackend`];
/// - `redis://[[user]:password@]host[:port][/db]` — a `RedisBackend` (feature `redis`, on by
///   default); `rediss://` for TLS (feature `tls`);
/// - `redis+cluster://[[user]:password@]host:port,host:port,...` — a `RedisClusterBackend` over
///   those seed nodes; `rediss+cluster://` for TLS;
/// - `redb://<path>` — a `RedbBackend` in the file at `<path>` (`redb://./data.redb` relative to
///   the working directory, `redb:///var/lib/app/data.redb` absolute), created if missing
///   (feature `redb`).
///
/// Redis backends are connected with the default options: use `RedisBackend::builder` or
/// `RedisClusterBackend::builder` to change them. An unknown scheme is an [`Error::Backend`] of
/// kind `Other` that lists the accepted ones.
///
/// ```no_run
/// # async fn demo() -> kvstore::Result<()> {
/// let backend = kvstore::connect("redis://127.0.0.1:6379/0").await?;
/// assert_eq!(backend.info().name, "redis");
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<DynBackend> {
    let parsed = url
        .split_once("://")
        .map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest));
    let found = parsed.as_ref().and_then(|(scheme, rest)| {
        TABLE
            .iter()
            .find(|s| s.scheme == scheme)
            .map(|s| (s, *rest))
    });
    match found {
        Some((scheme, rest)) => (scheme.open)(url.to_owned(), rest.to_owned()).await,
        None => {
            let accepted: Vec<String> = TABLE
                .iter()
                .map(|s| format!("`{}://` ({})", s.scheme, s.opens))
                .collect();
            Err(other(format!(
                "unsupported backend URL `{}`: the accepted schemes are {}{}",
                redact_url(url),
                accepted.join(", "),
                if cfg!(feature = "redis") {
                    ""
                } else {
                    " (enable the `redis` feature of kvstore for Redis)"
                }
            )))
        }
    }
}

fn other(message: String) -> Error {
    Error::backend(BackendErrorKind::Other, None, message)
}

fn open_memory(url: String, rest: String) -> Opened {
    Box::pin(async move {
        if !rest.is_empty() {
            return Err(other(format!(
                "`memory://` takes no address, got `{}`",
                redact_url(&url)
            )));
        }
        Ok(Arc::new(MemoryBackend::new()) as DynBackend)
    })
}

#[cfg(feature = "redis")]
fn open_redis(url: String, _rest: String) -> Opened {
    Box::pin(
        async move { Ok(Arc::new(super::redis::RedisBackend::connect(&url).await?) as DynBackend) },
    )
}

#[cfg(feature = "redis")]
fn open_cluster(url: String, rest: String) -> Opened {
    Box::pin(async move {
        let scheme = &url[..url.len() - rest.len() - 3];
        let base = scheme.to_ascii_lowercase().replace("+cluster", "");
        let urls = cluster_urls(&base, &rest).ok_or_else(|| {
            other(format!(
                "`{}` names no node: write `{scheme}://host:port,host:port`",
                redact_url(&url)
            ))
        })?;
        Ok(Arc::new(super::redis::RedisClusterBackend::connect(&urls).await?) as DynBackend)
    })
}

#[cfg(feature = "redb")]
fn open_redb(url: String, rest: String) -> Opened {
    Box::pin(async move {
        if rest.is_empty() {
            return Err(other(format!(
                "`{url}` names no file: write `redb://./data.redb` or `redb:///absolute/path.redb`"
            )));
        }
        Ok(Arc::new(super::redb::RedbBackend::open(&rest)?) as DynBackend)
    })
}

/// Splits `[userinfo@]h1:p1,h2:p2[/db][?query]` into one `base://` URL per node, each with the
/// same credentials, database and query.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
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
    fn the_table_and_the_list_agree() {
        let table: Vec<&str> = TABLE.iter().map(|s| s.scheme).collect();
        assert_eq!(table, SCHEMES);
    }

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

    #[tokio::test]
    async fn unknown_schemes_list_the_accepted_ones() {
        for url in ["postgres://x", "localhost:6379", "redis:/x", "memory://x"] {
            let Err(err) = connect(url).await else {
                panic!("{url} should fail")
            };
            let msg = err.to_string();
            assert!(
                matches!(&err, Error::Backend(e) if e.kind() == BackendErrorKind::Other),
                "{err:?}"
            );
            if url != "memory://x" {
                assert_eq!(msg.matches("memory://").count(), 1, "{msg}");
                #[cfg(feature = "redis")]
                assert!(msg.contains("redis+cluster://"), "{msg}");
            }
        }
        let backend = connect("memory://").await.unwrap();
        assert_eq!(backend.info().name, "memory");
    }
}

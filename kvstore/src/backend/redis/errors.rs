//! Mapping redis-rs errors to [`crate::Error`].

use std::fmt;
use std::io;
use std::time::Duration;

use ::redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::error::{BackendErrorKind, Error};

/// The server error codes in `e` (`WRONGTYPE`, `NOPERM`, ...), including those inside a failed
/// pipeline or transaction.
fn codes(e: &RedisError) -> Vec<String> {
    let mut codes: Vec<String> = e.code().map(str::to_owned).into_iter().collect();
    if let Some(errors) = e.clone().into_server_errors() {
        codes.extend(errors.iter().map(|(_, s)| s.code().to_owned()));
    }
    codes
}

/// The detail text of the first server error in `e`.
fn detail(e: &RedisError) -> Option<String> {
    if let Some(d) = e.detail() {
        return Some(d.to_owned());
    }
    e.clone().into_server_errors().and_then(|errors| {
        errors
            .first()
            .and_then(|(_, s)| s.details().map(str::to_owned))
    })
}

/// The kind of backend failure `e` is.
pub(crate) fn classify(e: &RedisError) -> BackendErrorKind {
    let codes = codes(e);
    let has = |c: &str| codes.iter().any(|x| x == c);
    if e.kind() == ErrorKind::AuthenticationFailed || has("NOAUTH") || has("WRONGPASS") {
        return BackendErrorKind::Auth;
    }
    if has("NOPERM") {
        return BackendErrorKind::Permission;
    }
    if [
        "LOADING",
        "BUSY",
        "CLUSTERDOWN",
        "TRYAGAIN",
        "READONLY",
        "MASTERDOWN",
        "MOVED",
        "ASK",
    ]
    .iter()
    .any(|c| has(c))
    {
        return BackendErrorKind::Unavailable;
    }
    match e.kind() {
        ErrorKind::Io => {
            if e.is_timeout() {
                BackendErrorKind::Timeout
            } else {
                BackendErrorKind::Connection
            }
        }
        ErrorKind::ClusterConnectionNotFound => BackendErrorKind::Connection,
        ErrorKind::Server(ServerErrorKind::BusyLoading)
        | ErrorKind::Server(ServerErrorKind::ClusterDown)
        | ErrorKind::Server(ServerErrorKind::TryAgain)
        | ErrorKind::Server(ServerErrorKind::MasterDown)
        | ErrorKind::Server(ServerErrorKind::ReadOnly) => BackendErrorKind::Unavailable,
        ErrorKind::Server(ServerErrorKind::NoPerm) => BackendErrorKind::Permission,
        _ => BackendErrorKind::Other,
    }
}

/// Whether `e` is a `WRONGTYPE` reply.
pub(crate) fn is_wrong_type(e: &RedisError) -> bool {
    codes(e).iter().any(|c| c == "WRONGTYPE")
}

/// Maps a redis-rs error of an operation on `key` (when it had one) to a crate error.
pub(crate) fn map(e: RedisError, key: Option<&str>) -> Error {
    if let Some(key) = key {
        if is_wrong_type(&e) {
            return Error::WrongType {
                key: key.to_owned(),
            };
        }
    }
    Error::backend(classify(&e), key, e)
}

/// Maps the error of an `INCRBY`: a stored value that is not an integer is `Decode`, an
/// overflow is `Overflow`, everything else as [`map`].
pub(crate) fn map_increment(e: RedisError, key: &str) -> Error {
    if let Some(detail) = detail(&e) {
        // An atomic step's script names the key after the server's text: judge the text only.
        let detail = detail
            .split_once(" [key ")
            .map_or(detail.as_str(), |(text, _)| text);
        if codes(&e).iter().any(|c| c == "ERR") {
            if detail.contains("not an integer") {
                return Error::Decode {
                    key: key.to_owned(),
                    message: "the stored value is not a decimal 64-bit integer".to_owned(),
                };
            }
            if detail.contains("overflow") || detail.contains("not a number") {
                return Error::Overflow {
                    key: key.to_owned(),
                };
            }
        }
    }
    map(e, Some(key))
}

/// The error of a round trip that did not finish within `timeout`.
pub(crate) fn timeout_error(timeout: Duration) -> RedisError {
    RedisError::from(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no reply from Redis within {timeout:?}"),
    ))
}

/// A reply of an unexpected shape.
pub(crate) fn protocol_error(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::UnexpectedReturnType, what))
}

/// A multi-key write (or delete) on a Redis Cluster that succeeded on some hash slots and failed
/// on others.
///
/// A cluster cannot write keys of different slots in one atomic step, so
/// [`RedisClusterBackend`](crate::RedisClusterBackend) writes each slot's keys atomically and
/// reports here which keys were written. It is the [`source`](std::error::Error::source) of the
/// [`Error::Backend`] returned by `set_many` or `delete`: find it with
/// `err.source().and_then(|s| s.downcast_ref::<PartialWriteError>())`.
#[derive(Debug)]
pub struct PartialWriteError {
    op: &'static str,
    done: Vec<String>,
    not_done: Vec<String>,
    source: RedisError,
}

impl PartialWriteError {
    pub(crate) fn new(
        op: &'static str,
        done: Vec<String>,
        not_done: Vec<String>,
        source: RedisError,
    ) -> Self {
        PartialWriteError {
            op,
            done,
            not_done,
            source,
        }
    }

    /// The keys that were written (or, for `delete`, deleted): their slot's step succeeded.
    pub fn written(&self) -> &[String] {
        &self.done
    }

    /// The keys whose slot's step failed. Such a step either did nothing or — after a timeout or
    /// a lost connection — may still have been applied by the server.
    pub fn not_written(&self) -> &[String] {
        &self.not_done
    }
}

struct KeyList<'a>(&'a [String]);

impl fmt::Display for KeyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 16;
        f.write_str("[")?;
        for (i, key) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{key}`")?;
        }
        if self.0.len() > SHOWN {
            write!(f, ", and {} more", self.0.len() - SHOWN)?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for PartialWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} applied to {} of {} keys across cluster slots: done {}, failed {}: {}",
            self.op,
            self.done.len(),
            self.done.len() + self.not_done.len(),
            KeyList(&self.done),
            KeyList(&self.not_done),
            self.source
        )
    }
}

impl std::error::Error for PartialWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `error`, from connecting to `url`, with the address in its message ("Connection refused"
/// alone does not say where). Passwords are redacted.
pub(crate) fn connecting(url: &str, error: Error) -> Error {
    match error {
        Error::Backend(e) => {
            let kind = e.kind();
            let hint = match kind {
                BackendErrorKind::Connection | BackendErrorKind::Timeout => {
                    "; is the server running and reachable from here?"
                }
                BackendErrorKind::Auth => "; check the user and password in the URL",
                _ => "",
            };
            Error::backend(
                kind,
                None,
                format!(
                    "connecting to {}: {}{hint}",
                    crate::backend::connect::redact_url(url),
                    std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string())
                ),
            )
        }
        other => other,
    }
}

/// Whether `e` is a server error with the code `code` (`BUSYGROUP`, `NOGROUP`).
pub(crate) fn has_code(e: &RedisError, code: &str) -> bool {
    codes(e).iter().any(|c| c == code)
}

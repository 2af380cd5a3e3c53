//! The one error type of the crate.

use std::fmt;
use std::time::Duration;

/// A specialized `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a store operation.
///
/// Every variant that concerns a key names it, so a log line says *where* the problem is. The enum
/// is `#[non_exhaustive]`: match the variants you handle and keep a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The value does not match the JSON Schema of its type: on write (`stored: false`) nothing
    /// was written — the caller passed an invalid value; on read (`stored: true`) the stored
    /// value was written by someone who did not respect the schema (see
    /// [`Error::is_stored_data`]).
    ///
    /// A stored value of an older version (`#[store(migrate_from(...))]`) is converted, and the
    /// result must be valid too: when it is not, `converted_from` names the version it was
    /// read as (the issues are the converted value's), and the message says so:
    /// ``invalid value stored at key `app:profiles:ada`: converted from ProfileV1: at /country:
    /// ...``.
    #[error(
        "invalid value {} key `{key}`: {}{}",
        if *.stored { "stored at" } else { "for" },
        ConvertedFrom(.converted_from.as_deref()),
        Issues(.issues)
    )]
    Validation {
        /// The full key of the value.
        key: String,
        /// Every schema violation found, at least one.
        issues: Vec<Issue>,
        /// Whether the invalid value was read from the store (`false`: it was about to be
        /// written).
        stored: bool,
        /// The older version the stored value was read as and converted from, when the
        /// conversion is what broke the schema (`None`: the value itself is invalid).
        converted_from: Option<String>,
    },

    /// The stored bytes are not JSON of the expected shape (or, for a counter, not a decimal
    /// 64-bit integer). Someone wrote something else under this key.
    ///
    /// For a field with `#[store(migrate_from(...))]`, the message goes on to say why each
    /// older version did not fit either, each at its own JSON pointer:
    /// ``...; no older version listed in `migrate_from` matched either: as ProfileV2: /last:
    /// missing field; as ProfileV1: /name: 7 is not of type "string"``.
    #[error("cannot decode the value stored at key `{key}`: {message}")]
    Decode {
        /// The full key of the value.
        key: String,
        /// What the decoder reported.
        message: String,
    },

    /// The value could not be serialized to JSON (for example a map with non-string keys).
    #[error("cannot encode the value for key `{key}`: {message}")]
    Encode {
        /// The full key the value was meant for.
        key: String,
        /// What serde_json reported.
        message: String,
    },

    /// The key or the value cannot be stored: an empty id, an encoded key over the key limit, a
    /// value over the size limit, or a bad static name.
    #[error("invalid key `{key}`: {reason}")]
    InvalidKey {
        /// The key as far as it could be built (ids are percent-encoded).
        key: String,
        /// Why it was refused.
        reason: InvalidKeyReason,
    },

    /// The key holds a value of another kind (for example a Redis SET where a string was expected).
    #[error("key `{key}` holds a value of another kind (WRONGTYPE): it is used by something else")]
    WrongType {
        /// The full key.
        key: String,
    },

    /// An atomic read-modify-write could not be applied because concurrent writers kept changing
    /// the value; nothing was written. Retrying later is safe.
    #[error(
        "key `{key}` kept changing under a concurrent update; gave up after {attempts} attempts"
    )]
    Conflict {
        /// The full key.
        key: String,
        /// How many compare-and-set rounds were tried.
        attempts: u32,
    },

    /// A unique index already has this key for another live record: the write would make two
    /// records hold one key, so nothing was written.
    #[error("key `{key}` of a unique index is already held by the record `{holder}`: nothing was written")]
    Unique {
        /// The index entry's full key.
        key: String,
        /// The id of the record that holds it.
        holder: String,
    },

    /// An increment would overflow: a counter or a map value beyond `i64`, a packed integer
    /// beyond its type, a sorted-set score that would not be a number; nothing was changed.
    #[error("the increment at key `{key}` would overflow (nothing was changed)")]
    Overflow {
        /// The full key.
        key: String,
    },

    /// A TTL that the backend cannot store (zero, for a write).
    #[error("invalid TTL {ttl:?} for key `{key}`: a TTL must be at least 1 ms")]
    InvalidTtl {
        /// The full key.
        key: String,
        /// The TTL that was given.
        ttl: Duration,
    },

    /// An atomic step on a Redis Cluster touches keys of different hash slots, which no single
    /// node can change together; nothing was sent. Put the keys under one colocated id
    /// (`#[store(colocate)]` on the `Dynamic` above them) so that they share a hash tag.
    #[error(
        "an atomic step on a Redis Cluster must keep its keys in one hash slot, but {} are in different slots: put them under one `#[store(colocate)]` id (a shared hash tag)",
        Keys(.keys)
    )]
    CrossSlot {
        /// Every key of the step.
        keys: Vec<String>,
    },

    /// Handles of different backends were mixed in one atomic step; nothing was sent.
    #[error("an atomic step mixes handles of different backends (first at key `{key}`): every handle of one step must come from stores opened over the same backend")]
    MixedBackends {
        /// The first key of another backend.
        key: String,
    },

    /// The backend failed: connection refused or lost, timeout, authentication, permission, or
    /// another server error.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The error for a sorted-set score that is not a number (NaN).
pub(crate) fn not_a_number(key: &str) -> Error {
    Error::Validation {
        key: key.to_owned(),
        issues: vec![Issue {
            path: String::new(),
            message: "a score must be a number, not NaN".into(),
        }],
        stored: false,
        converted_from: None,
    }
}

impl Error {
    /// The full key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Validation { key, .. }
            | Error::Decode { key, .. }
            | Error::Encode { key, .. }
            | Error::InvalidKey { key, .. }
            | Error::WrongType { key }
            | Error::Conflict { key, .. }
            | Error::Unique { key, .. }
            | Error::Overflow { key }
            | Error::InvalidTtl { key, .. }
            | Error::MixedBackends { key } => Some(key),
            Error::CrossSlot { keys } => keys.first().map(String::as_str),
            Error::Backend(e) => e.key(),
        }
    }

    /// A short, stable name of the error's kind, for metric labels and spans' `error.type`:
    /// `validation`, `decode`, `encode`, `invalid_key`, `wrong_type`, `conflict`, `unique`,
    /// `overflow`, `invalid_ttl`, `cross_slot`, `mixed_backends`, or a backend failure's kind
    /// (`connection`, `timeout`, `auth`, `permission`, `unavailable`, `unsupported`, `backend`).
    pub fn kind_label(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "validation",
            Error::Decode { .. } => "decode",
            Error::Encode { .. } => "encode",
            Error::InvalidKey { .. } => "invalid_key",
            Error::WrongType { .. } => "wrong_type",
            Error::Conflict { .. } => "conflict",
            Error::Unique { .. } => "unique",
            Error::Overflow { .. } => "overflow",
            Error::InvalidTtl { .. } => "invalid_ttl",
            Error::CrossSlot { .. } => "cross_slot",
            Error::MixedBackends { .. } => "mixed_backends",
            Error::Backend(e) => match e.kind() {
                BackendErrorKind::Connection => "connection",
                BackendErrorKind::Timeout => "timeout",
                BackendErrorKind::Auth => "auth",
                BackendErrorKind::Permission => "permission",
                BackendErrorKind::Unavailable => "unavailable",
                BackendErrorKind::Unsupported => "unsupported",
                _ => "backend",
            },
        }
    }

    /// Whether the error is about data already stored — [`Error::Decode`], [`Error::WrongType`],
    /// or [`Error::Validation`] of a value read — rather than about what the caller passed
    /// ([`Error::Validation`] of a value to write, [`Error::InvalidKey`], ...) or the backend.
    ///
    /// A service maps the first to "500: our data is bad" and the second to "422: your input is
    /// bad".
    pub fn is_stored_data(&self) -> bool {
        match self {
            Error::Decode { .. } | Error::WrongType { .. } => true,
            Error::Validation { stored, .. } => *stored,
            _ => false,
        }
    }

    /// Builds an [`Error::Backend`] of the given kind.
    pub fn backend(
        kind: BackendErrorKind,
        key: Option<&str>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Backend(BackendError::new(kind, key, source))
    }
}

struct Keys<'a>(&'a [String]);

impl fmt::Display for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{key}`")?;
        }
        Ok(())
    }
}

/// `converted from <version>: `, or nothing.
struct ConvertedFrom<'a>(Option<&'a str>);

impl fmt::Display for ConvertedFrom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(version) => write!(f, "converted from {version}: "),
            None => Ok(()),
        }
    }
}

struct Issues<'a>(&'a [Issue]);

impl fmt::Display for Issues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// One schema violation inside a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// JSON pointer into the value (`""` for the value itself, `"/email"`, `"/items/0/age"`).
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

/// Why a key or value was refused with [`Error::InvalidKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidKeyReason {
    /// An id was the empty string.
    EmptyId,
    /// The encoded key is longer than the key limit.
    KeyTooLong {
        /// Length of the encoded key in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The encoded value is larger than the backend's value size limit.
    ValueTooLarge {
        /// Size of the encoded value in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A static name (prefix or field) is not `[A-Za-z0-9_.-]+`.
    BadName(String),
    /// What an index keys the value by cannot be stored (an empty key, a score an `f64` cannot
    /// hold exactly).
    Index(String),
}

impl fmt::Display for InvalidKeyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidKeyReason::EmptyId => f.write_str("an id must not be empty"),
            InvalidKeyReason::Index(why) => write!(f, "its index key cannot be stored: {why}"),
            InvalidKeyReason::KeyTooLong { len, limit } => {
                write!(f, "the encoded key is {len} bytes, over the limit of {limit} bytes; use shorter ids")
            }
            InvalidKeyReason::ValueTooLarge { size, limit } => write!(
                f,
                "the value is {size} bytes, over the size limit of {limit} bytes; store less or raise the backend's `max_value_size`"
            ),
            InvalidKeyReason::BadName(name) => write!(
                f,
                "`{name}` is not a valid static name: use only ASCII letters, digits, `_`, `.` and `-`"
            ),
        }
    }
}

/// What kind of backend failure an [`Error::Backend`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// Could not connect, or the connection was lost.
    Connection,
    /// The server did not answer within the configured timeout.
    Timeout,
    /// Wrong password or unknown user.
    Auth,
    /// The (ACL) user may not run this command on this key.
    Permission,
    /// Not available now, try again later: the server is loading, busy or read-only, the
    /// cluster is down or moving slots, or a file is in use by another process.
    Unavailable,
    /// The backend does not implement this command (a backend written before the command
    /// existed, or an atomic batch where the backend cannot run one).
    Unsupported,
    /// Any other error reply from the server, or a bad connection URL.
    Other,
}

impl fmt::Display for BackendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendErrorKind::Connection => "connection error",
            BackendErrorKind::Timeout => "timeout",
            BackendErrorKind::Auth => "authentication error",
            BackendErrorKind::Permission => "permission denied",
            BackendErrorKind::Unavailable => "unavailable",
            BackendErrorKind::Unsupported => "unsupported command",
            BackendErrorKind::Other => "backend error",
        })
    }
}

/// A failure of the backend itself (see [`Error::Backend`]).
#[derive(Debug)]
pub struct BackendError {
    kind: BackendErrorKind,
    key: Option<String>,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl BackendError {
    /// A new backend error of `kind`, about `key` when the operation had one.
    pub fn new(
        kind: BackendErrorKind,
        key: Option<&str>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        BackendError {
            kind,
            key: key.map(str::to_owned),
            source: source.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> BackendErrorKind {
        self.kind
    }

    /// The key of the operation that failed, when it had one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// True for failures that may go away by retrying later (connection, timeout, unavailable).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            BackendErrorKind::Connection
                | BackendErrorKind::Timeout
                | BackendErrorKind::Unavailable
        )
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{} at key `{key}`: {}", self.kind, self.source),
            None => write!(f, "{}: {}", self.kind, self.source),
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_bounds<T: std::error::Error + Send + Sync + 'static>() {}

    #[test]
    fn error_is_send_sync_static() {
        assert_bounds::<Error>();
    }

    #[test]
    fn display_names_the_key() {
        let e = Error::Validation {
            key: "shop:u:alice".into(),
            issues: vec![Issue {
                path: "/email".into(),
                message: "\"x\" is not a \"email\"".into(),
            }],
            stored: false,
            converted_from: None,
        };
        let s = e.to_string();
        assert!(s.contains("shop:u:alice") && s.contains("/email"), "{s}");
        assert!(!e.is_stored_data());
        let e = Error::backend(BackendErrorKind::Timeout, Some("k:1"), "slow");
        assert_eq!(e.key(), Some("k:1"));
        assert!(e.to_string().contains("k:1"));
    }
}

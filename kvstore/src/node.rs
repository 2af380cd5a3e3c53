//! The `Node` trait: what can be a field of a store, and how handles are built.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::backend::{DynBackend, IntoBackend, Limits};

/// The shared state every handle of one opened store holds: the backend and its limits.
///
/// Cloning is one reference-count increment.
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    backend: DynBackend,
    limits: Limits,
}

impl Context {
    /// A context over `backend`.
    pub fn new(backend: impl IntoBackend) -> Context {
        let backend = backend.into_backend();
        let limits = backend.limits();
        Context {
            inner: Arc::new(ContextInner { backend, limits }),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &DynBackend {
        &self.inner.backend
    }

    /// The backend's limits (read once, when the store was opened).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("backend", &self.inner.backend.name())
            .field("limits", &self.inner.limits)
            .finish()
    }
}

/// A node of a keyspace: what a field of a `#[derive(Store)]` struct, or the `N` of a
/// [`Dynamic`](crate::Dynamic), can be.
///
/// Implemented by [`Item`](crate::Item), [`Counter`](crate::Counter), [`SetOf`](crate::SetOf),
/// [`Blob`](crate::Blob), [`Dynamic`](crate::Dynamic) and every `#[derive(Store)]` struct. The
/// methods are the derive's plumbing, not API.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a kvstore node",
    label = "not a node: a store field must be `Item<T>`, `Counter`, `SetOf<T>`, `Blob`, `Dynamic<N, K>` or a `#[derive(Store)]` struct",
    note = "to store a value of type `{Self}`, wrap it in `Item<...>` (for example `Item<{Self}>`)"
)]
pub trait Node: Clone + Send + Sync + Sized + 'static {
    /// Builds the handle at `path`; `ttl` is the default TTL inherited from above.
    #[doc(hidden)]
    fn __build(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Self;

    /// Adds this node's key patterns to a schema manifest.
    #[doc(hidden)]
    fn __manifest(path: KeyPath, ttl: Option<Duration>, out: &mut Map<String, Value>);

    /// Whether `tail` — the part of a stored key after this node's path and its `:` (`None`:
    /// nothing after the path) — is a key of this node's layout.
    #[doc(hidden)]
    fn __owns(tail: Option<&str>) -> bool;

    /// The codec of `T` when this node is an `Item<T>` (lets `Dynamic<Item<T>>` skip a lookup).
    #[doc(hidden)]
    fn __item_codec() -> Option<&'static crate::codec::Codec> {
        None
    }
}

pub use crate::key::KeyPath;

/// The manifest entry of a leaf node.
pub(crate) fn manifest_entry(
    out: &mut Map<String, Value>,
    path: &KeyPath,
    kind: &str,
    schema: Option<Value>,
    ttl: Option<Duration>,
) {
    let mut entry = Map::new();
    entry.insert("kind".into(), Value::from(kind));
    if let Some(schema) = schema {
        entry.insert("schema".into(), schema);
    }
    if let Some(ttl) = ttl {
        let value = if ttl.subsec_nanos() == 0 {
            Value::from(ttl.as_secs())
        } else {
            Value::from(ttl.as_secs_f64())
        };
        entry.insert("ttl_secs".into(), value);
    }
    out.insert(path.as_str().to_owned(), Value::Object(entry));
}

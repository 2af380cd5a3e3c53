//! The node types: typed handles over one key ([`Item`], [`Counter`], [`SetOf`], [`Blob`]) or a
//! keyspace of ids ([`Dynamic`]), and the [`Node`] trait the derive builds stores from.
//!
//! One file per node type. Every single-key handle holds a [`Leaf`] (its context, key, default
//! TTL) and stores its values through one [`LeafCodec`](crate::value::LeafCodec) (JSON, decimal
//! or raw); every operation is one [`Command`] sent through [`Context::execute`].

mod atomic;
mod audit;
mod bits;
mod blob;
mod counter;
mod dynamic;
pub(crate) mod index;
mod item;
mod list;
mod map;
mod set;
mod sorted_set;
mod stream;
mod stream_group;
mod versioned;
mod watch;

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

pub use atomic::{Atomic, AtomicKey, MemberSet};
pub use audit::{audit as audit_entry, migrate as migrate_entry};
pub use audit::{
    AuditReport, BoxFuture, MigrationReport, PatternReport, Problem, ProblemKind, Progress, Run,
    MAX_PROBLEMS,
};
pub(crate) use audit::{Container, Verdict, PAGE};
pub use bits::{Bits, PackedInt, PackedInts};
pub use blob::Blob;
pub use counter::Counter;
pub use dynamic::Dynamic;
pub use index::{
    Index, IndexCursor, IndexKey, IndexNode, IndexOf, IndexPage, IndexReport, Indexes,
    OrderedIndex, Score, UniqueIndex,
};
pub use item::Item;
pub use list::ListOf;
pub use map::MapOf;
pub use set::SetOf;
pub use sorted_set::SortedSetOf;
pub use stream::StreamOf;
pub use stream_group::{DeadLetter, Delivery, StreamGroup, StreamWorker, WorkerReport};
pub use versioned::Versioned;

use crate::backend::command::{Command, KeyOp, KeyTtl, Reply};
use crate::backend::{dispatch, round_up_to_millis, Limits};
use crate::error::{Error, InvalidKeyReason, Result};
use crate::{DynBackend, IntoBackend};

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
    /// Where each operation is recorded (read once, when the store was opened).
    observer: Option<crate::backend::metrics::Observer>,
    /// The store's key patterns, for spans and metric labels (which never carry ids).
    patterns: Option<Patterns>,
}

/// The key patterns of a store (`app:users:*`), computed from its manifest the first time one
/// is needed.
struct Patterns {
    manifest: Box<dyn Fn() -> serde_json::Value + Send + Sync>,
    patterns: std::sync::OnceLock<Vec<String>>,
}

impl Context {
    /// A context over `backend`.
    pub fn new(backend: impl IntoBackend) -> Context {
        Context::with_patterns(backend, None)
    }

    /// A context over `backend` for a store whose manifest `manifest` makes (what its key
    /// patterns are read from, when first needed).
    pub(crate) fn with_patterns(
        backend: impl IntoBackend,
        manifest: Option<Box<dyn Fn() -> serde_json::Value + Send + Sync>>,
    ) -> Context {
        let backend = backend.into_backend();
        let info = backend.info();
        let (limits, observer) = (info.limits, crate::backend::metrics::Observer::of(&info));
        let patterns = manifest.map(|manifest| Patterns {
            manifest,
            patterns: std::sync::OnceLock::new(),
        });
        Context {
            inner: Arc::new(ContextInner {
                backend,
                limits,
                observer,
                patterns,
            }),
        }
    }

    /// Passes `result` on, counting a validation failure in it (feature `metrics`:
    /// `kvstore_validation_failures_total`, by the key's pattern and the direction).
    #[inline]
    pub(crate) fn observed<T>(&self, result: Result<T>) -> Result<T> {
        #[cfg(feature = "metrics")]
        if let Err(crate::Error::Validation { key, stored, .. }) = &result {
            let pattern = self.pattern_of(key);
            crate::backend::metrics::facade::validation_failure(
                pattern.as_deref().unwrap_or("(unknown)"),
                *stored,
            );
        }
        result
    }

    /// Counts a value written back in the current version (feature `metrics`:
    /// `kvstore_migrated_values_total`, by the key's pattern).
    #[inline]
    pub(crate) fn migrated(&self, key: &str) {
        #[cfg(feature = "metrics")]
        {
            let pattern = self.pattern_of(key);
            crate::backend::metrics::facade::migrated(pattern.as_deref().unwrap_or("(unknown)"));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = key;
    }

    /// The pattern of the store's key `key` (`app:users:*`), if it is one of the store's.
    pub(crate) fn pattern_of(&self, key: &str) -> Option<String> {
        let patterns = self.inner.patterns.as_ref()?;
        let list = patterns
            .patterns
            .get_or_init(|| match (patterns.manifest)() {
                serde_json::Value::Object(map) => map.keys().cloned().collect(),
                _ => Vec::new(),
            });
        list.iter()
            .find(|p| crate::manifest::matches(p, key))
            .cloned()
    }

    /// The backend.
    pub fn backend(&self) -> &DynBackend {
        &self.inner.backend
    }

    /// The backend's limits (read once, when the store was opened).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The backend's client cache, if it keeps one.
    #[inline]
    pub(crate) fn cache(&self) -> Option<&crate::backend::ClientCache> {
        self.inner.backend.info().client_cache
    }

    /// Sends one command to the backend (the one call path of every handle).
    pub(crate) async fn execute(&self, command: Command<'_>) -> Result<Reply> {
        let observer = self.inner.observer.as_ref();
        dispatch(
            &*self.inner.backend,
            observer,
            &|key| self.pattern_of(key),
            command,
        )
        .await
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("backend", &self.inner.backend.info().name)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

/// A node of a keyspace: what a field of a `#[derive(Store)]` struct, or the `N` of a
/// [`Dynamic`](crate::Dynamic), can be.
///
/// Implemented by [`Item`], [`Counter`], [`SetOf`], [`Blob`], [`ListOf`], [`SortedSetOf`],
/// [`MapOf`], [`Bits`], [`PackedInts`], [`StreamOf`], [`Dynamic`] and every `#[derive(Store)]` struct. The
/// methods are the derive's plumbing, not API.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a kvstore node",
    label = "not a node: a store field must be `Item<T>`, `Counter`, `SetOf<T>`, `Blob`, `ListOf<T>`, `SortedSetOf<T>`, `MapOf<F, V>`, `Bits`, `PackedInts<I>`, `StreamOf<T>`, `Dynamic<N, K>`, an index (`UniqueIndex<K>`, `IndexOf<K>`, `OrderedIndex<S>`) or a `#[derive(Store)]` struct",
    note = "to store a value of type `{Self}`, wrap it in `Item<...>` (for example `Item<{Self}>`)"
)]
pub trait Node: Clone + Send + Sync + Sized + 'static {
    /// Builds the handle at `path`, with the field's [`Spec`] (its default TTL, inherited from
    /// above unless the field sets one, and the older versions of its values).
    #[doc(hidden)]
    fn __build(ctx: &Context, path: KeyPath, spec: &Spec) -> Self;

    /// Adds this node's key patterns to a schema manifest.
    #[doc(hidden)]
    fn __manifest(path: KeyPath, spec: &Spec, out: &mut Map<String, Value>);

    /// Whether `tail` — the part of a stored key after this node's path and its `:` (`None`:
    /// nothing after the path) — is a key of this node's layout.
    #[doc(hidden)]
    fn __owns(tail: Option<&str>) -> bool;

    /// Checks (and, when the run migrates, rewrites) every value stored under this handle.
    #[doc(hidden)]
    fn __audit<'a>(&'a self, run: &'a mut Run<'_>) -> BoxFuture<'a, Result<()>>;

    /// Checks the values at `keys`, all keys of nodes of this type (a page of a `Dynamic`'s
    /// leaves, with its `spec`). Only leaf nodes (whose `__owns(None)` is true) implement it.
    #[doc(hidden)]
    fn __audit_leaves<'a>(
        ctx: &'a Context,
        keys: &'a [String],
        spec: &'a Spec,
        run: &'a mut Run<'_>,
    ) -> BoxFuture<'a, Result<()>> {
        let _ = (ctx, keys, spec, run);
        Box::pin(async { Ok(()) })
    }

    /// The context and the key (or path) of this handle; `None` for a store without fields.
    #[doc(hidden)]
    fn __location(&self) -> Option<(Context, String)>;

    /// Checks the indexes kept for the records of a `Dynamic` of this node at `records`, when
    /// this node is an `Item<T>` whose `spec` has indexes (an audit); nothing otherwise.
    #[doc(hidden)]
    fn __audit_indexes<'a>(
        ctx: &'a Context,
        spec: &'a Spec,
        run: &'a mut Run<'_>,
    ) -> BoxFuture<'a, Result<()>> {
        let _ = (ctx, spec, run);
        Box::pin(async { Ok(()) })
    }

    /// Removes the record at `key` keeping its indexes, when this node is an `Item<T>` whose
    /// `spec` has indexes (`Dynamic::clear`); `None` otherwise.
    #[doc(hidden)]
    fn __remove_indexed<'a>(
        ctx: &'a Context,
        key: &'a str,
        spec: &'a Spec,
    ) -> Option<BoxFuture<'a, Result<bool>>> {
        let _ = (ctx, key, spec);
        None
    }

    /// The codec of `T` when this node is an `Item<T>` (lets `Dynamic<Item<T>>` skip a lookup).
    #[doc(hidden)]
    fn __item_codec() -> Option<&'static crate::value::Codec> {
        None
    }
}

pub use crate::layout::KeyPath;

/// What a field's attributes say about the nodes below it (built by the derive).
#[doc(hidden)]
#[derive(Clone, Default)]
pub struct Spec {
    /// The default TTL of writes.
    pub ttl: Option<Duration>,
    /// The older versions of the `Item` values below (`Migrations<T>`, type-erased so that it
    /// passes through `Dynamic` levels).
    pub migrations: Option<Arc<dyn Any + Send + Sync>>,
    /// How to clone the `Item` values below (a [`CloneFn<T>`]), when their type is `Clone`: a
    /// client cache then keeps decoded values, and a hit is a clone instead of a decode.
    pub clone: Option<Arc<dyn Any + Send + Sync>>,
    /// The indexes of the `Item` records below (an [`Indexes<T>`](index::hooks::Indexes)).
    pub indexes: Option<Arc<dyn Any + Send + Sync>>,
    /// On an index field: the records' pattern below the store (`users:*`) and what they are
    /// keyed by (`email`, or the function's name), for the manifest.
    pub index: Option<(&'static str, &'static str)>,
    /// `#[store(max_len = N)]`: the streams below are trimmed to about `N` entries on append.
    pub max_len: Option<u64>,
}

impl Spec {
    /// A spec with only a TTL.
    pub fn ttl(ttl: Option<Duration>) -> Spec {
        Spec {
            ttl,
            migrations: None,
            clone: None,
            indexes: None,
            index: None,
            max_len: None,
        }
    }

    /// The migrations, if they are for values of type `T`.
    pub(crate) fn migrations<T: 'static>(&self) -> Option<Arc<crate::value::Migrations<T>>> {
        Arc::clone(self.migrations.as_ref()?).downcast().ok()
    }

    /// The indexes, if they are of records of type `T`.
    pub(crate) fn indexes<T: 'static + Send + Sync>(
        &self,
    ) -> Option<Arc<index::hooks::Indexes<T>>> {
        Arc::clone(self.indexes.as_ref()?).downcast().ok()
    }

    /// `T::clone`, if the field's values are `T`s and `Clone`.
    pub(crate) fn clone_fn<T: 'static>(&self) -> Option<fn(&T) -> T> {
        Some(self.clone.as_ref()?.downcast_ref::<CloneFn<T>>()?.0)
    }
}

/// `T::clone`, type-erased in a [`Spec`].
#[doc(hidden)]
pub struct CloneFn<T>(pub fn(&T) -> T);

/// Finds out, in generated code, whether the `Item` values of a field type `N` are `Clone`
/// (autoref specialization: [`ViaClone`] applies when they are, [`ViaNothing`] otherwise).
#[doc(hidden)]
pub struct CloneProbe<N>(std::marker::PhantomData<fn() -> N>);

impl<N> CloneProbe<N> {
    /// A probe.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CloneProbe(std::marker::PhantomData)
    }
}

/// The probe's answer when the values are `Clone`.
#[doc(hidden)]
pub trait ViaClone {
    /// The clone function, type-erased.
    fn clone_fn(&self) -> Option<Arc<dyn Any + Send + Sync>>;
}

impl<N: ItemLeaf> ViaClone for CloneProbe<N>
where
    N::Value: Clone,
{
    fn clone_fn(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(Arc::new(CloneFn::<N::Value>(<N::Value as Clone>::clone)))
    }
}

/// The probe's answer otherwise.
#[doc(hidden)]
pub trait ViaNothing {
    /// Nothing.
    fn clone_fn(&self) -> Option<Arc<dyn Any + Send + Sync>>;
}

impl<N> ViaNothing for &CloneProbe<N> {
    fn clone_fn(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("ttl", &self.ttl)
            .field("migrations", &self.migrations.is_some())
            .field("clone", &self.clone.is_some())
            .field("indexes", &self.indexes.is_some())
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// A node whose values are `Item<T>`s (directly, or as the leaves of `Dynamic`s): what
/// `#[store(migrate_from(...))]` may be put on.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`migrate_from` needs a field of type `Item<T>` or a `Dynamic` whose leaves are `Item<T>`; `{Self}` is not",
    label = "a field with `migrate_from` must hold `Item` values"
)]
pub trait ItemLeaf {
    /// The `T` of the `Item<T>` leaves.
    type Value: crate::value::Storable;
}

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

/// Whether `tail` (what follows a leaf's key and its `:`) is one of the leaf's auxiliary keys:
/// for a stream (`kind` `"stream"`), the dead-letter stream of a group, `dead:<group>`.
pub(crate) fn auxiliary_key(kind: &str, tail: &str) -> bool {
    kind == "stream"
        && tail
            .strip_prefix(stream_group::DEAD_SEGMENT)
            .and_then(|rest| rest.strip_prefix(crate::layout::SEPARATOR))
            .is_some_and(crate::layout::is_valid_name)
}

/// Adds the patterns of a leaf's auxiliary keys to a manifest: for a stream at `path`, its
/// groups' dead-letter streams, `<path>:dead:*`, of [`DeadLetter`]s.
pub(crate) fn auxiliary_manifest(kind: &str, path: &KeyPath, out: &mut Map<String, Value>) {
    if kind == "stream" {
        let pattern = format!(
            "{}{sep}{}{sep}*",
            path.as_str(),
            stream_group::DEAD_SEGMENT,
            sep = crate::layout::SEPARATOR
        );
        let mut entry = Map::new();
        entry.insert("kind".into(), Value::from("stream"));
        entry.insert(
            "schema".into(),
            crate::value::codec::<DeadLetter>().schema().clone(),
        );
        out.insert(pattern, Value::Object(entry));
    }
}

/// The state every single-key handle has: where it is, over what, and its default TTL. Shared,
/// so that cloning a handle is one reference-count increment.
#[derive(Clone)]
pub(crate) struct Leaf(Arc<LeafState>);

pub(crate) struct LeafState {
    pub(crate) ctx: Context,
    pub(crate) key: String,
    error: Option<InvalidKeyReason>,
    pub(crate) ttl: Option<Duration>,
}

impl std::ops::Deref for Leaf {
    type Target = LeafState;
    fn deref(&self) -> &LeafState {
        &self.0
    }
}

impl Leaf {
    pub(crate) fn new(ctx: &Context, path: KeyPath, spec: &Spec) -> Leaf {
        let ttl = spec.ttl;
        let (key, error) = path.into_key(ctx.limits().max_key_len);
        Leaf(Arc::new(LeafState {
            ctx: ctx.clone(),
            key,
            error,
            ttl: ttl.map(round_up_to_millis),
        }))
    }

    /// The key, or the reason it cannot be used.
    pub(crate) fn key(&self) -> Result<&str> {
        match &self.error {
            None => Ok(&self.key),
            Some(reason) => Err(Error::InvalidKey {
                key: self.key.clone(),
                reason: reason.clone(),
            }),
        }
    }

    pub(crate) fn max_value_size(&self) -> usize {
        self.ctx.limits().max_value_size
    }

    pub(crate) async fn remove(&self) -> Result<bool> {
        remove_key(&self.ctx, self.key()?).await
    }

    pub(crate) async fn exists(&self) -> Result<bool> {
        let command = Command::Key {
            key: self.key()?,
            op: KeyOp::Exists,
        };
        self.ctx.execute(command).await?.into_bool(&command)
    }

    pub(crate) async fn ttl(&self) -> Result<Option<Duration>> {
        let command = Command::Key {
            key: self.key()?,
            op: KeyOp::Ttl,
        };
        Ok(match self.ctx.execute(command).await?.into_ttl(&command)? {
            KeyTtl::Expires(left) => Some(left),
            KeyTtl::Missing | KeyTtl::Persistent => None,
        })
    }

    pub(crate) async fn expire(&self, ttl: Duration) -> Result<bool> {
        let command = Command::Key {
            key: self.key()?,
            op: KeyOp::Expire {
                ttl: round_up_to_millis(ttl),
            },
        };
        self.ctx.execute(command).await?.into_bool(&command)
    }

    pub(crate) async fn persist(&self) -> Result<bool> {
        let command = Command::Key {
            key: self.key()?,
            op: KeyOp::Persist,
        };
        self.ctx.execute(command).await?.into_bool(&command)
    }
}

/// Deletes one key; whether it existed.
pub(crate) async fn remove_key(ctx: &Context, key: &str) -> Result<bool> {
    let keys = [key.to_owned()];
    let command = Command::Delete { keys: &keys };
    Ok(ctx.execute(command).await?.into_len(&command)? > 0)
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// The key-level methods every single-key handle shares.
macro_rules! key_methods {
    () => {
        /// The full key of this handle (ids percent-encoded), even when it is invalid.
        pub fn key(&self) -> &str {
            &self.leaf.key
        }

        /// Whether the key exists (and has not expired).
        pub async fn exists(&self) -> $crate::Result<bool> {
            self.leaf.exists().await
        }

        /// The remaining time to live, millisecond precision; `None` when the key does not exist
        /// or never expires.
        pub async fn ttl(&self) -> $crate::Result<Option<std::time::Duration>> {
            self.leaf.ttl().await
        }

        /// Makes the key expire after `ttl` (`PEXPIRE`; rounded up to whole milliseconds; zero
        /// removes the key now). Returns `false` when the key does not exist.
        pub async fn expire(&self, ttl: std::time::Duration) -> $crate::Result<bool> {
            self.leaf.expire(ttl).await
        }

        /// Removes the TTL (`PERSIST`). Returns `true` only if the key existed and had one.
        pub async fn persist(&self) -> $crate::Result<bool> {
            self.leaf.persist().await
        }
    };
}
pub(crate) use key_methods;

/// `Clone` and `Debug` of a handle that holds a [`Leaf`] and `Copy` fields (its codec, markers):
/// written once for every such handle.
macro_rules! handle_impls {
    ($handle:ident <$($t:ident),+> { $($field:ident),* }) => {
        impl<$($t),+> Clone for $handle<$($t),+> {
            fn clone(&self) -> Self {
                $handle {
                    leaf: self.leaf.clone(),
                    $($field: self.$field,)*
                }
            }
        }

        impl<$($t),+> std::fmt::Debug for $handle<$($t),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($handle)).field(&self.leaf).finish()
            }
        }
    };
}
pub(crate) use handle_impls;

/// What every container handle has alike: `len` (the one command `$len` builds from the key
/// `$key`), `is_empty` and `clear`.
macro_rules! container_methods {
    ($what:literal, |$key:ident| $len:expr) => {
        #[doc = concat!("The number of ", $what, ".")]
        pub async fn len(&self) -> $crate::Result<usize> {
            let $key = self.leaf.key()?;
            let command = $len;
            self.leaf.ctx.execute(command).await?.into_len(&command)
        }

        #[doc = concat!("Whether it holds no ", $what, ".")]
        pub async fn is_empty(&self) -> $crate::Result<bool> {
            Ok(self.len().await? == 0)
        }

        /// Removes the whole key; returns whether it existed.
        pub async fn clear(&self) -> $crate::Result<bool> {
            self.leaf.remove().await
        }
    };
}
pub(crate) use container_methods;

/// The audit of a handle stored as a string: each key's bytes judged by `$check` (a
/// `Fn(&str, &[u8]) -> Verdict`); a key of another kind is a problem.
macro_rules! strings_audit {
    ($handle:ident $(<$t:ident: $bound:path>)?, $check:expr) => {
        impl$(<$t: $bound>)? $handle$(<$t>)? {
            async fn audit_keys(
                ctx: &$crate::node::Context,
                keys: &[String],
                _spec: &$crate::node::Spec,
                run: &mut $crate::node::Run<'_>,
            ) -> $crate::Result<()> {
                run.check_strings(ctx, keys, $check).await
            }
        }
    };
}
pub(crate) use strings_audit;

/// The audit of a container of JSON members of type `$t` (each member checked like an item).
macro_rules! json_members_audit {
    ($handle:ident <$t:ident>, $container:expr) => {
        impl<$t: $crate::Storable> $handle<$t> {
            async fn audit_keys(
                ctx: &$crate::node::Context,
                keys: &[String],
                _spec: &$crate::node::Spec,
                run: &mut $crate::node::Run<'_>,
            ) -> $crate::Result<()> {
                run.check_json_members::<$t>(ctx, keys, $container).await
            }
        }
    };
}
pub(crate) use json_members_audit;

/// The `Node` impl of a single-key handle: built over a [`Leaf`] (plus `$extra` fields), listed
/// in manifests as `$kind` with the schema `$schema`, owning exactly its own key.
macro_rules! leaf_node {
    ($handle:ident $(<$($t:ident: $bound:path),+>)?, $kind:literal, $schema:expr, { $($extra:ident: $init:expr),* }) => {
        $crate::node::leaf_node!(
            $handle $(<$($t: $bound),+>)?, $kind, $schema, None, { $($extra: $init),* }
        );
    };
    ($handle:ident $(<$($t:ident: $bound:path),+>)?, $kind:literal, $schema:expr, $more:expr, { $($extra:ident: $init:expr),* }) => {
        $crate::node::leaf_node!(
            $handle $(<$($t: $bound),+>)?, $kind, $schema, $more, |_spec| { $($extra: $init),* }
        );
    };
    // `$spec` names the field's `Spec` in `$more` and the `$extra` fields' initializers.
    ($handle:ident $(<$($t:ident: $bound:path),+>)?, $kind:literal, $schema:expr, $more:expr, |$spec:ident| { $($extra:ident: $init:expr),* }) => {
        impl$(<$($t: $bound),+>)? $crate::node::Node for $handle$(<$($t),+>)? {
            fn __build(
                ctx: &$crate::node::Context,
                path: $crate::layout::KeyPath,
                spec: &$crate::node::Spec,
            ) -> Self {
                #[allow(unused_variables)]
                let $spec = spec;
                $handle {
                    leaf: $crate::node::Leaf::new(ctx, path, spec),
                    $($extra: $init,)*
                }
            }

            fn __manifest(
                path: $crate::layout::KeyPath,
                spec: &$crate::node::Spec,
                out: &mut serde_json::Map<String, serde_json::Value>,
            ) {
                $crate::node::manifest_entry(out, &path, $kind, $schema, spec.ttl);
                $crate::node::auxiliary_manifest($kind, &path, out);
                #[allow(unused_variables)]
                let $spec = spec;
                let more: Option<(&str, serde_json::Value)> = $more;
                if let Some((name, value)) = more {
                    if let Some(serde_json::Value::Object(entry)) = out.get_mut(path.as_str()) {
                        entry.insert(name.into(), value);
                    }
                }
            }

            fn __owns(tail: Option<&str>) -> bool {
                match tail {
                    None => true,
                    Some(tail) => $crate::node::auxiliary_key($kind, tail),
                }
            }

            fn __audit<'a>(
                &'a self,
                run: &'a mut $crate::node::Run<'_>,
            ) -> $crate::node::BoxFuture<'a, $crate::Result<()>> {
                Box::pin(async move {
                    let Ok(key) = self.leaf.key() else {
                        return Ok(());
                    };
                    let keys = [key.to_owned()];
                    let spec = $crate::node::Spec::ttl(self.leaf.ttl);
                    <Self as $crate::node::Node>::__audit_leaves(&self.leaf.ctx, &keys, &spec, run)
                        .await
                })
            }

            fn __audit_leaves<'a>(
                ctx: &'a $crate::node::Context,
                keys: &'a [String],
                spec: &'a $crate::node::Spec,
                run: &'a mut $crate::node::Run<'_>,
            ) -> $crate::node::BoxFuture<'a, $crate::Result<()>> {
                Box::pin(Self::audit_keys(ctx, keys, spec, run))
            }

            fn __location(&self) -> Option<($crate::node::Context, String)> {
                Some((self.leaf.ctx.clone(), self.leaf.key.clone()))
            }
        }
    };
}
pub(crate) use leaf_node;

#[cfg(test)]
mod tests {
    use super::{CloneProbe, Counter, Dynamic, Item, ViaClone as _, ViaNothing as _};

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema, Clone)]
    struct Cloned {
        a: u8,
    }

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct NotCloned {
        a: u8,
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the borrow is what selects `ViaNothing`
    fn the_probe_finds_clone_on_item_values() {
        assert!((&CloneProbe::<Item<Cloned>>::new()).clone_fn().is_some());
        assert!((&CloneProbe::<Dynamic<Dynamic<Item<Cloned>>>>::new())
            .clone_fn()
            .is_some());
        assert!((&CloneProbe::<Item<NotCloned>>::new()).clone_fn().is_none());
        assert!((&CloneProbe::<Dynamic<Item<NotCloned>>>::new())
            .clone_fn()
            .is_none());
        assert!((&CloneProbe::<Counter>::new()).clone_fn().is_none());
    }
}

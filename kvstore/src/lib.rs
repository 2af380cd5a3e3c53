//! Typed keyspaces over memory and Redis.
//!
//! `#[derive(Store)]` turns a plain struct into a key layout: each field is a node — an
//! [`Item`] (one JSON value), a [`Counter`], a [`SetOf`] values, a [`Blob`] of raw bytes, one of
//! Redis's native containers ([`ListOf`], [`SortedSetOf`], [`MapOf`], [`Bits`], [`PackedInts`],
//! [`StreamOf`]),
//! a nested store, or a [`Dynamic`] map from ids to any of those. The generated handle has one method per
//! field, so a wrong key or a wrong value type does not compile, and every value is validated
//! against the JSON Schema of its type (schemars + jsonschema) when written and when read.
//!
//! ```
//! use kvstore::{Dynamic, Item, Counter, MemoryBackend, Store};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
//! struct User {
//!     name: String,
//!     #[schemars(email)]
//!     email: String,
//! }
//!
//! #[derive(Store)]
//! #[store(prefix = "app")]
//! struct App {
//!     #[store(rename = "u")]
//!     users: Dynamic<Item<User>>, // app:u:{id}
//!     logins: Counter,            // app:logins
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let app = App::open(MemoryBackend::new());
//! let alice = User { name: "Alice".into(), email: "alice@example.com".into() };
//! app.users().set("alice", &alice).await?;
//! assert_eq!(app.users().get("alice").await?, Some(alice));
//! assert_eq!(app.users().at("alice").key(), "app:u:alice");
//!
//! // Invalid values are refused before anything is written.
//! let bad = User { name: "Bob".into(), email: "not-an-email".into() };
//! let err = app.users().set("bob", &bad).await.unwrap_err();
//! assert!(matches!(err, kvstore::Error::Validation { .. }));
//!
//! assert_eq!(app.logins().increment(1).await?, 1);
//! # Ok::<(), kvstore::Error>(()) }).unwrap();
//! ```
//!
//! Backends: [`MemoryBackend`] (embedded, exactly Redis's semantics, with a [`ManualClock`] for
//! tests), `RedisBackend` and `RedisClusterBackend` (feature `redis`, on by default), any of them
//! from a URL with [`connect`], or your own [`Backend`](backend::Backend) (or
//! [`Storage`](backend::storage::Storage) under the [`Engine`](backend::storage::Engine)): what
//! a backend implementer needs is in [`backend`].
//!
//! Changes can be watched: [`Item::watch`], [`Counter::watch`], [`Blob::watch`],
//! [`SetOf::watch`], [`MapOf::watch`] and [`Dynamic::watch`] are streams of the current value and each change (coalesced, converging on
//! what is stored; keyspace notifications on Redis). The Redis backends can keep a read cache
//! that the server keeps fresh (`client_cache` on their builders; [`Metrics::cache`] reports
//! its hits).
//!
//! # The guide
//!
//! The [`guide`] has one chapter per topic, every example in it compiled and run as a test:
//! [getting started](guide::getting_started), [node types](guide::node_types),
//! [keys and ids](guide::keys_and_ids), [values and validation](guide::values_and_validation),
//! [TTL](guide::ttl), [atomicity and atomic steps](guide::atomicity),
//! [changing your types](guide::migrations), [watching and the client cache](guide::watching),
//! [backends and operating them](guide::backends), [testing your store](guide::testing) and
//! [performance](guide::performance).
//!
//! # Features
//!
//! | feature | default | adds |
//! | --- | --- | --- |
//! | `derive` | yes | `#[derive(Store)]` ([`Store`], from `kvstore-derive`) |
//! | `redis` | yes | `RedisBackend`, `RedisClusterBackend`, and the `redis://` and `redis+cluster://` URLs of [`connect`] |
//! | `tls` | no | `rediss://` and `rediss+cluster://` (rustls; implies `redis`) |
//! | `redb` | no | `RedbBackend`: a persistent store in one file, and `redb://` URLs |
//! | `uuid` | no | `uuid::Uuid` as an id type |
//! | `tracing` | no | a `debug` span named `kvstore` around every operation, with OpenTelemetry's database attributes |
//! | `metrics` | no | operation counts and latencies, cache hits and misses, validation failures and migrated values through the `metrics` facade |
//! | `test-support` | no | `manifest::assert_snapshot`: keeps a store's manifest in a committed file (for dev-dependencies) |
//!
//! Without `redis` there is only [`MemoryBackend`] (and your own), and [`connect`] accepts only
//! `memory://`.
#![warn(missing_docs)]

// Generated code names this crate `::kvstore`, inside it too.
extern crate self as kvstore;

pub mod backend;
mod error;
pub mod guide;
pub mod key {
    //! How an id becomes one key segment, and back: for tools that read raw keys.
    //!
    //! In an id, `%` `:` `*` `?` `[` `]` `\\` `{` `}` and ASCII control characters (and DEL)
    //! are percent-encoded as `%XX` (uppercase hex of the UTF-8 byte); everything else is kept
    //! as is. So an encoded id never contains a separator, a glob metacharacter or a hash-tag
    //! brace, and decoding is exact.
    pub use crate::layout::{decode_id, encode_id};
}
mod layout;
pub mod manifest;
mod node;
mod value;

pub use backend::command::StreamId;
pub use backend::connect::{connect, DynBackend, IntoBackend};
pub use backend::memory::{Clock, ManualClock, MemoryBackend, SystemClock};
pub use backend::metrics::{CacheSnapshot, Instrumented, Metrics, OpSnapshot};
#[cfg(feature = "redb")]
pub use backend::redb::{RedbBackend, RedbBackendBuilder, FORMAT_VERSION as REDB_FORMAT_VERSION};
#[cfg(feature = "redis")]
pub use backend::redis::{
    PartialWriteError, RedisBackend, RedisBackendBuilder, RedisClusterBackend,
    RedisClusterBackendBuilder,
};
pub use error::{BackendError, BackendErrorKind, Error, InvalidKeyReason, Issue, Result};
pub use layout::{Id, IntoId};
pub use node::{
    Atomic, AtomicKey, AuditReport, Bits, Blob, Counter, Dynamic, IndexOf, Item, ListOf, MapOf,
    MemberSet, MigrationReport, OrderedIndex, PackedInt, PackedInts, PatternReport, Problem,
    ProblemKind, Progress, SetOf, SortedSetOf, StreamOf, UniqueIndex, Versioned, MAX_PROBLEMS,
};

/// Secondary indexes: what an index field's accessor returns ([`Index`](index::Index)), an
/// ordered index's pages and their cursors, what `repair()` reports, and the score types an
/// ordered index takes. The index node types themselves ([`UniqueIndex`], [`IndexOf`],
/// [`OrderedIndex`]) are at the crate root, with the other node types.
pub mod index {
    pub use crate::node::{Index, IndexCursor, IndexPage, IndexReport, Score};
}

/// Streams: consumer groups ([`StreamGroup`](stream::StreamGroup), from
/// [`StreamOf::group`]), what they deliver and dead-letter, the worker that runs a handler over a
/// group, and the error of a [`StreamId`] that does not parse. The stream node type
/// ([`StreamOf`]) and its ids are at the crate root.
pub mod stream {
    pub use crate::backend::command::StreamIdError;
    pub use crate::node::{DeadLetter, Delivery, StreamGroup, StreamWorker, WorkerReport};
}
pub use value::{Migrations, Storable};

/// Every node type and every field attribute at once (compiled and run as a test):
///
/// ```
/// use kvstore::{
///     Bits, Blob, Counter, Dynamic, Item, ListOf, MapOf, MemoryBackend, PackedInts, SetOf,
///     SortedSetOf, Store,
/// };
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
/// struct User { name: String }
/// #[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
/// struct Session { user: String }
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// struct ProfileV1 { name: String }
/// #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
/// struct Profile { first: String, last: String }
/// impl From<ProfileV1> for Profile {
///     fn from(v1: ProfileV1) -> Profile {
///         let (first, last) = v1.name.split_once(' ').unwrap_or((&v1.name, ""));
///         Profile { first: first.into(), last: last.into() }
///     }
/// }
///
/// #[derive(Store)] // a nested store: it lives at its field's path
/// struct Tenant {
///     config: Item<String>,
///     members: SetOf<String>,
/// }
///
/// #[derive(Store)]
/// struct Stats {
///     visits: Counter,
///     daily: PackedInts<u32>,  // one u32 per day, in one string (BITFIELD)
///     seen: Bits,              // one bit per user number
/// }
///
/// #[derive(Store)]
/// #[store(prefix = "shop")]
/// struct Shop {
///     settings: Item<String>,                   // shop:settings
///     #[store(rename = "u")]
///     users: Dynamic<Item<User>>,               // shop:u:<id>
///     #[store(ttl = "30m")]
///     sessions: Dynamic<Item<Session>>,         // shop:sessions:<id>, expire after 30 minutes
///     #[store(colocate)]
///     tenants: Dynamic<Tenant>,                 // shop:tenants:{<id>}:... (one slot per tenant)
///     views: Dynamic<Counter, u64>,             // shop:views:<u64>
///     #[store(migrate_from(ProfileV1), write_back = false)]
///     profiles: Dynamic<Item<Profile>>,         // ProfileV1 values read as Profile
///     avatars: Dynamic<Blob>,                   // raw bytes
///     queue: ListOf<String>,                    // a Redis LIST
///     ranking: SortedSetOf<String>,             // a Redis ZSET
///     prices: MapOf<String, u64>,               // a Redis HASH
///     stats: Stats,                             // shop:stats:...
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> kvstore::Result<()> {
/// let shop = Shop::open(MemoryBackend::new());
/// shop.users().set("alice", &User { name: "Alice".into() }).await?;
/// shop.tenants().at("acme").config().set(&"eu".to_owned()).await?;
/// shop.views().at(7).increment(1).await?;
/// shop.stats().daily().increment(3, 1).await?;
/// assert_eq!(shop.users().get("alice").await?.unwrap().name, "Alice");
/// assert_eq!(shop.tenants().at("acme").config().key(), "shop:tenants:{acme}:config");
/// assert_eq!(shop.users().at("alice").key(), "shop:u:alice");
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "derive")]
pub use kvstore_derive::Store;

/// Implementation details of `#[derive(Store)]`. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::layout::{split_static_segment as split_segment, KeyPath};
    pub use crate::node::{
        audit_entry as audit, migrate_entry as migrate, BoxFuture, CloneProbe, Context, IndexKey,
        IndexNode, Indexes, ItemLeaf, Node, Run, Spec, ViaClone, ViaNothing,
    };
    pub use core::option::Option::{self, None, Some};
    pub use core::time::Duration;
    pub use serde_json::{Map, Value};
    pub use std::any::Any;
    pub use std::sync::Arc;

    /// Opens the store `S` at the root `prefix` over `backend`.
    pub fn open_root<S: Node>(backend: impl crate::IntoBackend, prefix: &str) -> S {
        let manifest_prefix = prefix.to_owned();
        let manifest = Box::new(move || manifest_root::<S>(&manifest_prefix));
        let ctx = Context::with_patterns(backend, Some(manifest));
        let root = KeyPath::root(prefix).with_limit(ctx.limits().max_key_len);
        S::__build(&ctx, root, &Spec::default())
    }

    /// The schema manifest of the store `S` at the root `prefix`.
    pub fn manifest_root<S: Node>(prefix: &str) -> Value {
        let mut out = Map::new();
        S::__manifest(KeyPath::root(prefix), &Spec::default(), &mut out);
        Value::Object(out)
    }

    /// The location of a store from the location of its field at `segment`: the store's root.
    pub fn parent_location(
        field: Option<(Context, String)>,
        segment: &str,
    ) -> Option<(Context, String)> {
        let (ctx, location) = field?;
        let root = match location.strip_suffix(segment) {
            Some("") => "",
            Some(root) => root.strip_suffix(crate::layout::SEPARATOR).unwrap_or(root),
            None => &location,
        };
        Some((ctx, root.to_owned()))
    }

    /// Compile-time check that a field type is a node (spanned on the field by the derive).
    pub const fn assert_node<N: Node>() {}
}

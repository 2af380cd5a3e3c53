//! Typed keyspaces over memory and Redis.
#![warn(missing_docs)]

mod backend;
mod codec;
mod error;
mod handles;
pub mod key;
mod memory;
mod node;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use crate::redis::{
    connect, PartialWriteError, RedisBackend, RedisBackendBuilder, RedisClusterBackend,
    RedisClusterBackendBuilder,
};
pub use backend::{async_trait, Backend, DynBackend, IntoBackend, KeyTtl, Limits, SetOptions};
pub use codec::Storable;
pub use error::{BackendError, BackendErrorKind, Error, InvalidKeyReason, Issue, Result};
pub use handles::{Blob, Counter, Dynamic, Item, SetOf};
pub use key::{Id, IntoId};
pub use memory::{Clock, ManualClock, MemoryBackend, SystemClock};
pub use node::{Context, Node};

#[cfg(feature = "derive")]
pub use kvstore_derive::Store;

/// Implementation details of `#[derive(Store)]`. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::backend::IntoBackend;
    pub use crate::key::KeyPath;
    pub use crate::node::{Context, Node};
    pub use core::option::Option::{self, None, Some};
    pub use core::time::Duration;
    pub use serde_json::{Map, Value};

    /// Opens the store `S` at the root `prefix` over `backend`.
    pub fn open_root<S: Node>(backend: impl IntoBackend, prefix: &str) -> S {
        let ctx = Context::new(backend);
        S::__build(&ctx, KeyPath::root(prefix), None)
    }

    /// The schema manifest of the store `S` at the root `prefix`.
    pub fn manifest_root<S: Node>(prefix: &str) -> Value {
        let mut out = Map::new();
        S::__manifest(KeyPath::root(prefix), None, &mut out);
        Value::Object(out)
    }

    /// Splits the first segment of a key tail from the rest.
    pub fn split_segment(tail: &str) -> (&str, Option<&str>) {
        match tail.split_once(crate::key::SEPARATOR) {
            Some((first, rest)) => (first, Some(rest)),
            None => (tail, None),
        }
    }

    /// Compile-time check that a field type is a node (spanned on the field by the derive).
    pub const fn assert_node<N: Node>() {}
}

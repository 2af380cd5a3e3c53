//! The `#[derive(Store)]` macro of [`kvstore`](https://docs.rs/kvstore).
//!
//! Use it through `kvstore::Store`; this crate is an implementation detail of `kvstore` and
//! its generated code only works with the `kvstore` version it was released with.

mod ast;
mod attr;
mod errors;
mod expand;
mod names;
mod ttl;
mod valid;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Turns a struct with named fields into a typed keyspace.
///
/// Every field is a *node*:
///
/// | node | stored as |
/// | --- | --- |
/// | `Item<T>` | one JSON value, validated against `T`'s JSON Schema |
/// | `Counter` | decimal `i64` text (`INCRBY`) |
/// | `SetOf<T>` | a Redis SET of JSON values |
/// | `Blob` | raw bytes |
/// | `ListOf<T>`, `SortedSetOf<T>`, `MapOf<F, V>` | a Redis LIST, ZSET, HASH of JSON values |
/// | `Bits`, `PackedInts<I>` | a string of bits, or of small integers (`BITFIELD`) |
/// | `Dynamic<N, K>` | a map from ids of type `K` (`String` by default) to nodes `N` |
/// | a `#[derive(Store)]` struct | a nested store, at the field's path |
///
/// An example with every node type and every field attribute, compiled and run as a test, is
/// on [`kvstore::Store`](https://docs.rs/kvstore/latest/kvstore/derive.Store.html) (this crate
/// cannot use its own macro through `kvstore` in a doctest); the guide's chapters
/// [node types](https://docs.rs/kvstore/latest/kvstore/guide/node_types/index.html),
/// [keys and ids](https://docs.rs/kvstore/latest/kvstore/guide/keys_and_ids/index.html),
/// [TTL](https://docs.rs/kvstore/latest/kvstore/guide/ttl/index.html) and
/// [changing your types](https://docs.rs/kvstore/latest/kvstore/guide/migrations/index.html)
/// show each attribute at work.
///
/// # Attributes
///
/// On the struct:
///
/// - `#[store(prefix = "app:v1")]`: the root key prefix, names of `[A-Za-z0-9_.-]+` joined by
///   `:`. Without it keys start at the field names. A nested store's prefix is ignored: it lives
///   at its parent's path.
/// - `#[store(crate = "path::to::kvstore")]`: where the `kvstore` crate is, when it is not
///   reachable as `::kvstore` (renamed dependency, re-export from another crate).
///
/// On a field:
///
/// - `#[store(rename = "u")]`: the key segment of the field (by default its name, without `r#`).
///   Segments must match `[A-Za-z0-9_.-]+` and be unique within the struct.
/// - `#[store(ttl = "30m")]`: the default time-to-live of every value written under the field:
///   a positive integer and a unit, `ms`, `s`, `m`, `h` or `d` (`"500ms"`, `"2s"`, `"24h"`,
///   `"7d"`). Parsed at compile time. It overrides a TTL inherited from an enclosing field.
/// - `#[store(colocate)]`: only on a `Dynamic` field: wraps its id in a Redis Cluster hash tag
///   (`tenants:{acme}:...`), so every key under one id lands in the same slot (multi-key
///   operations and atomic steps on one id then work on a cluster).
/// - `#[store(migrate_from(V2, V1))]`: on an `Item<T>` field or a `Dynamic` whose leaves are
///   `Item<T>`: the older types stored values may still have, newest first, each with
///   `From<V1> for V2` and `From<V2> for T`. A value that does not decode as `T` is read as
///   each older type in turn, converted forward, validated as `T` and written back
///   (compare-and-swap, keeping its TTL).
/// - `#[store(write_back = false)]`, on a field with `migrate_from`: older values are still
///   converted on read, but never written back (a read-only user).
///
/// Several keys can share one attribute: `#[store(rename = "s", ttl = "1h")]`. A key that is
/// not allowed where it is written is a compile error saying where it belongs.
///
/// # What it generates
///
/// For `struct Shop`, every generated inherent method has the struct's visibility:
///
/// - `Shop::open(backend) -> Shop`: opens the store over any backend (`MemoryBackend`,
///   `RedisBackend`, ...). Not async; cheap.
/// - `Shop::open_with_prefix(backend, prefix) -> Shop`: the same with a prefix chosen at run
///   time (per environment, per test).
/// - `Shop::schema() -> serde_json::Value`: the manifest of every key pattern of the store.
/// - `audit()`, `migrate()`, `audit_with_progress(callback)`, `migrate_with_progress(callback)`:
///   check and rewrite every stored value of the store.
/// - one accessor per field, `fn users(&self) -> Dynamic<Item<User>>`, returning the field's
///   handle by value (a clone: one reference-count increment, so that
///   `let seen = shop.tenants().at("a").seen();` works), documented with the field's own doc
///   comments and its key pattern (`<store>:u:*`).
/// - `impl Clone for Shop` (a store handle is cheap to clone: it shares one backend). **Do not
///   also `#[derive(Clone)]`**: the two impls would conflict.
/// - the (hidden) node impl that lets `Shop` be a field of another store or the `N` of a
///   `Dynamic<N>`.
///
/// A field name that would clash with a generated method (`open`, `open_with_prefix`, `schema`,
/// `clone`, `audit`, `migrate`) is rejected: rename the field and keep its key with `#[store(rename = "...")]`.
///
/// Tuple structs, unit structs, enums, unions and generic structs are not supported.
#[proc_macro_derive(Store, attributes(store))]
pub fn derive_store(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}

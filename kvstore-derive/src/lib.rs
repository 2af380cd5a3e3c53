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
/// Every field is a *node*: `Item<T>`, `Counter`, `SetOf<T>`, `Blob`, `Dynamic<N, K>` (a map from
/// ids of type `K`, `String` by default, to nodes `N`) or another `#[derive(Store)]` struct.
///
/// ```ignore
/// use kvstore::{Store, Item, Dynamic, Counter, MemoryBackend};
///
/// #[derive(Store)]
/// #[store(prefix = "shop")]
/// pub struct Shop {
///     settings: Item<Settings>,                 // shop:settings
///     #[store(rename = "u")]
///     users: Dynamic<Item<User>>,               // shop:u:{id}
///     #[store(ttl = "30m")]
///     sessions: Dynamic<Item<Session>>,         // shop:sessions:{id}, expire after 30 minutes
///     #[store(colocate)]
///     tenants: Dynamic<Tenant>,                 // shop:tenants:{<id>}:... (hash tag: one slot per tenant)
///     views: Dynamic<Counter, u64>,             // shop:views:{u64}
///     stats: Stats,                             // shop:stats:... (a nested #[derive(Store)] struct)
/// }
///
/// let shop = Shop::open(MemoryBackend::new());
/// shop.users().set("alice", &alice).await?;
/// shop.tenants().at("acme").config().get().await?;
/// ```
///
/// # Attributes
///
/// On the struct:
///
/// - `#[store(prefix = "app:v1")]` — the root key prefix: names of `[A-Za-z0-9_.-]+` joined by
///   `:`. Without it keys start at the field names.
/// - `#[store(crate = "path::to::kvstore")]` — where the `kvstore` crate is, when it is not
///   reachable as `::kvstore` (renamed dependency, re-export from another crate).
///
/// On a field:
///
/// - `#[store(rename = "u")]` — the key segment of the field (by default its name, without `r#`).
///   Segments must match `[A-Za-z0-9_.-]+` and be unique within the struct.
/// - `#[store(ttl = "30m")]` — the default time-to-live of every value written under the field:
///   a positive integer and a unit, `ms`, `s`, `m`, `h` or `d` (`"500ms"`, `"2s"`, `"24h"`,
///   `"7d"`). Parsed at compile time. It overrides a TTL inherited from an enclosing field.
/// - `#[store(colocate)]` — only on a `Dynamic` field: wraps its id in a Redis Cluster hash tag
///   (`tenants:{acme}:...`), so every key under one id lands in the same slot.
///
/// # What it generates
///
/// For `struct Shop`:
///
/// Every generated inherent method has the struct's visibility.
///
/// - `Shop::open(backend) -> Shop` — opens the store over any backend (`MemoryBackend`,
///   `RedisBackend`, ...). Not async; cheap.
/// - `Shop::open_with_prefix(backend, prefix) -> Shop` — the same with a prefix chosen at run
///   time (per environment, per test).
/// - `Shop::schema() -> serde_json::Value` — the manifest of every key pattern of the store.
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
/// `clone`) is rejected: rename the field and keep its key with `#[store(rename = "...")]`.
///
/// Tuple structs, unit structs, enums, unions and generic structs are not supported.
#[proc_macro_derive(Store, attributes(store))]
pub fn derive_store(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}

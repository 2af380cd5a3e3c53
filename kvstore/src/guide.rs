//! The guide: one chapter per module, from a first store to running it in production.
//!
//! Every example is compiled and run as a test on the memory backend (those that need a
//! server are compiled only). The chapters are also plain Markdown files in the crate's `docs/`
//! folder.
//!
//! 1. [Getting started](getting_started): a first store, the tour.
//! 2. [Node types](node_types): every node, its methods, the attributes of `#[derive(Store)]`.
//! 3. [Keys and ids](keys_and_ids): the key layout, id encoding, prefixes.
//! 4. [Values and validation](values_and_validation): how values are stored and checked, and
//!    the errors.
//! 5. [TTL](ttl): default TTLs, which writes keep or replace them, expiry.
//! 6. [Atomicity and atomic steps](atomicity): what is atomic where, `Atomic`, races in tests.
//! 7. [Changing your types](migrations): compatible changes, `migrate_from`, audits and
//!    migrations.
//! 8. [Watching and the client cache](watching): `watch()` streams and the Redis read cache.
//! 9. [Backends and operating them](backends): memory, redb, Redis, Cluster, URLs, the
//!    `kvstore` command line.
//! 10. [Testing your store](testing): `ManualClock`, `interleaved()`, committed manifests, the
//!     conformance suite.
//! 11. [Secondary indexes](indexes): find records by a field, kept right on every backend.
//! 12. [Streams](streams): append-only logs, reads after an id, blocking reads and `tail`.
//! 13. [Performance](performance): what the typed layer costs, and where.

#[doc = include_str!("../docs/getting_started.md")]
pub mod getting_started {}

#[doc = include_str!("../docs/node_types.md")]
pub mod node_types {}

#[doc = include_str!("../docs/keys_and_ids.md")]
pub mod keys_and_ids {}

#[doc = include_str!("../docs/values_and_validation.md")]
pub mod values_and_validation {}

#[doc = include_str!("../docs/ttl.md")]
pub mod ttl {}

#[doc = include_str!("../docs/atomicity.md")]
pub mod atomicity {}

#[doc = include_str!("../docs/migrations.md")]
pub mod migrations {}

#[doc = include_str!("../docs/watching.md")]
pub mod watching {}

#[doc = include_str!("../docs/backends.md")]
pub mod backends {}

#[doc = include_str!("../docs/testing.md")]
pub mod testing {}

#[doc = include_str!("../docs/indexes.md")]
pub mod indexes {}

#[doc = include_str!("../docs/streams.md")]
pub mod streams {}

#[doc = include_str!("../docs/performance.md")]
pub mod performance {}

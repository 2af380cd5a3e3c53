//! Hostile input: ids, values and stored bytes chosen to break things.
//!
//! Every check runs on the memory backend and on a real `redis-server` (one per test binary),
//! and compares a raw snapshot of the *whole* backend (`Backend::scan_prefix("")`) before and
//! after: a hostile operation changes exactly the keys it should, and nothing in another keyspace
//! or tenant. Backend-independent checks (stack depth, `$ref`, ReDoS) run on memory.
//!
//! One test binary, by topic: `input.rs` (hostile ids, values and stored bytes on every backend,
//! and the key length limit), `depth.rs` (values nested deeper than serde_json reads back),
//! `refs.rs` (external `$ref`s are never fetched), `redos.rs` (patterns that backtrack).

#[path = "../support/mod.rs"]
mod support;

use support::backends::{self, Kind, Options};

use kvstore::backend::BackendExt as _;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kvstore::{
    backend::{Backend, Command, ListOp, MapOp, Reply, SetOp, SortedSetOp},
    Bits, Blob, Counter, DynBackend, Dynamic, Error, InvalidKeyReason, Item, ListOf, MapOf,
    MemoryBackend, PackedInts, SetOf, SortedSetOf, Store,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Note {
    text: String,
    n: u64,
}

#[derive(Store)]
struct Tenant {
    profile: Item<User>,
    notes: Dynamic<Item<Note>>,
    hits: Counter,
    tags: SetOf<String>,
}

#[derive(Store)]
struct Shop {
    users: Dynamic<Item<User>>,
    notes: Dynamic<Item<Note>>,
    anything: Dynamic<Item<Value>>,
    counters: Dynamic<Counter>,
    tags: SetOf<Note>,
    files: Dynamic<Blob>,
    tenants: Dynamic<Tenant>,
    #[store(colocate)]
    co: Dynamic<Tenant>,
}

mod depth;
mod input;
mod redos;
mod refs;

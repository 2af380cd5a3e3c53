//! Micro-benchmarks of the typed layer's per-value work: encode (serialize + validate), decode
//! (parse + validate + deserialize) and key encoding, next to plain serde_json.

use criterion::{criterion_group, criterion_main, Criterion};
use kvstore::{Dynamic, Item, MemoryBackend, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::hint::black_box;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Profile {
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
    city: String,
    tags: Vec<String>,
    active: bool,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Plain {
    name: String,
    email: String,
    age: u32,
    city: String,
    tags: Vec<String>,
    active: bool,
}

#[derive(Store)]
#[store(prefix = "bench")]
struct Keys {
    profiles: Dynamic<Item<Profile>>,
    plain: Dynamic<Item<Plain>>,
}

fn profile() -> Profile {
    Profile {
        name: "User Number 42".into(),
        email: "user42@example.com".into(),
        age: 42,
        city: "Amsterdam".into(),
        tags: vec!["alpha".into(), "beta".into(), "gamma".into()],
        active: true,
    }
}

fn codec(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Keys::open(MemoryBackend::new());
    let p = profile();
    let plain = Plain {
        name: p.name.clone(),
        email: p.email.clone(),
        age: p.age,
        city: p.city.clone(),
        tags: p.tags.clone(),
        active: p.active,
    };
    let bytes = serde_json::to_vec(&p).unwrap();

    c.bench_function("serde_json to_vec (raw)", |b| {
        b.iter(|| serde_json::to_vec(black_box(&p)).unwrap())
    });
    c.bench_function("serde_json from_slice (raw)", |b| {
        b.iter(|| serde_json::from_slice::<Profile>(black_box(&bytes)).unwrap())
    });
    c.bench_function("memory set, constrained type (typed)", |b| {
        b.iter(|| {
            rt.block_on(store.profiles().set("alice", black_box(&p)))
                .unwrap()
        })
    });
    c.bench_function("memory get, constrained type (typed)", |b| {
        b.iter(|| rt.block_on(store.profiles().get("alice")).unwrap())
    });
    c.bench_function("memory set, structural type (typed)", |b| {
        b.iter(|| {
            rt.block_on(store.plain().set("alice", black_box(&plain)))
                .unwrap()
        })
    });
    c.bench_function("memory get, structural type (typed)", |b| {
        b.iter(|| rt.block_on(store.plain().get("alice")).unwrap())
    });
    c.bench_function("key encoding: at(id).key()", |b| {
        b.iter(|| store.profiles().at(black_box("user:42 ünï")).key().len())
    });
    c.bench_function("key encoding: encode_id", |b| {
        b.iter(|| kvstore::key::encode_id(black_box("user:42 ünï")))
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);

//! A profiling target: the `cache: registry 95/5, cached` workload of `--only cache` (10,000
//! `User`s, 64 tasks, 95% typed `get` / 5% typed `set` over a `RedisBackend` with a client
//! cache), for a number of seconds, against a running redis-server:
//!
//! ```text
//! redis-server --port 6390 --save '' --appendonly no &
//! perf record -g target/release/examples/profile_cache_mix redis://127.0.0.1:6390/ 20
//! ```
//!
//! `uncached` as a third argument runs the same workload without the cache.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvstore::{backend::Backend, Dynamic, Item, RedisBackend, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
struct User {
    id: String,
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
    tags: Vec<String>,
    created_at: i64,
}

#[derive(Store)]
#[store(prefix = "cacheprofile")]
struct Registry {
    users: Dynamic<Item<User>>,
}

const IDS: u64 = 10_000;

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "redis://127.0.0.1:6390/".into());
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let cached = args.get(2).is_none_or(|a| a != "uncached");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut builder = RedisBackend::builder(&url);
        if cached {
            builder = builder.client_cache(16_384);
        }
        let backend = builder.build().await.unwrap();
        if let Some(cache) = backend.info().client_cache {
            while !cache.is_live() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let registry = Registry::open(backend.clone());
        let ids: Arc<Vec<String>> = Arc::new((0..IDS).map(|i| format!("k{i}")).collect());
        let users: Arc<Vec<User>> = Arc::new(
            (0..IDS)
                .map(|i| User {
                    id: format!("user-{i}"),
                    name: format!("User Number {i}"),
                    email: format!("user{i}@example.com"),
                    age: (i % 100) as u32,
                    tags: vec!["alpha".into(), "beta".into(), format!("t{}", i % 10)],
                    created_at: 1_700_000_000 + i as i64,
                })
                .collect(),
        );
        for start in (0..IDS as usize).step_by(1000) {
            registry
                .users()
                .set_many((start..start + 1000).map(|i| (ids[i].as_str(), &users[i])))
                .await
                .unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..64u64 {
            let (registry, ids, users) = (registry.clone(), ids.clone(), users.clone());
            let (stop, done) = (stop.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let h = splitmix(i);
                    let id = (h % IDS) as usize;
                    if (h >> 32) % 100 < 5 {
                        registry
                            .users()
                            .set(ids[id].as_str(), &users[id])
                            .await
                            .unwrap();
                    } else {
                        registry.users().get(ids[id].as_str()).await.unwrap();
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 64;
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.unwrap();
        }
        let ops = done.load(Ordering::Relaxed);
        println!(
            "{ops} ops, {:.1}k ops/s{}",
            ops as f64 / started.elapsed().as_secs_f64() / 1e3,
            backend
                .info()
                .client_cache
                .map(|c| format!("; cache hits {} misses {}", c.hits(), c.misses()))
                .unwrap_or_default()
        );
        registry.users().clear().await.unwrap();
    });
}

//! A profiling target: typed `set` + `get` on the memory backend with the external benchmark's
//! value and ids, in a loop (`perf record -g target/release/examples/profile_memory_set`).
//! The first argument is the number of rounds of 20k sets and 20k gets (20 by default): with 1,
//! `valgrind --tool=callgrind` counts the instructions per operation, a figure that does not
//! move with the machine's load. A second argument `raw` runs the raw baseline instead
//! (`Mutex<HashMap>` + serde_json), for the difference; `set` runs the typed sets alone.

use kvstore::{Dynamic, Item, MemoryBackend, Store};
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
#[store(prefix = "bench")]
struct Bench {
    users: Dynamic<Item<User>>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let bench = Bench::open(MemoryBackend::new());
        let users: Vec<User> = (0..20_000u64)
            .map(|i| User {
                id: format!("user-{i}"),
                name: format!("User Number {i}"),
                email: format!("user{i}@example.com"),
                age: (i % 100) as u32,
                tags: vec!["alpha".into(), "beta".into(), format!("t{}", i % 10)],
                created_at: 1_700_000_000 + i as i64,
            })
            .collect();
        let rounds: usize = std::env::args()
            .nth(1)
            .map_or(20, |n| n.parse().expect("rounds: a number"));
        if std::env::args().nth(2).as_deref() == Some("raw") {
            let raw = std::sync::Mutex::new(std::collections::HashMap::new());
            for _ in 0..rounds {
                for (i, u) in users.iter().enumerate() {
                    let bytes = serde_json::to_vec(u).unwrap();
                    raw.lock()
                        .unwrap()
                        .insert(format!("bench:users:k{i}"), bytes);
                }
                for i in 0..users.len() {
                    let bytes = raw.lock().unwrap()[&format!("bench:users:k{i}")].clone();
                    let _: User = serde_json::from_slice(&bytes).unwrap();
                }
            }
            return;
        }
        for _ in 0..rounds {
            for (i, u) in users.iter().enumerate() {
                bench.users().set(&format!("k{i}"), u).await.unwrap();
            }
            if std::env::args().nth(2).as_deref() == Some("set") {
                continue;
            }
            for i in 0..users.len() {
                assert!(bench.users().get(&format!("k{i}")).await.unwrap().is_some());
            }
        }
    });
}

//! The conformance suite over a real Redis Cluster (3 primaries, one cluster per test binary,
//! shared by the tests that run at the same time, each under its own key prefix).

#[macro_use]
mod conformance;
mod support;

use std::sync::{Mutex, Weak};

static CLUSTER: Mutex<Weak<support::RedisCluster>> = Mutex::new(Weak::new());

async fn env(test_name: &'static str) -> conformance::Env {
    let cluster = conformance::shared(&CLUSTER, || support::RedisCluster::start(3, 0));
    let hosts: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.replace("redis://", ""))
        .collect();
    let url = format!("redis+cluster://{}", hosts.join(","));
    let backend = kvstore::connect(&url)
        .await
        .expect("connect to the cluster");
    conformance::Env::new(backend, test_name).keep_alive(cluster)
}

conformance_tests!(env);

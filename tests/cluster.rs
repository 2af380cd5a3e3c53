//! The conformance suite over a real Redis Cluster (3 primaries, one cluster per test binary,
//! shared by every rule, each under its own key prefix).

mod support;

use std::sync::Arc;

use kvstore_conformance::Env;

fn main() {
    let cluster = Arc::new(support::RedisCluster::start(3, 0));
    let hosts: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.replace("redis://", ""))
        .collect();
    let url = format!("redis+cluster://{}", hosts.join(","));
    let nodes = cluster.urls();
    let trials = kvstore_conformance::trials("cluster", move |test_name| {
        let url = url.clone();
        let nodes = nodes.clone();
        async move {
            let backend = kvstore::connect(&url)
                .await
                .expect("connect to the cluster");
            Env::new(backend, &test_name).with_cached_client(move || {
                let nodes = nodes.clone();
                async move {
                    kvstore::RedisClusterBackend::builder(nodes)
                        .client_cache(1_000)
                        .build()
                        .await
                        .expect("connect a caching client to the cluster")
                }
            })
        }
    });
    let conclusion = kvstore_conformance::run(trials);
    drop(cluster); // the servers are killed before the process exits
    conclusion.exit();
}

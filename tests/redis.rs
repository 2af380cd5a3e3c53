//! The conformance suite over a real standalone `redis-server` (one per test binary, shared by
//! every rule, each under its own key prefix).

mod support;

use std::sync::Arc;

use kvstore_conformance::Env;

fn main() {
    let server = Arc::new(support::RedisServer::start());
    let url = server.url();
    let trials = kvstore_conformance::trials("redis", move |test_name| {
        let url = url.clone();
        async move {
            let backend = kvstore::connect(&url).await.expect("connect to redis");
            let cached_url = url.clone();
            Env::new(backend, &test_name).with_cached_client(move || {
                let url = cached_url.clone();
                async move {
                    kvstore::RedisBackend::builder(&url)
                        .client_cache(1_000)
                        .build()
                        .await
                        .expect("connect a caching client to redis")
                }
            })
        }
    });
    let conclusion = kvstore_conformance::run(trials);
    drop(server); // the server is killed before the process exits
    conclusion.exit();
}

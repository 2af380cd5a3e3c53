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
            Env::new(backend, &test_name)
        }
    });
    let conclusion = kvstore_conformance::run(trials);
    drop(server); // the server is killed before the process exits
    conclusion.exit();
}

//! The conformance suite over a real standalone `redis-server` (one per test binary, shared by
//! the tests that run at the same time, each under its own key prefix).

#[macro_use]
mod conformance;
mod support;

use std::sync::{Mutex, Weak};

static SERVER: Mutex<Weak<support::RedisServer>> = Mutex::new(Weak::new());

async fn env(test_name: &'static str) -> conformance::Env {
    let server = conformance::shared(&SERVER, support::RedisServer::start);
    let backend = kvstore::connect(&server.url())
        .await
        .expect("connect to redis");
    conformance::Env::new(backend, test_name).keep_alive(server)
}

conformance_tests!(env);

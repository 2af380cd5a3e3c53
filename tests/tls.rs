//! `rediss://`: a smoke subset of the conformance suite against a real TLS `redis-server`, with a
//! CA and a server certificate generated for the test (by the `openssl` command line tool), and
//! a client that must verify the server against that CA.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvstore::{BackendErrorKind, Error, RedisBackend};
use kvstore_conformance::{Env, Trial};
use support::tls::{certs, TlsServer};

/// The rules run over TLS: one of each kind of operation.
const SMOKE: &[&str] = &[
    "item_get_set_remove_exists",
    "item_modify",
    "item_ttl_expire_persist",
    "counter_basics",
    "set_basics",
    "key_layout",
    "dynamic_get_many",
    "dynamic_set_many",
    "dynamic_entries",
    "validation_on_read",
];

fn main() {
    let server = Arc::new(TlsServer::start());
    let url = server.url();
    let smoke = kvstore_conformance::rules()
        .into_iter()
        .filter(|rule| SMOKE.contains(&rule.name));
    let mut trials: Vec<Trial> = kvstore_conformance::trials_of(smoke, "tls", move |test_name| {
        let url = url.clone();
        async move {
            let ca = std::fs::read(certs().path("ca.crt")).unwrap();
            let backend = RedisBackend::builder(&url)
                .tls_root_cert(ca)
                .build()
                .await
                .expect("connect over TLS");
            Env::new(backend, &test_name)
        }
    });
    assert_eq!(trials.len(), SMOKE.len(), "every smoke rule exists");
    trials.push(trial(
        "tls::an_untrusted_server_is_refused",
        an_untrusted_server_is_refused(server.clone()),
    ));
    trials.push(trial(
        "tls::plain_text_to_a_tls_port_fails_fast",
        plain_text_to_a_tls_port_fails_fast(server.clone()),
    ));
    let conclusion = kvstore_conformance::run(trials);
    drop(server);
    conclusion.exit();
}

/// A trial running `test` on its own runtime.
fn trial(name: &'static str, test: impl Future<Output = ()> + Send + 'static) -> Trial {
    Trial::test(name, move || {
        tokio::runtime::Runtime::new()
            .expect("tokio runtime")
            .block_on(test);
        Ok(())
    })
}

/// Without the test CA, the server's certificate is refused: a typed error, no connection.
async fn an_untrusted_server_is_refused(server: Arc<TlsServer>) {
    let started = Instant::now();
    let err = RedisBackend::builder(&server.url())
        .connect_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect_err("a self-signed CA must not be trusted by default");
    assert!(
        matches!(&err, Error::Backend(e) if matches!(e.kind(), BackendErrorKind::Connection | BackendErrorKind::Other)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
}

/// A plain `redis://` client cannot talk to the TLS port.
async fn plain_text_to_a_tls_port_fails_fast(server: Arc<TlsServer>) {
    let started = Instant::now();
    let url = format!("redis://127.0.0.1:{}/", server.port);
    let result = RedisBackend::builder(&url)
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
        .build()
        .await;
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}

//! `wait_for_replicas`: each write returns once the replicas asked for have it (`WAIT`), and a
//! write they do not acknowledge in time is an error that says it may have been applied — with
//! a real primary and a real replica (`replicaof`), on free loopback ports.

mod support;

use std::time::{Duration, Instant};

use kvstore::{BackendErrorKind, Counter, Dynamic, Error, Item, RedisBackend, Store};
use support::RedisServer;

#[derive(Store)]
#[store(prefix = "repl")]
struct App {
    notes: Dynamic<Item<String>>,
    hits: Counter,
}

/// A replica of `primary`, synced.
fn replica_of(primary: &RedisServer) -> RedisServer {
    let replica = RedisServer::builder()
        .config(format!("replicaof 127.0.0.1 {}", primary.port()))
        .start();
    let started = Instant::now();
    loop {
        let info = replica.cmd(&["INFO", "replication"]).text();
        if info.contains("master_link_status:up") {
            return replica;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the replica did not sync:\n{info}\n{}",
            replica.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_their_replicas() {
    let primary = RedisServer::start();
    let mut replica = replica_of(&primary);
    let backend = RedisBackend::builder(&primary.url())
        .wait_for_replicas(1, Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let app = App::open(backend);
    app.notes()
        .set("a", &"replicated".to_owned())
        .await
        .unwrap();
    app.hits().increment(2).await.unwrap();
    // Acknowledged: the replica has both, read straight from it.
    assert_eq!(
        replica.cmd(&["GET", "repl:notes:a"]).text(),
        "\"replicated\"",
        "the replica has the write when set() returns"
    );
    assert_eq!(replica.cmd(&["GET", "repl:hits"]).text(), "2");
    // Reads do not wait.
    assert_eq!(
        app.notes().get("a").await.unwrap().as_deref(),
        Some("replicated")
    );

    // The replica is gone: a write still reaches the primary, but is not acknowledged in time.
    replica.kill();
    let started = Instant::now();
    let e = app.notes().set("b", &"alone".to_owned()).await.unwrap_err();
    let waited = started.elapsed();
    match &e {
        Error::Backend(b) => {
            assert_eq!(b.kind(), BackendErrorKind::Timeout, "{e}");
            assert_eq!(b.key(), Some("repl:notes:b"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("may have been applied"), "{e}");
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!(
        primary.cmd(&["GET", "repl:notes:b"]).text(),
        "\"alone\"",
        "it was applied on the primary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_writes_do_not_wait() {
    let primary = RedisServer::start();
    let backend = RedisBackend::connect(&primary.url()).await.unwrap();
    let app = App::open(backend);
    // No replica at all: a plain backend never waits for one.
    let started = Instant::now();
    app.notes().set("a", &"fast".to_owned()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_writes_wait_for_the_replicas_of_their_primary() {
    let cluster = support::RedisCluster::start(3, 1);
    cluster.wait_for_replication(Duration::from_secs(30));
    let urls = cluster.urls();
    let backend = kvstore::RedisClusterBackend::builder(&urls)
        .wait_for_replicas(1, Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let app = App::open(backend);
    for i in 0..20 {
        app.notes()
            .set(format!("n{i}"), &format!("v{i}"))
            .await
            .unwrap();
    }
    app.hits().increment(1).await.unwrap();
    assert_eq!(app.notes().get("n7").await.unwrap().as_deref(), Some("v7"));
}

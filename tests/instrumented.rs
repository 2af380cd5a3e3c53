//! The conformance suite over `Instrumented<MemoryBackend>`: the metrics hook is transparent.
//! After every test, the hook must have counted calls.

#[macro_use]
mod conformance;

use kvstore::{Instrumented, ManualClock, MemoryBackend};

async fn env(test_name: &'static str) -> conformance::Env {
    let clock = ManualClock::new();
    let backend = Instrumented::new(MemoryBackend::with_clock(clock.clone()));
    conformance::Env::with_manual_clock(backend, clock, test_name)
}

conformance_tests!(env);

#[tokio::test]
async fn the_hook_counts_what_the_store_does() {
    use kvstore::{Counter, Dynamic, Item, Store};

    #[derive(Store)]
    struct Small {
        hits: Counter,
        names: Dynamic<Item<String>>,
    }

    let backend = Instrumented::new(MemoryBackend::new());
    let metrics = backend.metrics();
    let store = Small::open(backend);
    store.hits().increment(2).await.unwrap();
    store.names().set("a", &"x".to_owned()).await.unwrap();
    store
        .names()
        .set_many([("b", "y".to_owned())])
        .await
        .unwrap();
    assert_eq!(store.names().keys().await.unwrap().len(), 2);
    let calls = |op: &str| {
        metrics
            .snapshot()
            .iter()
            .find(|s| s.op == op)
            .map_or(0, |s| s.calls)
    };
    assert_eq!(calls("increment"), 1);
    assert_eq!(calls("set"), 1);
    assert_eq!(calls("set_many"), 1);
    assert_eq!(calls("scan_prefix"), 1);
    assert_eq!(calls("get"), 0);
}

//! The conformance suite over `Instrumented<MemoryBackend>`: the metrics hook is transparent.
//! And the hook counts what a store does.

use kvstore::{Instrumented, ManualClock, MemoryBackend};
use kvstore_conformance::{Env, Trial};

fn main() {
    let mut trials = kvstore_conformance::trials("instrumented", |test_name| async move {
        let clock = ManualClock::new();
        let backend = Instrumented::new(MemoryBackend::with_clock(clock.clone()));
        Env::with_manual_clock(backend, clock, &test_name)
    });
    trials.push(Trial::test(
        "instrumented::the_hook_counts_what_the_store_does",
        || {
            tokio::runtime::Runtime::new()
                .expect("tokio runtime")
                .block_on(the_hook_counts_what_the_store_does());
            Ok(())
        },
    ));
    kvstore_conformance::run(trials).exit();
}

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

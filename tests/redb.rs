//! The conformance suite over `RedbBackend`: a fresh file in a temporary directory per rule, on
//! a manual clock (TTLs without sleeping).

use std::sync::Arc;

use kvstore::{ManualClock, RedbBackend};
use kvstore_conformance::Env;

fn main() {
    kvstore_conformance::main("redb", |test_name| async move {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let clock = ManualClock::new();
        let backend = RedbBackend::builder(dir.path().join("store.redb"))
            .clock(clock.clone())
            .open()
            .expect("open a redb file");
        Env::with_manual_clock(backend, clock, &test_name).keep_alive(Arc::new(dir))
    });
}

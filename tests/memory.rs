//! The conformance suite over `MemoryBackend`, on a manual clock (TTLs without sleeping).

use kvstore_conformance::Env;

fn main() {
    let trials = kvstore_conformance::trials(|test_name| async move { Env::memory(test_name) });
    kvstore_conformance::run(trials).exit();
}

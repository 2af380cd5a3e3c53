//! The conformance suite over `MemoryBackend`, on a manual clock (TTLs without sleeping).

use kvstore_conformance::Env;

fn main() {
    kvstore_conformance::main("memory", |test_name| async move { Env::memory(&test_name) });
}

//! The conformance suite over `MemoryBackend`, on a manual clock (TTLs without sleeping).

#[macro_use]
mod conformance;

async fn env(test_name: &'static str) -> conformance::Env {
    conformance::Env::memory(test_name)
}

conformance_tests!(env);

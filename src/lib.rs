//! The workspace root package of kvstore: it owns the top-level `examples/` and `tests/` and is
//! never published. Its documentation is the README, so that every Rust example in the README is
//! compiled and run as a doctest by `cargo test --workspace`.
#![doc = include_str!("../README.md")]

//! The workspace root package: owns the top-level `examples/` and `tests/` of kvstore.
//! Never published; see the `kvstore` crate.

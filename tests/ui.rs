//! Compile-time behaviour of `#[derive(Store)]`: what compiles, and the error (message and span)
//! a user gets for each mistake. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test --test ui`, then read every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}

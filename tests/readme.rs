//! The README's tour and `examples/quickstart.rs` are the same program (the README says
//! `cargo run --example quickstart` runs the tour).

#[test]
fn quickstart_is_the_readme_tour() {
    let readme = include_str!("../README.md");
    let start = readme.find("## A tour").expect("the README has a tour");
    let code = &readme[start..];
    let code = &code[code.find("```rust\n").expect("a rust block") + "```rust\n".len()..];
    let tour = &code[..code.find("\n```\n").expect("the block ends") + 1];
    let example = include_str!("../examples/quickstart.rs");
    // The file ends with a snapshot test of the store's manifest, after the tour.
    let example = &example[..example
        .find("\n// Not part of the tour")
        .unwrap_or(example.len())
        + 1];
    let body: String = example
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .flat_map(|line| [line, "\n"])
        .collect();
    let body = format!("{}\n", body.trim_end());
    assert_eq!(
        body, tour,
        "examples/quickstart.rs (after its header) must be the README's tour"
    );
}

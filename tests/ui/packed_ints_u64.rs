use kvstore::{PackedInts, Store};

#[derive(Store)]
struct Stats {
    wins: PackedInts<u64>,
}

fn main() {}

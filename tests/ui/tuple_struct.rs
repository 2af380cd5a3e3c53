use kvstore::{Item, Store};

#[derive(Store)]
struct Shop(Item<String>);

fn main() {}

use kvstore::{Item, Store};

#[derive(Store)]
struct Shop {
    settings: Item<String>,
    name: String,
}

fn main() {}

use kvstore::{Item, Store};

#[derive(Store)]
#[derive(Clone)]
struct App {
    name: Item<String>,
}

fn main() {}

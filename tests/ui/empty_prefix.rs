use kvstore::{Item, Store};

#[derive(Store)]
#[store(prefix = "")]
struct Shop {
    users: Item<String>,
}

fn main() {}

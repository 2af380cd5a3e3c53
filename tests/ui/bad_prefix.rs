use kvstore::{Item, Store};

#[derive(Store)]
#[store(prefix = "my shop")]
struct Shop {
    users: Item<String>,
}

fn main() {}

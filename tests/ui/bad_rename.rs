use kvstore::{Item, Store};

#[derive(Store)]
struct Shop {
    #[store(rename = "user:*")]
    users: Item<String>,
}

fn main() {}

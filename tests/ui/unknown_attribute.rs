use kvstore::{Item, Store};

#[derive(Store)]
struct Shop {
    #[store(renam = "u")]
    users: Item<String>,
}

fn main() {}

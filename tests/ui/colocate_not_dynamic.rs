use kvstore::{Item, Store};

#[derive(Store)]
struct Shop {
    #[store(colocate)]
    settings: Item<String>,
}

fn main() {}

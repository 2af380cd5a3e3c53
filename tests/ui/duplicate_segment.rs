use kvstore::{Item, Store};

#[derive(Store)]
struct Shop {
    #[store(rename = "a")]
    x: Item<String>,
    a: Item<String>,
}

fn main() {}

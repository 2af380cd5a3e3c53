use kvstore::{Dynamic, Item, Store};

#[derive(Store)]
struct Shop {
    #[store(ttl = "30 minutes")]
    sessions: Dynamic<Item<String>>,
    #[store(ttl = "0s")]
    tokens: Dynamic<Item<String>>,
}

fn main() {}

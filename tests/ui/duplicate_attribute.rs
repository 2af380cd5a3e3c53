use kvstore::{Dynamic, Item, Store};

#[derive(Store)]
struct Shop {
    #[store(ttl = "1h")]
    #[store(ttl = "2h")]
    sessions: Dynamic<Item<String>>,
}

fn main() {}

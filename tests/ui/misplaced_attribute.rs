use kvstore::{Dynamic, Item, Store};

#[derive(Store)]
#[store(ttl = "1h")]
struct Shop {
    #[store(prefix = "shop")]
    sessions: Dynamic<Item<String>>,
}

fn main() {}

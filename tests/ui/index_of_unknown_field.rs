use kvstore::{Dynamic, Item, Store, UniqueIndex};

#[derive(Store)]
struct App {
    users: Dynamic<Item<String>>,
    #[store(index(of = user, key = len))]
    by_len: UniqueIndex<String>,
}

fn main() {}

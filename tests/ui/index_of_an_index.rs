use kvstore::{Dynamic, IndexOf, Item, Store, UniqueIndex};

#[derive(Store)]
struct App {
    users: Dynamic<Item<String>>,
    #[store(index(of = by_len, key = len))]
    by_name: UniqueIndex<String>,
    #[store(index(of = by_name, key = len))]
    by_len: IndexOf<String>,
}

fn main() {}

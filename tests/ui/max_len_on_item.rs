use kvstore::{Dynamic, Item, StreamOf, Store};

#[derive(Store)]
#[store(max_len = 10)]
struct Shop {
    #[store(max_len = 100)]
    settings: Item<String>,
    #[store(max_len = 100)]
    carts: Dynamic<Item<String>>,
    #[store(max_len = 0)]
    events: StreamOf<String>,
    #[store(max_len = "many")]
    log: StreamOf<String>,
    #[store(max_len = 5)]
    feeds: Dynamic<StreamOf<String>>,
}

fn main() {}

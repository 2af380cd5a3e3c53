use kvstore::{Dynamic, Item, MemoryBackend, Store};

#[derive(Store)]
struct Shop {
    users: Dynamic<Item<String>>,
}

fn main() {
    let shop = Shop::open(MemoryBackend::new());
    let _ = shop.nope();
}

use kvstore::{Item, Store};

#[derive(Store)]
struct Shop {
    open: Item<bool>,
}

fn main() {
    // The generated `Shop::open` is still there: no cascade of errors at the use site.
    let _shop = Shop::open(kvstore::MemoryBackend::new());
}

use kvstore::{Counter, Dynamic, MemoryBackend, Store};

#[derive(Store)]
struct Shop {
    views: Dynamic<Counter, u64>,
}

fn main() {
    let shop = Shop::open(MemoryBackend::new());
    let _ = shop.views().at("x");
}

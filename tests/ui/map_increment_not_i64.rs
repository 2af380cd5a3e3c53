use kvstore::{MapOf, MemoryBackend, Store};

#[derive(Store)]
struct Shop {
    names: MapOf<String, String>,
}

fn main() {
    let shop = Shop::open(MemoryBackend::new());
    let _ = shop.names().increment("alice", 1);
}

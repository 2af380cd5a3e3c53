use kvstore::{Dynamic, Item, MemoryBackend, Store};

#[derive(Store)]
struct Tenant {
    config: Item<String>,
}

#[derive(Store)]
struct Shop {
    tenants: Dynamic<Tenant>,
}

fn main() {
    let shop = Shop::open(MemoryBackend::new());
    let _ = shop.tenants().config();
}

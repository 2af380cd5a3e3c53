use kvstore::{Dynamic, Item, MemoryBackend, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
struct User {
    name: String,
}

#[derive(Store)]
struct Shop {
    users: Dynamic<Item<User>>,
}

fn main() {
    let shop = Shop::open(MemoryBackend::new());
    let _ = shop.users().set("a", &42u32);
}

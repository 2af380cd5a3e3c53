use kvstore::{Dynamic, Item, Store, UniqueIndex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
struct User {
    email: String,
}

#[derive(Store)]
struct App {
    users: Dynamic<Item<User>>,
    #[store(index(of = users, key = emial))]
    by_email: UniqueIndex<String>,
}

fn main() {}

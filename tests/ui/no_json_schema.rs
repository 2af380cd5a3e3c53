use kvstore::{Item, Store};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct NoSchema {
    name: String,
}

#[derive(Store)]
struct Shop {
    settings: Item<NoSchema>,
}

fn main() {}

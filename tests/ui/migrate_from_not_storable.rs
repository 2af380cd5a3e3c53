use kvstore::{Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Not `Serialize`/`Deserialize`/`JsonSchema`: it cannot have been stored.
struct Legacy {
    name: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Profile {
    first: String,
}

impl From<Legacy> for Profile {
    fn from(old: Legacy) -> Self {
        Profile { first: old.name }
    }
}

#[derive(Store)]
struct App {
    #[store(migrate_from(Legacy))]
    admin: Item<Profile>,
}

fn main() {}

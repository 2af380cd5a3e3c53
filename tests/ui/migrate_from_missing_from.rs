use kvstore::{Dynamic, Item, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
struct ProfileV1 {
    name: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Profile {
    first: String,
}

// No `impl From<ProfileV1> for Profile`.
#[derive(Store)]
struct App {
    #[store(migrate_from(ProfileV1))]
    profiles: Dynamic<Item<Profile>>,
}

fn main() {}

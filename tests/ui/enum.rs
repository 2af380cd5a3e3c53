use kvstore::{Item, Store};

#[derive(Store)]
enum Shop {
    Open { users: Item<String> },
    Closed,
}

fn main() {}

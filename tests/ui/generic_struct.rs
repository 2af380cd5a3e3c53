use kvstore::{Item, Store};

#[derive(Store)]
struct Shop<T> {
    users: Item<T>,
}

fn main() {}

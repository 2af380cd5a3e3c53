use kvstore::{Counter, Store};

#[derive(Store)]
struct App {
    #[store(migrate_from(u32))]
    visits: Counter,
}

fn main() {}

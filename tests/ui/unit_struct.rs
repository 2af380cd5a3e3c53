use kvstore::Store;

#[derive(Store)]
struct Shop;

fn main() {}

use kvstore::{MapOf, Store};

#[derive(Store)]
struct Shop {
    prices: MapOf<f64, String>,
}

fn main() {}

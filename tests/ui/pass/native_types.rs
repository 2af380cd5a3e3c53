//! The native container types as fields, inside `Dynamic`, with TTLs, used from code.
#![deny(warnings)]

use kvstore::{Bits, Dynamic, ListOf, MapOf, MemoryBackend, PackedInts, SortedSetOf, Store};
use std::time::Duration;

#[derive(Store)]
struct Queue {
    pending: ListOf<String>,
    processing: ListOf<String>,
}

#[derive(Store)]
#[store(prefix = "game")]
struct Game {
    board: SortedSetOf<String>,
    #[store(ttl = "7d")]
    weekly: Dynamic<SortedSetOf<String>, u32>,
    stats: Dynamic<MapOf<String, i64>, u64>,
    profile: MapOf<u64, String>,
    online: Bits,
    #[store(ttl = "1h")]
    hourly: Dynamic<PackedInts<u16>>,
    wins: PackedInts<i64>,
    #[store(colocate)]
    queues: Dynamic<Queue>,
}

async fn play(game: &Game) -> kvstore::Result<()> {
    game.board().add(&"ann".to_owned(), 3.5).await?;
    let _top: Vec<(String, f64)> = game.board().range_rev(0, 9).await?;
    let _rank: Option<usize> = game.weekly().at(7).rank(&"ann".to_owned()).await?;
    let _n: i64 = game.stats().at(1).increment("games", 1).await?;
    game.profile().set(42, &"hello".to_owned()).await?;
    let _prev: bool = game.online().set(42, true).await?;
    let _h: u16 = game.hourly().at("node").increment(13, 1).await?;
    let _sum: i64 = game.wins().sum(0, 10).await?;
    let q = game.queues().at("emails");
    q.pending().push_back(&"job".to_owned()).await?;
    let _moved: Option<String> = q.pending().move_front_to_back(&q.processing()).await?;
    let _next: Option<String> = q.pending().pop_front_blocking(Duration::from_millis(1)).await?;
    Ok(())
}

fn main() {
    let game = Game::open(MemoryBackend::new());
    let _ = play(&game);
    let _ = Game::schema();
}

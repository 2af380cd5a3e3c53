use kvstore::{ListOf, MemoryBackend, SortedSetOf, Store};

#[derive(Store)]
struct Game {
    board: SortedSetOf<String>,
    queue: ListOf<u64>,
}

fn main() {
    let game = Game::open(MemoryBackend::new());
    let _ = game.board().add(&42u32, 1.0);
    let _ = game.queue().push_back(&"job");
}

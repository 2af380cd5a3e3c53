//! A game leaderboard: a `SortedSetOf<String>` of player names by score (a Redis ZSET), with a
//! top 10, a player's position, a score bracket, and per-player stats in a `MapOf` (a Redis
//! HASH per player, bumped with `HINCRBY`).
//!
//! Run with `cargo run --example leaderboard` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example leaderboard`.

use kvstore::{Dynamic, MapOf, SortedSetOf, Store};

#[derive(Store)]
#[store(prefix = "example:leaderboard")]
struct Game {
    /// All-time scores: `example:leaderboard:board`, member = player name, score = points.
    board: SortedSetOf<String>,
    /// This week's scores; the key expires 7 days after its first `add`/`increment`.
    #[store(ttl = "7d")]
    weekly: SortedSetOf<String>,
    /// Per-player counters: `example:leaderboard:stats:<player>`, fields `games`, `wins`, `points`.
    stats: Dynamic<MapOf<String, i64>>,
}

const PLAYERS: u64 = 50;

fn player(i: u64) -> String {
    format!("player{i:02}")
}

/// Records one game: the points go to both boards and to the player's stats.
async fn record(game: &Game, name: &String, points: i64, won: bool) -> kvstore::Result<f64> {
    let total = game.board().increment(name, points as f64).await?;
    game.weekly().increment(name, points as f64).await?;
    let stats = game.stats().at(name);
    stats.increment("games", 1).await?;
    stats.increment("points", points).await?;
    if won {
        stats.increment("wins", 1).await?;
    }
    Ok(total)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let game = Game::open(kvstore::connect(&url).await?);
    println!("backend: {url}");
    // Start clean, in case an earlier run was interrupted.
    game.board().clear().await?;
    game.weekly().clear().await?;
    game.stats().clear().await?;

    // A first score for every player: `add` sets the score (and says whether the member is new).
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        // xorshift: cheap, deterministic pseudo-random numbers.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..PLAYERS {
        let points = (next() % 1_000) as i64;
        assert!(game.board().add(&player(i), points as f64).await?);
        game.weekly().add(&player(i), points as f64).await?;
        let stats = game.stats().at(player(i));
        stats
            .set_many([("games", 1i64), ("wins", 0), ("points", points)])
            .await?;
    }
    assert_eq!(game.board().len().await?, PLAYERS as usize);

    // More games: `increment` adds to a score atomically (ZINCRBY) and returns the new one.
    let mut expected_games = PLAYERS as i64;
    for round in 0..200 {
        let name = player(next() % PLAYERS);
        let points = (next() % 100) as i64;
        record(&game, &name, points, round % 3 == 0).await?;
        expected_games += 1;
    }
    let total = record(&game, &player(7), 2_500, true).await?; // a big win for player07
    expected_games += 1;
    println!("player07 scores 2500 and now has {total}");

    // Top 10: ranks 0..=9 by descending score.
    let top = game.board().range_rev(0, 9).await?;
    println!("top 10:");
    for (i, (name, score)) in top.iter().enumerate() {
        let wins = game.stats().at(name).get("wins").await?.unwrap_or(0);
        println!("  #{:<2} {name}  {score:>6}  ({wins} wins)", i + 1);
    }
    assert_eq!(top.len(), 10);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
    assert_eq!(top[0], (player(7), total));

    // `rank` counts from the lowest score (ZRANK); the position from the top is len - 1 - rank.
    let len = game.board().len().await?;
    let me = player(23);
    let rank = game.board().rank(&me).await?.expect("player23 has played");
    let position = len - 1 - rank;
    let score = game.board().score(&me).await?.expect("a score");
    println!(
        "{me}: score {score}, rank {rank} from the bottom, #{} from the top",
        position + 1
    );
    let everyone = game.board().range_rev(0, -1).await?;
    assert_eq!(everyone[position], (me.clone(), score));
    assert_eq!(game.board().rank(&"nobody".to_owned()).await?, None);

    // A score bracket, ascending (ZRANGEBYSCORE): who is between 500 and 600?
    let bracket = game.board().range_by_score(500.0, 600.0).await?;
    println!("{} players between 500 and 600 points", bracket.len());
    assert!(bracket.iter().all(|(_, s)| (500.0..=600.0).contains(s)));

    // The stats agree with the board: every point is in both places.
    let mut games = 0;
    for (name, score) in &everyone {
        let stats = game.stats().at(name);
        assert_eq!(stats.get("points").await?, Some(*score as i64));
        games += stats.get("games").await?.unwrap_or(0);
    }
    assert_eq!(games, expected_games);
    let mut entries = game.stats().at(player(7)).entries().await?;
    entries.sort();
    println!("player07 stats: {entries:?}");

    // The weekly board got the same points and carries the field's 7-day TTL.
    assert_eq!(game.weekly().range_rev(0, -1).await?, everyone);
    let ttl = game.weekly().ttl().await?.expect("a TTL");
    println!("weekly board expires in {}h", ttl.as_secs() / 3600);
    assert!(ttl.as_secs() > 6 * 24 * 3600);
    assert_eq!(game.board().ttl().await?, None);

    // Banning a player removes them from the board; the others move up.
    assert!(game.board().remove(&player(7)).await?);
    assert_eq!(game.board().range_rev(0, 0).await?, top[1..2]);

    game.board().clear().await?;
    game.weekly().clear().await?;
    let removed = game.stats().clear().await?;
    println!("cleaned up: {removed} stats keys");
    Ok(())
}

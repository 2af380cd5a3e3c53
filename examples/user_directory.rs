//! A user directory: sign-up with a unique email, lookup by email, a listing by country, and a
//! leaderboard page API whose cursor travels as JSON — all through secondary indexes.
//!
//! Run with `cargo run --example user_directory` (in memory), or against a server with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example user_directory`.

use kvstore::index::IndexCursor;
use kvstore::{Dynamic, Error, IndexOf, Item, OrderedIndex, Store, UniqueIndex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
    #[schemars(email)]
    email: String,
    country: String,
    score: i64,
}

/// Emails are unique whatever their case.
fn email_key(user: &User) -> Option<String> {
    Some(user.email.to_lowercase())
}

#[derive(Store)]
#[store(prefix = "example:directory")]
struct Directory {
    users: Dynamic<Item<User>>,
    #[store(index(of = users, key_fn = email_key))]
    user_by_email: UniqueIndex<String>,
    #[store(index(of = users, key = country))]
    users_by_country: IndexOf<String>,
    #[store(index(of = users, key = score))]
    leaderboard: OrderedIndex<i64>,
}

/// Signs a user up; `Ok(false)` when the email is taken.
async fn sign_up(dir: &Directory, id: &str, user: &User) -> kvstore::Result<bool> {
    match dir.users().set(id, user).await {
        Ok(()) => Ok(true),
        Err(Error::Unique { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One page of the leaderboard, lowest score first, for an API: the names and the cursor of the
/// next page as the JSON text a client sends back.
async fn leaderboard_page(
    dir: &Directory,
    cursor: Option<&str>,
) -> Result<(Vec<String>, Option<String>), Box<dyn std::error::Error>> {
    let after: Option<IndexCursor<i64, String>> = match cursor {
        Some(json) => Some(serde_json::from_str(json)?),
        None => None,
    };
    let page = dir.leaderboard().page(i64::MIN, i64::MAX, after, 3).await?;
    let names = page
        .items
        .iter()
        .map(|(_, u)| format!("{} ({})", u.name, u.score))
        .collect();
    let next = page.next.map(|c| serde_json::to_string(&c)).transpose()?;
    Ok((names, next))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let dir = Directory::open(kvstore::connect(&url).await?);
    dir.users().clear().await?; // a fresh run
    println!("backend: {url}");

    let people = [
        ("ada", "Ada", "ada@example.com", "GB", 36),
        ("bjarne", "Bjarne", "bjarne@example.com", "DK", 12),
        ("grace", "Grace", "grace@example.com", "US", 36),
        ("linus", "Linus", "linus@example.com", "FI", 21),
        ("ken", "Ken", "ken@example.com", "US", 12),
        ("margaret", "Margaret", "margaret@example.com", "US", 40),
        ("niklaus", "Niklaus", "niklaus@example.com", "CH", 5),
    ];
    for (id, name, email, country, score) in people {
        let user = User {
            name: name.into(),
            email: email.into(),
            country: country.into(),
            score,
        };
        assert!(sign_up(&dir, id, &user).await?, "{email} is free");
    }
    // The same email in other letters is taken.
    let copycat = User {
        name: "Not Ada".into(),
        email: "ADA@example.com".into(),
        country: "GB".into(),
        score: 0,
    };
    assert!(!sign_up(&dir, "copycat", &copycat).await?);
    println!("sign-up of ADA@example.com refused: the email is taken");

    let grace = dir.user_by_email().get("grace@example.com").await?;
    println!("grace@example.com -> {:?}", grace.map(|u| u.name));
    let us = dir.users_by_country().ids("US").await?;
    println!("in the US: {us:?}");
    assert_eq!(us, ["grace", "ken", "margaret"]);

    let top: Vec<String> = dir
        .leaderboard()
        .last(3)
        .await?
        .into_iter()
        .map(|(_, u)| u.name)
        .collect();
    println!("top 3: {top:?}");
    assert_eq!(top, ["Margaret", "Grace", "Ada"]);

    // The leaderboard, page by page, as a client would call it.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let (names, next) = leaderboard_page(&dir, cursor.as_deref()).await?;
        seen += names.len();
        println!("page: {names:?}");
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, people.len(), "every user once");
    println!("user_directory ok");
    Ok(())
}

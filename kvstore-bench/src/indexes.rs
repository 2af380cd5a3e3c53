//! Secondary indexes on standalone Redis, typed against typed (an indexed write against a plain
//! one) and against the raw commands a hand-written index would send: what keeping and reading
//! an index costs. 64 tasks in flight, as the `redis set/get (64 in flight)` rows.

use std::sync::Arc;

use kvstore::{Dynamic, Item, OrderedIndex, RedisBackend, Store, UniqueIndex};
use redis::AsyncCommands;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{concurrent, Config, Res, Row};

const TASKS: u64 = 64;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
    email: String,
    score: i64,
}

fn user(i: u64) -> User {
    User {
        name: format!("user {i}"),
        email: format!("user{i}@example.com"),
        score: (i % 1000) as i64,
    }
}

#[derive(Store)]
struct Plain {
    users: Dynamic<Item<User>, u64>,
}

#[derive(Store)]
struct Indexed {
    users: Dynamic<Item<User>, u64>,
    #[store(index(of = users, key = email))]
    by_email: UniqueIndex<String, u64>,
    #[store(index(of = users, key = score))]
    by_score: OrderedIndex<i64, u64>,
}

fn row(workload: &str, note: &str) -> Row {
    Row {
        workload: workload.into(),
        note: note.into(),
        ..Row::default()
    }
}

pub async fn rows(cfg: &Config, url: &str, rows: &mut Vec<Row>) -> Res<()> {
    let backend = RedisBackend::connect(url).await?;
    let raw = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let ops = cfg.single_ops;
    let mut set = row(
        "index: redis set, a unique + an ordered index (64 in flight)",
        "raw column: the same typed set without indexes",
    );
    let mut get = row(
        "index: redis unique get(email) (64 in flight)",
        "raw column: a typed get by id",
    );
    let mut top = row(
        "index: redis last(10) of the records",
        "raw column: ZRANGE BYLEX REV LIMIT 10 + MGET + serde_json",
    );
    for round in 0..cfg.rounds {
        let indexed = Arc::new(Indexed::open_with_prefix(
            backend.clone(),
            &format!("bench:idx:{round}"),
        ));
        let plain = Arc::new(Plain::open_with_prefix(
            backend.clone(),
            &format!("bench:plain:{round}"),
        ));
        let s = indexed.clone();
        set.typed.push(
            concurrent(ops, TASKS, move |i| {
                let s = s.clone();
                async move { Ok(s.users().set(i, &user(i)).await?) }
            })
            .await?,
        );
        let s = plain.clone();
        set.raw.push(
            concurrent(ops, TASKS, move |i| {
                let s = s.clone();
                async move { Ok(s.users().set(i, &user(i)).await?) }
            })
            .await?,
        );
        let s = indexed.clone();
        get.typed.push(
            concurrent(ops, TASKS, move |i| {
                let s = s.clone();
                async move {
                    let email = format!("user{i}@example.com");
                    s.by_email().get(email).await?.ok_or("missing")?;
                    Ok(())
                }
            })
            .await?,
        );
        let s = plain.clone();
        get.raw.push(
            concurrent(ops, TASKS, move |i| {
                let s = s.clone();
                async move {
                    s.users().get(i).await?.ok_or("missing")?;
                    Ok(())
                }
            })
            .await?,
        );
        let reads = ops / 10;
        let s = indexed.clone();
        top.typed.push(
            concurrent(reads, TASKS, move |_| {
                let s = s.clone();
                async move {
                    let found = s.by_score().last(10).await?;
                    if found.len() != 10 {
                        return Err("short".into());
                    }
                    Ok(())
                }
            })
            .await?,
        );
        let prefix = format!("bench:idx:{round}");
        let c = raw.clone();
        top.raw.push(
            concurrent(reads, TASKS, move |_| {
                let (mut c, prefix) = (c.clone(), prefix.clone());
                async move {
                    let members: Vec<String> = redis::cmd("ZRANGE")
                        .arg(format!("{prefix}:by_score"))
                        .arg("+")
                        .arg("-")
                        .arg("BYLEX")
                        .arg("REV")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(10)
                        .query_async(&mut c)
                        .await?;
                    let keys: Vec<String> = members
                        .iter()
                        .filter_map(|m| m.split_once(':'))
                        .map(|(_, id)| format!("{prefix}:users:{id}"))
                        .collect();
                    let values: Vec<Option<Vec<u8>>> = c.mget(&keys).await?;
                    for v in values {
                        let _u: User = serde_json::from_slice(&v.ok_or("missing")?)?;
                    }
                    Ok(())
                }
            })
            .await?,
        );
        indexed.users().clear().await?;
        plain.users().clear().await?;
    }
    rows.extend([set, get, top]);
    Ok(())
}

//! `RedbBackend`: the typed layer on a redb file against raw redb with the same serde_json
//! values and the same durability (`Durability::Immediate`: every commit fsynced), and against
//! the memory backend, so the cost of persistence shows.
//!
//! Raw redb: one table `&str -> &[u8]`, one write transaction per `set` (each caller commits its
//! own; redb runs one write transaction at a time), one read transaction per `get`, one write
//! transaction for a batch of 1,000, and a range scan for the keys.

use std::sync::Arc;

use kvstore::{MemoryBackend, RedbBackend};
use redb::{ReadableDatabase, TableDefinition};

use crate::{concurrent, profile, timed, Bench, Config, Profile, Res, Row};

const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

fn row(workload: &str, note: &str) -> Row {
    Row {
        workload: workload.into(),
        note: note.into(),
        ..Row::default()
    }
}

fn raw_set(db: &redb::Database, key: &str, value: &Profile) -> Res<()> {
    let bytes = serde_json::to_vec(value)?;
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(RAW)?;
        table.insert(key, bytes.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

/// Runs a blocking raw redb call without stalling the runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> Res<T>) -> Res<T> {
    tokio::task::block_in_place(f)
}

pub async fn rows(cfg: &Config, rows: &mut Vec<Row>) -> Res<()> {
    let writes = if cfg.quick { 300 } else { 2_000 };
    let reads = cfg.single_ops;
    let batch = cfg.batch;
    let scan_ids = cfg.scan_ids;
    let note = "durable (fsync per commit)";
    let mut set1 = row("redb set (1 task)", note);
    let mut set64 = row("redb set (64 in flight)", "typed: group commit");
    let mut get = row("redb get (1 task)", "");
    let mut many = row("redb set_many 1k", "one transaction");
    let mut keys = row("redb keys() 100k", "key order");
    let mut vs_memory_set = row("redb ÷ memory: typed set (1 task)", "typed: redb vs memory");
    let mut vs_memory_get = row("redb ÷ memory: typed get (1 task)", "typed: redb vs memory");
    let values: Arc<Vec<Profile>> = Arc::new((0..reads.max(writes)).map(profile).collect());

    for _ in 0..cfg.rounds {
        let dir = tempfile::tempdir()?;
        let backend = RedbBackend::builder(dir.path().join("typed.redb"))
            .background_sweep(false)
            .open()?;
        let store = Bench::open(backend);
        let users = store.profiles();
        let db = Arc::new(redb::Database::create(dir.path().join("raw.redb"))?);
        {
            let txn = db.begin_write()?;
            txn.open_table(RAW)?;
            txn.commit()?;
        }

        // set, one task.
        set1.typed.push(
            timed(writes, false, |i| {
                let (u, v) = (users.clone(), values.clone());
                async move {
                    u.set(i, &v[i as usize]).await?;
                    Ok(())
                }
            })
            .await?,
        );
        set1.raw.push(
            timed(writes, false, |i| {
                let (db, v) = (db.clone(), values.clone());
                async move { blocking(|| raw_set(&db, &format!("bench:profiles:{i}"), &v[i as usize])) }
            })
            .await?,
        );

        // set, 64 in flight.
        let u = users.clone();
        let v = values.clone();
        set64.typed.push(
            concurrent(writes, 64, move |i| {
                let (u, v) = (u.clone(), v.clone());
                async move {
                    u.set(i, &v[i as usize]).await?;
                    Ok(())
                }
            })
            .await?,
        );
        let (d, v) = (db.clone(), values.clone());
        set64.raw.push(
            concurrent(writes, 64, move |i| {
                let (db, v) = (d.clone(), v.clone());
                async move { blocking(|| raw_set(&db, &format!("bench:profiles:{i}"), &v[i as usize])) }
            })
            .await?,
        );

        // set_many of 1,000 in one step (also what the reads below read).
        let entries: Vec<(u64, Profile)> = (0..batch)
            .map(|i| (i, values[i as usize].clone()))
            .collect();
        many.typed.push(
            timed(1, false, |_| {
                let (u, e) = (users.clone(), &entries);
                async move {
                    u.set_many(e.iter().map(|(i, p)| (*i, p))).await?;
                    Ok(())
                }
            })
            .await
            .map(|s| crate::Sample {
                ops_per_sec: s.ops_per_sec * batch as f64,
                ..s
            })?,
        );
        many.raw.push(
            timed(1, false, |_| {
                let (db, e) = (db.clone(), &entries);
                async move {
                    blocking(|| {
                        let txn = db.begin_write()?;
                        {
                            let mut table = txn.open_table(RAW)?;
                            for (i, p) in e {
                                let bytes = serde_json::to_vec(p)?;
                                table.insert(
                                    format!("bench:profiles:{i}").as_str(),
                                    bytes.as_slice(),
                                )?;
                            }
                        }
                        txn.commit()?;
                        Ok(())
                    })
                }
            })
            .await
            .map(|s| crate::Sample {
                ops_per_sec: s.ops_per_sec * batch as f64,
                ..s
            })?,
        );

        // get, one task (ids that exist).
        get.typed.push(
            timed(reads, false, |i| {
                let u = users.clone();
                async move {
                    u.get(i % batch).await?.ok_or("missing")?;
                    Ok(())
                }
            })
            .await?,
        );
        get.raw.push(
            timed(reads, false, |i| {
                let db = db.clone();
                async move {
                    let txn = db.begin_read()?;
                    let table = txn.open_table(RAW)?;
                    let key = format!("bench:profiles:{}", i % batch);
                    let guard = table.get(key.as_str())?.ok_or("missing")?;
                    let _: Profile = serde_json::from_slice(guard.value())?;
                    Ok(())
                }
            })
            .await?,
        );

        // The memory backend, same typed workloads.
        let memory = Bench::open(MemoryBackend::new());
        let m = memory.profiles();
        vs_memory_set
            .typed
            .push(set1.typed.last().cloned().unwrap_or_default());
        vs_memory_set.raw.push(
            timed(writes, false, |i| {
                let (m, v) = (m.clone(), values.clone());
                async move {
                    m.set(i, &v[i as usize]).await?;
                    Ok(())
                }
            })
            .await?,
        );
        vs_memory_get
            .typed
            .push(get.typed.last().cloned().unwrap_or_default());
        vs_memory_get.raw.push(
            timed(reads, false, |i| {
                let m = m.clone();
                async move {
                    m.get(i % writes).await?.ok_or("missing")?;
                    Ok(())
                }
            })
            .await?,
        );
    }

    // keys() of 100k: filled once (in batches), then listed each round.
    let dir = tempfile::tempdir()?;
    let store = Bench::open(
        RedbBackend::builder(dir.path().join("scan.redb"))
            .background_sweep(false)
            .open()?,
    );
    let scan = store.scan();
    let db = redb::Database::create(dir.path().join("raw-scan.redb"))?;
    for chunk in (0..scan_ids).collect::<Vec<_>>().chunks(5_000) {
        let p = profile(1);
        scan.set_many(chunk.iter().map(|i| (*i, &p))).await?;
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(RAW)?;
            let bytes = serde_json::to_vec(&p)?;
            for i in chunk {
                table.insert(format!("bench:scan:{i}").as_str(), bytes.as_slice())?;
            }
        }
        txn.commit()?;
    }
    for _ in 0..cfg.rounds {
        let sample = timed(1, false, |_| {
            let s = scan.clone();
            async move {
                let ids = s.keys().await?;
                assert_eq!(ids.len() as u64, scan_ids);
                Ok(())
            }
        })
        .await?;
        keys.typed.push(crate::Sample {
            ops_per_sec: sample.ops_per_sec * scan_ids as f64,
            ..sample
        });
        let sample = timed(1, false, |_| {
            let db = &db;
            async move {
                let txn = db.begin_read()?;
                let table = txn.open_table(RAW)?;
                let mut ids = Vec::with_capacity(scan_ids as usize);
                for row in table.range::<&str>("bench:scan:"..)? {
                    let (k, _) = row?;
                    let Some(id) = k.value().strip_prefix("bench:scan:") else {
                        break;
                    };
                    ids.push(id.parse::<u64>()?);
                }
                assert_eq!(ids.len() as u64, scan_ids);
                Ok(())
            }
        })
        .await?;
        keys.raw.push(crate::Sample {
            ops_per_sec: sample.ops_per_sec * scan_ids as f64,
            ..sample
        });
    }
    rows.extend([set1, set64, get, many, keys, vs_memory_set, vs_memory_get]);
    Ok(())
}

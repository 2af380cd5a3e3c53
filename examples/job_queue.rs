//! A job queue on a stream consumer group: a producer appends jobs to a stream; three workers
//! (consumers of the group `workers`) handle them with `StreamWorker`, which acknowledges a
//! job when its handler succeeds. One worker is killed in the middle of its jobs: they stay
//! pending, and the other workers claim them once idle. A job an old producer wrote without a
//! task breaks the schema: it is never handed to a worker, and lands in the dead letters.
//!
//! Run with `cargo run --example job_queue` (in memory), or with
//! `KVSTORE_URL=redb:///tmp/jobs.redb`, `KVSTORE_URL=redis://127.0.0.1:6379` or
//! `KVSTORE_URL=redis+cluster://127.0.0.1:7000`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvstore::stream::{Delivery, WorkerReport};
use kvstore::{MapOf, Store, StreamOf};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Job {
    id: u64,
    #[schemars(length(min = 1, max = 64))]
    task: String,
}

#[derive(Store)]
#[store(prefix = "example:jobs")]
struct Jobs {
    /// The queue (`example:jobs:queue`); the group's dead letters are at
    /// `example:jobs:queue:dead:workers`.
    queue: StreamOf<Job>,
    /// How many times each job was handled (`HINCRBY`), to check the run.
    handled: MapOf<u64, i64>,
}

/// What an older producer wrote at the same key: a job without constraints.
#[derive(Serialize, Deserialize, JsonSchema)]
struct OldJob {
    id: u64,
    task: String,
}

#[derive(Store)]
#[store(prefix = "example:jobs")]
struct OldProducer {
    queue: StreamOf<OldJob>,
}

const JOBS: u64 = 30;
const POISON: u64 = 999;
const GROUP: &str = "workers";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let backend = kvstore::connect(&url).await?;
    let jobs = Jobs::open(backend.clone());
    let group = jobs.queue().group(GROUP).max_deliveries(5);
    // Start clean, in case an earlier run was interrupted.
    jobs.queue().clear().await?;
    jobs.handled().clear().await?;
    group.clear_dead_letters().await?;
    println!("backend: {url}, queue {}", jobs.queue().key());

    assert!(group.create_from_beginning().await?);
    assert!(!group.create_from_beginning().await?, "it exists now");

    // The producer: jobs, and one an old producer wrote without a task.
    for id in 0..JOBS {
        let task = format!("send email {id}");
        jobs.queue().append(&Job { id, task }).await?;
        if id == 10 {
            let old = OldProducer::open(backend.clone());
            let task = String::new();
            old.queue().append(&OldJob { id: POISON, task }).await?;
        }
    }

    // Worker 3 will be killed: it takes two jobs and hangs on them until aborted.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let doomed_took = Arc::new(AtomicU64::new(0));
    let doomed = {
        let took = Arc::clone(&doomed_took);
        let worker = group
            .worker("worker-3")
            .concurrency(2)
            .poll(Duration::from_millis(50));
        tokio::spawn(worker.run(
            move |job: Delivery<Job>| {
                let took = Arc::clone(&took);
                async move {
                    println!("worker-3 took job {} and hangs", job.value.id);
                    took.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<Result<(), String>>().await
                }
            },
            shutdown(),
        ))
    };
    let started = Instant::now();
    while doomed_took.load(Ordering::SeqCst) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "worker-3 took no job"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.abort();
    assert!(doomed.await.unwrap_err().is_cancelled());
    println!("worker-3 killed with 2 jobs unacknowledged");

    // The healthy workers: each handles up to 4 jobs at once, and claims jobs idle for 300 ms
    // (a job takes a few milliseconds: far less).
    let mut workers = Vec::new();
    for name in ["worker-1", "worker-2"] {
        let worker = group
            .worker(name)
            .concurrency(4)
            .claim_idle_after(Duration::from_millis(300))
            .claim_every(Duration::from_millis(50))
            .poll(Duration::from_millis(50));
        let jobs = Jobs::open(backend.clone());
        let handle = tokio::spawn(worker.run(
            move |job: Delivery<Job>| {
                let handled = jobs.handled();
                async move {
                    if job.deliveries > 1 {
                        println!(
                            "{name} handles job {} (delivery {})",
                            job.value.id, job.deliveries
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await; // the work
                    handled.increment(job.value.id, 1).await?;
                    Ok::<(), kvstore::Error>(())
                }
            },
            shutdown(),
        ));
        workers.push((name, handle));
    }

    // Wait until every job was handled and nothing is pending, then stop the workers.
    let started = Instant::now();
    loop {
        let handled = jobs.handled().len().await?;
        if handled as u64 == JOBS && group.pending().await? == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "stuck at {handled} jobs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true)?;
    let mut total = WorkerReport::default();
    for (name, handle) in workers {
        let report = handle.await??;
        println!("{name}: {report:?}");
        total.acked += report.acked;
        total.claimed += report.claimed;
        total.dead_lettered += report.dead_lettered;
    }

    // Every job was handled at least once, and acknowledged exactly once: the workers'
    // acknowledgements removed 30 pending entries in all, and none is left.
    let handled: BTreeMap<u64, i64> = jobs.handled().entries().await?.into_iter().collect();
    assert_eq!(
        handled.keys().copied().collect::<Vec<_>>(),
        (0..JOBS).collect::<Vec<_>>()
    );
    assert!(handled.values().all(|n| *n >= 1));
    assert_eq!(total.acked, JOBS);
    assert_eq!(group.pending().await?, 0);
    assert!(
        total.claimed >= 2,
        "worker-3's jobs were claimed: {total:?}"
    );

    // The poison job never reached a worker: it is in the dead letters, with why and as stored.
    let dead = group.dead_letters(10).await?;
    assert_eq!(dead.len(), 1);
    println!(
        "dead letter {}: {} ({})",
        dead[0].id, dead[0].raw, dead[0].error
    );
    assert!(dead[0].raw.contains(&format!("\"id\":{POISON}")));
    assert_eq!(total.dead_lettered, 1);

    println!("{JOBS} jobs handled, each acknowledged once; 1 in the dead letters");
    jobs.queue().clear().await?;
    jobs.handled().clear().await?;
    group.clear_dead_letters().await?;
    Ok(())
}

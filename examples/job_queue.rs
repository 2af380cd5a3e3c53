//! A reliable job queue on native lists: producers push jobs onto `pending`; a worker takes one
//! with `move_front_to_back` (Redis `LMOVE`), which moves it atomically into the worker's own
//! processing list, so a worker that crashes mid-job leaves the job there instead of losing it.
//! A recovery step moves a dead worker's jobs back to `pending`.
//!
//! Run with `cargo run --example job_queue` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example job_queue`, or a cluster with
//! `KVSTORE_URL=redis+cluster://127.0.0.1:7000 cargo run --example job_queue`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvstore::{Dynamic, Error, ListOf, MapOf, Store};
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
    /// One hash tag per queue (`example:jobs:queues:{emails}:...`): every list of a queue is in
    /// one Redis Cluster slot, as `LMOVE` between them requires.
    #[store(colocate)]
    queues: Dynamic<Queue>,
}

#[derive(Store)]
struct Queue {
    /// Jobs waiting for a worker.
    pending: ListOf<Job>,
    /// One list per worker id: the job it is working on.
    processing: Dynamic<ListOf<Job>, u64>,
    /// Wake-up tokens for idle workers (one per pushed job; only a hint, losing one is harmless).
    wakeups: ListOf<u64>,
    /// How many times each job id was processed (`HINCRBY`), to check the run.
    done: MapOf<u64, i64>,
}

const PRODUCERS: u64 = 3;
const JOBS_EACH: u64 = 20;
const WORKERS: u64 = 3;
const CRASHING_WORKER: u64 = 99;

/// Pushes `JOBS_EACH` jobs, each with a wake-up token for idle workers.
async fn produce(queue: Queue, producer: u64) -> kvstore::Result<()> {
    for n in 0..JOBS_EACH {
        let task = format!("send email {n} of batch {producer}");
        let job = Job {
            id: producer * 1_000 + n,
            task,
        };
        queue.pending().push_back(&job).await?;
        queue.wakeups().push_back(&job.id).await?;
    }
    Ok(())
}

/// Takes jobs until the producers are done and `pending` is empty. With `crash`, the worker
/// takes one job and dies without acknowledging it.
async fn worker(
    queue: Queue,
    id: u64,
    closed: Arc<AtomicBool>,
    crash: bool,
) -> kvstore::Result<u64> {
    let mine = queue.processing().at(id);
    let mut processed = 0;
    loop {
        // Read the flag *before* trying: if it was already set and `pending` is empty, no job
        // can arrive any more.
        let was_closed = closed.load(Ordering::SeqCst);
        match queue.pending().move_front_to_back(&mine).await? {
            Some(_) if crash => return Ok(processed), // crashed: the job stays in `mine`
            Some(job) => {
                tokio::time::sleep(Duration::from_millis(1)).await; // the work
                queue.done().increment(job.id, 1).await?;
                // Ack: this worker's list holds exactly the job it just moved there.
                assert_eq!(mine.pop_back().await?, Some(job));
                processed += 1;
            }
            None if was_closed => return Ok(processed),
            // Idle: sleep until a producer pushes a wake-up token (BLPOP), at most 50 ms.
            None => {
                queue
                    .wakeups()
                    .pop_front_blocking(Duration::from_millis(50))
                    .await?;
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let jobs = Jobs::open(kvstore::connect(&url).await?);
    let queue = jobs.queues().at("emails");
    jobs.queues().clear().await?; // start clean, in case an earlier run was interrupted
    println!("backend: {url}, queue {}", queue.pending().key());

    // An invalid job is refused before anything is written.
    let bad = Job {
        id: 0,
        task: String::new(),
    };
    assert!(matches!(
        queue.pending().push_back(&bad).await,
        Err(Error::Validation { .. })
    ));

    // Nothing is queued yet: an idle wait (`BLPOP`) returns `None` when its timeout is over.
    let started = Instant::now();
    let idle = queue
        .wakeups()
        .pop_front_blocking(Duration::from_millis(100))
        .await?;
    assert_eq!(idle, None);
    assert!(started.elapsed() >= Duration::from_millis(100));

    // A worker that will crash starts alone and waits; producers start pushing; it takes the
    // first job and dies. Then the healthy workers start, while the producers go on.
    let closed = Arc::new(AtomicBool::new(false));
    let crashed = tokio::spawn(worker(queue.clone(), CRASHING_WORKER, closed.clone(), true));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| tokio::spawn(produce(queue.clone(), p)))
        .collect();
    crashed.await??;
    let workers: Vec<_> = (1..=WORKERS)
        .map(|id| tokio::spawn(worker(queue.clone(), id, closed.clone(), false)))
        .collect();
    for producer in producers {
        producer.await??;
    }
    closed.store(true, Ordering::SeqCst);
    for (id, w) in (1..=WORKERS).zip(workers) {
        println!("worker {id} processed {} jobs", w.await??);
    }

    // Recovery: the jobs in a dead worker's processing list go back to `pending`. Every live
    // worker has acked, and an empty list has no key, so `keys()` lists the dead workers here
    // (a real system would tell them apart with a heartbeat key with a TTL). A worker that dies
    // after the work but before its ack gets its job run again: delivery is at least once, so
    // make jobs idempotent. This one died before doing any work.
    let dead = queue.processing().keys().await?;
    assert_eq!(dead, [CRASHING_WORKER]);
    let stuck = queue.processing().at(CRASHING_WORKER);
    let left = stuck.range(0, -1).await?;
    println!("worker {CRASHING_WORKER} died holding {left:?}");
    assert_eq!(left.len(), 1);
    while let Some(job) = stuck.move_front_to_back(&queue.pending()).await? {
        println!("recovered job {} to pending", job.id);
    }
    let recovered = worker(queue.clone(), 1, closed.clone(), false).await?;
    println!("worker 1 processed {recovered} recovered job(s)");

    // Every job was processed exactly once, and nothing is left in any list.
    let mut done = queue.done().entries().await?;
    done.sort();
    let expected: Vec<(u64, i64)> = (0..PRODUCERS)
        .flat_map(|p| (0..JOBS_EACH).map(move |n| (p * 1_000 + n, 1)))
        .collect();
    assert_eq!(done, expected);
    assert_eq!(queue.pending().len().await?, 0);
    assert_eq!(queue.processing().count().await?, 0);
    println!("{} jobs, each processed exactly once", done.len());

    jobs.queues().clear().await?;
    Ok(())
}

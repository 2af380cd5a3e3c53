//! [`StreamGroup<T>`]: a consumer group of a [`StreamOf<T>`], its dead letters, and
//! [`StreamWorker`], which runs a handler over the group's deliveries.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stream::StreamOf;
use crate::backend::command::{Command, Reply, StreamId, StreamOp, MAX_BLOCKING_WAIT};
use crate::error::{Error, InvalidKeyReason, Result};
use crate::layout::is_valid_name;
use crate::value::{Json, LeafCodec, Storable};

/// The segment between a stream's key and a group's name in the key of the group's dead-letter
/// stream: `<stream key>:dead:<group>`.
pub(crate) const DEAD_SEGMENT: &str = "dead";

/// An entry delivered to a consumer of a [`StreamGroup`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Delivery<T> {
    /// The entry's id: pass it to [`StreamGroup::ack`] once the entry is handled.
    pub id: StreamId,
    /// The entry's value, decoded and validated.
    pub value: T,
    /// How many times the group delivered it, this delivery included: 1 for a fresh read,
    /// more for an entry taken over with [`StreamGroup::claim_idle`].
    pub deliveries: u64,
}

impl<T> Delivery<T> {
    /// A delivery of `value` as entry `id`, delivered `deliveries` times: what a group hands a
    /// consumer, made by hand — to unit-test a handler without a stream.
    ///
    /// ```
    /// use kvstore::stream::Delivery;
    /// use kvstore::StreamId;
    ///
    /// let d = Delivery::new(StreamId { ms: 1, seq: 0 }, "job".to_owned(), 2);
    /// assert_eq!((d.value.as_str(), d.deliveries), ("job", 2));
    /// ```
    pub fn new(id: StreamId, value: T, deliveries: u64) -> Delivery<T> {
        Delivery {
            id,
            value,
            deliveries,
        }
    }
}

/// An entry moved to a group's dead-letter stream: it did not decode or validate (it never
/// reached a consumer), or it was delivered more than the group's
/// [`max_deliveries`](StreamGroup::max_deliveries) without an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The original entry's id in the stream.
    pub id: StreamId,
    /// How many times the group delivered it, counting the delivery that moved it here.
    pub deliveries: u64,
    /// Why it was moved: the decode or validation error, or the delivery limit.
    pub error: String,
    /// The entry's stored text (lossy UTF-8; cut short if it would not fit the backend's value
    /// size limit).
    pub raw: String,
}

/// A consumer group of a stream (Redis's `XGROUP`/`XREADGROUP`): each entry appended is
/// delivered to one consumer of the group, stays pending until acknowledged, and can be taken
/// over by another consumer when left idle (at-least-once delivery).
///
/// Built by [`StreamOf::group`]; cheap to clone. Entries that do not decode or validate are
/// never handed to a consumer: they are moved to the group's dead-letter stream, at
/// `<stream key>:dead:<group>`, and acknowledged (see [`StreamGroup::dead_letters`]).
pub struct StreamGroup<T> {
    stream: StreamOf<T>,
    inner: Arc<GroupInner>,
    max_deliveries: Option<u64>,
}

struct GroupInner {
    name: String,
    dead_key: String,
    /// Why the group's name cannot be used, if it cannot.
    error: Option<InvalidKeyReason>,
}

impl<T> Clone for StreamGroup<T> {
    fn clone(&self) -> Self {
        StreamGroup {
            stream: self.stream.clone(),
            inner: Arc::clone(&self.inner),
            max_deliveries: self.max_deliveries,
        }
    }
}

impl<T> fmt::Debug for StreamGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamGroup")
            .field("stream", &self.stream.leaf)
            .field("name", &self.inner.name)
            .field("max_deliveries", &self.max_deliveries)
            .finish()
    }
}

impl<T: Storable> StreamOf<T> {
    /// The consumer group `name` of this stream (create it with
    /// [`create_from_beginning`](StreamGroup::create_from_beginning) or
    /// [`create_from_end`](StreamGroup::create_from_end)). A name is made of ASCII letters,
    /// digits, `_`, `.` and `-`, as a field's (it is part of the dead-letter stream's key);
    /// another makes every call an [`Error::InvalidKey`].
    pub fn group(&self, name: &str) -> StreamGroup<T> {
        let error = (!is_valid_name(name)).then(|| InvalidKeyReason::BadName(name.to_owned()));
        StreamGroup {
            stream: self.clone(),
            inner: Arc::new(GroupInner {
                name: name.to_owned(),
                dead_key: format!("{}:{DEAD_SEGMENT}:{name}", self.leaf.key),
                error,
            }),
            max_deliveries: None,
        }
    }
}

/// A raw delivery: id, stored bytes, delivery count.
type Raw = (StreamId, Vec<u8>, u64);

impl<T: Storable> StreamGroup<T> {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The key of the group's dead-letter stream: `<stream key>:dead:<group>`.
    pub fn dead_letter_key(&self) -> &str {
        &self.inner.dead_key
    }

    /// Moves an entry claimed after `n` deliveries without an acknowledgement to the
    /// dead-letter stream (and acknowledges it) instead of delivering it an `n + 1`th time.
    /// Without it, entries are redelivered for as long as they are claimed.
    pub fn max_deliveries(mut self, n: u64) -> Self {
        self.max_deliveries = Some(n);
        self
    }

    /// The stream's key, once the group's name is checked.
    fn key(&self) -> Result<&str> {
        let key = self.stream.leaf.key()?;
        match &self.inner.error {
            None => Ok(key),
            Some(reason) => Err(Error::InvalidKey {
                key: self.inner.dead_key.clone(),
                reason: reason.clone(),
            }),
        }
    }

    async fn run(&self, op: StreamOp<'_>) -> Result<Reply> {
        let command = Command::Stream {
            key: self.key()?,
            op,
        };
        self.stream.leaf.ctx.execute(command).await
    }

    async fn create(&self, from_start: bool) -> Result<bool> {
        let op = StreamOp::CreateGroup {
            group: self.name(),
            from_start,
        };
        let command = Command::Stream {
            key: self.key()?,
            op,
        };
        self.run(op).await?.into_bool(&command)
    }

    /// Creates the group, delivering every entry already in the stream (`XGROUP CREATE key
    /// group 0 MKSTREAM`; a missing stream is created empty). Returns false, and changes
    /// nothing, when the group existed.
    pub async fn create_from_beginning(&self) -> Result<bool> {
        self.create(true).await
    }

    /// Creates the group, delivering only the entries appended from now on (`XGROUP CREATE
    /// key group $ MKSTREAM`). Returns false, and changes nothing, when the group existed.
    pub async fn create_from_end(&self) -> Result<bool> {
        self.create(false).await
    }

    /// Up to `count` entries never delivered to the group (`count` 0: no limit), oldest first,
    /// delivered to `consumer` (`XREADGROUP ... STREAMS key >`): each is pending, owned by
    /// `consumer`, until [`ack`](Self::ack)ed. With `block`, when there is none, waits up to
    /// that long for an append (the wait runs as a blocking `XREAD` on a connection of its
    /// own, never holding up other calls); empty when none came.
    ///
    /// An entry that does not decode or validate is moved to the dead-letter stream and
    /// acknowledged, and not returned (the read goes on after it: an empty answer means there
    /// was nothing new, or nothing came in time). A missing stream or group is an error naming
    /// the key.
    pub async fn read(
        &self,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Delivery<T>>> {
        Ok(self.read_counted(consumer, count, block).await?.0)
    }

    /// [`read`](Self::read), and how many entries went to the dead letters.
    async fn read_counted(
        &self,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<(Vec<Delivery<T>>, u64)> {
        let key = self.key()?;
        let wait = block
            .filter(|w| !w.is_zero())
            .map(|w| w.min(MAX_BLOCKING_WAIT));
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        let mut dead = 0;
        loop {
            // The newest id before the read: an entry appended after the read has a greater
            // one, so the wait below sees it.
            let newest = match wait {
                None => StreamId::MIN,
                Some(_) => {
                    let op = StreamOp::Range {
                        start: StreamId::MAX,
                        end: StreamId::MIN,
                        count: 1,
                        rev: true,
                    };
                    let command = Command::Stream { key, op };
                    let newest = self.run(op).await?.into_entries(&command)?;
                    newest.first().map_or(StreamId::MIN, |(id, _)| *id)
                }
            };
            let op = StreamOp::ReadGroup {
                group: self.name(),
                consumer,
                count,
            };
            let command = Command::Stream { key, op };
            let raw = self.run(op).await?.into_entries(&command)?;
            let read_some = !raw.is_empty();
            let (deliveries, moved) = self
                .sort(raw.into_iter().map(|(id, v)| (id, v, 1)).collect())
                .await?;
            dead += moved;
            if !deliveries.is_empty() {
                return Ok((deliveries, dead));
            }
            if read_some {
                // All dead letters: there may be more entries after them.
                continue;
            }
            let Some(deadline) = deadline else {
                return Ok((deliveries, dead));
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok((deliveries, dead));
            }
            let op = StreamOp::ReadAfter {
                after: newest,
                count: 1,
                block: Some(left),
            };
            let command = Command::Stream { key, op };
            if self.run(op).await?.into_entries(&command)?.is_empty() {
                return Ok((Vec::new(), dead));
            }
        }
    }

    /// Acknowledges entries (`XACK`): they are no longer pending. Returns how many were
    /// pending.
    pub async fn ack(&self, ids: &[StreamId]) -> Result<u64> {
        let op = StreamOp::Ack {
            group: self.name(),
            ids,
        };
        let command = Command::Stream {
            key: self.key()?,
            op,
        };
        Ok(self.run(op).await?.into_len(&command)? as u64)
    }

    /// How many entries were delivered and not acknowledged yet (`XPENDING key group`). A
    /// missing stream or group is an error naming the key.
    pub async fn pending(&self) -> Result<u64> {
        let op = StreamOp::Pending { group: self.name() };
        let command = Command::Stream {
            key: self.key()?,
            op,
        };
        Ok(self.run(op).await?.into_len(&command)? as u64)
    }

    /// Takes over up to `count` entries that were delivered (to any consumer) and left
    /// unacknowledged for at least `min_idle` (`XAUTOCLAIM key group consumer min-idle 0-0
    /// COUNT count`), oldest first, and delivers them to `consumer`: each delivery count grows
    /// by one. This is how the entries of a consumer that died are handled after all.
    ///
    /// Pending entries the stream no longer has (trimmed) are dropped from the pending ones,
    /// idle or not, each counting as one of the `count` (as on Redis 7);
    /// entries that do not decode, and, with [`max_deliveries`](Self::max_deliveries), entries
    /// delivered too often, are moved to the dead letters and acknowledged. On memory and redb,
    /// idle times follow the engine's clock (a `ManualClock` in tests). One call looks at no
    /// more than `10 * count` pending entries, as Redis does.
    pub async fn claim_idle(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery<T>>> {
        Ok(self.claim_counted(consumer, min_idle, count).await?.0)
    }

    async fn claim_counted(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<(Vec<Delivery<T>>, u64)> {
        let op = StreamOp::ClaimIdle {
            group: self.name(),
            consumer,
            min_idle,
            count,
        };
        let command = Command::Stream {
            key: self.key()?,
            op,
        };
        let claimed = self.run(op).await?.into_claimed(&command)?;
        self.sort(claimed).await
    }

    /// Decodes raw deliveries; moves what must not be delivered to the dead letters and
    /// acknowledges it. Returns the deliveries and how many were moved.
    async fn sort(&self, raw: Vec<Raw>) -> Result<(Vec<Delivery<T>>, u64)> {
        let key = self.key()?;
        let mut deliveries = Vec::with_capacity(raw.len());
        let mut dead = Vec::new();
        for (id, bytes, count) in raw {
            if let Some(max) = self.max_deliveries.filter(|max| count > *max) {
                let error = format!(
                    "delivered {} times without an acknowledgement (max_deliveries {max})",
                    count - 1
                );
                dead.push((id, count, error, bytes));
                continue;
            }
            match self
                .stream
                .leaf
                .ctx
                .observed(self.stream.json.decode(key, &bytes))
            {
                Ok(value) => deliveries.push(Delivery {
                    id,
                    value,
                    deliveries: count,
                }),
                Err(e) => dead.push((id, count, e.to_string(), bytes)),
            }
        }
        let moved = dead.len() as u64;
        if !dead.is_empty() {
            let mut ids = Vec::with_capacity(dead.len());
            for (id, count, error, bytes) in dead {
                self.bury(id, count, error, &bytes).await?;
                ids.push(id);
            }
            // Appended first, then acknowledged: a failure in between leaves the entry pending,
            // to be moved again (a dead letter may then be there twice, never missing).
            self.ack(&ids).await?;
        }
        Ok((deliveries, moved))
    }

    /// Appends a dead letter for entry `id`.
    async fn bury(&self, id: StreamId, deliveries: u64, error: String, bytes: &[u8]) -> Result<()> {
        let json = Json::<DeadLetter>::new();
        let max = self.stream.leaf.max_value_size();
        let dead_key = self.dead_letter_key();
        let mut letter = DeadLetter {
            id,
            deliveries,
            error,
            raw: String::from_utf8_lossy(bytes).into_owned(),
        };
        let encoded = match json.encode(dead_key, &letter, max) {
            Ok(encoded) => encoded,
            Err(_) => {
                // Too long with its error and escapes: keep the start of the raw text.
                let mut cut = (max / 4).min(letter.raw.len());
                while !letter.raw.is_char_boundary(cut) {
                    cut -= 1;
                }
                letter.raw.truncate(cut);
                letter.error.truncate(letter.error.len().min(1024));
                json.encode(dead_key, &letter, max)?
            }
        };
        let op = StreamOp::Append {
            value: &encoded,
            max_len: None,
            ttl_if_created: None,
        };
        let command = Command::Stream { key: dead_key, op };
        self.stream
            .leaf
            .ctx
            .execute(command)
            .await?
            .into_entry_id(&command)?;
        Ok(())
    }

    /// The first `count` dead letters, oldest first (`XRANGE` of the dead-letter stream at
    /// [`dead_letter_key`](Self::dead_letter_key)).
    pub async fn dead_letters(&self, count: usize) -> Result<Vec<DeadLetter>> {
        self.key()?;
        let dead_key = self.dead_letter_key();
        let op = StreamOp::Range {
            start: StreamId::MIN,
            end: StreamId::MAX,
            count,
            rev: false,
        };
        let command = Command::Stream { key: dead_key, op };
        let json = Json::<DeadLetter>::new();
        self.stream
            .leaf
            .ctx
            .execute(command)
            .await?
            .into_entries(&command)?
            .into_iter()
            .map(|(_, bytes)| json.decode(dead_key, &bytes))
            .collect()
    }

    /// Removes the group's dead-letter stream; returns whether it existed. (Removing the
    /// stream itself, [`StreamOf::clear`], removes its groups, as on Redis, but not their
    /// dead letters.)
    pub async fn clear_dead_letters(&self) -> Result<bool> {
        self.key()?;
        super::remove_key(&self.stream.leaf.ctx, self.dead_letter_key()).await
    }

    /// A worker that handles this group's entries as `consumer` (see [`StreamWorker`]).
    pub fn worker(&self, consumer: &str) -> StreamWorker<T> {
        StreamWorker {
            group: self.clone(),
            consumer: consumer.to_owned(),
            concurrency: 1,
            claim_idle_after: Duration::from_secs(60),
            claim_every: None,
            poll: Duration::from_secs(1),
        }
    }
}

/// Runs an async handler over a [`StreamGroup`]'s deliveries, as one consumer: built by
/// [`StreamGroup::worker`], started by [`run`](StreamWorker::run).
///
/// The worker reads new entries, runs the handler on each with at most
/// [`concurrency`](Self::concurrency) in flight, acknowledges an entry when its handler
/// returns `Ok`, and leaves it pending when it returns `Err` (it is redelivered by a later
/// claim: at-least-once). Every [`claim_every`](Self::claim_every) it also claims entries
/// idle for [`claim_idle_after`](Self::claim_idle_after) — those of a consumer that died, or
/// its own failed ones — subject to the group's
/// [`max_deliveries`](StreamGroup::max_deliveries).
///
/// Each handler runs as a task of its own, tied to the worker: dropping or aborting the
/// worker's future aborts them, and what they were handling stays pending, for another
/// consumer to claim.
pub struct StreamWorker<T> {
    group: StreamGroup<T>,
    consumer: String,
    concurrency: usize,
    claim_idle_after: Duration,
    claim_every: Option<Duration>,
    poll: Duration,
}

impl<T> fmt::Debug for StreamWorker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWorker")
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("concurrency", &self.concurrency)
            .field("claim_idle_after", &self.claim_idle_after)
            .field("poll", &self.poll)
            .finish()
    }
}

/// What a [`StreamWorker`] did, returned when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Entries handed to the handler.
    pub handled: u64,
    /// Entries whose handler returned `Ok` and that this worker's acknowledgement removed from
    /// the pending ones (an entry another consumer acknowledged first is not counted: summed
    /// over the workers of a group, each entry counts once).
    pub acked: u64,
    /// Entries whose handler returned `Err` (left pending, for a later claim).
    pub failed: u64,
    /// Of the entries handled, those taken over with a claim.
    pub claimed: u64,
    /// Entries moved to the dead letters by this worker's reads and claims.
    pub dead_lettered: u64,
    /// Transient backend failures the worker waited out.
    pub retried_errors: u64,
}

/// The first and the longest pause after a transient backend failure.
const WORKER_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));

impl<T: Storable> StreamWorker<T> {
    /// At most this many handlers in flight (at least 1; default 1).
    pub fn concurrency(mut self, k: usize) -> Self {
        self.concurrency = k.max(1);
        self
    }

    /// Claims entries idle (delivered, unacknowledged) for at least this long (default 60 s).
    /// Set it well above the longest a handler takes: an entry still being handled but idle
    /// that long is handled twice.
    pub fn claim_idle_after(mut self, d: Duration) -> Self {
        self.claim_idle_after = d;
        self
    }

    /// How often to claim idle entries (default: every `claim_idle_after / 2`, at least every
    /// millisecond).
    pub fn claim_every(mut self, d: Duration) -> Self {
        self.claim_every = Some(d);
        self
    }

    /// How long one read waits for new entries when the worker is idle, and so how soon it
    /// sees the shutdown signal or a claim falls due (default 1 s).
    pub fn poll(mut self, d: Duration) -> Self {
        self.poll = d.max(Duration::from_millis(1));
        self
    }

    /// Runs until `shutdown` completes, then waits for the handlers in flight (acknowledging
    /// those that succeed) and returns what it did. Each handler runs as a task of its own
    /// (so handlers run in parallel on a multi-threaded runtime); dropping or aborting the
    /// worker's future aborts them, and their entries stay pending. A handler that panics
    /// counts as failed: its entry stays pending too.
    ///
    /// A transient backend failure (a lost connection, a timeout) is waited out with a growing
    /// pause; any other failure (a missing group, a key of another kind) stops the worker and
    /// is returned, the handlers in flight aborted. A read is never abandoned halfway: the
    /// shutdown is seen between reads, within [`poll`](Self::poll). Must be called within a
    /// tokio runtime.
    pub async fn run<F, Fut, E>(
        self,
        handler: F,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<WorkerReport>
    where
        F: Fn(Delivery<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let mut report = WorkerReport::default();
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let mut in_flight = InFlight::default();
        let claim_every = self
            .claim_every
            .unwrap_or(self.claim_idle_after / 2)
            .max(Duration::from_millis(1));
        let mut next_claim = tokio::time::Instant::now();
        let mut pause = WORKER_BACKOFF.0;
        let group = &self.group;
        let consumer = self.consumer.as_str();
        let handler = Arc::new(handler);
        loop {
            if (&mut shutdown).now_or_never().is_some() {
                break;
            }
            let step: Result<()> = async {
                let room = self.concurrency.saturating_sub(in_flight.len());
                if room > 0 && tokio::time::Instant::now() >= next_claim {
                    next_claim = tokio::time::Instant::now() + claim_every;
                    let (claimed, dead) = group
                        .claim_counted(consumer, self.claim_idle_after, room)
                        .await?;
                    report.dead_lettered += dead;
                    report.claimed += claimed.len() as u64;
                    for delivery in claimed {
                        report.handled += 1;
                        in_flight.start(&handler, delivery);
                    }
                }
                let room = self.concurrency.saturating_sub(in_flight.len());
                let mut drained = true;
                if room > 0 {
                    // Wait for new entries only when idle: with handlers in flight, their
                    // acknowledgements must not wait for a read.
                    let until_claim =
                        next_claim.saturating_duration_since(tokio::time::Instant::now());
                    let wait = in_flight
                        .is_empty()
                        .then_some(self.poll.min(until_claim).max(Duration::from_millis(1)));
                    let (read, dead) = group.read_counted(consumer, room, wait).await?;
                    report.dead_lettered += dead;
                    drained = read.len() < room;
                    for delivery in read {
                        report.handled += 1;
                        in_flight.start(&handler, delivery);
                    }
                }
                if in_flight.is_empty() {
                    return Ok(());
                }
                // Wait for a handler; with room for more, look for new entries now and then.
                let tick = if in_flight.len() >= self.concurrency {
                    self.poll
                } else if drained {
                    self.poll.min(WORKER_REFILL)
                } else {
                    Duration::ZERO
                };
                let (ok, failed) = in_flight.finished(tick).await;
                report.failed += failed;
                if !ok.is_empty() {
                    report.acked += group.ack(&ok).await?;
                }
                Ok(())
            }
            .await;
            match step {
                Ok(()) => pause = WORKER_BACKOFF.0,
                Err(Error::Backend(e)) if e.is_transient() => {
                    report.retried_errors += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(WORKER_BACKOFF.1);
                }
                Err(e) => return Err(e),
            }
        }
        // Finish what is in flight.
        while !in_flight.is_empty() {
            let (ok, failed) = in_flight.finished(self.poll).await;
            report.failed += failed;
            if !ok.is_empty() {
                report.acked += group.ack(&ok).await?;
            }
        }
        Ok(report)
    }
}

/// How often a worker with handlers in flight and room for more looks for new entries, at most.
const WORKER_REFILL: Duration = Duration::from_millis(100);

/// A worker's handlers in flight: one task each, aborted when dropped.
struct InFlight {
    tasks: tokio::task::JoinSet<bool>,
    ids: std::collections::HashMap<tokio::task::Id, StreamId>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            tasks: tokio::task::JoinSet::new(),
            ids: std::collections::HashMap::new(),
        }
    }
}

impl InFlight {
    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Starts the handler on `delivery`.
    fn start<T, F, Fut, E>(&mut self, handler: &Arc<F>, delivery: Delivery<T>)
    where
        T: Send + 'static,
        F: Fn(Delivery<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let id = delivery.id;
        let handler = Arc::clone(handler);
        let task = self
            .tasks
            .spawn(async move { handler(delivery).await.is_ok() });
        self.ids.insert(task.id(), id);
    }

    /// The handlers that finished within `wait` (and any other already done): the ids of
    /// those that succeeded, and how many failed (an `Err` or a panic).
    async fn finished(&mut self, wait: Duration) -> (Vec<StreamId>, u64) {
        let mut ok = Vec::new();
        let mut failed = 0;
        let mut record =
            |joined: std::result::Result<(tokio::task::Id, bool), tokio::task::JoinError>| {
                let (task, success) = match joined {
                    Ok((task, success)) => (task, success),
                    Err(e) => (e.id(), false),
                };
                if let Some(id) = self.ids.remove(&task) {
                    if success {
                        ok.push(id);
                    } else {
                        failed += 1;
                    }
                }
            };
        if let Ok(Some(joined)) = tokio::time::timeout(wait, self.tasks.join_next_with_id()).await {
            record(joined);
        }
        while let Some(joined) = self.tasks.try_join_next_with_id() {
            record(joined);
        }
        (ok, failed)
    }
}

//! Redis's semantics, written once, over any [`Storage`].
//!
//! The [`Engine`] executes every [`Command`] inside one storage transaction: TTLs (millisecond
//! deadlines on a [`Clock`], expired keys invisible at once and reclaimed incrementally),
//! `WRONGTYPE`, `SET NX`, `KEEPTTL` on compare-and-swap, strict `INCRBY` parsing and overflow,
//! sets that vanish when emptied, and batches (atomic ones undone on error). A backend that
//! stores elsewhere implements [`Storage`] and wraps an `Engine`; it never re-implements a rule.

mod bits;
mod hashes;
mod keys;
mod lists;
mod sets;
mod sorted_sets;
mod storage;
mod streams;
mod strings;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use storage::{
    Access, Entry, Group, PendingEntry, SortedSet, Storage, StorageTxn, Stored, Stream,
};

use super::command::{Command, ListOp, Reply, ScanPage, StreamOp};
use super::memory::Clock;
use super::{async_trait, ttl_ms, write_ttl, Backend, BackendInfo, Hub, Limits, Target};
use crate::error::{BackendErrorKind, Error, Result};
use strings::as_string;

/// Expired keys, at most, reclaimed by one write's incremental sweep.
pub(crate) const SWEEP_PER_WRITE: usize = 32;

/// A backend with Redis's semantics over a [`Storage`]. Cheap to clone: clones share the storage.
pub struct Engine<S> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    storage: S,
    clock: Box<dyn Clock>,
    /// The clock's reading when the engine started, and the Unix time (ms) it stands for.
    epoch: (Instant, u64),
    limits: Limits,
    /// Woken after every write to a list and every stream append, for the blocking pops and
    /// blocking stream reads waiting on one.
    pushed: tokio::sync::Notify,
    /// Routes changed keys to the watches.
    hub: Hub,
    /// The deadlines of watched keys, earliest first: the expiry notifications to send (a key
    /// written again with the same deadline is listed once).
    timers: parking_lot::Mutex<BTreeSet<(u64, String)>>,
    /// Wakes the expiry task (a new earliest deadline, or the engine is gone).
    timer_wake: Arc<tokio::sync::Notify>,
    /// Whether the expiry task runs.
    timer_running: AtomicBool,
}

impl<S> Drop for Shared<S> {
    fn drop(&mut self) {
        // The expiry task holds a weak reference: let it see that the engine is gone.
        self.timer_wake.notify_one();
    }
}

impl<S> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Engine {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Storage> Engine<S> {
    /// An engine over `storage`, with TTLs on `clock` and these limits.
    pub fn new(storage: S, clock: impl Clock, limits: Limits) -> Engine<S> {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let epoch = (clock.now(), unix_ms);
        Engine {
            shared: Arc::new(Shared {
                storage,
                clock: Box::new(clock),
                epoch,
                limits,
                pushed: tokio::sync::Notify::new(),
                hub: Hub::default(),
                timers: parking_lot::Mutex::default(),
                timer_wake: Arc::default(),
                timer_running: AtomicBool::new(false),
            }),
        }
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.shared.storage
    }

    /// The current time, in milliseconds since the Unix epoch, on the engine's clock.
    pub fn now_ms(&self) -> u64 {
        let (at, unix_ms) = self.shared.epoch;
        let elapsed = self.shared.clock.now().saturating_duration_since(at);
        // Whole milliseconds without `as_millis`'s 128-bit division (this runs on every command).
        let millis = elapsed
            .as_secs()
            .saturating_mul(1_000)
            .saturating_add(u64::from(elapsed.subsec_millis()));
        unix_ms.saturating_add(millis)
    }

    /// Removes every expired key now; returns how many.
    pub fn purge_expired(&self) -> Result<usize> {
        let now = self.now_ms();
        self.shared
            .storage
            .transaction(Access::Write, |txn| txn.purge_expired(now, usize::MAX))
    }

    /// Runs one command (see [`Backend::execute`]). [`Command::Watch`] needs a tokio runtime
    /// (its expiry notifications run on a task).
    pub fn run(&self, command: Command<'_>) -> Result<Reply> {
        if let Command::Watch { key, prefix } = command {
            return self.watch(key, prefix);
        }
        let access = if command.is_write() {
            Access::Write
        } else {
            Access::Read
        };
        let now = self.now_ms();
        let limits = self.shared.limits;
        let name = self.shared.storage.name();
        let hub = &self.shared.hub;
        let (reply, deadlines) = self.shared.storage.transaction(access, |txn| {
            let mut op = Op {
                txn,
                now,
                limits,
                name,
            };
            if access == Access::Write {
                op.txn.purge_expired(now, SWEEP_PER_WRITE)?;
            }
            let reply = op.apply(command)?;
            // The deadlines of the watched keys just written: their expiry is a change too.
            let mut deadlines = Vec::new();
            if access == Access::Write && hub.is_active() {
                for key in command.keys() {
                    if !hub.watches(key) {
                        continue;
                    }
                    if let Some((_, Some(at))) = op.txn.get(key)? {
                        deadlines.push((at, key.to_owned()));
                    }
                }
            }
            Ok((reply, deadlines))
        })?;
        if access == Access::Write {
            if pushes(&command) {
                self.shared.pushed.notify_waiters();
            }
            if hub.is_active() {
                for key in command.keys() {
                    hub.publish(key);
                }
                self.add_timers(deadlines);
            }
        }
        Ok(reply)
    }

    /// [`Command::Watch`]: a subscription, and an expiry notification for each watched key
    /// that has a deadline.
    fn watch(&self, key: &str, prefix: bool) -> Result<Reply> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::backend(
                BackendErrorKind::Unsupported,
                Some(key),
                "watching needs a tokio runtime (call it from async code)",
            )
        })?;
        let subscription = self.shared.hub.subscribe(Target {
            key: key.to_owned(),
            prefix,
        });
        let deadlines = self.shared.storage.transaction(Access::Read, |txn| {
            let mut deadlines = Vec::new();
            if prefix {
                txn.scan_prefix(key, &mut |key, at| {
                    if let Some(at) = at {
                        deadlines.push((at, key.to_owned()));
                    }
                })?;
            } else if let Some((_, Some(at))) = txn.get(key)? {
                deadlines.push((at, key.to_owned()));
            }
            Ok(deadlines)
        })?;
        if !self.shared.timer_running.swap(true, Ordering::AcqRel) {
            runtime.spawn(expiry_task(
                Arc::downgrade(&self.shared),
                Arc::clone(&self.shared.timer_wake),
                ExpiryTaskRunning(Arc::downgrade(&self.shared)),
            ));
        }
        self.add_timers(deadlines);
        Ok(Reply::Watch(subscription))
    }

    fn add_timers(&self, deadlines: Vec<(u64, String)>) {
        if deadlines.is_empty() {
            return;
        }
        let mut timers = self.shared.timers.lock();
        let earliest = timers.first().map(|(at, _)| *at);
        let mut sooner = false;
        for (at, key) in deadlines {
            sooner |= earliest.is_none_or(|e| at < e);
            timers.insert((at, key));
        }
        drop(timers);
        if sooner {
            self.shared.timer_wake.notify_one();
        }
    }

    /// Runs one command, waiting for a blocking pop's element, a blocking stream read's
    /// entries, or the timeout (see [`Backend::execute`]).
    pub async fn run_async(&self, command: Command<'_>) -> Result<Reply> {
        let timeout = match command {
            Command::List {
                op: ListOp::PopFrontBlocking { timeout },
                ..
            } => timeout,
            Command::Stream {
                op:
                    StreamOp::ReadAfter {
                        block: Some(wait), ..
                    },
                ..
            } => wait,
            _ => return self.run(command),
        };
        let deadline = tokio::time::Instant::now() + timeout.min(super::command::MAX_BLOCKING_WAIT);
        loop {
            // Registered before the attempt, so that a push right after it still wakes us.
            let pushed = self.shared.pushed.notified();
            let mut pushed = std::pin::pin!(pushed);
            pushed.as_mut().enable();
            let reply = self.run(command)?;
            let found = match &reply {
                Reply::Value(value) => value.is_some(),
                Reply::Entries(entries) => !entries.is_empty(),
                other => return Err(command.unexpected(other)),
            };
            if found || tokio::time::timeout_at(deadline, pushed).await.is_err() {
                return Ok(reply);
            }
        }
    }
}

/// While the expiry task exists; when it ends (its runtime shut down under it), the next watch
/// starts another.
struct ExpiryTaskRunning<S: Storage>(Weak<Shared<S>>);

impl<S: Storage> Drop for ExpiryTaskRunning<S> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            shared.timer_running.store(false, Ordering::Release);
        }
    }
}

/// Sends the expiry notifications of watched keys, each at its deadline on the engine's clock
/// (a key given a new deadline since is notified anyway: the watch re-reads and finds it
/// unchanged). Ends when the engine is gone.
///
/// `_running` is an argument, so that it is dropped with the task's future even if the task
/// never ran (its runtime shut down first).
async fn expiry_task<S: Storage>(
    engine: Weak<Shared<S>>,
    wake: Arc<tokio::sync::Notify>,
    _running: ExpiryTaskRunning<S>,
) {
    loop {
        let woken = wake.notified();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        let sleep = {
            let Some(shared) = engine.upgrade() else {
                return;
            };
            let engine = Engine { shared };
            let now = engine.now_ms();
            let mut due = Vec::new();
            let next = {
                let mut timers = engine.shared.timers.lock();
                while timers.first().is_some_and(|(at, _)| *at <= now) {
                    if let Some((_, key)) = timers.pop_first() {
                        due.push(key);
                    }
                }
                timers.first().map(|(at, _)| *at)
            };
            for key in &due {
                engine.shared.hub.publish(key);
            }
            next.map(|at| {
                let (instant, unix_ms) = engine.shared.epoch;
                let deadline = instant + Duration::from_millis(at.saturating_sub(unix_ms));
                engine.shared.clock.sleep_until(deadline)
            })
        };
        match sleep {
            Some(sleep) => {
                futures_util::future::select(sleep, woken).await;
            }
            None => woken.await,
        }
    }
}

/// Whether `command` may push to a list or append to a stream (and so wake blocking pops and
/// blocking stream reads).
fn pushes(command: &Command<'_>) -> bool {
    match command {
        Command::List { op, .. } => {
            matches!(op, ListOp::Push { .. } | ListOp::MoveFrontToBack { .. })
        }
        Command::Stream { op, .. } => matches!(op, StreamOp::Append { .. }),
        Command::Atomic { writes, .. } => writes.iter().any(pushes),
        _ => false,
    }
}

#[async_trait]
impl<S: Storage> Backend for Engine<S> {
    /// The storage's name and the engine's limits; clones of an engine share its identity.
    fn info(&self) -> BackendInfo<'_> {
        BackendInfo {
            name: self.shared.storage.name(),
            limits: self.shared.limits,
            instance: Arc::as_ptr(&self.shared) as *const () as usize,
            client_cache: None,
            metrics: None,
            server: None,
        }
    }

    async fn execute(&self, command: Command<'_>) -> Result<Reply> {
        self.run_async(command).await
    }
}

/// One command inside a transaction.
struct Op<'t, T> {
    txn: &'t mut T,
    now: u64,
    limits: Limits,
    name: &'static str,
}

fn wrong_type(key: &str) -> Error {
    Error::WrongType {
        key: key.to_owned(),
    }
}

impl<T: StorageTxn> Op<'_, T> {
    fn deadline(&self, ttl: Option<Duration>) -> Option<u64> {
        ttl.map(|ttl| self.now.saturating_add(ttl_ms(ttl)))
    }

    /// The live value at `key` (an expired entry is removed first) and its deadline.
    fn live(&mut self, key: &str) -> Result<Option<(&mut Stored, Option<u64>)>> {
        self.txn.get_live(key, self.now)
    }

    fn put(&mut self, key: &str, value: Stored, ttl: Option<Duration>) -> Result<()> {
        let expires_at = self.deadline(ttl);
        self.txn.put(key, Entry { value, expires_at })
    }

    /// The live container at `key` picked by `pick`, or `WrongType`.
    pub(super) fn typed<V>(
        &mut self,
        key: &str,
        pick: fn(&mut Stored) -> Option<&mut V>,
    ) -> Result<Option<&mut V>> {
        match self.live(key)? {
            None => Ok(None),
            Some((stored, _)) => pick(stored).map(Some).ok_or_else(|| wrong_type(key)),
        }
    }

    /// The container at `key`, created empty (with `ttl`) when missing.
    pub(super) fn typed_or_create<V>(
        &mut self,
        key: &str,
        pick: fn(&mut Stored) -> Option<&mut V>,
        empty: fn() -> Stored,
        ttl: Option<Duration>,
    ) -> Result<&mut V> {
        let ttl = write_ttl(key, ttl)?;
        if self.typed(key, pick)?.is_none() {
            self.put(key, empty(), ttl)?;
        }
        self.typed(key, pick)?.ok_or_else(|| wrong_type(key))
    }

    /// Removes `key` if `empty` (an emptied container disappears).
    pub(super) fn drop_if_empty(&mut self, key: &str, empty: bool) -> Result<()> {
        if empty {
            self.txn.remove(key)?;
        }
        Ok(())
    }

    fn apply(&mut self, command: Command<'_>) -> Result<Reply> {
        match command {
            Command::Str { key, op } => self.string(key, op),
            Command::GetMany { keys } => self.get_many(keys),
            Command::SetMany { entries, ttl } => self.set_many(entries, ttl),
            Command::Set { key, op } => self.set(key, op),
            Command::List { key, op } => self.list(key, op),
            Command::SortedSet { key, op } => self.sorted_set(key, op),
            Command::Map { key, op } => self.map(key, op),
            Command::Bits { key, op } => self.bits(key, op),
            Command::Stream { key, op } => self.stream(key, op),
            Command::Key { key, op } => self.key(key, op),
            Command::Delete { keys } => self.delete(keys),
            Command::ScanPrefix { prefix } => Ok(Reply::Keys(self.scan_prefix(prefix)?)),
            // Everything is at hand: one page (the keys are already in memory, or a storage
            // lists them in order).
            Command::Scan { prefix, .. } => Ok(Reply::Page(ScanPage {
                keys: self.scan_prefix(prefix)?,
                next: None,
            })),
            // Only on its own (`Engine::run`), not inside an atomic step.
            Command::Watch { .. } => Err(command.unsupported(self.name)),
            Command::Atomic { checks, writes } => {
                for check in checks {
                    let current = self.typed(check.key, as_string)?;
                    if current.as_deref().map(Vec::as_slice) != check.expected {
                        return Ok(Reply::Bool(false));
                    }
                }
                if let Some(other) = writes.iter().find(|w| !w.is_atomic_write()) {
                    return Err(other.unsupported(self.name));
                }
                self.atomic_writes(writes)?;
                Ok(Reply::Bool(true))
            }
        }
    }

    /// The writes of an atomic step, in order, in one transaction: undone when one fails.
    fn atomic_writes(&mut self, writes: &[Command<'_>]) -> Result<()> {
        let mut undo = Vec::new();
        for key in writes.iter().flat_map(written_keys) {
            if !undo.iter().any(|(k, _): &(String, _)| k == key) {
                let entry = self.txn.get(key)?.map(|(value, expires_at)| Entry {
                    value: value.clone(),
                    expires_at,
                });
                undo.push((key.to_owned(), entry));
            }
        }
        for write in writes {
            if let Err(e) = self.apply(*write) {
                for (key, entry) in undo {
                    match entry {
                        Some(entry) => self.txn.put(&key, entry)?,
                        None => drop(self.txn.remove(&key)?),
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The keys a command may change.
fn written_keys<'c>(command: &'c Command<'c>) -> Vec<&'c str> {
    if command.is_write() {
        command.keys()
    } else {
        Vec::new()
    }
}

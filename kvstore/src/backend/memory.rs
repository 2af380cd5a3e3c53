//! The in-memory backend: the [`Engine`] over a `HashMap`, and the clocks it runs on.

use std::collections::BTreeSet;
use std::hash::RandomState;

use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use super::command::{Command, Reply};
use super::engine::{Access, Engine, Entry, Storage, StorageTxn, Stored};
use super::{async_trait, Backend, BackendInfo, Limits};
use crate::error::Result;

/// A source of time for [`MemoryBackend`]'s TTLs.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Resolves once [`now`](Clock::now) has reached `deadline` (it may resolve early; callers
    /// check the clock again). Expiry notifications of watches wait on it. The default sleeps
    /// on tokio's timer for the time left; a clock that does not follow real time overrides it.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let left = deadline.saturating_duration_since(self.now());
        Box::pin(tokio::time::sleep(left))
    }
}

/// The real monotonic clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to: tests of TTL logic advance it instead of sleeping.
///
/// Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use kvstore::{ManualClock, MemoryBackend};
///
/// let clock = ManualClock::new();
/// let backend = MemoryBackend::with_clock(clock.clone());
/// // ... write values with a TTL through a store opened over `backend` ...
/// clock.advance(Duration::from_secs(60)); // now they have expired
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    offset: Arc<Mutex<Duration>>,
    advanced: Arc<tokio::sync::Notify>,
}

impl ManualClock {
    /// A clock standing at the current instant.
    pub fn new() -> ManualClock {
        ManualClock {
            start: Instant::now(),
            offset: Arc::default(),
            advanced: Arc::default(),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
        self.advanced.notify_waiters();
    }

    /// How far the clock has been advanced since it was created.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock()
    }

    /// Resolves when [`advance`](ManualClock::advance) has moved the clock to `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let clock = self.clone();
        Box::pin(async move {
            loop {
                let advanced = clock.advanced.notified();
                let mut advanced = std::pin::pin!(advanced);
                advanced.as_mut().enable();
                if clock.now() >= deadline {
                    return;
                }
                advanced.await;
            }
        })
    }
}

/// The embedded backend: a process-local map with exactly Redis's semantics for every command
/// (TTL, `WRONGTYPE`, `NX`, `KEEPTTL`, integer parsing, empty sets vanishing, ...) — the
/// [`Engine`] over a `HashMap`.
///
/// `clone()` is cheap and clones share the same data, so one backend can be handed to several
/// stores (or tasks). Every command holds one lock for its whole duration, so each is atomic.
///
/// **Expiry.** An expired key is never visible to any operation. Its memory is reclaimed either
/// when it is next touched, or by the incremental sweep that every write runs (up to 32 expired
/// keys, oldest first), or all at once by [`MemoryBackend::purge_expired`]. Expired-but-unreclaimed
/// keys therefore shrink by up to 32 per write: a store with steady writes never holds more dead
/// keys than it gained since writes began to outpace expiries, and an idle one can be purged
/// explicitly (for example from a timer).
///
/// **Races, as a server shows them.** A network backend lets other tasks run between any two
/// operations of one task (each is a round trip); an in-process map answers at once, so a
/// read-then-write that races on Redis (`get_many` then `set_many`, say) may never race here.
/// [`MemoryBackend::interleaved`] makes every operation yield to the scheduler first, so that
/// concurrent tasks interleave at every operation as they would over a network, and such races
/// show up in tests that run on memory (this repository's own tests use it).
#[derive(Clone)]
pub struct MemoryBackend {
    engine: Engine<MapStorage>,
    interleave: bool,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("keys", &self.stored_keys())
            .field("limits", &self.engine.info().limits)
            .finish()
    }
}

impl MemoryBackend {
    /// An empty backend on the system clock, with the default [`Limits`].
    pub fn new() -> MemoryBackend {
        MemoryBackend::with_clock(SystemClock)
    }

    /// An empty backend whose TTLs follow `clock` (for example a [`ManualClock`]).
    pub fn with_clock(clock: impl Clock) -> MemoryBackend {
        MemoryBackend::with_options(clock, Limits::default())
    }

    /// An empty backend with the given clock and limits (for example a larger
    /// `max_value_size`).
    pub fn with_options(clock: impl Clock, limits: Limits) -> MemoryBackend {
        MemoryBackend {
            engine: Engine::new(MapStorage::default(), clock, limits),
            interleave: false,
        }
    }

    /// This backend (sharing its data), yielding to the scheduler before every operation, as a
    /// round trip to a server would: concurrent tasks interleave at every operation, so the
    /// races of a read-then-write show up in tests (see the type's docs).
    pub fn interleaved(mut self) -> MemoryBackend {
        self.interleave = true;
        self
    }

    /// Removes every expired key now and returns how many were removed.
    pub fn purge_expired(&self) -> usize {
        self.engine.purge_expired().unwrap_or(0)
    }

    /// The number of keys held, expired-but-unreclaimed ones included (see the type's docs).
    pub fn stored_keys(&self) -> usize {
        self.engine.storage().state.lock().map.len()
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn info(&self) -> BackendInfo<'_> {
        self.engine.info()
    }

    async fn execute(&self, command: Command<'_>) -> Result<Reply> {
        // A watch subscribes at once (it is not a round trip to model).
        if self.interleave && !matches!(command, Command::Watch { .. }) {
            tokio::task::yield_now().await;
        }
        self.engine.run_async(command).await
    }

    fn execute_now(&self, command: Command<'_>) -> Option<Result<Reply>> {
        // Interleaving yields before each command; a blocking pop waits.
        if self.interleave || command.may_wait() {
            return None;
        }
        Some(self.engine.run(command))
    }
}

/// The memory backend's [`Storage`]: a `HashMap` and an expiry index behind one lock.
#[derive(Default)]
pub(crate) struct MapStorage {
    state: Mutex<MapState>,
}

#[derive(Default)]
pub(crate) struct MapState {
    /// hashbrown's map for its lookups by `&str` that insert or remove in place (one hash and
    /// one probe per operation, the key allocated only when inserted), with std's hasher.
    map: HashMap<String, Entry, RandomState>,
    /// Deadlines of the keys that have one, in expiry order.
    expiry: BTreeSet<(u64, String)>,
}

impl Storage for MapStorage {
    type Txn<'a> = MapState;

    fn name(&self) -> &'static str {
        "memory"
    }

    fn transaction<R>(
        &self,
        _access: Access,
        f: impl FnOnce(&mut MapState) -> Result<R>,
    ) -> Result<R> {
        f(&mut self.state.lock())
    }
}

impl MapState {
    fn index(&mut self, key: &str, old: Option<u64>, new: Option<u64>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.expiry.remove(&(old, key.to_owned()));
        }
        if let Some(new) = new {
            self.expiry.insert((new, key.to_owned()));
        }
    }
}

impl StorageTxn for MapState {
    fn get(&mut self, key: &str) -> Result<Option<(&mut Stored, Option<u64>)>> {
        Ok(self
            .map
            .get_mut(key)
            .map(|entry| (&mut entry.value, entry.expires_at)))
    }

    fn get_live(&mut self, key: &str, now: u64) -> Result<Option<(&mut Stored, Option<u64>)>> {
        match self.map.entry_ref(key) {
            EntryRef::Vacant(_) => Ok(None),
            EntryRef::Occupied(slot) => match slot.get().expires_at {
                Some(at) if at <= now => {
                    let (key, _) = slot.remove_entry();
                    self.expiry.remove(&(at, key));
                    Ok(None)
                }
                expires_at => Ok(Some((&mut slot.into_mut().value, expires_at))),
            },
        }
    }

    fn put(&mut self, key: &str, entry: Entry) -> Result<()> {
        let new = entry.expires_at;
        let old = match self.map.entry_ref(key) {
            EntryRef::Occupied(mut slot) => slot.insert(entry).expires_at,
            EntryRef::Vacant(slot) => {
                slot.insert(entry);
                None
            }
        };
        self.index(key, old, new);
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<Option<Entry>> {
        let entry = self.map.remove(key);
        if let Some(at) = entry.as_ref().and_then(|e| e.expires_at) {
            self.expiry.remove(&(at, key.to_owned()));
        }
        Ok(entry)
    }

    fn set_expiry(&mut self, key: &str, expires_at: Option<u64>) -> Result<()> {
        let Some(entry) = self.map.get_mut(key) else {
            return Ok(());
        };
        let old = std::mem::replace(&mut entry.expires_at, expires_at);
        self.index(key, old, expires_at);
        Ok(())
    }

    fn scan_prefix(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Option<u64>)) -> Result<()> {
        // Like Redis's SCAN MATCH, a walk over the whole keyspace: the map is kept a hash map
        // because point reads and writes are what it serves most.
        for (key, entry) in &self.map {
            if key.starts_with(prefix) {
                f(key, entry.expires_at);
            }
        }
        Ok(())
    }

    fn purge_expired(&mut self, now: u64, max: usize) -> Result<usize> {
        let mut removed = 0;
        while removed < max {
            match self.expiry.first() {
                Some((at, _)) if *at <= now => {}
                _ => break,
            }
            let (_, key) = self.expiry.pop_first().expect("checked non-empty");
            self.map.remove(&key);
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::engine::SWEEP_PER_WRITE;
    use super::super::{BackendExt, SetOptions};
    use super::*;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn expiry_follows_the_clock_and_sweeps() {
        block(async {
            let clock = ManualClock::new();
            let b = MemoryBackend::with_clock(clock.clone());
            let ttl = SetOptions {
                ttl: Some(Duration::from_secs(1)),
                ..SetOptions::default()
            };
            for i in 0..100 {
                b.set(&format!("k{i}"), b"v", ttl).await.unwrap();
            }
            b.set("keep", b"v", SetOptions::default()).await.unwrap();
            assert_eq!(b.scan_prefix("k").await.unwrap().len(), 101);
            clock.advance(Duration::from_secs(1));
            assert_eq!(b.get("k1").await.unwrap(), None);
            assert!(b
                .scan_prefix("k")
                .await
                .unwrap()
                .iter()
                .all(|k| k == "keep"));
            // One write reclaims up to SWEEP_PER_WRITE expired keys.
            b.set("x", b"v", SetOptions::default()).await.unwrap();
            assert_eq!(b.stored_keys(), 101 - 1 - SWEEP_PER_WRITE + 1);
            assert_eq!(b.purge_expired(), 99 - SWEEP_PER_WRITE);
            assert_eq!(b.stored_keys(), 2);
        });
    }

    #[test]
    fn overwrite_moves_the_deadline() {
        block(async {
            let clock = ManualClock::new();
            let b = MemoryBackend::with_clock(clock.clone());
            let short = SetOptions {
                ttl: Some(Duration::from_secs(1)),
                ..SetOptions::default()
            };
            b.set("k", b"1", short).await.unwrap();
            b.set("k", b"2", SetOptions::default()).await.unwrap();
            clock.advance(Duration::from_secs(5));
            assert_eq!(b.purge_expired(), 0);
            assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
        });
    }
}

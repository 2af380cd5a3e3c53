//! The in-memory backend.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::backend::{async_trait, Backend, KeyTtl, Limits, SetOptions, Swap};
use crate::error::{Error, Result};

/// A source of time for [`MemoryBackend`]'s TTLs.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
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
}

impl ManualClock {
    /// A clock standing at the current instant.
    pub fn new() -> ManualClock {
        ManualClock {
            start: Instant::now(),
            offset: Arc::default(),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
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
}

/// Keys, at most, reclaimed by one write's incremental expiry sweep.
const SWEEP_PER_WRITE: usize = 32;

/// The embedded backend: a process-local map with exactly Redis's semantics for every operation
/// kvstore uses (TTL, `WRONGTYPE`, `NX`, `KEEPTTL`, integer parsing, empty sets vanishing, ...).
///
/// `clone()` is cheap and clones share the same data, so one backend can be handed to several
/// stores (or tasks). Every operation holds one lock for its whole duration, so each is atomic.
///
/// **Expiry.** An expired key is never visible to any operation. Its memory is reclaimed either
/// when it is next touched, or by the incremental sweep that every write runs (up to 32 expired
/// keys, oldest first), or all at once by [`MemoryBackend::purge_expired`]. Expired-but-unreclaimed
/// keys therefore shrink by up to 32 per write: a store with steady writes never holds more dead
/// keys than it gained since writes began to outpace expiries, and an idle one can be purged
/// explicitly (for example from a timer).
#[derive(Clone)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    clock: Box<dyn Clock>,
    limits: Limits,
}

#[derive(Default)]
struct State {
    map: HashMap<String, Entry>,
    /// Deadlines of the keys that have one, in expiry order.
    expiry: BTreeSet<(Instant, String)>,
}

struct Entry {
    value: Stored,
    expires_at: Option<Instant>,
}

enum Stored {
    Str(Vec<u8>),
    Set(HashSet<Vec<u8>>),
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("keys", &self.shared.state.lock().map.len())
            .field("limits", &self.shared.limits)
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
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                clock: Box::new(clock),
                limits,
            }),
        }
    }

    /// Removes every expired key now and returns how many were removed.
    pub fn purge_expired(&self) -> usize {
        let now = self.shared.clock.now();
        self.shared.state.lock().sweep(now, usize::MAX)
    }

    /// The number of keys held, expired-but-unreclaimed ones included (see the type's docs).
    pub fn stored_keys(&self) -> usize {
        self.shared.state.lock().map.len()
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let now = self.shared.clock.now();
        let mut state = self.shared.state.lock();
        f(&mut state, now)
    }

    fn write_state<R>(&self, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        self.with_state(|state, now| {
            state.sweep(now, SWEEP_PER_WRITE);
            f(state, now)
        })
    }
}

fn wrong_type(key: &str) -> Error {
    Error::WrongType {
        key: key.to_owned(),
    }
}

fn deadline(now: Instant, ttl: Option<Duration>) -> Option<Instant> {
    ttl.map(|ttl| now + ttl)
}

/// Redis's strict integer parsing: optional `-`, no `+`, no leading zeros, fits an `i64`.
fn parse_counter(bytes: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(bytes).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

impl State {
    /// Removes up to `max` expired keys; returns how many.
    fn sweep(&mut self, now: Instant, max: usize) -> usize {
        let mut removed = 0;
        while removed < max {
            let Some((at, _)) = self.expiry.first() else {
                break;
            };
            if *at > now {
                break;
            }
            let (_, key) = self.expiry.pop_first().expect("checked non-empty");
            self.map.remove(&key);
            removed += 1;
        }
        removed
    }

    /// The live entry at `key`; an expired one is removed first.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        let expired = match self.map.get(key) {
            None => return None,
            Some(entry) => entry.expires_at.is_some_and(|at| at <= now),
        };
        if expired {
            self.remove(key);
            return None;
        }
        self.map.get_mut(key)
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        if let Some(at) = entry.expires_at {
            self.expiry.remove(&(at, key.to_owned()));
        }
        Some(entry)
    }

    /// Stores `value` at `key` with the deadline `expires_at`, replacing whatever was there.
    fn put(&mut self, key: &str, value: Stored, expires_at: Option<Instant>) {
        match self.map.entry(key.to_owned()) {
            MapEntry::Occupied(mut slot) => {
                let old = slot.get().expires_at;
                slot.insert(Entry { value, expires_at });
                if old != expires_at {
                    if let Some(old) = old {
                        self.expiry.remove(&(old, key.to_owned()));
                    }
                    if let Some(at) = expires_at {
                        self.expiry.insert((at, key.to_owned()));
                    }
                }
            }
            MapEntry::Vacant(slot) => {
                slot.insert(Entry { value, expires_at });
                if let Some(at) = expires_at {
                    self.expiry.insert((at, key.to_owned()));
                }
            }
        }
    }

    fn set_deadline(&mut self, key: &str, expires_at: Option<Instant>) {
        let Some(entry) = self.map.get_mut(key) else {
            return;
        };
        let old = std::mem::replace(&mut entry.expires_at, expires_at);
        if old != expires_at {
            if let Some(old) = old {
                self.expiry.remove(&(old, key.to_owned()));
            }
            if let Some(at) = expires_at {
                self.expiry.insert((at, key.to_owned()));
            }
        }
    }

    fn get_str(&mut self, key: &str, now: Instant) -> Result<Option<&mut Vec<u8>>> {
        match self.live(key, now) {
            None => Ok(None),
            Some(Entry {
                value: Stored::Str(bytes),
                ..
            }) => Ok(Some(bytes)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    fn get_set(&mut self, key: &str, now: Instant) -> Result<Option<&mut HashSet<Vec<u8>>>> {
        match self.live(key, now) {
            None => Ok(None),
            Some(Entry {
                value: Stored::Set(set),
                ..
            }) => Ok(Some(set)),
            Some(_) => Err(wrong_type(key)),
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn limits(&self) -> Limits {
        self.shared.limits
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with_state(|s, now| Ok(s.get_str(key, now)?.map(|v| v.clone())))
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        self.write_state(|s, now| {
            if options.only_if_absent && s.live(key, now).is_some() {
                return Ok(false);
            }
            s.put(key, Stored::Str(value.to_vec()), deadline(now, options.ttl));
            Ok(true)
        })
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.with_state(|s, now| {
            Ok(keys
                .iter()
                .map(|key| s.get_str(key, now).ok().flatten().map(|v| v.clone()))
                .collect())
        })
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Option<Duration>) -> Result<()> {
        self.write_state(|s, now| {
            for (key, value) in entries {
                s.put(key, Stored::Str(value.clone()), deadline(now, ttl));
            }
            Ok(())
        })
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<bool> {
        let swap = self
            .compare_and_swap_or_get(key, expected, new, ttl_if_created)
            .await?;
        Ok(swap == Swap::Done)
    }

    async fn compare_and_swap_or_get(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<Swap> {
        self.write_state(|s, now| {
            let current = s.get_str(key, now)?;
            if current.as_deref().map(Vec::as_slice) != expected {
                return Ok(Swap::Current(current.cloned()));
            }
            match (current, new) {
                (Some(bytes), Some(new)) => {
                    // Replaced in place: the TTL is kept.
                    new.clone_into(bytes);
                }
                (Some(_), None) => {
                    s.remove(key);
                }
                (None, Some(new)) => {
                    s.put(
                        key,
                        Stored::Str(new.to_vec()),
                        deadline(now, ttl_if_created),
                    );
                }
                (None, None) => {}
            }
            Ok(Swap::Done)
        })
    }

    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl_if_created: Option<Duration>,
    ) -> Result<i64> {
        self.write_state(|s, now| match s.get_str(key, now)? {
            Some(bytes) => {
                let current = parse_counter(bytes).ok_or_else(|| Error::Decode {
                    key: key.to_owned(),
                    message: "value is not an integer or out of range".into(),
                })?;
                let next = current.checked_add(delta).ok_or_else(|| Error::Overflow {
                    key: key.to_owned(),
                })?;
                *bytes = next.to_string().into_bytes();
                Ok(next)
            }
            None => {
                s.put(
                    key,
                    Stored::Str(delta.to_string().into_bytes()),
                    deadline(now, ttl_if_created),
                );
                Ok(delta)
            }
        })
    }

    async fn delete(&self, keys: &[String]) -> Result<usize> {
        self.write_state(|s, now| {
            let mut removed = 0;
            for key in keys {
                if s.live(key, now).is_some() {
                    s.remove(key);
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.with_state(|s, now| Ok(s.live(key, now).is_some()))
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.with_state(|s, now| {
            Ok(match s.live(key, now) {
                None => KeyTtl::Missing,
                Some(Entry {
                    expires_at: None, ..
                }) => KeyTtl::Persistent,
                Some(Entry {
                    expires_at: Some(at),
                    ..
                }) => {
                    let left = at.saturating_duration_since(now);
                    KeyTtl::Expires(Duration::from_millis(left.as_millis() as u64))
                }
            })
        })
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        self.write_state(|s, now| {
            if s.live(key, now).is_none() {
                return Ok(false);
            }
            if ttl.is_zero() {
                s.remove(key);
            } else {
                s.set_deadline(key, Some(now + ttl));
            }
            Ok(true)
        })
    }

    async fn persist(&self, key: &str) -> Result<bool> {
        self.write_state(|s, now| match s.live(key, now) {
            Some(Entry {
                expires_at: Some(_),
                ..
            }) => {
                s.set_deadline(key, None);
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    async fn set_add(
        &self,
        key: &str,
        member: &[u8],
        ttl_if_created: Option<Duration>,
    ) -> Result<bool> {
        self.write_state(|s, now| match s.get_set(key, now)? {
            Some(set) => Ok(set.insert(member.to_vec())),
            None => {
                let set = HashSet::from([member.to_vec()]);
                s.put(key, Stored::Set(set), deadline(now, ttl_if_created));
                Ok(true)
            }
        })
    }

    async fn set_remove(&self, key: &str, member: &[u8]) -> Result<bool> {
        self.write_state(|s, now| {
            let Some(set) = s.get_set(key, now)? else {
                return Ok(false);
            };
            let removed = set.remove(member);
            if set.is_empty() {
                s.remove(key);
            }
            Ok(removed)
        })
    }

    async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        self.with_state(|s, now| Ok(s.get_set(key, now)?.is_some_and(|set| set.contains(member))))
    }

    async fn set_members(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        self.with_state(|s, now| {
            Ok(s.get_set(key, now)?
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default())
        })
    }

    async fn set_len(&self, key: &str) -> Result<usize> {
        self.with_state(|s, now| Ok(s.get_set(key, now)?.map_or(0, |set| set.len())))
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.with_state(|s, now| {
            // Like Redis's SCAN MATCH, a walk over the whole keyspace: the map is kept a hash map
            // because point reads and writes are what it serves most.
            Ok(s.map
                .iter()
                .filter(|(key, _)| key.starts_with(prefix))
                .filter(|(_, entry)| entry.expires_at.is_none_or(|at| at > now))
                .map(|(key, _)| key.clone())
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn strict_counter_parsing() {
        assert_eq!(parse_counter(b"42"), Some(42));
        assert_eq!(parse_counter(b"-42"), Some(-42));
        for bad in [
            &b"+1"[..],
            b"01",
            b"-0",
            b" 1",
            b"1.0",
            b"",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_counter(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expiry_follows_the_clock_and_sweeps() {
        block(async {
            let clock = ManualClock::new();
            let b = MemoryBackend::with_clock(clock.clone());
            let ttl = SetOptions {
                ttl: Some(Duration::from_secs(1)),
                only_if_absent: false,
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
                only_if_absent: false,
            };
            b.set("k", b"1", short).await.unwrap();
            b.set("k", b"2", SetOptions::default()).await.unwrap();
            clock.advance(Duration::from_secs(5));
            assert_eq!(b.purge_expired(), 0);
            assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
        });
    }
}

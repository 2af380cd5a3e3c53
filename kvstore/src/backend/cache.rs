//! The client-side read cache of the Redis backends ([`ClientCache`]).
//!
//! Reads fill it, the server empties it (broadcast `CLIENT TRACKING` on the backend's
//! notification connections), this client's own writes empty it at once, and losing a
//! notification connection empties it whole. A read is only kept if nothing invalidated its key
//! between the moment the read was sent and the moment its reply came back (a *ticket* per
//! miss), so a reply that raced with an invalidation is never cached.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// Shards of the cache: lookups of different keys rarely share a lock.
const SHARDS: usize = 16;

/// One cached read: the stored bytes (`None`: the key was absent), the identity of the codec
/// that checked them (0: none did), and the value it decoded, when its type is `Clone`.
pub(crate) struct Cached {
    pub(crate) bytes: Option<Box<[u8]>>,
    pub(crate) checked: usize,
    pub(crate) value: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

enum Slot {
    /// A read is on its way; only the read holding this ticket may fill the slot.
    Pending(u64),
    Ready(Cached),
}

/// The shard maps are keyed by the key's 64-bit hash, computed once per lookup (it also picks
/// the shard): this hasher passes it through.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed here; anything else still hashes correctly.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Shard {
    /// By hash: one entry per hash (two keys with the same 64-bit hash take turns, as in a
    /// direct-mapped cache), holding its key to tell them apart.
    map: HashMap<u64, (Box<str>, Slot), BuildHasherDefault<Prehashed>>,
    /// Hashes in insertion order, for eviction (may hold hashes already gone).
    order: VecDeque<u64>,
    next_ticket: u64,
    hits: u64,
    misses: u64,
}

/// What a cache lookup found.
pub(crate) enum Lookup<R> {
    /// What the caller made of the cached read (under the shard's lock).
    Hit(R),
    /// Not cached: read it, then [`ClientCache::fill`] with the ticket (none: do not fill).
    Miss(Option<u64>),
}

/// An `AtomicBool` alone on its cache line (read by every lookup, written rarely).
#[repr(align(64))]
struct Live(AtomicBool);

struct Inner {
    live: Live,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
    max_entries: usize,
}

/// A bounded local cache of reads that the server keeps fresh: see
/// [`RedisBackendBuilder::client_cache`](crate::RedisBackendBuilder::client_cache).
///
/// Cloning shares the cache.
#[derive(Clone)]
pub struct ClientCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCache")
            .field("max_entries", &self.inner.max_entries)
            .field("len", &self.len())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .field("live", &self.is_live())
            .finish()
    }
}

impl ClientCache {
    /// A cache of at most `max_entries` keys (at least one per shard), not live until the
    /// notification connections say so.
    pub(crate) fn new(max_entries: usize) -> ClientCache {
        let per_shard = max_entries.div_ceil(SHARDS).max(1);
        ClientCache {
            inner: Arc::new(Inner {
                live: Live(AtomicBool::new(false)),
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                hasher: RandomState::new(),
                per_shard,
                max_entries,
            }),
        }
    }

    fn shard(&self, key: &str) -> (u64, &Mutex<Shard>) {
        let hash = self.inner.hasher.hash_one(key);
        // The top bits pick the shard; the map uses all of them.
        (hash, &self.inner.shards[(hash >> 60) as usize % SHARDS])
    }

    /// The cached read of `key`, passed to `hit` (under the shard's lock: keep it short), or a
    /// ticket to fill it after reading.
    pub(crate) fn lookup<R>(&self, key: &str, hit: impl FnOnce(&Cached) -> R) -> Lookup<R> {
        let (hash, shard) = self.shard(key);
        let mut shard = shard.lock();
        if !self.inner.live.0.load(Ordering::Acquire) {
            shard.misses += 1;
            super::metrics::facade::cache(false);
            return Lookup::Miss(None);
        }
        if let Some((stored, Slot::Ready(cached))) = shard.map.get(&hash) {
            if **stored == *key {
                let found = hit(cached);
                shard.hits += 1;
                super::metrics::facade::cache(true);
                return Lookup::Hit(found);
            }
        }
        shard.misses += 1;
        super::metrics::facade::cache(false);
        shard.next_ticket += 1;
        let ticket = shard.next_ticket;
        let previous = shard.map.insert(hash, (key.into(), Slot::Pending(ticket)));
        if previous.is_none() {
            shard.order.push_back(hash);
            self.evict(&mut shard);
        }
        Lookup::Miss(Some(ticket))
    }

    fn evict(&self, shard: &mut Shard) {
        while shard.map.len() > self.inner.per_shard {
            match shard.order.pop_front() {
                Some(old) => {
                    shard.map.remove(&old);
                }
                None => break,
            }
        }
        // Hashes removed and inserted again are listed twice: rebuild the order now and then.
        if shard.order.len() > 2 * self.inner.per_shard + 16 {
            let map = &shard.map;
            let mut seen = std::collections::HashSet::with_capacity(map.len());
            shard
                .order
                .retain(|h| map.contains_key(h) && seen.insert(*h));
        }
    }

    /// Keeps the read of `key` made with `ticket`, unless the key was invalidated since.
    pub(crate) fn fill(&self, key: &str, ticket: u64, cached: Cached) {
        let (hash, shard) = self.shard(key);
        let mut shard = shard.lock();
        if let Some((stored, slot)) = shard.map.get_mut(&hash) {
            if **stored == *key && matches!(slot, Slot::Pending(t) if *t == ticket) {
                *slot = Slot::Ready(cached);
            }
        }
    }

    /// Forgets `key` (and any read of it on its way).
    pub(crate) fn invalidate(&self, key: &str) {
        let (hash, shard) = self.shard(key);
        let mut shard = shard.lock();
        if shard
            .map
            .get(&hash)
            .is_some_and(|(stored, _)| **stored == *key)
        {
            shard.map.remove(&hash);
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        for shard in self.inner.shards.iter() {
            let mut shard = shard.lock();
            shard.map.clear();
            shard.order.clear();
        }
    }

    /// Turns the cache on (invalidations arrive) or off (emptied; reads go to the server).
    pub(crate) fn set_live(&self, live: bool) {
        if !live {
            self.inner.live.0.store(false, Ordering::Release);
            self.clear();
        } else {
            self.clear();
            self.inner.live.0.store(true, Ordering::Release);
        }
    }

    /// Whether the cache serves reads (its invalidation connections are up).
    pub fn is_live(&self) -> bool {
        self.inner.live.0.load(Ordering::Acquire)
    }

    /// Reads answered from the cache.
    pub fn hits(&self) -> u64 {
        self.inner.shards.iter().map(|s| s.lock().hits).sum()
    }

    /// Reads that went to the server.
    pub fn misses(&self) -> u64 {
        self.inner.shards.iter().map(|s| s.lock().misses).sum()
    }

    /// Keys cached now (reads on their way included).
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the cache holds (rounded up to a multiple of its 16 shards).
    pub fn max_entries(&self) -> usize {
        self.inner.per_shard * SHARDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(bytes: &[u8]) -> Cached {
        Cached {
            bytes: Some(bytes.into()),
            checked: 0,
            value: None,
        }
    }

    #[test]
    fn a_read_racing_an_invalidation_is_not_kept() {
        let cache = ClientCache::new(100);
        assert!(
            matches!(cache.lookup("k", |_| ()), Lookup::Miss(None)),
            "not live yet"
        );
        cache.set_live(true);
        let Lookup::Miss(Some(ticket)) = cache.lookup("k", |_| ()) else {
            panic!("a miss with a ticket")
        };
        cache.invalidate("k");
        cache.fill("k", ticket, cached(b"old"));
        assert!(matches!(cache.lookup("k", |_| ()), Lookup::Miss(Some(_))));
        let Lookup::Miss(Some(ticket)) = cache.lookup("k", |_| ()) else {
            panic!()
        };
        cache.fill("k", ticket, cached(b"new"));
        let Lookup::Hit(hit) = cache.lookup("k", |c| c.bytes.clone()) else {
            panic!("a hit")
        };
        assert_eq!(hit.as_deref(), Some(&b"new"[..]));
        assert_eq!((cache.hits(), cache.misses()), (1, 4));
        cache.set_live(false);
        assert!(cache.is_empty());
        assert!(matches!(cache.lookup("k", |_| ()), Lookup::Miss(None)));
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = ClientCache::new(64);
        cache.set_live(true);
        for i in 0..10_000 {
            let key = format!("k{}", i % 500);
            if let Lookup::Miss(Some(t)) = cache.lookup(&key, |_| ()) {
                cache.fill(&key, t, cached(b"v"));
            }
            if i % 3 == 0 {
                cache.invalidate(&key);
            }
        }
        assert!(cache.len() <= cache.max_entries());
        assert_eq!(cache.max_entries(), 64);
        for shard in cache.inner.shards.iter() {
            assert!(shard.lock().order.len() <= 2 * 4 + 17);
        }
    }
}

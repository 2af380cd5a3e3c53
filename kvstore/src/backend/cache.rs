//! The client-side read cache of the Redis backends ([`ClientCache`]).
//!
//! Reads fill it, the server empties it (broadcast `CLIENT TRACKING` on the backend's
//! notification connections), this client's own writes empty it at once, and losing a
//! notification connection empties it whole. A read is only kept if nothing invalidated its key
//! between the moment the read was sent and the moment its reply came back (a *ticket* per
//! miss), so a reply that raced with an invalidation is never cached.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// Shards of the cache: lookups of different keys rarely share a lock.
const SHARDS: usize = 16;

/// One cached read: the stored bytes (`None`: the key was absent), and the identity of the
/// codec that checked them (0: none did).
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) bytes: Option<Box<[u8]>>,
    pub(crate) checked: usize,
}

enum Slot {
    /// A read is on its way; only the read holding this ticket may fill the slot.
    Pending(u64),
    Ready(Arc<Cached>),
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Slot>,
    /// Keys in insertion order, for eviction (may hold keys already gone).
    order: VecDeque<String>,
}

/// What a cache lookup found.
pub(crate) enum Lookup {
    Hit(Arc<Cached>),
    /// Not cached: read it, then [`ClientCache::fill`] with the ticket (none: do not fill).
    Miss(Option<u64>),
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
    max_entries: usize,
    /// Whether invalidations arrive (every notification connection is up, tracking on).
    live: AtomicBool,
    next_ticket: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
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
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                hasher: RandomState::new(),
                per_shard,
                max_entries,
                live: AtomicBool::new(false),
                next_ticket: AtomicU64::new(1),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let hash = self.inner.hasher.hash_one(key);
        &self.inner.shards[(hash as usize) % SHARDS]
    }

    /// The cached read of `key`, or a ticket to fill it after reading.
    pub(crate) fn lookup(&self, key: &str) -> Lookup {
        if !self.inner.live.load(Ordering::Acquire) {
            self.inner.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss(None);
        }
        let mut shard = self.shard(key).lock();
        if let Some(Slot::Ready(cached)) = shard.map.get(key) {
            let cached = Arc::clone(cached);
            drop(shard);
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::Hit(cached);
        }
        let ticket = self.inner.next_ticket.fetch_add(1, Ordering::Relaxed);
        if shard
            .map
            .insert(key.to_owned(), Slot::Pending(ticket))
            .is_none()
        {
            shard.order.push_back(key.to_owned());
            self.evict(&mut shard);
        }
        drop(shard);
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
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
        // Keys invalidated and read again are listed twice: rebuild the order now and then.
        if shard.order.len() > 2 * self.inner.per_shard + 16 {
            let map = &shard.map;
            shard.order.retain(|k| map.contains_key(k));
            let mut seen = std::collections::HashSet::with_capacity(shard.order.len());
            shard.order.retain(|k| seen.insert(k.clone()));
        }
    }

    /// Keeps the read of `key` made with `ticket`, unless the key was invalidated since.
    pub(crate) fn fill(&self, key: &str, ticket: u64, cached: Cached) {
        let mut shard = self.shard(key).lock();
        if let Some(slot) = shard.map.get_mut(key) {
            if matches!(slot, Slot::Pending(t) if *t == ticket) {
                *slot = Slot::Ready(Arc::new(cached));
            }
        }
    }

    /// Forgets `key` (and any read of it on its way).
    pub(crate) fn invalidate(&self, key: &str) {
        self.shard(key).lock().map.remove(key);
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
            self.inner.live.store(false, Ordering::Release);
            self.clear();
        } else {
            self.clear();
            self.inner.live.store(true, Ordering::Release);
        }
    }

    /// Whether the cache serves reads (its invalidation connections are up).
    pub fn is_live(&self) -> bool {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Reads answered from the cache.
    pub fn hits(&self) -> u64 {
        self.inner.hits.load(Ordering::Relaxed)
    }

    /// Reads that went to the server.
    pub fn misses(&self) -> u64 {
        self.inner.misses.load(Ordering::Relaxed)
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
        }
    }

    #[test]
    fn a_read_racing_an_invalidation_is_not_kept() {
        let cache = ClientCache::new(100);
        assert!(
            matches!(cache.lookup("k"), Lookup::Miss(None)),
            "not live yet"
        );
        cache.set_live(true);
        let Lookup::Miss(Some(ticket)) = cache.lookup("k") else {
            panic!("a miss with a ticket")
        };
        cache.invalidate("k");
        cache.fill("k", ticket, cached(b"old"));
        assert!(matches!(cache.lookup("k"), Lookup::Miss(Some(_))));
        let Lookup::Miss(Some(ticket)) = cache.lookup("k") else {
            panic!()
        };
        cache.fill("k", ticket, cached(b"new"));
        let Lookup::Hit(hit) = cache.lookup("k") else {
            panic!("a hit")
        };
        assert_eq!(hit.bytes.as_deref(), Some(&b"new"[..]));
        cache.set_live(false);
        assert!(cache.is_empty());
        assert!(matches!(cache.lookup("k"), Lookup::Miss(None)));
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = ClientCache::new(64);
        cache.set_live(true);
        for i in 0..10_000 {
            let key = format!("k{}", i % 500);
            if let Lookup::Miss(Some(t)) = cache.lookup(&key) {
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

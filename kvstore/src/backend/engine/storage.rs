//! The minimal transactional storage the engine runs on.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::backend::command::StreamId;
use crate::error::Result;

/// What a key holds: one of Redis's value types. Containers are never empty: an emptied one is
/// removed — but a stream, which (as on Redis) remains when trimmed to nothing, keeping its last
/// id. The containers are boxed, so that every entry is as small as a string's (24 bytes):
/// a storage's table of mostly strings stays compact.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Stored {
    /// A string of bytes (items, blobs, counters, bits, packed integers).
    Str(Vec<u8>),
    /// A set of members.
    Set(Box<HashSet<Vec<u8>>>),
    /// A list of elements.
    List(Box<VecDeque<Vec<u8>>>),
    /// A sorted set.
    SortedSet(Box<SortedSet>),
    /// A hash: fields to values.
    Hash(Box<HashMap<Vec<u8>, Vec<u8>>>),
    /// A stream of entries.
    Stream(Box<Stream>),
}

/// A stream: entries (one value each) by increasing id, the last id it ever gave (as Redis's
/// `STREAM`: ids never go back, even when the newest entries are trimmed away), and its
/// consumer groups by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    entries: BTreeMap<StreamId, Vec<u8>>,
    last: StreamId,
    /// The consumer groups.
    pub groups: BTreeMap<String, Group>,
}

/// A consumer group of a [`Stream`]: where its reads are, and what it delivered and was not
/// acknowledged yet (its pending entries list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// The greatest id delivered to the group (reads of new entries start after it).
    pub last_delivered: StreamId,
    /// The pending entries, by id.
    pub pending: BTreeMap<StreamId, PendingEntry>,
}

/// A delivered entry not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The consumer that has it.
    pub consumer: String,
    /// How many times it was delivered.
    pub deliveries: u64,
    /// When it was last delivered, in Unix milliseconds on the engine's clock.
    pub delivered_at: u64,
}

impl Stream {
    /// A stream of `entries` whose last id is `last` (raised to the greatest entry's id).
    pub fn from_parts(entries: BTreeMap<StreamId, Vec<u8>>, last: StreamId) -> Stream {
        let last = entries
            .keys()
            .next_back()
            .map_or(last, |top| last.max(*top));
        Stream {
            entries,
            last,
            groups: BTreeMap::new(),
        }
    }

    /// The id the next entry gets at `now_ms` (Unix ms), as Redis's `XADD *`: `now_ms-0` when
    /// the clock is past the last id's milliseconds, else the last id's next sequence number
    /// (the milliseconds' next when the sequence is exhausted); `None` when the last id was
    /// [`StreamId::MAX`].
    pub fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last.next()
        }
    }

    /// Appends `value` with `id` (greater than [`Stream::last_id`]: the caller's rule).
    pub fn push(&mut self, id: StreamId, value: Vec<u8>) {
        self.last = self.last.max(id);
        self.entries.insert(id, value);
    }

    /// The last id given (`0-0` for none).
    pub fn last_id(&self) -> StreamId {
        self.last
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (StreamId, &[u8])> + '_ {
        self.entries.iter().map(|(id, v)| (*id, v.as_slice()))
    }

    /// The entries with ids within `start..=end`, oldest first.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl DoubleEndedIterator<Item = (StreamId, &[u8])> + '_ {
        let span = (start <= end).then_some(start..=end);
        span.into_iter()
            .flat_map(move |span| self.entries.range(span))
            .map(|(id, v)| (*id, v.as_slice()))
    }

    /// Removes the oldest entries until at most `max_len` are left; how many it removed.
    pub fn trim(&mut self, max_len: u64) -> usize {
        let keep = usize::try_from(max_len).unwrap_or(usize::MAX);
        let mut removed = 0;
        while self.entries.len() > keep {
            self.entries.pop_first();
            removed += 1;
        }
        removed
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries and the groups, the groups to change.
    pub(crate) fn entries_and_groups(
        &mut self,
    ) -> (&BTreeMap<StreamId, Vec<u8>>, &mut BTreeMap<String, Group>) {
        (&self.entries, &mut self.groups)
    }

    /// The value of the entry `id`, if the stream has it.
    pub fn get(&self, id: StreamId) -> Option<&[u8]> {
        self.entries.get(&id).map(Vec::as_slice)
    }

    /// Whether there are none (the stream exists all the same).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Members with scores, ordered by score, ties by the members' bytes (as Redis's `ZSET`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SortedSet {
    scores: HashMap<Vec<u8>, f64>,
    order: BTreeSet<(Score, Vec<u8>)>,
}

/// A score in the order (never NaN, so the order is total).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

impl SortedSet {
    /// Sets the score of `member` (not NaN); whether it was new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        let new = match self.scores.get_mut(member) {
            Some(old) => {
                self.order.remove(&(Score(*old), member.to_vec()));
                *old = score;
                false
            }
            None => {
                self.scores.insert(member.to_vec(), score);
                true
            }
        };
        self.order.insert((Score(score), member.to_vec()));
        new
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Removes `member`; whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(score) => {
                self.order.remove(&(Score(score), member.to_vec()));
                true
            }
            None => false,
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.order.range(..(Score(score), member.to_vec())).count())
    }

    /// The members and scores, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> + '_ {
        self.order.iter().map(|(score, m)| (m.as_slice(), score.0))
    }

    /// The members whose score is within `min..=max`, ascending.
    pub fn range_by_score(&self, min: f64, max: f64) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.order
            .range((Score(min), Vec::new())..)
            .take_while(move |(s, _)| s.0 <= max)
            .map(|(score, m)| (m.as_slice(), score.0))
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// A stored key: its value and when it expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Stored,
    /// When the key expires, in milliseconds since the Unix epoch on the engine's clock
    /// (`None`: never). An entry with `expires_at <= now` is dead: the engine never shows it.
    pub expires_at: Option<u64>,
}

/// Whether a transaction may write (a hint: a storage may serve reads more cheaply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads (though the engine may still drop an expired entry it found).
    Read,
    /// Reads and writes.
    Write,
}

/// Where an [`Engine`](super::Engine) keeps its entries: a map from keys to [`Entry`]s with an
/// expiry index, changed only inside transactions.
///
/// The engine holds all of Redis's semantics; a storage only stores. [`MemoryBackend`] is the
/// engine over a `HashMap` behind a lock; an embedded persistent backend is the engine over a
/// file.
///
/// [`MemoryBackend`]: crate::MemoryBackend
pub trait Storage: Send + Sync + 'static {
    /// An open transaction.
    type Txn<'a>: StorageTxn
    where
        Self: 'a;

    /// A short name for logs and metrics (the backend's
    /// [`BackendInfo::name`](crate::backend::BackendInfo::name)).
    fn name(&self) -> &'static str;

    /// Runs `f` as one transaction, isolated from every other (serializable): its changes become
    /// visible (and durable, for a persistent storage) together when it returns `Ok`. When `f`
    /// returns `Err`, the engine has already undone its changes (see [`StorageTxn`]); a storage
    /// may also discard them.
    fn transaction<R>(
        &self,
        access: Access,
        f: impl FnOnce(&mut Self::Txn<'_>) -> Result<R>,
    ) -> Result<R>;
}

/// The operations of one transaction of a [`Storage`].
///
/// Entries are returned as stored, expired or not: the engine decides what is live. The expiry
/// index must follow every `put`, `remove` and `set_expiry`.
pub trait StorageTxn {
    /// The entry at `key`: its value (to read or change in place) and its deadline.
    fn get(&mut self, key: &str) -> Result<Option<(&mut Stored, Option<u64>)>>;

    /// The entry at `key` if it is live at `now` (Unix ms): an entry whose deadline has passed
    /// is removed, and reads as absent. The default looks the key up twice; a storage that can
    /// do it in one lookup overrides it.
    fn get_live(&mut self, key: &str, now: u64) -> Result<Option<(&mut Stored, Option<u64>)>> {
        let expired = match self.get(key)? {
            None => return Ok(None),
            Some((_, deadline)) => deadline.is_some_and(|at| at <= now),
        };
        if expired {
            self.remove(key)?;
            return Ok(None);
        }
        self.get(key)
    }

    /// Stores `entry` at `key`, replacing whatever was there.
    fn put(&mut self, key: &str, entry: Entry) -> Result<()>;

    /// Removes the entry at `key` and returns it.
    fn remove(&mut self, key: &str) -> Result<Option<Entry>>;

    /// Changes the deadline of the entry at `key` (nothing if there is none).
    fn set_expiry(&mut self, key: &str, expires_at: Option<u64>) -> Result<()>;

    /// Calls `f` with the key and the deadline of every entry whose key starts with `prefix`,
    /// in any order (values are not needed: a storage need not decode them).
    fn scan_prefix(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Option<u64>)) -> Result<()>;

    /// Removes up to `max` entries whose deadline is `<= now`, earliest first; returns how many.
    fn purge_expired(&mut self, now: u64, max: usize) -> Result<usize>;
}

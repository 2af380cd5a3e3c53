//! The node types: typed handles over one key (`Item`, `Counter`, `SetOf`, `Blob`) or a keyspace
//! of ids (`Dynamic`).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::backend::{Backend, KeyTtl, SetOptions, Swap};
use crate::codec::{check_size, codec, Codec, Storable};
use crate::error::{Error, InvalidKeyReason, Result};
use crate::key::{split_id_segment, Id, IntoId, KeyPath, SEPARATOR};
use crate::node::{manifest_entry, Context, Node};

/// Most compare-and-set rounds a `modify` tries before [`Error::Conflict`].
const MODIFY_ATTEMPTS: u32 = 1_000;

/// Longest a `modify` keeps retrying before [`Error::Conflict`].
const MODIFY_DEADLINE: Duration = Duration::from_secs(15);

/// A TTL as backends store it: whole milliseconds, rounded up; zero is refused.
fn write_ttl(key: &str, ttl: Duration) -> Result<Duration> {
    if ttl.is_zero() {
        return Err(Error::InvalidTtl {
            key: key.to_owned(),
            ttl,
        });
    }
    Ok(round_up_to_millis(ttl))
}

fn round_up_to_millis(ttl: Duration) -> Duration {
    let millis = ttl.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// Waits a little before compare-and-set round `attempt` (jittered, capped exponential backoff).
async fn backoff(attempt: u32) {
    if attempt < 4 {
        tokio::task::yield_now().await;
        return;
    }
    // Full jitter over a window that doubles per lost round up to 50 ms: the more callers
    // contend, the further apart they spread, so that none starves.
    let cap_micros = (100u64 << (attempt - 4).min(9)).min(50_000);
    let micros = rand::random_range(0..=cap_micros);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// The state every single-key handle has: where it is, over what, and its default TTL. Shared,
/// so that cloning a handle is one reference-count increment.
#[derive(Clone)]
struct Leaf(Arc<LeafState>);

struct LeafState {
    ctx: Context,
    key: String,
    error: Option<InvalidKeyReason>,
    ttl: Option<Duration>,
}

impl std::ops::Deref for Leaf {
    type Target = LeafState;
    fn deref(&self) -> &LeafState {
        &self.0
    }
}

impl Leaf {
    fn new(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Leaf {
        let (key, mut error) = path.into_parts();
        let limit = ctx.limits().max_key_len;
        if error.is_none() && key.len() > limit {
            // Static segments below an id can push a key over the limit too.
            error = Some(InvalidKeyReason::KeyTooLong {
                len: key.len(),
                limit,
            });
        }
        Leaf(Arc::new(LeafState {
            ctx: ctx.clone(),
            key,
            error,
            ttl: ttl.map(round_up_to_millis),
        }))
    }

    /// The key, or the reason it cannot be used.
    fn key(&self) -> Result<&str> {
        match &self.error {
            None => Ok(&self.key),
            Some(reason) => Err(Error::InvalidKey {
                key: self.key.clone(),
                reason: reason.clone(),
            }),
        }
    }

    fn backend(&self) -> &dyn Backend {
        &**self.ctx.backend()
    }

    fn max_value_size(&self) -> usize {
        self.ctx.limits().max_value_size
    }

    async fn remove(&self) -> Result<bool> {
        let key = self.key()?;
        Ok(self.backend().delete(&[key.to_owned()]).await? > 0)
    }

    async fn exists(&self) -> Result<bool> {
        self.backend().exists(self.key()?).await
    }

    async fn ttl(&self) -> Result<Option<Duration>> {
        Ok(match self.backend().ttl(self.key()?).await? {
            KeyTtl::Expires(left) => Some(left),
            KeyTtl::Missing | KeyTtl::Persistent => None,
        })
    }

    async fn expire(&self, ttl: Duration) -> Result<bool> {
        let key = self.key()?;
        self.backend().expire(key, round_up_to_millis(ttl)).await
    }

    async fn persist(&self) -> Result<bool> {
        self.backend().persist(self.key()?).await
    }
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// The key-level methods every single-key handle shares.
macro_rules! key_methods {
    () => {
        /// The full key of this handle (ids percent-encoded), even when it is invalid.
        pub fn key(&self) -> &str {
            &self.leaf.key
        }

        /// Whether the key exists (and has not expired).
        pub async fn exists(&self) -> Result<bool> {
            self.leaf.exists().await
        }

        /// The remaining time to live, millisecond precision; `None` when the key does not exist
        /// or never expires.
        pub async fn ttl(&self) -> Result<Option<Duration>> {
            self.leaf.ttl().await
        }

        /// Makes the key expire after `ttl` (`PEXPIRE`; rounded up to whole milliseconds; zero
        /// removes the key now). Returns `false` when the key does not exist.
        pub async fn expire(&self, ttl: Duration) -> Result<bool> {
            self.leaf.expire(ttl).await
        }

        /// Removes the TTL (`PERSIST`). Returns `true` only if the key existed and had one.
        pub async fn persist(&self) -> Result<bool> {
            self.leaf.persist().await
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Item

/// One JSON value of type `T` at one key, validated against `T`'s JSON Schema on write and read.
pub struct Item<T> {
    leaf: Leaf,
    codec: &'static Codec,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Item<T> {
    fn clone(&self) -> Self {
        Item {
            leaf: self.leaf.clone(),
            codec: self.codec,
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Item<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Item").field(&self.leaf).finish()
    }
}

impl<T: Storable> Item<T> {
    /// Reads the value: `None` when absent (or expired). A stored value that is not valid JSON of
    /// `T`'s schema is [`Error::Decode`] or [`Error::Validation`].
    pub async fn get(&self) -> Result<Option<T>> {
        let key = self.leaf.key()?;
        match self.leaf.backend().get(key).await? {
            Some(bytes) => Ok(Some(self.codec.decode(key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Validates and writes the value, replacing any previous one; its TTL becomes the field's
    /// default TTL, or none (Redis `SET` semantics).
    pub async fn set(&self, value: &T) -> Result<()> {
        self.write(value, self.leaf.ttl, false).await.map(drop)
    }

    /// Validates and writes the value with its own TTL (rounded up to whole milliseconds; zero is
    /// [`Error::InvalidTtl`]).
    pub async fn set_with_ttl(&self, value: &T, ttl: Duration) -> Result<()> {
        let ttl = write_ttl(&self.leaf.key, ttl)?;
        self.write(value, Some(ttl), false).await.map(drop)
    }

    /// Writes the value only if the key does not exist (`SET NX`), with the default TTL. Returns
    /// whether it was written. Atomic: of concurrent callers exactly one wins.
    pub async fn set_if_absent(&self, value: &T) -> Result<bool> {
        self.write(value, self.leaf.ttl, true).await
    }

    async fn write(&self, value: &T, ttl: Option<Duration>, only_if_absent: bool) -> Result<bool> {
        let key = self.leaf.key()?;
        let bytes = self.codec.encode(key, value, self.leaf.max_value_size())?;
        let options = SetOptions {
            ttl,
            only_if_absent,
        };
        self.leaf.backend().set(key, &bytes, options).await
    }

    /// Atomic read-modify-write: calls `f` with the current value (`None` when absent) and stores
    /// what it returns (`None` removes the key). Returns the value now stored.
    ///
    /// Optimistic: the write only happens if the stored bytes are still the ones `f` saw;
    /// otherwise `f` runs again on the new value (so it may run several times: keep it free of
    /// side effects). An existing value keeps its remaining TTL; a value created here gets the
    /// default TTL. Lost races are retried with jittered exponential backoff (up to 50 ms between
    /// rounds); after 1,000 lost rounds or 15 s, [`Error::Conflict`] (nothing written).
    pub async fn modify<F>(&self, mut f: F) -> Result<Option<T>>
    where
        F: FnMut(Option<T>) -> Option<T>,
    {
        let key = self.leaf.key()?;
        let backend = self.leaf.backend();
        let mut current = backend.get(key).await?;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        while attempt < MODIFY_ATTEMPTS && started.elapsed() < MODIFY_DEADLINE {
            if attempt > 0 {
                backoff(attempt).await;
            }
            attempt += 1;
            let value = match &current {
                Some(bytes) => Some(self.codec.decode::<T>(key, bytes)?),
                None => None,
            };
            let next = f(value);
            let encoded = match &next {
                Some(v) => Some(self.codec.encode(key, v, self.leaf.max_value_size())?),
                None if current.is_none() => return Ok(None),
                None => None,
            };
            let swap = backend
                .compare_and_swap_or_get(key, current.as_deref(), encoded.as_deref(), self.leaf.ttl)
                .await?;
            match swap {
                Swap::Done => return Ok(next),
                // Lost the race: try again on what is stored now.
                Swap::Current(now) => current = now,
            }
        }
        Err(Error::Conflict {
            key: key.to_owned(),
            attempts: attempt,
        })
    }

    /// Removes the value; returns whether there was one.
    pub async fn remove(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
}

impl<T: Storable> Node for Item<T> {
    fn __build(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Self {
        Item {
            leaf: Leaf::new(ctx, path, ttl),
            codec: codec::<T>(),
            _value: PhantomData,
        }
    }

    fn __manifest(path: KeyPath, ttl: Option<Duration>, out: &mut Map<String, Value>) {
        let schema = codec::<T>().schema().clone();
        manifest_entry(out, &path, "item", Some(schema), ttl);
    }

    fn __owns(tail: Option<&str>) -> bool {
        tail.is_none()
    }

    fn __item_codec() -> Option<&'static Codec> {
        Some(codec::<T>())
    }
}

// ---------------------------------------------------------------------------------------------
// Counter

/// An atomic 64-bit integer, stored as decimal text so that Redis `INCRBY` works on it.
#[derive(Clone, Debug)]
pub struct Counter {
    leaf: Leaf,
}

impl Counter {
    /// The current value; 0 when absent.
    pub async fn get(&self) -> Result<i64> {
        let key = self.leaf.key()?;
        match self.leaf.backend().get(key).await? {
            None => Ok(0),
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<i64>().ok().filter(|n| n.to_string() == s))
                .ok_or_else(|| Error::Decode {
                    key: key.to_owned(),
                    message: format!(
                        "expected a decimal 64-bit integer, found {:?}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
                    ),
                }),
        }
    }

    /// Atomically adds `by` and returns the new value. A counter created here gets the field's
    /// default TTL (a fixed window); an existing one keeps its TTL. Overflow is
    /// [`Error::Overflow`] and changes nothing.
    pub async fn increment(&self, by: i64) -> Result<i64> {
        let key = self.leaf.key()?;
        self.leaf.backend().increment(key, by, self.leaf.ttl).await
    }

    /// Atomically subtracts `by` and returns the new value (see [`Counter::increment`]).
    pub async fn decrement(&self, by: i64) -> Result<i64> {
        let delta = by.checked_neg().ok_or_else(|| Error::Overflow {
            key: self.leaf.key.clone(),
        })?;
        self.increment(delta).await
    }

    /// Removes the counter (it reads as 0 again); returns whether it existed.
    pub async fn remove(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
}

impl Node for Counter {
    fn __build(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Self {
        Counter {
            leaf: Leaf::new(ctx, path, ttl),
        }
    }

    fn __manifest(path: KeyPath, ttl: Option<Duration>, out: &mut Map<String, Value>) {
        manifest_entry(out, &path, "counter", None, ttl);
    }

    fn __owns(tail: Option<&str>) -> bool {
        tail.is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// SetOf

/// A set of JSON values of type `T` (a native Redis SET; each member is `T`'s JSON text).
///
/// Membership compares the JSON text, so `T` must serialize deterministically: use `BTreeMap`,
/// not `HashMap`, inside set members.
pub struct SetOf<T> {
    leaf: Leaf,
    codec: &'static Codec,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for SetOf<T> {
    fn clone(&self) -> Self {
        SetOf {
            leaf: self.leaf.clone(),
            codec: self.codec,
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SetOf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SetOf").field(&self.leaf).finish()
    }
}

impl<T: Storable> SetOf<T> {
    fn member(&self, key: &str, value: &T) -> Result<Vec<u8>> {
        self.codec.encode(key, value, self.leaf.max_value_size())
    }

    /// Validates and adds a member; returns whether it was new. A set created here gets the
    /// field's default TTL.
    pub async fn add(&self, value: &T) -> Result<bool> {
        let key = self.leaf.key()?;
        let member = self.member(key, value)?;
        self.leaf
            .backend()
            .set_add(key, &member, self.leaf.ttl)
            .await
    }

    /// Removes a member; returns whether it was there. Removing the last member removes the key.
    pub async fn remove(&self, value: &T) -> Result<bool> {
        let key = self.leaf.key()?;
        let member = self.member(key, value)?;
        self.leaf.backend().set_remove(key, &member).await
    }

    /// Whether `value` is a member.
    pub async fn contains(&self, value: &T) -> Result<bool> {
        let key = self.leaf.key()?;
        let member = self.member(key, value)?;
        self.leaf.backend().set_contains(key, &member).await
    }

    /// Every member, decoded and validated, in no particular order.
    pub async fn members(&self) -> Result<Vec<T>> {
        let key = self.leaf.key()?;
        let raw = self.leaf.backend().set_members(key).await?;
        raw.iter().map(|m| self.codec.decode(key, m)).collect()
    }

    /// The number of members.
    pub async fn len(&self) -> Result<usize> {
        self.leaf.backend().set_len(self.leaf.key()?).await
    }

    /// Removes the whole set; returns whether it existed.
    pub async fn clear(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
}

impl<T: Storable> Node for SetOf<T> {
    fn __build(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Self {
        SetOf {
            leaf: Leaf::new(ctx, path, ttl),
            codec: codec::<T>(),
            _value: PhantomData,
        }
    }

    fn __manifest(path: KeyPath, ttl: Option<Duration>, out: &mut Map<String, Value>) {
        let schema = codec::<T>().schema().clone();
        manifest_entry(out, &path, "set", Some(schema), ttl);
    }

    fn __owns(tail: Option<&str>) -> bool {
        tail.is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// Blob

/// Raw bytes at one key: stored as they are (no JSON, no base64, no validation).
#[derive(Clone, Debug)]
pub struct Blob {
    leaf: Leaf,
}

impl Blob {
    /// The bytes, or `None` when absent.
    pub async fn get(&self) -> Result<Option<Vec<u8>>> {
        self.leaf.backend().get(self.leaf.key()?).await
    }

    /// Writes the bytes with the field's default TTL (or none).
    pub async fn set(&self, bytes: &[u8]) -> Result<()> {
        self.write(bytes, self.leaf.ttl).await
    }

    /// Writes the bytes with their own TTL (zero is [`Error::InvalidTtl`]).
    pub async fn set_with_ttl(&self, bytes: &[u8], ttl: Duration) -> Result<()> {
        let ttl = write_ttl(&self.leaf.key, ttl)?;
        self.write(bytes, Some(ttl)).await
    }

    async fn write(&self, bytes: &[u8], ttl: Option<Duration>) -> Result<()> {
        let key = self.leaf.key()?;
        check_size(key, bytes.len(), self.leaf.max_value_size())?;
        let options = SetOptions {
            ttl,
            only_if_absent: false,
        };
        self.leaf.backend().set(key, bytes, options).await.map(drop)
    }

    /// Removes the bytes; returns whether there were any.
    pub async fn remove(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
}

impl Node for Blob {
    fn __build(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Self {
        Blob {
            leaf: Leaf::new(ctx, path, ttl),
        }
    }

    fn __manifest(path: KeyPath, ttl: Option<Duration>, out: &mut Map<String, Value>) {
        manifest_entry(out, &path, "blob", None, ttl);
    }

    fn __owns(tail: Option<&str>) -> bool {
        tail.is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// Dynamic

/// A keyspace of ids of type `K` (`String` by default), each holding a node `N`: `Dynamic<Item<User>>`
/// is a map from ids to users, `Dynamic<Tenant>` a nested store per id,
/// `Dynamic<Dynamic<Counter, u64>>` a two-level map of counters.
pub struct Dynamic<N, K = String> {
    inner: Arc<DynamicState>,
    _node: PhantomData<fn() -> (N, K)>,
}

struct DynamicState {
    ctx: Context,
    path: KeyPath,
    /// `path` and the separator (and the opening hash-tag brace when colocated): every key of
    /// this keyspace starts with it.
    scan_prefix: String,
    ttl: Option<Duration>,
    item: Option<&'static Codec>,
}

impl<N, K> Clone for Dynamic<N, K> {
    fn clone(&self) -> Self {
        Dynamic {
            inner: self.inner.clone(),
            _node: PhantomData,
        }
    }
}

impl<N, K> fmt::Debug for Dynamic<N, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dynamic")
            .field(&self.inner.path.as_str())
            .finish()
    }
}

impl<N: Node, K: Id> Dynamic<N, K> {
    /// The node at `id`. Never fails: an invalid id (empty, or making the key too long) is
    /// reported as [`Error::InvalidKey`] by every operation on the returned handle.
    pub fn at<I: IntoId<K>>(&self, id: I) -> N {
        N::__build(&self.inner.ctx, self.id_path(&id), self.inner.ttl)
    }

    fn id_path<I: IntoId<K> + ?Sized>(&self, id: &I) -> KeyPath {
        self.inner
            .path
            .with_id(id, self.inner.ctx.limits().max_key_len)
    }

    fn backend(&self) -> &dyn Backend {
        &**self.inner.ctx.backend()
    }

    fn path_error(&self) -> Result<()> {
        match self.inner.path.error() {
            None => Ok(()),
            Some(reason) => Err(Error::InvalidKey {
                key: self.inner.path.as_str().to_owned(),
                reason: reason.clone(),
            }),
        }
    }

    /// The id segment of a stored key of this keyspace, if the key belongs to its layout.
    fn id_segment<'k>(&self, key: &'k str) -> Option<&'k str> {
        let tail = key.strip_prefix(self.inner.scan_prefix.as_str())?;
        let (segment, rest) = if self.inner.path.is_colocated() {
            let close = tail.find('}')?;
            let rest = &tail[close + 1..];
            let rest = match rest.strip_prefix(SEPARATOR) {
                Some(rest) => Some(rest),
                None if rest.is_empty() => None,
                None => return None,
            };
            (&tail[..close], rest)
        } else {
            match tail.split_once(SEPARATOR) {
                Some((segment, rest)) => (segment, Some(rest)),
                None => (tail, None),
            }
        };
        (!segment.is_empty() && N::__owns(rest)).then_some(segment)
    }

    /// Every stored key of this keyspace (and only those), each once.
    async fn stored_keys(&self) -> Result<Vec<String>> {
        self.path_error()?;
        let mut keys = self.backend().scan_prefix(&self.inner.scan_prefix).await?;
        keys.retain(|key| self.id_segment(key).is_some_and(|s| K::decode(s).is_some()));
        Ok(keys)
    }

    /// The ids that hold something, decoded, each once, in no particular order. Keys under this
    /// keyspace's prefix that do not fit its layout are ignored.
    pub async fn keys(&self) -> Result<Vec<K>> {
        self.path_error()?;
        let keys = self.backend().scan_prefix(&self.inner.scan_prefix).await?;
        let ids = keys.iter().filter_map(|key| self.id_segment(key));
        // Backends list each key once: below a leaf node, one key is one id; below a nested
        // node, several keys share an id.
        if N::__owns(None) {
            Ok(ids.filter_map(K::decode).collect())
        } else {
            let mut seen = HashSet::with_capacity(keys.len());
            Ok(ids
                .filter(|segment| seen.insert(*segment))
                .filter_map(K::decode)
                .collect())
        }
    }

    /// The number of ids that hold something.
    pub async fn count(&self) -> Result<usize> {
        Ok(self.keys().await?.len())
    }

    /// Removes everything stored under this keyspace (and nothing else); returns how many keys
    /// were removed.
    pub async fn clear(&self) -> Result<usize> {
        let keys = self.stored_keys().await?;
        let mut removed = 0;
        for batch in keys.chunks(1000) {
            removed += self.backend().delete(batch).await?;
        }
        Ok(removed)
    }
}

impl<T: Storable, K: Id> Dynamic<Item<T>, K> {
    fn codec(&self) -> &'static Codec {
        self.inner.item.unwrap_or_else(codec::<T>)
    }

    fn item_key<I: IntoId<K> + ?Sized>(&self, id: &I) -> Result<String> {
        let (key, error) = self.id_path(id).into_parts();
        match error {
            None => Ok(key),
            Some(reason) => Err(Error::InvalidKey { key, reason }),
        }
    }

    /// The value at `id` (see [`Item::get`]).
    pub async fn get<I: IntoId<K>>(&self, id: I) -> Result<Option<T>> {
        let key = self.item_key(&id)?;
        match self.backend().get(&key).await? {
            Some(bytes) => Ok(Some(self.codec().decode(&key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Validates and writes the value at `id` (see [`Item::set`]).
    pub async fn set<I: IntoId<K>>(&self, id: I, value: &T) -> Result<()> {
        let key = self.item_key(&id)?;
        let bytes = self
            .codec()
            .encode(&key, value, self.inner.ctx.limits().max_value_size)?;
        let options = SetOptions {
            ttl: self.inner.ttl,
            only_if_absent: false,
        };
        self.backend().set(&key, &bytes, options).await.map(drop)
    }

    /// Removes the value at `id`; returns whether there was one.
    pub async fn remove<I: IntoId<K>>(&self, id: I) -> Result<bool> {
        let key = self.item_key(&id)?;
        Ok(self.backend().delete(&[key]).await? > 0)
    }

    /// The values at `ids`, in the same order (`None` for a missing one), in one round trip.
    pub async fn get_many<I, It>(&self, ids: It) -> Result<Vec<Option<T>>>
    where
        It: IntoIterator<Item = I>,
        I: IntoId<K>,
    {
        let keys = ids
            .into_iter()
            .map(|id| self.item_key(&id))
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values = self.backend().get_many(&keys).await?;
        self.decode_all(&keys, values)
    }

    fn decode_all(&self, keys: &[String], values: Vec<Option<Vec<u8>>>) -> Result<Vec<Option<T>>> {
        let codec = self.codec();
        keys.iter()
            .zip(values)
            .map(|(key, bytes)| bytes.map(|b| codec.decode(key, &b)).transpose())
            .collect()
    }

    /// Validates every value, then writes them all as one atomic step (nothing is written if any
    /// value is invalid). Accepts any iterator of `(id, value)` pairs, values owned or borrowed.
    pub async fn set_many<I, V, It>(&self, entries: It) -> Result<()>
    where
        It: IntoIterator<Item = (I, V)>,
        I: IntoId<K>,
        V: Borrow<T>,
    {
        let codec = self.codec();
        let max = self.inner.ctx.limits().max_value_size;
        let encoded = entries
            .into_iter()
            .map(|(id, value)| {
                let key = self.item_key(&id)?;
                let bytes = codec.encode(&key, value.borrow(), max)?;
                Ok((key, bytes))
            })
            .collect::<Result<Vec<_>>>()?;
        if encoded.is_empty() {
            return Ok(());
        }
        self.backend().set_many(&encoded, self.inner.ttl).await
    }

    /// Every `(id, value)` pair, in no particular order.
    pub async fn entries(&self) -> Result<Vec<(K, T)>> {
        let keys = self.stored_keys().await?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values = self.backend().get_many(&keys).await?;
        let values = self.decode_all(&keys, values)?;
        Ok(keys
            .iter()
            .zip(values)
            .filter_map(|(key, value)| {
                let id = K::decode(self.id_segment(key)?)?;
                Some((id, value?))
            })
            .collect())
    }
}

impl<N: Node, K: Id> Node for Dynamic<N, K> {
    fn __build(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Self {
        let mut scan_prefix = String::with_capacity(path.as_str().len() + 2);
        scan_prefix.push_str(path.as_str());
        if !scan_prefix.is_empty() {
            scan_prefix.push(SEPARATOR);
        }
        if path.is_colocated() {
            scan_prefix.push('{');
        }
        Dynamic {
            inner: Arc::new(DynamicState {
                ctx: ctx.clone(),
                path,
                scan_prefix,
                ttl: ttl.map(round_up_to_millis),
                item: N::__item_codec(),
            }),
            _node: PhantomData,
        }
    }

    fn __manifest(path: KeyPath, ttl: Option<Duration>, out: &mut Map<String, Value>) {
        // A store may nest itself (`children: Dynamic<Self>`): its layout is then infinite. The
        // manifest describes each recursive level once, and marks where it repeats.
        thread_local! {
            static EXPANDING: std::cell::RefCell<Vec<(std::any::TypeId, String)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let id = std::any::TypeId::of::<Self>();
        let path = path.with_id_pattern();
        let repeats = EXPANDING.with_borrow(|stack| {
            stack
                .iter()
                .find(|(t, _)| *t == id)
                .map(|(_, pattern)| pattern.clone())
        });
        if let Some(same_as) = repeats {
            let mut entry = Map::new();
            entry.insert("kind".into(), Value::from("recursive"));
            entry.insert("same_as".into(), Value::from(same_as));
            out.insert(format!("{}:...", path.as_str()), Value::Object(entry));
            return;
        }
        EXPANDING.with_borrow_mut(|stack| stack.push((id, path.as_str().to_owned())));
        N::__manifest(path, ttl, out);
        EXPANDING.with_borrow_mut(|stack| stack.pop());
    }

    fn __owns(tail: Option<&str>) -> bool {
        let Some(tail) = tail else {
            return false;
        };
        split_id_segment(tail)
            .is_some_and(|(segment, rest)| K::decode(segment).is_some() && N::__owns(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that nests itself, written by hand as the derive would generate it.
    #[derive(Clone)]
    struct Tree {
        name: Item<String>,
        children: Dynamic<Tree>,
    }

    impl Node for Tree {
        fn __build(ctx: &Context, path: KeyPath, ttl: Option<Duration>) -> Self {
            Tree {
                name: Node::__build(ctx, path.child("name"), ttl),
                children: Node::__build(ctx, path.child("children"), ttl),
            }
        }
        fn __manifest(path: KeyPath, ttl: Option<Duration>, out: &mut Map<String, Value>) {
            <Item<String>>::__manifest(path.child("name"), ttl, out);
            <Dynamic<Tree>>::__manifest(path.child("children"), ttl, out);
        }
        fn __owns(tail: Option<&str>) -> bool {
            match tail.map(crate::__private::split_segment) {
                Some(("name", rest)) => <Item<String>>::__owns(rest),
                Some(("children", rest)) => <Dynamic<Tree>>::__owns(rest),
                _ => false,
            }
        }
    }

    #[test]
    fn recursive_manifest_is_finite() {
        let manifest = crate::__private::manifest_root::<Tree>("t");
        let keys: Vec<&String> = manifest.as_object().unwrap().keys().collect();
        assert!(keys.contains(&&"t:name".to_owned()), "{manifest}");
        assert!(
            keys.contains(&&"t:children:*:name".to_owned()),
            "{manifest}"
        );
        let repeat = &manifest["t:children:*:children:*:..."];
        assert_eq!(repeat["kind"], "recursive", "{manifest}");
        assert_eq!(repeat["same_as"], "t:children:*", "{manifest}");
    }

    #[test]
    fn recursive_store_works() {
        let tree: Tree = crate::__private::open_root(crate::MemoryBackend::new(), "t");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let leaf = tree.children.at("a").children.at("b");
            leaf.name.set(&"deep".to_owned()).await.unwrap();
            assert_eq!(leaf.name.key(), "t:children:a:children:b:name");
            assert_eq!(tree.children.keys().await.unwrap(), vec!["a".to_owned()]);
            assert_eq!(tree.children.count().await.unwrap(), 1);
        });
    }
}

//! [`Item<T>`]: one JSON value at one key — and the one read/write path that `Item` and the
//! `Dynamic<Item<T>>` shortcuts share ([`ItemAt`]).

use std::fmt;
use std::time::Duration;

use futures_core::Stream;
use serde_json::{Map, Value};

use std::sync::Arc;

use super::audit::{BoxFuture, Run, Verdict, WriteBack};
use super::index::hooks::{IndexedWriteBack, Indexes};
use super::watch::{KeyWatch, WatchRead};

use super::{
    key_methods, manifest_entry, remove_key, Context, ItemLeaf, KeyPath, Leaf, Node, Spec,
    Versioned,
};
use crate::backend::cache::{Cached, Lookup};
use crate::backend::command::{Command, SetOptions, StringOp, Swap};
use crate::backend::{write_ttl, ClientCache};
use crate::error::{Error, Result};
use crate::value::{codec, Codec, Json, LeafCodec, Migrations, Read, Storable};

/// Most compare-and-set rounds a `modify` tries before [`Error::Conflict`].
const MODIFY_ATTEMPTS: u32 = 1_000;

/// Longest a `modify` keeps retrying before [`Error::Conflict`].
const MODIFY_DEADLINE: Duration = Duration::from_secs(15);

/// Waits a little before compare-and-set round `attempt` (jittered, capped exponential backoff).
pub(crate) async fn backoff(attempt: u32) {
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

/// A cache hit's yield point: a hit does no I/O, so without one a task that only reads cached
/// values would never give the runtime back, and on a current-thread runtime the task that
/// applies the server's invalidations would never run (the cache would serve a stale value for
/// as long as the loop lasts). This spends one unit of tokio's cooperative budget and yields
/// only when the task has used it all (every 128 budgeted operations): a thread-local counter
/// per hit (about 7 ns measured, yields included), and the invalidations are applied within a
/// few budgets (the push is read by the connection's task, then applied by the notifier's).
/// Outside a tokio runtime there is no budget and a hit never yields.
pub(crate) async fn cooperate() {
    tokio::task::coop::consume_budget().await;
}

/// What a cache hit gives an item read: the value (decoded without validation when this codec
/// checked the bytes), or bytes to read in full (checked by another type, or never).
pub(crate) enum CachedRead<T> {
    Done(Result<Option<T>>),
    Unchecked(Vec<u8>),
}

/// Reads a cache hit at `key` as `T` (see [`CachedRead`]): a clone of the decoded value when
/// there is one, else a decode without validation of bytes this codec checked.
pub(crate) fn cached_read<T: Storable>(
    json: Json<T>,
    clone: Option<fn(&T) -> T>,
    key: &str,
    cached: &Cached,
) -> CachedRead<T> {
    let codec = json.codec();
    match &cached.bytes {
        None => CachedRead::Done(Ok(None)),
        Some(bytes) if cached.checked == codec.id() => {
            let decoded = clone.zip(cached.value.as_ref());
            if let Some((clone, value)) = decoded {
                if let Some(value) = value.downcast_ref::<T>() {
                    return CachedRead::Done(Ok(Some(clone(value))));
                }
            }
            CachedRead::Done(codec.decode_checked(key, bytes).map(Some))
        }
        Some(bytes) => CachedRead::Unchecked(bytes.to_vec()),
    }
}

/// An item's value at one checked key: the read and write path of every item operation.
pub(crate) struct ItemAt<'a, T> {
    pub(crate) ctx: &'a Context,
    pub(crate) key: &'a str,
    pub(crate) json: Json<T>,
    /// The default TTL of writes (already rounded).
    pub(crate) ttl: Option<Duration>,
    /// The older versions of `T`, when the field lists some.
    pub(crate) migrations: Option<&'a Migrations<T>>,
    /// `T::clone`, when `T` is `Clone` (a client cache keeps decoded values then).
    pub(crate) clone: Option<fn(&T) -> T>,
    /// The indexes of the records, when this is one (a `Dynamic<Item<T>>` with indexes).
    pub(crate) indexes: Option<&'a Indexes<T>>,
}

impl<'a, T: Storable> ItemAt<'a, T> {
    /// The same reader, without indexes (what the index protocol reads records with).
    pub(crate) fn reader(&self) -> ItemAt<'a, T> {
        ItemAt {
            ctx: self.ctx,
            key: self.key,
            json: self.json,
            ttl: self.ttl,
            migrations: self.migrations,
            clone: self.clone,
            indexes: None,
        }
    }

    pub(crate) async fn get(&self) -> Result<Option<T>> {
        if let Some(cache) = self.ctx.cache() {
            return self.get_cached(cache).await;
        }
        let command = Command::Str {
            key: self.key,
            op: StringOp::Get,
        };
        match self.ctx.execute(command).await?.into_value(&command)? {
            Some(bytes) => Ok(Some(self.read(&bytes).await?)),
            None => Ok(None),
        }
    }

    /// [`get`](Self::get) through the backend's client cache: a hit checked by this codec is
    /// only deserialized; a miss is read, decoded, and kept (unless it is an older version, or
    /// the key changed meanwhile).
    async fn get_cached(&self, cache: &ClientCache) -> Result<Option<T>> {
        let read = |c: &Cached| cached_read(self.json, self.clone, self.key, c);
        let ticket = match cache.lookup(self.key, read) {
            Lookup::Hit(CachedRead::Done(read)) => {
                cooperate().await;
                return read;
            }
            Lookup::Hit(CachedRead::Unchecked(bytes)) => {
                cooperate().await;
                return self.read(&bytes).await.map(Some);
            }
            Lookup::Miss(ticket) => ticket,
        };
        let command = Command::Str {
            key: self.key,
            op: StringOp::Get,
        };
        let bytes = self.ctx.execute(command).await?.into_value(&command)?;
        self.read_and_keep(cache, ticket, bytes).await
    }

    /// Decodes bytes read after a cache miss, and keeps them (checked by this codec) in the
    /// cache when they are of the current version.
    pub(crate) async fn read_and_keep(
        &self,
        cache: &ClientCache,
        ticket: Option<u64>,
        bytes: Option<Vec<u8>>,
    ) -> Result<Option<T>> {
        let Some(bytes) = bytes else {
            if let Some(ticket) = ticket {
                let absent = Cached {
                    bytes: None,
                    checked: 0,
                    value: None,
                };
                cache.fill(self.key, ticket, absent);
            }
            return Ok(None);
        };
        match self.classify(&bytes)? {
            Read::Current(value) => {
                if let Some(ticket) = ticket {
                    let decoded = self.clone.map(|clone| {
                        Arc::new(clone(&value)) as Arc<dyn std::any::Any + Send + Sync>
                    });
                    let cached = Cached {
                        bytes: Some(bytes.into_boxed_slice()),
                        checked: self.json.codec().id(),
                        value: decoded,
                    };
                    cache.fill(self.key, ticket, cached);
                }
                Ok(Some(value))
            }
            Read::Older { .. } => self.read(&bytes).await.map(Some),
        }
    }

    /// Decodes stored `bytes`: as `T`, or through an older version (then written back in the
    /// current shape, unless the field turned that off).
    pub(crate) async fn read(&self, bytes: &[u8]) -> Result<T> {
        self.read_migrating(bytes).await.map(|(value, _)| value)
    }

    /// [`read`](Self::read), and the bytes it wrote back (`None`: it wrote nothing, the key
    /// still holds `bytes` as far as this read knows).
    async fn read_migrating(&self, bytes: &[u8]) -> Result<(T, Option<Vec<u8>>)> {
        match self.classify(bytes)? {
            Read::Current(value) => Ok((value, None)),
            Read::Older { value, encoded, .. } => {
                let writes_back = self.migrations.is_some_and(Migrations::writes_back);
                let wrote = match self.indexes {
                    // With indexes, the converted value's keys are claimed and entered like
                    // any write's; a key held by another record: no write-back.
                    Some(indexes) if writes_back => {
                        let how = super::index::hooks::Record::Swap {
                            expected: Some(bytes),
                            ttl_if_created: None,
                        };
                        let written = self.write_planned(indexes, &value, how).await;
                        #[cfg(feature = "tracing")]
                        if let Err(error) = &written {
                            tracing::debug!(kvstore.pattern = self.ctx.pattern_of(self.key).as_deref(), %error, "kvstore: migration write-back refused");
                        }
                        let written = written.unwrap_or(false);
                        if written {
                            self.ctx.migrated(self.key);
                        }
                        written
                    }
                    _ => writes_back && self.write_back(bytes, &encoded).await,
                };
                Ok((value, wrote.then_some(encoded)))
            }
        }
    }

    /// Reads the value from the backend (never from a client cache: the version must be what
    /// is stored) with the exact bytes the key holds when the read returns.
    pub(crate) async fn get_versioned(&self) -> Result<Option<Versioned<T>>> {
        let command = Command::Str {
            key: self.key,
            op: StringOp::Get,
        };
        let Some(bytes) = self.ctx.execute(command).await?.into_value(&command)? else {
            return Ok(None);
        };
        let (value, written) = self.read_migrating(&bytes).await?;
        Ok(Some(Versioned::new(value, written.unwrap_or(bytes))))
    }

    /// How `bytes` read: current, or an older version (no write).
    pub(crate) fn classify(&self, bytes: &[u8]) -> Result<Read<T>> {
        self.ctx
            .observed(classify(self.json, self.migrations, self.key, bytes))
    }

    /// Replaces `old` (the exact bytes read) with `new`, keeping the TTL; a lost swap (someone
    /// wrote since) is fine, and so is a failed one: the read has its value either way, and the
    /// next read or `migrate()` tries again. Returns whether it swapped.
    pub(crate) async fn write_back(&self, old: &[u8], new: &[u8]) -> bool {
        let swap = Command::Str {
            key: self.key,
            op: StringOp::CompareAndSwap {
                expected: Some(old),
                new: Some(new),
                ttl_if_created: None,
            },
        };
        let result = self
            .ctx
            .execute(swap)
            .await
            .and_then(|r| r.into_swap(&swap));
        #[cfg(feature = "tracing")]
        if let Err(error) = &result {
            let pattern = self.ctx.pattern_of(self.key);
            tracing::debug!(kvstore.pattern = pattern.as_deref(), %error, "kvstore: migration write-back failed");
        }
        let swapped = matches!(result, Ok(Swap::Done));
        if swapped {
            self.ctx.migrated(self.key);
        }
        swapped
    }

    /// Encodes, validates and writes `value` (`SET` with `options`).
    pub(crate) async fn write(&self, value: &T, options: SetOptions) -> Result<bool> {
        match self.indexes {
            Some(indexes) => self.write_indexed(indexes, value, options).await,
            None => self.write_plain(value, options).await,
        }
    }

    /// [`write`](Self::write) without indexes.
    pub(crate) async fn write_plain(&self, value: &T, options: SetOptions) -> Result<bool> {
        let bytes = self.ctx.observed(self.json.encode(
            self.key,
            value,
            self.ctx.limits().max_value_size,
        ))?;
        let command = Command::Str {
            key: self.key,
            op: StringOp::Set {
                value: &bytes,
                options,
            },
        };
        self.ctx.execute(command).await?.into_bool(&command)
    }

    pub(crate) async fn remove(&self) -> Result<bool> {
        match self.indexes {
            Some(indexes) => self.remove_indexed(indexes).await,
            None => remove_key(self.ctx, self.key).await,
        }
    }

    pub(crate) async fn modify<F>(&self, mut f: F) -> Result<Option<T>>
    where
        F: FnMut(Option<T>) -> Option<T>,
    {
        let key = self.key;
        let get = Command::Str {
            key,
            op: StringOp::Get,
        };
        let mut current = self.ctx.execute(get).await?.into_value(&get)?;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        while attempt < MODIFY_ATTEMPTS && started.elapsed() < MODIFY_DEADLINE {
            if attempt > 0 {
                backoff(attempt).await;
            }
            attempt += 1;
            // An older version is read (and converted) here, then written as the current one.
            let value = match &current {
                Some(bytes) => Some(self.classify(bytes)?.into_value()),
                None => None,
            };
            let next = f(value);
            if let Some(indexes) = self.indexes {
                match self
                    .modify_indexed(indexes, &next, current.as_deref())
                    .await?
                {
                    None => return Ok(next),
                    Some(now) => {
                        current = now;
                        continue;
                    }
                }
            }
            let encoded = match &next {
                Some(v) => Some(self.json.encode(key, v, self.ctx.limits().max_value_size)?),
                None if current.is_none() => return Ok(None),
                None => None,
            };
            let swap = Command::Str {
                key,
                op: StringOp::CompareAndSwap {
                    expected: current.as_deref(),
                    new: encoded.as_deref(),
                    ttl_if_created: self.ttl,
                },
            };
            match self.ctx.execute(swap).await?.into_swap(&swap)? {
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
}

/// How `bytes` stored at `key` read: as `T` (the fast path, one decode, when there are no older
/// versions), or through an older version.
fn classify<T: Storable>(
    json: Json<T>,
    migrations: Option<&Migrations<T>>,
    key: &str,
    bytes: &[u8],
) -> Result<Read<T>> {
    match migrations {
        None => Ok(Read::Current(json.decode(key, bytes)?)),
        Some(migrations) => migrations.read(json.codec(), key, bytes),
    }
}

/// The audit's verdict on an item value: the read's (through [`Migrations::read`], which
/// [`judge`](crate::value::judge)s what does not decode as `T`), without its write-back.
fn verdict<T: Storable>(
    json: Json<T>,
    migrations: Option<&Migrations<T>>,
    key: &str,
    bytes: &[u8],
) -> Verdict {
    match classify(json, migrations, key, bytes) {
        Ok(Read::Current(_)) => Verdict::Valid,
        Ok(Read::Older { encoded, .. }) => Verdict::Outdated {
            encoded: Some(encoded),
        },
        Err(e) => Verdict::Invalid(e),
    }
}

/// Defines `audit`, `audit_with_progress`, `migrate` and `migrate_with_progress` on a handle
/// whose `Node::__location` is its root.
macro_rules! audit_methods {
    () => {
        /// Reads every value stored under this handle and reports which are valid, outdated (an
        /// older version listed in `migrate_from`), invalid or of another kind, and which keys
        /// under it fit no pattern of the layout. Never stops at a bad value; reads in batches
        /// (SCAN pages and one `MGET` each), so memory stays bounded.
        pub async fn audit(&self) -> $crate::Result<$crate::AuditReport> {
            self.audit_with_progress(|_| {}).await
        }

        /// [`audit`](Self::audit), calling `progress` after each batch.
        pub async fn audit_with_progress(
            &self,
            mut progress: impl FnMut(&$crate::Progress) + Send,
        ) -> $crate::Result<$crate::AuditReport> {
            $crate::node::audit_entry(self, false, &mut progress).await
        }

        /// Rewrites every value stored in an older version (listed in `migrate_from`) in the
        /// current shape — each with a compare-and-swap against the bytes read, keeping its
        /// TTL, so it is safe while the service writes — and reports what it did. Running it
        /// again migrates nothing. Reads in batches; memory stays bounded.
        pub async fn migrate(&self) -> $crate::Result<$crate::MigrationReport> {
            self.migrate_with_progress(|_| {}).await
        }

        /// [`migrate`](Self::migrate), calling `progress` after each batch.
        pub async fn migrate_with_progress(
            &self,
            mut progress: impl FnMut(&$crate::Progress) + Send,
        ) -> $crate::Result<$crate::MigrationReport> {
            $crate::node::migrate_entry(self, false, &mut progress).await
        }
    };
}
pub(crate) use audit_methods;

/// One JSON value of type `T` at one key, validated against `T`'s JSON Schema on write and read.
pub struct Item<T> {
    pub(crate) leaf: Leaf,
    pub(crate) json: Json<T>,
    migrations: Option<Arc<Migrations<T>>>,
    clone: Option<fn(&T) -> T>,
    indexes: Option<Arc<Indexes<T>>>,
}

impl<T> Clone for Item<T> {
    fn clone(&self) -> Self {
        Item {
            leaf: self.leaf.clone(),
            json: self.json,
            migrations: self.migrations.clone(),
            indexes: self.indexes.clone(),
            clone: self.clone,
        }
    }
}

impl<T> fmt::Debug for Item<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Item").field(&self.leaf).finish()
    }
}

impl<T: Storable> Item<T> {
    pub(crate) fn at(&self) -> Result<ItemAt<'_, T>> {
        Ok(ItemAt {
            ctx: &self.leaf.ctx,
            key: self.leaf.key()?,
            json: self.json,
            ttl: self.leaf.ttl,
            migrations: self.migrations.as_deref(),
            clone: self.clone,
            indexes: self.indexes.as_deref(),
        })
    }

    /// Watches the value: a stream that yields the current value first, then the value after
    /// each change (a write, a removal or an expiry yield `None`).
    ///
    /// It coalesces: a consumer that falls behind gets the latest value, never an older value
    /// after a newer one, and not necessarily every value in between (at-least-latest). A
    /// change that leaves the stored bytes as they were is not yielded (a TTL renewal, or a
    /// rewrite of the same bytes: give values that must be told apart a token of their own).
    /// A value written in an older version is converted, but not written back (a watcher only
    /// reads). A stored value that fails validation yields an `Err` naming the key and the
    /// stream goes on; so does a failed read (the next change reads again). With a client
    /// cache, a `get` made after the watch yielded a value never returns an older one. After the backend reconnects (Redis
    /// pub/sub loses what was published meanwhile) it re-reads, so it always converges on
    /// what is stored. The stream ends after an `Err` only when the backend cannot watch at
    /// all (for example a Redis server that refuses `CONFIG SET notify-keyspace-events` and
    /// lacks the flags: the error names them). Dropping it unsubscribes.
    ///
    /// ```
    /// # use kvstore::{Item, MemoryBackend, Store};
    /// # use futures_util::StreamExt;
    /// #[derive(Store)]
    /// struct App { motd: Item<String> }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let app = App::open(MemoryBackend::new());
    /// let mut changes = std::pin::pin!(app.motd().watch());
    /// assert_eq!(changes.next().await.unwrap()?, None); // the current value
    /// app.motd().set(&"hello".to_string()).await?;
    /// assert_eq!(changes.next().await.unwrap()?.as_deref(), Some("hello"));
    /// # Ok::<(), kvstore::Error>(()) }).unwrap();
    /// ```
    pub fn watch(&self) -> impl Stream<Item = Result<Option<T>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::String);
        futures_util::stream::unfold((self.clone(), watch), |(item, mut watch)| async move {
            let next = match watch.next_value().await? {
                Err(e) => Err(e),
                Ok(None) => Ok(None),
                // Converted if older, but not written back: a watcher only reads.
                Ok(Some(bytes)) => item
                    .at()
                    .and_then(|at| at.classify(&bytes))
                    .map(|read| Some(read.into_value())),
            };
            Some((next, (item, watch)))
        })
    }

    /// Reads the value: `None` when absent (or expired). A stored value that is not valid JSON of
    /// `T`'s schema is [`Error::Decode`] or [`Error::Validation`].
    pub async fn get(&self) -> Result<Option<T>> {
        self.at()?.get().await
    }

    /// The value with its version: the exact bytes the key holds when the read returns (after
    /// a migration write-back, the bytes written back), for
    /// [`Atomic::check_unchanged`](crate::Atomic::check_unchanged). Always reads the backend,
    /// never a client cache.
    ///
    /// ```
    /// # use kvstore::{Atomic, Item, MemoryBackend, Store};
    /// #[derive(Store)]
    /// struct App {
    ///     coins: Item<i64>,
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let app = App::open(MemoryBackend::new());
    /// app.coins().set(&100).await?;
    /// let read = app.coins().get_versioned().await?;
    /// assert_eq!(read.as_deref(), Some(&100));
    /// let committed = Atomic::new()
    ///     .check_unchanged(&app.coins(), &read)
    ///     .set(&app.coins(), &(*read.unwrap() - 30))
    ///     .commit()
    ///     .await?;
    /// assert!(committed);
    /// # Ok::<(), kvstore::Error>(()) }).unwrap();
    /// ```
    pub async fn get_versioned(&self) -> Result<Option<Versioned<T>>> {
        self.at()?.get_versioned().await
    }

    /// Validates and writes the value, replacing any previous one; its TTL becomes the field's
    /// default TTL, or none (Redis `SET` semantics).
    pub async fn set(&self, value: &T) -> Result<()> {
        let options = SetOptions {
            ttl: self.leaf.ttl,
            ..SetOptions::default()
        };
        self.at()?.write(value, options).await.map(drop)
    }

    /// Validates and writes the value with its own TTL (rounded up to whole milliseconds; zero is
    /// [`Error::InvalidTtl`]).
    pub async fn set_with_ttl(&self, value: &T, ttl: Duration) -> Result<()> {
        let options = SetOptions {
            ttl: write_ttl(&self.leaf.key, Some(ttl))?,
            ..SetOptions::default()
        };
        self.at()?.write(value, options).await.map(drop)
    }

    /// Validates and writes the value, keeping the key's remaining TTL (Redis `SET ... KEEPTTL`;
    /// a value written where there was none gets no TTL). For repairs and migrations that must
    /// not extend or drop an expiry (a session's, say).
    pub async fn set_keep_ttl(&self, value: &T) -> Result<()> {
        let options = SetOptions {
            keep_ttl: true,
            ..SetOptions::default()
        };
        self.at()?.write(value, options).await.map(drop)
    }

    /// Writes the value only if the key does not exist (`SET NX`), with the default TTL. Returns
    /// whether it was written. Atomic: of concurrent callers exactly one wins.
    pub async fn set_if_absent(&self, value: &T) -> Result<bool> {
        let options = SetOptions {
            ttl: self.leaf.ttl,
            only_if_absent: true,
            ..SetOptions::default()
        };
        self.at()?.write(value, options).await
    }

    /// Atomic read-modify-write: calls `f` with the current value (`None` when absent) and stores
    /// what it returns (`None` removes the key). Returns the value now stored.
    ///
    /// Optimistic: the write only happens if the stored bytes are still the ones `f` saw;
    /// otherwise `f` runs again on the new value (so it may run several times: keep it free of
    /// side effects). An existing value keeps its remaining TTL; a value created here gets the
    /// default TTL. Lost races are retried with jittered exponential backoff (up to 50 ms between
    /// rounds); after 1,000 lost rounds or 15 s, [`Error::Conflict`] (nothing written).
    pub async fn modify<F>(&self, f: F) -> Result<Option<T>>
    where
        F: FnMut(Option<T>) -> Option<T>,
    {
        self.at()?.modify(f).await
    }

    /// Removes the value; returns whether there was one.
    pub async fn remove(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
    audit_methods!();
}

impl<T: Storable> Item<T> {
    async fn audit_keys(
        ctx: &Context,
        keys: &[String],
        spec: &Spec,
        run: &mut Run<'_>,
    ) -> Result<()> {
        let json = Json::<T>::new();
        let migrations = spec.migrations::<T>();
        let indexes = spec.indexes::<T>();
        let write_back = indexes.as_deref().map(|indexes| IndexedWriteBack {
            ctx,
            indexes,
            migrations: migrations.as_deref(),
        });
        let write_back = write_back.as_ref().map(|w| w as &dyn WriteBack);
        run.check_strings_with(
            ctx,
            keys,
            |key, bytes| verdict(json, migrations.as_deref(), key, bytes),
            write_back,
        )
        .await
    }
}

impl<T: Storable> Node for Item<T> {
    fn __build(ctx: &Context, path: KeyPath, spec: &Spec) -> Self {
        Item {
            leaf: Leaf::new(ctx, path, spec),
            json: Json::new(),
            migrations: spec.migrations(),
            clone: spec.clone_fn(),
            indexes: spec.indexes(),
        }
    }

    fn __manifest(path: KeyPath, spec: &Spec, out: &mut Map<String, Value>) {
        let schema = codec::<T>().schema().clone();
        manifest_entry(out, &path, "item", Some(schema), spec.ttl);
        if let Some(migrations) = spec.migrations::<T>() {
            if let Some(Value::Object(entry)) = out.get_mut(path.as_str()) {
                entry.insert("previous".into(), Value::Array(migrations.schemas()));
            }
        }
    }

    fn __owns(tail: Option<&str>) -> bool {
        tail.is_none()
    }

    fn __item_codec() -> Option<&'static Codec> {
        Some(codec::<T>())
    }

    fn __audit_indexes<'a>(
        ctx: &'a Context,
        spec: &'a Spec,
        run: &'a mut Run<'_>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (Some(indexes), migrations) = (spec.indexes::<T>(), spec.migrations::<T>()) else {
                return Ok(());
            };
            indexes.audit(ctx, migrations.as_deref(), run).await
        })
    }

    fn __remove_indexed<'a>(
        ctx: &'a Context,
        key: &'a str,
        spec: &'a Spec,
    ) -> Option<BoxFuture<'a, Result<bool>>> {
        let indexes = spec.indexes::<T>()?;
        let migrations = spec.migrations::<T>();
        Some(Box::pin(async move {
            let at = ItemAt {
                ctx,
                key,
                json: Json::new(),
                ttl: None,
                migrations: migrations.as_deref(),
                clone: None,
                indexes: Some(&indexes),
            };
            at.remove().await
        }))
    }

    fn __audit<'a>(&'a self, run: &'a mut Run<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Ok(key) = self.leaf.key() else {
                return Ok(());
            };
            let keys = [key.to_owned()];
            let json = self.json;
            let migrations = self.migrations.as_deref();
            let write_back = self.indexes.as_deref().map(|indexes| IndexedWriteBack {
                ctx: &self.leaf.ctx,
                indexes,
                migrations,
            });
            let write_back = write_back.as_ref().map(|w| w as &dyn WriteBack);
            run.check_strings_with(
                &self.leaf.ctx,
                &keys,
                |key, bytes| verdict(json, migrations, key, bytes),
                write_back,
            )
            .await
        })
    }

    fn __audit_leaves<'a>(
        ctx: &'a Context,
        keys: &'a [String],
        spec: &'a Spec,
        run: &'a mut Run<'_>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(Self::audit_keys(ctx, keys, spec, run))
    }

    fn __location(&self) -> Option<(Context, String)> {
        Some((self.leaf.ctx.clone(), self.leaf.key.clone()))
    }
}

impl<T: Storable> ItemLeaf for Item<T> {
    type Value = T;
}

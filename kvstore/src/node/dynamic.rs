//! [`Dynamic<N, K>`]: a keyspace of ids, each holding a node `N`.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde_json::{Map, Value};

use futures_core::Stream;

use super::audit::{BoxFuture, Run, PAGE};
use super::index::hooks::Indexes;
use super::item::{audit_methods, cached_read, CachedRead, ItemAt};
use super::watch::PrefixWatch;
use super::{remove_key, Context, Item, ItemLeaf, Node, Spec, Versioned};
use crate::backend::cache::Lookup;
use crate::backend::command::{Command, ScanPage, SetOptions};
use crate::backend::round_up_to_millis;
use crate::backend::ClientCache;
use crate::error::{Error, InvalidKeyReason, Result};
use crate::layout::{split_id_segment, Id, IntoId, KeyPath};
use crate::value::{codec, map_batch, Codec, Json, LeafCodec, Migrations, Storable};

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
    /// The path's problem as a key prefix (a bad name, an empty id above, too long).
    error: Option<InvalidKeyReason>,
    /// `path` and the separator: every key of this keyspace starts with it.
    id_prefix: String,
    /// What to scan for: `id_prefix`, and the opening hash-tag brace when colocated.
    scan_prefix: String,
    /// The field's spec, for the nodes at each id (its TTL rounded).
    spec: Spec,
    item: Option<&'static Codec>,
}

impl<N, K> Dynamic<N, K> {
    /// The field's spec (what each id's node is built with).
    pub(crate) fn spec(&self) -> &Spec {
        &self.inner.spec
    }
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
        N::__build(&self.inner.ctx, self.id_path(&id), &self.inner.spec)
    }

    fn id_path<I: IntoId<K> + ?Sized>(&self, id: &I) -> KeyPath {
        self.inner.path.with_id(id)
    }

    fn path_error(&self) -> Result<()> {
        match &self.inner.error {
            None => Ok(()),
            Some(reason) => Err(Error::InvalidKey {
                key: self.inner.path.as_str().to_owned(),
                reason: reason.clone(),
            }),
        }
    }

    /// The encoded id of a stored key of this keyspace, if the key belongs to its layout (the
    /// id segment tagged exactly when this keyspace is colocated, and the rest owned by `N`).
    fn id_segment<'k>(&self, key: &'k str) -> Option<&'k str> {
        let tail = key.strip_prefix(self.inner.id_prefix.as_str())?;
        let segment = split_id_segment(tail)?;
        // Below a leaf node, only the leaf's own key: not its auxiliary keys.
        let own = !N::__owns(None) || segment.rest.is_none();
        (segment.tagged == self.inner.path.is_colocated() && own && N::__owns(segment.rest))
            .then_some(segment.encoded)
    }

    /// Whether `key` is an auxiliary key of one of this keyspace's leaves (a stream's
    /// dead-letter streams): of its layout, but not a leaf's own key.
    fn is_auxiliary(&self, key: &str) -> bool {
        let Some(segment) = key
            .strip_prefix(self.inner.id_prefix.as_str())
            .and_then(split_id_segment)
        else {
            return false;
        };
        segment.tagged == self.inner.path.is_colocated()
            && segment.rest.is_some()
            && N::__owns(None)
            && N::__owns(segment.rest)
    }

    /// Every stored key under this keyspace's prefix (not yet filtered by layout).
    async fn scan(&self) -> Result<Vec<String>> {
        self.path_error()?;
        let command = Command::ScanPrefix {
            prefix: &self.inner.scan_prefix,
        };
        self.inner.ctx.execute(command).await?.into_keys(&command)
    }

    /// Every stored key of this keyspace (and only those), each once.
    async fn stored_keys(&self) -> Result<Vec<String>> {
        let mut keys = self.scan().await?;
        keys.retain(|key| self.id_segment(key).is_some_and(|s| K::decode(s).is_some()));
        Ok(keys)
    }

    /// The ids that hold something, decoded, each once, in no particular order. Keys under this
    /// keyspace's prefix that do not fit its layout are ignored.
    pub async fn keys(&self) -> Result<Vec<K>> {
        let keys = self.scan().await?;
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
        if self.inner.spec.indexes.is_some() {
            // Record by record, so that each one's index entries go with it.
            for key in &keys {
                match N::__remove_indexed(&self.inner.ctx, key, &self.inner.spec) {
                    Some(removing) => removed += usize::from(removing.await?),
                    None => {
                        removed += usize::from(remove_key(&self.inner.ctx, key).await?);
                    }
                }
            }
            return Ok(removed);
        }
        for batch in keys.chunks(1000) {
            let command = Command::Delete { keys: batch };
            removed += self.inner.ctx.execute(command).await?.into_len(&command)?;
        }
        Ok(removed)
    }
}

impl<N: Node, K: Id> Dynamic<N, K> {
    audit_methods!();

    /// One page of this keyspace's stored keys, from `cursor` (`""`: the start).
    async fn page(&self, cursor: &str) -> Result<ScanPage> {
        let command = Command::Scan {
            prefix: &self.inner.scan_prefix,
            cursor,
            count: PAGE,
        };
        self.inner.ctx.execute(command).await?.into_page(&command)
    }

    /// The audit walk: page by page; leaf values checked a page at a time, nested nodes one id
    /// at a time. At the entry point, keys that fit no pattern are reported as unknown.
    async fn audit_walk(&self, run: &mut Run<'_>) -> Result<()> {
        if self.path_error().is_err() {
            return Ok(()); // nothing can be stored under an invalid path
        }
        let entry = run.at_entry();
        run.push(if self.inner.path.is_colocated() {
            "{*}"
        } else {
            "*"
        });
        let result = self.audit_pages(run, entry).await;
        run.pop();
        result
    }

    async fn audit_pages(&self, run: &mut Run<'_>, entry: bool) -> Result<()> {
        let leaf = N::__owns(None);
        let mut seen = HashSet::new();
        let mut cursor = String::new();
        loop {
            let page = self.page(&cursor).await?;
            let mut leaves = Vec::new();
            let mut ids = Vec::new();
            for key in &page.keys {
                match self.id_segment(key).and_then(|s| Some((s, K::decode(s)?))) {
                    Some(_) if leaf => leaves.push(key.clone()),
                    Some((segment, id)) if seen.insert(segment.to_owned()) => ids.push(id),
                    Some(_) => {}
                    None if entry && !self.is_auxiliary(key) => run.unknown(key),
                    None => {}
                }
            }
            if leaf {
                N::__audit_leaves(&self.inner.ctx, &leaves, &self.inner.spec, run).await?;
            } else {
                run.scanned(page.keys.len());
                for id in ids {
                    self.at(id).__audit(run).await?;
                }
            }
            match page.next {
                Some(next) => cursor = next,
                None => return Ok(()),
            }
        }
    }
}

impl<T: Storable, K: Id> Dynamic<Item<T>, K> {
    fn json(&self) -> Json<T> {
        Json::with(self.inner.item.unwrap_or_else(codec::<T>))
    }

    fn item_key<I: IntoId<K> + ?Sized>(&self, id: &I) -> Result<String> {
        let (key, error) = self
            .id_path(id)
            .into_key(self.inner.ctx.limits().max_key_len);
        match error {
            None => Ok(key),
            Some(reason) => Err(Error::InvalidKey { key, reason }),
        }
    }

    fn item_at<'a>(&'a self, key: &'a str) -> ItemAt<'a, T> {
        ItemAt {
            ctx: &self.inner.ctx,
            key,
            json: self.json(),
            ttl: self.inner.spec.ttl,
            migrations: self.migrations(),
            clone: self.inner.spec.clone_fn(),
            indexes: self.indexes(),
        }
    }

    fn indexes(&self) -> Option<&Indexes<T>> {
        self.inner.spec.indexes.as_ref()?.downcast_ref()
    }

    fn migrations(&self) -> Option<&Migrations<T>> {
        self.inner.spec.migrations.as_ref()?.downcast_ref()
    }

    /// The value at `id` (see [`Item::get`]).
    pub async fn get<I: IntoId<K>>(&self, id: I) -> Result<Option<T>> {
        let key = self.item_key(&id)?;
        self.item_at(&key).get().await
    }

    /// The value at `id` with its version (see [`Item::get_versioned`]).
    pub async fn get_versioned<I: IntoId<K>>(&self, id: I) -> Result<Option<Versioned<T>>> {
        let key = self.item_key(&id)?;
        self.item_at(&key).get_versioned().await
    }

    /// Validates and writes the value at `id` (see [`Item::set`]).
    pub async fn set<I: IntoId<K>>(&self, id: I, value: &T) -> Result<()> {
        let key = self.item_key(&id)?;
        let options = SetOptions {
            ttl: self.inner.spec.ttl,
            ..SetOptions::default()
        };
        self.item_at(&key).write(value, options).await.map(drop)
    }

    /// Removes the value at `id`; returns whether there was one.
    pub async fn remove<I: IntoId<K>>(&self, id: I) -> Result<bool> {
        let key = self.item_key(&id)?;
        self.item_at(&key).remove().await
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
        if let Some(cache) = self.inner.ctx.cache() {
            return self.get_many_cached(&keys, cache).await;
        }
        let values = self.fetch(&keys).await?;
        self.decode_all(&keys, values).await
    }

    async fn fetch(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let command = Command::GetMany { keys };
        self.inner.ctx.execute(command).await?.into_values(&command)
    }

    /// [`get_many`](Self::get_many) through the client cache: hits from it (decoded without
    /// validation when this type checked them), the misses in one `MGET`, then kept.
    async fn get_many_cached(
        &self,
        keys: &[String],
        cache: &ClientCache,
    ) -> Result<Vec<Option<T>>> {
        let json = self.json();
        let mut values: Vec<Option<Option<T>>> = (0..keys.len()).map(|_| None).collect();
        let mut missing = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let clone = self.inner.spec.clone_fn::<T>();
            match cache.lookup(key, |c| cached_read(json, clone, key, c)) {
                Lookup::Hit(CachedRead::Done(read)) => values[i] = Some(read?),
                Lookup::Hit(CachedRead::Unchecked(bytes)) => {
                    values[i] = Some(Some(self.item_at(key).read(&bytes).await?));
                }
                Lookup::Miss(ticket) => missing.push((i, ticket)),
            }
        }
        if missing.is_empty() {
            // Every value was a hit: no I/O, so yield to the runtime now and then (see
            // `cooperate`).
            super::item::cooperate().await;
        } else {
            let missing_keys: Vec<String> = missing.iter().map(|(i, _)| keys[*i].clone()).collect();
            let fetched = self.fetch(&missing_keys).await?;
            for ((i, ticket), bytes) in missing.into_iter().zip(fetched) {
                let item = self.item_at(&keys[i]);
                values[i] = Some(item.read_and_keep(cache, ticket, bytes).await?);
            }
        }
        Ok(values.into_iter().map(Option::flatten).collect())
    }

    /// Decodes fetched values, failing on the first bad one. Without older versions this is
    /// one decode per value; with them, older values are converted (and written back).
    async fn decode_all(
        &self,
        keys: &[String],
        values: Vec<Option<Vec<u8>>>,
    ) -> Result<Vec<Option<T>>> {
        let json = self.json();
        if self.migrations().is_none() {
            // Decoded into one vector (not a vector of `Result`s, then another): the first error
            // in order, whichever core found it, is kept aside.
            let first_error = parking_lot::Mutex::new(None::<(usize, Error)>);
            let entries: Vec<(usize, &String, Option<Vec<u8>>)> = keys
                .iter()
                .zip(values)
                .enumerate()
                .map(|(i, (key, bytes))| (i, key, bytes))
                .collect();
            let decoded = map_batch(&entries, |(i, key, bytes)| {
                match bytes.as_ref().map(|b| json.decode(key, b)).transpose() {
                    Ok(value) => value,
                    Err(e) => {
                        let mut first = first_error.lock();
                        if first.as_ref().is_none_or(|(at, _)| i < at) {
                            *first = Some((*i, e));
                        }
                        None
                    }
                }
            });
            return match first_error.into_inner() {
                Some((_, e)) => self.inner.ctx.observed(Err(e)),
                None => Ok(decoded),
            };
        }
        let mut out = Vec::with_capacity(keys.len());
        for (key, bytes) in keys.iter().zip(values) {
            out.push(match bytes {
                Some(bytes) => Some(self.item_at(key).read(&bytes).await?),
                None => None,
            });
        }
        Ok(out)
    }

    /// Validates every value, then writes them all as one atomic step (nothing is written if any
    /// value is invalid). Accepts any iterator of `(id, value)` pairs, values owned or borrowed.
    pub async fn set_many<I, V, It>(&self, entries: It) -> Result<()>
    where
        It: IntoIterator<Item = (I, V)>,
        I: IntoId<K>,
        V: Borrow<T>,
    {
        let json = self.json();
        let max = self.inner.ctx.limits().max_value_size;
        let entries: Vec<(I, V)> = entries.into_iter().collect();
        let keyed: Vec<(Result<String>, &T)> = entries
            .iter()
            .map(|(id, value)| (self.item_key(id), value.borrow()))
            .collect();
        let values: Vec<&T> = keyed.iter().map(|(_, value)| *value).collect();
        // Entry by entry, the first error in order (a bad id or a bad value), whichever core
        // found it.
        let encoded = map_batch(&keyed, |(key, value)| match key {
            Ok(key) => Some(json.encode(key, *value, max)),
            Err(_) => None,
        })
        .into_iter()
        .zip(keyed)
        .map(|(bytes, (key, _))| {
            let key = key?;
            let bytes = bytes.expect("encoded when the key is valid")?;
            Ok((key, bytes))
        })
        .collect::<Result<Vec<_>>>();
        let encoded = self.inner.ctx.observed(encoded)?;
        if encoded.is_empty() {
            return Ok(());
        }
        if let Some(indexes) = self.indexes() {
            let at = self.item_at(&encoded[0].0);
            let ttl = self.inner.spec.ttl;
            return at.write_many_indexed(indexes, &encoded, &values, ttl).await;
        }
        let command = Command::SetMany {
            entries: &encoded,
            ttl: self.inner.spec.ttl,
        };
        self.inner.ctx.execute(command).await?.into_unit(&command)
    }

    /// The values at `ids`, in the same order, each with its own result: a bad stored value is
    /// an `Err` naming its key, and the others are still returned (one round trip). An invalid
    /// id is an `Err` in its place too. Only a backend failure fails the whole call.
    pub async fn get_each<I, It>(&self, ids: It) -> Result<Vec<Result<Option<T>>>>
    where
        It: IntoIterator<Item = I>,
        I: IntoId<K>,
    {
        let keys: Vec<Result<String>> = ids.into_iter().map(|id| self.item_key(&id)).collect();
        let valid: Vec<String> = keys
            .iter()
            .filter_map(|k| k.as_ref().ok().cloned())
            .collect();
        let mut values = if valid.is_empty() {
            Vec::new()
        } else {
            self.fetch(&valid).await?
        }
        .into_iter();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let key = match key {
                Ok(key) => key,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            out.push(match values.next().flatten() {
                Some(bytes) => self.item_at(&key).read(&bytes).await.map(Some),
                None => Ok(None),
            });
        }
        Ok(out)
    }

    /// Every `(id, value)` pair, read in batches (a SCAN page and one `MGET` at a time), as a
    /// stream: a key whose stored value is bad yields an `Err` naming it and the stream goes on;
    /// a backend failure yields its `Err` and ends the stream. Memory stays bounded by a batch,
    /// whatever the size of the keyspace. A value written in an older version is converted
    /// (and written back) as by [`get`](Self::get).
    ///
    /// As with Redis's `SCAN`, an id present for the whole walk is yielded at least once, and
    /// may be yielded twice if the keyspace is resized meanwhile.
    pub fn stream(&self) -> impl Stream<Item = Result<(K, T)>> + Send + 'static {
        struct State<T, K> {
            dynamic: Dynamic<Item<T>, K>,
            cursor: Option<String>,
            ready: std::collections::VecDeque<Result<(K, T)>>,
        }
        let state = State {
            dynamic: self.clone(),
            cursor: Some(String::new()),
            ready: std::collections::VecDeque::new(),
        };
        futures_util::stream::unfold(state, |mut state| async move {
            loop {
                if let Some(next) = state.ready.pop_front() {
                    return Some((next, state));
                }
                let cursor = state.cursor.take()?;
                match state.dynamic.stream_batch(&cursor).await {
                    Ok((items, next)) => {
                        state.ready.extend(items);
                        state.cursor = next;
                    }
                    // A backend failure ends the stream (the cursor is gone).
                    Err(e) => return Some((Err(e), state)),
                }
            }
        })
    }

    /// One page of [`stream`](Self::stream): its items and the next cursor.
    async fn stream_batch(&self, cursor: &str) -> Result<(Vec<Result<(K, T)>>, Option<String>)> {
        let page = self.page(cursor).await?;
        let keys: Vec<String> = page
            .keys
            .into_iter()
            .filter(|key| self.id_segment(key).is_some_and(|s| K::decode(s).is_some()))
            .collect();
        let mut items = Vec::with_capacity(keys.len());
        if !keys.is_empty() {
            let values = self.fetch(&keys).await?;
            for (key, value) in keys.iter().zip(values) {
                // Gone since the scan: not an item any more.
                let Some(bytes) = value else { continue };
                let Some(id) = self.id_segment(key).and_then(K::decode) else {
                    continue;
                };
                items.push(
                    self.item_at(key)
                        .read(&bytes)
                        .await
                        .map(|value| (id, value)),
                );
            }
        }
        Ok((items, page.next))
    }

    /// Watches the whole keyspace: one `(id, value)` item per id whose value changed (written,
    /// or `None`: removed or expired), from now on — no initial dump. Coalescing, errors and
    /// reconnection as for [`Item::watch`] (after a reconnection it re-reads every id and
    /// yields those that differ from what it last yielded, and `None` for those gone since).
    /// It keeps a 64-bit digest of the last value it yielded per id.
    ///
    /// On the in-process backends the watch is subscribed when this returns; on Redis the
    /// server confirms the subscription a moment later, and a change made before that is not
    /// reported. [`watch_ready`](Self::watch_ready) waits for the confirmation.
    pub fn watch(&self) -> impl Stream<Item = Result<(K, Option<T>)>> + Send + 'static {
        self.watch_with(self.prefix_watch())
    }

    /// [`watch`](Self::watch), once the backend confirmed the subscription: every change made
    /// after this returns is reported. Fails when the backend cannot watch (a Redis server
    /// that refuses `CONFIG` and lacks the keyspace-event flags: the error names them).
    pub async fn watch_ready(
        &self,
    ) -> Result<impl Stream<Item = Result<(K, Option<T>)>> + Send + 'static> {
        let mut watch = self.prefix_watch();
        watch.ready().await?;
        Ok(self.watch_with(watch))
    }

    fn prefix_watch(&self) -> PrefixWatch {
        let prefix = self.path_error().map(|()| self.inner.scan_prefix.clone());
        PrefixWatch::new(self.inner.ctx.clone(), prefix)
    }

    fn watch_with(
        &self,
        watch: PrefixWatch,
    ) -> impl Stream<Item = Result<(K, Option<T>)>> + Send + 'static {
        let state = (self.clone(), watch, std::collections::VecDeque::new());
        futures_util::stream::unfold(state, |(dynamic, mut watch, mut ready)| async move {
            loop {
                if let Some(next) = ready.pop_front() {
                    return Some((next, (dynamic, watch, ready)));
                }
                let keep = |key: &str| {
                    dynamic
                        .id_segment(key)
                        .is_some_and(|s| K::decode(s).is_some())
                };
                match watch.next(keep).await? {
                    Err(e) => ready.push_back(Err(e)),
                    Ok(changed) => {
                        for (key, value) in changed {
                            let Some(id) = dynamic.id_segment(&key).and_then(K::decode) else {
                                continue;
                            };
                            ready.push_back(match value {
                                None => Ok((id, None)),
                                // Converted if older, not written back: a watcher reads.
                                Some(bytes) => dynamic
                                    .item_at(&key)
                                    .classify(&bytes)
                                    .map(|read| (id, Some(read.into_value()))),
                            });
                        }
                    }
                }
            }
        })
    }

    /// Every `(id, value)` pair, in no particular order.
    pub async fn entries(&self) -> Result<Vec<(K, T)>> {
        let keys = self.stored_keys().await?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values = self.fetch(&keys).await?;
        let values = self.decode_all(&keys, values).await?;
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
    fn __build(ctx: &Context, path: KeyPath, spec: &Spec) -> Self {
        Dynamic {
            inner: Arc::new(DynamicState {
                ctx: ctx.clone(),
                error: path.checked_error(ctx.limits().max_key_len),
                id_prefix: path.id_prefix(),
                scan_prefix: path.scan_prefix(),
                path,
                spec: Spec {
                    ttl: spec.ttl.map(round_up_to_millis),
                    migrations: spec.migrations.clone(),
                    clone: spec.clone.clone(),
                    indexes: spec.indexes.clone(),
                    index: spec.index,
                    max_len: spec.max_len,
                },
                item: N::__item_codec(),
            }),
            _node: PhantomData,
        }
    }

    fn __manifest(path: KeyPath, spec: &Spec, out: &mut Map<String, Value>) {
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
        N::__manifest(path, spec, out);
        EXPANDING.with_borrow_mut(|stack| stack.pop());
    }

    fn __audit<'a>(&'a self, run: &'a mut Run<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.audit_walk(run).await?;
            if run.migrating() {
                return Ok(());
            }
            N::__audit_indexes(&self.inner.ctx, &self.inner.spec, run).await
        })
    }

    fn __location(&self) -> Option<(Context, String)> {
        Some((self.inner.ctx.clone(), self.inner.path.as_str().to_owned()))
    }

    fn __owns(tail: Option<&str>) -> bool {
        let Some(tail) = tail else {
            return false;
        };
        split_id_segment(tail)
            .is_some_and(|segment| K::decode(segment.encoded).is_some() && N::__owns(segment.rest))
    }
}

impl<N: ItemLeaf, K> ItemLeaf for Dynamic<N, K> {
    type Value = N::Value;
}

#[cfg(test)]
mod tests {
    use super::super::Item;
    use super::*;

    /// A store that nests itself, written by hand as the derive would generate it.
    #[derive(Clone)]
    struct Tree {
        name: Item<String>,
        children: Dynamic<Tree>,
    }

    impl Node for Tree {
        fn __build(ctx: &Context, path: KeyPath, spec: &Spec) -> Self {
            Tree {
                name: Node::__build(ctx, path.child("name"), spec),
                children: Node::__build(ctx, path.child("children"), spec),
            }
        }
        fn __manifest(path: KeyPath, spec: &Spec, out: &mut Map<String, Value>) {
            <Item<String>>::__manifest(path.child("name"), spec, out);
            <Dynamic<Tree>>::__manifest(path.child("children"), spec, out);
        }
        fn __audit<'a>(&'a self, run: &'a mut Run<'_>) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                run.push("name");
                self.name.__audit(run).await?;
                run.pop();
                run.push("children");
                self.children.__audit(run).await?;
                run.pop();
                Ok(())
            })
        }
        fn __location(&self) -> Option<(Context, String)> {
            crate::__private::parent_location(self.name.__location(), "name")
        }
        fn __owns(tail: Option<&str>) -> bool {
            match tail.map(crate::layout::split_static_segment) {
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
            // The audit walks the recursion as deep as it is stored.
            let report = crate::__private::audit(&tree, true, &mut |_| {})
                .await
                .unwrap();
            assert_eq!((report.checked, report.valid, report.unknown), (1, 1, 0));
            assert_eq!(report.patterns[0].pattern, "t:children:*:children:*:name");
        });
    }
}

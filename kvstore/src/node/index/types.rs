//! The index node types (`UniqueIndex`, `IndexOf`, `OrderedIndex`: where the entries are) and
//! [`Index`], what a store's accessor returns: an index with the records it names, whose
//! lookups check every entry against its record.

use std::marker::PhantomData;

use serde_json::{Map, Value};

use super::encoding::{parse_ordered_member, sortable, Score};
use super::hooks::Indexes;
use super::many::Entry;
use super::reconcile::{Reconcile, Reconciled};
use super::unique;
use crate::backend::command::{Command, LexBound, SetOp, SortedSetOp};
use crate::error::Result;
use crate::layout::{Id, IntoId, KeyPath};
use crate::node::audit::{BoxFuture, Run};
use crate::node::{manifest_entry, Context, Node, Spec};
use crate::value::Storable;
use crate::{Dynamic, Item};

/// Where an index's entries are: its context and path.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct IndexAt {
    ctx: Context,
    path: KeyPath,
}

/// The kinds of index, for the derive: how a field of this type keeps its entries.
#[doc(hidden)]
pub trait IndexNode: Node {
    /// What records are keyed by: the key type, or the score type.
    type Key: Clone + Send + Sync + 'static;
    /// The records' id type.
    type Id: Id;
    /// Adds this index, at `path`, to the records' `indexes`.
    fn __hook<T: Storable>(
        indexes: Indexes<T>,
        path: KeyPath,
        key: fn(&T) -> Option<Self::Key>,
    ) -> Indexes<T>;
    /// Where its entries are.
    fn __at(&self) -> &IndexAt;
}

macro_rules! index_node {
    ($(#[$doc:meta])* $name:ident<$k:ident: $bound:path>, $kind:literal, $hook:ident) => {
        $(#[$doc])*
        pub struct $name<$k, I = String> {
            at: IndexAt,
            _types: PhantomData<fn() -> ($k, I)>,
        }

        impl<$k, I> Clone for $name<$k, I> {
            fn clone(&self) -> Self {
                $name {
                    at: self.at.clone(),
                    _types: PhantomData,
                }
            }
        }

        impl<$k, I> std::fmt::Debug for $name<$k, I> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.at.path.as_str()).finish()
            }
        }

        impl<$k: $bound + Clone + Send + Sync + 'static, I: Id> Node for $name<$k, I> {
            fn __build(ctx: &Context, path: KeyPath, _spec: &Spec) -> Self {
                $name {
                    at: IndexAt {
                        ctx: ctx.clone(),
                        path,
                    },
                    _types: PhantomData,
                }
            }

            fn __manifest(path: KeyPath, spec: &Spec, out: &mut Map<String, Value>) {
                let entries = if $kind == "ordered_index" {
                    path.clone()
                } else {
                    path.with_id_pattern()
                };
                manifest_entry(out, &entries, $kind, None, None);
                let Some((of, key)) = spec.index else {
                    return;
                };
                let of = match path.as_str().rsplit_once(':') {
                    Some((parent, _)) => format!("{parent}:{of}"),
                    None => of.to_owned(),
                };
                if let Some(Value::Object(entry)) = out.get_mut(entries.as_str()) {
                    entry.insert("of".into(), Value::from(of));
                    match key.strip_prefix("fn:") {
                        Some(function) => {
                            entry.insert("key".into(), Value::from(function));
                            entry.insert("computed".into(), Value::Bool(true));
                        }
                        None => {
                            entry.insert("key".into(), Value::from(key));
                        }
                    }
                }
            }

            fn __owns(tail: Option<&str>) -> bool {
                index_owns($kind, tail)
            }

            fn __audit<'a>(&'a self, run: &'a mut Run<'_>) -> BoxFuture<'a, Result<()>> {
                let _ = run;
                Box::pin(async { Ok(()) })
            }

            fn __location(&self) -> Option<(Context, String)> {
                Some((self.at.ctx.clone(), self.at.path.as_str().to_owned()))
            }
        }

        impl<$k: $bound + Clone + Send + Sync + 'static, I: Id> IndexNode for $name<$k, I> {
            type Key = $k;
            type Id = I;

            fn __hook<T: Storable>(
                indexes: Indexes<T>,
                path: KeyPath,
                key: fn(&T) -> Option<$k>,
            ) -> Indexes<T> {
                indexes.$hook(path, key)
            }

            fn __at(&self) -> &IndexAt {
                &self.at
            }
        }
    };
}

/// Whether a stored key's `tail` below an index's path is one of its entries: one key segment
/// for the keyed indexes, nothing for the ordered one (a single sorted set).
fn index_owns(kind: &str, tail: Option<&str>) -> bool {
    match kind {
        "ordered_index" => tail.is_none(),
        _ => tail.is_some_and(|t| !t.is_empty() && !t.contains(':')),
    }
}

index_node!(
    /// A unique index: at most one record per key (`#[store(index(of = users, key = email))]`).
    /// Entries: a claim per key at `<path>:<key>`.
    UniqueIndex<K: Id>, "unique_index", unique
);
index_node!(
    /// A non-unique index: the records that have each key. Entries: a set of ids per key at
    /// `<path>:<key>`.
    IndexOf<K: Id>, "index", many
);
index_node!(
    /// An ordered index: records by score, then id. Entries: one sorted set at `<path>`.
    OrderedIndex<S: Score>, "ordered_index", ordered
);

/// An index with the records it names: what a store's accessor for an index field returns.
/// Every answer is a record read after its entry and checked to still have the key (or score)
/// asked for; stale entries met on the way are cleaned.
pub struct Index<X: IndexNode, T> {
    index: X,
    records: Dynamic<Item<T>, X::Id>,
    key: fn(&T) -> Option<X::Key>,
}

impl<X: IndexNode, T> Clone for Index<X, T> {
    fn clone(&self) -> Self {
        Index {
            index: self.index.clone(),
            records: self.records.clone(),
            key: self.key,
        }
    }
}

impl<X: IndexNode, T: Storable> Index<X, T> {
    /// The index `index` of `records`, keyed by `key` (built by the derive).
    #[doc(hidden)]
    pub fn __new(
        index: X,
        records: Dynamic<Item<T>, X::Id>,
        key: fn(&T) -> Option<X::Key>,
    ) -> Self {
        Index {
            index,
            records,
            key,
        }
    }

    /// The key of the index: where its entries are (`app:user_by_email`; a keyed index's
    /// entries are below it, at `<key>:<encoded key>`).
    pub fn key(&self) -> &str {
        self.path().as_str()
    }

    fn ctx(&self) -> &Context {
        &self.index.__at().ctx
    }

    fn path(&self) -> &KeyPath {
        &self.index.__at().path
    }

    /// The record `id` (encoded), if it is live and `matches` what the index keys it by.
    async fn checked(
        &self,
        id: &str,
        matches: impl Fn(&X::Key) -> bool,
    ) -> Result<Option<(X::Id, T)>> {
        let Some(decoded) = X::Id::decode(id) else {
            return Ok(None);
        };
        let record = self.records.get(ByKey(&decoded)).await?;
        Ok(record
            .filter(|r| (self.key)(r).is_some_and(|k| matches(&k)))
            .map(|r| (decoded, r)))
    }

    /// [`checked`](Self::checked) for several records in one read (`MGET` where the backend
    /// allows): for each id, its record if live and `matches(position, key)`.
    async fn checked_many(
        &self,
        ids: &[String],
        matches: impl Fn(usize, &X::Key) -> bool,
    ) -> Result<Vec<Option<(X::Id, T)>>> {
        let decoded: Vec<Option<X::Id>> = ids.iter().map(|id| X::Id::decode(id)).collect();
        let mut records = self
            .records
            .get_each(decoded.iter().flatten().map(ByKey))
            .await?
            .into_iter();
        let mut out = Vec::with_capacity(ids.len());
        for (at, id) in decoded.into_iter().enumerate() {
            let Some(id) = id else {
                out.push(None);
                continue;
            };
            let record = records.next().transpose()?.flatten();
            out.push(
                record
                    .filter(|r| (self.key)(r).is_some_and(|k| matches(at, &k)))
                    .map(|r| (id, r)),
            );
        }
        Ok(out)
    }
}

impl<K: Id + PartialEq + Clone + Send + Sync + 'static, I: Id, T: Storable>
    Index<UniqueIndex<K, I>, T>
{
    /// The record that has `key`, if any.
    pub async fn get(&self, key: impl IntoId<K>) -> Result<Option<T>> {
        Ok(self.find(key).await?.map(|(_, record)| record))
    }

    /// The id of the record that has `key`, if any.
    pub async fn id(&self, key: impl IntoId<K>) -> Result<Option<I>> {
        Ok(self.find(key).await?.map(|(id, _)| id))
    }

    /// Whether a record has `key`.
    pub async fn contains(&self, key: impl IntoId<K>) -> Result<bool> {
        Ok(self.find(key).await?.is_some())
    }

    async fn find(&self, key: impl IntoId<K>) -> Result<Option<(I, T)>> {
        let (entry, error) = self
            .path()
            .with_id(&key)
            .into_key(self.ctx().limits().max_key_len);
        if let Some(reason) = error {
            return Err(crate::Error::InvalidKey { key: entry, reason });
        }
        self.find_at(&entry).await
    }

    /// The record the claim at `entry` names, if it still has that key; a stale claim is
    /// cleaned.
    async fn find_at(&self, entry: &str) -> Result<Option<(I, T)>> {
        let Some((holder, bytes)) = unique::holder(self.ctx(), entry).await? else {
            return Ok(None);
        };
        let wanted = K::decode(entry.rsplit_once(':').map_or("", |(_, k)| k));
        let found = self
            .checked(&holder, |k| Some(k) == wanted.as_ref())
            .await?;
        if found.is_none() {
            unique::clean(self.ctx(), entry, &bytes).await?;
        }
        Ok(found)
    }
}

impl<K: Id + PartialEq + Clone + Send + Sync + 'static, I: Id + Ord, T: Storable>
    Index<IndexOf<K, I>, T>
{
    /// The ids of the records that have `key`, sorted.
    pub async fn ids(&self, key: impl IntoId<K>) -> Result<Vec<I>> {
        Ok(self.get(key).await?.into_iter().map(|(id, _)| id).collect())
    }

    /// The records that have `key`, with their ids, sorted by id.
    pub async fn get(&self, key: impl IntoId<K>) -> Result<Vec<(I, T)>> {
        let (set, error) = self
            .path()
            .with_id(&key)
            .into_key(self.ctx().limits().max_key_len);
        if let Some(reason) = error {
            return Err(crate::Error::InvalidKey { key: set, reason });
        }
        let wanted = K::decode(set.rsplit_once(':').map_or("", |(_, k)| k));
        let members = Command::Set {
            key: &set,
            op: SetOp::Members,
        };
        let members = self.ctx().execute(members).await?.into_members(&members)?;
        let ids: Vec<String> = members
            .into_iter()
            .filter_map(|m| String::from_utf8(m).ok())
            .collect();
        let found = self
            .checked_many(&ids, |_, k| Some(k) == wanted.as_ref())
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, found) in ids.into_iter().zip(found) {
            match found {
                Some(found) => out.push(found),
                None => {
                    let entry = Entry::Set {
                        key: set.clone(),
                        member: id.clone(),
                    };
                    let belongs = async {
                        Ok(self
                            .checked(&id, |k| Some(k) == wanted.as_ref())
                            .await?
                            .is_some())
                    };
                    entry.remove_stale(self.ctx(), belongs).await?;
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// How many records have `key`.
    pub async fn count(&self, key: impl IntoId<K>) -> Result<usize> {
        Ok(self.get(key).await?.len())
    }
}

impl<S: Score, I: Id, T: Storable> Index<OrderedIndex<S, I>, T> {
    /// The records with a score within `min..=max`, lowest first (ties by id), at most `limit`.
    pub async fn range(&self, min: S, max: S, limit: usize) -> Result<Vec<(I, T)>> {
        self.scan(min, max, false, limit).await
    }

    /// The records with a score within `min..=max`, highest first (ties by id, descending), at
    /// most `limit`.
    pub async fn range_rev(&self, max: S, min: S, limit: usize) -> Result<Vec<(I, T)>> {
        self.scan(min, max, true, limit).await
    }

    /// The `n` records with the lowest scores, lowest first.
    pub async fn first(&self, n: usize) -> Result<Vec<(I, T)>> {
        self.scan_bounds(Bound::Min, Bound::Max, false, n).await
    }

    /// The `n` records with the highest scores, highest first (a top-N).
    pub async fn last(&self, n: usize) -> Result<Vec<(I, T)>> {
        self.scan_bounds(Bound::Min, Bound::Max, true, n).await
    }

    async fn scan(&self, min: S, max: S, rev: bool, limit: usize) -> Result<Vec<(I, T)>> {
        let (start, end) = self.bounds(min, max, None)?;
        let key = self.key;
        let within = move |t: &T| key(t).is_some_and(|s| s >= min && s <= max);
        let found = self.scan_members(start, end, rev, limit, &within).await?;
        Ok(found.into_iter().map(|(_, id, t)| (id, t)).collect())
    }

    /// The byte-wise bounds of the entries with a score within `min..=max` (as the nearest
    /// `f64`s: the records are then checked against the exact bounds), after `after`.
    fn bounds(&self, min: S, max: S, after: Option<String>) -> Result<(Bound, Bound)> {
        let (Some(low), Some(high)) = (min.bound(), max.bound()) else {
            // NaN: nothing is within.
            return Ok((Bound::Max, Bound::Min));
        };
        let low = format!("{:016x}:", sortable(low)).into_bytes();
        let start = match after {
            Some(after) if after.as_bytes() >= low.as_slice() => {
                Bound::Excluded(after.into_bytes())
            }
            _ => Bound::Included(low),
        };
        // `;` follows `:`: every member with the score `max`, whatever its id.
        let end = Bound::Excluded(format!("{:016x};", sortable(high)).into_bytes());
        Ok((start, end))
    }

    async fn scan_bounds(
        &self,
        min: Bound,
        max: Bound,
        rev: bool,
        limit: usize,
    ) -> Result<Vec<(I, T)>> {
        let found = self.scan_members(min, max, rev, limit, &|_| true).await?;
        Ok(found.into_iter().map(|(_, id, t)| (id, t)).collect())
    }

    /// The checked records within `min..max` (byte-wise bounds on the members), with their
    /// members, at most `limit`.
    async fn scan_members(
        &self,
        mut min: Bound,
        mut max: Bound,
        rev: bool,
        limit: usize,
        within: &(dyn Fn(&T) -> bool + Sync),
    ) -> Result<Vec<(Vec<u8>, I, T)>> {
        let key = self.path().as_str().to_owned();
        let mut out = Vec::new();
        // Pages until `limit` checked records are found (stale entries are skipped and cleaned).
        while out.len() < limit {
            // A page at a time: `LIMIT` takes at most an i64, and memory stays bounded.
            let want = (limit - out.len()).min(1000);
            let range = Command::SortedSet {
                key: &key,
                op: SortedSetOp::RangeByLex {
                    min: min.lex(),
                    max: max.lex(),
                    rev,
                    limit: Some(want),
                },
            };
            let members = self.ctx().execute(range).await?.into_members(&range)?;
            let (page_len, last) = (members.len(), members.last().cloned());
            let parsed: Vec<(Vec<u8>, f64, String)> = members
                .into_iter()
                .filter_map(|member| {
                    let text = std::str::from_utf8(&member).ok()?;
                    let (score, _) = parse_ordered_member::<String>(text)?;
                    // The id as the entry holds it: encoded, as the lookups take it.
                    let id = text[17..].to_owned();
                    Some((member, score, id))
                })
                .collect();
            let ids: Vec<String> = parsed.iter().map(|(_, _, id)| id.clone()).collect();
            let found = self
                .checked_many(&ids, |at, k| k.to_f64() == Some(parsed[at].1))
                .await?;
            for ((member, score, id), found) in parsed.into_iter().zip(found) {
                let matches = |k: &S| k.to_f64() == Some(score);
                match found {
                    Some((id, record)) => {
                        if within(&record) {
                            out.push((member, id, record));
                        }
                    }
                    None => {
                        let entry = Entry::Ordered {
                            key: key.clone(),
                            member: String::from_utf8_lossy(&member).into_owned(),
                        };
                        let belongs = async { Ok(self.checked(&id, matches).await?.is_some()) };
                        entry.remove_stale(self.ctx(), belongs).await?;
                    }
                }
            }
            match last {
                Some(last) if page_len == want => {
                    if rev {
                        max = Bound::Excluded(last);
                    } else {
                        min = Bound::Excluded(last);
                    }
                }
                _ => break,
            }
        }
        Ok(out)
    }
}

impl<S: Score, I: Id, T: Storable> Index<OrderedIndex<S, I>, T> {
    /// How many records have a score within `min..=max` (each entry checked against its
    /// record).
    pub async fn count(&self, min: S, max: S) -> Result<usize> {
        Ok(self.scan(min, max, false, usize::MAX).await?.len())
    }

    /// One page of the records with a score within `min..=max`, lowest first (ties by id),
    /// at most `limit`, resuming after `after` (the previous page's `next`). Paging through an
    /// index that nobody writes returns every record once, in order, equal scores included.
    pub async fn page(
        &self,
        min: S,
        max: S,
        after: Option<IndexCursor<S, I>>,
        limit: usize,
    ) -> Result<IndexPage<S, I, T>> {
        let (start, end) = self.bounds(min, max, after.map(|c| c.after))?;
        let key = self.key;
        let within = move |t: &T| key(t).is_some_and(|s| s >= min && s <= max);
        let found = self.scan_members(start, end, false, limit, &within).await?;
        let next = (found.len() == limit && limit > 0)
            .then(|| found.last())
            .flatten()
            .map(|(member, _, _)| IndexCursor {
                after: String::from_utf8_lossy(member).into_owned(),
                _types: PhantomData,
            });
        Ok(IndexPage {
            items: found.into_iter().map(|(_, id, t)| (id, t)).collect(),
            next,
        })
    }
}

/// Where the next [`page`](Index::page) of an ordered index starts: just after the last item
/// of the previous page, among equal scores too. `Serialize`/`Deserialize`, so that it can
/// travel in an API response and come back.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct IndexCursor<S, I> {
    /// The entry of the last item returned.
    after: String,
    #[serde(skip)]
    _types: PhantomData<fn() -> (S, I)>,
}

impl<S, I> Clone for IndexCursor<S, I> {
    fn clone(&self) -> Self {
        IndexCursor {
            after: self.after.clone(),
            _types: PhantomData,
        }
    }
}

impl<S, I> std::fmt::Debug for IndexCursor<S, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IndexCursor").field(&self.after).finish()
    }
}

impl<S, I> PartialEq for IndexCursor<S, I> {
    fn eq(&self, other: &Self) -> bool {
        self.after == other.after
    }
}

/// One page of an ordered index: the records, and where the next page starts (`None`: this
/// was the last).
#[derive(Debug, Clone)]
pub struct IndexPage<S, I, T> {
    /// The records of this page, in order, with their ids.
    pub items: Vec<(I, T)>,
    /// The cursor of the next page; `None` at the end.
    pub next: Option<IndexCursor<S, I>>,
}

/// What [`repair`](Index::repair) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexReport {
    /// Records read.
    pub scanned: u64,
    /// Entries added (records the index missed).
    pub added: u64,
    /// Stale entries removed.
    pub removed: u64,
    /// Unique keys claimed by two live records (left as they are).
    pub conflicts: u64,
    /// The ids of the records in conflict, each with the id of the record holding the key.
    pub conflicting: Vec<(String, String)>,
}

impl<X: IndexNode, T: Storable> Index<X, T> {
    /// Makes the index match the records, page by page: adds (or, for a unique index, claims)
    /// the entry of every live, valid record that has a key, and removes the entries whose
    /// record no longer has theirs. Two records with one unique key are reported as a conflict
    /// (both ids), not resolved. Safe while the service writes: every change is a step of the
    /// write protocol (ARCHITECTURE.md, "Secondary indexes").
    pub async fn repair(&self) -> Result<IndexReport> {
        Ok(self.reconcile(true).await?.report)
    }

    /// Compares the index with its records; repairs it with `write`.
    pub(crate) async fn reconcile(&self, write: bool) -> Result<Reconciled> {
        let spec = self.records.spec();
        let (Some(indexes), migrations) = (spec.indexes::<T>(), spec.migrations::<T>()) else {
            return Ok(Reconciled::default());
        };
        let Some(hook) = indexes.hook_at(self.path().as_str()) else {
            return Ok(Reconciled::default());
        };
        Reconcile {
            ctx: self.ctx(),
            indexes: &indexes,
            migrations: migrations.as_deref(),
            hook,
            write,
        }
        .run(&mut |_| {})
        .await
    }
}

/// A key or id passed on by reference (what the lookups and `Dynamic::get` take).
pub(crate) struct ByKey<'a, K>(pub(crate) &'a K);

impl<K: Id> IntoId<K> for ByKey<'_, K> {
    fn encode_id_into(&self, out: &mut String) -> std::result::Result<(), crate::InvalidKeyReason> {
        self.0.encode_into(out)
    }
}

/// An owned [`LexBound`], kept across pages.
enum Bound {
    Min,
    Max,
    Included(Vec<u8>),
    Excluded(Vec<u8>),
}

impl Bound {
    fn lex(&self) -> LexBound<'_> {
        match self {
            Bound::Min => LexBound::Min,
            Bound::Max => LexBound::Max,
            Bound::Included(b) => LexBound::Included(b),
            Bound::Excluded(b) => LexBound::Excluded(b),
        }
    }
}

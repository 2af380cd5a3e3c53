//! What a `Dynamic<Item<T>>` with indexes does around each record write (see ARCHITECTURE.md,
//! "Secondary indexes"): unique keys claimed before, confirmed after; non-unique entries added
//! after; old entries released or removed as stale.

use std::sync::Arc;

use super::encoding::{sortable, Score};
use super::many::{self, Entry};
use super::unique::{self, Claimed};
use crate::backend::command::{Command, Reply, SetOptions, StringOp, Swap};
use crate::error::{Error, InvalidKeyReason, Result};
use crate::layout::{split_id_segment, Id, KeyPath};
use crate::node::audit::{BoxFuture, WriteBack};
use crate::node::item::ItemAt;
use crate::node::Context;
use crate::value::{Json, LeafCodec, Migrations, Storable};

/// What an index keys a record by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Keyed {
    /// The encoded key of a unique or non-unique index.
    Id(String),
    /// The score of an ordered index.
    Score(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Unique,
    Many,
    Ordered,
}

type KeyFn<T> = Arc<dyn Fn(&T) -> Option<std::result::Result<Keyed, String>> + Send + Sync>;

pub(super) struct Hook<T> {
    pub(super) kind: Kind,
    /// The index field's path (`app:user_by_email`).
    pub(super) path: KeyPath,
    pub(super) key: KeyFn<T>,
}

/// The indexes of one `Dynamic<Item<T>>` field (built by the derive, passed down in its spec).
#[doc(hidden)]
pub struct Indexes<T> {
    /// The records' path (the `Dynamic` field's).
    pub(super) records: KeyPath,
    pub(super) hooks: Vec<Hook<T>>,
}

fn encode_key<K: Id>(key: &K) -> std::result::Result<Keyed, String> {
    let mut out = String::new();
    key.encode_into(&mut out)
        .map_err(|reason| reason.to_string())?;
    Ok(Keyed::Id(out))
}

impl<T: Storable> Indexes<T> {
    /// No indexes yet, for the records at `records`.
    pub fn new(records: KeyPath) -> Self {
        Indexes {
            records,
            hooks: Vec::new(),
        }
    }

    /// The index field `X` at `path`, keyed by `key` (what the derive calls).
    pub fn add<X: super::types::IndexNode>(
        self,
        path: KeyPath,
        key: fn(&T) -> Option<X::Key>,
    ) -> Self {
        X::__hook(self, path, key)
    }

    /// A unique index at `path`, keyed by `key`.
    pub fn unique<K: Id>(mut self, path: KeyPath, key: fn(&T) -> Option<K>) -> Self {
        let key: KeyFn<T> = Arc::new(move |v| key(v).map(|k| encode_key(&k)));
        self.hooks.push(Hook {
            kind: Kind::Unique,
            path,
            key,
        });
        self
    }

    /// A non-unique index at `path`, keyed by `key`.
    pub fn many<K: Id>(mut self, path: KeyPath, key: fn(&T) -> Option<K>) -> Self {
        let key: KeyFn<T> = Arc::new(move |v| key(v).map(|k| encode_key(&k)));
        self.hooks.push(Hook {
            kind: Kind::Many,
            path,
            key,
        });
        self
    }

    /// An ordered index at `path`, by `score`.
    pub fn ordered<S: Score>(mut self, path: KeyPath, score: fn(&T) -> Option<S>) -> Self {
        let key: KeyFn<T> = Arc::new(move |v| {
            score(v).map(|s| {
                s.to_f64()
                    .map(Keyed::Score)
                    .ok_or_else(|| "a score that an f64 cannot hold exactly".to_owned())
            })
        });
        self.hooks.push(Hook {
            kind: Kind::Ordered,
            path,
            key,
        });
        self
    }

    /// The position of the index at `path`.
    pub(crate) fn hook_at(&self, path: &str) -> Option<usize> {
        self.hooks.iter().position(|h| h.path.as_str() == path)
    }

    /// The encoded id of the record at `key`.
    pub(crate) fn id_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        let tail = key.strip_prefix(self.records.id_prefix().as_str())?;
        let segment = split_id_segment(tail)?;
        segment.rest.is_none().then_some(segment.encoded)
    }

    /// The key of the record with the encoded id `id`.
    pub(crate) fn record_key(&self, id: &str) -> String {
        let mut key = self.records.id_prefix();
        if self.records.is_colocated() {
            key.push('{');
            key.push_str(id);
            key.push('}');
        } else {
            key.push_str(id);
        }
        key
    }

    /// What every index keys `value` by, in hook order; an error (naming `key`, the record's)
    /// for a key that cannot be stored.
    pub(super) fn keys_of(&self, key: &str, value: Option<&T>) -> Result<Vec<Option<Keyed>>> {
        self.hooks
            .iter()
            .map(|hook| match value.and_then(|v| (hook.key)(v)) {
                None => Ok(None),
                Some(Ok(keyed)) => Ok(Some(keyed)),
                Some(Err(why)) => Err(Error::InvalidKey {
                    key: key.to_owned(),
                    reason: InvalidKeyReason::Index(why),
                }),
            })
            .collect()
    }
}

impl<T> Hook<T> {
    /// The unique entry's key for `keyed`.
    pub(super) fn unique_entry(&self, keyed: &Keyed) -> String {
        match keyed {
            Keyed::Id(k) => format!("{}:{k}", self.path.as_str()),
            Keyed::Score(_) => unreachable!("a unique index is keyed by ids"),
        }
    }

    /// The non-unique entry of the record `id` for `keyed`.
    pub(super) fn entry(&self, id: &str, keyed: &Keyed) -> Entry {
        match keyed {
            Keyed::Id(k) => Entry::Set {
                key: format!("{}:{k}", self.path.as_str()),
                member: id.to_owned(),
            },
            Keyed::Score(s) => Entry::Ordered {
                key: self.path.as_str().to_owned(),
                member: format!("{:016x}:{id}", sortable(*s)),
            },
        }
    }
}

impl<T: Storable> ItemAt<'_, T> {
    /// The record at `key`, read now (its older versions converted; unreadable: `None`).
    pub(super) async fn read_record(&self, key: &str) -> Result<Option<T>> {
        let get = Command::Str {
            key,
            op: StringOp::Get,
        };
        let Some(bytes) = self.ctx.execute(get).await?.into_value(&get)? else {
            return Ok(None);
        };
        let at = ItemAt {
            key,
            ..self.reader()
        };
        Ok(at.classify(&bytes).ok().map(|read| read.into_value()))
    }

    /// Whether the record `id` (encoded) is live and keyed by `keyed` in the index `hook`.
    pub(super) async fn has_key(
        &self,
        indexes: &Indexes<T>,
        hook: usize,
        id: &str,
        keyed: &Keyed,
    ) -> Result<bool> {
        let record = self.read_record(&indexes.record_key(id)).await?;
        let key_fn = &indexes.hooks[hook].key;
        Ok(record
            .as_ref()
            .and_then(|v| key_fn(v))
            .and_then(|k| k.ok())
            .is_some_and(|k| &k == keyed))
    }

    /// What the indexes of the record at `self.key` need to know of one write: its id, what
    /// it is keyed by now and was keyed by before (`old`: the record read before the write).
    fn plan(&self, indexes: &Indexes<T>, value: &T, old: Option<&T>) -> Result<Option<Planned>> {
        let new_keys = indexes.keys_of(self.key, Some(value))?;
        Ok(self.plan_keys(indexes, new_keys, old))
    }

    /// [`plan`](Self::plan), with the new keys computed already.
    pub(super) fn plan_keys(
        &self,
        indexes: &Indexes<T>,
        new_keys: Vec<Option<Keyed>>,
        old: Option<&T>,
    ) -> Option<Planned> {
        let id = indexes.id_of(self.key)?;
        Some(Planned {
            key: self.key.to_owned(),
            id: id.to_owned(),
            new_keys,
            old_keys: indexes.keys_of(self.key, old).unwrap_or_default(),
        })
    }

    /// Claims the unique keys of every planned write (all undone if one fails).
    pub(super) async fn claim_all(
        &self,
        indexes: &Indexes<T>,
        planned: &[Planned],
    ) -> Result<Vec<(String, Claimed)>> {
        let mut claims: Vec<(String, Claimed)> = Vec::new();
        for plan in planned {
            for (i, hook) in indexes.hooks.iter().enumerate() {
                let (Kind::Unique, Some(keyed)) = (hook.kind, &plan.new_keys[i]) else {
                    continue;
                };
                let entry = hook.unique_entry(keyed);
                let claimed = unique::claim(self.ctx, &entry, &plan.id, |holder| async move {
                    self.has_key(indexes, i, &holder, keyed).await
                })
                .await;
                match claimed {
                    Ok(claimed) => claims.push((entry, claimed)),
                    Err(e) => {
                        restore_all(self.ctx, &claims).await;
                        return Err(e);
                    }
                }
            }
        }
        Ok(claims)
    }

    /// Confirms the claims after the record writes; the entry of the first that is no longer
    /// ours (taken over while this writer stalled past the lease).
    pub(super) async fn confirm_all(&self, claims: &[(String, Claimed)]) -> Result<Option<String>> {
        for (entry, claimed) in claims {
            if !unique::confirm(self.ctx, entry, claimed).await? {
                return Ok(Some(entry.clone()));
            }
        }
        Ok(None)
    }

    /// After the record write: the non-unique entries moved, the old unique keys released.
    pub(super) async fn settle(&self, indexes: &Indexes<T>, plan: &Planned) -> Result<()> {
        let id = plan.id.as_str();
        for (i, hook) in indexes.hooks.iter().enumerate() {
            let (old, new) = (plan.old_keys.get(i).cloned().flatten(), &plan.new_keys[i]);
            match hook.kind {
                Kind::Unique => {
                    if let Some(old) = old.filter(|o| Some(o) != new.as_ref()) {
                        let entry = hook.unique_entry(&old);
                        let belongs = self.has_key(indexes, i, id, &old);
                        unique::release(self.ctx, &entry, id, belongs).await?;
                    }
                }
                Kind::Many | Kind::Ordered => {
                    let old_entry = old.as_ref().map(|k| hook.entry(id, k));
                    let new_entry = new.as_ref().map(|k| hook.entry(id, k));
                    let belongs = async {
                        match &old {
                            Some(k) => self.has_key(indexes, i, id, k).await,
                            None => Ok(false),
                        }
                    };
                    many::moved(self.ctx, old_entry.as_ref(), new_entry.as_ref(), belongs).await?;
                }
            }
        }
        Ok(())
    }

    /// The error for a claim lost after the record write, which was undone.
    pub(super) async fn lost(&self, entry: String) -> Result<bool> {
        let holder = unique::holder(self.ctx, &entry).await?.map(|(h, _)| h);
        Err(Error::Unique {
            key: entry,
            holder: holder.unwrap_or_default(),
        })
    }

    /// [`ItemAt::write`] with indexes: claims, the record write (`SET ... GET`, which tells
    /// the record it replaced), confirmations, then the old entries. Returns whether the record
    /// was written (`false`: NX found it).
    pub(crate) async fn write_indexed(
        &self,
        indexes: &Indexes<T>,
        value: &T,
        options: SetOptions,
    ) -> Result<bool> {
        self.write_planned(indexes, value, Record::Set(options))
            .await
    }

    /// The write of one record (`how`): claims, the record write, confirmations (a lost one
    /// puts the record back as it was), then the old entries. `false`: the record was not
    /// written (NX found it, or the swap found other bytes); nothing else changed then.
    pub(crate) async fn write_planned(
        &self,
        indexes: &Indexes<T>,
        value: &T,
        how: Record<'_>,
    ) -> Result<bool> {
        let bytes = self.ctx.observed(self.json.encode(
            self.key,
            value,
            self.ctx.limits().max_value_size,
        ))?;
        let Some(mut plan) = self.plan(indexes, value, None)? else {
            return self.write_plain(value, how.options()).await;
        };
        let claims = self.claim_all(indexes, std::slice::from_ref(&plan)).await?;
        let command = match how {
            Record::Set(options) => Command::Str {
                key: self.key,
                op: StringOp::Set {
                    value: &bytes,
                    options: SetOptions {
                        get: true,
                        ..options
                    },
                },
            },
            Record::Swap {
                expected,
                ttl_if_created,
            } => Command::Str {
                key: self.key,
                op: StringOp::CompareAndSwap {
                    expected,
                    new: Some(&bytes),
                    ttl_if_created,
                },
            },
        };
        let (wrote, old_bytes) = match (self.ctx.execute(command).await, how) {
            (Ok(Reply::Value(old)), Record::Set(options)) => {
                (!options.only_if_absent || old.is_none(), old)
            }
            (Ok(Reply::Swap(Swap::Done)), Record::Swap { expected, .. }) => {
                (true, expected.map(<[u8]>::to_vec))
            }
            (Ok(Reply::Swap(Swap::Current(_))), _) => (false, None),
            (Ok(other), _) => Err(command.unexpected(&other))?,
            (Err(e), _) => {
                restore_unless_unknown(self.ctx, &claims, &e).await;
                return Err(e);
            }
        };
        if !wrote {
            restore_all(self.ctx, &claims).await;
            return Ok(false);
        }
        if let Some(entry) = self.confirm_all(&claims).await? {
            self.put_back(&bytes, old_bytes.as_deref()).await?;
            restore_all(self.ctx, &claims).await;
            return self.lost(entry).await;
        }
        let old = old_bytes
            .as_ref()
            .and_then(|b| self.classify(b).ok().map(|r| r.into_value()));
        plan.old_keys = indexes.keys_of(self.key, old.as_ref()).unwrap_or_default();
        self.settle(indexes, &plan).await?;
        Ok(true)
    }

    /// Puts the record back from `written` to `old` (a lost claim), if nobody wrote since.
    pub(super) async fn put_back(&self, written: &[u8], old: Option<&[u8]>) -> Result<()> {
        let undo = Command::Str {
            key: self.key,
            op: StringOp::CompareAndSwap {
                expected: Some(written),
                new: old,
                ttl_if_created: None,
            },
        };
        self.ctx.execute(undo).await.map(drop)
    }

    /// Several records at once (`set_many`): every unique key claimed first (one held by
    /// another record: nothing written), then one `SetMany`, then the confirmations and the
    /// old entries, record by record.
    pub(crate) async fn write_many_indexed(
        &self,
        indexes: &Indexes<T>,
        entries: &[(String, Vec<u8>)],
        values: &[&T],
        ttl: Option<std::time::Duration>,
    ) -> Result<()> {
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let get = Command::GetMany { keys: &keys };
        let olds = self.ctx.execute(get).await?.into_values(&get)?;
        let mut planned = Vec::with_capacity(entries.len());
        for (((key, _), value), old) in entries.iter().zip(values).zip(&olds) {
            let at = ItemAt {
                key,
                ..self.reader()
            };
            let old = old
                .as_ref()
                .and_then(|b| at.classify(b).ok().map(|r| r.into_value()));
            if let Some(plan) = at.plan(indexes, value, old.as_ref())? {
                planned.push(plan);
            }
        }
        let claims = self.claim_all(indexes, &planned).await?;
        let command = Command::SetMany { entries, ttl };
        if let Err(e) = self
            .ctx
            .execute(command)
            .await
            .and_then(|r| r.into_unit(&command))
        {
            restore_unless_unknown(self.ctx, &claims, &e).await;
            return Err(e);
        }
        if let Some(entry) = self.confirm_all(&claims).await? {
            for ((key, bytes), old) in entries.iter().zip(&olds) {
                let at = ItemAt {
                    key,
                    ..self.reader()
                };
                at.put_back(bytes, old.as_deref()).await?;
            }
            restore_all(self.ctx, &claims).await;
            return self.lost(entry).await.map(drop);
        }
        for plan in &planned {
            let at = ItemAt {
                key: &plan.key,
                ..self.reader()
            };
            at.settle(indexes, plan).await?;
        }
        Ok(())
    }

    /// One round of [`ItemAt::modify`] with indexes: `next` written over exactly `current` (a
    /// compare-and-swap, with the claims around it), or removed. `None`: done; `Some(now)`: the
    /// record held other bytes, which are these.
    pub(crate) async fn modify_indexed(
        &self,
        indexes: &Indexes<T>,
        next: &Option<T>,
        current: Option<&[u8]>,
    ) -> Result<Option<Option<Vec<u8>>>> {
        let done = match next {
            Some(value) => {
                let how = Record::Swap {
                    expected: current,
                    ttl_if_created: self.ttl,
                };
                self.write_planned(indexes, value, how).await?
            }
            None => {
                let old = current.and_then(|b| self.classify(b).ok().map(|r| r.into_value()));
                let Some(current) = current else {
                    return Ok(None);
                };
                let delete = Command::Str {
                    key: self.key,
                    op: StringOp::CompareAndSwap {
                        expected: Some(current),
                        new: None,
                        ttl_if_created: None,
                    },
                };
                let done = self.ctx.execute(delete).await?.into_swap(&delete)? == Swap::Done;
                if let (true, Some(old)) = (done, &old) {
                    self.removed(indexes, old).await?;
                }
                done
            }
        };
        if done {
            return Ok(None);
        }
        let get = Command::Str {
            key: self.key,
            op: StringOp::Get,
        };
        Ok(Some(self.ctx.execute(get).await?.into_value(&get)?))
    }

    /// [`ItemAt::remove`] with indexes: the record, then its entries (released or removed as
    /// stale, each after a re-read).
    pub(crate) async fn remove_indexed(&self, indexes: &Indexes<T>) -> Result<bool> {
        let old = self.read_record(self.key).await?;
        let removed = crate::node::remove_key(self.ctx, self.key).await?;
        if let Some(old) = old {
            self.removed(indexes, &old).await?;
        }
        Ok(removed)
    }

    /// After the record `old` was removed: its entries released or removed as stale.
    pub(crate) async fn removed(&self, indexes: &Indexes<T>, old: &T) -> Result<()> {
        let Some(id) = indexes.id_of(self.key) else {
            return Ok(());
        };
        let old_keys = indexes.keys_of(self.key, Some(old)).unwrap_or_default();
        for (i, hook) in indexes.hooks.iter().enumerate() {
            let Some(old) = &old_keys[i] else {
                continue;
            };
            let belongs = self.has_key(indexes, i, id, old);
            match hook.kind {
                Kind::Unique => {
                    unique::release(self.ctx, &hook.unique_entry(old), id, belongs).await?
                }
                Kind::Many | Kind::Ordered => {
                    hook.entry(id, old).remove_stale(self.ctx, belongs).await?
                }
            }
        }
        Ok(())
    }
}

/// A migration's write-back of an indexed record (`migrate()`): the converted value written
/// through the index protocol, as a compare-and-swap against the bytes read.
pub(crate) struct IndexedWriteBack<'a, T> {
    pub(crate) ctx: &'a Context,
    pub(crate) indexes: &'a Indexes<T>,
    pub(crate) migrations: Option<&'a Migrations<T>>,
}

impl<T: Storable> WriteBack for IndexedWriteBack<'_, T> {
    fn write_back<'a>(&'a self, key: &'a str, stored: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let at = ItemAt {
                ctx: self.ctx,
                key,
                json: Json::new(),
                ttl: None,
                migrations: self.migrations,
                clone: None,
                indexes: Some(self.indexes),
            };
            let value = at.classify(stored)?.into_value();
            let how = Record::Swap {
                expected: Some(stored),
                ttl_if_created: None,
            };
            at.write_planned(self.indexes, &value, how).await
        })
    }
}

/// How a record is written: `SET` (with its options), or a compare-and-swap against the bytes
/// read (`modify`, a migration write-back).
#[derive(Clone, Copy)]
pub(crate) enum Record<'a> {
    Set(SetOptions),
    Swap {
        expected: Option<&'a [u8]>,
        ttl_if_created: Option<std::time::Duration>,
    },
}

impl Record<'_> {
    fn options(&self) -> SetOptions {
        match self {
            Record::Set(options) => *options,
            Record::Swap { .. } => SetOptions::default(),
        }
    }
}

/// One record write, planned.
pub(super) struct Planned {
    key: String,
    id: String,
    new_keys: Vec<Option<Keyed>>,
    old_keys: Vec<Option<Keyed>>,
}

impl Indexes<serde_json::Value> {
    /// An index of JSON records (what a manifest describes): `kind` as the manifest names it
    /// (`unique_index`, `index`, `ordered_index`), keyed by the value at the dotted `field`
    /// path — a string or an integer (the id encoding of its decimal text), a number for an
    /// ordered index; absent or `null`: not indexed. `None` for another kind.
    pub(crate) fn json(mut self, kind: &str, path: KeyPath, field: &str) -> Option<Self> {
        let kind = match kind {
            "unique_index" => Kind::Unique,
            "index" => Kind::Many,
            "ordered_index" => Kind::Ordered,
            _ => return None,
        };
        let field: Vec<String> = field.split('.').map(str::to_owned).collect();
        let key: KeyFn<serde_json::Value> = Arc::new(move |record| {
            let value = field.iter().try_fold(record, |v, name| v.get(name))?;
            match (kind, value) {
                (_, serde_json::Value::Null) => None,
                (Kind::Ordered, serde_json::Value::Number(n)) => {
                    n.as_f64().map(|s| Ok(Keyed::Score(s)))
                }
                (Kind::Ordered, _) => Some(Err("a score that is not a number".to_owned())),
                (_, serde_json::Value::String(s)) => Some(encode_key(s)),
                (_, serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => {
                    Some(encode_key(&n.to_string()))
                }
                _ => Some(Err("a key that is not a string or an integer".to_owned())),
            }
        });
        self.hooks.push(Hook { kind, path, key });
        Some(self)
    }
}

/// What an index keys a record by, from the record's field: the value itself, or an
/// `Option` of it (`None`: the record is not indexed).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "an index keyed by `{K}` cannot be keyed by a field of type `{Self}`",
    label = "this is a `{Self}`; the index's key type is `{K}`",
    note = "the first type parameter of `UniqueIndex`, `IndexOf` or `OrderedIndex` is its key (or score) type: make it the field's type (the field may be an `Option` of it), or compute the key with `key_fn`"
)]
pub trait IndexKey<K> {
    /// The key, if any.
    fn index_key(&self) -> Option<K>;
}

impl<K: Clone> IndexKey<K> for K {
    fn index_key(&self) -> Option<K> {
        Some(self.clone())
    }
}

impl<K: Clone> IndexKey<K> for Option<K> {
    fn index_key(&self) -> Option<K> {
        self.clone()
    }
}

/// After a record write that failed with `error`: the claims are put back only when nothing
/// was written (a refused value, a wrong type). A backend error (a timeout, a lost connection, a
/// cluster's partial `set_many`) leaves the outcome unknown: the pending claims stay, so a record
/// that was written keeps its key (a pending claim whose record does not have the key is taken
/// over once its lease is over).
pub(super) async fn restore_unless_unknown(
    ctx: &Context,
    claims: &[(String, Claimed)],
    error: &Error,
) {
    if !matches!(error, Error::Backend(_)) {
        restore_all(ctx, claims).await;
    }
}

/// Puts back every claim (best effort: the write is failing already).
pub(super) async fn restore_all(ctx: &Context, claims: &[(String, Claimed)]) {
    for (entry, claimed) in claims {
        let _ = unique::restore(ctx, entry, claimed).await;
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::backend::BackendExt as _;
    use crate::node::{Node, Spec};
    use crate::{Dynamic, Item, MemoryBackend};

    #[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
    struct User {
        email: String,
        country: Option<String>,
        score: i64,
    }

    fn user(email: &str, country: Option<&str>, score: i64) -> User {
        User {
            email: email.into(),
            country: country.map(Into::into),
            score,
        }
    }

    fn users() -> (Dynamic<Item<User>>, MemoryBackend) {
        let backend = MemoryBackend::new();
        let ctx = Context::new(backend.clone());
        let root = KeyPath::root("app");
        let indexes = Indexes::<User>::new(root.child("users"))
            .unique(root.child("by_email"), |u| Some(u.email.clone()))
            .many(root.child("by_country"), |u| u.country.clone())
            .ordered(root.child("by_score"), |u| Some(u.score));
        let spec = Spec {
            indexes: Some(Arc::new(indexes)),
            ..Spec::default()
        };
        (
            <Dynamic<Item<User>>>::__build(&ctx, root.child("users"), &spec),
            backend,
        )
    }

    async fn holder(backend: &MemoryBackend, entry: &str) -> Option<String> {
        let bytes = backend.get(entry).await.unwrap()?;
        Some(super::super::encoding::Claim::parse(&bytes).unwrap().id)
    }

    async fn members(backend: &MemoryBackend, key: &str) -> Vec<String> {
        let mut m: Vec<String> = backend
            .set_members(key)
            .await
            .unwrap()
            .into_iter()
            .map(|m| String::from_utf8(m).unwrap())
            .collect();
        m.sort();
        m
    }

    #[tokio::test]
    async fn writes_keep_every_index() {
        let (users, backend) = users();
        users
            .set("a", &user("a@x.io", Some("NO"), 5))
            .await
            .unwrap();
        assert_eq!(
            holder(&backend, "app:by_email:a@x.io").await.as_deref(),
            Some("a")
        );
        assert_eq!(members(&backend, "app:by_country:NO").await, ["a"]);
        // The same email for another record: refused, nothing written.
        let e = users
            .set("b", &user("a@x.io", Some("SE"), 1))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unique { holder, .. } if holder == "a"),
            "{e:?}"
        );
        assert_eq!(users.get("b").await.unwrap(), None);
        assert!(members(&backend, "app:by_country:SE").await.is_empty());
        // a changes its email and country: the old keys are let go.
        users
            .set("a", &user("new@x.io", Some("SE"), 7))
            .await
            .unwrap();
        assert_eq!(holder(&backend, "app:by_email:a@x.io").await, None);
        assert_eq!(
            holder(&backend, "app:by_email:new@x.io").await.as_deref(),
            Some("a")
        );
        assert!(members(&backend, "app:by_country:NO").await.is_empty());
        assert_eq!(members(&backend, "app:by_country:SE").await, ["a"]);
        // Now b may take the old email.
        users.set("b", &user("a@x.io", None, 1)).await.unwrap();
        assert_eq!(
            holder(&backend, "app:by_email:a@x.io").await.as_deref(),
            Some("b")
        );
        // Removing a record lets its keys go.
        assert!(users.remove("a").await.unwrap());
        assert_eq!(holder(&backend, "app:by_email:new@x.io").await, None);
        assert!(members(&backend, "app:by_country:SE").await.is_empty());
        let scores = backend.scan_prefix("app:by_score").await.unwrap();
        assert_eq!(scores, ["app:by_score"], "b's score entry is left");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_32_racing_sign_ups_exactly_one_is_stored() {
        let (users, _backend) = users();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let users = users.clone();
                tokio::spawn(async move {
                    users
                        .set(format!("u{i}"), &user("same@x.io", None, i))
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(Error::Unique { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won, 1);
        assert_eq!(
            users.keys().await.unwrap().len(),
            1,
            "the others wrote nothing"
        );
    }
}

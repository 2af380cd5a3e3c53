//! What a `Dynamic<Item<T>>` with indexes does around each record write (see ARCHITECTURE.md,
//! "Secondary indexes"): unique keys claimed before, confirmed after; non-unique entries added
//! after; old entries released or removed as stale.

use std::sync::Arc;

use super::encoding::{sortable, Score};
use super::many::{self, Entry};
use super::unique::{self, Claimed};
use crate::backend::command::{Command, SetOptions, StringOp};
use crate::error::{Error, InvalidKeyReason, Result};
use crate::layout::{split_id_segment, Id, KeyPath};
use crate::node::item::ItemAt;
use crate::node::Context;
use crate::value::{LeafCodec, Storable};

/// What an index keys a record by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Keyed {
    /// The encoded key of a unique or non-unique index.
    Id(String),
    /// The score of an ordered index.
    Score(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unique,
    Many,
    Ordered,
}

type KeyFn<T> = Arc<dyn Fn(&T) -> Option<std::result::Result<Keyed, String>> + Send + Sync>;

struct Hook<T> {
    kind: Kind,
    /// The index field's path (`app:user_by_email`).
    path: KeyPath,
    key: KeyFn<T>,
}

/// The indexes of one `Dynamic<Item<T>>` field (built by the derive, passed down in its spec).
#[doc(hidden)]
pub struct Indexes<T> {
    /// The records' path (the `Dynamic` field's).
    records: KeyPath,
    hooks: Vec<Hook<T>>,
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
    fn keys_of(&self, key: &str, value: Option<&T>) -> Result<Vec<Option<Keyed>>> {
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
    fn unique_entry(&self, keyed: &Keyed) -> String {
        match keyed {
            Keyed::Id(k) => format!("{}:{k}", self.path.as_str()),
            Keyed::Score(_) => unreachable!("a unique index is keyed by ids"),
        }
    }

    /// The non-unique entry of the record `id` for `keyed`.
    fn entry(&self, id: &str, keyed: &Keyed) -> Entry {
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
    async fn read_record(&self, key: &str) -> Result<Option<T>> {
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
    async fn has_key(
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

    /// [`ItemAt::write`] with indexes: claims, the record write, confirmations, then the old
    /// entries. Returns whether the record was written (`false`: NX found it).
    pub(crate) async fn write_indexed(
        &self,
        indexes: &Indexes<T>,
        value: &T,
        options: SetOptions,
    ) -> Result<bool> {
        let ctx: &Context = self.ctx;
        let Some(id) = indexes.id_of(self.key) else {
            return self.write_plain(value, options).await;
        };
        let bytes = self
            .json
            .encode(self.key, value, ctx.limits().max_value_size)?;
        let new_keys = indexes.keys_of(self.key, Some(value))?;
        let old = self.read_record(self.key).await?;
        let old_keys = indexes.keys_of(self.key, old.as_ref()).unwrap_or_default();
        // 1. Claim the unique keys (undone if a later one fails).
        let mut claims: Vec<(String, Claimed)> = Vec::new();
        for (i, hook) in indexes.hooks.iter().enumerate() {
            let (Kind::Unique, Some(keyed)) = (hook.kind, &new_keys[i]) else {
                continue;
            };
            let entry = hook.unique_entry(keyed);
            let claimed = unique::claim(ctx, &entry, id, |holder| async move {
                self.has_key(indexes, i, &holder, keyed).await
            })
            .await;
            match claimed {
                Ok(claimed) => claims.push((entry, claimed)),
                Err(e) => {
                    restore_all(ctx, &claims).await;
                    return Err(e);
                }
            }
        }
        // 2. The record.
        let set = Command::Str {
            key: self.key,
            op: StringOp::Set {
                value: &bytes,
                options,
            },
        };
        let wrote = match ctx.execute(set).await.and_then(|r| r.into_bool(&set)) {
            Ok(true) => true,
            other => {
                restore_all(ctx, &claims).await;
                return other;
            }
        };
        // 3. Confirm the claims; one taken over meanwhile undoes the write.
        for (entry, claimed) in &claims {
            if !unique::confirm(ctx, entry, claimed).await? {
                let undo = Command::Str {
                    key: self.key,
                    op: StringOp::CompareAndSwap {
                        expected: Some(&bytes),
                        new: None,
                        ttl_if_created: None,
                    },
                };
                ctx.execute(undo).await?;
                restore_all(ctx, &claims).await;
                let holder = unique::holder(ctx, entry).await?.map(|(h, _)| h);
                return Err(Error::Unique {
                    key: entry.clone(),
                    holder: holder.unwrap_or_default(),
                });
            }
        }
        // 4. The other entries, and the old keys.
        for (i, hook) in indexes.hooks.iter().enumerate() {
            let (old, new) = (old_keys.get(i).cloned().flatten(), &new_keys[i]);
            match hook.kind {
                Kind::Unique => {
                    if let Some(old) = old.filter(|o| Some(o) != new.as_ref()) {
                        let entry = hook.unique_entry(&old);
                        let belongs = self.has_key(indexes, i, id, &old);
                        unique::release(ctx, &entry, id, belongs).await?;
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
                    many::moved(ctx, old_entry.as_ref(), new_entry.as_ref(), belongs).await?;
                }
            }
        }
        Ok(wrote)
    }

    /// [`ItemAt::remove`] with indexes: the record, then its entries (released or removed as
    /// stale, each after a re-read).
    pub(crate) async fn remove_indexed(&self, indexes: &Indexes<T>) -> Result<bool> {
        let ctx: &Context = self.ctx;
        let old = self.read_record(self.key).await?;
        let removed = crate::node::remove_key(ctx, self.key).await?;
        let (Some(id), Some(old)) = (indexes.id_of(self.key), old) else {
            return Ok(removed);
        };
        let old_keys = indexes.keys_of(self.key, Some(&old)).unwrap_or_default();
        for (i, hook) in indexes.hooks.iter().enumerate() {
            let Some(old) = &old_keys[i] else {
                continue;
            };
            let belongs = self.has_key(indexes, i, id, old);
            match hook.kind {
                Kind::Unique => unique::release(ctx, &hook.unique_entry(old), id, belongs).await?,
                Kind::Many | Kind::Ordered => {
                    hook.entry(id, old).remove_stale(ctx, belongs).await?
                }
            }
        }
        Ok(removed)
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

/// Puts back every claim (best effort: the write is failing already).
async fn restore_all(ctx: &Context, claims: &[(String, Claimed)]) {
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

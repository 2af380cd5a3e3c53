//! [`MapOf<F, V>`]: a native hash of JSON values at one key, by field ids.

use std::borrow::Borrow;
use std::marker::PhantomData;

use futures_core::Stream;

use super::audit::{Container, Run, Verdict};
use super::watch::{KeyWatch, WatchRead};
use super::{container_methods, handle_impls};
use super::{key_methods, leaf_node, Context, Leaf, Spec};
use crate::backend::command::{Command, MapOp};
use crate::error::{Error, InvalidKeyReason, Result};
use crate::layout::{Id, IntoId};
use crate::value::{codec, Json, LeafCodec, Storable};

/// Fields of id type `F` (`String`, `u64`, ...) mapped to JSON values of type `V`, in one key
/// (a native Redis HASH): per-object field maps, per-tenant settings, per-user counters.
///
/// Fields are encoded like the ids of a [`Dynamic`](crate::Dynamic) (so `fields()` decodes
/// them back exactly), values like [`Item`](crate::Item) values: validated on write and read.
/// A `MapOf<F, i64>` also has an atomic [`increment`](MapOf::increment) (`HINCRBY`).
pub struct MapOf<F, V> {
    pub(crate) leaf: Leaf,
    pub(crate) json: Json<V>,
    _field: PhantomData<fn() -> F>,
}

handle_impls!(MapOf<F, V> { json, _field });

/// The encoded form of `field`, checked (not empty, not longer than the key limit).
pub(crate) fn encode_field<F, I: IntoId<F> + ?Sized>(
    leaf: &Leaf,
    key: &str,
    field: &I,
) -> Result<String> {
    let mut out = String::new();
    let limit = leaf.ctx.limits().max_key_len;
    let invalid = |reason| Error::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    field.encode_id_into(&mut out).map_err(invalid)?;
    if out.len() > limit {
        return Err(invalid(InvalidKeyReason::KeyTooLong {
            len: out.len(),
            limit,
        }));
    }
    Ok(out)
}

/// A stored field decoded back to its id.
fn decode_field<F: Id>(key: &str, raw: &[u8]) -> Result<F> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(F::decode)
        .ok_or_else(|| Error::Decode {
            key: key.to_owned(),
            message: format!(
                "the field {:?} is not an encoded id of type `{}`",
                String::from_utf8_lossy(&raw[..raw.len().min(64)]),
                std::any::type_name::<F>()
            ),
        })
}

impl<F: Id, V: Storable> MapOf<F, V> {
    fn field<I: IntoId<F> + ?Sized>(&self, key: &str, field: &I) -> Result<String> {
        encode_field(&self.leaf, key, field)
    }

    /// The value of `field` (`HGET`), validated; `None` when it is not set.
    pub async fn get<I: IntoId<F>>(&self, field: I) -> Result<Option<V>> {
        let key = self.leaf.key()?;
        let field = self.field(key, &field)?;
        let command = Command::Map {
            key,
            op: MapOp::Get { field: &field },
        };
        match self.leaf.ctx.execute(command).await?.into_value(&command)? {
            Some(bytes) => Ok(Some(self.leaf.ctx.observed(self.json.decode(key, &bytes))?)),
            None => Ok(None),
        }
    }

    async fn write<I: IntoId<F>>(&self, field: I, value: &V, only_if_absent: bool) -> Result<bool> {
        let key = self.leaf.key()?;
        let field = self.field(key, &field)?;
        let value =
            self.leaf
                .ctx
                .observed(self.json.encode(key, value, self.leaf.max_value_size()))?;
        let command = Command::Map {
            key,
            op: MapOp::Set {
                field: &field,
                value: &value,
                only_if_absent,
                ttl_if_created: self.leaf.ttl,
            },
        };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// Validates `value` and sets `field` to it (`HSET`). A map created here gets the field's
    /// default TTL; the TTL is the whole map's.
    pub async fn set<I: IntoId<F>>(&self, field: I, value: &V) -> Result<()> {
        self.write(field, value, false).await.map(drop)
    }

    /// Sets `field` only if it is not set (`HSETNX`); returns whether it wrote.
    pub async fn set_if_absent<I: IntoId<F>>(&self, field: I, value: &V) -> Result<bool> {
        self.write(field, value, true).await
    }

    /// Removes `field` (`HDEL`); returns whether it was set. Removing the last field removes
    /// the key.
    pub async fn remove<I: IntoId<F>>(&self, field: I) -> Result<bool> {
        let key = self.leaf.key()?;
        let field = self.field(key, &field)?;
        let command = Command::Map {
            key,
            op: MapOp::Remove { field: &field },
        };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// Whether `field` is set (`HEXISTS`).
    pub async fn contains<I: IntoId<F>>(&self, field: I) -> Result<bool> {
        let key = self.leaf.key()?;
        let field = self.field(key, &field)?;
        let command = Command::Map {
            key,
            op: MapOp::Contains { field: &field },
        };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// Every field, decoded, in no particular order (`HKEYS`).
    pub async fn fields(&self) -> Result<Vec<F>> {
        let key = self.leaf.key()?;
        let command = Command::Map {
            key,
            op: MapOp::Fields,
        };
        let raw = self
            .leaf
            .ctx
            .execute(command)
            .await?
            .into_members(&command)?;
        raw.iter().map(|f| decode_field(key, f)).collect()
    }

    /// Every field and its value, decoded and validated, in no particular order (`HGETALL`).
    pub async fn entries(&self) -> Result<Vec<(F, V)>> {
        let key = self.leaf.key()?;
        let command = Command::Map {
            key,
            op: MapOp::Entries,
        };
        let raw = self.leaf.ctx.execute(command).await?.into_pairs(&command)?;
        self.decode_entries(key, &raw)
    }

    /// Stored fields and values, decoded and validated (`entries` and `watch`).
    fn decode_entries(&self, key: &str, raw: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<(F, V)>> {
        raw.iter()
            .map(|(f, v)| {
                Ok((
                    decode_field(key, f)?,
                    self.leaf.ctx.observed(self.json.decode(key, v))?,
                ))
            })
            .collect()
    }

    /// Watches the map: its entries first, then the entries after each change that changed
    /// them (empty once removed or expired), in no particular order. Coalescing, errors and
    /// reconnection as for [`Item::watch`](crate::Item::watch); a field or value that fails
    /// decoding or validation makes that item an `Err` naming the key.
    pub fn watch(&self) -> impl Stream<Item = Result<Vec<(F, V)>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::Pairs);
        let map = self.clone();
        futures_util::stream::unfold((map, watch), |(map, mut watch)| async move {
            let key = map.leaf.key.as_str();
            let command = Command::Map {
                key,
                op: MapOp::Entries,
            };
            let next = watch
                .next()
                .await?
                .and_then(|reply| map.decode_entries(key, &reply.into_pairs(&command)?));
            Some((next, (map, watch)))
        })
    }

    /// The values of `fields`, in the same order (`HMGET`); `None` for a field that is not set.
    pub async fn get_many<I, It>(&self, fields: It) -> Result<Vec<Option<V>>>
    where
        It: IntoIterator<Item = I>,
        I: IntoId<F>,
    {
        let key = self.leaf.key()?;
        let fields = fields
            .into_iter()
            .map(|f| self.field(key, &f))
            .collect::<Result<Vec<_>>>()?;
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let command = Command::Map {
            key,
            op: MapOp::GetMany { fields: &fields },
        };
        let raw = self
            .leaf
            .ctx
            .execute(command)
            .await?
            .into_values(&command)?;
        raw.iter()
            .map(|v| {
                v.as_deref()
                    .map(|v| self.leaf.ctx.observed(self.json.decode(key, v)))
                    .transpose()
            })
            .collect()
    }

    /// Sets every field as one step (`HSET key f1 v1 f2 v2 ...`): all values are validated
    /// before anything is written, and no reader sees some written and not others.
    pub async fn set_many<I, B, It>(&self, entries: It) -> Result<()>
    where
        It: IntoIterator<Item = (I, B)>,
        I: IntoId<F>,
        B: Borrow<V>,
    {
        let key = self.leaf.key()?;
        let max = self.leaf.max_value_size();
        let entries = entries
            .into_iter()
            .map(|(f, v)| {
                Ok((
                    self.field(key, &f)?,
                    self.leaf
                        .ctx
                        .observed(self.json.encode(key, v.borrow(), max))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        if entries.is_empty() {
            return Ok(());
        }
        let command = Command::Map {
            key,
            op: MapOp::SetMany {
                entries: &entries,
                ttl_if_created: self.leaf.ttl,
            },
        };
        self.leaf.ctx.execute(command).await?.into_unit(&command)
    }

    container_methods!("fields (`HLEN`)", |key| Command::Map {
        key,
        op: MapOp::Len
    });

    key_methods!();
}

impl<F: Id> MapOf<F, i64> {
    /// Atomically adds `by` to the integer in `field` (0 when not set) and returns the new value
    /// (`HINCRBY`). A map created here gets the field's default TTL. A stored value that is not
    /// a decimal `i64` is [`Error::Decode`], overflow is [`Error::Overflow`]; both change
    /// nothing.
    pub async fn increment<I: IntoId<F>>(&self, field: I, by: i64) -> Result<i64> {
        let key = self.leaf.key()?;
        let field = self.field(key, &field)?;
        let command = Command::Map {
            key,
            op: MapOp::Increment {
                field: &field,
                delta: by,
                ttl_if_created: self.leaf.ttl,
            },
        };
        self.leaf.ctx.execute(command).await?.into_int(&command)
    }
}

impl<F: Id, V: Storable> MapOf<F, V> {
    async fn audit_keys(
        ctx: &Context,
        keys: &[String],
        _spec: &Spec,
        run: &mut Run<'_>,
    ) -> Result<()> {
        let json = Json::<V>::new();
        run.check_members(ctx, keys, Container::Map, |key, field, value| {
            let field = field.map(|f| decode_field::<F>(key, f).map(drop));
            match field
                .unwrap_or(Ok(()))
                .and_then(|()| json.decode(key, value))
            {
                Ok(_) => Verdict::Valid,
                Err(e) => Verdict::Invalid(e),
            }
        })
        .await
    }
}

leaf_node!(MapOf<F: crate::Id, V: crate::Storable>, "map", Some(codec::<V>().schema().clone()), { json: Json::new(), _field: PhantomData });

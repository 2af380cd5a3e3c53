//! [`SetOf<T>`]: a native set of JSON values at one key.

use futures_core::Stream;

use super::audit::Container;
use super::watch::{KeyWatch, WatchRead};
use super::{container_methods, handle_impls, json_members_audit};
use super::{key_methods, leaf_node, Leaf};
use crate::backend::command::{Command, SetOp};
use crate::error::Result;
use crate::value::{codec, Json, LeafCodec, Storable};

/// A set of JSON values of type `T` (a native Redis SET; each member is `T`'s JSON text).
///
/// Membership compares the JSON text, so `T` must serialize deterministically: use `BTreeMap`,
/// not `HashMap`, inside set members.
pub struct SetOf<T> {
    pub(crate) leaf: Leaf,
    pub(crate) json: Json<T>,
}

handle_impls!(SetOf<T> { json });

impl<T: Storable> SetOf<T> {
    fn member(&self, key: &str, value: &T) -> Result<Vec<u8>> {
        self.leaf
            .ctx
            .observed(self.json.encode(key, value, self.leaf.max_value_size()))
    }

    /// Validates and adds a member; returns whether it was new. A set created here gets the
    /// field's default TTL.
    pub async fn add(&self, value: &T) -> Result<bool> {
        let key = self.leaf.key()?;
        let member = self.member(key, value)?;
        let command = Command::Set {
            key,
            op: SetOp::Add {
                member: &member,
                ttl_if_created: self.leaf.ttl,
            },
        };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// Removes a member; returns whether it was there. Removing the last member removes the key.
    pub async fn remove(&self, value: &T) -> Result<bool> {
        let key = self.leaf.key()?;
        let member = self.member(key, value)?;
        let command = Command::Set {
            key,
            op: SetOp::Remove { member: &member },
        };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// Whether `value` is a member.
    pub async fn contains(&self, value: &T) -> Result<bool> {
        let key = self.leaf.key()?;
        let member = self.member(key, value)?;
        let command = Command::Set {
            key,
            op: SetOp::Contains { member: &member },
        };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// Every member, decoded and validated, in no particular order.
    pub async fn members(&self) -> Result<Vec<T>> {
        let key = self.leaf.key()?;
        let command = Command::Set {
            key,
            op: SetOp::Members,
        };
        let raw = self
            .leaf
            .ctx
            .execute(command)
            .await?
            .into_members(&command)?;
        self.decode_members(key, &raw)
    }

    /// Stored members, decoded and validated (`members` and `watch`).
    fn decode_members(&self, key: &str, raw: &[Vec<u8>]) -> Result<Vec<T>> {
        raw.iter()
            .map(|m| self.leaf.ctx.observed(self.json.decode(key, m)))
            .collect()
    }

    /// Watches the set: its members first, then the members after each change that changed
    /// them (empty once removed or expired), in no particular order. Coalescing, errors and
    /// reconnection as for [`Item::watch`](crate::Item::watch); a member that fails validation
    /// makes that item an `Err` naming the key.
    pub fn watch(&self) -> impl Stream<Item = Result<Vec<T>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::Members);
        let set = self.clone();
        futures_util::stream::unfold((set, watch), |(set, mut watch)| async move {
            let command = Command::Set {
                key: &set.leaf.key,
                op: SetOp::Members,
            };
            let next = watch.next().await?.and_then(|reply| {
                set.decode_members(&set.leaf.key, &reply.into_members(&command)?)
            });
            Some((next, (set, watch)))
        })
    }

    container_methods!("members (`SCARD`)", |key| Command::Set {
        key,
        op: SetOp::Len
    });

    key_methods!();
}

json_members_audit!(SetOf<T>, Container::Set);

leaf_node!(SetOf<T: crate::Storable>, "set", Some(codec::<T>().schema().clone()), { json: Json::new() });

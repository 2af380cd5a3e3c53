//! [`ListOf<T>`]: a native list of JSON values at one key.

use std::time::Duration;

use futures_core::Stream;

use super::audit::Container;
use super::watch::{KeyWatch, WatchRead};
use super::{container_methods, handle_impls, json_members_audit};
use super::{key_methods, leaf_node, Leaf};
use crate::backend::command::{Command, End, ListOp, Reply};
use crate::error::{Error, Result};
use crate::value::{codec, Json, LeafCodec, Storable};

/// A list of JSON values of type `T` (a native Redis LIST; each element is `T`'s JSON text):
/// a queue, a stack, a capped log.
///
/// Elements are validated when pushed and when read. A popped element that fails validation
/// (written by someone else) has still been removed; the error names the key.
pub struct ListOf<T> {
    pub(crate) leaf: Leaf,
    pub(crate) json: Json<T>,
}

handle_impls!(ListOf<T> { json });

impl<T: Storable> ListOf<T> {
    async fn run(&self, op: ListOp<'_>) -> Result<Reply> {
        self.leaf
            .ctx
            .execute(Command::List {
                key: self.leaf.key()?,
                op,
            })
            .await
    }

    async fn push(&self, end: End, value: &T) -> Result<usize> {
        let key = self.leaf.key()?;
        let value =
            self.leaf
                .ctx
                .observed(self.json.encode(key, value, self.leaf.max_value_size()))?;
        let op = ListOp::Push {
            end,
            value: &value,
            ttl_if_created: self.leaf.ttl,
        };
        self.run(op).await?.into_len(&Command::List { key, op })
    }

    /// Validates `value` and appends it (`RPUSH`); returns the new length. A list created here
    /// gets the field's default TTL.
    pub async fn push_back(&self, value: &T) -> Result<usize> {
        self.push(End::Back, value).await
    }

    /// Validates `value` and prepends it (`LPUSH`); returns the new length.
    pub async fn push_front(&self, value: &T) -> Result<usize> {
        self.push(End::Front, value).await
    }

    async fn one(&self, op: ListOp<'_>) -> Result<Option<T>> {
        let key = self.leaf.key()?;
        match self.run(op).await?.into_value(&Command::List { key, op })? {
            Some(bytes) => Ok(Some(self.leaf.ctx.observed(self.json.decode(key, &bytes))?)),
            None => Ok(None),
        }
    }

    /// Removes and returns the first element (`LPOP`); `None` when the list is empty. Popping
    /// the last element removes the key.
    pub async fn pop_front(&self) -> Result<Option<T>> {
        self.one(ListOp::Pop {
            end: End::Front,
            count: None,
        })
        .await
    }

    /// Removes and returns the last element (`RPOP`).
    pub async fn pop_back(&self) -> Result<Option<T>> {
        self.one(ListOp::Pop {
            end: End::Back,
            count: None,
        })
        .await
    }

    async fn many(&self, end: End, n: usize) -> Result<Vec<T>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.elements(ListOp::Pop {
            end,
            count: Some(n),
        })
        .await
    }

    /// Runs `op`, whose reply is elements, and decodes them.
    async fn elements(&self, op: ListOp<'_>) -> Result<Vec<T>> {
        let key = self.leaf.key()?;
        let raw = self
            .run(op)
            .await?
            .into_members(&Command::List { key, op })?;
        raw.iter()
            .map(|v| self.leaf.ctx.observed(self.json.decode(key, v)))
            .collect()
    }

    /// Removes and returns up to `n` elements from the front, first element first (`LPOP key
    /// n`, one round trip); fewer when the list is shorter, none when it is missing. Popping the
    /// last element removes the key. An element that does not decode fails the call naming the
    /// key (it is popped all the same, as by Redis).
    pub async fn pop_front_many(&self, n: usize) -> Result<Vec<T>> {
        self.many(End::Front, n).await
    }

    /// Removes and returns up to `n` elements from the back, last element first (`RPOP key n`).
    pub async fn pop_back_many(&self, n: usize) -> Result<Vec<T>> {
        self.many(End::Back, n).await
    }

    /// Watches the list: its elements in order first, then after each change (empty once
    /// removed or expired). Coalescing, errors and reconnection as for
    /// [`Item::watch`](crate::Item::watch); an element that fails validation makes that item an
    /// `Err` naming the key.
    pub fn watch(&self) -> impl Stream<Item = Result<Vec<T>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::List);
        let list = self.clone();
        futures_util::stream::unfold((list, watch), |(list, mut watch)| async move {
            let op = ListOp::Range { start: 0, stop: -1 };
            let key = list.leaf.key.as_str();
            let next = watch.next().await?.and_then(|reply| {
                let raw = reply.into_members(&Command::List { key, op })?;
                raw.iter()
                    .map(|v| list.leaf.ctx.observed(list.json.decode(key, v)))
                    .collect()
            });
            Some((next, (list, watch)))
        })
    }

    /// Pops the first element, waiting up to `timeout` for one to arrive (`BLPOP`); `Ok(None)`
    /// when none came. The wait never holds up other operations: on Redis it runs on a
    /// connection of its own (kept in a small pool). A zero timeout does not wait.
    pub async fn pop_front_blocking(&self, timeout: Duration) -> Result<Option<T>> {
        self.one(ListOp::PopFrontBlocking { timeout }).await
    }

    /// Atomically moves the first element of this list to the end of `dest` and returns it
    /// (`LMOVE src dest LEFT RIGHT`): the step of a reliable queue, where a worker moves a job
    /// into its processing list, so that a crash never loses it. `dest` may be this list (a
    /// rotation). A list created at `dest` gets `dest`'s default TTL.
    ///
    /// Both lists must be of the same backend ([`Error::MixedBackends`]), and on a Redis
    /// Cluster in the same hash slot ([`Error::CrossSlot`]: keep them under one
    /// `#[store(colocate)]` id).
    pub async fn move_front_to_back(&self, dest: &ListOf<T>) -> Result<Option<T>> {
        let dest_key = dest.leaf.key()?;
        if self.leaf.ctx.backend().info().instance != dest.leaf.ctx.backend().info().instance {
            return Err(Error::MixedBackends {
                key: dest_key.to_owned(),
            });
        }
        let moved = self
            .one(ListOp::MoveFrontToBack {
                dest: dest_key,
                ttl_if_created: dest.leaf.ttl,
            })
            .await;
        // An element that does not decode has still moved: name the key it is at now.
        moved.map_err(|e| match e {
            Error::Validation {
                issues,
                stored,
                converted_from,
                ..
            } => Error::Validation {
                key: dest_key.to_owned(),
                issues,
                stored,
                converted_from,
            },
            Error::Decode { message, .. } => Error::Decode {
                key: dest_key.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// The elements from index `start` to `stop`, inclusive (`LRANGE`): negative indexes count
    /// from the end (`-1` is the last), out-of-range indexes are clamped, so `range(0, -1)` is
    /// the whole list.
    pub async fn range(&self, start: i64, stop: i64) -> Result<Vec<T>> {
        self.elements(ListOp::Range { start, stop }).await
    }

    /// Keeps only the elements from `start` to `stop` (`LTRIM`, indexes as in
    /// [`ListOf::range`]): `trim(0, 99)` caps a log at 100 entries. An empty result removes the
    /// key.
    pub async fn trim(&self, start: i64, stop: i64) -> Result<()> {
        let key = self.leaf.key()?;
        let op = ListOp::Trim { start, stop };
        self.run(op).await?.into_unit(&Command::List { key, op })
    }

    container_methods!("elements (`LLEN`)", |key| Command::List {
        key,
        op: ListOp::Len
    });

    key_methods!();
}

json_members_audit!(ListOf<T>, Container::List);

leaf_node!(ListOf<T: crate::Storable>, "list", Some(codec::<T>().schema().clone()), { json: Json::new() });

//! [`Counter`]: an atomic 64-bit integer at one key.

use futures_core::Stream;

use super::audit::Verdict;
use super::strings_audit;
use super::watch::{KeyWatch, WatchRead};
use super::{key_methods, leaf_node, Leaf};
use crate::backend::command::{Command, StringOp};
use crate::error::{Error, Result};
use crate::value::{Decimal, LeafCodec};

/// An atomic 64-bit integer, stored as decimal text so that Redis `INCRBY` works on it.
#[derive(Clone, Debug)]
pub struct Counter {
    pub(crate) leaf: Leaf,
}

impl Counter {
    /// The current value; 0 when absent.
    pub async fn get(&self) -> Result<i64> {
        let key = self.leaf.key()?;
        let command = Command::Str {
            key,
            op: StringOp::Get,
        };
        match self.leaf.ctx.execute(command).await?.into_value(&command)? {
            None => Ok(0),
            Some(bytes) => Decimal.decode(key, &bytes),
        }
    }

    /// Atomically adds `by` and returns the new value. A counter created here gets the field's
    /// default TTL (a fixed window); an existing one keeps its TTL. Overflow is
    /// [`Error::Overflow`] and changes nothing.
    pub async fn increment(&self, by: i64) -> Result<i64> {
        let command = Command::Str {
            key: self.leaf.key()?,
            op: StringOp::Increment {
                delta: by,
                ttl_if_created: self.leaf.ttl,
            },
        };
        self.leaf.ctx.execute(command).await?.into_int(&command)
    }

    /// Atomically subtracts `by` and returns the new value (see [`Counter::increment`]).
    pub async fn decrement(&self, by: i64) -> Result<i64> {
        let delta = by.checked_neg().ok_or_else(|| Error::Overflow {
            key: self.leaf.key.clone(),
        })?;
        self.increment(delta).await
    }

    /// Watches the counter: its current value first, then its value after each change (0
    /// once removed or expired). Coalescing, errors and reconnection as for
    /// [`Item::watch`](crate::Item::watch).
    pub fn watch(&self) -> impl Stream<Item = Result<i64>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::String);
        let key = self.leaf.key.clone();
        futures_util::stream::unfold((key, watch), |(key, mut watch)| async move {
            let next = match watch.next_value().await? {
                Err(e) => Err(e),
                Ok(None) => Ok(0),
                Ok(Some(bytes)) => Decimal.decode(&key, &bytes),
            };
            Some((next, (key, watch)))
        })
    }

    /// Removes the counter (it reads as 0 again); returns whether it existed.
    pub async fn remove(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
}

strings_audit!(Counter, |key, bytes| match Decimal.decode(key, bytes) {
    Ok(_) => Verdict::Valid,
    Err(e) => Verdict::Invalid(e),
});

leaf_node!(Counter, "counter", None, {});

//! [`Blob`]: raw bytes at one key.

use std::time::Duration;

use futures_core::Stream;

use super::audit::Verdict;
use super::strings_audit;
use super::watch::{KeyWatch, WatchRead};
use super::{key_methods, leaf_node, Leaf};
use crate::backend::command::{Command, SetOptions, StringOp};
use crate::backend::write_ttl;
use crate::error::Result;
use crate::value::{LeafCodec, Raw};

/// Raw bytes at one key: stored as they are (no JSON, no base64, no validation).
#[derive(Clone, Debug)]
pub struct Blob {
    pub(crate) leaf: Leaf,
}

impl Blob {
    /// The bytes, or `None` when absent.
    pub async fn get(&self) -> Result<Option<Vec<u8>>> {
        let command = Command::Str {
            key: self.leaf.key()?,
            op: StringOp::Get,
        };
        self.leaf.ctx.execute(command).await?.into_value(&command)
    }

    /// Watches the bytes: the current bytes first, then the bytes after each change (`None`
    /// once removed or expired). Coalescing, errors and reconnection as for
    /// [`Item::watch`](crate::Item::watch).
    pub fn watch(&self) -> impl Stream<Item = Result<Option<Vec<u8>>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::String);
        futures_util::stream::unfold(watch, |mut watch| async move {
            let next = watch.next_value().await?;
            Some((next, watch))
        })
    }

    /// Writes the bytes with the field's default TTL (or none).
    pub async fn set(&self, bytes: &[u8]) -> Result<()> {
        self.write(bytes, self.leaf.ttl).await
    }

    /// Writes the bytes with their own TTL (zero is [`Error::InvalidTtl`](crate::Error::InvalidTtl)).
    pub async fn set_with_ttl(&self, bytes: &[u8], ttl: Duration) -> Result<()> {
        let ttl = write_ttl(&self.leaf.key, Some(ttl))?;
        self.write(bytes, ttl).await
    }

    async fn write(&self, bytes: &[u8], ttl: Option<Duration>) -> Result<()> {
        let key = self.leaf.key()?;
        let value = Raw.encode(key, bytes, self.leaf.max_value_size())?;
        let command = Command::Str {
            key,
            op: StringOp::Set {
                value: &value,
                options: SetOptions {
                    ttl,
                    ..SetOptions::default()
                },
            },
        };
        self.leaf
            .ctx
            .execute(command)
            .await?
            .into_bool(&command)
            .map(drop)
    }

    /// Removes the bytes; returns whether there were any.
    pub async fn remove(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
}

// Any bytes are valid; only a key of another kind is a problem.
strings_audit!(Blob, |_, _| Verdict::Valid);

leaf_node!(Blob, "blob", None, {});

//! [`StreamOf<T>`]: a native stream of JSON values at one key.

use std::collections::VecDeque;
use std::time::Duration;

use futures_core::Stream;

use super::audit::Container;
use super::{json_members_audit, key_methods, leaf_node, Leaf};
use crate::backend::command::{Command, Reply, StreamId, StreamOp};
use crate::error::{Error, Result};
use crate::value::{codec, Json, LeafCodec, Storable};

/// How long one read of [`StreamOf::tail`] waits for new entries before asking again.
const TAIL_BLOCK: Duration = Duration::from_secs(5);
/// How many entries one read of [`StreamOf::tail`] asks for.
const TAIL_BATCH: usize = 100;
/// The first and the longest pause of [`StreamOf::tail`] after a failed read.
const TAIL_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));

/// An append-only log of JSON values of type `T` (a native Redis STREAM): each entry has a
/// [`StreamId`] (`ms-seq`, increasing) and one field `v` holding the value's JSON text, so
/// `redis-cli XRANGE <key> - +` shows it.
///
/// Values are validated when appended and when read: an entry that does not decode (written by
/// another program) is an error naming the key. With `#[store(max_len = N)]` on the field, each
/// append trims the stream to about `N` entries (`XADD MAXLEN ~ N`: Redis may keep up to about
/// a hundred more; the embedded backends trim exactly). A stream trimmed to nothing still exists
/// (as on Redis), and keeps giving greater ids.
///
/// [`group`](StreamOf::group) makes a consumer group of it ([`StreamGroup`](crate::stream::StreamGroup)):
/// each entry delivered to one consumer, acknowledged, claimed when left idle, and moved to
/// dead letters when it does not decode.
pub struct StreamOf<T> {
    pub(crate) leaf: Leaf,
    pub(crate) json: Json<T>,
    pub(crate) max_len: Option<u64>,
}

impl<T> Clone for StreamOf<T> {
    fn clone(&self) -> Self {
        StreamOf {
            leaf: self.leaf.clone(),
            json: self.json,
            max_len: self.max_len,
        }
    }
}

impl<T> std::fmt::Debug for StreamOf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StreamOf").field(&self.leaf).finish()
    }
}

impl<T: Storable> StreamOf<T> {
    async fn run<'a>(&'a self, op: StreamOp<'a>) -> Result<(Reply, Command<'a>)> {
        let command = Command::Stream {
            key: self.leaf.key()?,
            op,
        };
        Ok((self.leaf.ctx.execute(command).await?, command))
    }

    /// Entries as a backend returned them, decoded and validated.
    async fn entries(&self, op: StreamOp<'_>) -> Result<Vec<(StreamId, T)>> {
        let (reply, command) = self.run(op).await?;
        let key = command.key();
        reply
            .into_entries(&command)?
            .into_iter()
            .map(|(id, bytes)| Ok((id, self.leaf.ctx.observed(self.json.decode(key, &bytes))?)))
            .collect()
    }

    /// Validates `value` and appends it (`XADD`); returns the new entry's id, greater than
    /// every id the stream has had. With the field's `max_len`, older entries are trimmed to
    /// about that many. A stream created here gets the field's default TTL.
    pub async fn append(&self, value: &T) -> Result<StreamId> {
        let key = self.leaf.key()?;
        let bytes =
            self.leaf
                .ctx
                .observed(self.json.encode(key, value, self.leaf.max_value_size()))?;
        let op = StreamOp::Append {
            value: &bytes,
            max_len: self.max_len,
            ttl_if_created: self.leaf.ttl,
        };
        let (reply, command) = self.run(op).await?;
        reply.into_entry_id(&command)
    }

    /// The entries with ids from `start` to `end`, both inclusive, oldest first, at most
    /// `count` (`XRANGE`): `range(StreamId::MIN, StreamId::MAX, 100)` is the first hundred.
    /// `count` 0 reads nothing.
    pub async fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
    ) -> Result<Vec<(StreamId, T)>> {
        self.entries(StreamOp::Range {
            start,
            end,
            count,
            rev: false,
        })
        .await
    }

    /// The entries with ids from `end` down to `start`, both inclusive, newest first, at most
    /// `count` (`XREVRANGE key end start`): `range_rev(StreamId::MAX, StreamId::MIN, 10)` is the
    /// ten newest.
    pub async fn range_rev(
        &self,
        end: StreamId,
        start: StreamId,
        count: usize,
    ) -> Result<Vec<(StreamId, T)>> {
        self.entries(StreamOp::Range {
            start: end,
            end: start,
            count,
            rev: true,
        })
        .await
    }

    /// The number of entries (`XLEN`); 0 when the stream does not exist.
    pub async fn len(&self) -> Result<u64> {
        let (reply, command) = self.run(StreamOp::Len).await?;
        Ok(reply.into_len(&command)? as u64)
    }

    /// Whether it holds no entries.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Removes the oldest entries until at most `max_len` are left (`XTRIM MAXLEN =`, exact);
    /// returns how many it removed. The stream remains, even empty.
    pub async fn trim(&self, max_len: u64) -> Result<u64> {
        let (reply, command) = self.run(StreamOp::Trim { max_len }).await?;
        Ok(reply.into_len(&command)? as u64)
    }

    /// Up to `count` entries with ids greater than `after`, oldest first (`XREAD`; `count` 0:
    /// no limit). With `block`, when there is none yet, waits up to that long for one to be
    /// appended, and returns empty if none came. The wait never holds up other operations: on
    /// Redis it runs on a connection of its own (kept in a small pool).
    pub async fn read_after(
        &self,
        after: StreamId,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<(StreamId, T)>> {
        self.entries(StreamOp::ReadAfter {
            after,
            count,
            block,
        })
        .await
    }

    /// Every entry after `after`, in order, as it is appended: reads in batches, waiting for
    /// new entries a few seconds at a time, and never ends. Pass [`StreamId::MIN`] to start at
    /// the beginning, or the last id you handled to resume.
    ///
    /// An entry that does not decode yields its `Err` (naming the key) and the tail goes on
    /// after it. A transient backend failure (a lost connection, a timeout) is retried with a
    /// growing pause, from the last id yielded, without yielding anything; any other failure
    /// (a key of another kind) is yielded, then retried the same way.
    pub fn tail(
        &self,
        after: StreamId,
    ) -> impl Stream<Item = Result<(StreamId, T)>> + Send + 'static {
        struct State<T> {
            stream: StreamOf<T>,
            last: StreamId,
            ready: VecDeque<Result<(StreamId, T)>>,
            pause: Duration,
        }
        let state = State {
            stream: self.clone(),
            last: after,
            ready: VecDeque::new(),
            pause: TAIL_BACKOFF.0,
        };
        futures_util::stream::unfold(state, |mut state| async move {
            loop {
                if let Some(next) = state.ready.pop_front() {
                    return Some((next, state));
                }
                match state.stream.tail_batch(state.last).await {
                    Ok(batch) => {
                        state.pause = TAIL_BACKOFF.0;
                        for (id, item) in batch {
                            state.last = id;
                            state.ready.push_back(item);
                        }
                    }
                    Err(e) => {
                        tokio::time::sleep(state.pause).await;
                        state.pause = (state.pause * 2).min(TAIL_BACKOFF.1);
                        let transient = matches!(&e, Error::Backend(b) if b.is_transient());
                        if !transient {
                            return Some((Err(e), state));
                        }
                    }
                }
            }
        })
    }

    /// One read of [`tail`](Self::tail): each entry's id and its value, or why it does not
    /// decode.
    async fn tail_batch(&self, after: StreamId) -> Result<Vec<(StreamId, Result<(StreamId, T)>)>> {
        let op = StreamOp::ReadAfter {
            after,
            count: TAIL_BATCH,
            block: Some(TAIL_BLOCK),
        };
        let (reply, command) = self.run(op).await?;
        let key = command.key();
        Ok(reply
            .into_entries(&command)?
            .into_iter()
            .map(|(id, bytes)| {
                (
                    id,
                    self.leaf
                        .ctx
                        .observed(self.json.decode(key, &bytes))
                        .map(|v| (id, v)),
                )
            })
            .collect())
    }

    /// Removes the whole stream; returns whether it existed.
    pub async fn clear(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    key_methods!();
}

json_members_audit!(StreamOf<T>, Container::Stream);

leaf_node!(
    StreamOf<T: crate::Storable>,
    "stream",
    Some(codec::<T>().schema().clone()),
    spec.max_len.map(|n| ("max_len", serde_json::Value::from(n))),
    |spec| { json: Json::new(), max_len: spec.max_len }
);

//! The raw side of every `watch()`: subscribe, then re-read what changed and pass on only what
//! differs from what was last yielded. The node types decode what comes out.
//!
//! Re-reading (rather than trusting what a notification carries) is what makes a watch converge:
//! every value yielded was stored at the moment it was read, reads of one key happen one after
//! the other, so a newer value is never followed by an older one, and however many changes
//! pile up while the consumer is busy, it gets the latest.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use std::task::Poll;

use futures_util::future::BoxFuture;

use super::Context;
use crate::backend::command::{Command, ListOp, MapOp, Reply, SetOp, SortedSetOp, StringOp};
use crate::backend::{Changes, Subscription};
use crate::error::Result;

/// Keys read per `MGET` when a prefix watch re-reads.
const CHUNK: usize = 1000;

type Subscribing = BoxFuture<'static, Result<Subscription>>;

/// Starts subscribing at once: the in-process backends subscribe on the first poll (made
/// here, so that a change right after `watch()` is seen); Redis sends its `PSUBSCRIBE` on it
/// and the first `next()` waits for the server's confirmation.
fn subscribe(ctx: &Context, key: &str, prefix: bool) -> Subscribing {
    let ctx = ctx.clone();
    let key = key.to_owned();
    let mut subscribing: Subscribing = Box::pin(async move {
        let command = Command::Watch { key: &key, prefix };
        ctx.execute(command).await?.into_subscription(&command)
    });
    let waker = futures_util::task::noop_waker();
    match subscribing
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&waker))
    {
        Poll::Ready(done) => Box::pin(std::future::ready(done)),
        Poll::Pending => subscribing,
    }
}

/// A subscription on its way, then in place; an error ends it.
struct Subscriber {
    /// The key's (or prefix's) problem, an invalid id or path: the stream's only item.
    invalid: Option<crate::Error>,
    subscribing: Option<Subscribing>,
    subscription: Option<Subscription>,
    done: bool,
}

impl Subscriber {
    fn new(ctx: &Context, key: &Result<String>, prefix: bool) -> (String, Subscriber) {
        let (key, invalid, subscribing) = match key {
            Ok(key) => (key.clone(), None, Some(subscribe(ctx, key, prefix))),
            Err(_) => (String::new(), None, None),
        };
        (
            key,
            Subscriber {
                invalid,
                subscribing,
                subscription: None,
                done: false,
            },
        )
    }

    fn with_error(mut self, key: Result<String>) -> Subscriber {
        self.invalid = key.err();
        self
    }

    /// Waits for the subscription: `Some(Ok(true))` the first time it is in place, `Ok(false)`
    /// after; `Some(Err)` when the backend cannot watch (then `None`: the stream ended).
    async fn ready(&mut self) -> Option<Result<bool>> {
        if self.done {
            return None;
        }
        if let Some(e) = self.invalid.take() {
            self.done = true;
            return Some(Err(e));
        }
        let Some(subscribing) = self.subscribing.take() else {
            return Some(Ok(false));
        };
        match subscribing.await {
            Ok(subscription) => {
                self.subscription = Some(subscription);
                Some(Ok(true))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// The next changes (`None`: the stream ended; an `Err` ends it).
    async fn changed(&mut self) -> Option<Result<Changes>> {
        let changed = self.subscription.as_ref()?.changed().await;
        if !matches!(changed, Some(Ok(_))) {
            self.done = true;
        }
        changed
    }
}

/// What a key watch reads after each change.
#[derive(Clone, Copy)]
pub(crate) enum WatchRead {
    /// The string (`GET`): [`Reply::Value`].
    String,
    /// The members of a set (`SMEMBERS`), sorted: [`Reply::Members`].
    Members,
    /// The fields and values of a hash (`HGETALL`), sorted: [`Reply::Pairs`].
    Pairs,
    /// The elements of a list, in order (`LRANGE 0 -1`): [`Reply::Members`].
    List,
    /// The members of a sorted set with their scores, by score (`ZRANGE 0 -1 WITHSCORES`):
    /// [`Reply::Scored`].
    Scored,
}

/// The raw changes of one key.
pub(crate) struct KeyWatch {
    ctx: Context,
    key: String,
    read: WatchRead,
    subscriber: Subscriber,
    /// What was last yielded (`None`: nothing yet, or unknown after a failed read).
    last: Option<Reply>,
}

impl KeyWatch {
    pub(crate) fn new(ctx: Context, key: Result<String>, read: WatchRead) -> KeyWatch {
        let (name, subscriber) = Subscriber::new(&ctx, &key, false);
        KeyWatch {
            ctx,
            key: name,
            read,
            subscriber: subscriber.with_error(key),
            last: None,
        }
    }

    /// The current reply first, then the reply after each change that changed it (sets and
    /// hashes in sorted order, so that the same content compares equal); `None` when the stream
    /// ends (the backend is gone, or cannot watch: its error comes first).
    pub(crate) async fn next(&mut self) -> Option<Result<Reply>> {
        match self.subscriber.ready().await? {
            Err(e) => return Some(Err(e)),
            Ok(true) => return Some(self.read().await),
            Ok(false) => {}
        }
        loop {
            if let Err(e) = self.subscriber.changed().await? {
                return Some(Err(e));
            }
            let before = self.last.clone();
            let read = self.read().await;
            if matches!((&read, &before), (Ok(now), Some(last)) if now == last) {
                continue;
            }
            return Some(read);
        }
    }

    /// The value's bytes: [`next`](Self::next) of a [`WatchRead::String`] watch.
    pub(crate) async fn next_value(&mut self) -> Option<Result<Option<Vec<u8>>>> {
        let reply = self.next().await?;
        let command = Command::Str {
            key: &self.key,
            op: StringOp::Get,
        };
        Some(reply.and_then(|reply| reply.into_value(&command)))
    }

    async fn read(&mut self) -> Result<Reply> {
        // Straight from the backend: a client cache's invalidation may trail the notification.
        let key = self.key.as_str();
        let command = match self.read {
            WatchRead::String => Command::Str {
                key,
                op: StringOp::Get,
            },
            WatchRead::Members => Command::Set {
                key,
                op: SetOp::Members,
            },
            WatchRead::Pairs => Command::Map {
                key,
                op: MapOp::Entries,
            },
            WatchRead::List => Command::List {
                key,
                op: ListOp::Range { start: 0, stop: -1 },
            },
            WatchRead::Scored => Command::SortedSet {
                key,
                op: SortedSetOp::Range {
                    start: 0,
                    stop: -1,
                    rev: false,
                },
            },
        };
        let sort = matches!(self.read, WatchRead::Members | WatchRead::Pairs);
        let result = self.ctx.execute(command).await.map(|reply| match reply {
            Reply::Members(mut members) if sort => {
                members.sort_unstable();
                Reply::Members(members)
            }
            Reply::Pairs(mut pairs) => {
                pairs.sort_unstable();
                Reply::Pairs(pairs)
            }
            other => other,
        });
        self.last = result.as_ref().ok().cloned();
        result
    }
}

/// The raw changes of every key under a prefix (no initial dump).
pub(crate) struct PrefixWatch {
    ctx: Context,
    prefix: String,
    subscriber: Subscriber,
    /// A digest of what was last yielded per key (`None`: absent).
    seen: HashMap<String, Option<u64>>,
}

fn digest(bytes: &Option<Vec<u8>>) -> Option<u64> {
    bytes.as_ref().map(|bytes| {
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        hasher.finish()
    })
}

impl PrefixWatch {
    pub(crate) fn new(ctx: Context, prefix: Result<String>) -> PrefixWatch {
        let (name, subscriber) = Subscriber::new(&ctx, &prefix, true);
        PrefixWatch {
            ctx,
            prefix: name,
            subscriber: subscriber.with_error(prefix),
            seen: HashMap::new(),
        }
    }

    /// Waits for the subscription: `Err` when the backend cannot watch (or the prefix is
    /// invalid); the stream then yields nothing more.
    pub(crate) async fn ready(&mut self) -> Result<()> {
        match self.subscriber.ready().await {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// The next keys (those `keep` accepts) whose stored bytes differ from what was last
    /// yielded for them, with those bytes; `None` when the stream ends.
    pub(crate) async fn next(
        &mut self,
        keep: impl Fn(&str) -> bool,
    ) -> Option<Result<Vec<(String, Option<Vec<u8>>)>>> {
        if let Err(e) = self.subscriber.ready().await? {
            return Some(Err(e));
        }
        let prefix = self.prefix.clone();
        loop {
            let keys = match self.subscriber.changed().await? {
                Err(e) => return Some(Err(e)),
                Ok(Changes::Keys(keys)) => keys,
                Ok(_) => {
                    let command = Command::ScanPrefix { prefix: &prefix };
                    let mut keys = match self
                        .ctx
                        .execute(command)
                        .await
                        .and_then(|r| r.into_keys(&command))
                    {
                        Ok(keys) => keys,
                        Err(e) => return Some(Err(e)),
                    };
                    // Keys seen present and gone since: read too (they read as absent).
                    let listed: std::collections::HashSet<&String> = keys.iter().collect();
                    let gone: Vec<String> = self
                        .seen
                        .iter()
                        .filter(|(key, digest)| digest.is_some() && !listed.contains(key))
                        .map(|(key, _)| key.clone())
                        .collect();
                    keys.extend(gone);
                    keys
                }
            };
            let keys: Vec<String> = keys.into_iter().filter(|k| keep(k)).collect();
            let mut changed = Vec::new();
            for chunk in keys.chunks(CHUNK) {
                let command = Command::GetMany { keys: chunk };
                let values = match self
                    .ctx
                    .execute(command)
                    .await
                    .and_then(|r| r.into_values(&command))
                {
                    Ok(values) => values,
                    Err(e) => {
                        // Unknown now: the next change re-reads and yields them.
                        for key in chunk {
                            self.seen.remove(key);
                        }
                        return Some(Err(e));
                    }
                };
                for (key, value) in chunk.iter().zip(values) {
                    let now = digest(&value);
                    if self.seen.get(key) == Some(&now) {
                        continue;
                    }
                    self.seen.insert(key.clone(), now);
                    changed.push((key.clone(), value));
                }
            }
            if !changed.is_empty() {
                return Some(Ok(changed));
            }
        }
    }
}

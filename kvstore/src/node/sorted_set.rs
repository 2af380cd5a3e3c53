//! [`SortedSetOf<T>`]: a native sorted set of JSON values at one key.

use futures_core::Stream;

use super::audit::Container;
use super::watch::{KeyWatch, WatchRead};
use super::{container_methods, handle_impls, json_members_audit};
use super::{key_methods, leaf_node, Leaf};
use crate::backend::command::{Command, SortedSetOp};
use crate::error::{not_a_number, Result};
use crate::value::{codec, Json, LeafCodec, Storable};

/// Members of type `T` with `f64` scores, ordered by score (a native Redis ZSET; each member is
/// `T`'s JSON text): leaderboards, priority queues, time indexes.
///
/// Ties are ordered by the members' JSON text, as Redis orders them. Scores are never NaN: a
/// NaN score is refused ([`Error::Validation`](crate::Error::Validation)), and an increment
/// whose result would be NaN (`+inf` plus `-inf`) is [`Error::Overflow`](crate::Error::Overflow).
/// Membership compares the JSON text, so `T` must serialize deterministically.
pub struct SortedSetOf<T> {
    pub(crate) leaf: Leaf,
    pub(crate) json: Json<T>,
}

handle_impls!(SortedSetOf<T> { json });

impl<T: Storable> SortedSetOf<T> {
    fn member(&self, key: &str, value: &T) -> Result<Vec<u8>> {
        self.leaf
            .ctx
            .observed(self.json.encode(key, value, self.leaf.max_value_size()))
    }

    fn scored(&self, key: &str, raw: Vec<(Vec<u8>, f64)>) -> Result<Vec<(T, f64)>> {
        raw.into_iter()
            .map(|(m, score)| Ok((self.leaf.ctx.observed(self.json.decode(key, &m))?, score)))
            .collect()
    }

    /// Validates `member` and adds it with `score`, or updates its score (`ZADD`); returns
    /// whether it was new. A set created here gets the field's default TTL.
    pub async fn add(&self, member: &T, score: f64) -> Result<bool> {
        let key = self.leaf.key()?;
        if score.is_nan() {
            return Err(not_a_number(key));
        }
        let member = self.member(key, member)?;
        let op = SortedSetOp::Add {
            member: &member,
            score,
            ttl_if_created: self.leaf.ttl,
        };
        let command = Command::SortedSet { key, op };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// The score of `member` (`ZSCORE`); `None` when it is not in the set.
    pub async fn score(&self, member: &T) -> Result<Option<f64>> {
        let key = self.leaf.key()?;
        let member = self.member(key, member)?;
        let command = Command::SortedSet {
            key,
            op: SortedSetOp::Score { member: &member },
        };
        self.leaf.ctx.execute(command).await?.into_score(&command)
    }

    /// Atomically adds `by` to the score of `member` (0 when absent, which adds it) and returns
    /// the new score (`ZINCRBY`).
    pub async fn increment(&self, member: &T, by: f64) -> Result<f64> {
        let key = self.leaf.key()?;
        if by.is_nan() {
            return Err(not_a_number(key));
        }
        let member = self.member(key, member)?;
        let command = Command::SortedSet {
            key,
            op: SortedSetOp::Increment {
                member: &member,
                by,
                ttl_if_created: self.leaf.ttl,
            },
        };
        let score = self.leaf.ctx.execute(command).await?.into_score(&command)?;
        Ok(score.unwrap_or(by))
    }

    /// Removes `member` (`ZREM`); returns whether it was there. Removing the last member
    /// removes the key.
    pub async fn remove(&self, member: &T) -> Result<bool> {
        let key = self.leaf.key()?;
        let member = self.member(key, member)?;
        let command = Command::SortedSet {
            key,
            op: SortedSetOp::Remove { member: &member },
        };
        self.leaf.ctx.execute(command).await?.into_bool(&command)
    }

    /// The 0-based rank of `member` by ascending score (`ZRANK`); `None` when it is not in the
    /// set.
    pub async fn rank(&self, member: &T) -> Result<Option<usize>> {
        self.rank_of(member, false).await
    }

    /// The 0-based rank of `member` by descending score (`ZREVRANK`: 0 is the highest score);
    /// `None` when it is not in the set.
    pub async fn rank_rev(&self, member: &T) -> Result<Option<usize>> {
        self.rank_of(member, true).await
    }

    async fn rank_of(&self, member: &T, rev: bool) -> Result<Option<usize>> {
        let key = self.leaf.key()?;
        let member = self.member(key, member)?;
        let command = Command::SortedSet {
            key,
            op: SortedSetOp::Rank {
                member: &member,
                rev,
            },
        };
        self.leaf.ctx.execute(command).await?.into_rank(&command)
    }

    /// Watches the sorted set: its members with their scores, by ascending score, first; then
    /// after each change (empty once removed or expired). Coalescing, errors and reconnection
    /// as for [`Item::watch`](crate::Item::watch).
    pub fn watch(&self) -> impl Stream<Item = Result<Vec<(T, f64)>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::Scored);
        let set = self.clone();
        futures_util::stream::unfold((set, watch), |(set, mut watch)| async move {
            let key = set.leaf.key.as_str();
            let command = Command::SortedSet {
                key,
                op: SortedSetOp::Range {
                    start: 0,
                    stop: -1,
                    rev: false,
                },
            };
            let next = watch
                .next()
                .await?
                .and_then(|reply| set.scored(key, reply.into_scored(&command)?));
            Some((next, (set, watch)))
        })
    }

    async fn range_of(&self, start: i64, stop: i64, rev: bool) -> Result<Vec<(T, f64)>> {
        let key = self.leaf.key()?;
        let command = Command::SortedSet {
            key,
            op: SortedSetOp::Range { start, stop, rev },
        };
        let raw = self
            .leaf
            .ctx
            .execute(command)
            .await?
            .into_scored(&command)?;
        self.scored(key, raw)
    }

    /// The members from rank `start` to `stop`, inclusive, by ascending score, with their
    /// scores (`ZRANGE ... WITHSCORES`); negative ranks count from the end, so `range(0, -1)` is
    /// the whole set.
    pub async fn range(&self, start: i64, stop: i64) -> Result<Vec<(T, f64)>> {
        self.range_of(start, stop, false).await
    }

    /// The members from rank `start` to `stop` by descending score (`ZRANGE ... REV
    /// WITHSCORES`): `range_rev(0, 9)` is a top 10.
    pub async fn range_rev(&self, start: i64, stop: i64) -> Result<Vec<(T, f64)>> {
        self.range_of(start, stop, true).await
    }

    /// The members whose score is within `min..=max`, ascending (`ZRANGEBYSCORE ...
    /// WITHSCORES`); `f64::NEG_INFINITY` and `f64::INFINITY` leave a side open.
    pub async fn range_by_score(&self, min: f64, max: f64) -> Result<Vec<(T, f64)>> {
        let key = self.leaf.key()?;
        if min.is_nan() || max.is_nan() {
            return Err(not_a_number(key));
        }
        let command = Command::SortedSet {
            key,
            op: SortedSetOp::RangeByScore { min, max },
        };
        let raw = self
            .leaf
            .ctx
            .execute(command)
            .await?
            .into_scored(&command)?;
        self.scored(key, raw)
    }

    container_methods!("members (`ZCARD`)", |key| Command::SortedSet {
        key,
        op: SortedSetOp::Len
    });

    key_methods!();
}

json_members_audit!(SortedSetOf<T>, Container::SortedSet);

leaf_node!(SortedSetOf<T: crate::Storable>, "sorted_set", Some(codec::<T>().schema().clone()), { json: Json::new() });

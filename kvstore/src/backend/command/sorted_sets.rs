//! Sorted sets (Redis `ZSET`, `t_zset.c`): [`SortedSetOp`].

use std::time::Duration;

/// An operation on the sorted set at a key (Redis `ZSET`): members ordered by score, ties by
/// the members' bytes. Scores are never NaN. An emptied set disappears.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SortedSetOp<'a> {
    /// Adds `member` with `score`, or updates its score (`ZADD`); a set created here gets
    /// `ttl_if_created`. Reply: [`Reply::Bool`](super::Reply::Bool), whether it was new.
    Add {
        /// The member.
        member: &'a [u8],
        /// Its score (not NaN).
        score: f64,
        /// The TTL of a set created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// The score of `member` (`ZSCORE`). Reply: [`Reply::Score`](super::Reply::Score).
    Score {
        /// The member.
        member: &'a [u8],
    },
    /// Adds `by` to the score of `member` (0 when absent) (`ZINCRBY`); a result that is not a
    /// number is [`Error::Overflow`](crate::Error::Overflow) and changes nothing. Reply:
    /// [`Reply::Score`](super::Reply::Score), the new score.
    Increment {
        /// The member.
        member: &'a [u8],
        /// What to add.
        by: f64,
        /// The TTL of a set created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// Removes `member` (`ZREM`). Reply: [`Reply::Bool`](super::Reply::Bool), whether it was
    /// there.
    Remove {
        /// The member.
        member: &'a [u8],
    },
    /// The 0-based rank of `member`, ascending (`ZRANK`); with `rev`, descending (`ZREVRANK`:
    /// 0 is the highest score). Reply: [`Reply::Rank`](super::Reply::Rank).
    Rank {
        /// The member.
        member: &'a [u8],
        /// Counted from the highest score.
        rev: bool,
    },
    /// The members from rank `start` to `stop`, inclusive, with their scores; negative ranks
    /// count from the end (`ZRANGE ... WITHSCORES`, with `rev`: `ZRANGE ... REV`, ranks counted
    /// from the highest score). Reply: [`Reply::Scored`](super::Reply::Scored).
    Range {
        /// The first rank.
        start: i64,
        /// The last rank (inclusive).
        stop: i64,
        /// Descending (the highest score is rank 0).
        rev: bool,
    },
    /// The members whose score is within `min..=max`, ascending (`ZRANGE ... BYSCORE`). Reply:
    /// [`Reply::Scored`](super::Reply::Scored).
    RangeByScore {
        /// The lowest score (may be `-inf`).
        min: f64,
        /// The highest score (may be `+inf`).
        max: f64,
    },
    /// The number of members (`ZCARD`). Reply: [`Reply::Len`](super::Reply::Len).
    Len,
    /// The members within `min..max` compared byte-wise, ascending (with `rev`, descending), at
    /// most `limit` (`ZRANGE ... BYLEX [REV] [LIMIT 0 n]`). Only meaningful when every member
    /// has the same score (as Redis says). Reply: [`Reply::Members`](super::Reply::Members).
    RangeByLex {
        /// The low bound.
        min: LexBound<'a>,
        /// The high bound.
        max: LexBound<'a>,
        /// Descending.
        rev: bool,
        /// At most this many (`None`: all).
        limit: Option<usize>,
    },
    /// The number of members within `min..max` compared byte-wise (`ZLEXCOUNT`). Reply:
    /// [`Reply::Len`](super::Reply::Len).
    CountByLex {
        /// The low bound.
        min: LexBound<'a>,
        /// The high bound.
        max: LexBound<'a>,
    },
}

/// A bound of a byte-wise range of sorted-set members ([`SortedSetOp::RangeByLex`]): Redis's
/// `-`, `+`, `[member` and `(member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexBound<'a> {
    /// Before every member (`-`).
    Min,
    /// After every member (`+`).
    Max,
    /// This member and beyond (`[member`).
    Included(&'a [u8]),
    /// Strictly beyond this member (`(member`).
    Excluded(&'a [u8]),
}

impl LexBound<'_> {
    /// Whether `member` is on the high side of this bound taken as a low bound.
    pub(crate) fn below(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Included(b) => member >= *b,
            LexBound::Excluded(b) => member > *b,
        }
    }

    /// Whether `member` is on the low side of this bound taken as a high bound.
    pub(crate) fn above(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Included(b) => member <= *b,
            LexBound::Excluded(b) => member < *b,
        }
    }

    /// Redis's syntax of the bound.
    pub(crate) fn to_arg(self) -> Vec<u8> {
        match self {
            LexBound::Min => b"-".to_vec(),
            LexBound::Max => b"+".to_vec(),
            LexBound::Included(b) => [b"[".as_slice(), b].concat(),
            LexBound::Excluded(b) => [b"(".as_slice(), b].concat(),
        }
    }
}

impl SortedSetOp<'_> {
    pub(crate) fn index(&self) -> usize {
        match self {
            SortedSetOp::Add { .. } => 0,
            SortedSetOp::Score { .. } => 1,
            SortedSetOp::Increment { .. } => 2,
            SortedSetOp::Remove { .. } => 3,
            SortedSetOp::Rank { .. } => 4,
            SortedSetOp::Range { .. } => 5,
            SortedSetOp::RangeByScore { .. } => 6,
            SortedSetOp::Len => 7,
            SortedSetOp::RangeByLex { .. } => 8,
            SortedSetOp::CountByLex { .. } => 9,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self,
            SortedSetOp::Add { .. } | SortedSetOp::Increment { .. } | SortedSetOp::Remove { .. }
        )
    }
}

//! Sorted sets on Redis: each [`SortedSetOp`] is its native command (`ZADD`, `ZSCORE`,
//! `ZINCRBY`, `ZRANGE ... WITHSCORES`, ...), scores written so that Redis reads them back
//! exactly.

use std::borrow::Cow;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, from_redis_value, Value};

use super::atomic::NativeWrite;
use super::connection::{write_ttl_ms, Core};
use super::errors::{self, map, map_increment};
use super::scripts;
use crate::backend::command::{Command, Reply, SortedSetOp};
use crate::error::{not_a_number, Result};

/// A score as Redis reads it (`inf`, `-inf`, or the shortest decimal that round-trips).
fn score_arg(score: f64) -> String {
    if score == f64::INFINITY {
        "+inf".to_owned()
    } else if score == f64::NEG_INFINITY {
        "-inf".to_owned()
    } else {
        format!("{score:?}")
    }
}

/// A score reply (a RESP3 double, or text).
fn parse_score(key: &str, value: &Value) -> Result<f64> {
    match value {
        Value::Double(d) => Ok(*d),
        Value::Int(n) => Ok(*n as f64),
        other => {
            let text: String =
                from_redis_value(other.clone()).map_err(|e| map(e.into(), Some(key)))?;
            match text.as_str() {
                "inf" | "+inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                t => t.parse().map_err(|_| {
                    map(
                        errors::protocol_error("a score that is not a number"),
                        Some(key),
                    )
                }),
            }
        }
    }
}

/// `WITHSCORES` replies: flat `[member, score, ...]` (RESP2) or `[[member, score], ...]` (RESP3).
fn parse_scored(key: &str, value: Value) -> Result<Vec<(Vec<u8>, f64)>> {
    let items = match value {
        Value::Array(items) => items,
        Value::Nil => return Ok(Vec::new()),
        _ => {
            return Err(map(
                errors::protocol_error("unexpected WITHSCORES reply"),
                Some(key),
            ))
        }
    };
    let member =
        |v: Value| -> Result<Vec<u8>> { from_redis_value(v).map_err(|e| map(e.into(), Some(key))) };
    let mut out = Vec::with_capacity(items.len());
    if items.iter().all(|i| matches!(i, Value::Array(_))) {
        for item in items {
            let Value::Array(mut pair) = item else {
                continue;
            };
            if pair.len() != 2 {
                return Err(map(
                    errors::protocol_error("unexpected WITHSCORES pair"),
                    Some(key),
                ));
            }
            let score = parse_score(key, &pair[1])?;
            out.push((member(pair.swap_remove(0))?, score));
        }
    } else {
        let mut items = items.into_iter();
        while let (Some(m), Some(s)) = (items.next(), items.next()) {
            let score = parse_score(key, &s)?;
            out.push((member(m)?, score));
        }
    }
    Ok(out)
}

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A sorted-set write that an atomic step may hold, as its native command.
    pub(super) fn sorted_set_write<'a>(
        &self,
        key: &'a str,
        op: SortedSetOp<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        match op {
            SortedSetOp::Add {
                member,
                score,
                ttl_if_created,
            }
            | SortedSetOp::Increment {
                member,
                by: score,
                ttl_if_created,
            } => {
                self.check_value(key, member)?;
                if score.is_nan() {
                    return Err(not_a_number(key));
                }
                let name = match op {
                    SortedSetOp::Add { .. } => "ZADD",
                    _ => "ZINCRBY",
                };
                let args = vec![
                    Cow::Owned(score_arg(score).into_bytes()),
                    Cow::Borrowed(member),
                ];
                NativeWrite::new(key, name, args, ttl_if_created).map(Some)
            }
            SortedSetOp::Remove { member } => {
                NativeWrite::new(key, "ZREM", vec![Cow::Borrowed(member)], None).map(Some)
            }
            _ => Ok(None),
        }
    }

    pub(crate) async fn sorted_set(&self, key: &str, op: SortedSetOp<'_>) -> Result<Reply> {
        Ok(match op {
            SortedSetOp::Add { .. } | SortedSetOp::Remove { .. } => {
                let changed: i64 = self.run_native(Command::SortedSet { key, op }).await?;
                Reply::Bool(changed == 1)
            }
            SortedSetOp::Score { member } => {
                let v: Value = self
                    .query(Some(key), cmd("ZSCORE").arg(key).arg(member))
                    .await?;
                Reply::Score(match v {
                    Value::Nil => None,
                    v => Some(parse_score(key, &v)?),
                })
            }
            SortedSetOp::Increment {
                member,
                by,
                ttl_if_created,
            } => {
                self.check_value(key, member)?;
                if by.is_nan() {
                    return Err(not_a_number(key));
                }
                let ttl = write_ttl_ms(key, ttl_if_created)?;
                let script;
                let c;
                let result = match ttl {
                    None => {
                        c = cmd("ZINCRBY")
                            .arg(key)
                            .arg(score_arg(by))
                            .arg(member)
                            .to_owned();
                        let c = &c;
                        self.call_raw(
                            |mut conn| async move { c.query_async::<Value>(&mut conn).await },
                        )
                        .await
                    }
                    Some(ms) => {
                        script = scripts::CREATE_WITH_TTL.commands(&[key], |c| {
                            c.arg(ms)
                                .arg(1)
                                .arg("ZINCRBY")
                                .arg(score_arg(by))
                                .arg(member);
                        });
                        self.script_raw::<Value>(&script).await
                    }
                };
                let v = result.map_err(|e| map_increment(e, key))?;
                Reply::Score(Some(parse_score(key, &v)?))
            }
            SortedSetOp::Rank { member, rev } => {
                let name = if rev { "ZREVRANK" } else { "ZRANK" };
                Reply::Rank(
                    self.query(Some(key), cmd(name).arg(key).arg(member))
                        .await?,
                )
            }
            SortedSetOp::Range { start, stop, rev } => {
                let mut c = cmd("ZRANGE");
                c.arg(key).arg(start).arg(stop);
                if rev {
                    c.arg("REV");
                }
                c.arg("WITHSCORES");
                Reply::Scored(parse_scored(key, self.query(Some(key), &c).await?)?)
            }
            SortedSetOp::RangeByScore { min, max } => {
                if min.is_nan() || max.is_nan() {
                    return Err(not_a_number(key));
                }
                let mut c = cmd("ZRANGEBYSCORE");
                c.arg(key)
                    .arg(score_arg(min))
                    .arg(score_arg(max))
                    .arg("WITHSCORES");
                Reply::Scored(parse_scored(key, self.query(Some(key), &c).await?)?)
            }
            SortedSetOp::Len => Reply::Len(self.query(Some(key), cmd("ZCARD").arg(key)).await?),
            SortedSetOp::RangeByLex {
                min,
                max,
                rev,
                limit,
            } => {
                let mut c = cmd("ZRANGE");
                c.arg(key);
                if rev {
                    c.arg(max.to_arg())
                        .arg(min.to_arg())
                        .arg("BYLEX")
                        .arg("REV");
                } else {
                    c.arg(min.to_arg()).arg(max.to_arg()).arg("BYLEX");
                }
                if let Some(limit) = limit {
                    c.arg("LIMIT").arg(0).arg(limit);
                }
                Reply::Members(self.query(Some(key), &c).await?)
            }
            SortedSetOp::CountByLex { min, max } => Reply::Len(
                self.query(
                    Some(key),
                    cmd("ZLEXCOUNT")
                        .arg(key)
                        .arg(min.to_arg())
                        .arg(max.to_arg()),
                )
                .await?,
            ),
        })
    }
}

//! Lists, sorted sets, hashes and bit strings on Redis: each [`ListOp`], [`SortedSetOp`],
//! [`MapOp`] and [`BitsOp`] is its native command (`LPUSH`, `ZADD`, `HSET`, `BITFIELD`, ...);
//! a write that may create the key with a default TTL goes through a small script that sets the
//! TTL only on a created key.

use std::borrow::Cow;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, from_redis_value, Cmd, FromRedisValue, Value};

use super::connection::{write_ttl_ms, Core};
use super::errors::{self, map, map_increment};
use super::scripts;
use crate::backend::command::{
    BitsOp, Command, End, IntType, ListOp, MapOp, Reply, SortedSetOp, MAX_BIT_OFFSET,
};
use crate::error::{not_a_number, Error, Result};

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

/// `HGETALL` replies: a RESP3 map or a flat array.
fn parse_pairs(key: &str, value: Value) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let bytes =
        |v: Value| -> Result<Vec<u8>> { from_redis_value(v).map_err(|e| map(e.into(), Some(key))) };
    match value {
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(f, v)| Ok((bytes(f)?, bytes(v)?)))
            .collect(),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(f), Some(v)) = (items.next(), items.next()) {
                out.push((bytes(f)?, bytes(v)?));
            }
            Ok(out)
        }
        Value::Nil => Ok(Vec::new()),
        _ => Err(map(
            errors::protocol_error("unexpected HGETALL reply"),
            Some(key),
        )),
    }
}

/// A native write of an atomic step, as the `ATOMIC` script runs it: `name key args...`, the
/// TTL (ms) of a key it creates, and whether a nil first reply means an overflow (`BITFIELD
/// OVERFLOW FAIL`).
pub(crate) struct NativeWrite<'a> {
    pub(crate) name: &'static str,
    pub(crate) args: Vec<Cow<'a, [u8]>>,
    pub(crate) ttl_ms: Option<u64>,
    pub(crate) overflow_on_nil: bool,
}

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A single-key list, sorted-set, hash or bits write as its native command, after the
    /// checks made before anything is sent (value sizes, NaN scores, integer ranges): what an
    /// atomic step's script runs, and what the simple writes run alone. `None`: the command is
    /// not one of those writes.
    pub(crate) fn native_write<'a>(
        &self,
        command: &Command<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        let owned = |text: String| Cow::Owned(text.into_bytes());
        let (key, name, args, ttl, overflow_on_nil): (_, _, Vec<Cow<'a, [u8]>>, _, _) =
            match *command {
                Command::List {
                    key,
                    op:
                        ListOp::Push {
                            end,
                            value,
                            ttl_if_created,
                        },
                } => {
                    self.check_value(key, value)?;
                    let name = match end {
                        End::Front => "LPUSH",
                        End::Back => "RPUSH",
                    };
                    (key, name, vec![Cow::Borrowed(value)], ttl_if_created, false)
                }
                Command::SortedSet { key, op } => match op {
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
                        let args = vec![owned(score_arg(score)), Cow::Borrowed(member)];
                        (key, name, args, ttl_if_created, false)
                    }
                    SortedSetOp::Remove { member } => {
                        (key, "ZREM", vec![Cow::Borrowed(member)], None, false)
                    }
                    _ => return Ok(None),
                },
                Command::Map { key, op } => match op {
                    MapOp::Set {
                        field,
                        value,
                        only_if_absent,
                        ttl_if_created,
                    } => {
                        self.check_value(key, value)?;
                        let name = if only_if_absent { "HSETNX" } else { "HSET" };
                        let args = vec![Cow::Borrowed(field.as_bytes()), Cow::Borrowed(value)];
                        (key, name, args, ttl_if_created, false)
                    }
                    MapOp::Remove { field } => (
                        key,
                        "HDEL",
                        vec![Cow::Borrowed(field.as_bytes())],
                        None,
                        false,
                    ),
                    MapOp::Increment {
                        field,
                        delta,
                        ttl_if_created,
                    } => {
                        let args = vec![Cow::Borrowed(field.as_bytes()), owned(delta.to_string())];
                        (key, "HINCRBY", args, ttl_if_created, false)
                    }
                    _ => return Ok(None),
                },
                Command::Bits { key, op } => match op {
                    BitsOp::Set {
                        offset,
                        bit,
                        ttl_if_created,
                    } => {
                        self.limits.check_value(
                            key,
                            usize::try_from(offset / 8 + 1).unwrap_or(usize::MAX),
                        )?;
                        let bit: &'static [u8] = if bit { b"1" } else { b"0" };
                        let args = vec![owned(offset.to_string()), Cow::Borrowed(bit)];
                        (key, "SETBIT", args, ttl_if_created, false)
                    }
                    BitsOp::FieldSet {
                        ty,
                        index,
                        value: by,
                        ttl_if_created,
                    }
                    | BitsOp::FieldIncrement {
                        ty,
                        index,
                        by,
                        ttl_if_created,
                    } => {
                        let set = matches!(op, BitsOp::FieldSet { .. });
                        if set {
                            ty.check(key, by)?;
                        }
                        let end = index.saturating_add(1).saturating_mul(ty.bytes());
                        self.limits
                            .check_value(key, usize::try_from(end).unwrap_or(usize::MAX))?;
                        let args = [
                            "OVERFLOW",
                            "FAIL",
                            if set { "SET" } else { "INCRBY" },
                            &ty.to_string(),
                            &format!("#{index}"),
                            &by.to_string(),
                        ]
                        .map(|a| owned(a.to_owned()))
                        .to_vec();
                        (key, "BITFIELD", args, ttl_if_created, true)
                    }
                    _ => return Ok(None),
                },
                _ => return Ok(None),
            };
        Ok(Some(NativeWrite {
            name,
            args,
            ttl_ms: write_ttl_ms(key, ttl)?,
            overflow_on_nil,
        }))
    }

    /// Runs a simple native write alone (see [`native_write`](Self::native_write)): `name key
    /// args...`, through [`scripts::CREATE_WITH_TTL`] when a created key gets a TTL.
    async fn run_native<T: FromRedisValue>(&self, command: Command<'_>) -> Result<T> {
        let key = command.key();
        let Some(write) = self.native_write(&command)? else {
            return Err(command.unsupported("redis"));
        };
        self.creating(key, &[key], 0, write.ttl_ms, write.name, |c| {
            for arg in &write.args {
                c.arg(&**arg);
            }
        })
        .await
    }

    /// Runs `name keys... args...`; with a TTL, through [`scripts::CREATE_WITH_TTL`] so that
    /// the key `keys[target]` gets it when the command creates it. Errors name `key`.
    async fn creating<T: FromRedisValue>(
        &self,
        key: &str,
        keys: &[&str],
        target: usize,
        ttl_ms: Option<u64>,
        name: &str,
        args: impl Fn(&mut Cmd),
    ) -> Result<T> {
        match ttl_ms {
            None => {
                let mut c = cmd(name);
                c.arg(keys);
                args(&mut c);
                self.query(Some(key), &c).await
            }
            Some(ms) => {
                let script = scripts::CREATE_WITH_TTL.commands(keys, |c| {
                    c.arg(ms).arg(target + 1).arg(name);
                    args(c);
                });
                self.script_raw(&script)
                    .await
                    .map_err(|e| map(e, Some(key)))
            }
        }
    }

    /// [`ListOp`]s, but the blocking pop (which needs a connection of its own).
    pub(crate) async fn list(&self, key: &str, op: ListOp<'_>) -> Result<Reply> {
        Ok(match op {
            ListOp::Push { .. } => Reply::Len(self.run_native(Command::List { key, op }).await?),
            ListOp::Pop { end } => {
                let name = match end {
                    End::Front => "LPOP",
                    End::Back => "RPOP",
                };
                Reply::Value(self.query(Some(key), cmd(name).arg(key)).await?)
            }
            ListOp::MoveFrontToBack {
                dest,
                ttl_if_created,
            } => {
                let ttl = write_ttl_ms(dest, ttl_if_created)?;
                let moved = self
                    .creating(key, &[key, dest], 1, ttl, "LMOVE", |c| {
                        c.arg("LEFT").arg("RIGHT");
                    })
                    .await;
                match moved {
                    // Redis does not say which list is of another kind: name the one that is.
                    Err(Error::WrongType { .. }) => {
                        let kind: String = self.query(Some(key), cmd("TYPE").arg(key)).await?;
                        let wrong = if matches!(kind.as_str(), "list" | "none") {
                            dest
                        } else {
                            key
                        };
                        return Err(Error::WrongType {
                            key: wrong.to_owned(),
                        });
                    }
                    other => Reply::Value(other?),
                }
            }
            ListOp::Range { start, stop } => Reply::Members(
                self.query(Some(key), cmd("LRANGE").arg(key).arg(start).arg(stop))
                    .await?,
            ),
            ListOp::Trim { start, stop } => {
                self.query::<()>(Some(key), cmd("LTRIM").arg(key).arg(start).arg(stop))
                    .await?;
                Reply::Unit
            }
            ListOp::Len => Reply::Len(self.query(Some(key), cmd("LLEN").arg(key)).await?),
            // Routed to a dedicated connection by `mapping::execute`.
            ListOp::PopFrontBlocking { .. } => {
                return Err(crate::backend::Command::List { key, op }.unsupported("redis"))
            }
        })
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
            SortedSetOp::Rank { member } => Reply::Rank(
                self.query(Some(key), cmd("ZRANK").arg(key).arg(member))
                    .await?,
            ),
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
        })
    }

    pub(crate) async fn map(&self, key: &str, op: MapOp<'_>) -> Result<Reply> {
        Ok(match op {
            MapOp::Get { field } => Reply::Value(
                self.query(Some(key), cmd("HGET").arg(key).arg(field))
                    .await?,
            ),
            MapOp::Set { .. } | MapOp::Remove { .. } => {
                let changed: i64 = self.run_native(Command::Map { key, op }).await?;
                Reply::Bool(changed == 1)
            }
            MapOp::SetMany {
                entries,
                ttl_if_created,
            } => {
                for (_, value) in entries {
                    self.check_value(key, value)?;
                }
                let ttl = write_ttl_ms(key, ttl_if_created)?;
                match (entries.is_empty(), ttl) {
                    (true, _) => {}
                    (false, None) => {
                        let mut c = cmd("HSET");
                        c.arg(key);
                        for (field, value) in entries {
                            c.arg(field).arg(value);
                        }
                        self.query::<()>(Some(key), &c).await?;
                    }
                    (false, Some(ms)) => {
                        let script = scripts::MAP_SET_MANY_WITH_TTL.commands(&[key], |c| {
                            c.arg(ms);
                            for (field, value) in entries {
                                c.arg(field).arg(value);
                            }
                        });
                        self.script_raw::<i64>(&script)
                            .await
                            .map_err(|e| map(e, Some(key)))?;
                    }
                }
                Reply::Unit
            }
            MapOp::Contains { field } => {
                let n: i64 = self
                    .query(Some(key), cmd("HEXISTS").arg(key).arg(field))
                    .await?;
                Reply::Bool(n == 1)
            }
            MapOp::GetMany { fields: [] } => Reply::Values(Vec::new()),
            MapOp::GetMany { fields } => Reply::Values(
                self.query(Some(key), cmd("HMGET").arg(key).arg(fields))
                    .await?,
            ),
            MapOp::Fields => Reply::Members(self.query(Some(key), cmd("HKEYS").arg(key)).await?),
            MapOp::Entries => {
                let v: Value = self.query(Some(key), cmd("HGETALL").arg(key)).await?;
                Reply::Pairs(parse_pairs(key, v)?)
            }
            MapOp::Len => Reply::Len(self.query(Some(key), cmd("HLEN").arg(key)).await?),
            MapOp::Increment {
                field,
                delta,
                ttl_if_created,
            } => match write_ttl_ms(key, ttl_if_created)? {
                None => {
                    let c = cmd("HINCRBY").arg(key).arg(field).arg(delta).to_owned();
                    let c = &c;
                    let n = self
                        .call_raw(|mut conn| async move { c.query_async::<i64>(&mut conn).await })
                        .await
                        .map_err(|e| map_increment(e, key))?;
                    Reply::Int(n)
                }
                Some(ms) => {
                    let script = scripts::MAP_INCREMENT_WITH_TTL.commands(&[key], |c| {
                        c.arg(field).arg(delta).arg(ms);
                    });
                    let text: String = self
                        .script_raw(&script)
                        .await
                        .map_err(|e| map_increment(e, key))?;
                    Reply::Int(text.parse().map_err(|_| Error::Decode {
                        key: key.to_owned(),
                        message: format!("HINCRBY left a value that is not an i64: {text:?}"),
                    })?)
                }
            },
        })
    }

    pub(crate) async fn bits(&self, key: &str, op: BitsOp) -> Result<Reply> {
        Ok(match op {
            // Past what Redis can address, no bit is set (still checking the key's kind).
            BitsOp::Get { offset } if offset > MAX_BIT_OFFSET => {
                self.query::<i64>(Some(key), cmd("STRLEN").arg(key)).await?;
                Reply::Bool(false)
            }
            BitsOp::FieldGet { ty, index }
                if index.saturating_add(1).saturating_mul(u64::from(ty.bits))
                    > MAX_BIT_OFFSET + 1 =>
            {
                self.query::<i64>(Some(key), cmd("STRLEN").arg(key)).await?;
                Reply::Int(0)
            }
            BitsOp::Get { offset } => {
                let n: i64 = self
                    .query(Some(key), cmd("GETBIT").arg(key).arg(offset))
                    .await?;
                Reply::Bool(n == 1)
            }
            BitsOp::Set { .. } => {
                let previous: i64 = self.run_native(Command::Bits { key, op }).await?;
                Reply::Bool(previous == 1)
            }
            BitsOp::Count => Reply::Len(self.query(Some(key), cmd("BITCOUNT").arg(key)).await?),
            BitsOp::FieldGet { ty, index } => {
                let values: Vec<i64> = self
                    .query(
                        Some(key),
                        cmd("BITFIELD_RO")
                            .arg(key)
                            .arg("GET")
                            .arg(ty.to_string())
                            .arg(format!("#{index}")),
                    )
                    .await?;
                Reply::Int(values.first().copied().unwrap_or(0))
            }
            BitsOp::FieldSet {
                ty,
                index,
                value,
                ttl_if_created,
            } => {
                ty.check(key, value)?;
                let (old, _) = self
                    .field_write(key, ty, index, "SET", value, ttl_if_created)
                    .await?;
                Reply::Int(old)
            }
            BitsOp::FieldIncrement {
                ty,
                index,
                by,
                ttl_if_created,
            } => {
                let (_, new) = self
                    .field_write(key, ty, index, "INCRBY", by, ttl_if_created)
                    .await?;
                Reply::Int(new)
            }
            BitsOp::FieldSum { ty, start, end } => {
                if end <= start {
                    // Still checks the key's type, as the memory backend does.
                    self.query::<i64>(Some(key), cmd("STRLEN").arg(key)).await?;
                    return Ok(Reply::Int(0));
                }
                let from = start.saturating_mul(ty.bytes());
                let to = end.saturating_mul(ty.bytes()).saturating_sub(1);
                let from = from.min(i64::MAX as u64);
                let to = to.min(i64::MAX as u64);
                let bytes: Vec<u8> = self
                    .query(Some(key), cmd("GETRANGE").arg(key).arg(from).arg(to))
                    .await?;
                let mut sum = 0i64;
                for chunk in bytes.chunks(ty.bytes() as usize) {
                    sum = sum.checked_add(ty.decode_padded(chunk)).ok_or_else(|| {
                        Error::Overflow {
                            key: key.to_owned(),
                        }
                    })?;
                }
                Reply::Int(sum)
            }
            BitsOp::Len => Reply::Len(self.query(Some(key), cmd("STRLEN").arg(key)).await?),
        })
    }

    /// A `BITFIELD` write through [`scripts::FIELD_WRITE`]: the slot's value before and after.
    async fn field_write(
        &self,
        key: &str,
        ty: IntType,
        index: u64,
        op: &str,
        value: i64,
        ttl_if_created: Option<Duration>,
    ) -> Result<(i64, i64)> {
        let end = index.saturating_add(1).saturating_mul(ty.bytes());
        self.limits
            .check_value(key, usize::try_from(end).unwrap_or(usize::MAX))?;
        let ttl = write_ttl_ms(key, ttl_if_created)?;
        let offset = index * ty.bytes();
        let script = scripts::FIELD_WRITE.commands(&[key], |c| {
            c.arg(ttl.map(|ms| ms.to_string()).unwrap_or_default())
                .arg(op)
                .arg(ty.to_string())
                .arg(format!("#{index}"))
                .arg(value)
                .arg(offset)
                .arg(ty.bytes());
        });
        let reply: Vec<Value> = self
            .script_raw(&script)
            .await
            .map_err(|e| map(e, Some(key)))?;
        let bytes = |v: &Value| -> Result<Vec<u8>> {
            from_redis_value(v.clone()).map_err(|e| map(e.into(), Some(key)))
        };
        match reply.as_slice() {
            [Value::Int(0)] => Err(Error::Overflow {
                key: key.to_owned(),
            }),
            [Value::Int(1), old, new] => Ok((
                ty.decode_padded(&bytes(old)?),
                ty.decode_padded(&bytes(new)?),
            )),
            _ => Err(map(
                errors::protocol_error("unexpected BITFIELD script reply"),
                Some(key),
            )),
        }
    }
}

//! Hashes on Redis: each [`MapOp`] is its native command (`HGET`, `HSET`, `HSETNX`, `HDEL`,
//! `HINCRBY`, `HGETALL`, ...).

use std::borrow::Cow;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, from_redis_value, Value};

use super::atomic::NativeWrite;
use super::connection::{write_ttl_ms, Core};
use super::errors::{self, map, map_increment};
use super::scripts;
use crate::backend::command::{Command, MapOp, Reply};
use crate::error::{Error, Result};

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

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A hash write that an atomic step may hold, as its native command.
    pub(super) fn map_write<'a>(
        &self,
        key: &'a str,
        op: MapOp<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        let (name, args, ttl) = match op {
            MapOp::Set {
                field,
                value,
                only_if_absent,
                ttl_if_created,
            } => {
                self.check_value(key, value)?;
                let name = if only_if_absent { "HSETNX" } else { "HSET" };
                let args = vec![Cow::Borrowed(field.as_bytes()), Cow::Borrowed(value)];
                (name, args, ttl_if_created)
            }
            MapOp::Remove { field } => ("HDEL", vec![Cow::Borrowed(field.as_bytes())], None),
            MapOp::Increment {
                field,
                delta,
                ttl_if_created,
            } => {
                let delta = Cow::Owned(delta.to_string().into_bytes());
                let args = vec![Cow::Borrowed(field.as_bytes()), delta];
                ("HINCRBY", args, ttl_if_created)
            }
            _ => return Ok(None),
        };
        NativeWrite::new(key, name, args, ttl).map(Some)
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
}

//! Streams on Redis: each [`StreamOp`] is its native command (`XADD`, `XRANGE`, `XREVRANGE`,
//! `XLEN`, `XTRIM`, `XREAD`, `XGROUP CREATE`, `XREADGROUP`, `XACK`, `XPENDING`, `XAUTOCLAIM`);
//! each entry is one field `v`. A blocking read runs on a connection
//! of its own (see `blocking`); replies are parsed here, in RESP2 and RESP3 alike.

use std::borrow::Cow;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, Cmd, Value};

use super::atomic::NativeWrite;
use super::connection::Core;
use super::errors::{has_code, map};
use crate::backend::command::{Command, Reply, StreamId, StreamOp, MAX_BLOCKING_WAIT};
use crate::backend::ttl_ms;
use crate::error::{Error, Result};

/// The field every entry's value is stored in.
pub(crate) const FIELD: &str = "v";

/// A count as Redis reads it (`COUNT` is a signed 64-bit integer).
fn count_arg(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn bad_reply(key: &str, what: impl std::fmt::Display) -> Error {
    Error::Decode {
        key: key.to_owned(),
        message: format!("an unexpected stream reply from Redis: {what}"),
    }
}

fn text(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A stream id in a reply.
fn parse_id(key: &str, value: &Value) -> Result<StreamId> {
    let raw = text(value).ok_or_else(|| bad_reply(key, format!("{value:?} is not an id")))?;
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            bad_reply(
                key,
                format!("{:?} is not an id", String::from_utf8_lossy(raw)),
            )
        })
}

/// What a group read delivers for an entry without the field `v` (written by another
/// program): this prefix, then its fields and values, space-separated — never JSON, so it goes
/// to the dead letters with that text.
pub(crate) const NO_FIELD: &str = "(no field v)";

/// The entries of an `XRANGE`-shaped reply: `[[id, [field, value, ...]], ...]`. An entry
/// without the field `v` (written by another program) is an error naming the key.
fn parse_entries(key: &str, reply: Value) -> Result<Vec<(StreamId, Vec<u8>)>> {
    parse_entries_as(key, reply, false)
}

/// [`parse_entries`]; with `lenient` (a group's deliveries, already pending: an error would
/// leave them stuck), an entry without the field `v` is [`NO_FIELD`] and its fields instead.
fn parse_entries_as(key: &str, reply: Value, lenient: bool) -> Result<Vec<(StreamId, Vec<u8>)>> {
    let items = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(bad_reply(key, format!("{other:?}"))),
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(pair) = item else {
            return Err(bad_reply(key, format!("{item:?} is not an entry")));
        };
        let [id, fields] = <[Value; 2]>::try_from(pair)
            .map_err(|pair| bad_reply(key, format!("{pair:?} is not an entry")))?;
        let id = parse_id(key, &id)?;
        let fields = match fields {
            Value::Array(fields) => fields,
            Value::Map(pairs) => pairs.into_iter().flat_map(|(f, v)| [f, v]).collect(),
            other => return Err(bad_reply(key, format!("{other:?} are not fields"))),
        };
        let mut value = None;
        let mut seen = NO_FIELD.as_bytes().to_vec();
        let mut fields = fields.into_iter();
        while let (Some(field), Some(v)) = (fields.next(), fields.next()) {
            if text(&field) == Some(FIELD.as_bytes()) {
                value = match v {
                    Value::BulkString(bytes) => Some(bytes),
                    Value::SimpleString(s) => Some(s.into_bytes()),
                    other => return Err(bad_reply(key, format!("{other:?} is not a value"))),
                };
            } else if lenient {
                for part in [&field, &v] {
                    seen.push(b' ');
                    seen.extend_from_slice(text(part).unwrap_or(b"?"));
                }
            }
        }
        let value = match value {
            Some(value) => value,
            None if lenient => seen,
            None => {
                return Err(Error::Decode {
                    key: key.to_owned(),
                    message: format!("the stream entry {id} has no field `{FIELD}`"),
                })
            }
        };
        entries.push((id, value));
    }
    Ok(entries)
}

/// The entries of an `XREAD` reply of one stream: nil, `[[key, entries]]` (RESP2) or
/// `{key: entries}` (RESP3).
fn parse_read(key: &str, reply: Value) -> Result<Vec<(StreamId, Vec<u8>)>> {
    parse_read_as(key, reply, false)
}

/// [`parse_read`], lenient or not (see [`parse_entries_as`]).
fn parse_read_as(key: &str, reply: Value, lenient: bool) -> Result<Vec<(StreamId, Vec<u8>)>> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(pairs) => pairs.into_iter().map(|(_, entries)| entries).collect(),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.swap_remove(1)),
                other => Err(bad_reply(key, format!("{other:?}"))),
            })
            .collect::<Result<Vec<_>>>()?,
        other => return Err(bad_reply(key, format!("{other:?}"))),
    };
    let mut entries = Vec::new();
    for stream in streams {
        entries.extend(parse_entries_as(key, stream, lenient)?);
    }
    Ok(entries)
}

/// An integer in a reply.
fn int(key: &str, value: &Value) -> Result<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).map_err(|_| bad_reply(key, format!("{n} is negative"))),
        other => text(other)
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad_reply(key, format!("{other:?} is not an integer"))),
    }
}

/// The count of an `XPENDING key group` summary: `[count, min, max, consumers]`.
fn parse_pending_count(key: &str, reply: &Value) -> Result<u64> {
    match reply {
        Value::Array(items) if !items.is_empty() => int(key, &items[0]),
        other => Err(bad_reply(
            key,
            format!("{other:?} is not a pending summary"),
        )),
    }
}

/// The entries of an `XAUTOCLAIM` reply: `[cursor, entries, deleted ids]` (Redis 7; 6.2 has no
/// third element).
fn parse_autoclaim(key: &str, reply: Value) -> Result<Vec<(StreamId, Vec<u8>)>> {
    match reply {
        Value::Array(mut items) if items.len() >= 2 => {
            parse_entries_as(key, items.swap_remove(1), true)
        }
        other => Err(bad_reply(
            key,
            format!("{other:?} is not an XAUTOCLAIM reply"),
        )),
    }
}

/// The consumer and delivery count of one row of an extended `XPENDING` reply, `[[id,
/// consumer, idle ms, deliveries]]`; `None` when it is empty (the entry is no longer pending).
fn parse_pending_row(key: &str, reply: &Value) -> Result<Option<(Vec<u8>, u64)>> {
    let rows = match reply {
        Value::Nil => return Ok(None),
        Value::Array(rows) => rows,
        other => return Err(bad_reply(key, format!("{other:?} is not a pending list"))),
    };
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    match row {
        Value::Array(fields) if fields.len() == 4 => {
            let consumer = text(&fields[1])
                .ok_or_else(|| bad_reply(key, format!("{:?} is not a consumer", fields[1])))?;
            Ok(Some((consumer.to_vec(), int(key, &fields[3])?)))
        }
        other => Err(bad_reply(key, format!("{other:?} is not a pending entry"))),
    }
}

/// `XREADGROUP GROUP group consumer [COUNT n] STREAMS key >`.
pub(crate) fn xreadgroup(key: &str, group: &str, consumer: &str, count: usize) -> Cmd {
    let mut c = cmd("XREADGROUP");
    c.arg("GROUP").arg(group).arg(consumer);
    if count > 0 {
        c.arg("COUNT").arg(count_arg(count));
    }
    c.arg("STREAMS").arg(key).arg(">");
    c
}

/// `XREAD [COUNT n] [BLOCK ms] STREAMS key after`.
pub(crate) fn xread(key: &str, after: StreamId, count: usize, block_ms: Option<u64>) -> Cmd {
    let mut c = cmd("XREAD");
    if count > 0 {
        c.arg("COUNT").arg(count_arg(count));
    }
    if let Some(ms) = block_ms {
        c.arg("BLOCK").arg(ms);
    }
    c.arg("STREAMS").arg(key).arg(after.to_string());
    c
}

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A stream append as its native command (`XADD key [MAXLEN ~ n] * v value`).
    pub(super) fn stream_write<'a>(
        &self,
        key: &'a str,
        op: StreamOp<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        let StreamOp::Append {
            value,
            max_len,
            ttl_if_created,
        } = op
        else {
            return Ok(None);
        };
        self.check_value(key, value)?;
        let mut args: Vec<Cow<'a, [u8]>> = Vec::with_capacity(7);
        if let Some(max_len) = max_len {
            args.push(Cow::Borrowed(b"MAXLEN"));
            args.push(Cow::Borrowed(b"~"));
            args.push(Cow::Owned(max_len.to_string().into_bytes()));
        }
        args.push(Cow::Borrowed(b"*"));
        args.push(Cow::Borrowed(FIELD.as_bytes()));
        args.push(Cow::Borrowed(value));
        NativeWrite::new(key, "XADD", args, ttl_if_created).map(Some)
    }

    /// [`StreamOp`]s, but a read that blocks (which needs a connection of its own).
    pub(crate) async fn stream(&self, key: &str, op: StreamOp<'_>) -> Result<Reply> {
        Ok(match op {
            StreamOp::Append { .. } => {
                let id: Value = self.run_native(Command::Stream { key, op }).await?;
                Reply::EntryId(parse_id(key, &id)?)
            }
            StreamOp::Range { count: 0, .. } => Reply::Entries(Vec::new()),
            StreamOp::Range {
                start,
                end,
                count,
                rev,
            } => {
                let mut c = cmd(if rev { "XREVRANGE" } else { "XRANGE" });
                c.arg(key)
                    .arg(start.to_string())
                    .arg(end.to_string())
                    .arg("COUNT")
                    .arg(count_arg(count));
                Reply::Entries(parse_entries(key, self.query(Some(key), &c).await?)?)
            }
            StreamOp::Len => Reply::Len(self.query(Some(key), cmd("XLEN").arg(key)).await?),
            StreamOp::Trim { max_len } => Reply::Len(
                self.query(
                    Some(key),
                    cmd("XTRIM").arg(key).arg("MAXLEN").arg("=").arg(max_len),
                )
                .await?,
            ),
            StreamOp::ReadAfter {
                after,
                count,
                block,
            } => {
                if block.is_some_and(|wait| !wait.is_zero()) {
                    // Routed to a dedicated connection by `mapping::execute`.
                    return Err(Command::Stream { key, op }.unsupported("redis"));
                }
                let reply = self
                    .query(Some(key), &xread(key, after, count, None))
                    .await?;
                Reply::Entries(parse_read(key, reply)?)
            }
            StreamOp::CreateGroup { group, from_start } => {
                let mut c = cmd("XGROUP");
                c.arg("CREATE")
                    .arg(key)
                    .arg(group)
                    .arg(if from_start { "0" } else { "$" })
                    .arg("MKSTREAM");
                let c = &c;
                let result = self
                    .call_raw(|mut conn| async move { c.query_async::<Value>(&mut conn).await })
                    .await;
                match result {
                    Ok(_) => Reply::Bool(true),
                    Err(e) if has_code(&e, "BUSYGROUP") => Reply::Bool(false),
                    Err(e) => return Err(map(e, Some(key))),
                }
            }
            StreamOp::ReadGroup {
                group,
                consumer,
                count,
            } => {
                let reply = self
                    .query(Some(key), &xreadgroup(key, group, consumer, count))
                    .await?;
                Reply::Entries(parse_read_as(key, reply, true)?)
            }
            StreamOp::Ack { ids: [], .. } => Reply::Len(0),
            StreamOp::Ack { group, ids } => {
                let mut c = cmd("XACK");
                c.arg(key).arg(group);
                for id in ids {
                    c.arg(id.to_string());
                }
                Reply::Len(self.query(Some(key), &c).await?)
            }
            StreamOp::Pending { group } => {
                let reply: Value = self
                    .query(Some(key), cmd("XPENDING").arg(key).arg(group))
                    .await?;
                Reply::Len(parse_pending_count(key, &reply)? as usize)
            }
            StreamOp::ClaimIdle {
                group,
                consumer,
                min_idle,
                count,
            } => {
                let mut c = cmd("XAUTOCLAIM");
                c.arg(key)
                    .arg(group)
                    .arg(consumer)
                    .arg(ttl_ms(min_idle))
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(count_arg(count.max(1)));
                let claimed = parse_autoclaim(key, self.query(Some(key), &c).await?)?;
                if claimed.is_empty() {
                    return Ok(Reply::Claimed(Vec::new()));
                }
                // XAUTOCLAIM does not say the delivery counts: one XPENDING row per entry.
                let mut pipe = ::redis::pipe();
                for (id, _) in &claimed {
                    let id = id.to_string();
                    pipe.cmd("XPENDING")
                        .arg(key)
                        .arg(group)
                        .arg(&id)
                        .arg(&id)
                        .arg(1);
                }
                let pipe = &pipe;
                let rows: Vec<Value> = self
                    .call_raw(|mut conn| async move { pipe.query_async(&mut conn).await })
                    .await
                    .map_err(|e| map(e, Some(key)))?;
                let mut out = Vec::with_capacity(claimed.len());
                for ((id, value), row) in claimed.into_iter().zip(&rows) {
                    // Acknowledged or taken by another consumer since: not this one's any more.
                    if let Some((owner, deliveries)) = parse_pending_row(key, row)? {
                        if owner == consumer.as_bytes() {
                            out.push((id, value, deliveries));
                        }
                    }
                }
                Reply::Claimed(out)
            }
        })
    }
}

/// The `BLOCK` of a blocking read that waits `wait` (not zero): whole milliseconds, at least
/// one (`BLOCK 0` would wait forever), at most [`MAX_BLOCKING_WAIT`].
pub(crate) fn block_ms(wait: Duration) -> u64 {
    ttl_ms(wait.min(MAX_BLOCKING_WAIT))
}

/// The entries of a blocking `XREAD`'s reply.
pub(crate) fn read_reply(key: &str, reply: Value) -> Result<Vec<(StreamId, Vec<u8>)>> {
    parse_read(key, reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn replies_parse_in_both_protocols() {
        let range = Value::Array(vec![
            entry("1-0", &["v", "a"]),
            entry("1-1", &["x", "y", "v", "b"]),
        ]);
        let parsed = parse_entries("k", range.clone()).unwrap();
        assert_eq!(
            parsed,
            [
                (StreamId::new(1, 0), b"a".to_vec()),
                (StreamId::new(1, 1), b"b".to_vec())
            ]
        );
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("k"), range.clone()])]);
        assert_eq!(parse_read("k", resp2).unwrap(), parsed);
        let resp3 = Value::Map(vec![(bulk("k"), range)]);
        assert_eq!(parse_read("k", resp3).unwrap(), parsed);
        assert_eq!(parse_read("k", Value::Nil).unwrap(), []);
    }

    #[test]
    fn entries_without_the_field_are_errors_naming_the_key() {
        let range = Value::Array(vec![entry("1-0", &["other", "a"])]);
        let e = parse_entries("the:key", range).unwrap_err();
        assert!(
            matches!(&e, Error::Decode { key, message } if key == "the:key" && message.contains("1-0")),
            "{e:?}"
        );
        assert!(parse_entries("k", Value::Array(vec![entry("x", &["v", "a"])])).is_err());
    }

    #[test]
    fn group_replies_parse() {
        let summary = Value::Array(vec![Value::Int(2), bulk("1-0"), bulk("1-1"), Value::Nil]);
        assert_eq!(parse_pending_count("k", &summary).unwrap(), 2);
        assert!(parse_pending_count("k", &Value::Nil).is_err());
        let claim = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![entry("1-0", &["v", "a"])]),
            Value::Array(vec![bulk("0-5")]),
        ]);
        assert_eq!(
            parse_autoclaim("k", claim).unwrap(),
            [(StreamId::new(1, 0), b"a".to_vec())]
        );
        let row = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            bulk("c1"),
            Value::Int(12),
            Value::Int(3),
        ])]);
        assert_eq!(
            parse_pending_row("k", &row).unwrap(),
            Some((b"c1".to_vec(), 3))
        );
        assert_eq!(parse_pending_row("k", &Value::Array(vec![])).unwrap(), None);
        // A group's delivery without the field `v` is its fields, as text that is not JSON.
        let odd = Value::Array(vec![entry("2-0", &["other", "1", "x", "y"])]);
        assert_eq!(
            parse_entries_as("k", odd, true).unwrap(),
            [(StreamId::new(2, 0), b"(no field v) other 1 x y".to_vec())]
        );
    }

    #[test]
    fn xread_arguments() {
        let c = xread("k", StreamId::new(5, 1), 10, Some(250));
        let args: Vec<String> = c
            .args_iter()
            .map(|a| match a {
                ::redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            args,
            ["XREAD", "COUNT", "10", "BLOCK", "250", "STREAMS", "k", "5-1"]
        );
        assert_eq!(block_ms(Duration::from_micros(10)), 1);
    }
}

//! Strings on Redis: each [`StringOp`] is `GET`, `SET key value [PX ms] [NX|KEEPTTL]`, or a
//! script (compare-and-swap; `INCRBY` that gives a created counter a TTL). `MGET`/`MSET` differ
//! between one server and a cluster: see the topologies.

use std::borrow::Cow;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, from_redis_value_ref, Value};

use super::atomic::NativeWrite;
use super::connection::{write_ttl_ms, Core};
use super::errors::{self, map, map_increment};
use super::scripts;
use crate::backend::command::{Reply, SetOptions, StringOp, Swap};
use crate::error::{Error, Result};

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A string write that an atomic step may hold (`SET`, `INCRBY`), as its native command.
    pub(super) fn string_write<'a>(
        &self,
        key: &'a str,
        op: StringOp<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        match op {
            StringOp::Set { value, options } if !options.get => {
                self.check_value(key, value)?;
                let mut args = vec![Cow::Borrowed(value)];
                if options.keep_ttl {
                    args.push(Cow::Borrowed(b"KEEPTTL"));
                } else if let Some(ms) = write_ttl_ms(key, options.ttl)? {
                    args.push(Cow::Borrowed(b"PX"));
                    args.push(Cow::Owned(ms.to_string().into_bytes()));
                }
                if options.only_if_absent {
                    args.push(Cow::Borrowed(b"NX"));
                }
                NativeWrite::new(key, "SET", args, None).map(Some)
            }
            StringOp::Increment {
                delta,
                ttl_if_created,
            } => {
                let args = vec![Cow::Owned(delta.to_string().into_bytes())];
                NativeWrite::new(key, "INCRBY", args, ttl_if_created).map(Some)
            }
            _ => Ok(None),
        }
    }

    pub(crate) async fn string(&self, key: &str, op: StringOp<'_>) -> Result<Reply> {
        Ok(match op {
            StringOp::Get => Reply::Value(self.get_string(key).await?),
            StringOp::Set { value, options } if options.get => {
                Reply::Value(self.set_string(key, value, options).await?)
            }
            StringOp::Set { value, options } => {
                Reply::Bool(self.set_string(key, value, options).await?.is_none())
            }
            StringOp::CompareAndSwap {
                expected,
                new,
                ttl_if_created,
            } => Reply::Swap(
                self.compare_and_swap(key, expected, new, ttl_if_created)
                    .await?,
            ),
            StringOp::Increment {
                delta,
                ttl_if_created,
            } => Reply::Int(self.increment(key, delta, ttl_if_created).await?),
        })
    }

    /// Checks the values and the TTL of a `set_many` before anything is sent.
    pub(crate) fn check_entries(
        &self,
        entries: &[(String, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<Option<u64>> {
        for (key, value) in entries {
            self.check_value(key, value)?;
        }
        match entries.first() {
            Some((first, _)) => write_ttl_ms(first, ttl),
            None => Ok(None),
        }
    }

    async fn get_string(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.query(Some(key), cmd("GET").arg(key)).await
    }

    /// `SET`; `None` when it wrote (without `GET`), or the value it replaced (with `GET`).
    /// Without `GET`, `Some` means NX found the key.
    async fn set_string(
        &self,
        key: &str,
        value: &[u8],
        options: SetOptions,
    ) -> Result<Option<Vec<u8>>> {
        self.check_value(key, value)?;
        let ttl = write_ttl_ms(key, options.ttl)?;
        let mut c = cmd("SET");
        c.arg(key).arg(value);
        if options.keep_ttl {
            c.arg("KEEPTTL");
        } else if let Some(ms) = ttl {
            c.arg("PX").arg(ms);
        }
        if options.only_if_absent {
            c.arg("NX");
        }
        if options.get {
            c.arg("GET");
            return self.query(Some(key), &c).await;
        }
        // `OK`, or nil when NX found the key.
        let reply: ::redis::Value = self.query(Some(key), &c).await?;
        Ok(matches!(reply, ::redis::Value::Nil).then(Vec::new))
    }

    /// [`StringOp::CompareAndSwap`]: one script that compares, then writes or returns what is
    /// stored.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<Swap> {
        if let Some(new) = new {
            self.check_value(key, new)?;
        }
        let ttl = write_ttl_ms(key, ttl_if_created)?;
        let ttl = ttl.map(|ms| ms.to_string()).unwrap_or_default();
        let script = scripts::COMPARE_AND_SWAP.commands(&[key], |c| {
            c.arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or(b""))
                .arg(if new.is_some() { "1" } else { "0" })
                .arg(new.unwrap_or(b""))
                .arg(&ttl)
                .arg("1");
        });
        let reply: Vec<Value> = self
            .script_raw(&script)
            .await
            .map_err(|e| map(e, Some(key)))?;
        match reply.as_slice() {
            [Value::Int(1)] => Ok(Swap::Done),
            [Value::Int(0)] => Ok(Swap::Current(None)),
            [Value::Int(0), Value::Nil | Value::Boolean(false)] => Ok(Swap::Current(None)),
            [Value::Int(0), stored] => Ok(Swap::Current(Some(
                from_redis_value_ref(stored).map_err(|e| map(e.into(), Some(key)))?,
            ))),
            _ => Err(map(
                errors::protocol_error("unexpected compare-and-swap reply"),
                Some(key),
            )),
        }
    }

    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl_if_created: Option<Duration>,
    ) -> Result<i64> {
        match write_ttl_ms(key, ttl_if_created)? {
            None => {
                let c = cmd("INCRBY").arg(key).arg(delta).to_owned();
                let c = &c;
                self.call_raw(|mut conn| async move { c.query_async::<i64>(&mut conn).await })
                    .await
                    .map_err(|e| map_increment(e, key))
            }
            Some(ms) => {
                let script = scripts::INCREMENT_WITH_TTL.commands(&[key], |c| {
                    c.arg(delta).arg(ms);
                });
                let value: String = self
                    .script_raw(&script)
                    .await
                    .map_err(|e| map_increment(e, key))?;
                value.parse().map_err(|_| Error::Decode {
                    key: key.to_owned(),
                    message: format!("INCRBY left a value that is not an i64: {value:?}"),
                })
            }
        }
    }
}

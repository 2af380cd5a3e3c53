//! The connection core both Redis backends share: round trips with a deadline, the TTL
//! conversion, and every single-key command (strings, counters, sets, atomic steps, scans).

use std::borrow::Cow;
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{
    cmd, from_redis_value_ref, Cmd, ErrorKind, FromRedisValue, RedisResult, ServerErrorKind, Value,
};

use super::errors::{self, map, map_increment};
use super::scripts;
use crate::backend::command::{Check, Command, KeyTtl, SetOptions, Swap};
use crate::backend::{ttl_ms, write_ttl, ClientCache, Limits};
use crate::error::{Error, Result};
use crate::layout::scan_pattern;

/// The TTL of a write in whole milliseconds (zero refused: see [`write_ttl`]).
pub(crate) fn write_ttl_ms(key: &str, ttl: Option<Duration>) -> Result<Option<u64>> {
    Ok(write_ttl(key, ttl)?.map(ttl_ms))
}

/// The connection, plus what every operation needs to know.
#[derive(Clone)]
pub(crate) struct Core<C> {
    pub(crate) conn: C,
    pub(crate) response_timeout: Duration,
    /// How long one round trip ([`Core::call_raw`]) may take in all: the one timer of a call
    /// on a standalone server (its connection has none of its own); a little past the
    /// response timeout on a cluster, so that the cluster connection's own timeout, which it
    /// watches to follow the topology, fires first.
    pub(crate) deadline: Duration,
    pub(crate) limits: Limits,
    /// Shared by the clones of one backend: its
    /// [`BackendInfo::instance`](crate::backend::BackendInfo::instance).
    pub(crate) instance: std::sync::Arc<()>,
    /// The client cache, if any (this client's writes invalidate their keys at once).
    pub(crate) cache: Option<ClientCache>,
}

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Refuses a value over the size limit (handles check first; this is the last line).
    pub(crate) fn check_value(&self, key: &str, value: &[u8]) -> Result<()> {
        self.limits.check_value(key, value.len())
    }

    /// Runs one round trip, `f(connection)`, within the response timeout.
    ///
    /// A refused connection means the request was never sent, so it is retried once (the
    /// first call after a server restart may find the connection manager's last failed
    /// reconnection; the retry waits for the new one).
    pub(crate) async fn call_raw<T, F, Fut>(&self, f: F) -> RedisResult<T>
    where
        F: Fn(C) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            match f(self.conn.clone()).await {
                Err(e) if e.is_connection_refusal() => f(self.conn.clone()).await,
                other => other,
            }
        };
        // It also bounds a wait for the connection manager's reconnection, which the
        // connection's own response timeout would not.
        match tokio::time::timeout(self.deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(errors::timeout_error(self.response_timeout)),
        }
    }

    /// Runs a script: `EVALSHA`, then `EVAL` if the server does not know it (`NOSCRIPT`).
    pub(crate) async fn script_raw<T: FromRedisValue>(
        &self,
        (evalsha, eval): &(Cmd, Cmd),
    ) -> RedisResult<T> {
        let first = self
            .call_raw(|mut c| async move { evalsha.query_async::<T>(&mut c).await })
            .await;
        match first {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.call_raw(|mut c| async move { eval.query_async::<T>(&mut c).await })
                    .await
            }
            other => other,
        }
    }

    /// Sends `cmd` and converts the reply; errors name `key`.
    pub(crate) async fn query<T: FromRedisValue>(&self, key: Option<&str>, cmd: &Cmd) -> Result<T> {
        self.call_raw(|mut c| async move { cmd.query_async::<T>(&mut c).await })
            .await
            .map_err(|e| map(e, key))
    }

    /// `MGET` of keys of one slot (any keys, on a standalone server).
    pub(crate) async fn mget_raw(&self, keys: &[&str]) -> RedisResult<Vec<Option<Vec<u8>>>> {
        let mut c = cmd("MGET");
        c.arg(keys);
        let c = &c;
        self.call_raw(|mut conn| async move { c.query_async(&mut conn).await })
            .await
    }

    /// `MSET` of entries of one slot (any entries, on a standalone server): atomic.
    pub(crate) async fn mset_raw(&self, entries: &[&(String, Vec<u8>)]) -> RedisResult<()> {
        let mut c = cmd("MSET");
        for (key, value) in entries {
            c.arg(key).arg(value);
        }
        let c = &c;
        self.call_raw(|mut conn| async move { c.query_async::<()>(&mut conn).await })
            .await
    }

    /// `UNLINK` of keys of one slot; how many existed.
    pub(crate) async fn unlink_raw(&self, keys: &[&str]) -> RedisResult<usize> {
        let mut c = cmd("UNLINK");
        c.arg(keys);
        let c = &c;
        self.call_raw(|mut conn| async move { c.query_async(&mut conn).await })
            .await
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

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.query(Some(key), cmd("GET").arg(key)).await
    }

    pub(crate) async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
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
        // `OK`, or nil when NX found the key.
        let reply: ::redis::Value = self.query(Some(key), &c).await?;
        Ok(!matches!(reply, ::redis::Value::Nil))
    }

    /// [`Command::CompareAndSwap`]: one script that compares, then writes or returns what is
    /// stored.
    pub(crate) async fn compare_and_swap(
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

    pub(crate) async fn increment(
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

    pub(crate) async fn exists(&self, key: &str) -> Result<bool> {
        let n: i64 = self.query(Some(key), cmd("EXISTS").arg(key)).await?;
        Ok(n > 0)
    }

    pub(crate) async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let ms: i64 = self.query(Some(key), cmd("PTTL").arg(key)).await?;
        Ok(match ms {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            // A key about to expire can report 0.
            ms => KeyTtl::Expires(Duration::from_millis(ms.max(0) as u64)),
        })
    }

    pub(crate) async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        // PEXPIRE 0 deletes the key, and says whether it existed.
        let n: i64 = self
            .query(Some(key), cmd("PEXPIRE").arg(key).arg(ttl_ms(ttl)))
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn persist(&self, key: &str) -> Result<bool> {
        let n: i64 = self.query(Some(key), cmd("PERSIST").arg(key)).await?;
        Ok(n == 1)
    }

    pub(crate) async fn set_add(
        &self,
        key: &str,
        member: &[u8],
        ttl_if_created: Option<Duration>,
    ) -> Result<bool> {
        self.check_value(key, member)?;
        let added: i64 = match write_ttl_ms(key, ttl_if_created)? {
            None => {
                self.query(Some(key), cmd("SADD").arg(key).arg(member))
                    .await?
            }
            Some(ms) => {
                let script = scripts::SET_ADD_WITH_TTL.commands(&[key], |c| {
                    c.arg(member).arg(ms);
                });
                self.script_raw(&script)
                    .await
                    .map_err(|e| map(e, Some(key)))?
            }
        };
        Ok(added == 1)
    }

    pub(crate) async fn set_remove(&self, key: &str, member: &[u8]) -> Result<bool> {
        let n: i64 = self
            .query(Some(key), cmd("SREM").arg(key).arg(member))
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        let n: i64 = self
            .query(Some(key), cmd("SISMEMBER").arg(key).arg(member))
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn set_members(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        self.query(Some(key), cmd("SMEMBERS").arg(key)).await
    }

    pub(crate) async fn set_len(&self, key: &str) -> Result<usize> {
        self.query(Some(key), cmd("SCARD").arg(key)).await
    }

    /// [`Command::Atomic`]: one script (see `scripts::ATOMIC`).
    pub(crate) async fn atomic<'a>(
        &self,
        checks: &'a [Check<'a>],
        writes: &'a [Command<'a>],
    ) -> Result<bool> {
        let index = |key: &'a str, keys: &mut Vec<&'a str>| -> String {
            let at = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            (at + 1).to_string()
        };
        let mut args: Vec<Vec<u8>> = vec![checks.len().to_string().into_bytes()];
        let mut keys: Vec<&'a str> = Vec::new();
        for check in checks {
            args.push(index(check.key, &mut keys).into_bytes());
            args.push(if check.expected.is_some() {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            });
            args.push(check.expected.unwrap_or(b"").to_vec());
        }
        args.push(writes.len().to_string().into_bytes());
        for write in writes {
            match *write {
                Command::Set {
                    key,
                    value,
                    options,
                } => {
                    self.check_value(key, value)?;
                    let px = write_ttl_ms(key, options.ttl)?;
                    let mut flags = String::from("-");
                    if options.keep_ttl {
                        flags.push('K');
                    }
                    if options.only_if_absent {
                        flags.push('N');
                    }
                    args.push(b"S".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(value.to_vec());
                    args.push(px.map(|ms| ms.to_string()).unwrap_or_default().into_bytes());
                    args.push(flags.into_bytes());
                }
                Command::Delete { keys: deleted } => {
                    args.push(b"D".to_vec());
                    args.push(deleted.len().to_string().into_bytes());
                    for key in deleted {
                        args.push(index(key, &mut keys).into_bytes());
                    }
                }
                Command::Increment {
                    key,
                    delta,
                    ttl_if_created,
                } => {
                    let px = write_ttl_ms(key, ttl_if_created)?;
                    args.push(b"I".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(delta.to_string().into_bytes());
                    args.push(px.map(|ms| ms.to_string()).unwrap_or_default().into_bytes());
                }
                Command::SetAdd {
                    key,
                    member,
                    ttl_if_created,
                } => {
                    self.check_value(key, member)?;
                    let px = write_ttl_ms(key, ttl_if_created)?;
                    args.push(b"A".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(member.to_vec());
                    args.push(px.map(|ms| ms.to_string()).unwrap_or_default().into_bytes());
                }
                Command::SetRemove { key, member } => {
                    args.push(b"R".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(member.to_vec());
                }
                ref other => {
                    let (Some(key), Some(native)) =
                        (other.keys().first().copied(), self.native_write(other)?)
                    else {
                        return Err(other.unsupported("redis"));
                    };
                    args.push(b"C".to_vec());
                    args.push(index(key, &mut keys).into_bytes());
                    args.push(
                        native
                            .ttl_ms
                            .map(|ms| ms.to_string())
                            .unwrap_or_default()
                            .into_bytes(),
                    );
                    args.push(if native.overflow_on_nil {
                        b"F".to_vec()
                    } else {
                        Vec::new()
                    });
                    args.push(native.name.as_bytes().to_vec());
                    args.push(native.args.len().to_string().into_bytes());
                    args.extend(native.args.into_iter().map(Cow::into_owned));
                }
            }
        }
        let Some(first) = keys.first().copied() else {
            return Ok(true); // nothing to check, nothing to write
        };
        let script = scripts::ATOMIC.commands(&keys, |c| {
            for arg in &args {
                c.arg(arg.as_slice());
            }
        });
        match self.script_raw::<i64>(&script).await {
            Ok(n) => Ok(n == 1),
            Err(e) => {
                // The script names the key whose write (or check) failed.
                let detail = e.detail().unwrap_or_default().to_owned();
                let key = detail
                    .rsplit_once(" [key ")
                    .and_then(|(_, k)| k.strip_suffix(']'))
                    .unwrap_or(first)
                    .to_owned();
                Err(map_increment(e, &key))
            }
        }
    }

    /// One `SCAN cursor MATCH <escaped prefix>* COUNT count` round trip through `page`: the next
    /// cursor (0 at the end) and the UTF-8 keys (others were not written by this crate).
    pub(crate) async fn scan_once<F, Fut>(
        &self,
        prefix: &str,
        cursor: u64,
        count: usize,
        page: F,
    ) -> Result<(u64, Vec<String>)>
    where
        F: Fn(C, Cmd) -> Fut,
        Fut: Future<Output = RedisResult<(u64, Vec<Vec<u8>>)>>,
    {
        let mut c = cmd("SCAN");
        c.arg(cursor)
            .arg("MATCH")
            .arg(scan_pattern(prefix))
            .arg("COUNT")
            .arg(count.max(1));
        let c = &c;
        let page = &page;
        let (next, keys) = self
            .call_raw(|conn| page(conn, c.clone()))
            .await
            .map_err(|e| map(e, Some(prefix)))?;
        let keys = keys
            .into_iter()
            .filter_map(|k| String::from_utf8(k).ok())
            .collect();
        Ok((next, keys))
    }

    /// `SCAN 0 MATCH <escaped prefix>* COUNT 1000` to the end, through `page` (one `SCAN` round trip to
    /// one node), adding every UTF-8 key to `out`. Keys that are not UTF-8 were not written by
    /// this crate and are skipped.
    pub(crate) async fn scan_with<F, Fut>(
        &self,
        prefix: &str,
        out: &mut HashSet<String>,
        page: F,
    ) -> Result<()>
    where
        F: Fn(C, Cmd) -> Fut,
        Fut: Future<Output = RedisResult<(u64, Vec<Vec<u8>>)>>,
    {
        let mut cursor = 0u64;
        loop {
            let (next, keys) = self.scan_once(prefix, cursor, 1000, &page).await?;
            out.extend(keys);
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

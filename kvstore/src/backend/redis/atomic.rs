//! Atomic steps on Redis ([`Command::Atomic`]: one script, `scripts::ATOMIC`), and the native
//! writes of lists, sorted sets, hashes and bits that a step holds and that the simple writes
//! run alone ([`NativeWrite`]).

use std::borrow::Cow;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, Cmd, FromRedisValue};

use super::connection::{write_ttl_ms, Core};
use super::errors::{map, map_increment};
use super::scripts;
use crate::backend::command::{Check, Command};
use crate::error::Result;

/// A native write of an atomic step, as the `ATOMIC` script runs it: `name key args...`, the
/// TTL (ms) of a key it creates, and whether a nil first reply means an overflow (`BITFIELD
/// OVERFLOW FAIL`).
pub(crate) struct NativeWrite<'a> {
    pub(crate) name: &'static str,
    pub(crate) args: Vec<Cow<'a, [u8]>>,
    pub(crate) ttl_ms: Option<u64>,
    pub(crate) overflow_on_nil: bool,
}

impl<'a> NativeWrite<'a> {
    /// `name key args...`, giving a key it creates `ttl` (checked).
    pub(super) fn new(
        key: &str,
        name: &'static str,
        args: Vec<Cow<'a, [u8]>>,
        ttl: Option<Duration>,
    ) -> Result<Self> {
        Ok(NativeWrite {
            name,
            args,
            ttl_ms: write_ttl_ms(key, ttl)?,
            overflow_on_nil: false,
        })
    }
}

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A single-key write as its native command, after the checks made before anything is sent
    /// (value sizes, TTLs, NaN scores, integer ranges): what an atomic step's script runs, and
    /// what the simple container writes run alone. `None`: the command is not one of those
    /// writes.
    pub(crate) fn native_write<'a>(
        &self,
        command: &Command<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        match *command {
            Command::Str { key, op } => self.string_write(key, op),
            Command::Set { key, op } => self.set_write(key, op),
            Command::List { key, op } => self.list_write(key, op),
            Command::SortedSet { key, op } => self.sorted_set_write(key, op),
            Command::Map { key, op } => self.map_write(key, op),
            Command::Bits { key, op } => self.bits_write(key, op),
            Command::Stream { key, op } => self.stream_write(key, op),
            _ => Ok(None),
        }
    }

    /// Runs a simple native write alone (see [`native_write`](Self::native_write)): `name key
    /// args...`, through [`scripts::CREATE_WITH_TTL`] when a created key gets a TTL.
    pub(super) async fn run_native<T: FromRedisValue>(&self, command: Command<'_>) -> Result<T> {
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
    pub(super) async fn creating<T: FromRedisValue>(
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
            if let Command::Delete { keys: deleted } = *write {
                args.push(b"D".to_vec());
                args.push(deleted.len().to_string().into_bytes());
                for key in deleted {
                    args.push(index(key, &mut keys).into_bytes());
                }
                continue;
            }
            let (Some(key), Some(native)) =
                (write.keys().first().copied(), self.native_write(write)?)
            else {
                return Err(write.unsupported("redis"));
            };
            let ttl_ms = native.ttl_ms.map(|ms| ms.to_string()).unwrap_or_default();
            args.push(b"C".to_vec());
            args.push(index(key, &mut keys).into_bytes());
            args.push(ttl_ms.into_bytes());
            args.push(if native.overflow_on_nil {
                b"F".to_vec()
            } else {
                Vec::new()
            });
            args.push(native.name.as_bytes().to_vec());
            args.push(native.args.len().to_string().into_bytes());
            args.extend(native.args.into_iter().map(Cow::into_owned));
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
}

//! Strings as bits and fixed-width integers on Redis: each [`BitsOp`] is its native command
//! (`SETBIT`, `GETBIT`, `BITCOUNT`, `BITFIELD_RO`, `GETRANGE`); integer writes run
//! `BITFIELD ... OVERFLOW FAIL` in a script that leaves the string untouched on overflow.

use std::borrow::Cow;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, from_redis_value, Value};

use super::atomic::NativeWrite;
use super::connection::{write_ttl_ms, Core};
use super::errors::{self, map};
use super::scripts;
use crate::backend::command::{BitsOp, Command, IntType, Reply, MAX_BIT_OFFSET};
use crate::error::{Error, Result};

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A bits or integer-slot write that an atomic step may hold, as its native command.
    pub(super) fn bits_write<'a>(
        &self,
        key: &'a str,
        op: BitsOp,
    ) -> Result<Option<NativeWrite<'a>>> {
        let owned = |text: String| Cow::Owned(text.into_bytes());
        match op {
            BitsOp::Set {
                offset,
                bit,
                ttl_if_created,
            } => {
                self.limits
                    .check_value(key, usize::try_from(offset / 8 + 1).unwrap_or(usize::MAX))?;
                let bit: &'static [u8] = if bit { b"1" } else { b"0" };
                let args = vec![owned(offset.to_string()), Cow::Borrowed(bit)];
                NativeWrite::new(key, "SETBIT", args, ttl_if_created).map(Some)
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
                let mut write = NativeWrite::new(key, "BITFIELD", args, ttl_if_created)?;
                write.overflow_on_nil = true;
                Ok(Some(write))
            }
            _ => Ok(None),
        }
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

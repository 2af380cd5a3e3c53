//! Strings as bits and fixed-width integers: [`BitsOp`] with Redis's semantics (`bitops.c`,
//! `BITFIELD`).

use std::time::Duration;

use super::strings::as_string;
use super::{Op, StorageTxn, Stored};
use crate::backend::command::{BitsOp, IntType, Reply};
use crate::error::{Error, Result};

/// The bytes of slot `index` of `ty` (zero-padded past the end of `bytes`).
fn slot(bytes: &[u8], ty: IntType, index: u64) -> i64 {
    let at = usize::try_from(index.saturating_mul(ty.bytes())).unwrap_or(usize::MAX);
    ty.decode_padded(bytes.get(at..).unwrap_or_default())
}

impl<T: StorageTxn> Op<'_, T> {
    pub(super) fn bits(&mut self, key: &str, op: BitsOp) -> Result<Reply> {
        let empty_string = || Stored::Str(Vec::new());
        Ok(match op {
            BitsOp::Get { offset } => {
                let bytes = self.typed(key, as_string)?;
                let byte = usize::try_from(offset / 8).unwrap_or(usize::MAX);
                Reply::Bool(
                    bytes
                        .and_then(|b| b.get(byte))
                        .is_some_and(|b| b & (0x80 >> (offset % 8)) != 0),
                )
            }
            BitsOp::Set {
                offset,
                bit,
                ttl_if_created,
            } => {
                let len = offset / 8 + 1;
                self.limits
                    .check_value(key, usize::try_from(len).unwrap_or(usize::MAX))?;
                let bytes = self.typed_or_create(key, as_string, empty_string, ttl_if_created)?;
                let byte = len as usize - 1;
                if bytes.len() <= byte {
                    bytes.resize(byte + 1, 0);
                }
                let mask = 0x80u8 >> (offset % 8);
                let previous = bytes[byte] & mask != 0;
                if bit {
                    bytes[byte] |= mask;
                } else {
                    bytes[byte] &= !mask;
                }
                Reply::Bool(previous)
            }
            BitsOp::Count => Reply::Len(
                self.typed(key, as_string)?
                    .map_or(0, |b| b.iter().map(|byte| byte.count_ones() as usize).sum()),
            ),
            BitsOp::FieldGet { ty, index } => Reply::Int(
                self.typed(key, as_string)?
                    .map_or(0, |bytes| slot(bytes, ty, index)),
            ),
            BitsOp::FieldSet {
                ty,
                index,
                value,
                ttl_if_created,
            } => {
                ty.check(key, value)?;
                self.write_slot(key, ty, index, ttl_if_created, |_| Some(value))?
            }
            BitsOp::FieldIncrement {
                ty,
                index,
                by,
                ttl_if_created,
            } => {
                let current = self
                    .typed(key, as_string)?
                    .map_or(0, |bytes| slot(bytes, ty, index));
                let next = current.checked_add(by).ok_or_else(|| Error::Overflow {
                    key: key.to_owned(),
                })?;
                let next = ty.check(key, next)?;
                self.write_slot(key, ty, index, ttl_if_created, |_| Some(next))?;
                Reply::Int(next)
            }
            BitsOp::FieldSum { ty, start, end } => {
                let Some(bytes) = self.typed(key, as_string)? else {
                    return Ok(Reply::Int(0));
                };
                let slots = bytes.len() as u64 / ty.bytes() + 1;
                let mut sum = 0i64;
                for index in start..end.min(slots) {
                    sum =
                        sum.checked_add(slot(bytes, ty, index))
                            .ok_or_else(|| Error::Overflow {
                                key: key.to_owned(),
                            })?;
                }
                Reply::Int(sum)
            }
            BitsOp::Len => Reply::Len(self.typed(key, as_string)?.map_or(0, |b| b.len())),
        })
    }

    /// Writes slot `index` with what `f` makes of its current value; the previous value.
    fn write_slot(
        &mut self,
        key: &str,
        ty: IntType,
        index: u64,
        ttl_if_created: Option<Duration>,
        f: impl FnOnce(i64) -> Option<i64>,
    ) -> Result<Reply> {
        let end = index.saturating_add(1).saturating_mul(ty.bytes());
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        self.limits.check_value(key, end)?;
        let empty_string = || Stored::Str(Vec::new());
        let bytes = self.typed_or_create(key, as_string, empty_string, ttl_if_created)?;
        let previous = slot(bytes, ty, index);
        if let Some(value) = f(previous) {
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            let at = end - ty.bytes() as usize;
            ty.encode(value, &mut bytes[at..end]);
        }
        Ok(Reply::Int(previous))
    }
}

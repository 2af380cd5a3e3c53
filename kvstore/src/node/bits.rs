//! [`Bits`] and [`PackedInts<I>`]: one string read as an array of bits, or of fixed-width
//! integers (`SETBIT`/`GETBIT`/`BITCOUNT`, `BITFIELD`).

use std::fmt;
use std::marker::PhantomData;

use futures_core::Stream;

use super::audit::Verdict;
use super::handle_impls;
use super::strings_audit;
use super::watch::{KeyWatch, WatchRead};
use super::{key_methods, leaf_node, Leaf};
use crate::backend::command::{BitsOp, Command, IntType};
use crate::error::{Error, Result};

/// An array of bits in one key (a Redis string used with `SETBIT`/`GETBIT`/`BITCOUNT`): flags
/// per numeric id, presence maps, bloom-style filters. Bits past the end read as `false`;
/// setting one grows the string with zero bytes, up to the backend's value size limit.
#[derive(Clone)]
pub struct Bits {
    pub(crate) leaf: Leaf,
}

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Bits").field(&self.leaf).finish()
    }
}

/// Runs `op` on the string of `leaf`.
async fn run(leaf: &Leaf, op: BitsOp) -> Result<(crate::backend::Reply, Command<'_>)> {
    let command = Command::Bits {
        key: leaf.key()?,
        op,
    };
    Ok((leaf.ctx.execute(command).await?, command))
}

/// The string length writing `bytes` bytes needs, checked against the size limit first (so a
/// hostile offset is refused before anything is sent).
pub(crate) fn check_len(leaf: &Leaf, bytes: u64) -> Result<()> {
    let key = leaf.key()?;
    leaf.ctx
        .limits()
        .check_value(key, usize::try_from(bytes).unwrap_or(usize::MAX))
}

impl Bits {
    /// Sets the bit at `offset` (`SETBIT`; offset 0 is the highest bit of the first byte) and
    /// returns the previous bit. A string created here gets the field's default TTL.
    pub async fn set(&self, offset: u64, bit: bool) -> Result<bool> {
        check_len(&self.leaf, offset / 8 + 1)?;
        let (reply, command) = run(
            &self.leaf,
            BitsOp::Set {
                offset,
                bit,
                ttl_if_created: self.leaf.ttl,
            },
        )
        .await?;
        reply.into_bool(&command)
    }

    /// The bit at `offset` (`GETBIT`); `false` past the end.
    pub async fn get(&self, offset: u64) -> Result<bool> {
        let (reply, command) = run(&self.leaf, BitsOp::Get { offset }).await?;
        reply.into_bool(&command)
    }

    /// The number of bits set (`BITCOUNT`).
    pub async fn count(&self) -> Result<u64> {
        let (reply, command) = run(&self.leaf, BitsOp::Count).await?;
        Ok(reply.into_len(&command)? as u64)
    }

    /// Removes the whole string; returns whether it existed.
    pub async fn clear(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    /// Watches the bits: the offsets of the bits that are set, ascending, first; then after
    /// each change (empty once removed or expired). Coalescing, errors and reconnection as for
    /// [`Item::watch`](crate::Item::watch).
    pub fn watch(&self) -> impl Stream<Item = Result<Vec<u64>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::String);
        futures_util::stream::unfold(watch, |mut watch| async move {
            let next = watch
                .next_value()
                .await?
                .map(|bytes| set_bits(&bytes.unwrap_or_default()));
            Some((next, watch))
        })
    }

    key_methods!();
}

/// The offsets of the bits set in `bytes` (offset 0: the highest bit of the first byte).
fn set_bits(bytes: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                out.push(i as u64 * 8 + bit);
            }
        }
    }
    out
}

/// The slots of `I` in `bytes`, big-endian; a partial last slot reads its missing bytes as 0
/// (as `BITFIELD` does).
fn slots<I: PackedInt>(bytes: &[u8]) -> Vec<I> {
    let width = I::TYPE.bytes() as usize;
    bytes
        .chunks(width)
        .map(|chunk| {
            let mut raw = [0u8; 8];
            raw[..chunk.len()].copy_from_slice(chunk);
            let unsigned = u64::from_be_bytes(raw) >> (64 - 8 * width);
            let value = if I::TYPE.signed && width < 8 {
                let shift = 64 - 8 * width;
                ((unsigned << shift) as i64) >> shift
            } else {
                unsigned as i64
            };
            I::from_i64(value).expect("a slot of the type's width fits the type")
        })
        .collect()
}

// Any bytes are valid; only a key of another kind is a problem.
strings_audit!(Bits, |_, _| Verdict::Valid);

leaf_node!(Bits, "bits", None, {});

/// An integer type a [`PackedInts`] can hold: `i8`, `i16`, `i32`, `i64`, `u8`, `u16`, `u32`
/// (Redis's `BITFIELD` has no `u64`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be packed in a `PackedInts`",
    label = "not a packable integer type",
    note = "`PackedInts<I>` holds `i8`, `i16`, `i32`, `i64`, `u8`, `u16` or `u32` (Redis's BITFIELD has no `u64`)"
)]
pub trait PackedInt: sealed::Sealed + Copy + fmt::Debug + Send + Sync + 'static {
    /// The `BITFIELD` type.
    #[doc(hidden)]
    const TYPE: IntType;
    /// Widens to `i64`.
    #[doc(hidden)]
    fn to_i64(self) -> i64;
    /// Narrows from `i64` (in range: what the backend returns for this type).
    #[doc(hidden)]
    fn from_i64(value: i64) -> Option<Self>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! packed_ints {
    ($($t:ident: $bits:literal, $signed:literal;)*) => {$(
        impl sealed::Sealed for $t {}
        impl PackedInt for $t {
            const TYPE: IntType = IntType {
                bits: $bits,
                signed: $signed,
            };
            fn to_i64(self) -> i64 {
                i64::from(self)
            }
            fn from_i64(value: i64) -> Option<Self> {
                $t::try_from(value).ok()
            }
        }
    )*};
}

packed_ints! {
    i8: 8, true;
    i16: 16, true;
    i32: 32, true;
    i64: 64, true;
    u8: 8, false;
    u16: 16, false;
    u32: 32, false;
}

/// An array of fixed-width integers of type `I` in one key (a Redis string used with
/// `BITFIELD ... <type> #index`, big-endian): per-node or per-hour counters packed densely,
/// summed over ranges in one round trip. Slots past the end read as 0; writing one grows the
/// string with zero bytes, up to the backend's value size limit.
pub struct PackedInts<I> {
    pub(crate) leaf: Leaf,
    _int: PhantomData<fn() -> I>,
}

handle_impls!(PackedInts<I> { _int });

impl<I: PackedInt> PackedInts<I> {
    fn narrow(&self, value: i64) -> Result<I> {
        I::from_i64(value).ok_or_else(|| Error::Decode {
            key: self.leaf.key.clone(),
            message: format!("the backend returned {value}, out of range for {}", I::TYPE),
        })
    }

    pub(crate) fn check_slot(&self, index: u64) -> Result<()> {
        check_len(
            &self.leaf,
            index.saturating_add(1).saturating_mul(I::TYPE.bytes()),
        )
    }

    /// The integer at slot `index` (`BITFIELD key GET <type> #index`); 0 past the end.
    pub async fn get(&self, index: u64) -> Result<I> {
        let (reply, command) = run(&self.leaf, BitsOp::FieldGet { ty: I::TYPE, index }).await?;
        self.narrow(reply.into_int(&command)?)
    }

    /// Sets slot `index` to `value` (`BITFIELD key SET <type> #index value`) and returns the
    /// previous value. A string created here gets the field's default TTL.
    pub async fn set(&self, index: u64, value: I) -> Result<I> {
        self.check_slot(index)?;
        let (reply, command) = run(
            &self.leaf,
            BitsOp::FieldSet {
                ty: I::TYPE,
                index,
                value: value.to_i64(),
                ttl_if_created: self.leaf.ttl,
            },
        )
        .await?;
        self.narrow(reply.into_int(&command)?)
    }

    /// Atomically adds `by` to slot `index` and returns the new value (`BITFIELD key OVERFLOW
    /// FAIL INCRBY <type> #index by`). A result out of `I`'s range is [`Error::Overflow`] and
    /// changes nothing (the string does not even grow).
    pub async fn increment(&self, index: u64, by: I) -> Result<I> {
        self.check_slot(index)?;
        let (reply, command) = run(
            &self.leaf,
            BitsOp::FieldIncrement {
                ty: I::TYPE,
                index,
                by: by.to_i64(),
                ttl_if_created: self.leaf.ttl,
            },
        )
        .await?;
        self.narrow(reply.into_int(&command)?)
    }

    /// The sum of slots `start..end` (end exclusive; slots past the end count 0), read in one
    /// round trip. A sum beyond `i64` is [`Error::Overflow`].
    pub async fn sum(&self, start: u64, end: u64) -> Result<i64> {
        let (reply, command) = run(
            &self.leaf,
            BitsOp::FieldSum {
                ty: I::TYPE,
                start,
                end,
            },
        )
        .await?;
        reply.into_int(&command)
    }

    /// The number of slots the stored string holds (its length divided by the width, rounded
    /// up: a string written by someone else may end in a partial slot).
    pub async fn len(&self) -> Result<u64> {
        let (reply, command) = run(&self.leaf, BitsOp::Len).await?;
        let bytes = reply.into_len(&command)? as u64;
        Ok(bytes.div_ceil(I::TYPE.bytes()))
    }

    /// Whether no slot is stored.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Removes the whole array; returns whether it existed.
    pub async fn clear(&self) -> Result<bool> {
        self.leaf.remove().await
    }

    /// Watches the array: every stored slot first (as many as [`len`](Self::len)); then after
    /// each change (empty once removed or expired). Coalescing, errors and reconnection as for
    /// [`Item::watch`](crate::Item::watch).
    pub fn watch(&self) -> impl Stream<Item = Result<Vec<I>>> + Send + 'static {
        let key = self.leaf.key().map(str::to_owned);
        let watch = KeyWatch::new(self.leaf.ctx.clone(), key, WatchRead::String);
        futures_util::stream::unfold(watch, |mut watch| async move {
            let next = watch
                .next_value()
                .await?
                .map(|bytes| slots::<I>(&bytes.unwrap_or_default()));
            Some((next, watch))
        })
    }

    key_methods!();
}

// Any bytes are valid packed integers; only a key of another kind is a problem.
strings_audit!(PackedInts<I: PackedInt>, |_, _| Verdict::Valid);

leaf_node!(
    PackedInts<I: PackedInt>,
    "packed_ints",
    None,
    Some(("int", serde_json::Value::from(I::TYPE.to_string()))),
    { _int: PhantomData }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_slots_decode_as_redis_reads_them() {
        assert_eq!(set_bits(&[0b1000_0001, 0, 0b0100_0000]), [0, 7, 17]);
        assert_eq!(slots::<i16>(&[0xff, 0xfe, 0x00, 0x05]), [-2, 5]);
        assert_eq!(
            slots::<u16>(&[0xff, 0xfe, 0x01]),
            [65534, 256],
            "a partial slot: 0-padded"
        );
        assert_eq!(slots::<i8>(&[0x80, 0x7f]), [-128, 127]);
        assert_eq!(slots::<u32>(&[0, 0, 1, 0]), [256]);
        assert_eq!(slots::<i64>(&[0xff; 8]), [-1]);
    }
}

//! Strings read as bits or as arrays of fixed-width integers (Redis `SETBIT`, `BITCOUNT`,
//! `BITFIELD`, `bitops.c`): [`BitsOp`] and [`IntType`].

use std::fmt;
use std::time::Duration;

/// The highest bit offset Redis can address in a string (`2^32 - 1`: 512 MiB of bits).
pub(crate) const MAX_BIT_OFFSET: u64 = u32::MAX as u64;

/// A fixed-width integer type of [`BitsOp`]'s field operations: `BITFIELD`'s `i8`, `u16`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntType {
    /// Width in bits: 8, 16, 32 or 64 (64 only signed).
    pub bits: u8,
    /// Whether it is signed.
    pub signed: bool,
}

impl IntType {
    /// The width in bytes.
    pub fn bytes(self) -> u64 {
        u64::from(self.bits / 8)
    }

    /// The smallest value.
    pub fn min(self) -> i64 {
        if self.signed {
            i64::MIN >> (64 - u32::from(self.bits))
        } else {
            0
        }
    }

    /// The largest value.
    pub fn max(self) -> i64 {
        if self.signed {
            i64::MAX >> (64 - u32::from(self.bits))
        } else {
            ((1u64 << self.bits) - 1) as i64
        }
    }

    /// `Ok` when `value` fits the type; [`Error::Overflow`](crate::Error::Overflow) naming `key`
    /// otherwise.
    pub fn check(self, key: &str, value: i64) -> crate::Result<i64> {
        if (self.min()..=self.max()).contains(&value) {
            Ok(value)
        } else {
            Err(crate::Error::Overflow {
                key: key.to_owned(),
            })
        }
    }

    /// Decodes the slot at the start of `bytes`, zero-padded when they are shorter than a slot
    /// (a slot past the end of a string reads as 0, a cut one as its bytes followed by zeros).
    pub fn decode_padded(self, bytes: &[u8]) -> i64 {
        let width = self.bytes() as usize;
        let mut buf = [0u8; 8];
        let n = bytes.len().min(width);
        buf[..n].copy_from_slice(&bytes[..n]);
        self.decode(&buf[..width])
    }

    /// Decodes one big-endian slot of [`IntType::bytes`] bytes.
    pub fn decode(self, slot: &[u8]) -> i64 {
        let mut raw = 0u64;
        for byte in slot {
            raw = (raw << 8) | u64::from(*byte);
        }
        if self.signed && self.bits < 64 {
            let shift = 64 - u32::from(self.bits);
            ((raw << shift) as i64) >> shift
        } else {
            raw as i64
        }
    }

    /// Encodes `value` (in range) as one big-endian slot.
    pub fn encode(self, value: i64, slot: &mut [u8]) {
        let mut raw = value as u64;
        for byte in slot.iter_mut().rev() {
            *byte = raw as u8;
            raw >>= 8;
        }
    }
}

impl fmt::Display for IntType {
    /// `BITFIELD`'s name of the type: `i8`, `u16`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.signed { 'i' } else { 'u' }, self.bits)
    }
}

/// An operation on the string at a key read as bits or as an array of fixed-width integers.
/// Slot `index` of an [`IntType`] of `w` bits is the big-endian bits `index * w .. (index + 1) *
/// w` (`BITFIELD`'s `#index`); bits and slots past the end read as 0, and writing one grows the
/// string with zero bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitsOp {
    /// The bit at `offset` (`GETBIT`). Reply: [`Reply::Bool`](super::Reply::Bool).
    Get {
        /// The bit's offset (0: the highest bit of the first byte).
        offset: u64,
    },
    /// Sets the bit at `offset` (`SETBIT`); a string created here gets `ttl_if_created`.
    /// Reply: [`Reply::Bool`](super::Reply::Bool), the previous bit.
    Set {
        /// The bit's offset.
        offset: u64,
        /// The new bit.
        bit: bool,
        /// The TTL of a string created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// The number of set bits (`BITCOUNT`). Reply: [`Reply::Len`](super::Reply::Len).
    Count,
    /// Slot `index` (`BITFIELD key GET <ty> #index`). Reply: [`Reply::Int`](super::Reply::Int).
    FieldGet {
        /// The integer type.
        ty: IntType,
        /// The slot.
        index: u64,
    },
    /// Sets slot `index` (`BITFIELD key SET <ty> #index value`). Reply:
    /// [`Reply::Int`](super::Reply::Int), the previous value.
    FieldSet {
        /// The integer type.
        ty: IntType,
        /// The slot.
        index: u64,
        /// The new value (within the type's range).
        value: i64,
        /// The TTL of a string created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// Adds `by` to slot `index` (`BITFIELD key OVERFLOW FAIL INCRBY <ty> #index by`); a result
    /// out of the type's range is [`Error::Overflow`](crate::Error::Overflow) and changes
    /// nothing. Reply: [`Reply::Int`](super::Reply::Int), the new value.
    FieldIncrement {
        /// The integer type.
        ty: IntType,
        /// The slot.
        index: u64,
        /// What to add.
        by: i64,
        /// The TTL of a string created by this call.
        ttl_if_created: Option<Duration>,
    },
    /// The sum of slots `start..end` (end exclusive), in one read (`GETRANGE` of their bytes);
    /// a sum beyond `i64` is [`Error::Overflow`](crate::Error::Overflow). Reply:
    /// [`Reply::Int`](super::Reply::Int).
    FieldSum {
        /// The integer type.
        ty: IntType,
        /// The first slot.
        start: u64,
        /// The slot after the last.
        end: u64,
    },
    /// The length of the string in bytes (`STRLEN`). Reply: [`Reply::Len`](super::Reply::Len).
    Len,
}

impl BitsOp {
    pub(crate) fn index(&self) -> usize {
        match self {
            BitsOp::Get { .. } => 0,
            BitsOp::Set { .. } => 1,
            BitsOp::Count => 2,
            BitsOp::FieldGet { .. } => 3,
            BitsOp::FieldSet { .. } => 4,
            BitsOp::FieldIncrement { .. } => 5,
            BitsOp::FieldSum { .. } => 6,
            BitsOp::Len => 7,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self,
            BitsOp::Set { .. } | BitsOp::FieldSet { .. } | BitsOp::FieldIncrement { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_types_round_trip_big_endian() {
        let i16t = IntType {
            bits: 16,
            signed: true,
        };
        let mut slot = [0u8; 2];
        i16t.encode(-2, &mut slot);
        assert_eq!(slot, [0xff, 0xfe]);
        assert_eq!(i16t.decode(&slot), -2);
        assert_eq!((i16t.min(), i16t.max()), (-32768, 32767));
        let u8t = IntType {
            bits: 8,
            signed: false,
        };
        assert_eq!((u8t.min(), u8t.max()), (0, 255));
        assert_eq!(u8t.decode(&[0xff]), 255);
        let i64t = IntType {
            bits: 64,
            signed: true,
        };
        assert_eq!((i64t.min(), i64t.max()), (i64::MIN, i64::MAX));
        let mut slot = [0u8; 8];
        i64t.encode(i64::MIN, &mut slot);
        assert_eq!(i64t.decode(&slot), i64::MIN);
        assert_eq!(i16t.to_string(), "i16");
        assert_eq!(
            IntType {
                bits: 32,
                signed: false
            }
            .to_string(),
            "u32"
        );
    }
}

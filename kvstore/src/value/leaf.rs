//! The encodings of stored leaves: JSON text, decimal integers, raw bytes.
//!
//! Every node type stores its values (an item's value, a set's members, a counter) through one
//! [`LeafCodec`], which encodes a value for a key (validating it and checking the size limit)
//! and decodes stored bytes (validating them), with errors that name the key.

use std::marker::PhantomData;

use super::codec::{check_size, codec, Codec, Storable};
use crate::error::{Error, Result};

/// How the values of a node are stored.
pub(crate) trait LeafCodec: Copy + Send + Sync + 'static {
    /// The value type handles take and return.
    type Value: ?Sized;
    /// What decoding returns.
    type Owned;

    /// The bytes to store for `value` at `key`: validated, and refused over `max_size` bytes.
    fn encode(&self, key: &str, value: &Self::Value, max_size: usize) -> Result<Vec<u8>>;

    /// The value stored at `key`, validated.
    fn decode(&self, key: &str, bytes: &[u8]) -> Result<Self::Owned>;
}

/// JSON text of a [`Storable`] type, validated against its schema both ways.
pub(crate) struct Json<T> {
    codec: &'static Codec,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Json<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Json<T> {}

impl<T: Storable> Json<T> {
    /// The JSON codec of `T` (its schema compiled once per process).
    pub(crate) fn new() -> Json<T> {
        Json::with(codec::<T>())
    }

    /// The compiled schema of `T`.
    pub(crate) fn codec(&self) -> &'static Codec {
        self.codec
    }

    /// The JSON codec over an already looked-up [`Codec`] of `T`.
    pub(crate) fn with(codec: &'static Codec) -> Json<T> {
        Json {
            codec,
            _value: PhantomData,
        }
    }
}

impl<T: Storable> LeafCodec for Json<T> {
    type Value = T;
    type Owned = T;

    fn encode(&self, key: &str, value: &T, max_size: usize) -> Result<Vec<u8>> {
        self.codec.encode(key, value, max_size)
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<T> {
        self.codec.decode(key, bytes)
    }
}

/// A 64-bit integer as decimal text (what Redis `INCRBY` reads and writes).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Decimal;

impl Decimal {
    /// Redis's strict integer parsing: an optional `-`, no `+`, no leading zeros, fits an `i64`.
    pub(crate) fn parse(bytes: &[u8]) -> Option<i64> {
        let s = std::str::from_utf8(bytes).ok()?;
        let n: i64 = s.parse().ok()?;
        (n.to_string() == s).then_some(n)
    }
}

impl LeafCodec for Decimal {
    type Value = i64;
    type Owned = i64;

    fn encode(&self, _key: &str, value: &i64, _max_size: usize) -> Result<Vec<u8>> {
        Ok(value.to_string().into_bytes())
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<i64> {
        Decimal::parse(bytes).ok_or_else(|| Error::Decode {
            key: key.to_owned(),
            message: format!(
                "expected a decimal 64-bit integer, found {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
            ),
        })
    }
}

/// Raw bytes, stored as they are (no validation; only the size limit).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Raw;

impl LeafCodec for Raw {
    type Value = [u8];
    type Owned = Vec<u8>;

    fn encode(&self, key: &str, value: &[u8], max_size: usize) -> Result<Vec<u8>> {
        check_size(key, value.len(), max_size)?;
        Ok(value.to_vec())
    }

    fn decode(&self, _key: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decimal_parsing() {
        assert_eq!(Decimal::parse(b"42"), Some(42));
        assert_eq!(Decimal::parse(b"-42"), Some(-42));
        for bad in [
            &b"+1"[..],
            b"01",
            b"-0",
            b" 1",
            b"1.0",
            b"",
            b"99999999999999999999",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        assert!(matches!(
            Decimal.decode("k", b"x"),
            Err(Error::Decode { key, .. }) if key == "k"
        ));
    }

    #[test]
    fn raw_checks_the_size() {
        assert_eq!(Raw.encode("k", b"abc", 3).unwrap(), b"abc");
        assert!(Raw.encode("k", b"abcd", 3).is_err());
    }
}

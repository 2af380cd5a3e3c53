//! Ids: how an id becomes one key segment, and back.
//!
//! In an id, `%` `:` `*` `?` `[` `]` `\\` `{` `}` and ASCII control characters (and DEL) are
//! percent-encoded as `%XX` (uppercase hex of the UTF-8 byte); everything else, spaces and
//! non-ASCII included, is kept as is. So an encoded id never contains a separator, a glob
//! metacharacter or a hash-tag brace, and decoding is exact.

use std::fmt::Write as _;

use crate::error::InvalidKeyReason;

/// Whether `c` is percent-encoded in an id.
pub(crate) fn must_escape(c: char) -> bool {
    c.is_ascii() && ESCAPED[c as usize]
}

const fn escapes(b: u8) -> bool {
    matches!(
        b,
        b'%' | b':' | b'*' | b'?' | b'[' | b']' | b'\\' | b'{' | b'}'
    ) || b.is_ascii_control()
}

/// Appends the encoded form of `id` to `out`.
pub fn encode_id_into(id: &str, out: &mut String) {
    // Every escaped char is ASCII (one byte, never inside a multi-byte UTF-8 sequence): a byte
    // scan finds them, and the slices between them stay on char boundaries.
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = id.as_bytes();
    let Some(first) = bytes.iter().position(|&b| ESCAPED[usize::from(b)]) else {
        // The common case: nothing to escape.
        out.push_str(id);
        return;
    };
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        if ESCAPED[usize::from(b)] {
            out.push_str(&id[start..i]);
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
            start = i + 1;
        }
    }
    out.push_str(&id[start..]);
}

/// Whether each byte is escaped (never the bytes of multi-byte characters, all >= 0x80).
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 128 {
        table[i] = escapes(i as u8);
        i += 1;
    }
    table
};

/// The encoded form of `id`.
pub fn encode_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    encode_id_into(id, &mut out);
    out
}

/// Decodes an encoded id; `None` if `segment` is not the output of [`encode_id`] (a raw
/// character that should have been escaped, a bad or needless escape).
pub fn decode_id(segment: &str) -> Option<String> {
    // The common case, one byte scan: nothing escaped (not even `%`), nothing to decode.
    if !segment.bytes().any(|b| ESCAPED[usize::from(b)]) {
        return Some(segment.to_owned());
    }
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '%' {
            let hex = segment.get(i + 1..i + 3)?;
            if !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            {
                return None;
            }
            let byte = u8::from_str_radix(hex, 16).ok()?;
            let decoded = byte as char;
            if !byte.is_ascii() || !must_escape(decoded) {
                return None;
            }
            out.push(decoded);
            chars.next();
            chars.next();
        } else if must_escape(c) {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// A type that can be the id of a [`Dynamic`](crate::Dynamic): `String`, `u64`, `i64`, `u32`,
/// `u128` (and `uuid::Uuid` with the `uuid` feature); also the field type of a
/// [`MapOf`](crate::MapOf).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an id type",
    label = "not an id type",
    note = "the ids of a `Dynamic` and the fields of a `MapOf` are `String`, `u64`, `i64`, `u32` or `u128` (or `uuid::Uuid` with kvstore's `uuid` feature)"
)]
pub trait Id: IntoId<Self> + Sized + Send + Sync + 'static {
    /// Appends the encoded id to `out`; an error for an id that cannot be a key segment.
    fn encode_into(&self, out: &mut String) -> Result<(), InvalidKeyReason>;
    /// Decodes a key segment written by [`Id::encode_into`]; `None` if it is not one.
    fn decode(segment: &str) -> Option<Self>;
}

/// What `at(id)` and friends accept for an id of type `K`: `&str`, `&String` or `String` for
/// `String` ids, the id type itself (or a reference to it) for the others.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an id of type `{K}`",
    label = "expected an id of type `{K}`",
    note = "a `Dynamic<_, {K}>` is addressed by `{K}` ids (`&str`/`String` for `String`)"
)]
pub trait IntoId<K> {
    /// Appends the encoded id to `out`.
    fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason>;
}

impl Id for String {
    fn encode_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        self.as_str().encode_id_into(out)
    }
    fn decode(segment: &str) -> Option<Self> {
        decode_id(segment)
    }
}

impl IntoId<String> for str {
    fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        if self.is_empty() {
            return Err(InvalidKeyReason::EmptyId);
        }
        encode_id_into(self, out);
        Ok(())
    }
}

impl IntoId<String> for &str {
    fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        (**self).encode_id_into(out)
    }
}

impl IntoId<String> for String {
    fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        self.as_str().encode_id_into(out)
    }
}

impl IntoId<String> for &String {
    fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        self.as_str().encode_id_into(out)
    }
}

macro_rules! integer_ids {
    ($($t:ty),*) => {$(
        impl Id for $t {
            fn encode_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
                let _ = write!(out, "{self}");
                Ok(())
            }
            fn decode(segment: &str) -> Option<Self> {
                // Only the canonical decimal form, so that every key has exactly one id.
                is_canonical_integer(segment).then(|| segment.parse().ok()).flatten()
            }
        }
        impl IntoId<$t> for $t {
            fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
                Id::encode_into(self, out)
            }
        }
        impl IntoId<$t> for &$t {
            fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
                Id::encode_into(*self, out)
            }
        }
    )*};
}

integer_ids!(u64, i64, u32, u128);

/// `0`, or an optional `-` and a digit string without a leading zero (not `-0`).
fn is_canonical_integer(segment: &str) -> bool {
    let digits = segment.strip_prefix('-').unwrap_or(segment);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" && digits.len() == segment.len() || !digits.starts_with('0'))
}

#[cfg(feature = "uuid")]
impl Id for uuid::Uuid {
    fn encode_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        let _ = write!(out, "{}", self.hyphenated());
        Ok(())
    }
    fn decode(segment: &str) -> Option<Self> {
        let id = uuid::Uuid::parse_str(segment).ok()?;
        (id.hyphenated().to_string() == segment).then_some(id)
    }
}

#[cfg(feature = "uuid")]
impl IntoId<uuid::Uuid> for uuid::Uuid {
    fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        Id::encode_into(self, out)
    }
}

#[cfg(feature = "uuid")]
impl IntoId<uuid::Uuid> for &uuid::Uuid {
    fn encode_id_into(&self, out: &mut String) -> Result<(), InvalidKeyReason> {
        Id::encode_into(*self, out)
    }
}

//! Key layout and id encoding.
//!
//! A key is segments joined by `:` — the root prefix, then field names (or their `rename`), then
//! encoded ids: `shop:u:alice`, `shop:tenants:acme:config`, `shop:views:42`. A colocated
//! `Dynamic` wraps its id in a Redis hash tag: `shop:tenants:{acme}:config`.
//!
//! In an id, `%` `:` `*` `?` `[` `]` `\` `{` `}` and ASCII control characters (and DEL) are
//! percent-encoded as `%XX` (uppercase hex of the UTF-8 byte); everything else, spaces and
//! non-ASCII included, is kept as is. So an encoded id never contains a separator, a glob
//! metacharacter or a hash-tag brace, and decoding is exact.

use std::fmt::Write as _;

use crate::error::InvalidKeyReason;

/// The separator between key segments.
pub const SEPARATOR: char = ':';

fn must_escape(c: char) -> bool {
    matches!(c, '%' | ':' | '*' | '?' | '[' | ']' | '\\' | '{' | '}') || c.is_ascii_control()
}

/// Appends the encoded form of `id` to `out`.
pub fn encode_id_into(id: &str, out: &mut String) {
    let mut rest = id;
    while let Some(pos) = rest.find(must_escape) {
        out.push_str(&rest[..pos]);
        let c = rest[pos..].chars().next().expect("found a char at pos");
        // Every escaped char is ASCII: one byte.
        let _ = write!(out, "%{:02X}", c as u32);
        rest = &rest[pos + c.len_utf8()..];
    }
    out.push_str(rest);
}

/// The encoded form of `id`.
pub fn encode_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    encode_id_into(id, &mut out);
    out
}

/// Decodes an encoded id; `None` if `segment` is not the output of [`encode_id`] (a raw
/// character that should have been escaped, a bad or needless escape).
pub fn decode_id(segment: &str) -> Option<String> {
    if !segment.contains('%') {
        return if segment.contains(must_escape) {
            None
        } else {
            Some(segment.to_owned())
        };
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

/// Escapes a literal key prefix for a Redis `SCAN MATCH` glob and appends `*`.
///
/// Static names never contain glob characters and ids are encoded, but a root prefix may come
/// from anywhere, so every glob metacharacter is backslash-escaped anyway.
pub fn scan_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

/// Whether `name` is a valid static segment: `[A-Za-z0-9_.-]+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `prefix` is a valid root prefix: valid names joined by `:`.
pub fn is_valid_prefix(prefix: &str) -> bool {
    prefix.split(SEPARATOR).all(is_valid_name)
}

/// A type that can be the id of a [`Dynamic`](crate::Dynamic): `String`, `u64`, `i64`, `u32`,
/// `u128` (and `uuid::Uuid` with the `uuid` feature).
pub trait Id: Sized + Send + Sync + 'static {
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

/// A key under construction: the encoded key so far, plus what the next segment needs to know.
///
/// Built by generated code (`child`, `colocate`) and by `Dynamic` (ids). An invalid id does not
/// fail at `at(id)`: the path remembers the problem and every operation on a handle beneath it
/// returns [`Error::InvalidKey`](crate::Error::InvalidKey).
#[derive(Clone, Debug)]
pub struct KeyPath {
    key: String,
    colocate: bool,
    tagged: bool,
    error: Option<InvalidKeyReason>,
}

impl KeyPath {
    /// The root of a store with this prefix (`""` for none).
    pub fn root(prefix: &str) -> KeyPath {
        KeyPath {
            key: prefix.to_owned(),
            colocate: false,
            tagged: false,
            error: (!prefix.is_empty() && !is_valid_prefix(prefix))
                .then(|| InvalidKeyReason::BadName(prefix.to_owned())),
        }
    }

    /// The path of a static child segment (a field name).
    pub fn child(&self, name: &str) -> KeyPath {
        let mut key = String::with_capacity(self.key.len() + 1 + name.len());
        key.push_str(&self.key);
        if !key.is_empty() {
            key.push(SEPARATOR);
        }
        key.push_str(name);
        let error = self
            .error
            .clone()
            .or_else(|| (!is_valid_name(name)).then(|| InvalidKeyReason::BadName(name.to_owned())));
        KeyPath {
            key,
            colocate: false,
            tagged: self.tagged,
            error,
        }
    }

    /// Marks the path so that the id appended next is wrapped in a hash tag (`{id}`), unless the
    /// key already has one.
    pub fn colocate(mut self) -> KeyPath {
        self.colocate = !self.tagged;
        self
    }

    /// Whether the next id is wrapped in a hash tag.
    pub fn is_colocated(&self) -> bool {
        self.colocate
    }

    /// The path of an id segment.
    pub fn with_id<K, I: IntoId<K> + ?Sized>(&self, id: &I, max_key_len: usize) -> KeyPath {
        let mut key = String::with_capacity(self.key.len() + 24);
        key.push_str(&self.key);
        if !key.is_empty() {
            key.push(SEPARATOR);
        }
        if self.colocate {
            key.push('{');
        }
        let mut error = self.error.clone();
        if let Err(e) = id.encode_id_into(&mut key) {
            error.get_or_insert(e);
        }
        if self.colocate {
            key.push('}');
        }
        if key.len() > max_key_len {
            error.get_or_insert(InvalidKeyReason::KeyTooLong {
                len: key.len(),
                limit: max_key_len,
            });
        }
        KeyPath {
            key,
            colocate: false,
            tagged: self.tagged || self.colocate,
            error,
        }
    }

    /// The pattern of an id segment, for manifests: `*`, or `{*}` when colocated.
    pub fn with_id_pattern(&self) -> KeyPath {
        let mut key = self.key.clone();
        if !key.is_empty() {
            key.push(SEPARATOR);
        }
        key.push_str(if self.colocate { "{*}" } else { "*" });
        KeyPath {
            key,
            colocate: false,
            tagged: self.tagged || self.colocate,
            error: None,
        }
    }

    /// The key (or pattern) built so far.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The first problem found while building the path.
    pub fn error(&self) -> Option<&InvalidKeyReason> {
        self.error.as_ref()
    }

    /// Splits into the key and its problem.
    pub fn into_parts(self) -> (String, Option<InvalidKeyReason>) {
        (self.key, self.error)
    }
}

/// Splits the id segment at the start of `tail` (the part of a key after a `Dynamic`'s prefix and
/// separator) from the rest; strips a hash tag. `None` if the segment is empty.
pub(crate) fn split_id_segment(tail: &str) -> Option<(&str, Option<&str>)> {
    let (seg, rest) = match tail.split_once(SEPARATOR) {
        Some((seg, rest)) => (seg, Some(rest)),
        None => (tail, None),
    };
    let seg = seg
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(seg);
    (!seg.is_empty()).then_some((seg, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_hostile_ids() {
        let ids = [
            "alice",
            "a:b",
            "a*b?c[d]e\\f",
            "{tag}",
            "100%",
            "%3A",
            "sp ace",
            "ünïcødé ✓",
            "nul\0ctl\x07\x1f\x7f",
            "::::",
            "%",
        ];
        for id in ids {
            let enc = encode_id(id);
            assert!(enc.chars().all(|c| c == '%' || !must_escape(c)), "{enc:?}");
            assert_eq!(decode_id(&enc).as_deref(), Some(id), "{id:?} -> {enc:?}");
        }
        assert_eq!(encode_id("a:b"), "a%3Ab");
        assert_eq!(encode_id("x y"), "x y");
    }

    #[test]
    fn decode_rejects_non_canonical() {
        for bad in ["a:b", "%", "%3", "%zz", "%3a", "%41", "a*", "{x}", "%E2"] {
            assert_eq!(decode_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integer_ids_are_canonical() {
        assert_eq!(<u64 as Id>::decode("42"), Some(42));
        assert_eq!(<u64 as Id>::decode("042"), None);
        assert_eq!(<u64 as Id>::decode("+42"), None);
        assert_eq!(<i64 as Id>::decode("-7"), Some(-7));
        assert_eq!(<i64 as Id>::decode("0"), Some(0));
        assert_eq!(<i64 as Id>::decode("-0"), None);
        assert_eq!(<i64 as Id>::decode("-"), None);
        assert_eq!(<u64 as Id>::decode("-1"), None);
        assert_eq!(<u64 as Id>::decode(""), None);
        assert_eq!(<u64 as Id>::decode("00"), None);
        assert_eq!(<u32 as Id>::decode("4294967296"), None);
        assert_eq!(
            <u128 as Id>::decode(&u128::MAX.to_string()),
            Some(u128::MAX)
        );
    }

    #[test]
    fn paths() {
        let root = KeyPath::root("shop");
        let u = root.child("u");
        assert_eq!(u.with_id::<String, _>("a:b", 1024).as_str(), "shop:u:a%3Ab");
        let t = root.child("tenants").colocate();
        let acme = t.with_id::<String, _>("acme", 1024);
        assert_eq!(acme.child("config").as_str(), "shop:tenants:{acme}:config");
        // A nested colocate inside a tagged key adds no second tag.
        let inner = acme.child("x").colocate().with_id::<u64, _>(&7, 1024);
        assert_eq!(inner.as_str(), "shop:tenants:{acme}:x:7");
        assert_eq!(
            t.with_id_pattern().child("config").as_str(),
            "shop:tenants:{*}:config"
        );
        assert_eq!(
            root.child("u").with_id::<String, _>("", 1024).error(),
            Some(&InvalidKeyReason::EmptyId)
        );
        let long = "x".repeat(2000);
        assert!(matches!(
            root.with_id::<String, _>(long.as_str(), 1024).error(),
            Some(InvalidKeyReason::KeyTooLong { .. })
        ));
        assert_eq!(KeyPath::root("").child("a").as_str(), "a");
        assert!(KeyPath::root("bad prefix").error().is_some());
        assert!(KeyPath::root("app:v1").error().is_none());
    }

    #[test]
    fn scan_patterns_escape_globs() {
        assert_eq!(scan_pattern("shop:u:"), "shop:u:*");
        assert_eq!(scan_pattern("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
    }

    #[test]
    fn id_segments() {
        assert_eq!(split_id_segment("a:b:c"), Some(("a", Some("b:c"))));
        assert_eq!(split_id_segment("{a}:b"), Some(("a", Some("b"))));
        assert_eq!(split_id_segment("a"), Some(("a", None)));
        assert_eq!(split_id_segment(""), None);
    }
}

//! The key layout: the only place that builds, parses and checks keys.
//!
//! A key is segments joined by `:` — the root prefix, then field names (or their `rename`), then
//! encoded ids: `shop:u:alice`, `shop:tenants:acme:config`, `shop:views:42`. A colocated
//! `Dynamic` wraps its id in a Redis hash tag: `shop:tenants:{acme}:config`.
//!
//! - [`KeyPath`] builds keys (static segments, ids, hash tags) and checks them once, when a
//!   handle's key is final ([`KeyPath::into_key`]): bad names, empty ids, keys over the length
//!   limit.
//! - The id codec ([`encode_id`], [`decode_id`], the [`Id`] types) turns ids into segments and
//!   back: see the `id` module docs for the escaping rules.
//! - The parsers ([`split_static_segment`], [`split_id_segment`]) take a stored key apart again,
//!   so that `Dynamic::keys()` and the generated layout checks route a key to the node that owns
//!   it.
//! - The static-name rules ([`is_valid_name`], [`is_valid_prefix`]) are shared with the derive,
//!   which checks them at compile time.

mod id;
mod names;

pub use id::{decode_id, encode_id, Id, IntoId};
pub use names::{is_valid_name, is_valid_prefix, SEPARATOR};

use crate::error::InvalidKeyReason;

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
    /// The longest key the backend takes (see [`KeyPath::with_limit`]).
    limit: usize,
}

/// The one key-length rule: an encoded key over `limit` bytes is `InvalidKey` (`KeyTooLong`).
fn too_long(key: &str, limit: usize) -> Option<InvalidKeyReason> {
    (key.len() > limit).then_some(InvalidKeyReason::KeyTooLong {
        len: key.len(),
        limit,
    })
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
            limit: crate::backend::Limits::DEFAULT_MAX_KEY_LEN,
        }
    }

    /// This path with the backend's key-length limit, checked after every id (so that the
    /// first problem along the path is the one reported) and on the finished key.
    pub fn with_limit(mut self, max_key_len: usize) -> KeyPath {
        self.limit = max_key_len;
        self
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
            limit: self.limit,
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
    pub fn with_id<K, I: IntoId<K> + ?Sized>(&self, id: &I) -> KeyPath {
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
        if error.is_none() {
            error = too_long(&key, self.limit);
        }
        KeyPath {
            key,
            colocate: false,
            tagged: self.tagged || self.colocate,
            error,
            limit: self.limit,
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
            limit: self.limit,
        }
    }

    /// The literal prefix of every key below this path's next id segment: the path and `:`
    /// (nothing for an empty path). What a stored key's [`split_id_segment`] tail follows.
    pub fn id_prefix(&self) -> String {
        let mut prefix = String::with_capacity(self.key.len() + 2);
        prefix.push_str(&self.key);
        if !prefix.is_empty() {
            prefix.push(SEPARATOR);
        }
        prefix
    }

    /// The literal prefix to scan for every key below this path's next id segment: the
    /// [`id_prefix`](KeyPath::id_prefix), and `{` when the next id is colocated.
    pub fn scan_prefix(&self) -> String {
        let mut prefix = self.id_prefix();
        if self.colocate {
            prefix.push('{');
        }
        prefix
    }

    /// The key (or pattern) built so far.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The first problem found while building the path.
    pub fn error(&self) -> Option<&InvalidKeyReason> {
        self.error.as_ref()
    }

    /// The finished key and its first problem: a bad name, an empty id, or — checked here, the
    /// one place keys are measured — an encoded key longer than `max_key_len` bytes.
    pub fn into_key(self, max_key_len: usize) -> (String, Option<InvalidKeyReason>) {
        let error = self.checked_error(max_key_len);
        (self.key, error)
    }

    /// The first problem of this path as a key (see [`KeyPath::into_key`]), without consuming it.
    pub fn checked_error(&self, max_key_len: usize) -> Option<InvalidKeyReason> {
        match &self.error {
            Some(reason) => Some(reason.clone()),
            None => too_long(&self.key, max_key_len),
        }
    }
}

/// Splits the static segment (a field name) at the start of `tail` from the rest of the key.
pub fn split_static_segment(tail: &str) -> (&str, Option<&str>) {
    match tail.split_once(SEPARATOR) {
        Some((first, rest)) => (first, Some(rest)),
        None => (tail, None),
    }
}

/// An id segment taken off the front of a stored key by [`split_id_segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSegment<'k> {
    /// The encoded id (without its hash-tag braces).
    pub encoded: &'k str,
    /// Whether it was wrapped in a hash tag (`{id}`).
    pub tagged: bool,
    /// What follows the segment and its `:` (`None`: nothing, the key ends there).
    pub rest: Option<&'k str>,
}

/// Splits the id segment at the start of `tail` (the part of a key after a `Dynamic`'s path and
/// its `:`) from the rest: `{id}` (a hash tag, which must end the key or be followed by `:`) or a
/// plain segment up to the next `:`. `None` when it is not a well-formed, non-empty segment.
pub fn split_id_segment(tail: &str) -> Option<IdSegment<'_>> {
    let (encoded, tagged, rest) = match tail.strip_prefix('{') {
        Some(inner) => {
            let close = inner.find('}')?;
            let rest = match &inner[close + 1..] {
                "" => None,
                after => Some(after.strip_prefix(SEPARATOR)?),
            };
            (&inner[..close], true, rest)
        }
        None => {
            let (segment, rest) = split_static_segment(tail);
            (segment, false, rest)
        }
    };
    (!encoded.is_empty()).then_some(IdSegment {
        encoded,
        tagged,
        rest,
    })
}

#[cfg(test)]
mod tests {
    use super::id::must_escape;
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
        assert_eq!(u.with_id::<String, _>("a:b").as_str(), "shop:u:a%3Ab");
        let t = root.child("tenants").colocate();
        let acme = t.with_id::<String, _>("acme");
        assert_eq!(acme.child("config").as_str(), "shop:tenants:{acme}:config");
        // A nested colocate inside a tagged key adds no second tag.
        let inner = acme.child("x").colocate().with_id::<u64, _>(&7);
        assert_eq!(inner.as_str(), "shop:tenants:{acme}:x:7");
        assert_eq!(
            t.with_id_pattern().child("config").as_str(),
            "shop:tenants:{*}:config"
        );
        assert_eq!(
            root.child("u").with_id::<String, _>("").error(),
            Some(&InvalidKeyReason::EmptyId)
        );
        let long = "x".repeat(2000);
        assert!(matches!(
            root.with_id::<String, _>(long.as_str()).checked_error(1024),
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
        let seg = |encoded, tagged, rest| {
            Some(IdSegment {
                encoded,
                tagged,
                rest,
            })
        };
        assert_eq!(split_id_segment("a:b:c"), seg("a", false, Some("b:c")));
        assert_eq!(split_id_segment("{a}:b"), seg("a", true, Some("b")));
        assert_eq!(split_id_segment("{a}"), seg("a", true, None));
        assert_eq!(split_id_segment("a"), seg("a", false, None));
        assert_eq!(split_id_segment(""), None);
        assert_eq!(split_id_segment("{}"), None);
        assert_eq!(split_id_segment("{a}b"), None);
        assert_eq!(split_id_segment("{a"), None);
        assert_eq!(split_static_segment("a:b:c"), ("a", Some("b:c")));
        assert_eq!(split_static_segment("a"), ("a", None));
    }
}

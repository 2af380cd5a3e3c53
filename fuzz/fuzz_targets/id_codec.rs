//! The id codec: `encode_id` never panics, its output never contains a separator, a glob
//! metacharacter, a hash-tag brace or a control character, and `decode_id` inverts it exactly;
//! `decode_id` of anything never panics and accepts only canonical encodings.
#![no_main]

use kvstore::key::{decode_id, encode_id};
use libfuzzer_sys::fuzz_target;

fn forbidden(c: char) -> bool {
    matches!(c, ':' | '*' | '?' | '[' | ']' | '\\' | '{' | '}') || c.is_ascii_control()
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // Round trip.
    let enc = encode_id(s);
    assert!(!enc.chars().any(forbidden), "{s:?} -> {enc:?}");
    assert_eq!(decode_id(&enc).as_deref(), Some(s), "{s:?} -> {enc:?}");
    // Characters that need no escape are kept as they are.
    if !s.chars().any(|c| forbidden(c) || c == '%') {
        assert_eq!(enc, s);
    }
    // Any segment: no panic; what decodes is canonical (encodes back to the same segment).
    if let Some(dec) = decode_id(s) {
        assert_eq!(encode_id(&dec), s, "{s:?} decoded to {dec:?}");
    }
});

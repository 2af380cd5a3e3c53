//! The fuzz targets of `fuzz/` (cargo-fuzz), as bounded proptests that run in CI.
//!
//! - The id codec: `encode_id` output never holds a separator, glob metacharacter, hash-tag
//!   brace or control character, `decode_id` inverts it exactly, and `decode_id` of any string
//!   never panics and accepts only canonical encodings. Then the same through a real store: any
//!   id is written, listed back by `keys()` exactly, or refused as `InvalidKey`.
//! - Decoding stored bytes of typed values: random bytes, and valid JSON mutated (truncated,
//!   a byte replaced or inserted), read through every read path, give a value or
//!   `Error::Decode` / `Error::Validation` naming the key — and a value read can be written
//!   back and reads back equal.
//!
//! Cases: 2,000 per codec property, 500 per store property; `KVSTORE_FUZZ_CASES=N` for more.
//! And every input of the fuzz targets' shared corpus (`fuzz/corpus/<target>/`: the seeds, and
//! whatever a `cargo fuzz` run found worth keeping and was committed) is replayed here.

use kvstore::backend::BackendExt as _;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use kvstore::key::{decode_id, encode_id};
use kvstore::{Dynamic, Error, InvalidKeyReason, Item, MemoryBackend, SetOf, Storable, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn cases(default: u32) -> Config {
    let cases = std::env::var("KVSTORE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The memory backend never waits: one poll completes every operation.
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory backend never waits"),
    }
}

fn forbidden(c: char) -> bool {
    matches!(c, ':' | '*' | '?' | '[' | ']' | '\\' | '{' | '}') || c.is_ascii_control()
}

/// Strings dense in the characters the codec cares about.
fn hostile_string() -> impl Strategy<Value = String> {
    let alphabet = vec![
        '%', ':', '*', '?', '[', ']', '\\', '{', '}', '\0', '\n', '\x1f', '\x7f', 'a', 'A', 'f',
        'F', '3', '0', 'é', '🦀', ' ', '\u{80}', '\u{feff}',
    ];
    prop::collection::vec(prop::sample::select(alphabet), 0..24)
        .prop_map(|cs| cs.into_iter().collect())
}

/// Candidate encoded segments: `%` followed by anything, hex digits of both cases.
fn segment() -> impl Strategy<Value = String> {
    let pieces = vec![
        "%", "%3A", "%3a", "%2", "%25", "%41", "%7F", "%E2", "%zz", "%00", "a", ":", "{", "}", "é",
        "%%", "3A",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..10).prop_map(|p| p.concat())
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), hostile_string(), segment()]
}

/// The id codec's properties on `s` (the `id_codec` fuzz target's).
fn id_properties(s: &str) -> Result<(), TestCaseError> {
    let enc = encode_id(s);
    prop_assert!(!enc.chars().any(forbidden), "{:?} -> {:?}", s, enc);
    let decoded = decode_id(&enc);
    prop_assert_eq!(decoded.as_deref(), Some(s));
    if !s.chars().any(|c| forbidden(c) || c == '%') {
        prop_assert_eq!(&enc, s);
    }
    // Any segment: what decodes is canonical (encodes back to the same segment).
    if let Some(dec) = decode_id(s) {
        prop_assert_eq!(encode_id(&dec), s);
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn id_codec_round_trips(s in any_string()) {
        id_properties(&s)?;
    }
}

/// Every input in `fuzz/corpus/<target>/`, by file name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file");
            (path.display().to_string(), bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "the corpus {} is empty", dir.display());
    inputs
}

#[test]
fn id_codec_corpus() {
    for (name, data) in corpus("id_codec") {
        if let Ok(s) = std::str::from_utf8(&data) {
            id_properties(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn decode_value_corpus() {
    for (name, data) in corpus("decode_value") {
        decode_all(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Through a store
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(max = 150))]
    age: u32,
    tags: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
enum Shape {
    Circle { r: u32 },
    Square(u16),
    Empty,
}

#[derive(Store)]
struct Fz {
    user: Item<User>,
    shape: Item<Shape>,
    pair: Item<(i64, Option<String>)>,
    value: Item<serde_json::Value>,
    users: Dynamic<Item<User>>,
    nested: Dynamic<Dynamic<Item<u8>>>,
    by_num: Dynamic<Item<u8>, i64>,
    set: SetOf<Shape>,
}

fn check<T: Storable + PartialEq + std::fmt::Debug>(
    item: &Item<T>,
    roundtrip: bool,
) -> Result<(), TestCaseError> {
    match now(item.get()) {
        Ok(Some(v)) => {
            if roundtrip {
                now(item.set(&v)).expect("a value read can be written back");
                prop_assert_eq!(now(item.get()).unwrap(), Some(v));
            }
        }
        Ok(None) => prop_assert!(false, "the key was written"),
        Err(Error::Decode { key, .. } | Error::Validation { key, .. }) => {
            prop_assert_eq!(key, item.key())
        }
        Err(e) => prop_assert!(false, "unexpected error {:?}", e),
    }
    Ok(())
}

fn decode_all(data: &[u8]) -> Result<(), TestCaseError> {
    let backend = MemoryBackend::new();
    let fz = Fz::open_with_prefix(backend.clone(), "fz");
    for key in [
        fz.user().key(),
        fz.shape().key(),
        fz.pair().key(),
        fz.value().key(),
    ] {
        now(backend.set(key, data, Default::default())).unwrap();
    }
    check(&fz.user(), true)?;
    check(&fz.shape(), true)?;
    check(&fz.pair(), true)?;
    // Floats may not round-trip bit for bit through serde_json's default parser.
    check(&fz.value(), false)?;
    let key = fz.users().at("x").key().to_owned();
    now(backend.set(&key, data, Default::default())).unwrap();
    match now(fz.users().get_many(["x", "y"])) {
        Ok(v) => prop_assert!(v[0].is_some() && v[1].is_none()),
        Err(Error::Decode { key: k, .. } | Error::Validation { key: k, .. }) => {
            prop_assert_eq!(k, key)
        }
        Err(e) => prop_assert!(false, "{:?}", e),
    }
    if let Err(e) = now(fz.users().entries()) {
        prop_assert!(
            matches!(e, Error::Decode { .. } | Error::Validation { .. }),
            "{:?}",
            e
        );
    }
    now(backend.set_add(fz.set().key(), data, None)).unwrap();
    if let Err(e) = now(fz.set().members()) {
        prop_assert!(
            matches!(e, Error::Decode { ref key, .. } | Error::Validation { ref key, .. } if key == fz.set().key()),
            "{:?}",
            e
        );
    }
    Ok(())
}

/// Valid stored values of every type, as JSON text.
fn valid_json() -> impl Strategy<Value = Vec<u8>> {
    let user = (
        any_string(),
        prop::sample::select(vec!["a@example.com", "nope", ""]),
        0u32..200,
        prop::collection::vec(any_string(), 0..3),
    )
        .prop_map(|(name, email, age, tags)| {
            serde_json::to_vec(&User {
                name,
                email: email.to_owned(),
                age,
                tags,
            })
            .unwrap()
        });
    let shape = prop_oneof![
        any::<u32>().prop_map(|r| Shape::Circle { r }),
        any::<u16>().prop_map(Shape::Square),
        Just(Shape::Empty),
    ]
    .prop_map(|s| serde_json::to_vec(&s).unwrap());
    let pair = (any::<i64>(), prop::option::of(any_string()))
        .prop_map(|p| serde_json::to_vec(&p).unwrap());
    prop_oneof![user, shape, pair]
}

/// Valid JSON mutated: truncated, one byte replaced, one byte inserted, or left as is.
fn mutated_json() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_json(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..4u8,
    )
        .prop_map(|(mut bytes, at, byte, how)| {
            let i = at.index(bytes.len() + 1);
            match how {
                0 => bytes.truncate(i),
                1 if i < bytes.len() => bytes[i] = byte,
                2 => bytes.insert(i, byte),
                _ => {}
            }
            bytes
        })
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn stored_random_bytes_decode_to_a_value_or_a_typed_error(
        data in prop::collection::vec(any::<u8>(), 0..64)
    ) {
        decode_all(&data)?;
    }

    #[test]
    fn stored_mutated_json_decodes_to_a_value_or_a_typed_error(data in mutated_json()) {
        decode_all(&data)?;
    }

    /// Any id, through a real store: written and listed back exactly, at two levels, or refused
    /// as `InvalidKey` (empty, or over the key limit) with nothing written.
    #[test]
    fn any_id_round_trips_through_a_store(a in any_string(), b in any_string(), n in any::<i64>()) {
        let backend = MemoryBackend::new();
        let fz = Fz::open_with_prefix(backend.clone(), "fz");
        let item = fz.nested().at(&a).at(&b);
        let key_len = "fz:nested:".len() + encode_id(&a).len() + 1 + encode_id(&b).len();
        match now(item.set(&7)) {
            Ok(()) => {
                prop_assert!(!a.is_empty() && !b.is_empty() && key_len <= 1024);
                prop_assert_eq!(now(fz.nested().keys()).unwrap(), vec![a.clone()]);
                prop_assert_eq!(now(fz.nested().at(&a).keys()).unwrap(), vec![b.clone()]);
                prop_assert_eq!(now(fz.nested().at(&a).get(&b)).unwrap(), Some(7));
                prop_assert_eq!(now(fz.nested().at(&a).clear()).unwrap(), 1);
            }
            Err(Error::InvalidKey { reason, .. }) => {
                // The first problem along the path wins.
                let a_len = "fz:nested:".len() + encode_id(&a).len();
                let expected = if a.is_empty() {
                    "empty"
                } else if a_len > 1024 {
                    "long"
                } else if b.is_empty() {
                    "empty"
                } else {
                    "long"
                };
                match reason {
                    InvalidKeyReason::EmptyId => prop_assert_eq!(expected, "empty"),
                    InvalidKeyReason::KeyTooLong { len, .. } => {
                        prop_assert_eq!(expected, "long");
                        prop_assert!(len > 1024 && key_len > 1024);
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
            Err(e) => prop_assert!(false, "{:?}", e),
        }
        prop_assert!(now(backend.scan_prefix("")).unwrap().is_empty());
        // Integer ids: canonical decimal, listed back exactly.
        now(fz.by_num().set(n, &1)).unwrap();
        prop_assert_eq!(now(fz.by_num().keys()).unwrap(), vec![n]);
    }
}

//! Decoding stored bytes of typed values: whatever bytes sit at a key, reading them through a
//! handle gives a value, or `Error::Decode` / `Error::Validation` naming the key — never a panic,
//! never another error. A value that was read can be written back and reads back equal.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use kvstore::{Dynamic, Error, Item, MemoryBackend, SetOf, Store, backend::Backend};
use libfuzzer_sys::fuzz_target;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    set: SetOf<Shape>,
}

/// The memory backend never waits: one poll completes every operation.
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the memory backend never waits"),
    }
}

fn check<T: PartialEq + std::fmt::Debug>(
    item: &Item<T>,
    r: kvstore::Result<Option<T>>,
    roundtrip: bool,
) where
    T: kvstore::Storable,
{
    match r {
        Ok(Some(v)) => {
            if roundtrip {
                now(item.set(&v)).expect("a value read can be written back");
                assert_eq!(now(item.get()).unwrap().as_ref(), Some(&v));
            }
        }
        Ok(None) => panic!("the key was written"),
        Err(Error::Decode { key, .. } | Error::Validation { key, .. }) => {
            assert_eq!(key, item.key())
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
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
    check(&fz.user(), now(fz.user().get()), true);
    check(&fz.shape(), now(fz.shape().get()), true);
    check(&fz.pair(), now(fz.pair().get()), true);
    // Floats may not round-trip bit for bit through serde_json's default parser.
    check(&fz.value(), now(fz.value().get()), false);
    // The same bytes through the batch paths and as a set member.
    let key = fz.users().at("x").key().to_owned();
    now(backend.set(&key, data, Default::default())).unwrap();
    match now(fz.users().get_many(["x", "y"])) {
        Ok(v) => assert!(v[0].is_some() && v[1].is_none()),
        Err(Error::Decode { key: k, .. } | Error::Validation { key: k, .. }) => assert_eq!(k, key),
        Err(e) => panic!("{e:?}"),
    }
    if let Err(e) = now(fz.users().entries()) {
        assert!(
            matches!(e, Error::Decode { .. } | Error::Validation { .. }),
            "{e:?}"
        );
    }
    now(backend.set_add(fz.set().key(), data, None)).unwrap();
    if let Err(e) = now(fz.set().members()) {
        assert!(
            matches!(e, Error::Decode { .. } | Error::Validation { .. }),
            "{e:?}"
        );
    }
});

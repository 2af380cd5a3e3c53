//! Depth-limited JSON serialization.
//!
//! `serde_json::to_vec` recurses once per nesting level of the value, so a value nested a few
//! thousand levels deep (a `serde_json::Value` of nested arrays, a recursive struct) overflows a
//! 2 MiB tokio worker stack and aborts the process. And serde_json's reader refuses anything
//! nested deeper than [`MAX_DEPTH`], so such a value could be written but never read back.
//!
//! [`to_vec`] writes with serde_json's own serializer — byte for byte what `serde_json::to_vec`
//! writes — through a [`Formatter`] that counts the arrays and objects open and fails as soon as
//! one would open deeper than [`MAX_DEPTH`]: before the value recurses into it, so the stack
//! never gets deep.
//!
//! The levels are serde_json's own, one per `[` or `{` it writes, which is how its reader counts
//! them: a sequence, tuple, map, struct or bytes is one; a newtype variant `{"V": x}` one, a
//! tuple or struct variant `{"V": [..]}` two; `Some(x)`, newtype structs, scalars and
//! serde_json's private number and raw-value tokens none (the text inside a `RawValue` is not
//! looked into).

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// The deepest JSON nesting (open `[` / `{`) that [`to_vec`] accepts: 127.
///
/// This is the deepest serde_json's reader accepts. Its limit is stated as 128, but it counts
/// down from 128 and fails when the count reaches zero, i.e. on the 128th nested `[` or `{`
/// (the test `max_depth_is_serde_json_read_limit` pins this down). Anything accepted here can
/// therefore be read back with `serde_json::from_slice`.
pub(crate) const MAX_DEPTH: usize = 127;

/// Serializes `value` to JSON bytes like `serde_json::to_vec` — byte for byte the same output —
/// but fails with "value nested deeper than 127 levels" instead of recursing past [`MAX_DEPTH`].
#[inline]
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    // Same initial capacity as `serde_json::to_vec`.
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Limited { depth: 0 });
    value.serialize(&mut ser)?;
    Ok(out)
}

/// serde_json's compact format (the trait's defaults), counting the arrays and objects open.
struct Limited {
    depth: usize,
}

impl Limited {
    /// One more array or object opens, or the too-deep error (which serde_json passes on as
    /// it is: its text is the error's).
    #[inline]
    fn open(&mut self) -> io::Result<()> {
        if self.depth == MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        Ok(())
    }
}

/// The error for a value nested deeper than [`MAX_DEPTH`]. Kept out of line: it is never on the
/// hot path.
#[cold]
#[inline(never)]
fn too_deep() -> io::Error {
    io::Error::other(format!("value nested deeper than {MAX_DEPTH} levels"))
}

impl Formatter for Limited {
    #[inline]
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open()?;
        writer.write_all(b"[")
    }

    #[inline]
    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        writer.write_all(b"]")
    }

    #[inline]
    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open()?;
        writer.write_all(b"{")
    }

    #[inline]
    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        writer.write_all(b"}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt;
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    use std::time::Duration;

    use serde::{Serialize, Serializer};
    use serde_json::{json, Value};

    use super::*;

    /// The error text for a too-deep value.
    fn too_deep_text() -> String {
        format!("value nested deeper than {MAX_DEPTH} levels")
    }

    /// Asserts that `to_vec` gives exactly what serde_json gives, errors included.
    #[track_caller]
    fn same<T: Serialize + ?Sized>(value: &T) {
        match (to_vec(value), serde_json::to_vec(value)) {
            (Ok(ours), Ok(theirs)) => assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs).unwrap()
            ),
            (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string()),
            (ours, theirs) => panic!("to_vec: {ours:?}, serde_json: {theirs:?}"),
        }
    }

    /// A `Value` that drops itself without recursing, however deep it is (`Value`'s own drop
    /// recurses once per level).
    struct Deep(Value);

    impl Drop for Deep {
        fn drop(&mut self) {
            let mut stack = vec![std::mem::take(&mut self.0)];
            while let Some(value) = stack.pop() {
                match value {
                    Value::Array(items) => stack.extend(items),
                    Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
                    _ => {}
                }
            }
        }
    }

    impl std::ops::Deref for Deep {
        type Target = Value;

        fn deref(&self) -> &Value {
            &self.0
        }
    }

    /// `levels` nested arrays, innermost empty: `[[..[]..]]`; `null` for 0. Built iteratively.
    fn arrays(levels: usize) -> Deep {
        let mut value = Value::Null;
        for _ in 0..levels {
            value = Value::Array(if value.is_null() { vec![] } else { vec![value] });
        }
        Deep(value)
    }

    /// `levels` nested objects, innermost `{"a":1}`: `{"a":{"a":..{"a":1}..}}`; `1` for 0.
    ///
    /// The number at the bottom also checks, when serde_json's `arbitrary_precision` feature is
    /// on, that its number marker struct does not count as a level.
    fn objects(levels: usize) -> Deep {
        let mut value = json!(1);
        for _ in 0..levels {
            let mut map = serde_json::Map::new();
            map.insert("a".into(), value);
            value = Value::Object(map);
        }
        Deep(value)
    }

    /// A recursive struct: `{"children":[..]}` is two levels per node.
    #[derive(Serialize)]
    struct Tree {
        children: Vec<Tree>,
    }

    impl Tree {
        /// A chain of `nodes` trees, each the only child of the one above. Built iteratively.
        fn chain(nodes: usize) -> Tree {
            let mut tree = Tree { children: vec![] };
            for _ in 1..nodes {
                tree = Tree {
                    children: vec![tree],
                };
            }
            tree
        }
    }

    impl Drop for Tree {
        /// Iterative, so a 10,000-deep chain does not overflow the stack when dropped.
        fn drop(&mut self) {
            let mut stack = std::mem::take(&mut self.children);
            while let Some(mut tree) = stack.pop() {
                stack.append(&mut tree.children);
            }
        }
    }

    /// Each `N` is `{"N": ..}`: one level.
    #[derive(Serialize)]
    enum NewtypeChain {
        N(Box<NewtypeChain>),
        Leaf,
    }

    /// Each `T` is `{"T": [.., 0]}`: two levels.
    #[derive(Serialize)]
    enum TupleChain {
        T(Box<TupleChain>, u8),
        Leaf,
    }

    /// Each `S` is `{"S": {"inner": ..}}`: two levels.
    #[derive(Serialize)]
    enum StructChain {
        S { inner: Box<StructChain> },
        Leaf,
    }

    /// Wraps a value in arrays without adding any variant of its own (untagged).
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Padded<T> {
        Array(Vec<Padded<T>>),
        Leaf(T),
    }

    /// `value` inside `levels` arrays.
    fn pad<T>(levels: usize, value: T) -> Padded<T> {
        let mut padded = Padded::Leaf(value);
        for _ in 0..levels {
            padded = Padded::Array(vec![padded]);
        }
        padded
    }

    /// A newtype struct around a borrowed value.
    #[derive(Serialize)]
    struct Wrapped<'a>(&'a Value);

    /// Serializes as bytes (`serialize_bytes`), which serde_json writes as an array of numbers.
    struct Bytes(&'static [u8]);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    /// Serializes through `collect_str`.
    struct Shown(u32);

    impl fmt::Display for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "#{}\"\né", self.0)
        }
    }

    impl Serialize for Shown {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self)
        }
    }

    /// Serializes one way for human-readable formats and another for the rest.
    struct Readable;

    impl Serialize for Readable {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if s.is_human_readable() {
                s.serialize_str("human")
            } else {
                s.serialize_u8(0)
            }
        }
    }

    /// Runs `f` on a thread with a tokio worker's 2 MiB stack.
    fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn max_depth_is_serde_json_read_limit() {
        let read = |text: String| serde_json::from_slice::<Value>(text.as_bytes());
        let arrays = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        assert!(read(arrays(MAX_DEPTH)).is_ok());
        assert!(read(objects(MAX_DEPTH)).is_ok());
        for text in [arrays(MAX_DEPTH + 1), objects(MAX_DEPTH + 1)] {
            let err = read(text).unwrap_err();
            assert!(err.to_string().contains("recursion limit"), "{err}");
        }
    }

    #[derive(Serialize)]
    struct User {
        name: String,
        email: String,
        age: u32,
        city: String,
        tags: Vec<String>,
        active: bool,
    }

    fn user() -> User {
        User {
            name: "Alice Liddell".into(),
            email: "alice@example.com".into(),
            age: 31,
            city: "Oxford".into(),
            tags: vec!["admin".into(), "beta-tester".into(), "early-adopter".into()],
            active: true,
        }
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Newtype(u64);

    #[derive(Serialize)]
    struct TupleStruct(i8, String, Option<Unit>);

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    struct Id(u64);

    #[derive(Serialize)]
    enum Kinds {
        Unit,
        Newtype(Vec<u8>),
        Tuple(u8, Option<String>),
        EmptyTuple(),
        Struct { a: i64, b: Box<Kinds> },
        EmptyStruct {},
    }

    #[derive(Serialize)]
    #[serde(tag = "type")]
    enum Internal {
        A { x: u8 },
        B(User),
    }

    #[derive(Serialize)]
    #[serde(tag = "t", content = "c")]
    enum Adjacent {
        A(u8),
        B { y: Vec<u8> },
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Untagged {
        A(u8),
        B { z: String },
    }

    #[derive(Serialize)]
    struct Attributes {
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        #[serde(rename = "Renamed")]
        renamed: u8,
        #[serde(flatten)]
        flat: BTreeMap<String, u8>,
        #[serde(skip)]
        _never: u8,
    }

    #[test]
    fn same_output_as_serde_json() {
        // Structs, unit, newtype, tuple structs.
        same(&user());
        same(&[user(), user()]);
        same(&Unit);
        same(&());
        same(&Newtype(7));
        same(&TupleStruct(-1, "x".into(), Some(Unit)));
        same(&Attributes {
            skipped: None,
            renamed: 1,
            flat: [("f".to_string(), 2)].into(),
            _never: 0,
        });
        // Enums: all four variant kinds, and the other representations.
        same(&Kinds::Unit);
        same(&Kinds::Newtype(vec![1, 2]));
        same(&Kinds::Tuple(3, None));
        same(&Kinds::EmptyTuple());
        same(&Kinds::Struct {
            a: i64::MIN,
            b: Box::new(Kinds::Struct {
                a: 0,
                b: Box::new(Kinds::EmptyStruct {}),
            }),
        });
        same(&Kinds::EmptyStruct {});
        same(&vec![Kinds::Unit, Kinds::Tuple(0, Some("s".into()))]);
        same(&Internal::A { x: 1 });
        same(&Internal::B(user()));
        same(&Adjacent::A(1));
        same(&Adjacent::B { y: vec![] });
        same(&Untagged::A(1));
        same(&Untagged::B { z: "z".into() });
        // Maps, including non-string keys.
        same(&BTreeMap::from([(1u32, "a"), (2, "b")]));
        same(&BTreeMap::from([(-5i64, vec![1u8]), (i64::MAX, vec![])]));
        same(&BTreeMap::from([(Id(9), Unit)]));
        same(&BTreeMap::from([(true, 1), (false, 0)]));
        same(&BTreeMap::from([('c', 'd')]));
        same(&HashMap::from([("k".to_string(), Some(1.5f64))]));
        same(&BTreeMap::<String, u8>::new());
        // Options, sequences, tuples.
        same(&Some(1u8));
        same(&None::<u8>);
        same(&Some(Some(None::<u8>)));
        same(&vec![vec![vec![1u8, 2], vec![]], vec![]]);
        same(&Vec::<u8>::new());
        same(&(1u8, "two", (3.0f32, [4u16; 2]), ()));
        same(&[0u8; 0]);
        // Scalars.
        same(&[i128::MIN, i128::MAX]);
        same(&u128::MAX);
        same(&[
            0.1f64,
            -0.0,
            1e300,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
        ]);
        same(&[0.1f32, f32::MAX, f32::NAN]);
        same(&['a', '"', '\u{0}', '😀']);
        same("\"\\/\n\r\t\u{0}\u{1f}\u{7f}é😀");
        // Bytes, collect_str, is_human_readable (std's addresses and Duration use it).
        same(&Bytes(&[0, 1, 255]));
        same(&Bytes(&[]));
        same(&Shown(42));
        same(&Readable);
        same(&IpAddr::from(Ipv6Addr::LOCALHOST));
        same(&"127.0.0.1:80".parse::<SocketAddr>().unwrap());
        same(&Duration::from_millis(1500));
        // serde_json::Value.
        same(&json!({
            "null": null, "t": true, "f": false,
            "ints": [0, -1, u64::MAX, i64::MIN],
            "floats": [0.5, -1.25e-300, 1.7976931348623157e308, 3.0],
            "escapes": "quote \" backslash \\ newline \n tab \t ctrl \u{1} del \u{7f} é 😀",
            "nested": [[], {}, [{"a": [1, {"b": null}]}]],
        }));
        // Errors come out the same too: serde_json refuses a non-string-like key.
        same(&BTreeMap::from([(vec![1u8], 1u8)]));
    }

    #[test]
    fn error_text() {
        let err = to_vec(&*arrays(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.to_string(), "value nested deeper than 127 levels");
        assert_eq!(err.to_string(), too_deep_text());
        let err = to_vec(&*objects(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.to_string(), too_deep_text());
    }

    #[test]
    fn deep_values_are_refused_without_deep_recursion() {
        on_worker_stack(|| {
            for levels in [0, 1, 126, 127, 128, 129, 1_000, 10_000] {
                for value in [arrays(levels), objects(levels)] {
                    let bytes = to_vec(&*value);
                    if levels <= MAX_DEPTH {
                        assert_eq!(bytes.unwrap(), serde_json::to_vec(&*value).unwrap());
                    } else {
                        assert_eq!(bytes.unwrap_err().to_string(), too_deep_text());
                    }
                }
            }
        });
    }

    #[test]
    fn deep_recursive_struct_is_refused_without_deep_recursion() {
        on_worker_stack(|| {
            // Two levels per node: 63 nodes are 126 levels, 64 are 128.
            for nodes in [1, 63, 64, 65, 10_000] {
                let tree = Tree::chain(nodes);
                let bytes = to_vec(&tree);
                if 2 * nodes <= MAX_DEPTH {
                    let bytes = bytes.unwrap();
                    assert_eq!(bytes, serde_json::to_vec(&tree).unwrap());
                    assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
                } else {
                    assert_eq!(bytes.unwrap_err().to_string(), too_deep_text());
                }
            }
        });
    }

    /// Asserts that `value`, exactly `levels` deep, is accepted iff serde_json can read it back,
    /// and that this is iff `levels <= MAX_DEPTH`.
    #[track_caller]
    fn boundary<T: Serialize>(levels: usize, value: &T) {
        let accepted = levels <= MAX_DEPTH;
        // `value` is shallow enough for serde_json to write.
        let written = serde_json::to_vec(value).unwrap();
        let readable = serde_json::from_slice::<Value>(&written);
        assert_eq!(readable.is_ok(), accepted, "read back at {levels} levels");
        match to_vec(value) {
            Ok(bytes) => {
                assert!(accepted, "to_vec accepted {levels} levels");
                assert_eq!(bytes, written);
            }
            Err(err) => {
                assert!(!accepted, "to_vec refused {levels} levels: {err}");
                assert_eq!(err.to_string(), too_deep_text());
            }
        }
    }

    #[test]
    fn accepted_exactly_when_readable_back() {
        for levels in (0..=MAX_DEPTH + 3).rev() {
            boundary(levels, &*arrays(levels));
            boundary(levels, &*objects(levels));
            boundary(levels, &pad(levels, 1u8));

            // Newtype variants: one level each.
            let mut chain = NewtypeChain::Leaf;
            for _ in 0..levels {
                chain = NewtypeChain::N(Box::new(chain));
            }
            boundary(levels, &chain);

            // Tuple and struct variants: two levels each, plus an array for odd depths.
            let (mut tuple, mut strukt) = (TupleChain::Leaf, StructChain::Leaf);
            for _ in 0..levels / 2 {
                tuple = TupleChain::T(Box::new(tuple), 0);
                strukt = StructChain::S {
                    inner: Box::new(strukt),
                };
            }
            boundary(levels, &pad(levels % 2, tuple));
            boundary(levels, &pad(levels % 2, strukt));

            if levels >= 1 {
                // Bytes are an array.
                boundary(levels, &pad(levels - 1, Bytes(b"xy")));
                // Some and newtype structs add nothing.
                let inner = arrays(levels - 1);
                boundary(levels, &vec![Some(Some(Wrapped(&inner)))]);
            }
        }
    }

    /// `depth::to_vec` against `serde_json::to_vec` on a ~150-byte struct. Run with
    /// `cargo test --release -p kvstore depth::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing; run in release"]
    fn timing() {
        use std::hint::black_box;
        use std::time::Instant;

        // Many short rounds, alternating, best of each: robust to other load on the machine.
        const N: u32 = 100_000;
        const ROUNDS: u32 = 41;
        /// Mean nanoseconds per call of `f` over `N` calls.
        fn run(user: &User, f: impl Fn(&User) -> Vec<u8>) -> f64 {
            let start = Instant::now();
            for _ in 0..N {
                black_box(f(black_box(user)));
            }
            start.elapsed().as_nanos() as f64 / f64::from(N)
        }

        let user = user();
        let len = serde_json::to_vec(&user).unwrap().len();
        assert_eq!(to_vec(&user).unwrap().len(), len);
        let plain = |u: &User| serde_json::to_vec(u).unwrap();
        let limited = |u: &User| to_vec(u).unwrap();
        let (mut best_plain, mut best_limited) = (f64::MAX, f64::MAX);
        for _ in 0..ROUNDS {
            best_plain = best_plain.min(run(&user, plain));
            best_limited = best_limited.min(run(&user, limited));
        }
        println!(
            "{len}-byte struct, best of {ROUNDS} x {N}: serde_json::to_vec {best_plain:.1} ns, \
             depth::to_vec {best_limited:.1} ns ({:+.1}%)",
            (best_limited / best_plain - 1.0) * 100.0
        );
    }
}

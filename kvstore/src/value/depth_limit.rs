//! Depth-limited JSON serialization.
//!
//! `serde_json::to_vec` and `serde_json::to_value` recurse once per nesting level of the value, so
//! a value nested a few thousand levels deep (a `serde_json::Value` of nested arrays, a recursive
//! struct) overflows a 2 MiB tokio worker stack and aborts the process. And serde_json's reader
//! refuses anything nested deeper than [`MAX_DEPTH`], so such a value could be written but never
//! read back.
//!
//! [`to_vec`] and [`to_value`] produce exactly what their serde_json namesakes produce, but wrap the
//! serializer in [`Limited`], which counts JSON nesting as the value is written and fails with a
//! serde error as soon as an array or object would open deeper than [`MAX_DEPTH`] — before
//! recursing into it, so the stack never gets deep.
//!
//! # How depth is counted
//!
//! Exactly as serde_json's reader counts it: one level per `[` or `{` that is open.
//!
//! | serde data model                      | JSON written by serde_json         | levels |
//! |---------------------------------------|------------------------------------|--------|
//! | seq, tuple, tuple struct, bytes       | `[..]`                             | 1      |
//! | map, struct                           | `{..}`                             | 1      |
//! | newtype variant `E::V(x)`             | `{"V": x}`                         | 1      |
//! | tuple variant `E::V(x, y)`            | `{"V": [x, y]}`                    | 2      |
//! | struct variant `E::V { x }`           | `{"V": {"x": x}}`                  | 2      |
//! | newtype struct, `Some(x)`             | `x`                                | 0      |
//! | scalars, unit, `None`, unit variant   | `1`, `"s"`, `null`, `"V"`          | 0      |
//!
//! serde_json's own number and raw-value markers (structs named `$serde_json::private::…`, used
//! only with its `arbitrary_precision` / `raw_value` features) are written as plain tokens and do
//! not count. The text inside a `RawValue` is not looked into.

use std::fmt::Display;

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
    SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// The deepest JSON nesting (open `[` / `{`) that [`to_vec`] and [`to_value`] accept: 127.
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
    let mut ser = serde_json::Serializer::new(&mut out);
    value.serialize(Limited {
        inner: &mut ser,
        depth: 0,
    })?;
    Ok(out)
}

/// Converts `value` to a `serde_json::Value` like `serde_json::to_value`, but fails with
/// "value nested deeper than 127 levels" instead of recursing past [`MAX_DEPTH`].
#[inline]
pub(crate) fn to_value<T: Serialize + ?Sized>(
    value: &T,
) -> Result<serde_json::Value, serde_json::Error> {
    value.serialize(Limited {
        inner: serde_json::value::Serializer,
        depth: 0,
    })
}

/// The error for a value nested deeper than [`MAX_DEPTH`]. Kept out of line: it is never on the
/// hot path.
#[cold]
#[inline(never)]
fn too_deep<E: ser::Error>() -> E {
    E::custom(format_args!("value nested deeper than {MAX_DEPTH} levels"))
}

/// The depth inside `levels` more containers opened at `depth`, or the too-deep error.
#[inline]
fn enter<E: ser::Error>(depth: usize, levels: usize) -> Result<usize, E> {
    let inside = depth + levels;
    if inside > MAX_DEPTH {
        Err(too_deep())
    } else {
        Ok(inside)
    }
}

/// Whether a struct name is one of serde_json's private markers (`$serde_json::private::Number`,
/// `$serde_json::private::RawValue`), which serde_json writes as a bare token, not an object.
#[inline]
fn is_serde_json_token(name: &str) -> bool {
    // The first-byte test keeps the common case to one comparison.
    name.as_bytes().first() == Some(&b'$') && name.starts_with("$serde_json::private::")
}

/// A serializer that forwards everything to `inner` and counts JSON nesting on the way.
///
/// `depth` is the number of arrays/objects already open around the value being serialized.
/// Opening one more than [`MAX_DEPTH`] fails before `inner` writes anything for it.
struct Limited<S> {
    /// The serializer that does the actual work.
    inner: S,
    /// Arrays/objects open around the value this serializer is given.
    depth: usize,
}

/// A value to be serialized `depth` levels deep: its `Serialize` impl wraps whatever serializer
/// it is handed in a [`Limited`] at that depth. Compounds hand their elements, keys, values and
/// fields to the inner serializer wrapped in this.
struct Nested<'a, T: ?Sized> {
    /// The element, key, value or field.
    value: &'a T,
    /// Arrays/objects open around it.
    depth: usize,
}

impl<T: Serialize + ?Sized> Serialize for Nested<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Limited {
            inner: serializer,
            depth: self.depth,
        })
    }
}

/// A compound (seq, tuple, map, struct, variant) of the inner serializer, whose children are
/// serialized `depth` levels deep through [`Nested`].
struct Compound<C> {
    /// The inner serializer's compound.
    inner: C,
    /// Arrays/objects open around the children.
    depth: usize,
}

impl<C> Compound<C> {
    /// `child` wrapped to be serialized at this compound's depth.
    #[inline]
    fn nest<'a, T: ?Sized>(&self, child: &'a T) -> Nested<'a, T> {
        Nested {
            value: child,
            depth: self.depth,
        }
    }
}

impl<S: Serializer> Serializer for Limited<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    serializer_methods! { forward(inner):
        serialize_bool(v: bool) -> Result<S::Ok, S::Error>;
        serialize_i8(v: i8) -> Result<S::Ok, S::Error>;
        serialize_i16(v: i16) -> Result<S::Ok, S::Error>;
        serialize_i32(v: i32) -> Result<S::Ok, S::Error>;
        serialize_i64(v: i64) -> Result<S::Ok, S::Error>;
        serialize_i128(v: i128) -> Result<S::Ok, S::Error>;
        serialize_u8(v: u8) -> Result<S::Ok, S::Error>;
        serialize_u16(v: u16) -> Result<S::Ok, S::Error>;
        serialize_u32(v: u32) -> Result<S::Ok, S::Error>;
        serialize_u64(v: u64) -> Result<S::Ok, S::Error>;
        serialize_u128(v: u128) -> Result<S::Ok, S::Error>;
        serialize_f32(v: f32) -> Result<S::Ok, S::Error>;
        serialize_f64(v: f64) -> Result<S::Ok, S::Error>;
        serialize_char(v: char) -> Result<S::Ok, S::Error>;
        serialize_str(v: &str) -> Result<S::Ok, S::Error>;
        serialize_none() -> Result<S::Ok, S::Error>;
        serialize_unit() -> Result<S::Ok, S::Error>;
        serialize_unit_struct(name: &'static str) -> Result<S::Ok, S::Error>;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> Result<S::Ok, S::Error>;
    }

    /// serde_json writes bytes as an array of numbers: one level.
    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        enter::<S::Error>(self.depth, 1)?;
        self.inner.serialize_bytes(v)
    }

    /// `Some(x)` is written as `x`: no level.
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&Nested {
            value,
            depth: self.depth,
        })
    }

    /// A newtype struct is written as its content: no level.
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(
            name,
            &Nested {
                value,
                depth: self.depth,
            },
        )
    }

    /// `{"V": x}`: one level.
    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = enter::<S::Error>(self.depth, 1)?;
        self.inner
            .serialize_newtype_variant(name, variant_index, variant, &Nested { value, depth })
    }

    /// `[..]`: one level.
    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let depth = enter(self.depth, 1)?;
        Ok(Compound {
            inner: self.inner.serialize_seq(len)?,
            depth,
        })
    }

    /// `[..]`: one level.
    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let depth = enter(self.depth, 1)?;
        Ok(Compound {
            inner: self.inner.serialize_tuple(len)?,
            depth,
        })
    }

    /// `[..]`: one level.
    #[inline]
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let depth = enter(self.depth, 1)?;
        Ok(Compound {
            inner: self.inner.serialize_tuple_struct(name, len)?,
            depth,
        })
    }

    /// `{"V": [..]}`: two levels.
    #[inline]
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let depth = enter(self.depth, 2)?;
        Ok(Compound {
            inner: self
                .inner
                .serialize_tuple_variant(name, variant_index, variant, len)?,
            depth,
        })
    }

    /// `{..}`: one level.
    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let depth = enter(self.depth, 1)?;
        Ok(Compound {
            inner: self.inner.serialize_map(len)?,
            depth,
        })
    }

    /// `{..}`: one level — except serde_json's private number/raw-value markers, which are
    /// written as bare tokens.
    #[inline]
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let levels = if is_serde_json_token(name) { 0 } else { 1 };
        let depth = enter(self.depth, levels)?;
        Ok(Compound {
            inner: self.inner.serialize_struct(name, len)?,
            depth,
        })
    }

    /// `{"V": {..}}`: two levels.
    #[inline]
    fn serialize_struct_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let depth = enter(self.depth, 2)?;
        Ok(Compound {
            inner: self
                .inner
                .serialize_struct_variant(name, variant_index, variant, len)?,
            depth,
        })
    }

    /// A string, written however the inner serializer writes strings (serde_json: straight into
    /// the output, no intermediate `String`).
    #[inline]
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The compounds' methods: each child is serialized one level deeper ([`Compound::nest`]), the
/// rest goes to the inner compound as it is.
macro_rules! compounds {
    ($($compound:ident: $method:ident($($key:ident: $key_ty:ty)?), $($skip:ident)?;)*) => {$(
        impl<C: $compound> $compound for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;

            #[inline]
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($key: $key_ty,)?
                value: &T,
            ) -> Result<(), C::Error> {
                let value = self.nest(value);
                self.inner.$method($($key,)? &value)
            }

            $(
                #[inline]
                fn $skip(&mut self, key: &'static str) -> Result<(), C::Error> {
                    self.inner.skip_field(key)
                }
            )?

            #[inline]
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    )*};
}

compounds! {
    SerializeSeq: serialize_element(),;
    SerializeTuple: serialize_element(),;
    SerializeTupleStruct: serialize_field(),;
    SerializeTupleVariant: serialize_field(),;
    SerializeStruct: serialize_field(key: &'static str), skip_field;
    SerializeStructVariant: serialize_field(key: &'static str), skip_field;
}

impl<C: SerializeMap> SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let key = self.nest(key);
        self.inner.serialize_key(&key)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.nest(value);
        self.inner.serialize_value(&value)
    }

    #[inline]
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let (key, value) = (self.nest(key), self.nest(value));
        self.inner.serialize_entry(&key, &value)
    }

    #[inline]
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt;
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    use std::time::Duration;

    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;

    /// The error text for a too-deep value.
    fn too_deep_text() -> String {
        format!("value nested deeper than {MAX_DEPTH} levels")
    }

    /// Asserts that `to_vec` and `to_value` give exactly what serde_json gives, errors included.
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
        match (to_value(value), serde_json::to_value(value)) {
            (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs),
            (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string()),
            (ours, theirs) => panic!("to_value: {ours:?}, serde_json: {theirs:?}"),
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
        assert!(err.is_data());
        let err = to_value(&*objects(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.to_string(), too_deep_text());
    }

    #[test]
    fn deep_values_are_refused_without_deep_recursion() {
        on_worker_stack(|| {
            for levels in [0, 1, 126, 127, 128, 129, 1_000, 10_000] {
                for value in [arrays(levels), objects(levels)] {
                    let (bytes, tree) = (to_vec(&*value), to_value(&*value));
                    if levels <= MAX_DEPTH {
                        assert_eq!(bytes.unwrap(), serde_json::to_vec(&*value).unwrap());
                        assert_eq!(tree.unwrap(), *value);
                    } else {
                        assert_eq!(bytes.unwrap_err().to_string(), too_deep_text());
                        assert_eq!(tree.unwrap_err().to_string(), too_deep_text());
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
                let (bytes, value) = (to_vec(&tree), to_value(&tree));
                if 2 * nodes <= MAX_DEPTH {
                    let bytes = bytes.unwrap();
                    assert_eq!(bytes, serde_json::to_vec(&tree).unwrap());
                    assert_eq!(
                        serde_json::from_slice::<Value>(&bytes).unwrap(),
                        value.unwrap()
                    );
                } else {
                    assert_eq!(bytes.unwrap_err().to_string(), too_deep_text());
                    assert_eq!(value.unwrap_err().to_string(), too_deep_text());
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
        match to_value(value) {
            Ok(tree) => {
                assert!(accepted, "to_value accepted {levels} levels");
                assert_eq!(tree, readable.unwrap());
            }
            Err(err) => {
                assert!(!accepted, "to_value refused {levels} levels: {err}");
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

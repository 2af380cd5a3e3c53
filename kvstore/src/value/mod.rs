//! Values: how a typed value becomes the bytes stored at a key, and back.
//!
//! - [`codec`]: one [`Codec`] per value type per process — its JSON Schema (schemars) and a
//!   compiled validator (jsonschema, formats checked, no external `$ref`s); encode = serialize +
//!   validate + size check, decode = deserialize + validate.
//! - [`plan`]: the plan of a type's validation, where in its schema the constraints are
//!   (what makes validation cheap for types with a few constraints); [`check`] walks it over a
//!   typed value without building anything, and leaves the doubtful cases to the whole schema.
//! - [`depth_limit`]: serialization that refuses values nested deeper than serde_json can read
//!   back, before recursing that deep (for the types that can nest that deep).
//! - [`leaf`]: the three encodings a node can store — JSON text ([`Json`]), decimal integer text
//!   ([`Decimal`]), raw bytes ([`Raw`]) — behind one [`LeafCodec`] trait that every node type
//!   uses, so a new node type picks an encoding instead of writing one.
//! - [`versions`]: the older versions of a type (`#[store(migrate_from(...))]`) and the read
//!   path that falls back to them.
//! - [`verdict`]: the one decision, for a stored value, between the current type, an older
//!   version and neither — for typed reads and audits and for the manifest-driven audit.

/// `Serializer` methods that all do one thing, for the hand-written serializers of this module:
/// `|self| body` answers each with `body` (which may use the arguments by the names given);
/// `<T> |self| body` the same for methods generic over a `T: Serialize` argument.
macro_rules! serializer_methods {
    (|$self:ident| $body:expr; $($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        #[inline]
        #[allow(unused_variables)]
        fn $method($self, $($arg: $ty),*) -> $ret {
            $body
        }
    )*};
    (<T> |$self:ident| $body:expr; $($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        #[inline]
        #[allow(unused_variables)]
        fn $method<T: ?Sized + serde::Serialize>($self, $($arg: $ty),*) -> $ret {
            $body
        }
    )*};
}

pub(crate) mod check;
pub(crate) mod codec;
pub(crate) mod depth_limit;
pub(crate) mod email;
pub(crate) mod leaf;
pub(crate) mod plan;
pub(crate) mod verdict;
pub(crate) mod versions;

/// Batches at least this long are encoded or decoded on every core (see [`map_batch`]).
const PARALLEL_MIN: usize = 256;

/// `f` of every item, in order: on rayon's threads (every core) for a batch of
/// [`PARALLEL_MIN`] items or more when there is more than one core, here otherwise. For the
/// codec work of `set_many` and `get_many` — which blocks the calling task either way; spread
/// over the cores, it blocks it for less.
pub(crate) fn map_batch<A: Sync, B: Send>(
    items: &[A],
    f: impl Fn(&A) -> B + Sync + Send,
) -> Vec<B> {
    use rayon::prelude::*;
    if items.len() < PARALLEL_MIN || rayon::current_num_threads() < 2 {
        return items.iter().map(f).collect();
    }
    items.par_iter().with_min_len(64).map(f).collect()
}

pub use codec::Storable;
pub(crate) use codec::{codec, Codec, StoredValue};
pub(crate) use leaf::{Decimal, Json, LeafCodec, Raw};
pub(crate) use verdict::{judge, Verdict, Versions};
pub use versions::Migrations;
pub(crate) use versions::Read;

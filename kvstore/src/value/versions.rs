//! Older versions of a value type, and how stored values of those versions are read.
//!
//! `#[store(migrate_from(V2, V1))]` on a field of `Item<T>` (or a `Dynamic` with `Item<T>`
//! leaves) builds a [`Migrations<T>`]: the older types, newest first, each with its conversion
//! into `T` (through the chain of `From` impls, `V1 -> V2 -> T`). Reading decodes as `T` first;
//! only bytes that do not *decode* as `T` are tried as each older version (decoded and validated
//! against that version's own schema), and the first that fits is converted forward and must
//! validate as `T`.

use std::any::type_name;

use serde_json::Value;

use super::codec::{codec, Codec, Storable, StoredValue};
use super::verdict::{judge, Verdict, Versions};
use crate::error::{Error, Result};

type Convert<T> = Box<dyn Fn(&str, &[u8]) -> Result<T> + Send + Sync>;

/// One older version of `T`.
struct Version<T> {
    name: &'static str,
    codec: fn() -> &'static Codec,
    /// Decodes a value of this version and converts it into `T`.
    convert: Convert<T>,
}

/// The older versions of the value type `T`, newest first (built by the derive from
/// `#[store(migrate_from(...))]`).
pub struct Migrations<T> {
    versions: Vec<Version<T>>,
    write_back: bool,
}

impl<T> std::fmt::Debug for Migrations<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrations")
            .field(
                "versions",
                &self.versions.iter().map(|v| v.name).collect::<Vec<_>>(),
            )
            .field("write_back", &self.write_back)
            .finish()
    }
}

impl<T: Storable> Default for Migrations<T> {
    fn default() -> Self {
        Migrations::new()
    }
}

/// How a stored value was read.
pub(crate) enum Read<T> {
    /// It is of the current type.
    Current(T),
    /// It is of an older version, converted to `T`; `encoded` is `T`'s encoding, to write
    /// back.
    Older { value: T, encoded: Vec<u8> },
}

impl<T> Read<T> {
    /// The value, however it was read.
    pub(crate) fn into_value(self) -> T {
        match self {
            Read::Current(value) | Read::Older { value, .. } => value,
        }
    }
}

impl<T: Storable> Migrations<T> {
    /// No older versions yet; values read are written back in the current shape.
    pub fn new() -> Self {
        Migrations {
            versions: Vec::new(),
            write_back: true,
        }
    }

    /// Adds the next older version `B` (older than every version added before), with its
    /// conversion into `T`.
    pub fn version<B: Storable>(mut self, convert: fn(B) -> T) -> Self {
        self.versions.push(Version {
            name: short_name(type_name::<B>()),
            codec: codec::<B>,
            convert: Box::new(move |key, bytes| codec::<B>().decode::<B>(key, bytes).map(convert)),
        });
        self
    }

    /// Whether a value read in an older shape is written back in the current one (default
    /// `true`).
    pub fn write_back(mut self, on: bool) -> Self {
        self.write_back = on;
        self
    }

    /// Whether values read in an older shape are written back.
    pub fn writes_back(&self) -> bool {
        self.write_back
    }

    /// The JSON Schemas of the older versions, newest first (the manifest's `"previous"`).
    pub fn schemas(&self) -> Vec<Value> {
        self.versions
            .iter()
            .map(|v| (v.codec)().schema().clone())
            .collect()
    }

    /// The older versions' type names, newest first.
    pub fn names(&self) -> Vec<&'static str> {
        self.versions.iter().map(|v| v.name).collect()
    }

    /// Reads `bytes` stored at `key`: as `T`, or — only when they do not decode as `T` — as the
    /// first older version they fit, converted to `T` and validated as `T` (the verdict of
    /// [`judge`]). A value that fits no version is the current type's `Decode` error, saying
    /// why each older version did not fit; a converted value that breaks `T`'s schema is
    /// `Validation` naming the version it was converted from.
    pub(crate) fn read(&self, current: &Codec, key: &str, bytes: &[u8]) -> Result<Read<T>> {
        let not_current = match current.decode_shape_first::<T>(key, bytes) {
            Ok(value) => return Ok(Read::Current(value)),
            Err(error) => error,
        };
        let versions = WithCurrent {
            migrations: self,
            current,
        };
        match judge(Err(not_current), &versions, &StoredValue::new(key, bytes)) {
            Verdict::Valid(value) => Ok(Read::Current(value)),
            Verdict::Outdated((value, encoded)) => Ok(Read::Older { value, encoded }),
            Verdict::Invalid(error) => Err(error),
        }
    }
}

/// The older versions of `T` with the codec of `T` (that converted values are encoded and
/// validated with).
struct WithCurrent<'a, T> {
    migrations: &'a Migrations<T>,
    current: &'a Codec,
}

impl<T: Storable> Versions for WithCurrent<'_, T> {
    /// The converted value and its encoding, to write back.
    type Converted = (T, Vec<u8>);

    const LISTED: &'static str = "listed in `migrate_from`";

    fn version(&self, index: usize) -> Option<(&str, &Codec)> {
        let version = self.migrations.versions.get(index)?;
        Some((version.name, (version.codec)()))
    }

    fn convert(&self, index: usize, stored: &StoredValue<'_>) -> Result<(T, Vec<u8>)> {
        let Some(version) = self.migrations.versions.get(index) else {
            return Err(Error::Decode {
                key: stored.key.to_owned(),
                message: format!("no older version at position {index}"),
            });
        };
        let value = (version.convert)(stored.key, stored.bytes)?;
        let encoded = self.current.encode(stored.key, &value, usize::MAX)?;
        Ok((value, encoded))
    }
}

/// `app::model::ProfileV1` as `ProfileV1` (paths inside generics are kept).
fn short_name(name: &'static str) -> &'static str {
    let end = name.find('<').unwrap_or(name.len());
    match name[..end].rfind("::") {
        Some(at) => &name[at + 2..],
        None => name,
    }
}

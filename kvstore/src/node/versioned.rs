//! [`Versioned<T>`]: a value read together with the exact bytes it was stored as.

use std::fmt;
use std::ops::Deref;

/// A value read with [`Item::get_versioned`](crate::Item::get_versioned) (or
/// [`Dynamic::get_versioned`](crate::Dynamic::get_versioned)), remembering the exact bytes the
/// key held when the read returned — after a migration write-back, the bytes written back.
///
/// Hand it to [`Atomic::check_unchanged`](crate::Atomic::check_unchanged) to commit a step only
/// if the key still holds exactly those bytes (nobody wrote it since the read, or wrote the very
/// same bytes). Unlike [`Atomic::check`](crate::Atomic::check),
/// which compares the stored bytes with the canonical encoding of a value, this compares with
/// what was actually stored, so it holds for values written by other programs (`{"coins": 100}`
/// with a space, keys in another order) and for older versions read with write-back off.
///
/// It dereferences to the value; `value` is public, to move it out. Two versions are equal when
/// their values and their stored bytes are: the same value read from bytes of another form is
/// another version.
#[derive(Clone, PartialEq)]
pub struct Versioned<T> {
    /// The value read (converted to the current type when it was stored in an older shape).
    pub value: T,
    /// The bytes stored at the key when the read returned.
    pub(crate) stored: Box<[u8]>,
}

impl<T> Versioned<T> {
    pub(crate) fn new(value: T, stored: Vec<u8>) -> Versioned<T> {
        Versioned {
            value,
            stored: stored.into_boxed_slice(),
        }
    }

    /// The value, without its version.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Versioned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Versioned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versioned")
            .field("value", &self.value)
            .field("stored_len", &self.stored.len())
            .finish()
    }
}

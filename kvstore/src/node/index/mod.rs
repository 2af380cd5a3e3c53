//! Secondary indexes (being built): see ARCHITECTURE.md, "Secondary indexes", for the protocol.

// The stored forms and the claim protocol come first; the node types and the write hooks that
// use them follow.
pub(crate) mod encoding;
pub(crate) mod hooks;
pub(crate) mod many;
pub(crate) mod reconcile;
pub(crate) mod step;
pub(crate) mod types;
pub(crate) mod unique;

pub use encoding::Score;
pub use hooks::{IndexKey, Indexes};
pub use types::{
    Index, IndexCursor, IndexNode, IndexOf, IndexPage, IndexReport, OrderedIndex, UniqueIndex,
};

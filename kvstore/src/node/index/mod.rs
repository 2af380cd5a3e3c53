//! Secondary indexes (being built): see ARCHITECTURE.md, "Secondary indexes", for the protocol.

// The stored forms come first; the node types and the write hooks that use them follow.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod encoding;

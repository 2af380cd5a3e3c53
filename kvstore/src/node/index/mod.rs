//! Secondary indexes (being built): see ARCHITECTURE.md, "Secondary indexes", for the protocol.

// The stored forms and the claim protocol come first; the node types and the write hooks that
// use them follow.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod encoding;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod hooks;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod many;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod unique;

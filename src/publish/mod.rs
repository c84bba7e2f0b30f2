//! Publishing: the dists/ tree apt clients read.

pub mod stanza;

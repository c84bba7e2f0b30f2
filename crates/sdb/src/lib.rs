//! SimpleDB's semantics and protocol: the typed Select and its text form
//! (renderer and parser), Signature Version 2, an engine on SQLite, and the
//! HTTP server of `sdb-local`. Nothing here knows what the items mean.

pub mod engine;
pub mod error;
pub mod fit;
pub mod item;
pub mod limits;
pub mod parse;
pub mod select;
pub mod server;
pub mod sigv2;

pub use item::{Attrs, Item};

//! SimpleDB's semantics and protocol: Signature Version 2, the Select
//! grammar, and an engine on SQLite that the embedded store and `sdb-local`
//! share.

pub mod engine;
pub mod error;
pub mod select;
pub mod server;
pub mod sigv2;

//! One query language for every backend: the typed SimpleDB Select of the
//! `sdb` crate. The catalog builds a [`Select`] from typed filters; the
//! SimpleDB client renders it ([`render`]); the SQLite engine (embedded
//! store and sdb-local) evaluates it; [`eval`] evaluates it in memory with
//! the same semantics (DynamoDB, and filters applied in Rust).

pub mod eval;

pub use sdb::select::*;

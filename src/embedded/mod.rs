//! The embedded backend: SQLite metadata, a local directory bucket and a JSON-lines log.
pub mod meta;

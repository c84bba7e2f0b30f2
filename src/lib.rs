//! repoman: an apt repository whose package files live in a bucket (S3 or a
//! local directory) and whose state lives in a SimpleDB-shaped store
//! (SimpleDB or SQLite). See docs/architecture.md for the layers.

#[cfg(feature = "aws")]
pub mod aws;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod debian;
pub(crate) mod digest;
pub mod embedded;
pub mod layout;
pub mod migrate;
pub mod model;
pub(crate) mod parallel;
pub mod publish;
pub mod rate;
pub mod rules;
pub mod select;
pub mod serve;
pub mod store;
pub mod store_url;

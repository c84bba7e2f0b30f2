//! Debian formats: versions, control paragraphs, .deb archives and .dsc
//! source descriptions.

pub mod control;
pub mod deb;
pub mod dsc;
pub mod names;
pub mod version;

//! Debian formats: versions, control paragraphs, .deb archives and .dsc
//! source descriptions.

pub mod version;

//! SimpleDB's data: items with multi-valued string attributes, and the
//! arguments and answers of its operations, shared by the engine, the
//! server and clients.

use std::collections::BTreeMap;

/// An item's attributes: every attribute may carry several values.
pub type Attrs = BTreeMap<String, Vec<String>>;

/// One stored item: its name and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub attrs: Attrs,
}

/// DomainMetadata's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DomainMetadata {
    pub item_count: u64,
    pub item_names_size_bytes: u64,
    /// Distinct attribute names.
    pub attribute_name_count: u64,
    pub attribute_names_size_bytes: u64,
    /// Name-value pairs.
    pub attribute_value_count: u64,
    pub attribute_values_size_bytes: u64,
    /// Seconds since the Unix epoch when the figures were computed.
    pub timestamp: i64,
}

/// One attribute of PutAttributes / BatchPutAttributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutAttr {
    pub name: String,
    pub value: String,
    /// Replace every existing value of `name` (with all of this call's
    /// values of `name`).
    pub replace: bool,
}

/// One attribute of DeleteAttributes / BatchDeleteAttributes: a whole
/// attribute when `value` is `None`, else one name-value pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAttr {
    pub name: String,
    pub value: Option<String>,
}

/// A conditional write's `Expected` (SimpleDB's UpdateCondition).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expected {
    pub name: String,
    pub value: Option<String>,
    pub exists: Option<bool>,
}

/// One write of [`crate::engine::Engine::apply`], borrowed from whatever
/// the caller keeps its changes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit<'a> {
    /// Each listed attribute's values become exactly the given ones, and
    /// the attributes named in `remove` are deleted.
    Put {
        item: &'a str,
        attrs: &'a Attrs,
        remove: &'a [String],
    },
    /// Deletes the whole item.
    Delete { item: &'a str },
    /// Adds one value to an attribute, keeping its other values.
    AddValue {
        item: &'a str,
        attr: &'a str,
        value: &'a str,
    },
    /// Removes one value of an attribute, keeping its other values.
    DeleteValue {
        item: &'a str,
        attr: &'a str,
        value: &'a str,
    },
}

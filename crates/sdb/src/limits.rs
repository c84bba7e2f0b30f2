//! SimpleDB's documented limits, in one place: the engine and sdb-local
//! enforce them, clients size their requests by them.

/// API version of the query protocol.
pub const API_VERSION: &str = "2009-04-15";
/// Longest attribute value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Most name-value pairs one item may hold.
pub const MAX_PAIRS_PER_ITEM: usize = 256;
/// Longest item or attribute name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Most items in one BatchPutAttributes or BatchDeleteAttributes call.
pub const MAX_BATCH_ITEMS: usize = 25;
/// Most attributes submitted for one item in one call.
pub const MAX_SUBMITTED_ATTRIBUTES: usize = 256;
/// Items per Select page when the query has no `limit`.
pub const DEFAULT_SELECT_LIMIT: u32 = 100;
/// The largest `limit` SimpleDB accepts.
pub const MAX_SELECT_LIMIT: u32 = 2500;
/// SimpleDB truncates a Select response at 1 MB.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Most domains ListDomains returns per page.
pub const MAX_LIST_DOMAINS: usize = 100;
/// Most comparisons in one Select expression (each value of an `in` list,
/// each bound of a `between`, each `is [not] null` counts).
pub const MAX_SELECT_COMPARISONS: usize = 20;
/// Most distinct attributes one Select expression may test.
pub const MAX_SELECT_ATTRIBUTES: usize = 20;
/// Most attributes one Select may ask for in its output list.
pub const MAX_REQUESTED_ATTRIBUTES: usize = 256;
/// Largest request SimpleDB accepts (as sent: form-encoded), in bytes.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

//! SimpleDB's errors: a code, the HTTP status SimpleDB answers it with, and
//! a one-line message. The engine reports them; sdb-local renders them as
//! SimpleDB's XML error documents; a store built on the engine words them
//! its own way.

/// One SimpleDB error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SdbError {
    /// SimpleDB's error code (`NoSuchDomain`, `InvalidQueryExpression`, ...).
    pub code: &'static str,
    /// The HTTP status SimpleDB answers this code with.
    pub status: u16,
    pub message: String,
}

pub type SdbResult<T> = Result<T, SdbError>;

impl SdbError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> SdbError {
        SdbError {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn no_such_domain(domain: &str) -> SdbError {
        SdbError::new(
            "NoSuchDomain",
            400,
            format!("The specified domain does not exist: {domain}"),
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> SdbError {
        SdbError::new("InvalidParameterValue", 400, message)
    }

    pub fn missing_parameter(name: &str) -> SdbError {
        SdbError::new(
            "MissingParameter",
            400,
            format!("The request must contain the parameter {name}"),
        )
    }

    pub fn invalid_query(message: impl Into<String>) -> SdbError {
        SdbError::new("InvalidQueryExpression", 400, message)
    }

    pub fn invalid_next_token() -> SdbError {
        SdbError::new(
            "InvalidNextToken",
            400,
            "The specified next token is not valid for this request",
        )
    }

    pub fn conditional_check_failed(message: impl Into<String>) -> SdbError {
        SdbError::new("ConditionalCheckFailed", 409, message)
    }

    pub fn attribute_does_not_exist(name: &str) -> SdbError {
        SdbError::new(
            "AttributeDoesNotExist",
            404,
            format!("Attribute ({name}) does not exist"),
        )
    }

    pub fn item_attributes_exceeded(item: &str, max: usize) -> SdbError {
        SdbError::new(
            "NumberItemAttributesExceeded",
            409,
            format!("Too many attributes in this item: {item} would have more than {max} attribute name-value pairs"),
        )
    }

    pub fn submitted_items_exceeded(max: usize) -> SdbError {
        SdbError::new(
            "NumberSubmittedItemsExceeded",
            409,
            format!("Too many items in a single call. Up to {max} items per call allowed."),
        )
    }

    pub fn submitted_attributes_exceeded(max: usize) -> SdbError {
        SdbError::new(
            "NumberSubmittedAttributesExceeded",
            409,
            format!("Too many attributes for item in a single call. Up to {max} attributes per call allowed."),
        )
    }

    pub fn duplicate_item_name(item: &str) -> SdbError {
        SdbError::new(
            "DuplicateItemName",
            400,
            format!("Item {item} was specified more than once"),
        )
    }

    pub fn internal(message: impl Into<String>) -> SdbError {
        SdbError::new("InternalError", 500, message)
    }

    pub fn service_unavailable() -> SdbError {
        SdbError::new(
            "ServiceUnavailable",
            503,
            "Service Amazon SimpleDB is currently unavailable. Please try again later",
        )
    }
}

impl From<rusqlite::Error> for SdbError {
    fn from(e: rusqlite::Error) -> SdbError {
        // Busy and locked databases are transient: SimpleDB's equivalent is
        // ServiceUnavailable, which clients retry.
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) {
                return SdbError::new("ServiceUnavailable", 503, format!("database busy: {e}"));
            }
        }
        SdbError::internal(format!("sqlite: {e}"))
    }
}

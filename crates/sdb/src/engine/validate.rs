//! SimpleDB's limits on names, values and batches, checked before a
//! write touches the database.

use std::collections::HashSet;

use super::*;

/// SimpleDB's domain names: 3 to 255 characters of `a-z A-Z 0-9 _ - .`.
pub fn validate_domain_name(domain: &str) -> SdbResult<()> {
    let ok_chars = domain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if (3..=255).contains(&domain.len()) && ok_chars {
        Ok(())
    } else {
        Err(SdbError::invalid_parameter(format!(
            "Value ({domain}) for parameter DomainName is invalid: it must be 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'"
        )))
    }
}

pub(super) fn validate_text(what: &str, s: &str, allow_empty: bool) -> SdbResult<()> {
    if s.is_empty() && !allow_empty {
        return Err(SdbError::invalid_parameter(format!(
            "{what} must not be empty"
        )));
    }
    if s.len() > MAX_NAME_BYTES.max(MAX_VALUE_BYTES) {
        return Err(SdbError::invalid_parameter(format!(
            "Value ({}...) for parameter {what} is invalid: it is {} bytes long, the limit is {MAX_VALUE_BYTES}",
            s.chars().take(32).collect::<String>(),
            s.len()
        )));
    }
    if has_non_xml_char(s) {
        return Err(SdbError::invalid_parameter(format!(
            "Value for parameter {what} is invalid: it contains a character XML cannot carry"
        )));
    }
    Ok(())
}

/// Whether `s` holds a character XML 1.0 cannot carry (SimpleDB refuses
/// them): a control character other than tab, newline and carriage return,
/// or U+FFFE / U+FFFF. One plain pass over the bytes, as this runs on every
/// value of a bulk load.
pub(super) fn has_non_xml_char(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r' {
            return true;
        }
        // U+FFFE and U+FFFF are EF BF BE and EF BF BF.
        if c == 0xEF
            && i + 2 < b.len()
            && b[i + 1] == 0xBF
            && (b[i + 2] == 0xBE || b[i + 2] == 0xBF)
        {
            return true;
        }
        i += 1;
    }
    false
}

pub(super) fn validate_item_name(item: &str) -> SdbResult<()> {
    validate_text("ItemName", item, false)
}

pub(super) fn validate_pair(name: &str, value: Option<&str>) -> SdbResult<()> {
    validate_text("Name", name, false)?;
    if let Some(v) = value {
        validate_text("Value", v, true)?;
    }
    Ok(())
}

pub(super) fn validate_put(item: &str, attrs: &[PutAttr]) -> SdbResult<()> {
    validate_item_name(item)?;
    if attrs.is_empty() {
        return Err(SdbError::missing_parameter("Attribute.1.Name"));
    }
    if attrs.len() > MAX_SUBMITTED_ATTRIBUTES {
        return Err(SdbError::submitted_attributes_exceeded(
            MAX_SUBMITTED_ATTRIBUTES,
        ));
    }
    for a in attrs {
        validate_pair(&a.name, Some(&a.value))?;
    }
    Ok(())
}

pub(super) fn validate_delete(item: &str, attrs: &[DeleteAttr]) -> SdbResult<()> {
    validate_item_name(item)?;
    if attrs.len() > MAX_SUBMITTED_ATTRIBUTES {
        return Err(SdbError::submitted_attributes_exceeded(
            MAX_SUBMITTED_ATTRIBUTES,
        ));
    }
    for a in attrs {
        validate_pair(&a.name, a.value.as_deref())?;
    }
    Ok(())
}

pub(super) fn validate_batch<'a>(items: impl ExactSizeIterator<Item = &'a str>) -> SdbResult<()> {
    if items.len() > MAX_BATCH_ITEMS {
        return Err(SdbError::submitted_items_exceeded(MAX_BATCH_ITEMS));
    }
    if items.len() == 0 {
        return Err(SdbError::missing_parameter("Item.1.ItemName"));
    }
    let mut seen = HashSet::new();
    for i in items {
        if !seen.insert(i) {
            return Err(SdbError::duplicate_item_name(i));
        }
    }
    Ok(())
}

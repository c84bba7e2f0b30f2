//! Reading domains, items and attributes.

use std::collections::HashMap;

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use super::*;

pub(super) fn find_domain(c: &Connection, domain: &str) -> SdbResult<Option<i64>> {
    let mut st = c.prepare_cached("SELECT id FROM domains WHERE name = ?1")?;
    Ok(st.query_row(params![domain], |r| r.get(0)).optional()?)
}

pub(super) fn domain_id(c: &Connection, domain: &str) -> SdbResult<i64> {
    find_domain(c, domain)?.ok_or_else(|| SdbError::no_such_domain(domain))
}

pub(super) fn find_item(c: &Connection, d: i64, item: &str) -> SdbResult<Option<i64>> {
    let mut st = c.prepare_cached("SELECT id FROM items WHERE domain_id = ?1 AND name = ?2")?;
    Ok(st.query_row(params![d, item], |r| r.get(0)).optional()?)
}

pub(super) fn read_attrs(c: &Connection, item_id: i64) -> SdbResult<Attrs> {
    let mut st =
        c.prepare_cached("SELECT name, value FROM attrs WHERE item_id = ?1 ORDER BY name, value")?;
    let mut rows = st.query(params![item_id])?;
    let mut attrs = Attrs::new();
    while let Some(r) = rows.next()? {
        attrs.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    Ok(attrs)
}

pub(super) fn values_of(c: &Connection, item_id: i64, name: &str) -> SdbResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT value FROM attrs WHERE item_id = ?1 AND name = ?2 ORDER BY value",
    )?;
    let values = st
        .query_map(params![item_id, name], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(values)
}

/// SimpleDB's conditional check: `exists = false` wants no value of the
/// attribute; a `value` wants exactly that one value.
pub(super) fn check_expected(
    c: &Connection,
    item_id: Option<i64>,
    exp: &Expected,
) -> SdbResult<()> {
    if exp.name.is_empty() {
        return Err(SdbError::missing_parameter("Expected.Name"));
    }
    let values = match item_id {
        Some(id) => values_of(c, id, &exp.name)?,
        None => Vec::new(),
    };
    match (exp.exists.unwrap_or(true), &exp.value) {
        (false, Some(_)) => Err(SdbError::invalid_parameter(
            "Expected.Value must not be given when Expected.Exists is false",
        )),
        (true, None) => Err(SdbError::new(
            "IncompleteExpectedExpression",
            400,
            "If Expected.Exists is true (the default), Expected.Value must be given",
        )),
        (false, None) if values.is_empty() => Ok(()),
        (false, None) => Err(SdbError::conditional_check_failed(format!(
            "Conditional check failed. Attribute ({}) value exists",
            exp.name
        ))),
        (true, Some(_)) if values.is_empty() => Err(SdbError::attribute_does_not_exist(&exp.name)),
        (true, Some(_)) if values.len() > 1 => Err(SdbError::new(
            "MultiValuedAttribute",
            409,
            format!(
                "Attribute ({}) is multi-valued. Conditional check can only be performed on a single-valued attribute",
                exp.name
            ),
        )),
        (true, Some(want)) if &values[0] == want => Ok(()),
        (true, Some(want)) => Err(SdbError::conditional_check_failed(format!(
            "Conditional check failed. Attribute ({}) value is ({}) but was expected ({want})",
            exp.name, values[0]
        ))),
    }
}

/// Items whose attributes are read with one statement.
pub(super) const READ_CHUNK: usize = 250;

/// The attributes of many items in one statement (optionally only those
/// named), by item id.
pub(super) fn read_many(
    c: &Connection,
    ids: impl Iterator<Item = i64>,
    only: Option<&Vec<String>>,
) -> SdbResult<HashMap<i64, Attrs>> {
    let mut params: Vec<Value> = ids.map(Value::Integer).collect();
    let mut out: HashMap<i64, Attrs> = HashMap::with_capacity(params.len());
    if params.is_empty() {
        return Ok(out);
    }
    let id_list = (1..=params.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut sql = format!("SELECT item_id, name, value FROM attrs WHERE item_id IN ({id_list})");
    if let Some(names) = only {
        if names.is_empty() {
            return Ok(out);
        }
        let first = params.len() + 1;
        params.extend(names.iter().map(|n| Value::Text(n.clone())));
        let name_list = (first..=params.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",");
        sql.push_str(&format!(" AND name IN ({name_list})"));
    }
    sql.push_str(" ORDER BY item_id, name, value");
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
    // Rows come sorted by item and name: a new item or name is noticed by
    // comparing with the previous row, without a lookup per row.
    let mut current: Option<(i64, Attrs)> = None;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let name = r
            .get_ref(1)?
            .as_str()
            .map_err(|e| SdbError::internal(e.to_string()))?;
        let value: String = r.get(2)?;
        if current.as_ref().map(|c| c.0) != Some(id) {
            if let Some((done, attrs)) = current.take() {
                out.insert(done, attrs);
            }
            current = Some((id, Attrs::new()));
        }
        let attrs = &mut current.as_mut().expect("set above").1;
        match attrs.last_entry() {
            Some(mut e) if e.key() == name => e.get_mut().push(value),
            _ => {
                attrs.insert(name.to_string(), vec![value]);
            }
        }
    }
    if let Some((done, attrs)) = current {
        out.insert(done, attrs);
    }
    Ok(out)
}

/// Roughly the XML an item takes in a Select response.
pub(super) fn response_size(name: &str, attrs: &Attrs) -> usize {
    let mut n = name.len() + 30;
    for (k, vs) in attrs {
        for v in vs {
            n += k.len() + v.len() + 60;
        }
    }
    n
}

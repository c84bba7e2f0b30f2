//! Prefilters: the conditions of a filter the value index answers, and
//! how many rows each finds.

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::Connection;

use super::*;

/// Values longer than this (in characters) are left out of the value index:
/// long values (control-text fragments) are never looked up by value, and
/// indexing them would double the file and slow every write.
pub(super) const INDEXED_VALUE_CHARS: usize = 200;

/// A condition every matching item must meet, derived from a top-level
/// conjunct, that SQLite can answer from the value index: the item has a
/// value of attribute `name` meeting `test`. It is redundant with the exact
/// predicate; it only lets the planner start from few items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Prefilter {
    pub(super) name: String,
    pub(super) test: ValueTest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ValueTest {
    /// One of these values.
    In(Vec<String>),
    /// Within the bounds (`<`, `<=`, `>`, `>=`, `between`, and those of
    /// one scope on one attribute together).
    Range {
        lo: Option<Bound>,
        hi: Option<Bound>,
    },
    /// A `like` pattern, as a GLOB pattern, and its literal prefix.
    Glob(String, String),
}

/// One end of a [`ValueTest::Range`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bound {
    pub(super) value: String,
    pub(super) inclusive: bool,
}

impl Bound {
    pub(super) fn new(value: &str, inclusive: bool) -> Option<Bound> {
        Some(Bound {
            value: value.to_string(),
            inclusive,
        })
    }

    /// The tighter of two bounds: the larger lower bound (`upper` false)
    /// or the smaller upper bound; at the same value, the exclusive one.
    pub(super) fn tighter(a: Option<Bound>, b: Option<Bound>, upper: bool) -> Option<Bound> {
        match (a, b) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(match a.value.cmp(&b.value) {
                std::cmp::Ordering::Equal => Bound {
                    inclusive: a.inclusive && b.inclusive,
                    ..a
                },
                std::cmp::Ordering::Less if upper => a,
                std::cmp::Ordering::Greater if !upper => a,
                _ => b,
            }),
        }
    }
}

/// The prefilters of `e`. Equality and `in` are always answerable: the
/// values compared with are short, so a matching value is in the index.
/// Ranges and `like` are only for attributes not in `long` (the names that
/// may have values the index leaves out).
pub(super) fn prefilters(e: &Expr, long: &HashSet<String>) -> Vec<Prefilter> {
    let mut found = Vec::new();
    collect_prefilters(e, long, 0, &mut 0, &mut found);
    // Ranges on one attribute in one scope bound the same value (within a
    // predicate an attribute stands for one of its values; `every` bounds
    // all of them), so `a >= 'x' and a <= 'y'` is one range of the index.
    let mut out: Vec<(usize, Prefilter)> = Vec::new();
    for (scope, pre) in found {
        let same = out.iter_mut().find(|(s, p)| {
            *s == scope
                && p.name == pre.name
                && matches!(p.test, ValueTest::Range { .. })
                && matches!(pre.test, ValueTest::Range { .. })
        });
        match (same, pre.test) {
            (
                Some((_, into)),
                ValueTest::Range {
                    lo: new_lo,
                    hi: new_hi,
                },
            ) => {
                if let ValueTest::Range { lo, hi } = &mut into.test {
                    *lo = Bound::tighter(lo.take(), new_lo, false);
                    *hi = Bound::tighter(hi.take(), new_hi, true);
                }
            }
            (_, test) => out.push((
                scope,
                Prefilter {
                    name: pre.name,
                    test,
                },
            )),
        }
    }
    out.into_iter().map(|(_, p)| p).collect()
}

/// Prefilters of `e`'s top-level conjuncts, with the scope each comes from
/// (each side of an `intersection` is a scope of its own).
pub(super) fn collect_prefilters(
    e: &Expr,
    long: &HashSet<String>,
    scope: usize,
    scopes: &mut usize,
    out: &mut Vec<(usize, Prefilter)>,
) {
    let attr = |o: &Operand| match o {
        Operand::Attr(a) | Operand::Every(a) => Some(a.clone()),
        Operand::ItemName => None,
    };
    let all_short = |values: &[String]| {
        values
            .iter()
            .all(|v| v.chars().count() <= INDEXED_VALUE_CHARS)
    };
    let range = |lo: Option<Bound>, hi: Option<Bound>| ValueTest::Range { lo, hi };
    let test = match e {
        Expr::And(a, b) => {
            collect_prefilters(a, long, scope, scopes, out);
            collect_prefilters(b, long, scope, scopes, out);
            return;
        }
        Expr::Intersection(a, b) => {
            for side in [a, b] {
                *scopes += 1;
                collect_prefilters(side, long, *scopes, scopes, out);
            }
            return;
        }
        Expr::Cmp(o, CmpOp::Eq, v) if all_short(std::slice::from_ref(v)) => {
            attr(o).map(|a| (a, ValueTest::In(vec![v.clone()])))
        }
        Expr::In(o, vs) if !vs.is_empty() && all_short(vs) => {
            attr(o).map(|a| (a, ValueTest::In(vs.clone())))
        }
        Expr::Cmp(o, op @ (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge), v) => {
            let inclusive = matches!(op, CmpOp::Le | CmpOp::Ge);
            let bound = Bound::new(v, inclusive);
            let test = match op {
                CmpOp::Lt | CmpOp::Le => range(None, bound),
                _ => range(bound, None),
            };
            attr(o).map(|a| (a, test))
        }
        Expr::Between(o, lo, hi) => {
            attr(o).map(|a| (a, range(Bound::new(lo, true), Bound::new(hi, true))))
        }
        Expr::Cmp(o, CmpOp::Like, pattern) => attr(o).map(|a| {
            let test = ValueTest::Glob(like_to_glob(pattern), like_prefix(pattern));
            (a, test)
        }),
        _ => None,
    };
    if let Some((name, test)) = test {
        let needs_all_values = !matches!(test, ValueTest::In(_));
        if !(needs_all_values && long.contains(&name)) {
            out.push((scope, Prefilter { name, test }));
        }
    }
}

/// The literal text a `like` pattern's matches start with.
pub(super) fn like_prefix(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => break,
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

/// How many value-index rows `pre` finds in `domain`, counting no further
/// than `cap`.
pub(super) fn count_prefilter_rows(
    c: &Connection,
    domain: i64,
    pre: &Prefilter,
    cap: u64,
) -> SdbResult<u64> {
    let mut b = SqlBuilder::new();
    b.params[0] = Value::Integer(domain);
    let rows = b.prefilter_rows_sql(pre);
    let sql = format!("SELECT count(*) FROM ({rows} LIMIT {cap})");
    let n: i64 = c
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(b.params), |r| r.get(0))?;
    Ok(n as u64)
}

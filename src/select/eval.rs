//! The typed [`Select`] evaluated in memory, with the semantics of the
//! SQLite engine and SimpleDB (see `sdb::engine`): stores without a query
//! language of their own (DynamoDB) and code that filters items it already
//! holds (restore) decide with this, so every store answers alike.
//!
//! * Comparisons are on UTF-8 bytes.
//! * Within one predicate every attribute name stands for ONE of its values
//!   (or for nothing when the item has none, SQL's NULL, with SQL's
//!   three-valued logic); the item matches when some choice of values makes
//!   the predicate true. Each side of an `intersection` chooses its own.
//! * `every(a) op v`: `a` has a value and all of them satisfy `op v`.
//! * `like`: `%` matches any run of characters, `\` makes the next one
//!   literal, everything else (`_` too) matches itself, case-sensitively.
//! * Results come in item-name order, or by the `order by` attribute's
//!   smallest (ascending) or largest (descending) value, then item name;
//!   items without a value of the sort attribute are left out.
//! * `limit` caps the result; a count counts every match (capped by it).

use crate::model::{Attrs, Item};

use super::{CmpOp, Expr, Operand, Order, Output, Select};

/// Checks what SimpleDB refuses before running a query: a `limit` of 0,
/// sorting by `every()`, or by an attribute no predicate names. The
/// messages are SimpleDB's. (A `limit` caps the whole result, so one past
/// SimpleDB's page of 2500 is fine: the stores read on.)
pub fn check(q: &Select) -> Result<(), String> {
    if q.limit == Some(0) {
        return Err("The specified limit 0 is not valid: it must be at least 1".into());
    }
    match &q.order_by {
        Some((Operand::Every(_), _)) => {
            Err("The sort attribute must be an attribute name or itemName()".into())
        }
        Some((Operand::Attr(a), _)) if !q.filter.as_ref().is_some_and(|f| mentions(f, a)) => Err(
            format!("The sort attribute {a} must be present in at least one of the predicates"),
        ),
        _ => Ok(()),
    }
}

/// Whether an item matches a `where` clause (no clause matches all).
pub fn matches(filter: Option<&Expr>, name: &str, attrs: &Attrs) -> bool {
    filter.is_none_or(|e| item_pred(e, name, attrs))
}

/// Runs a Select over `items` (each item at most once, with all its
/// attributes): filter, order, limit, then the output's projection.
pub fn run(q: &Select, items: impl IntoIterator<Item = Item>) -> Result<Vec<Item>, String> {
    check(q)?;
    let filter = q.filter.as_ref();
    let mut found: Vec<(Option<String>, Item)> = Vec::new();
    for item in items {
        if item.attrs.is_empty() || !matches(filter, &item.name, &item.attrs) {
            continue;
        }
        let key = match &q.order_by {
            Some((Operand::Attr(a), order)) => {
                let values = item.attrs.get(a).into_iter().flatten();
                let key = match order {
                    Order::Asc => values.min(),
                    Order::Desc => values.max(),
                };
                match key {
                    Some(k) => Some(k.clone()),
                    None => continue,
                }
            }
            _ => None,
        };
        found.push((key, item));
    }
    let desc = matches!(q.order_by, Some((_, Order::Desc)));
    found.sort_by(|(ka, a), (kb, b)| {
        let o = ka.cmp(kb).then_with(|| a.name.cmp(&b.name));
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    let cap = q.limit.map_or(usize::MAX, |n| n as usize);
    if q.output == Output::Count {
        return Ok(vec![count_item(found.len().min(cap))]);
    }
    Ok(found
        .into_iter()
        .take(cap)
        .map(|(_, item)| project(&q.output, item))
        .collect())
}

/// The item `Domain` with attribute `Count`, as SimpleDB answers a count.
pub fn count_item(n: usize) -> Item {
    Item {
        name: "Domain".into(),
        attrs: Attrs::from([("Count".to_string(), vec![n.to_string()])]),
    }
}

fn project(output: &Output, item: Item) -> Item {
    match output {
        Output::All | Output::Count => item,
        Output::ItemName => Item {
            name: item.name,
            attrs: Attrs::new(),
        },
        Output::Attrs(names) => Item {
            attrs: item
                .attrs
                .into_iter()
                .filter(|(k, _)| names.contains(k))
                .collect(),
            name: item.name,
        },
    }
}

/// Whether `e` has a predicate on attribute `a`.
fn mentions(e: &Expr, a: &str) -> bool {
    let is = |o: &Operand| matches!(o, Operand::Attr(x) | Operand::Every(x) if x == a);
    match e {
        Expr::Cmp(o, _, _)
        | Expr::Between(o, _, _)
        | Expr::In(o, _)
        | Expr::IsNull(o)
        | Expr::IsNotNull(o) => is(o),
        Expr::Not(x) => mentions(x, a),
        Expr::And(x, y) | Expr::Or(x, y) | Expr::Intersection(x, y) => {
            mentions(x, a) || mentions(y, a)
        }
    }
}

/// One choice of values: each bound name stands for one value or none.
struct Binding<'a> {
    names: Vec<&'a str>,
    values: Vec<Option<&'a str>>,
}

impl Binding<'_> {
    fn get(&self, a: &str) -> Option<&str> {
        let i = self
            .names
            .iter()
            .position(|n| *n == a)
            .expect("every attribute of a scope is bound");
        self.values[i]
    }
}

/// An item-level predicate: some choice of values makes `e` true.
fn item_pred(e: &Expr, name: &str, attrs: &Attrs) -> bool {
    if let Expr::Intersection(a, b) = e {
        return item_pred(a, name, attrs) && item_pred(b, name, attrs);
    }
    let names = e.scope_attrs();
    // Each name's choices: its values, or one "none" when it has none.
    let choices: Vec<Vec<Option<&str>>> = names
        .iter()
        .map(|n| match attrs.get(*n) {
            Some(vs) if !vs.is_empty() => vs.iter().map(|v| Some(v.as_str())).collect(),
            _ => vec![None],
        })
        .collect();
    let mut binding = Binding {
        values: choices.iter().map(|c| c[0]).collect(),
        names,
    };
    // Walk every combination (an odometer over the choices).
    let mut at = vec![0usize; choices.len()];
    loop {
        if value_pred(e, &binding, name, attrs) == Some(true) {
            return true;
        }
        let mut i = 0;
        loop {
            if i == at.len() {
                return false;
            }
            at[i] += 1;
            if at[i] < choices[i].len() {
                binding.values[i] = choices[i][at[i]];
                break;
            }
            at[i] = 0;
            binding.values[i] = choices[i][0];
            i += 1;
        }
    }
}

/// `e` under one binding, in three-valued logic (`None` is SQL's NULL).
fn value_pred(e: &Expr, b: &Binding, name: &str, attrs: &Attrs) -> Option<bool> {
    let on = |o: &Operand, test: &dyn Fn(&str) -> bool| -> Option<bool> {
        match o {
            Operand::ItemName => Some(test(name)),
            Operand::Attr(a) => b.get(a).map(test),
            Operand::Every(a) => {
                let vs = attrs.get(a).map(Vec::as_slice).unwrap_or_default();
                Some(!vs.is_empty() && vs.iter().all(|v| test(v)))
            }
        }
    };
    match e {
        Expr::Cmp(o, op, v) => on(o, &|x| compare(x, *op, v)),
        Expr::Between(o, lo, hi) => on(o, &|x| x >= lo.as_str() && x <= hi.as_str()),
        Expr::In(_, vs) if vs.is_empty() => Some(false),
        Expr::In(o, vs) => on(o, &|x| vs.iter().any(|v| v == x)),
        Expr::IsNull(o) | Expr::IsNotNull(o) => {
            let present = match o {
                Operand::ItemName => true,
                Operand::Attr(a) => b.get(a).is_some(),
                Operand::Every(a) => attrs.get(a).is_some_and(|v| !v.is_empty()),
            };
            Some(present == matches!(e, Expr::IsNotNull(_)))
        }
        Expr::Not(x) => value_pred(x, b, name, attrs).map(|v| !v),
        Expr::And(x, y) => match (value_pred(x, b, name, attrs), value_pred(y, b, name, attrs)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Or(x, y) => match (value_pred(x, b, name, attrs), value_pred(y, b, name, attrs)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::Intersection(..) => Some(item_pred(e, name, attrs)),
    }
}

fn compare(x: &str, op: CmpOp, v: &str) -> bool {
    match op {
        CmpOp::Eq => x == v,
        CmpOp::Ne => x != v,
        CmpOp::Lt => x < v,
        CmpOp::Le => x <= v,
        CmpOp::Gt => x > v,
        CmpOp::Ge => x >= v,
        CmpOp::Like => like(x, v),
        CmpOp::NotLike => !like(x, v),
    }
}

/// One element of a `like` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// `%`
    Any,
    Lit(char),
}

fn tokens(pattern: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '%' => Tok::Any,
            // A trailing backslash stands for itself.
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    out
}

/// Whether `s` matches a SimpleDB `like` pattern.
pub fn like(s: &str, pattern: &str) -> bool {
    let p = tokens(pattern);
    let s: Vec<char> = s.chars().collect();
    // Greedy matching with one backtrack point (the last `%`): linear in
    // practice, never exponential.
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(Tok::Lit(c)) if *c == s[si] => {
                si += 1;
                pi += 1;
            }
            Some(Tok::Any) => {
                star = Some((pi, si));
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Any)
}

/// The literal text every match of a `like` pattern starts with (what an
/// index can look up by prefix).
pub fn like_prefix(pattern: &str) -> String {
    tokens(pattern)
        .into_iter()
        .map_while(|t| match t {
            Tok::Lit(c) => Some(c),
            Tok::Any => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;

//! The SQL text of a Select's conditions, with bound parameters.

use std::collections::HashMap;

use rusqlite::types::Value;

use super::*;

/// Whether `e` has a predicate on attribute `a`.
pub(super) fn mentions(e: &Expr, a: &str) -> bool {
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

/// Translates a SimpleDB `like` pattern to an SQLite GLOB pattern (which is
/// case-sensitive, unlike SQLite's LIKE): `%` becomes `*`, and `*`, `?`, `[`
/// are bracketed so they match themselves.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    let literal = |c: char, out: &mut String| match c {
        '*' | '?' | '[' => {
            out.push('[');
            out.push(c);
            out.push(']');
        }
        c => out.push(c),
    };
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push('*'),
            '\\' => literal(chars.next().unwrap_or('\\'), &mut out),
            c => literal(c, &mut out),
        }
    }
    out
}

/// Builds SQL text and its parameter list together, so values only ever
/// travel as bound parameters.
pub(super) struct SqlBuilder {
    pub(super) params: Vec<Value>,
    pub(super) aliases: usize,
}

impl SqlBuilder {
    pub(super) fn new() -> SqlBuilder {
        // ?1 is the domain id, filled in when the plan runs.
        SqlBuilder {
            params: vec![Value::Null],
            aliases: 0,
        }
    }

    pub(super) fn bind(&mut self, v: &str) -> String {
        self.params.push(Value::Text(v.to_string()));
        format!("?{}", self.params.len())
    }

    pub(super) fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    /// An item-level predicate over `items i`.
    pub(super) fn item_pred(&mut self, e: &Expr) -> String {
        if let Expr::Intersection(a, b) = e {
            let a = self.item_pred(a);
            let b = self.item_pred(b);
            return format!("({a} AND {b})");
        }
        let names: Vec<String> = e.scope_attrs().into_iter().map(str::to_string).collect();
        if names.is_empty() {
            return self.value_pred(e, &HashMap::new());
        }
        // One binding per attribute name: a LEFT JOIN gives each of its
        // values in turn, or one NULL when the item has none. When the
        // predicate cannot hold without a value of the name, a plain join
        // does the same with less work (no NULL row, and the first such name
        // starts the scan).
        let mut tables: Vec<String> = Vec::new();
        let mut on: Vec<String> = Vec::new();
        let mut left_joins = String::new();
        let mut map = HashMap::new();
        for name in names {
            let alias = self.alias("b");
            let p = self.bind(&name);
            let cond = format!("{alias}.item_id = i.id AND {alias}.name = {p}");
            if nullness(e, &name).never_true {
                tables.push(format!("attrs {alias}"));
                on.push(cond);
            } else {
                left_joins.push_str(&format!(" LEFT JOIN attrs {alias} ON {cond}"));
            }
            map.insert(name, format!("{alias}.value"));
        }
        let cond = self.value_pred(e, &map);
        if tables.is_empty() {
            return format!("EXISTS (SELECT 1 FROM (SELECT 1){left_joins} WHERE {cond})");
        }
        format!(
            "EXISTS (SELECT 1 FROM {}{left_joins} WHERE {} AND {cond})",
            tables.join(", "),
            on.join(" AND ")
        )
    }

    /// A predicate over the bound values in `map` (attribute name -> column).
    pub(super) fn value_pred(&mut self, e: &Expr, map: &HashMap<String, String>) -> String {
        match e {
            Expr::Cmp(o, op, v) => self.operand_pred(o, map, |s, col| s.cmp(col, *op, v)),
            Expr::Between(o, lo, hi) => self.operand_pred(o, map, |s, col| {
                let lo = s.bind(lo);
                let hi = s.bind(hi);
                format!("({col} >= {lo} AND {col} <= {hi})")
            }),
            Expr::In(o, vs) => self.operand_pred(o, map, |s, col| {
                if vs.is_empty() {
                    return "0".to_string();
                }
                let ps: Vec<String> = vs.iter().map(|v| s.bind(v)).collect();
                format!("{col} IN ({})", ps.join(", "))
            }),
            Expr::IsNull(o) => self.null_pred(o, map, true),
            Expr::IsNotNull(o) => self.null_pred(o, map, false),
            Expr::Not(x) => format!("(NOT {})", self.value_pred(x, map)),
            Expr::And(a, b) => {
                let a = self.value_pred(a, map);
                let b = self.value_pred(b, map);
                format!("({a} AND {b})")
            }
            Expr::Or(a, b) => {
                let a = self.value_pred(a, map);
                let b = self.value_pred(b, map);
                format!("({a} OR {b})")
            }
            Expr::Intersection(..) => self.item_pred(e),
        }
    }

    pub(super) fn cmp(&mut self, col: &str, op: CmpOp, v: &str) -> String {
        let (sql_op, v) = match op {
            CmpOp::Eq => ("=", v.to_string()),
            CmpOp::Ne => ("<>", v.to_string()),
            CmpOp::Lt => ("<", v.to_string()),
            CmpOp::Le => ("<=", v.to_string()),
            CmpOp::Gt => (">", v.to_string()),
            CmpOp::Ge => (">=", v.to_string()),
            CmpOp::Like | CmpOp::NotLike => ("GLOB", like_to_glob(v)),
        };
        let p = self.bind(&v);
        if op == CmpOp::NotLike {
            format!("(NOT ({col} GLOB {p}))")
        } else {
            format!("({col} {sql_op} {p})")
        }
    }

    /// A condition on an operand: on its bound value, on the item name, or
    /// for `every(a)` on all of `a`'s values.
    pub(super) fn operand_pred(
        &mut self,
        o: &Operand,
        map: &HashMap<String, String>,
        cond: impl Fn(&mut SqlBuilder, &str) -> String,
    ) -> String {
        match o {
            Operand::ItemName => cond(self, "i.name"),
            Operand::Attr(a) => {
                let col = map
                    .get(a)
                    .expect("every attribute of a scope is bound")
                    .clone();
                cond(self, &col)
            }
            Operand::Every(a) => {
                // One pass over the item's values of `a`: the smallest truth
                // value is 1 when all hold, and NULL (made 0) when there
                // are none. The condition is never NULL (values and bound
                // parameters never are).
                let e = self.alias("e");
                let p = self.bind(a);
                let c = cond(self, &format!("{e}.value"));
                format!(
                    "ifnull((SELECT min({c}) FROM attrs {e} WHERE {e}.item_id = i.id AND {e}.name = {p}), 0)"
                )
            }
        }
    }

    pub(super) fn null_pred(
        &mut self,
        o: &Operand,
        map: &HashMap<String, String>,
        is_null: bool,
    ) -> String {
        match o {
            Operand::ItemName => (if is_null { "0" } else { "1" }).to_string(),
            Operand::Attr(a) => {
                let col = &map[a];
                format!("({col} IS {}NULL)", if is_null { "" } else { "NOT " })
            }
            Operand::Every(a) => {
                let e = self.alias("e");
                let p = self.bind(a);
                format!(
                    "({}EXISTS (SELECT 1 FROM attrs {e} WHERE {e}.item_id = i.id AND {e}.name = {p}))",
                    if is_null { "NOT " } else { "" }
                )
            }
        }
    }

    /// The value-index rows of a prefilter: a query of their item ids.
    pub(super) fn prefilter_rows_sql(&mut self, pre: &Prefilter) -> String {
        let test = match &pre.test {
            ValueTest::In(values) => {
                let ps: Vec<String> = values.iter().map(|v| self.bind(v)).collect();
                format!("f.value IN ({})", ps.join(", "))
            }
            ValueTest::Range { lo, hi } => {
                let mut terms = Vec::new();
                for (bound, strict, loose) in [(lo, ">", ">="), (hi, "<", "<=")] {
                    if let Some(b) = bound {
                        let op = if b.inclusive { loose } else { strict };
                        terms.push(format!("f.value {op} {}", self.bind(&b.value)));
                    }
                }
                terms.join(" AND ")
            }
            // The lower bound lets the index start at the prefix even where
            // SQLite does not derive a range from the GLOB itself.
            ValueTest::Glob(glob, prefix) => {
                format!(
                    "f.value GLOB {} AND f.value >= {}",
                    self.bind(glob),
                    self.bind(prefix)
                )
            }
        };
        let p = self.bind(&pre.name);
        // The length term lets SQLite use the partial value index.
        format!(
            "SELECT f.item_id FROM attrs f WHERE f.domain_id = ?1 AND f.name = {p} \
             AND {test} AND length(f.value) <= {INDEXED_VALUE_CHARS}"
        )
    }

    /// The items a prefilter finds, as a condition on `items i`.
    pub(super) fn prefilter(&mut self, pre: &Prefilter) -> String {
        format!("i.id IN ({})", self.prefilter_rows_sql(pre))
    }
}

/// What a predicate can be when attribute `a` has no value (SQL NULL in
/// its binding): whether it is then never TRUE, and whether it is never
/// FALSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Nullness {
    pub(super) never_true: bool,
    pub(super) never_false: bool,
}

/// [`Nullness`] of `e` with respect to `a`, conservatively: `false` where
/// it is not sure. A predicate that is never TRUE without a value of `a`
/// only matches items that have one, so `a` may be bound by a plain join.
pub(super) fn nullness(e: &Expr, a: &str) -> Nullness {
    const UNKNOWN: Nullness = Nullness {
        never_true: false,
        never_false: false,
    };
    let is_a = |o: &Operand| matches!(o, Operand::Attr(x) if x == a);
    match e {
        // An empty list is FALSE whatever the value.
        Expr::In(_, vs) if vs.is_empty() => Nullness {
            never_true: true,
            never_false: false,
        },
        // A comparison with NULL is NULL.
        Expr::Cmp(o, _, _) | Expr::Between(o, _, _) | Expr::In(o, _) if is_a(o) => Nullness {
            never_true: true,
            never_false: true,
        },
        Expr::IsNull(o) if is_a(o) => Nullness {
            never_true: false,
            never_false: true,
        },
        Expr::IsNotNull(o) if is_a(o) => Nullness {
            never_true: true,
            never_false: false,
        },
        Expr::Not(x) => {
            let n = nullness(x, a);
            Nullness {
                never_true: n.never_false,
                never_false: n.never_true,
            }
        }
        Expr::And(x, y) => {
            let (x, y) = (nullness(x, a), nullness(y, a));
            Nullness {
                never_true: x.never_true || y.never_true,
                never_false: x.never_false && y.never_false,
            }
        }
        Expr::Or(x, y) => {
            let (x, y) = (nullness(x, a), nullness(y, a));
            Nullness {
                never_true: x.never_true && y.never_true,
                never_false: x.never_false || y.never_false,
            }
        }
        _ => UNKNOWN,
    }
}

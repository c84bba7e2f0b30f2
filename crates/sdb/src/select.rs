//! A typed form of SimpleDB's Select, and its renderer.
//!
//! Callers build a [`Select`] from typed values; a SimpleDB client renders
//! it to Select text with SimpleDB's quoting rules (so no value can change
//! the query); the engine evaluates it; [`crate::parse`] reads Select text
//! back into the same type (sdb-local).

/// What a Select returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `select *`
    All,
    /// `select itemName()`
    ItemName,
    /// `select count(*)`
    Count,
    /// `select a, b, c`
    Attrs(Vec<String>),
}

/// The left-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// An attribute: true when *any* of its values satisfies the comparison.
    Attr(String),
    /// `every(attr)`: true when *all* of its values do (and it has one).
    Every(String),
    /// `itemName()`
    ItemName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
}

/// A predicate of a Select's `where` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Cmp(Operand, CmpOp, String),
    Between(Operand, String, String),
    In(Operand, Vec<String>),
    IsNull(Operand),
    IsNotNull(Operand),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// Both sides hold for the item (SimpleDB's `intersection`).
    Intersection(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The attribute names one scope binds: its plain `attr` operands,
    /// outside nested intersections (which bind their own), each once.
    pub fn scope_attrs(&self) -> Vec<&str> {
        fn walk<'e>(e: &'e Expr, out: &mut Vec<&'e str>) {
            let mut add = |o: &'e Operand| {
                if let Operand::Attr(a) = o {
                    if !out.contains(&a.as_str()) {
                        out.push(a);
                    }
                }
            };
            match e {
                Expr::Cmp(o, _, _)
                | Expr::Between(o, _, _)
                | Expr::In(o, _)
                | Expr::IsNull(o)
                | Expr::IsNotNull(o) => add(o),
                Expr::Not(x) => walk(x, out),
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Intersection(..) => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    pub fn and(self, other: Expr) -> Expr {
        Expr::And(Box::new(self), Box::new(other))
    }

    pub fn or(self, other: Expr) -> Expr {
        Expr::Or(Box::new(self), Box::new(other))
    }

    /// `attr = v1 or attr = v2 ...` as `every(attr) in (...)`, the form the
    /// original uses for single-valued attributes.
    pub fn every_in(attr: &str, values: &[String]) -> Expr {
        Expr::In(Operand::Every(attr.to_string()), values.to_vec())
    }

    /// Values starting with `prefix`: `attr like 'prefix%'`, with `%` and `\`
    /// in the prefix escaped so they match literally.
    pub fn starts_with(attr: &str, prefix: &str) -> Expr {
        Expr::Cmp(
            Operand::Attr(attr.to_string()),
            CmpOp::Like,
            format!("{}%", escape_like(prefix)),
        )
    }
}

/// Escapes the characters that are special in a SimpleDB `like` pattern
/// (`%` is its only wildcard; `\` escapes).
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// A complete Select, minus the domain (each store knows its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    pub output: Output,
    pub filter: Option<Expr>,
    pub order_by: Option<(Operand, Order)>,
    pub limit: Option<u32>,
}

impl Select {
    /// `select * where <filter>`
    pub fn all_where(filter: Expr) -> Select {
        Select {
            output: Output::All,
            filter: Some(filter),
            order_by: None,
            limit: None,
        }
    }
}

/// Renders a Select as SimpleDB Select text for `domain`. Every value is
/// quoted (`'` doubled) and every name backtick-quoted (`` ` `` doubled), so
/// no name or value can change the shape of the query.
pub fn render(domain: &str, q: &Select) -> String {
    let mut out = String::from("select ");
    match &q.output {
        Output::All => out.push('*'),
        Output::ItemName => out.push_str("itemName()"),
        Output::Count => out.push_str("count(*)"),
        Output::Attrs(names) => {
            let names: Vec<String> = names.iter().map(|n| quote_name(n)).collect();
            out.push_str(&names.join(", "));
        }
    }
    out.push_str(" from ");
    out.push_str(&quote_name(domain));
    if let Some(f) = &q.filter {
        out.push_str(" where ");
        render_expr(f, &mut out);
    }
    if let Some((operand, order)) = &q.order_by {
        out.push_str(" order by ");
        out.push_str(&render_operand(operand));
        out.push_str(match order {
            Order::Asc => " asc",
            Order::Desc => " desc",
        });
    }
    if let Some(n) = q.limit {
        out.push_str(&format!(" limit {n}"));
    }
    out
}

/// `` `name` `` with backticks doubled.
pub fn quote_name(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'value'` with single quotes doubled.
pub fn quote_value(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn render_operand(o: &Operand) -> String {
    match o {
        Operand::Attr(a) => quote_name(a),
        Operand::Every(a) => format!("every({})", quote_name(a)),
        Operand::ItemName => "itemName()".to_string(),
    }
}

fn render_expr(e: &Expr, out: &mut String) {
    match e {
        Expr::Cmp(o, op, v) => {
            let op = match op {
                CmpOp::Eq => "=",
                CmpOp::Ne => "!=",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
                CmpOp::Like => "like",
                CmpOp::NotLike => "not like",
            };
            out.push_str(&format!("{} {op} {}", render_operand(o), quote_value(v)));
        }
        Expr::Between(o, lo, hi) => out.push_str(&format!(
            "{} between {} and {}",
            render_operand(o),
            quote_value(lo),
            quote_value(hi)
        )),
        Expr::In(o, vs) => {
            let vs: Vec<String> = vs.iter().map(|v| quote_value(v)).collect();
            out.push_str(&format!("{} in ({})", render_operand(o), vs.join(", ")));
        }
        Expr::IsNull(o) => out.push_str(&format!("{} is null", render_operand(o))),
        Expr::IsNotNull(o) => out.push_str(&format!("{} is not null", render_operand(o))),
        Expr::Not(inner) => {
            out.push_str("not (");
            render_expr(inner, out);
            out.push(')');
        }
        Expr::And(a, b) => render_binary(a, "and", b, out),
        Expr::Or(a, b) => render_binary(a, "or", b, out),
        Expr::Intersection(a, b) => render_binary(a, "intersection", b, out),
    }
}

/// Both sides parenthesised, so precedence never depends on the reader.
fn render_binary(a: &Expr, op: &str, b: &Expr, out: &mut String) {
    out.push('(');
    render_expr(a, out);
    out.push_str(&format!(") {op} ("));
    render_expr(b, out);
    out.push(')');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_names_are_quoted() {
        let q = Select::all_where(
            Expr::every_in("name", &["it's".to_string(), "a`b\\%".to_string()])
                .and(Expr::starts_with("na`me", "x%")),
        );
        assert_eq!(
            render("dom`ain", &q),
            "select * from `dom``ain` where (every(`name`) in ('it''s', 'a`b\\%')) and (`na``me` like 'x\\%%')"
        );
    }
}

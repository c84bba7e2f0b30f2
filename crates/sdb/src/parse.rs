//! A parser of SimpleDB Select text into the typed [`Select`], the inverse of
//! [`crate::select::render`] (so `parse(render(d, q)) == (d, q)`).
//!
//! ```text
//! select  := "select" output "from" name ["where" expr]
//!            ["order" "by" operand ["asc" | "desc"]] ["limit" number]
//! output  := "*" | "itemName()" | "count(*)" | name {"," name}
//! expr    := or {"intersection" or}
//! or      := and {"or" and}
//! and     := unary {"and" unary}
//! unary   := "not" unary | "(" expr ")" | predicate
//! predicate := operand ( cmp value | ["not"] "like" value
//!            | "between" value "and" value | "in" "(" value {"," value} ")"
//!            | "is" ["not"] "null" )
//! operand := name | "every(" name ")" | "itemName()"
//! ```
//!
//! Keywords are case-insensitive. Values are quoted with `'` or `"` (the
//! quote doubled inside); names are bare (letters, digits, `_`, `$`, not a
//! keyword) or quoted with backticks (doubled inside).

use crate::error::{SdbError, SdbResult};
use crate::select::{CmpOp, Expr, Operand, Order, Output, Select};

/// Parses Select text into its domain and query.
pub fn parse(text: &str) -> SdbResult<(String, Select)> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let out = p.select()?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(t, "unexpected text after the query"));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A bare word: a keyword or a name.
    Word(String),
    /// A backtick-quoted name.
    Name(String),
    /// A quoted value.
    Value(String),
    Number(String),
    Sym(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Character offset in the text, for messages.
    at: usize,
}

const KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "like",
    "between",
    "in",
    "is",
    "null",
    "intersection",
    "order",
    "by",
    "asc",
    "desc",
    "limit",
];

fn syntax(at: usize, what: &str) -> SdbError {
    SdbError::invalid_query(format!(
        "The specified query expression syntax is not valid: {what} at character {at}"
    ))
}

fn tokenize(text: &str) -> SdbResult<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '\'' | '"' | '`' => {
                let (s, next) = quoted(&chars, i, c)?;
                i = next;
                if c == '`' {
                    Tok::Name(s)
                } else {
                    Tok::Value(s)
                }
            }
            '*' | '(' | ')' | ',' | '=' => {
                i += 1;
                Tok::Sym(match c {
                    '*' => "*",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    _ => "=",
                })
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Sym("!=")
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                i += if eq { 2 } else { 1 };
                Tok::Sym(match (c, eq) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    _ => ">",
                })
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                Tok::Number(chars[start..i].iter().collect())
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                Tok::Word(chars[start..i].iter().collect())
            }
            _ => return Err(syntax(at, &format!("unexpected character `{c}`"))),
        };
        out.push(Token { tok, at });
    }
    Ok(out)
}

/// A quoted string starting at `chars[start] == quote`, with the quote
/// doubled inside; returns the text and the index after the closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> SdbResult<(String, usize)> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(syntax(start, &format!("unterminated {quote}-quoted text"))),
            Some(&c) if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    s.push(quote);
                    i += 2;
                } else {
                    return Ok((s, i + 1));
                }
            }
            Some(&c) => {
                s.push(c);
                i += 1;
            }
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + n).map(|t| &t.tok)
    }

    fn end_pos(&self) -> usize {
        self.tokens.last().map(|t| t.at + 1).unwrap_or(0)
    }

    fn error_at(&self, t: &Token, what: &str) -> SdbError {
        syntax(t.at, what)
    }

    fn error_here(&self, what: &str) -> SdbError {
        match self.peek() {
            Some(t) => self.error_at(t, what),
            None => syntax(self.end_pos(), &format!("{what} (the query ended)")),
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.is_keyword(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> SdbResult<()> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            Err(self.error_here(&format!("expected `{kw}`")))
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> SdbResult<()> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.error_here(&format!("expected `{s}`")))
        }
    }

    /// A bare word followed by `(`: `itemName(`, `count(`, `every(`.
    fn is_call(&self, name: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(name))
            && matches!(self.peek_at(1), Some(Tok::Sym("(")))
    }

    fn name(&mut self) -> SdbResult<String> {
        match self.peek_at(0).cloned() {
            Some(Tok::Name(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(Tok::Word(w)) if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&w)) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.error_here("expected a name (quote names that are keywords with `)")),
        }
    }

    fn value(&mut self) -> SdbResult<String> {
        match self.peek_at(0).cloned() {
            Some(Tok::Value(v)) => {
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.error_here("expected a quoted value")),
        }
    }

    fn select(&mut self) -> SdbResult<(String, Select)> {
        self.expect_keyword("select")?;
        let output = self.output()?;
        self.expect_keyword("from")?;
        let domain = self.name()?;
        let filter = if self.eat_keyword("where") {
            Some(self.expr()?)
        } else {
            None
        };
        let order_by = if self.eat_keyword("order") {
            self.expect_keyword("by")?;
            let operand = self.operand()?;
            let order = if self.eat_keyword("desc") {
                Order::Desc
            } else {
                self.eat_keyword("asc");
                Order::Asc
            };
            Some((operand, order))
        } else {
            None
        };
        let limit = if self.eat_keyword("limit") {
            match self.peek_at(0).cloned() {
                Some(Tok::Number(n)) => {
                    let v = n
                        .parse::<u32>()
                        .map_err(|_| self.error_here("the limit is too large"))?;
                    self.pos += 1;
                    Some(v)
                }
                _ => return Err(self.error_here("expected a number after `limit`")),
            }
        } else {
            None
        };
        Ok((
            domain,
            Select {
                output,
                filter,
                order_by,
                limit,
            },
        ))
    }

    fn output(&mut self) -> SdbResult<Output> {
        if self.eat_sym("*") {
            return Ok(Output::All);
        }
        if self.is_call("itemName") {
            self.pos += 1;
            self.expect_sym("(")?;
            self.expect_sym(")")?;
            return Ok(Output::ItemName);
        }
        if self.is_call("count") {
            self.pos += 1;
            self.expect_sym("(")?;
            self.expect_sym("*")?;
            self.expect_sym(")")?;
            return Ok(Output::Count);
        }
        let mut names = vec![self.name()?];
        while self.eat_sym(",") {
            names.push(self.name()?);
        }
        Ok(Output::Attrs(names))
    }

    fn operand(&mut self) -> SdbResult<Operand> {
        if self.is_call("itemName") {
            self.pos += 1;
            self.expect_sym("(")?;
            self.expect_sym(")")?;
            return Ok(Operand::ItemName);
        }
        if self.is_call("every") {
            self.pos += 1;
            self.expect_sym("(")?;
            let n = self.name()?;
            self.expect_sym(")")?;
            return Ok(Operand::Every(n));
        }
        Ok(Operand::Attr(self.name()?))
    }

    fn expr(&mut self) -> SdbResult<Expr> {
        let mut e = self.or()?;
        while self.eat_keyword("intersection") {
            e = Expr::Intersection(Box::new(e), Box::new(self.or()?));
        }
        Ok(e)
    }

    fn or(&mut self) -> SdbResult<Expr> {
        let mut e = self.and()?;
        while self.eat_keyword("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> SdbResult<Expr> {
        let mut e = self.unary()?;
        while self.eat_keyword("and") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> SdbResult<Expr> {
        if self.eat_keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat_sym("(") {
            let e = self.expr()?;
            self.expect_sym(")")?;
            return Ok(e);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> SdbResult<Expr> {
        let o = self.operand()?;
        for (sym, op) in [
            ("=", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ] {
            if self.eat_sym(sym) {
                return Ok(Expr::Cmp(o, op, self.value()?));
            }
        }
        if self.eat_keyword("like") {
            return Ok(Expr::Cmp(o, CmpOp::Like, self.value()?));
        }
        if self.is_keyword("not")
            && matches!(self.peek_at(1), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("like"))
        {
            self.pos += 2;
            return Ok(Expr::Cmp(o, CmpOp::NotLike, self.value()?));
        }
        if self.eat_keyword("between") {
            let lo = self.value()?;
            self.expect_keyword("and")?;
            let hi = self.value()?;
            return Ok(Expr::Between(o, lo, hi));
        }
        if self.eat_keyword("in") {
            self.expect_sym("(")?;
            let mut vs = vec![self.value()?];
            while self.eat_sym(",") {
                vs.push(self.value()?);
            }
            self.expect_sym(")")?;
            return Ok(Expr::In(o, vs));
        }
        if self.eat_keyword("is") {
            let not = self.eat_keyword("not");
            self.expect_keyword("null")?;
            return Ok(if not {
                Expr::IsNotNull(o)
            } else {
                Expr::IsNull(o)
            });
        }
        Err(self.error_here(
            "expected a comparison (=, !=, <, <=, >, >=, like, not like, between, in, is null, is not null)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::select::render;

    fn attr(a: &str) -> Operand {
        Operand::Attr(a.into())
    }

    #[test]
    fn parses_the_full_grammar() {
        let (d, q) = parse(
            "SELECT a, `b c` FROM `my``dom` WHERE a = 'x''y' AnD (every(b) IN ('1', \"2\"\"\") \
             or NOT itemName() like 'p%') intersection c between '1' and '9' \
             and d is not null and e is null and f not like '%z' and g != 'q' \
             order by a desc limit 25",
        )
        .unwrap();
        assert_eq!(d, "my`dom");
        assert_eq!(q.output, Output::Attrs(vec!["a".into(), "b c".into()]));
        assert_eq!(q.order_by, Some((attr("a"), Order::Desc)));
        assert_eq!(q.limit, Some(25));
        let left = Expr::Cmp(attr("a"), CmpOp::Eq, "x'y".into()).and(
            Expr::In(Operand::Every("b".into()), vec!["1".into(), "2\"".into()]).or(Expr::Not(
                Box::new(Expr::Cmp(Operand::ItemName, CmpOp::Like, "p%".into())),
            )),
        );
        let right = Expr::Between(attr("c"), "1".into(), "9".into())
            .and(Expr::IsNotNull(attr("d")))
            .and(Expr::IsNull(attr("e")))
            .and(Expr::Cmp(attr("f"), CmpOp::NotLike, "%z".into()))
            .and(Expr::Cmp(attr("g"), CmpOp::Ne, "q".into()));
        assert_eq!(
            q.filter,
            Some(Expr::Intersection(Box::new(left), Box::new(right)))
        );
    }

    #[test]
    fn outputs_and_defaults() {
        assert_eq!(parse("select * from d").unwrap().1.output, Output::All);
        assert_eq!(
            parse("select itemName() from d").unwrap().1.output,
            Output::ItemName
        );
        let (_, q) = parse("select count(*) from d where x > '1' order by x").unwrap();
        assert_eq!(q.output, Output::Count);
        assert_eq!(q.order_by, Some((attr("x"), Order::Asc)));
        assert_eq!(q.limit, None);
    }

    #[test]
    fn precedence_is_not_then_and_then_or_then_intersection() {
        let (_, q) = parse("select * from d where a = '1' or b = '2' and not c = '3'").unwrap();
        let expect = Expr::Cmp(attr("a"), CmpOp::Eq, "1".into()).or(Expr::Cmp(
            attr("b"),
            CmpOp::Eq,
            "2".into(),
        )
        .and(Expr::Not(Box::new(Expr::Cmp(
            attr("c"),
            CmpOp::Eq,
            "3".into(),
        )))));
        assert_eq!(q.filter, Some(expect));
    }

    #[test]
    fn bad_queries_are_invalid_query_expressions() {
        for bad in [
            "",
            "select",
            "select * from",
            "select * from d where",
            "select * from d where a = b",
            "select * from d where a = 'unterminated",
            "select * from d where a == '1'",
            "select * from d where a in ()",
            "select * from d limit x",
            "select * from d limit 99999999999",
            "select * from d where a = '1' extra",
            "select * from d where (a = '1'",
            "select * from where where a = '1'",
            "select * from d where a is '1'",
            "select * from d where a ~ '1'",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, "InvalidQueryExpression", "{bad}: {e}");
            assert_eq!(e.status, 400);
        }
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9_]{0,6}",
            // Hostile names: backticks, quotes, spaces, keywords, unicode.
            "[a-z`'\" %\\\\()*=ü]{1,8}",
            Just("select".to_string()),
            Just("itemName()".to_string()),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9.-]{0,8}", "[a-z'\"`%\\\\ ()*,=<>ü\u{1F600}]{0,10}",]
    }

    fn operand() -> impl Strategy<Value = Operand> {
        prop_oneof![
            name().prop_map(Operand::Attr),
            name().prop_map(Operand::Every),
            Just(Operand::ItemName),
        ]
    }

    fn cmp_op() -> impl Strategy<Value = CmpOp> {
        prop_oneof![
            Just(CmpOp::Eq),
            Just(CmpOp::Ne),
            Just(CmpOp::Lt),
            Just(CmpOp::Le),
            Just(CmpOp::Gt),
            Just(CmpOp::Ge),
            Just(CmpOp::Like),
            Just(CmpOp::NotLike),
        ]
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            (operand(), cmp_op(), value()).prop_map(|(o, op, v)| Expr::Cmp(o, op, v)),
            (operand(), value(), value()).prop_map(|(o, a, b)| Expr::Between(o, a, b)),
            (operand(), prop::collection::vec(value(), 1..4)).prop_map(|(o, v)| Expr::In(o, v)),
            operand().prop_map(Expr::IsNull),
            operand().prop_map(Expr::IsNotNull),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
                (inner.clone(), inner)
                    .prop_map(|(a, b)| Expr::Intersection(Box::new(a), Box::new(b))),
            ]
        })
    }

    fn query() -> impl Strategy<Value = Select> {
        let output = prop_oneof![
            Just(Output::All),
            Just(Output::ItemName),
            Just(Output::Count),
            prop::collection::vec(name(), 1..4).prop_map(Output::Attrs),
        ];
        let order = prop_oneof![Just(Order::Asc), Just(Order::Desc)];
        (
            output,
            prop::option::of(expr()),
            prop::option::of((operand(), order)),
            prop::option::of(1u32..5000),
        )
            .prop_map(|(output, filter, order_by, limit)| Select {
                output,
                filter,
                order_by,
                limit,
            })
    }

    proptest! {
        #[test]
        fn parse_inverts_render(domain in name(), q in query()) {
            let text = render(&domain, &q);
            let (d, back) = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(d, domain);
            prop_assert_eq!(back, q);
        }
    }
}

//! Selects within SimpleDB's documented limits (20 comparisons and 20
//! distinct attributes per expression, 256 requested attributes): counting
//! them ([`check`], which sdb-local applies to every Select), and splitting
//! a Select that exceeds them into several that do not ([`split`]), for a
//! client to run one after the other and merge.

use std::collections::BTreeSet;

use crate::error::{SdbError, SdbResult};
use crate::limits::{MAX_REQUESTED_ATTRIBUTES, MAX_SELECT_ATTRIBUTES, MAX_SELECT_COMPARISONS};
use crate::select::{Expr, Operand, Output, Select};

/// How many comparisons an expression makes, counted as SimpleDB's limit
/// does: every value tested is one (an `in` list of n values is n, a
/// `between` two).
pub fn comparisons(e: &Expr) -> usize {
    match e {
        Expr::Cmp(..) | Expr::IsNull(_) | Expr::IsNotNull(_) => 1,
        Expr::Between(..) => 2,
        Expr::In(_, values) => values.len(),
        Expr::Not(inner) => comparisons(inner),
        Expr::And(a, b) | Expr::Or(a, b) | Expr::Intersection(a, b) => {
            comparisons(a) + comparisons(b)
        }
    }
}

/// The distinct attributes an expression tests (`itemName()` included).
pub fn attributes(e: &Expr) -> BTreeSet<String> {
    fn walk(e: &Expr, out: &mut BTreeSet<String>) {
        let name = |o: &Operand| match o {
            Operand::Attr(a) | Operand::Every(a) => a.clone(),
            Operand::ItemName => "itemName()".to_string(),
        };
        match e {
            Expr::Cmp(o, ..)
            | Expr::Between(o, ..)
            | Expr::In(o, _)
            | Expr::IsNull(o)
            | Expr::IsNotNull(o) => {
                out.insert(name(o));
            }
            Expr::Not(inner) => walk(inner, out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Intersection(a, b) => {
                walk(a, out);
                walk(b, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(e, &mut out);
    out
}

/// Refuses a Select beyond SimpleDB's limits with the error SimpleDB
/// answers: more than 20 distinct attributes is `InvalidNumberPredicates`,
/// more than 20 comparisons in the expression `InvalidNumberValueTests`
/// (AWS words it "per predicate"; its limits table says per expression,
/// the stricter reading, which is the one enforced here).
pub fn check(q: &Select) -> SdbResult<()> {
    if let Output::Attrs(names) = &q.output {
        if names.len() > MAX_REQUESTED_ATTRIBUTES {
            return Err(SdbError::new(
                "TooManyRequestedAttributes",
                400,
                format!(
                    "Too many attributes requested: {}, the limit is {MAX_REQUESTED_ATTRIBUTES}",
                    names.len()
                ),
            ));
        }
    }
    let Some(e) = &q.filter else {
        return Ok(());
    };
    let n = attributes(e).len();
    if n > MAX_SELECT_ATTRIBUTES {
        return Err(SdbError::new(
            "InvalidNumberPredicates",
            400,
            format!("Too many predicates in the query expression: {n} attributes, the limit is {MAX_SELECT_ATTRIBUTES}"),
        ));
    }
    let n = comparisons(e);
    if n > MAX_SELECT_COMPARISONS {
        return Err(SdbError::new(
            "InvalidNumberValueTests",
            400,
            format!("Too many value tests per predicate in the query expression: {n}, the limit is {MAX_SELECT_COMPARISONS}"),
        ));
    }
    Ok(())
}

/// The conjuncts of a top-level `and` chain.
fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other.clone()),
    }
}

/// The attribute a conjunct requires to have a value, if it does: any
/// comparison of `a` or `every(a)` other than `is null` (SimpleDB does not
/// consider an item lacking the attribute), and an `or` of such on one
/// attribute.
fn requires_value(e: &Expr) -> Option<&str> {
    match e {
        Expr::Cmp(o, ..) | Expr::Between(o, ..) | Expr::In(o, _) | Expr::IsNotNull(o) => match o {
            Operand::Attr(a) | Operand::Every(a) => Some(a),
            Operand::ItemName => None,
        },
        Expr::Or(a, b) => requires_value(a).filter(|x| requires_value(b) == Some(*x)),
        _ => None,
    }
}

/// Selects within the limits whose results, together, are `q`'s, or an
/// error naming why `q` cannot be split.
///
/// Conjuncts that cannot narrow the result go first (`a is not null` beside
/// another test of `a`). Then the longest `in` lists of the top-level
/// conjunction are cut into chunks until each Select is within the limits;
/// the Selects are the combinations of one chunk of each list. For
/// `every(a) in (...)` chunks this is exact when `a` has one value per
/// item (an item whose values fall in different chunks matches none of
/// them); for `a in (...)` an item may match several chunks, so a caller
/// merges by item name. A count is the sum of the chunks' counts.
/// `order by` and `limit` hold per Select, not across them, so a query that
/// needs splitting may not have them.
pub fn split(q: &Select) -> SdbResult<Vec<Select>> {
    let Some(filter) = &q.filter else {
        check(q)?;
        return Ok(vec![q.clone()]);
    };
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    // Drop `a is not null` where another conjunct requires `a` anyway.
    let required: Vec<Option<String>> = parts
        .iter()
        .map(|p| match p {
            Expr::IsNotNull(_) => None,
            other => requires_value(other).map(str::to_string),
        })
        .collect();
    let parts: Vec<Expr> = parts
        .into_iter()
        .filter(|p| match p {
            Expr::IsNotNull(Operand::Attr(a)) => !required.iter().flatten().any(|r| r == a),
            _ => true,
        })
        .collect();
    let simplified = Select {
        filter: parts.iter().cloned().reduce(Expr::and),
        ..q.clone()
    };
    if check(&simplified).is_ok() {
        return Ok(vec![simplified]);
    }
    if q.order_by.is_some() || q.limit.is_some() {
        check(&simplified)?;
    }
    // Chunk sizes of each splittable `in` list, halved (the longest first)
    // until the comparisons fit.
    let fixed: usize = parts
        .iter()
        .filter(|p| !matches!(p, Expr::In(..)))
        .map(comparisons)
        .sum();
    let mut chunk: Vec<usize> = parts
        .iter()
        .map(|p| match p {
            Expr::In(_, v) => v.len(),
            _ => 0,
        })
        .collect();
    loop {
        let total = fixed + chunk.iter().sum::<usize>();
        if total <= MAX_SELECT_COMPARISONS {
            break;
        }
        let (i, &longest) = chunk
            .iter()
            .enumerate()
            .max_by_key(|(_, n)| **n)
            .expect("a Select beyond the limit has a conjunct");
        if longest <= 1 {
            // Nothing left to cut: the other conjuncts alone are too many.
            check(&simplified)?;
        }
        chunk[i] = longest.div_ceil(2);
    }
    // The combinations of one chunk of each list.
    let mut selects: Vec<Vec<Expr>> = vec![Vec::new()];
    for (p, size) in parts.iter().zip(&chunk) {
        let options: Vec<Expr> = match p {
            Expr::In(o, values) if values.len() > *size => values
                .chunks(*size)
                .map(|c| Expr::In(o.clone(), c.to_vec()))
                .collect(),
            other => vec![other.clone()],
        };
        selects = selects
            .into_iter()
            .flat_map(|prefix| {
                options.iter().map(move |o| {
                    let mut v = prefix.clone();
                    v.push(o.clone());
                    v
                })
            })
            .collect();
    }
    let out: Vec<Select> = selects
        .into_iter()
        .map(|conj| Select {
            filter: conj.into_iter().reduce(Expr::and),
            ..q.clone()
        })
        .collect();
    for s in &out {
        check(s)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::item::{Attrs, Edit};

    fn values(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i:02}")).collect()
    }

    /// The shape a package filter has: `name is not null` and `every(x) in`
    /// lists.
    fn filter(dists: usize, archs: usize, names: usize) -> Select {
        let mut e = Expr::IsNotNull(Operand::Attr("name".into()));
        for (attr, n) in [
            ("name", names),
            ("distribution", dists),
            ("architecture", archs),
        ] {
            if n > 0 {
                e = e.and(Expr::every_in(attr, &values(&attr[..1], n)));
            }
        }
        Select::all_where(e)
    }

    #[test]
    fn counts_follow_the_documented_rules() {
        let q = filter(3, 2, 0);
        let e = q.filter.as_ref().unwrap();
        assert_eq!(comparisons(e), 6);
        assert_eq!(attributes(e).len(), 3);
        let between = Expr::Between(Operand::ItemName, "a".into(), "b".into());
        assert_eq!(comparisons(&between), 2);
    }

    #[test]
    fn check_answers_simpledb_codes() {
        assert!(check(&filter(19, 0, 0)).is_ok());
        assert_eq!(
            check(&filter(20, 0, 0)).unwrap_err().code,
            "InvalidNumberValueTests"
        );
        let many = (0..21)
            .map(|i| Expr::IsNull(Operand::Attr(format!("a{i}"))))
            .reduce(Expr::or)
            .unwrap();
        // 21 attributes (and as many comparisons): the attribute limit
        // is the one named.
        assert_eq!(
            check(&Select::all_where(many)).unwrap_err().code,
            "InvalidNumberPredicates"
        );
        let wide = Select {
            output: Output::Attrs(values("a", 257)),
            ..Select::all_where(Expr::IsNull(Operand::ItemName))
        };
        assert_eq!(check(&wide).unwrap_err().code, "TooManyRequestedAttributes");
    }

    #[test]
    fn a_redundant_not_null_goes_first() {
        // 1 + 20 comparisons: dropping `name is not null` is enough.
        let parts = split(&filter(0, 0, 20)).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(comparisons(parts[0].filter.as_ref().unwrap()), 20);
    }

    #[test]
    fn thirty_distributions_and_twenty_five_architectures_split_within_limits() {
        let q = filter(30, 25, 3);
        let parts = split(&q).unwrap();
        assert!(parts.len() > 1);
        for p in &parts {
            check(p).unwrap();
        }
    }

    #[test]
    fn order_and_limit_are_not_split() {
        let mut q = filter(30, 0, 0);
        q.limit = Some(5);
        assert_eq!(split(&q).unwrap_err().code, "InvalidNumberValueTests");
    }

    /// The split Selects find, together, exactly what the whole one finds.
    #[test]
    fn the_parts_find_what_the_whole_finds() {
        let e = Engine::open_in_memory().unwrap();
        e.create_domain("dom").unwrap();
        let mut items = Vec::new();
        for (i, d) in values("d", 32).iter().enumerate() {
            for a in values("a", 27).iter().step_by(3) {
                let attrs = Attrs::from([
                    ("name".to_string(), vec![format!("n{:02}", i % 4)]),
                    ("distribution".to_string(), vec![d.clone()]),
                    ("architecture".to_string(), vec![a.clone()]),
                ]);
                items.push((format!("{d}-{a}"), attrs));
            }
        }
        items.push((
            "meta".into(),
            Attrs::from([("distribution".into(), vec!["d00".into()])]),
        ));
        e.apply(
            "dom",
            items.iter().map(|(n, a)| Edit::Put {
                item: n,
                attrs: a,
                remove: &[],
            }),
        )
        .unwrap();
        let run = |q: &Select| {
            let mut names = BTreeSet::new();
            e.select_each("dom", q, &mut |i| {
                names.insert(i.name);
                Ok(())
            })
            .unwrap();
            names
        };
        let q = filter(30, 25, 3);
        let whole = run(&q);
        assert!(!whole.is_empty());
        let mut union = BTreeSet::new();
        let mut total = 0;
        for p in split(&q).unwrap() {
            let found = run(&p);
            total += found.len();
            union.extend(found);
        }
        assert_eq!(union, whole);
        // `every(x) in` chunks of single-valued attributes are disjoint.
        assert_eq!(total, whole.len());
    }
}

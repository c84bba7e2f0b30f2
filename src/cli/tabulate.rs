//! Tables laid out exactly as the original's tabulate 0.7.7 lays them out
//! (`tabulate(rows, headers=..., tablefmt=...)`), so scripts that parse the
//! original's tables read ours unchanged: every column at least as wide as
//! its header plus two, text flush left, numeric columns aligned on the
//! decimal point and flush right, each format's rules and padding.
//!
//! One deliberate difference: tabulate rewrites cells of a column it takes
//! for floating point (`1.0` becomes `1`, `1.10` becomes `1.1`); here every
//! cell is printed as it is, only aligned as tabulate would align it.
//! HTML cells are escaped (tabulate 0.7.7 does not escape; valid package
//! data never contains `<`, `>`, `&` or `"`, so valid output is the same).

use super::args::Format;

/// Python's `len()`: tabulate 0.7.7 without the optional wcwidth counts
/// code points.
fn width(s: &str) -> usize {
    s.chars().count()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Int,
    Float,
    Text,
}

/// Python's `int(s)` would accept it.
fn is_int(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// tabulate's `_type`: `True`/`False` are booleans (aligned as text), then
/// int, then float (Python's `float(s)`, which also takes `inf` and `nan`).
fn kind(s: &str) -> Kind {
    if s == "True" || s == "False" {
        Kind::Text
    } else if is_int(s) {
        Kind::Int
    } else if s.parse::<f64>().is_ok() {
        Kind::Float
    } else {
        Kind::Text
    }
}

/// tabulate's `_afterpoint`: digits after the decimal point (or after the
/// exponent's `e` when there is no point), -1 for integers.
fn afterpoint(s: &str) -> isize {
    if is_int(s) || s.parse::<f64>().is_err() {
        return -1;
    }
    let pos = s.rfind('.').or_else(|| s.to_ascii_lowercase().rfind('e'));
    pos.map_or(-1, |p| (s.len() - p - 1) as isize)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    /// tabulate's "decimal": numbers, flush right on the decimal point.
    Decimal,
}

fn pad_right(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", " ".repeat(w.saturating_sub(width(s))))
}

/// One column's cells aligned to a common width (`_align_column`).
fn align_column(cells: &[&str], align: Align, min_width: usize) -> Vec<String> {
    let cells: Vec<String> = match align {
        Align::Left => cells.iter().map(|c| c.trim().to_string()).collect(),
        Align::Decimal => {
            let decimals: Vec<isize> = cells.iter().map(|c| afterpoint(c)).collect();
            let max = decimals.iter().copied().max().unwrap_or(-1);
            cells
                .iter()
                .zip(&decimals)
                .map(|(c, d)| format!("{c}{}", " ".repeat((max - d) as usize)))
                .collect()
        }
    };
    let w = cells
        .iter()
        .map(|c| width(c))
        .max()
        .unwrap_or(0)
        .max(min_width);
    cells
        .iter()
        .map(|c| match align {
            Align::Left => pad_right(c, w),
            Align::Decimal => pad_left(c, w),
        })
        .collect()
}

/// A horizontal rule: `begin`, one `fill` run per column, `sep` between.
struct Line {
    begin: &'static str,
    fill: &'static str,
    sep: &'static str,
    end: &'static str,
}

const fn line(
    begin: &'static str,
    fill: &'static str,
    sep: &'static str,
    end: &'static str,
) -> Line {
    Line {
        begin,
        fill,
        sep,
        end,
    }
}

/// How a header or data row is drawn (tabulate's `DataRow` or one of its
/// row functions).
#[derive(Clone, Copy)]
enum Row {
    /// begin, separator, end
    Simple(&'static str, &'static str, &'static str),
    /// `!` for headers, `|` for data
    Mediawiki(&'static str),
    /// the bold mark around header cells (none for data)
    Moin(&'static str),
    Latex,
    Textile,
}

/// The parts of one text format (tabulate's `TableFormat`), with the lines
/// tabulate hides when there are headers already left out.
struct Style {
    above: Option<Line>,
    below_header: Option<Line>,
    between_rows: Option<Line>,
    below: Option<Line>,
    header: Row,
    data: Row,
    padding: usize,
}

fn style(format: Format) -> Style {
    let plain = Row::Simple("", "  ", "");
    let framed = Row::Simple("|", "|", "|");
    let none = Style {
        above: None,
        below_header: None,
        between_rows: None,
        below: None,
        header: plain,
        data: plain,
        padding: 0,
    };
    let latex = format == Format::Latex;
    match format {
        Format::Simple => Style {
            below_header: Some(line("", "-", "  ", "")),
            ..none
        },
        Format::Grid => Style {
            above: Some(line("+", "-", "+", "+")),
            below_header: Some(line("+", "=", "+", "+")),
            between_rows: Some(line("+", "-", "+", "+")),
            below: Some(line("+", "-", "+", "+")),
            header: framed,
            data: framed,
            padding: 1,
        },
        Format::FancyGrid => Style {
            above: Some(line("╒", "═", "╤", "╕")),
            below_header: Some(line("╞", "═", "╪", "╡")),
            between_rows: Some(line("├", "─", "┼", "┤")),
            below: Some(line("╘", "═", "╧", "╛")),
            header: Row::Simple("│", "│", "│"),
            data: Row::Simple("│", "│", "│"),
            padding: 1,
        },
        // tabulate 0.8's `github` (0.7.7 has none): pipe without colons.
        Format::Github => Style {
            below_header: Some(line("|", "-", "|", "|")),
            header: framed,
            data: framed,
            padding: 1,
            ..none
        },
        Format::Orgtbl => Style {
            below_header: Some(line("|", "-", "+", "|")),
            header: framed,
            data: framed,
            padding: 1,
            ..none
        },
        Format::Jira => Style {
            header: Row::Simple("||", "||", "||"),
            data: framed,
            padding: 1,
            ..none
        },
        Format::Psql => Style {
            above: Some(line("+", "-", "+", "+")),
            below_header: Some(line("|", "-", "+", "|")),
            below: Some(line("+", "-", "+", "+")),
            header: framed,
            data: framed,
            padding: 1,
            ..none
        },
        Format::Rst => Style {
            above: Some(line("", "=", "  ", "")),
            below_header: Some(line("", "=", "  ", "")),
            below: Some(line("", "=", "  ", "")),
            ..none
        },
        Format::Mediawiki => Style {
            above: Some(line(
                "{| class=\"wikitable\" style=\"text-align: left;\"",
                "",
                "",
                "\n|+ <!-- caption -->\n|-",
            )),
            below_header: Some(line("|-", "", "", "")),
            between_rows: Some(line("|-", "", "", "")),
            below: Some(line("|}", "", "", "")),
            header: Row::Mediawiki("!"),
            data: Row::Mediawiki("|"),
            padding: 0,
        },
        Format::Moinmoin => Style {
            header: Row::Moin("'''"),
            data: Row::Moin(""),
            padding: 1,
            ..none
        },
        // The opening line depends on the alignments: drawn in `text`.
        Format::Latex | Format::LatexBooktabs => Style {
            below_header: Some(line(
                if latex { "\\hline" } else { "\\midrule" },
                "",
                "",
                "",
            )),
            below: Some(line(
                if latex {
                    "\\hline\n\\end{tabular}"
                } else {
                    "\\bottomrule\n\\end{tabular}"
                },
                "",
                "",
                "",
            )),
            header: Row::Latex,
            data: Row::Latex,
            padding: 1,
            ..none
        },
        Format::Textile => Style {
            header: Row::Simple("|_. ", "|_.", "|"),
            data: Row::Textile,
            padding: 1,
            ..none
        },
        // Plain; pipe and html are drawn by their own functions below.
        _ => none,
    }
}

/// tabulate's `_build_simple_row`: joined, trailing white space removed.
fn simple_row(cells: &[String], (begin, sep, end): (&str, &str, &str)) -> String {
    format!("{begin}{}{end}", cells.join(sep))
        .trim_end()
        .to_string()
}

fn rule(l: &Line, widths: &[usize]) -> String {
    let cells: Vec<String> = widths.iter().map(|w| l.fill.repeat(*w)).collect();
    simple_row(&cells, (l.begin, l.sep, l.end))
}

/// LaTeX's special characters as tabulate escapes them.
fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("\\&"),
            '%' => out.push_str("\\%"),
            '$' => out.push_str("\\$"),
            '#' => out.push_str("\\#"),
            '_' => out.push_str("\\_"),
            '^' => out.push_str("\\^{}"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            '<' => out.push_str("\\ensuremath{<}"),
            '>' => out.push_str("\\ensuremath{>}"),
            c => out.push(c),
        }
    }
    out
}

/// One header or data row (cells already padded); `aligns` is empty for a
/// table without rows, as in tabulate.
fn draw_row(fmt: Row, cells: &[String], aligns: &[Align]) -> String {
    let right = |a: &Align| *a == Align::Decimal;
    match fmt {
        Row::Simple(b, sep, e) => simple_row(cells, (b, sep, e)),
        Row::Mediawiki(sep) => {
            let values: Vec<String> = cells
                .iter()
                .zip(aligns)
                .map(|(c, a)| {
                    let attr = if right(a) { "align=\"right\"| " } else { "" };
                    format!(" {attr}{c} ")
                })
                .collect();
            format!("{sep}{}", values.join(&sep.repeat(2)))
                .trim_end()
                .to_string()
        }
        Row::Moin(mark) => {
            let values: String = cells
                .iter()
                .zip(aligns)
                .map(|(c, a)| {
                    let attr = if right(a) {
                        "<style=\"text-align: right;\">"
                    } else {
                        ""
                    };
                    format!("||{attr} {mark}{c}{mark} ")
                })
                .collect();
            format!("{values}||")
        }
        Row::Latex => {
            let escaped: Vec<String> = cells.iter().map(|c| latex_escape(c)).collect();
            simple_row(&escaped, ("", "&", "\\\\"))
        }
        Row::Textile => {
            let values: Vec<String> = cells
                .iter()
                .enumerate()
                .zip(aligns)
                .map(|((i, c), a)| {
                    let attr = if right(a) { ">." } else { "<." };
                    format!("{attr}{c}{}", if i == 0 { " " } else { "" })
                })
                .collect();
            format!("|{}|", values.join("|"))
        }
    }
}

/// `tabulate(rows, headers=headers, tablefmt=format)`, without a final
/// newline (callers print it as the original does, e.g. after a blank line).
/// `format` must be a table format.
pub fn tabulate(format: Format, headers: &[&str], rows: &[Vec<String>]) -> String {
    let ncols = headers.len();
    let mut rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| {
            (0..ncols)
                .map(|i| r.get(i).map_or("", String::as_str))
                .collect()
        })
        .collect();
    let mut headers: Vec<&str> = headers.to_vec();
    // rst: an empty first cell would end the table; tabulate writes `..`.
    if format == Format::Rst {
        for cell in rows
            .iter_mut()
            .map(|r| &mut r[0])
            .chain(headers.first_mut())
        {
            if cell.trim().is_empty() {
                *cell = "..";
            }
        }
    }
    let aligns: Vec<Align> = (0..ncols)
        .map(|i| match rows.iter().map(|r| kind(r[i])).max() {
            Some(Kind::Int | Kind::Float) => Align::Decimal,
            _ => Align::Left,
        })
        .collect();
    let columns: Vec<Vec<String>> = (0..ncols)
        .map(|i| {
            let cells: Vec<&str> = rows.iter().map(|r| r[i]).collect();
            align_column(&cells, aligns[i], width(headers[i]) + 2)
        })
        .collect();
    let widths: Vec<usize> = (0..ncols)
        .map(|i| {
            columns[i]
                .first()
                .map_or(width(headers[i]) + 2, |c| width(c))
        })
        .collect();
    let head: Vec<String> = (0..ncols)
        .map(|i| match aligns[i] {
            Align::Left => pad_right(headers[i], widths[i]),
            Align::Decimal => pad_left(headers[i], widths[i]),
        })
        .collect();
    let body: Vec<Vec<String>> = (0..rows.len())
        .map(|r| columns.iter().map(|c| c[r].clone()).collect())
        .collect();
    // tabulate zips the header with the column alignments, of which an
    // empty table has none.
    let aligns = if rows.is_empty() {
        &[][..]
    } else {
        &aligns[..]
    };
    match format {
        Format::Pipe => pipe(&head, &body, &widths, aligns),
        Format::Html => html(&head, &body, aligns),
        _ => text(format, &head, &body, &widths, aligns),
    }
}

/// tabulate's `_format_table` for the rule-and-row formats.
fn text(
    format: Format,
    head: &[String],
    body: &[Vec<String>],
    widths: &[usize],
    aligns: &[Align],
) -> String {
    let st = style(format);
    let pad = " ".repeat(st.padding);
    let padded = |cells: &[String]| -> Vec<String> {
        cells.iter().map(|c| format!("{pad}{c}{pad}")).collect()
    };
    let widths: Vec<usize> = widths.iter().map(|w| w + 2 * st.padding).collect();
    let mut lines = Vec::new();
    if matches!(format, Format::Latex | Format::LatexBooktabs) {
        let cols: String = aligns
            .iter()
            .map(|a| if *a == Align::Decimal { 'r' } else { 'l' })
            .collect();
        let top = if format == Format::Latex {
            "\\hline"
        } else {
            "\\toprule"
        };
        lines.push(format!("\\begin{{tabular}}{{{cols}}}\n{top}"));
    }
    if let Some(l) = &st.above {
        lines.push(rule(l, &widths));
    }
    lines.push(draw_row(st.header, &padded(head), aligns));
    if let Some(l) = &st.below_header {
        lines.push(rule(l, &widths));
    }
    for (i, r) in body.iter().enumerate() {
        if i > 0 {
            if let Some(l) = &st.between_rows {
                lines.push(rule(l, &widths));
            }
        }
        lines.push(draw_row(st.data, &padded(r), aligns));
    }
    if let Some(l) = &st.below {
        lines.push(rule(l, &widths));
    }
    lines.join("\n")
}

/// `pipe`: the rule under the header marks each column's alignment.
fn pipe(head: &[String], body: &[Vec<String>], widths: &[usize], aligns: &[Align]) -> String {
    let padded =
        |cells: &[String]| -> Vec<String> { cells.iter().map(|c| format!(" {c} ")).collect() };
    let segments: Vec<String> = widths
        .iter()
        .zip(aligns)
        .map(|(w, a)| match a {
            Align::Left => format!(":{}", "-".repeat(w + 1)),
            Align::Decimal => format!("{}:", "-".repeat(w + 1)),
        })
        .collect();
    let mut lines = vec![simple_row(&padded(head), ("|", "|", "|"))];
    lines.push(format!("|{}|", segments.join("|")));
    // (with no rows tabulate draws the rule from no alignments: `||`)
    lines.extend(body.iter().map(|r| simple_row(&padded(r), ("|", "|", "|"))));
    lines.join("\n")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `html`: cells keep their padding, numeric columns say they are right
/// aligned.
fn html(head: &[String], body: &[Vec<String>], aligns: &[Align]) -> String {
    let row = |tag: &str, cells: &[String]| -> String {
        let cells: String = cells
            .iter()
            .zip(aligns.iter())
            .map(|(c, a)| {
                let attr = match a {
                    Align::Left => "",
                    Align::Decimal => " style=\"text-align: right;\"",
                };
                format!("<{tag}{attr}>{}</{tag}>", html_escape(c))
            })
            .collect();
        format!("<tr>{}</tr>", cells.trim_end())
    };
    let mut lines = vec![
        "<table>".to_string(),
        "<thead>".to_string(),
        row("th", head),
        "</thead>".to_string(),
        "<tbody>".to_string(),
    ];
    lines.extend(body.iter().map(|r| row("td", r)));
    lines.push("</tbody>\n</table>".to_string());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[[&str; 2]]) -> Vec<Vec<String>> {
        v.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn columns_are_at_least_header_plus_two_wide() {
        let t = tabulate(
            Format::Simple,
            &["name", "version"],
            &rows(&[["a", "2.10-3"]]),
        );
        assert_eq!(t, "name    version\n------  ---------\na       2.10-3");
    }

    #[test]
    fn numeric_columns_align_on_the_point_and_keep_their_text() {
        let t = tabulate(
            Format::Simple,
            &["n", "v"],
            &rows(&[["a", "1.0"], ["b", "10"], ["c", "2.25"]]),
        );
        // tabulate would print 1, 10, 2.25; the text stays as it is.
        assert_eq!(t, "n        v\n---  -----\na     1.0\nb    10\nc     2.25");
        let p = tabulate(Format::Pipe, &["n", "v"], &rows(&[["a", "7"]]));
        assert_eq!(p, "| n   |   v |\n|:----|----:|\n| a   |   7 |");
    }

    #[test]
    fn github_has_a_plain_rule_and_html_escapes() {
        let one = |c: &str| vec![vec![c.to_string()]];
        let g = tabulate(Format::Github, &["name"], &one("x"));
        assert_eq!(g, "| name   |\n|--------|\n| x      |");
        let h = tabulate(Format::Html, &["name"], &one("a<b"));
        assert!(h.contains("<td>a&lt;b   </td>"), "{h}");
    }

    #[test]
    fn an_empty_table_is_drawn_as_tabulate_draws_it() {
        // Python: tabulate([], headers=["n", "v"], tablefmt=...)
        assert_eq!(
            tabulate(Format::Grid, &["n", "v"], &[]),
            "+-----+-----+\n| n   | v   |\n+=====+=====+\n+-----+-----+"
        );
        assert_eq!(
            tabulate(Format::Html, &["n", "v"], &[]),
            "<table>\n<thead>\n<tr></tr>\n</thead>\n<tbody>\n</tbody>\n</table>"
        );
    }
}

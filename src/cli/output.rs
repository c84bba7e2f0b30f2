//! Output formats of `query` (and the tables `rm` and `cp` show): the
//! original's tabulate formats, JSON, and index stanzas.

use super::args::Format;
use crate::model::{Item, Package};

pub const HEADERS: [&str; 5] = [
    "name",
    "distribution",
    "component",
    "architecture",
    "version",
];

/// The rows of the standard package table.
pub fn package_rows(packages: &[Package]) -> Vec<Vec<String>> {
    packages
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.distribution.clone(),
                p.component.clone(),
                p.architecture.clone(),
                p.version.clone(),
            ]
        })
        .collect()
}

/// Renders a listing in `format`. `items` are the raw items of `packages`
/// (same set), used by the JSON formats.
pub fn render(format: Format, packages: &[Package], items: &[Item]) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&crate::catalog::tree::package_tree(items))
                .expect("JSON values always serialize");
            s.push('\n');
            s
        }
        Format::Jsonc => {
            let mut s = serde_json::to_string(&crate::catalog::tree::package_tree(items))
                .expect("JSON values always serialize");
            s.push('\n');
            s
        }
        Format::Packages => {
            let mut s = String::new();
            for p in packages {
                crate::publish::stanza::write_stanza(p, &p.distribution, &mut s);
            }
            s
        }
        table => render_table(table, &HEADERS, &package_rows(packages)),
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A table in one of tabulate's formats (strings, left-aligned).
pub fn render_table(format: Format, headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| width(&r[i]))
                .chain([width(headers[i])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let head: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let line = |cells: &[String], sep: &str, edge: bool| {
        let inner: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect();
        if edge {
            format!("| {} |", inner.join(sep))
        } else {
            inner.join(sep)
        }
    };
    let rule = |fill: char, left: &str, mid: &str, right: &str, extra: usize| {
        let parts: Vec<String> = widths
            .iter()
            .map(|w| fill.to_string().repeat(w + extra))
            .collect();
        format!("{left}{}{right}", parts.join(mid))
    };
    let mut out: Vec<String> = Vec::new();
    match format {
        Format::Simple | Format::Plain => {
            out.push(line(&head, "  ", false));
            if format == Format::Simple {
                out.push(rule('-', "", "  ", "", 0));
            }
            out.extend(rows.iter().map(|r| line(r, "  ", false)));
        }
        Format::Grid => {
            out.push(rule('-', "+", "+", "+", 2));
            out.push(line(&head, " | ", true));
            out.push(rule('=', "+", "+", "+", 2));
            for r in rows {
                out.push(line(r, " | ", true));
                out.push(rule('-', "+", "+", "+", 2));
            }
        }
        Format::Pipe | Format::Github => {
            out.push(line(&head, " | ", true));
            let parts: Vec<String> = widths
                .iter()
                .map(|w| {
                    if format == Format::Pipe {
                        format!(":{}", "-".repeat(w + 1))
                    } else {
                        "-".repeat(w + 2)
                    }
                })
                .collect();
            out.push(format!("|{}|", parts.join("|")));
            out.extend(rows.iter().map(|r| line(r, " | ", true)));
        }
        Format::Psql => {
            out.push(rule('-', "+", "+", "+", 2));
            out.push(line(&head, " | ", true));
            out.push(rule('-', "|", "+", "|", 2));
            out.extend(rows.iter().map(|r| line(r, " | ", true)));
            out.push(rule('-', "+", "+", "+", 2));
        }
        Format::Rst => {
            let r = rule('=', "", "  ", "", 0);
            out.push(r.clone());
            out.push(line(&head, "  ", false));
            out.push(r.clone());
            out.extend(rows.iter().map(|row| line(row, "  ", false)));
            out.push(r);
        }
        Format::Html => {
            out.push("<table>".into());
            out.push("<thead>".into());
            let ths: String = headers
                .iter()
                .map(|h| format!("<th>{}</th>", html_escape(h)))
                .collect();
            out.push(format!("<tr>{ths}</tr>"));
            out.push("</thead>".into());
            out.push("<tbody>".into());
            for r in rows {
                let tds: String = r
                    .iter()
                    .map(|c| format!("<td>{}</td>", html_escape(c)))
                    .collect();
                out.push(format!("<tr>{tds}</tr>"));
            }
            out.push("</tbody>".into());
            out.push("</table>".into());
        }
        Format::Json | Format::Jsonc | Format::Packages => unreachable!("not a table format"),
    }
    let mut s: String = out
        .into_iter()
        .map(|l| l.trim_end().to_string() + "\n")
        .collect();
    if s.is_empty() {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec!["hello".into(), "2.10-3".into()],
            vec!["a<b".into(), "1".into()],
        ]
    }

    #[test]
    fn simple_table_has_dashes_under_headers() {
        let t = render_table(Format::Simple, &["name", "version"], &rows());
        assert_eq!(
            t,
            "name   version\n-----  -------\nhello  2.10-3\na<b    1\n"
        );
    }

    #[test]
    fn psql_and_grid_and_pipe_frame_the_cells() {
        let t = render_table(Format::Psql, &["name", "version"], &rows());
        assert!(
            t.starts_with("+-------+---------+\n| name  | version |\n|-------+---------|\n"),
            "{t}"
        );
        let g = render_table(Format::Grid, &["name", "version"], &rows());
        assert!(g.contains("+=======+=========+"), "{g}");
        let p = render_table(Format::Pipe, &["name", "version"], &rows());
        assert!(p.contains("|:------|:--------|"), "{p}");
        let h = render_table(Format::Html, &["name", "version"], &rows());
        assert!(h.contains("<td>a&lt;b</td>"), "{h}");
    }
}

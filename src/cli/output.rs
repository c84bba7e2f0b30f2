//! Output formats of `query` (and the tables `rm` and `cp` show): the
//! original's tabulate formats (see `cli::tabulate`), JSON in Python's
//! `json.dumps` bytes, and index stanzas.

use super::args::Format;
use super::tabulate::tabulate;
use crate::backup::pyjson::{self, Style};
use crate::model::{Item, Package, Payload};

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

/// Renders a listing in `format` as the original's `query` prints it.
/// `items` are the raw items of `packages` (same set), used by the JSON
/// formats.
pub fn render(format: Format, packages: &[Package], items: &[Item]) -> String {
    match format {
        Format::Json | Format::Jsonc => {
            let style = if format == Format::Json {
                Style::Indented
            } else {
                Style::Compact
            };
            let tree = crate::catalog::tree::package_tree(items);
            format!("{}\n", pyjson::to_string(&tree, style))
        }
        Format::Packages => packages.iter().map(package_message).collect(),
        table => format!("\n{}\n", tabulate(table, &HEADERS, &package_rows(packages))),
    }
}

/// One item as the original's `query -f packages` prints it: the pool
/// location (and digests of a binary), then the control text exactly as
/// stored, then two newlines.
pub fn package_message(p: &Package) -> String {
    let dir = p.pool_dir(&p.distribution);
    let head = match &p.payload {
        Payload::Binary {
            filename,
            md5,
            sha1,
            sha256,
            size,
        } => format!(
            "Filename: {dir}/{filename}\nMD5sum: {md5}\nSHA1: {sha1}\nSHA256: {sha256}\nSize: {size}\n"
        ),
        Payload::Source { .. } => format!("Directory: {dir}\nPackage: {}\n", p.name),
    };
    format!("{head}{}\n\n", p.control)
}

/// A confirmation table of `rm` or `cp`, as the original prints it: a blank
/// line, the table, a blank line. JSON and `packages` fall back to `simple`
/// (tabulate's fallback for a format it does not know).
pub fn confirmation_table(format: Format, headers: &[&str], rows: &[Vec<String>]) -> String {
    let format = match format {
        Format::Json | Format::Jsonc | Format::Packages => Format::Simple,
        f => f,
    };
    format!("\n{}\n\n", tabulate(format, headers, rows))
}

/// A table of this tool's own commands (`backup list`): no leading blank
/// line, one newline at the end.
pub fn render_table(format: Format, headers: &[&str], rows: &[Vec<String>]) -> String {
    format!("{}\n", tabulate(format, headers, rows))
}

//! One deb822 paragraph (a .deb's control file, a .dsc): `Field: value`
//! lines, each optionally followed by continuation lines that begin with a
//! space or tab. The text of every field is kept exactly as read, so a
//! paragraph can be stored and published byte for byte.

use thiserror::Error;

/// Why a paragraph could not be parsed; the caller adds which file it is.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("the paragraph is empty")]
    Empty,
    #[error("line {line}: a continuation line comes before any field")]
    ContinuationFirst { line: usize },
    #[error("line {line}: expected \"Field: value\", found {text:?}")]
    NotAField { line: usize, text: String },
    #[error("line {line}: invalid field name {name:?}")]
    BadFieldName { line: usize, name: String },
    #[error("line {line}: field {name:?} appears twice")]
    Duplicate { line: usize, name: String },
}

/// One field: its name as written, its logical value and its exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    value: String,
    /// The field's lines exactly as read, each ending with '\n'.
    raw: String,
}

/// A parsed paragraph: fields in their original order, original text kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<Field>,
    /// Bytes of the input the paragraph took, leading blank lines included.
    consumed: usize,
}

/// Parses the first paragraph of `text`: leading blank lines are skipped and
/// the paragraph ends at the first blank (or white-space-only) line or at
/// the end of the text. Field names are unique (compared case-insensitively).
pub fn parse_paragraph(text: &str) -> Result<Paragraph, ControlError> {
    let mut fields: Vec<Field> = Vec::new();
    let mut consumed = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let content = line.strip_suffix('\n').unwrap_or(line);
        if content.trim().is_empty() {
            if fields.is_empty() {
                consumed += line.len();
                continue;
            }
            break;
        }
        consumed += line.len();
        if content.starts_with([' ', '\t']) {
            let Some(field) = fields.last_mut() else {
                return Err(ControlError::ContinuationFirst { line: number });
            };
            field.add_continuation(content);
        } else {
            let field = Field::parse(content, number)?;
            if fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(&field.name))
            {
                return Err(ControlError::Duplicate {
                    line: number,
                    name: field.name,
                });
            }
            fields.push(field);
        }
    }
    if fields.is_empty() {
        return Err(ControlError::Empty);
    }
    for field in &mut fields {
        field.value = field.value.trim().to_string();
    }
    Ok(Paragraph { fields, consumed })
}

impl Field {
    /// Parses a `Name: value` line. Field names are printable ASCII other
    /// than ':' and must not start with '#' or '-' (deb822).
    fn parse(line: &str, number: usize) -> Result<Field, ControlError> {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ControlError::NotAField {
                line: number,
                text: line.to_string(),
            });
        };
        let valid = !name.is_empty()
            && !name.starts_with(['#', '-'])
            && name.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(ControlError::BadFieldName {
                line: number,
                name: name.to_string(),
            });
        }
        Ok(Field {
            name: name.to_string(),
            value: value.trim().to_string(),
            raw: format!("{line}\n"),
        })
    }

    /// A continuation line adds a line to the value, without the one
    /// leading space or tab that marks it as a continuation.
    fn add_continuation(&mut self, line: &str) {
        self.value.push('\n');
        self.value.push_str(line[1..].trim_end());
        self.raw.push_str(line);
        self.raw.push('\n');
    }
}

impl Paragraph {
    /// The value of a field, found case-insensitively. The value is trimmed;
    /// continuation lines are joined with '\n', each without its leading
    /// space (so `Files:` with lines ` a 1 x` gives "a 1 x\n...").
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(field))
            .map(|f| f.value.as_str())
    }

    /// Fields in their original order: (name as written, value as `get`).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
    }

    /// Fields in their original order: (name as written, the field's exact
    /// lines, each ending with '\n').
    pub fn raw_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.name.as_str(), f.raw.as_str()))
    }

    /// The paragraph's text as read, every line ending with '\n' (one is
    /// added to the last line when the input had none), no blank lines.
    pub fn text(&self) -> String {
        self.fields.iter().map(|f| f.raw.as_str()).collect()
    }

    /// How many bytes of the parsed text the paragraph took (leading blank
    /// lines included, the terminating blank line not).
    pub fn consumed(&self) -> usize {
        self.consumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HELLO: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
        Depends: libc6 (>= 2.34)\nDescription: example package based on GNU hello\n \
        The GNU hello program produces a familiar, friendly greeting.\n .\n  verbatim line\n";

    #[test]
    fn fields_in_order_with_values() {
        let p = parse_paragraph(HELLO).unwrap();
        let names: Vec<_> = p.fields().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Package",
                "Version",
                "Architecture",
                "Depends",
                "Description"
            ]
        );
        assert_eq!(p.get("package"), Some("hello"));
        assert_eq!(p.get("VERSION"), Some("2.10-3"));
        assert_eq!(
            p.get("Description"),
            Some(
                "example package based on GNU hello\nThe GNU hello program produces a \
                 familiar, friendly greeting.\n.\n verbatim line"
            )
        );
        assert_eq!(p.get("Missing"), None);
        assert_eq!(p.text(), HELLO);
    }

    #[test]
    fn multiline_field_with_empty_first_line() {
        let text = "Files:\n aaa 1 x.tar.gz\n bbb 2 y.tar.xz\nSource: s\n";
        let p = parse_paragraph(text).unwrap();
        assert_eq!(p.get("files"), Some("aaa 1 x.tar.gz\nbbb 2 y.tar.xz"));
        let raw: Vec<_> = p.raw_fields().collect();
        assert_eq!(
            raw[0],
            ("Files", "Files:\n aaa 1 x.tar.gz\n bbb 2 y.tar.xz\n")
        );
        assert_eq!(raw[1], ("Source", "Source: s\n"));
    }

    #[test]
    fn stops_at_first_blank_line() {
        let text = "\n\nA: 1\nB: 2\n \t\nC: 3\n";
        let p = parse_paragraph(text).unwrap();
        assert_eq!(p.fields().count(), 2);
        assert_eq!(p.get("C"), None);
        assert_eq!(p.text(), "A: 1\nB: 2\n");
        assert_eq!(&text[p.consumed()..], " \t\nC: 3\n");
    }

    #[test]
    fn missing_final_newline_is_added() {
        let p = parse_paragraph("A: 1\nB: x\n y").unwrap();
        assert_eq!(p.text(), "A: 1\nB: x\n y\n");
        assert_eq!(p.get("b"), Some("x\ny"));
    }

    #[test]
    fn values_are_trimmed_and_colons_kept() {
        let p = parse_paragraph("Homepage:   https://example.com/x:y   \nEmpty:\n").unwrap();
        assert_eq!(p.get("homepage"), Some("https://example.com/x:y"));
        assert_eq!(p.get("empty"), Some(""));
    }

    #[test]
    fn malformed_paragraphs() {
        assert_eq!(parse_paragraph(""), Err(ControlError::Empty));
        assert_eq!(parse_paragraph("\n \n"), Err(ControlError::Empty));
        assert_eq!(
            parse_paragraph(" leading: continuation\n"),
            Err(ControlError::ContinuationFirst { line: 1 })
        );
        assert!(matches!(
            parse_paragraph("A: 1\nno colon here\n"),
            Err(ControlError::NotAField { line: 2, .. })
        ));
        assert!(matches!(
            parse_paragraph("A: 1\na: 2\n"),
            Err(ControlError::Duplicate { line: 2, .. })
        ));
        for bad in ["#A: 1\n", "-A: 1\n", "A B: 1\n", ": 1\n", "Ä: 1\n"] {
            assert!(
                matches!(
                    parse_paragraph(bad),
                    Err(ControlError::BadFieldName { line: 1, .. })
                ),
                "{bad:?}"
            );
        }
        let err = parse_paragraph("A: 1\nbogus\n").unwrap_err().to_string();
        assert_eq!(err, "line 2: expected \"Field: value\", found \"bogus\"");
    }

    fn field_name() -> impl Strategy<Value = String> {
        "[A-Z][A-Za-z0-9-]{0,10}"
    }

    proptest! {
        /// Any paragraph written from names and values reads back to the same
        /// names and values, and its text is exactly what was written.
        #[test]
        fn written_paragraphs_read_back(
            entries in proptest::collection::vec(
                (field_name(), "[!-~][ -~]{0,20}", proptest::collection::vec("[!-~][ -~]{0,20}", 0..3)),
                1..6,
            )
        ) {
            let mut seen = std::collections::HashSet::new();
            let entries: Vec<_> = entries
                .into_iter()
                .filter(|(n, _, _)| seen.insert(n.to_ascii_lowercase()))
                .collect();
            let mut text = String::new();
            for (name, first, more) in &entries {
                text.push_str(&format!("{name}: {first}\n"));
                for line in more {
                    text.push_str(&format!(" {line}\n"));
                }
            }
            let p = parse_paragraph(&format!("{text}\nNext: paragraph\n")).unwrap();
            prop_assert_eq!(p.text(), text.clone());
            prop_assert_eq!(p.consumed(), text.len());
            for (name, first, more) in &entries {
                let mut expected = vec![first.trim_end().to_string()];
                expected.extend(more.iter().map(|l| l.trim_end().to_string()));
                let expected = expected.join("\n").trim().to_string();
                prop_assert_eq!(p.get(name), Some(expected.as_str()));
            }
        }
    }
}

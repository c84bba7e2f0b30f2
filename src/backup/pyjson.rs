//! JSON written byte for byte as Python's `json.dumps` writes it, so that a
//! backup made by this tool reads (and diffs) like one made by the original:
//! `", "` and `": "` separators in the compact form, a two-space indent and
//! `","` line ends in the indented form, and every character outside
//! printable ASCII escaped as `\uXXXX` (`ensure_ascii`).

use std::io::{self, Write};

use serde_json::Value;

/// The two layouts the original prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `json.dumps(x)`: one line.
    Compact,
    /// `json.dumps(x, indent=2)`.
    Indented,
}

/// Writes `s` as a JSON string literal, escaped as Python's `ensure_ascii`.
pub fn write_str(out: &mut dyn Write, s: &str) -> io::Result<()> {
    let mut buf = Vec::with_capacity(s.len() + 2);
    buf.push(b'"');
    for c in s.chars() {
        match c {
            '"' => buf.extend_from_slice(b"\\\""),
            '\\' => buf.extend_from_slice(b"\\\\"),
            '\n' => buf.extend_from_slice(b"\\n"),
            '\r' => buf.extend_from_slice(b"\\r"),
            '\t' => buf.extend_from_slice(b"\\t"),
            '\u{8}' => buf.extend_from_slice(b"\\b"),
            '\u{c}' => buf.extend_from_slice(b"\\f"),
            ' '..='~' => buf.push(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(buf, "\\u{u:04x}")?;
                }
            }
        }
    }
    buf.push(b'"');
    out.write_all(&buf)
}

/// Writes `v` at nesting `depth` (the indentation of the line it starts on,
/// in levels): the caller has already written any key and indentation.
pub fn write_value(out: &mut dyn Write, v: &Value, style: Style, depth: usize) -> io::Result<()> {
    match v {
        Value::Null => out.write_all(b"null"),
        Value::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write!(out, "{n}"),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            if a.is_empty() {
                return out.write_all(b"[]");
            }
            out.write_all(b"[")?;
            for (i, x) in a.iter().enumerate() {
                separator(out, style, i == 0, depth + 1)?;
                write_value(out, x, style, depth + 1)?;
            }
            close(out, style, depth, b"]")
        }
        Value::Object(m) => {
            if m.is_empty() {
                return out.write_all(b"{}");
            }
            out.write_all(b"{")?;
            for (i, (k, x)) in m.iter().enumerate() {
                separator(out, style, i == 0, depth + 1)?;
                write_str(out, k)?;
                out.write_all(b": ")?;
                write_value(out, x, style, depth + 1)?;
            }
            close(out, style, depth, b"}")
        }
    }
}

/// What goes before an element of an array or object at `depth`.
pub fn separator(out: &mut dyn Write, style: Style, first: bool, depth: usize) -> io::Result<()> {
    match (style, first) {
        (Style::Compact, true) => Ok(()),
        (Style::Compact, false) => out.write_all(b", "),
        (Style::Indented, true) => newline(out, depth),
        (Style::Indented, false) => {
            out.write_all(b",")?;
            newline(out, depth)
        }
    }
}

/// Closes a non-empty array or object that started at `depth`.
pub fn close(out: &mut dyn Write, style: Style, depth: usize, bracket: &[u8]) -> io::Result<()> {
    if style == Style::Indented {
        newline(out, depth)?;
    }
    out.write_all(bracket)
}

fn newline(out: &mut dyn Write, depth: usize) -> io::Result<()> {
    out.write_all(b"\n")?;
    for _ in 0..depth {
        out.write_all(b"  ")?;
    }
    Ok(())
}

/// `v` as a string in `style` (for tests and small values).
pub fn to_string(v: &Value, style: Style) -> String {
    let mut buf = Vec::new();
    write_value(&mut buf, v, style, 0).expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("the output is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_matches_python_json_dumps() {
        // python3 -c 'import json; print(json.dumps({"a": ["x", "y"], "b": {}, "c": [], "d": "\u00e9\U0001f600\n\"\\\x7f\x01/"}))'
        let v = json!({"a": ["x", "y"], "b": {}, "c": [], "d": "é😀\n\"\\\u{7f}\u{1}/"});
        assert_eq!(
            to_string(&v, Style::Compact),
            r#"{"a": ["x", "y"], "b": {}, "c": [], "d": "\u00e9\ud83d\ude00\n\"\\\u007f\u0001/"}"#
        );
    }

    #[test]
    fn indented_matches_python_json_dumps_indent_2() {
        let v = json!({"a": ["x", {"k": "v"}], "b": {}, "c": []});
        assert_eq!(
            to_string(&v, Style::Indented),
            "{\n  \"a\": [\n    \"x\",\n    {\n      \"k\": \"v\"\n    }\n  ],\n  \"b\": {},\n  \"c\": []\n}"
        );
    }

    #[test]
    fn python_agrees_when_available() {
        // The real reference, when python3 is on the machine.
        let v = json!({"n": {"d": [{"t": "ü ✓ 日本\u{7}\t", "f": ["a", "b"]}]}, "e": {}});
        let script = "import json,sys; v=json.load(sys.stdin); \
                      sys.stdout.write(json.dumps(v) + '\\n' + json.dumps(v, indent=2))";
        let Ok(mut child) = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            return;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(v.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let expected = format!(
            "{}\n{}",
            to_string(&v, Style::Compact),
            to_string(&v, Style::Indented)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    }
}

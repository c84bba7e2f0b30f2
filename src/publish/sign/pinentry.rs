//! Asking a pinentry program for a passphrase (the Assuan protocol).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::*;

/// Asks for a passphrase through a pinentry program (the Assuan protocol's
/// GETPIN), as the original did with `--gpg-pinentry-path`.
pub fn ask_pinentry(program: &Path, signer: &str, tty: Option<&str>) -> Result<Secret, SignError> {
    let fail = |reason: String| SignError::Failed {
        signer: signer.to_string(),
        reason: format!("pinentry {}: {reason}", program.display()),
    };
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut commands = Vec::new();
    if let Some(t) = tty {
        commands.push(format!("OPTION ttyname={t}"));
        if let Ok(term) = std::env::var("TERM") {
            commands.push(format!("OPTION ttytype={term}"));
        }
    }
    commands.push(format!(
        "SETDESC {}",
        assuan_escape(&format!(
            "repoman needs the passphrase of key \"{signer}\" to sign Release files"
        ))
    ));
    commands.push("SETPROMPT Passphrase:".into());
    let result = (|| -> Result<Secret, String> {
        expect_ok(&mut reader)?;
        for cmd in &commands {
            writeln!(stdin, "{cmd}").map_err(|e| e.to_string())?;
            expect_ok(&mut reader)?;
        }
        writeln!(stdin, "GETPIN").map_err(|e| e.to_string())?;
        let mut pin = String::new();
        loop {
            let line = read_line(&mut reader)?;
            if let Some(data) = line.strip_prefix("D ") {
                pin.push_str(&assuan_unescape(data));
            } else if line.starts_with("OK") {
                break;
            } else if line.starts_with("ERR") {
                return Err("no passphrase entered (cancelled)".into());
            }
        }
        let _ = writeln!(stdin, "BYE");
        Ok(Secret::new(pin))
    })();
    drop(stdin);
    let _ = child.wait();
    result.map_err(fail)
}

pub(super) fn read_line(r: &mut impl std::io::BufRead) -> Result<String, String> {
    let mut line = String::new();
    if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Err("it exited unexpectedly".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub(super) fn expect_ok(r: &mut impl std::io::BufRead) -> Result<(), String> {
    loop {
        let line = read_line(r)?;
        if line.starts_with("OK") {
            return Ok(());
        }
        if line.starts_with("ERR") {
            // Never echo the line: it could carry user input.
            return Err("it reported an error".into());
        }
        // Comments (`#`) and status lines (`S`) are skipped.
    }
}

pub(super) fn assuan_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn assuan_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

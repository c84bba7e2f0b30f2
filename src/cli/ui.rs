//! Talking to the person at the terminal: confirmations and progress bars.
//! Without a terminal, nothing waits for input and nothing animates.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::args::ConfirmArgs;

/// The text a dangerous change must be confirmed with.
pub const FEAR_NO_EVIL: &str = "I FEAR NO EVIL";

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub stdin_tty: bool,
    pub stderr_tty: bool,
}

impl Ui {
    pub fn detect() -> Ui {
        Ui {
            stdin_tty: std::io::stdin().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
        }
    }

    /// The original's confirmation rules: each dangerous condition (`evil`)
    /// is shown and needs the exact text `I FEAR NO EVIL` unless
    /// `--i-fear-no-evil`; then the change needs `c` unless `-y`. Without a
    /// terminal a needed prompt is an error that says which flag to pass.
    pub fn confirm(&self, flags: &ConfirmArgs, evil: &[String]) -> Result<()> {
        for (i, msg) in evil.iter().enumerate() {
            eprintln!("Found something scary. Problem #{}:\n{msg}\n", i + 1);
        }
        if !evil.is_empty() && !flags.i_fear_no_evil {
            self.ask(
                &format!("Type exactly \"{FEAR_NO_EVIL}\" to proceed --> "),
                FEAR_NO_EVIL,
                "this change is dangerous (see above): pass --i-fear-no-evil and -y to proceed without a terminal",
            )?;
        }
        if !flags.no_confirm {
            self.ask(
                "Type \"c\" to confirm --> ",
                "c",
                "confirmation needed but standard input is not a terminal: pass -y to proceed",
            )?;
        }
        Ok(())
    }

    fn ask(&self, prompt: &str, expected: &str, no_tty: &str) -> Result<()> {
        if !self.stdin_tty {
            bail!("{no_tty}; nothing was changed");
        }
        let stdin = std::io::stdin();
        for _ in 0..3 {
            eprint!("\n{prompt}");
            std::io::stderr().flush().ok();
            let mut line = String::new();
            if stdin.lock().read_line(&mut line)? == 0 {
                bail!("no answer (end of input); nothing was changed");
            }
            if line.trim_end_matches(['\r', '\n']) == expected {
                return Ok(());
            }
        }
        bail!("not confirmed; nothing was changed")
    }

    /// A progress bar on a terminal, a hidden one otherwise.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if !self.stderr_tty {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        bar
    }
}

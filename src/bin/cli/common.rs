//! What the subcommands share: the error with its exit code, bundle lookup, progress output.
#![allow(dead_code)]

use std::io::IsTerminal;

/// A failed command: its message and exit code (2: a bad flag, file or input; 1: a failure
/// while working).
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
}

/// A bad flag, file or input (exit code 2).
pub fn usage(message: impl Into<String>) -> Fail {
    Fail { code: 2, message: message.into() }
}

/// A failure while working (exit code 1).
pub fn failed(message: impl Into<String>) -> Fail {
    Fail { code: 1, message: message.into() }
}

/// One line on standard output; see the `println` of `sparsebokeh.rs`.
pub fn out(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|_| o.write_all(b"\n")).and_then(|_| o.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        err(format_args!("sparsebokeh: cannot write to standard output: {e}"));
        std::process::exit(1);
    }
}

/// One line on standard error, ignoring a failure (there is nowhere left to report it).
pub fn err(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut e = std::io::stderr().lock();
    let _ = e.write_fmt(args).and_then(|_| e.write_all(b"\n"));
}

/// Refuses, before any work, an output path that cannot be written: its extension is not one
/// of `kinds`, its folder is missing or read-only, or something other than a regular file is
/// there (exit 2, nothing written).
pub fn check_output(flag: &str, path: &std::path::Path, kinds: &[&str]) -> Result<(), Fail> {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    let shown = path.display();
    if !kinds.contains(&ext.as_str()) {
        let list = kinds.iter().map(|k| format!(".{k}")).collect::<Vec<_>>().join(" or ");
        return Err(usage(format!("{flag}{shown}: the output must end in {list}")));
    }
    sparsebokeh::io::check_writable(path).map_err(|e| usage(format!("{flag}{shown}: {e}; nothing was written")))
}

pub fn load_bundle(flag: &str, name_or_path: &str) -> Result<sparsebokeh::Bundle, Fail> {
    sparsebokeh::locate(name_or_path).map_err(|e| usage(format!("{flag} {name_or_path}: {e}")))
}

/// Progress over `total` items: a bar on a terminal, plain lines otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
}

impl Progress {
    pub fn new(total: usize, what: &str) -> Progress {
        let bar = if std::io::stderr().is_terminal() && total > 1 {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_message(what.to_string());
            Some(b)
        } else {
            None
        };
        Progress { bar, total }
    }

    /// One item done, with a line of detail.
    pub fn done(&self, index: usize, line: &str) {
        match &self.bar {
            Some(b) => {
                b.inc(1);
                b.println(line);
            }
            None => eprintln!("[{}/{}] {line}", index + 1, self.total),
        }
    }

    /// One item done, its line shown as the bar's message (or printed, without a terminal).
    pub fn step(&self, line: String) {
        match &self.bar {
            Some(b) => {
                b.set_message(line);
                b.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

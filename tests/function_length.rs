//! No function in `src/` runs over [`MAX_LINES`] lines (signature to closing brace), but for the
//! generated OpenFX bindings and the functions named in [`EXCEPTIONS`] with why. Braces in
//! strings, characters and comments are skipped.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 80;

/// (file, function): the functions allowed to be longer, each with its reason.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && p.file_name().unwrap() != "sys.rs" {
            out.push(p);
        }
    }
}

/// The code of a line without strings, characters and comments (`in_block`: inside `/* */`).
fn code_of(line: &str, in_block: &mut bool) -> String {
    let b: Vec<char> = line.chars().collect();
    let (mut out, mut i, mut in_str) = (String::new(), 0, false);
    while i < b.len() {
        let next = b.get(i + 1).copied();
        if *in_block {
            if b[i] == '*' && next == Some('/') {
                *in_block = false;
                i += 1;
            }
        } else if in_str {
            if b[i] == '\\' {
                i += 1;
            } else if b[i] == '"' {
                in_str = false;
            }
        } else if b[i] == '/' && next == Some('/') {
            break;
        } else if b[i] == '/' && next == Some('*') {
            *in_block = true;
            i += 1;
        } else if b[i] == '"' {
            in_str = true;
        } else if b[i] == '\'' && (b.get(i + 2) == Some(&'\'') || (next == Some('\\') && b.get(i + 3) == Some(&'\''))) {
            i += if next == Some('\\') { 3 } else { 2 };
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    out
}

/// The name of the function a line declares, if it does.
fn declared_fn(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    let before_ok = words[..at].iter().all(|w| {
        w.starts_with("pub") || ["const", "unsafe", "extern", "\"C\"", "async"].contains(w) || w.starts_with("#[")
    });
    let name = words.get(at + 1)?.split(['(', '<']).next()?;
    (before_ok && !name.is_empty()).then(|| name.to_string())
}

/// Every function over `MAX_LINES` lines in `text`: (name, first line, lines).
fn long_functions(text: &str) -> Vec<(String, usize, usize)> {
    let (mut in_block, mut depth, mut pending) = (false, 0usize, None::<(String, usize)>);
    let mut open: Vec<(String, usize, usize)> = Vec::new();
    let mut long = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let no = i + 1;
        let decl = declared_fn(line);
        let code = code_of(line, &mut in_block);
        if let (Some(name), None) = (decl, &pending) {
            pending = Some((name, no));
        }
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    if let Some((name, start)) = pending.take() {
                        open.push((name, start, depth));
                    }
                }
                '}' => {
                    if open.last().is_some_and(|o| o.2 == depth) {
                        let (name, start, _) = open.pop().unwrap();
                        if no - start + 1 > MAX_LINES {
                            long.push((name, start, no - start + 1));
                        }
                    }
                    depth = depth.saturating_sub(1);
                }
                ';' if open.last().map_or(0, |o| o.2) == depth => pending = None,
                _ => {}
            }
        }
    }
    long
}

#[test]
fn no_function_in_src_runs_over_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut offenders = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        for (name, line, lines) in long_functions(&std::fs::read_to_string(&f).unwrap()) {
            if !EXCEPTIONS.iter().any(|(file, func, _)| *file == rel && (*func == "*" || *func == name)) {
                offenders.push(format!("{rel}:{line} {name}: {lines} lines"));
            }
        }
    }
    assert!(offenders.is_empty(), "functions over {MAX_LINES} lines:\n{}", offenders.join("\n"));
}

#[test]
fn the_scanner_finds_a_long_function_and_skips_braces_in_strings() {
    let body = "    let s = \"{\";\n".repeat(MAX_LINES);
    let text = format!("fn short() {{}}\npub(crate) fn long() {{\n{body}}}\nfn after() {{ '{{'; }}\n");
    assert_eq!(long_functions(&text), vec![("long".to_string(), 2, MAX_LINES + 2)]);
}

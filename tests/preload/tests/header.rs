//! `crates/hak-ffi/include/hakmem.h` against `libhakmem.so`: the header
//! declares exactly the functions the library exports, and compiles as C and
//! as C++.
//!
//! The header declares the `hak_*` names only. Those under its
//! `---- standard API` heading are also exported unprefixed (`hak_malloc`
//! and `malloc`); those under `---- extensions` are `hak_*` only. So the
//! expected export set is, for every declared standard `hak_X`, `hak_X` and
//! `X`, and every declared extension. Both come from one list in hak-ffi's
//! `exports.rs`; this test is what keeps the header in step with it.

use hakmem_preload_tests::{fresh_dir, hakmem_so, require_tool, write_file};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Heading of the section whose `hak_X` are also exported as `X`.
const STANDARD_HEADING: &str = "---- standard API";
/// Heading of the section of `hak_*`-only extensions.
const EXTENSIONS_HEADING: &str = "---- extensions";

/// The header under test.
fn header_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/hak-ffi/include/hakmem.h")
}

/// Function names declared by the header, by section.
#[derive(Debug, Default, PartialEq)]
struct Declared {
    /// Declared under [`STANDARD_HEADING`].
    standard: Vec<String>,
    /// Declared under [`EXTENSIONS_HEADING`].
    extensions: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    None,
    Standard,
    Extensions,
}

/// Parses the function declarations of a C header, line by line: comments
/// (`/* */`, `//`) are dropped except that they switch sections at the two
/// headings, preprocessor lines and `extern "C" {` / `}` are skipped, and the
/// remaining text is split into statements at `;`. A statement with a `(`
/// declares the function named by the identifier just before its first `(`.
/// A declaration outside both sections is an error.
fn parse_declarations(text: &str) -> Result<Declared, String> {
    let mut out = Declared::default();
    let mut section = Section::None;
    let mut in_comment = false;
    let mut stmt = String::new();
    for (lineno, line) in text.lines().enumerate() {
        // Split the line into code and comment text.
        let mut code = String::new();
        let mut comment = String::new();
        let mut rest = line;
        while !rest.is_empty() {
            if in_comment {
                match rest.find("*/") {
                    Some(end) => {
                        comment.push_str(&rest[..end]);
                        rest = &rest[end + 2..];
                        in_comment = false;
                    }
                    None => {
                        comment.push_str(rest);
                        rest = "";
                    }
                }
            } else {
                let block = rest.find("/*");
                let line_c = rest.find("//");
                match (block, line_c) {
                    (Some(b), l) if l.is_none_or(|l| b < l) => {
                        code.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_comment = true;
                    }
                    (_, Some(l)) => {
                        code.push_str(&rest[..l]);
                        comment.push_str(&rest[l + 2..]);
                        rest = "";
                    }
                    _ => {
                        code.push_str(rest);
                        rest = "";
                    }
                }
            }
        }
        if comment.contains(STANDARD_HEADING) {
            section = Section::Standard;
        } else if comment.contains(EXTENSIONS_HEADING) {
            section = Section::Extensions;
        }
        let code = code.trim();
        if code.is_empty() || code.starts_with('#') || code == "extern \"C\" {" || code.starts_with('}') {
            continue;
        }
        for (i, part) in code.split(';').enumerate() {
            if i > 0 {
                declare(&mut out, section, &stmt, lineno + 1)?;
                stmt.clear();
            }
            stmt.push(' ');
            stmt.push_str(part);
        }
    }
    if !stmt.trim().is_empty() {
        return Err(format!("unterminated declaration at the end of the header: `{}`", stmt.trim()));
    }
    Ok(out)
}

/// Records the function declared by `stmt` (ended on line `lineno`), if any.
fn declare(out: &mut Declared, section: Section, stmt: &str, lineno: usize) -> Result<(), String> {
    let stmt = stmt.trim();
    let Some(paren) = stmt.find('(') else { return Ok(()) };
    if stmt.starts_with("typedef") {
        return Ok(());
    }
    let before = stmt[..paren].trim_end();
    let start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    let name = &before[start..];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("line {lineno}: cannot find the function name in `{stmt}`"));
    }
    match section {
        Section::Standard => out.standard.push(name.to_string()),
        Section::Extensions => out.extensions.push(name.to_string()),
        Section::None => {
            return Err(format!(
                "line {lineno}: `{name}` is declared before both the `{STANDARD_HEADING}` and the \
                 `{EXTENSIONS_HEADING}` heading"
            ))
        }
    }
    Ok(())
}

/// The symbols `HAKMEM_SO` must export for the header's declarations.
fn expected_exports(d: &Declared) -> Result<BTreeSet<String>, String> {
    let mut set = BTreeSet::new();
    for name in &d.standard {
        let Some(plain) = name.strip_prefix("hak_") else {
            return Err(format!("`{name}` is declared under `{STANDARD_HEADING}` without the hak_ prefix"));
        };
        set.insert(name.clone());
        set.insert(plain.to_string());
    }
    set.extend(d.extensions.iter().cloned());
    Ok(set)
}

/// Defined dynamic symbols of `so` as `(name, nm type letter)`, from
/// `nm -D --defined-only`.
fn exported_symbols(so: &Path) -> Vec<(String, char)> {
    let nm = require_tool("nm", "binutils");
    let out = Command::new(nm).args(["-D", "--defined-only"]).arg(so).output().expect("run nm");
    assert!(
        out.status.success(),
        "nm -D --defined-only {} failed: {}",
        so.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("nm output is UTF-8");
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().rev();
            let name = f.next()?;
            let ty = f.next()?.chars().next()?;
            // Version nodes (`A`) are not symbols anyone calls.
            (ty != 'A').then(|| (name.split('@').next().unwrap_or(name).to_string(), ty))
        })
        .collect()
}

/// Every function the header declares is exported by the library (with its
/// plain twin for the standard API), and every symbol the library exports is
/// declared, listing the names that differ in either direction.
#[test]
fn header_declares_exactly_the_exports() {
    let header = header_path();
    let text = std::fs::read_to_string(&header).unwrap_or_else(|e| panic!("read {}: {e}", header.display()));
    let declared = parse_declarations(&text).unwrap_or_else(|e| panic!("{}: {e}", header.display()));
    assert!(
        !declared.standard.is_empty() && !declared.extensions.is_empty(),
        "{}: no declarations found under `{STANDARD_HEADING}` or `{EXTENSIONS_HEADING}`: {declared:?}",
        header.display()
    );
    let expected = expected_exports(&declared).unwrap_or_else(|e| panic!("{}: {e}", header.display()));

    let so = hakmem_so();
    let exported = exported_symbols(&so);
    let not_functions: Vec<String> =
        exported.iter().filter(|(_, t)| !matches!(t, 'T' | 'W' | 'i')).map(|(n, t)| format!("{n} ({t})")).collect();
    let exported: BTreeSet<String> = exported.into_iter().map(|(n, _)| n).collect();

    let undeclared: Vec<&String> = exported.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&exported).collect();
    let mut problems = Vec::new();
    if !undeclared.is_empty() {
        problems.push(format!(
            "exported by {} but not declared in hakmem.h (as hak_X under `{STANDARD_HEADING}` for a plain X): {undeclared:?}",
            so.display()
        ));
    }
    if !missing.is_empty() {
        problems.push(format!("declared in hakmem.h but not exported by {}: {missing:?}", so.display()));
    }
    if !not_functions.is_empty() {
        problems.push(format!("exported symbols that are not functions: {not_functions:?}"));
    }
    assert!(problems.is_empty(), "{}:\n{}", header.display(), problems.join("\n"));
}

/// The header compiles on its own and after the system's allocator headers,
/// twice (include guard), as C11 and as C++11, without warnings.
#[test]
fn header_compiles_as_c_and_cpp() {
    let dir = fresh_dir("header");
    let include = header_path().parent().expect("include dir").to_path_buf();
    let uses = "int main(void) { void *p = hak_malloc(1); hak_free(p); return hak_version() == 0; }\n";
    write_file(&dir, "alone.c", format!("#include \"hakmem.h\"\n{uses}"));
    write_file(
        &dir,
        "with_libc.c",
        format!("#include <stdlib.h>\n#include <malloc.h>\n#include \"hakmem.h\"\n#include \"hakmem.h\"\n{uses}"),
    );
    let cases = [("cc", "gcc", ["-x", "c", "-std=c11"]), ("c++", "g++", ["-x", "c++", "-std=c++11"])];
    for (tool, package, lang) in cases {
        let compiler = require_tool(tool, package);
        for file in ["alone.c", "with_libc.c"] {
            let out = Command::new(&compiler)
                .args(["-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
                .args(lang)
                .arg("-I")
                .arg(&include)
                .arg(dir.join(file))
                .output()
                .unwrap_or_else(|e| panic!("run {tool}: {e}"));
            assert!(
                out.status.success(),
                "{tool} {} -fsyntax-only on {} (includes hakmem.h) failed:\n{}",
                lang.join(" "),
                dir.join(file).display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn parser_reads_sections_and_names() {
    let text = "/* intro mentioning malloc(size_t); */\n#ifndef X\n#define X\n#include <stddef.h>\n\
        extern \"C\" {\n/* ---- standard API --- */\n/* doc\n * more doc(); */\nvoid *hak_malloc(size_t size);\n\
        int hak_posix_memalign(void **memptr,\n    size_t align, size_t size);\n\
        /* ---- extensions --- */\nconst char *hak_version(void); // trailing\n} /* extern \"C\" */\n#endif\n";
    let d = parse_declarations(text).unwrap();
    assert_eq!(d.standard, ["hak_malloc", "hak_posix_memalign"]);
    assert_eq!(d.extensions, ["hak_version"]);
    let e = expected_exports(&d).unwrap();
    assert_eq!(
        e.into_iter().collect::<Vec<_>>(),
        ["hak_malloc", "hak_posix_memalign", "hak_version", "malloc", "posix_memalign"]
    );
    assert!(parse_declarations("void f(void);\n").unwrap_err().contains("before both"));
    assert!(parse_declarations("/* ---- standard API */\nvoid *malloc(size_t);\n")
        .and_then(|d| expected_exports(&d))
        .unwrap_err()
        .contains("without the hak_ prefix"));
}

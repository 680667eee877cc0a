//! The dependency direction of the code, enforced: config <- collectors <- health <- (metrics,
//! http, transitions) <- lib/main. Every `crate::` and `super::` path in src/ (in `use` lines,
//! inline paths and test modules alike) is resolved to the top-level module it names and checked
//! against the table below. A newcomer can trust docs/architecture.md because this test fails the
//! build when the code stops flowing one way.

use std::path::{Path, PathBuf};

/// Which top-level modules each module may use. A module may always use itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("config", &[]),
    ("collectors", &["config"]),
    ("health", &["config", "collectors"]),
    ("metrics", &["config", "collectors", "health"]),
    ("transitions", &["config", "collectors", "health"]),
    ("http", &["config", "collectors", "health", "metrics"]),
    ("logging", &["config"]),
    // `clustercheckd notify`: the client end of the Galera collector's notify socket.
    ("notify", &["collectors"]),
    // `clustercheckd drain`: the maintenance file and the check port, as configured.
    ("drain", &["config"]),
    // `clustercheckd recover`: an operator's client of the daemons' /status pages; reads only
    // this node's config (to find its own daemon) and builds its HTTP client as collectors do.
    ("recover", &["config", "collectors"]),
    // The crate root (lib.rs, main.rs) wires everything; the golden files test sees what users
    // see, through every layer.
    (
        "lib",
        &[
            "config",
            "collectors",
            "health",
            "metrics",
            "transitions",
            "http",
            "logging",
            "notify",
            "drain",
            "recover",
        ],
    ),
    (
        "golden_tests",
        &["config", "collectors", "health", "metrics", "http"],
    ),
];

/// Files inside a module that may reach one layer further, each with its reason.
const EXCEPTIONS: &[(&str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: src/health/galera.rs -> [health, galera]; src/lib.rs -> [].
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).expect("under src/");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The top-level module a path in `file` names, if it leaves the crate root: `crate::x::..` is
/// `x`; `super::..` climbs from the module the path is written in (counting inline `mod` blocks).
fn target(path: &str, module: &[String]) -> Option<String> {
    let segments: Vec<&str> = path.split("::").map(str::trim).collect();
    if segments.first() == Some(&"crate") {
        return segments.get(1).map(|s| s.to_string());
    }
    let supers = segments.iter().take_while(|s| **s == "super").count();
    if supers == 0 || supers > module.len() {
        return None;
    }
    let base = &module[..module.len() - supers];
    match base.first() {
        Some(top) => Some(top.clone()),
        None => segments.get(supers).map(|s| s.to_string()),
    }
}

/// Every `crate::...` / `super::...` path on a line, with the brace groups of `use` lines left
/// out (a path's first segments decide its target).
fn paths_in(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = line.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = line[from..].find(start) {
            let begin = from + at;
            // Not part of a longer identifier (e.g. `my_crate::`).
            let word_start = begin == 0
                || !(bytes[begin - 1].is_ascii_alphanumeric() || bytes[begin - 1] == b'_');
            // `super::super::x` is one path: skip the inner `super::`.
            let inner = begin >= 7 && &line[begin - 7..begin] == "super::";
            if word_start && !inner {
                let rest: String = line[begin..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                found.push(rest);
            }
            from = begin + start.len();
        }
    }
    found
}

#[test]
fn code_flows_one_way() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(
        files.len() > 10,
        "found only {} files under src/",
        files.len()
    );
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let file_module = module_path(file);
        let from = file_module.first().cloned().unwrap_or_else(|| "lib".into());
        let allowed = ALLOWED
            .iter()
            .find(|(m, _)| *m == from)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("{}: module `{from}` is not in the table", file.display()));
        // Inline modules (`mod tests {`) add a level for `super::` until their closing brace.
        let mut braces = 0usize;
        let mut inline_opened_at: Vec<usize> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let trimmed = code.trim_start();
            let opens_module = (trimmed.starts_with("mod ")
                || trimmed.starts_with("pub mod ")
                || trimmed.starts_with("pub(crate) mod "))
                && trimmed.trim_end().ends_with('{');
            if opens_module {
                inline_opened_at.push(braces);
            }
            let depth_extra = inline_opened_at.len();
            for path in paths_in(code) {
                let mut module = file_module.clone();
                module.extend((0..depth_extra).map(|i| format!("inline{i}")));
                let Some(to) = target(&path, &module) else {
                    continue;
                };
                checked += 1;
                let ok = to == from
                    || allowed.contains(&to.as_str())
                    || EXCEPTIONS
                        .iter()
                        .any(|(f, t)| file.ends_with(f) && *t == to);
                if !ok {
                    violations.push(format!(
                        "{}:{}: `{from}` uses `{to}` ({path})",
                        file.strip_prefix(src()).unwrap_or(file).display(),
                        number + 1
                    ));
                }
            }
            braces += code.matches('{').count();
            braces = braces.saturating_sub(code.matches('}').count());
            while inline_opened_at.last().is_some_and(|&at| braces <= at) {
                inline_opened_at.pop();
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths checked: is the scanner broken?"
    );
    assert!(
        violations.is_empty(),
        "the code must flow config <- collectors <- health <- (metrics, http) <- lib; \
         see docs/architecture.md:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_sees_what_it_must() {
    // A health module reaching into http, inline and in a use line, is caught.
    assert_eq!(
        paths_in("let x = crate::http::AppState::new(); use super::super::metrics::X;"),
        vec!["crate::http::AppState::new", "super::super::metrics::X"]
    );
    let module = vec!["health".to_owned(), "galera".to_owned()];
    assert_eq!(
        target("crate::http::AppState", &module).as_deref(),
        Some("http")
    );
    assert_eq!(target("super::Verdict", &module).as_deref(), Some("health"));
    assert_eq!(
        target("super::super::metrics::X", &module).as_deref(),
        Some("metrics")
    );
    assert_eq!(target("my_crate::x", &module), None);
    assert!(paths_in("use my_crate::x;").is_empty());
}

/// Inside http: the status document and the /ui page never import each other's handlers; both
/// read the document from `http::status`.
#[test]
fn status_and_ui_do_not_import_each_other() {
    let forbidden: &[(&str, &[&str])] = &[
        (
            "http/status.rs",
            &["super::ui", "super::pages", "http::ui", "http::pages"],
        ),
        ("http/ui.rs", &["super::pages", "http::pages"]),
    ];
    for (file, paths) in forbidden {
        let text = std::fs::read_to_string(src().join(file)).expect("read source");
        for path in *paths {
            assert!(
                !text.contains(path),
                "src/{file} must not use {path}: /status and /ui both read http::status"
            );
        }
    }
}

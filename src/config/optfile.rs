//! One reader for the ini-style files that hold credentials: a my.cnf (`galera.defaults_file`) and
//! the RabbitMQ credentials file (`rabbitmq.credentials_file`). Both used to have their own
//! hand-written parser with different quoting rules; now both follow the rules below, and each
//! caller only decides which options it takes.
//!
//! The format is MySQL's option-file format, so clustercheck's existing DEFAULTS_EXTRA_FILE can be
//! reused unchanged:
//!
//! - Leading and trailing blanks of a line are ignored; an empty line, or one starting with `#` or
//!   `;`, is a comment.
//! - `[group]` starts a group; the options below it belong to it. Options before any group belong
//!   to no group (the RabbitMQ credentials file has no groups).
//! - `name = value`, or a bare `name` (an option without a value, such as `skip-ssl`). In names,
//!   `-` and `_` are the same (`default-character-set` is `default_character_set`).
//! - **The one quoting rule**: a value starting with `"` or `'` runs to the next occurrence of the
//!   same quote, taken literally (no backslash escapes), and only blanks or a `# comment` may
//!   follow the closing quote. An unquoted value runs to the end of the line, or to a `#` that
//!   follows a blank (`host = db1 # first node` is `db1`, `password = pa#ss` is `pa#ss`). So a
//!   value with a ` #` inside, or with leading or trailing blanks, must be quoted.
//! - `!include FILE` reads FILE at this point; `!includedir DIR` reads every `*.cnf` file in DIR
//!   in name order (MySQL's semantics, with the order made deterministic). A relative path is
//!   taken from the directory of the file that names it. An included file starts outside any
//!   group, and the including file continues in its own group afterwards. Includes nest at most
//!   [`MAX_INCLUDE_DEPTH`] deep, and a file that (indirectly) includes itself is an error, as is a
//!   missing file or directory: a skipped include would silently connect with other credentials.
//!
//! No ini crate implements these rules (`!include`, `-` = `_`, bare options, MySQL's quotes), and
//! they are small enough to keep here with their tests. Errors name the file and line but never
//! quote the line: it may hold a password.

use std::path::{Path, PathBuf};

/// How deep `!include` may nest; MySQL's own limit is 10 as well.
pub const MAX_INCLUDE_DEPTH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum OptionFileError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A problem on one line; `message` never contains the line's value.
    #[error("{} line {line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl OptionFileError {
    /// An error about one option, for the callers that interpret values.
    pub fn at(option: &OptionEntry, message: impl Into<String>) -> Self {
        Self::Line {
            path: option.file.clone(),
            line: option.line,
            message: message.into(),
        }
    }
}

/// One option as read, with where it was read (the file may be an included one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionEntry {
    /// The group it is in (`client` for `[client]`), `None` before any group header.
    pub group: Option<String>,
    /// The name, with `-` turned into `_`.
    pub name: String,
    /// `None` for a bare option.
    pub value: Option<String>,
    pub file: PathBuf,
    pub line: usize,
}

/// Read `path` and every file it includes, in order.
pub fn read(path: &Path) -> Result<Vec<OptionEntry>, OptionFileError> {
    let mut reader = Reader::default();
    reader.read_file(path)?;
    Ok(reader.entries)
}

#[derive(Default)]
struct Reader {
    entries: Vec<OptionEntry>,
    /// The files being read, outermost first (canonical paths): the include chain, for loop and
    /// depth checks.
    stack: Vec<PathBuf>,
}

impl Reader {
    fn read_file(&mut self, path: &Path) -> Result<(), OptionFileError> {
        let unreadable = |source| OptionFileError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let canonical = std::fs::canonicalize(path).map_err(unreadable)?;
        self.stack.push(canonical);
        let result = self.parse(&text, path);
        self.stack.pop();
        result
    }

    fn parse(&mut self, text: &str, path: &Path) -> Result<(), OptionFileError> {
        let mut group: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let error = |message: String| OptionFileError::Line {
                path: path.to_owned(),
                line: line_no,
                message,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(directive) = line.strip_prefix('!') {
                self.directive(directive, path, line_no)?;
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']').map(str::trim) else {
                    return Err(error("a group header must end with `]`".to_owned()));
                };
                if name.is_empty() {
                    return Err(error("empty group name".to_owned()));
                }
                group = Some(name.to_owned());
                continue;
            }
            let (name, value) = match line.split_once('=') {
                Some((name, value)) => (name, Some(parse_value(value).map_err(error)?)),
                None => (line, None),
            };
            let name = name.trim().replace('-', "_");
            if name.is_empty() {
                return Err(error("an option needs a name before `=`".to_owned()));
            }
            self.entries.push(OptionEntry {
                group: group.clone(),
                name,
                value,
                file: path.to_owned(),
                line: line_no,
            });
        }
        Ok(())
    }

    /// `!include FILE` and `!includedir DIR`; anything else after `!` is an error rather than a
    /// silently skipped line.
    fn directive(
        &mut self,
        directive: &str,
        path: &Path,
        line: usize,
    ) -> Result<(), OptionFileError> {
        let error = |message: String| OptionFileError::Line {
            path: path.to_owned(),
            line,
            message,
        };
        let (word, argument) = directive
            .split_once(char::is_whitespace)
            .map(|(w, a)| (w, a.trim()))
            .unwrap_or((directive, ""));
        if word != "include" && word != "includedir" {
            // The word is not quoted: in a credentials file it could be a password.
            return Err(error(
                "unknown directive (only !include and !includedir exist)".to_owned(),
            ));
        }
        if argument.is_empty() {
            return Err(error(format!("`!{word}` needs a path")));
        }
        let target = match path.parent() {
            Some(dir) => dir.join(argument),
            None => PathBuf::from(argument),
        };
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(error(format!(
                "`!{word} {}`: includes nest more than {MAX_INCLUDE_DEPTH} deep",
                target.display()
            )));
        }
        let files = if word == "include" {
            vec![target.clone()]
        } else {
            cnf_files(&target).map_err(|e| {
                error(format!(
                    "`!includedir {}`: cannot read the directory: {e}",
                    target.display()
                ))
            })?
        };
        for file in files {
            // Check the chain before reading, so a loop is reported at the line that closes it.
            if let Ok(canonical) = std::fs::canonicalize(&file) {
                if self.stack.contains(&canonical) {
                    return Err(error(format!(
                        "`!{word} {}`: include loop ({} is already being read)",
                        target.display(),
                        file.display()
                    )));
                }
            }
            self.read_file(&file).map_err(|inner| match inner {
                // Name the directive's line too, so the operator finds where the file came from.
                OptionFileError::Unreadable { path: file, source } => error(format!(
                    "`!{word} {}`: cannot read {}: {source}",
                    target.display(),
                    file.display()
                )),
                other => other,
            })?;
        }
        Ok(())
    }
}

/// The `*.cnf` files of a directory, sorted by name. MySQL reads the same set (on Unix) but in
/// directory order; sorting makes the result the same on every host.
fn cnf_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cnf") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The value after `=`, by the one quoting rule (see the module header).
fn parse_value(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote) {
            let Some(end) = inner.find(quote) else {
                return Err(format!("value has no closing {quote}"));
            };
            let rest = inner[end + 1..].trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!(
                    "only a `# comment` may follow a value's closing {quote}"
                ));
            }
            return Ok(inner[..end].to_owned());
        }
    }
    let end = value
        .char_indices()
        .find(|&(i, c)| c == '#' && i > 0 && value[..i].ends_with(char::is_whitespace))
        .map_or(value.len(), |(i, _)| i);
    Ok(value[..end].trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn values(entries: &[OptionEntry]) -> Vec<(Option<&str>, &str, Option<&str>)> {
        entries
            .iter()
            .map(|e| (e.group.as_deref(), e.name.as_str(), e.value.as_deref()))
            .collect()
    }

    #[test]
    fn the_one_quoting_rule() {
        assert_eq!(parse_value(" plain ").unwrap(), "plain");
        assert_eq!(parse_value("db1 # first node").unwrap(), "db1");
        assert_eq!(parse_value("pa#ss").unwrap(), "pa#ss");
        assert_eq!(parse_value("\"se cret # x\"").unwrap(), "se cret # x");
        assert_eq!(parse_value("'a\"b' # c").unwrap(), "a\"b");
        assert_eq!(parse_value("\" padded \"").unwrap(), " padded ");
        assert_eq!(parse_value("\"back\\slash\"").unwrap(), "back\\slash");
        assert_eq!(parse_value("").unwrap(), "");
        assert!(parse_value("\"unterminated").is_err());
        assert!(parse_value("\"a\"b").is_err());
    }

    #[test]
    fn groups_bare_options_and_dashes() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "my.cnf",
            "user = top\n; comment\n[client]\nskip-ssl\ndefault-character-set = utf8\n",
        );
        let entries = read(&file).unwrap();
        assert_eq!(
            values(&entries),
            vec![
                (None, "user", Some("top")),
                (Some("client"), "skip_ssl", None),
                (Some("client"), "default_character_set", Some("utf8")),
            ]
        );
        assert_eq!(entries[2].line, 5);
    }

    #[test]
    fn errors_name_file_and_line_but_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "c.cnf", "[client]\npassword = \"hunter2\n");
        let err = read(&file).unwrap_err().to_string();
        assert!(err.contains("c.cnf line 2"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let file = write(dir.path(), "d.cnf", "[client\n");
        assert!(read(&file)
            .unwrap_err()
            .to_string()
            .contains("d.cnf line 1"));
    }

    #[test]
    fn include_is_read_in_place_and_relative_to_the_includer() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "sub/creds.cnf",
            "[client]\npassword = fromsub\n",
        );
        let main = write(
            dir.path(),
            "main.cnf",
            "[client]\nuser = a\n!include sub/creds.cnf\nhost = h\n",
        );
        let entries = read(&main).unwrap();
        assert_eq!(
            values(&entries),
            vec![
                (Some("client"), "user", Some("a")),
                (Some("client"), "password", Some("fromsub")),
                // Back in the includer's own group after the include.
                (Some("client"), "host", Some("h")),
            ]
        );
        assert!(entries[1].file.ends_with("sub/creds.cnf"));
    }

    #[test]
    fn includedir_reads_cnf_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "conf.d/20-b.cnf", "[client]\nuser = b\n");
        write(dir.path(), "conf.d/10-a.cnf", "[client]\nuser = a\n");
        write(
            dir.path(),
            "conf.d/30-c.cnf.dpkg-old",
            "[client]\nuser = old\n",
        );
        write(dir.path(), "conf.d/README", "not an option file\n");
        let main = write(dir.path(), "my.cnf", "!includedir conf.d\n");
        let users: Vec<_> = read(&main)
            .unwrap()
            .into_iter()
            .filter_map(|e| e.value)
            .collect();
        assert_eq!(users, ["a", "b"]);
    }

    #[test]
    fn missing_include_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "my.cnf",
            "[client]\n\n!include /nonexistent/x.cnf\n",
        );
        let err = read(&main).unwrap_err().to_string();
        assert!(err.contains("my.cnf line 3"), "{err}");
        assert!(err.contains("/nonexistent/x.cnf"), "{err}");
        let main = write(dir.path(), "d.cnf", "!includedir /nonexistent/dir\n");
        let err = read(&main).unwrap_err().to_string();
        assert!(
            err.contains("d.cnf line 1") && err.contains("/nonexistent/dir"),
            "{err}"
        );
    }

    #[test]
    fn unknown_directive_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "my.cnf", "!inclde other.cnf\n");
        let err = read(&main).unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("unknown directive"),
            "{err}"
        );
        assert!(!err.contains("inclde"), "{err}");
    }

    #[test]
    fn include_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.cnf", "!include b.cnf\n");
        write(dir.path(), "b.cnf", "[client]\n!include a.cnf\n");
        let err = read(&dir.path().join("a.cnf")).unwrap_err().to_string();
        assert!(
            err.contains("b.cnf line 2") && err.contains("loop"),
            "{err}"
        );
        let own = write(dir.path(), "self.cnf", "!includedir .\n");
        let err = read(&own).unwrap_err().to_string();
        assert!(err.contains("loop"), "{err}");
    }

    #[test]
    fn include_depth_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..=MAX_INCLUDE_DEPTH {
            write(
                dir.path(),
                &format!("{n}.cnf"),
                &format!("!include {}.cnf\n", n + 1),
            );
        }
        write(dir.path(), &format!("{}.cnf", MAX_INCLUDE_DEPTH + 1), "");
        let err = read(&dir.path().join("0.cnf")).unwrap_err().to_string();
        assert!(err.contains("deep"), "{err}");
        // One level less is fine.
        read(&dir.path().join("1.cnf")).unwrap();
    }
}

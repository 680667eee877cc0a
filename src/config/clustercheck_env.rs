//! clustercheck's shell variables (`/etc/sysconfig/clustercheck` on CentOS/RHEL, or the top of
//! the script itself), so a migration reuses the credentials clustercheck already had.
//!
//! This is not a shell: nothing is executed or expanded. The accepted lines are
//! - blank lines and lines starting with `#` (after blanks);
//! - `NAME=VALUE`, optionally preceded by `export `, NAME made of letters, digits and `_`, no
//!   blanks around `=`; VALUE is one of
//!   - `"text"`: double quotes; inside, `\"`, `\\`, `\$` and `` \` `` stand for the character after
//!     the backslash; an unescaped `$` or backquote (an expansion) is an error;
//!   - `'text'`: single quotes, taken literally (no `'` inside);
//!   - a bare word without blanks, quotes, `$`, backquotes, backslashes or `;&|<>()`;
//!   - nothing (`NAME=`, an empty value);
//!
//!   followed only by blanks or a ` # comment`.
//!
//! Anything else (an expansion such as `${MYSQL_USERNAME:-x}`, a command, a missing quote) is an
//! error naming `file:line`, because guessing what a shell would have made of it could connect
//! with the wrong credentials. Variables other than MYSQL_USERNAME, MYSQL_PASSWORD, MYSQL_HOST and
//! MYSQL_PORT are checked the same way and otherwise ignored.

use std::path::{Path, PathBuf};

/// The variables clustercheck reads, as found in the file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClustercheckEnv {
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    #[error("{}: cannot read it: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

pub fn read(path: &Path) -> Result<ClustercheckEnv, EnvFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| EnvFileError::Unreadable {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    parse(&text).map_err(|(line, message)| EnvFileError::Syntax {
        path: path.to_owned(),
        line,
        message,
    })
}

/// Parse the file's text; an error carries the 1-based line number.
pub fn parse(text: &str) -> Result<ClustercheckEnv, (usize, String)> {
    let mut env = ClustercheckEnv::default();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = assignment(line).map_err(|m| (number, m))?;
        match name {
            "MYSQL_USERNAME" => env.user = Some(value),
            "MYSQL_PASSWORD" => env.password = Some(value),
            "MYSQL_HOST" => env.host = Some(value).filter(|h| !h.is_empty()),
            "MYSQL_PORT" if value.is_empty() => env.port = None,
            "MYSQL_PORT" => {
                env.port = Some(value.parse().map_err(|_| {
                    (
                        number,
                        format!("MYSQL_PORT must be a port number, not `{value:.32}`"),
                    )
                })?)
            }
            _ => {}
        }
    }
    Ok(env)
}

fn assignment(line: &str) -> Result<(&str, String), String> {
    let line = line.strip_prefix("export ").map_or(line, str::trim_start);
    let Some((name, rest)) = line.split_once('=') else {
        return Err("expected NAME=VALUE".into());
    };
    if name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "`{name:.32}` is not a variable name (no blanks around `=`)"
        ));
    }
    let (value, tail) = match rest.chars().next() {
        Some('"') => double_quoted(&rest[1..])?,
        Some('\'') => {
            let end = rest[1..].find('\'').ok_or("missing closing single quote")?;
            (rest[1..1 + end].to_owned(), &rest[2 + end..])
        }
        _ => {
            let end = rest.find([' ', '\t']).unwrap_or(rest.len());
            let word = &rest[..end];
            if let Some(c) = word
                .chars()
                .find(|c| "\"'$`\\;&|<>()".contains(*c) || c.is_control())
            {
                return Err(format!(
                    "`{c}` in an unquoted value of {name}: quote the value (see the accepted forms)"
                ));
            }
            (word.to_owned(), &rest[end..])
        }
    };
    let tail = tail.trim_start();
    if !(tail.is_empty() || tail.starts_with('#')) {
        return Err(format!(
            "unexpected `{tail:.32}` after the value of {name} (one assignment per line)"
        ));
    }
    Ok((name, value))
}

/// The text after an opening `"`: the value and what follows the closing quote.
fn double_quoted(rest: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &rest[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\' | '$' | '`'))) => value.push(e),
                // In a shell, a backslash before another character stays a backslash.
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            '$' | '`' => {
                return Err(format!(
                    "`{c}` inside double quotes is a shell expansion; write the value itself, \
                     or use single quotes"
                ))
            }
            other => value.push(other),
        }
    }
    Err("missing closing double quote".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sysconfig_style_lines() {
        let env = parse(
            "# /etc/sysconfig/clustercheck\n\
             MYSQL_USERNAME=\"clustercheck\"\n\
             export MYSQL_PASSWORD='p@ss \"w$rd'   # single quotes are literal\n\
             \n   MYSQL_HOST=localhost\n\
             MYSQL_PORT=\"3306\"\n\
             AVAILABLE_WHEN_DONOR=0\n\
             ERR_FILE=\"/dev/null\"\n",
        )
        .unwrap();
        assert_eq!(
            env,
            ClustercheckEnv {
                user: Some("clustercheck".into()),
                password: Some("p@ss \"w$rd".into()),
                host: Some("localhost".into()),
                port: Some(3306),
            }
        );
    }

    #[test]
    fn double_quote_escapes_and_empty_values() {
        let env =
            parse("MYSQL_PASSWORD=\"a\\\"b\\\\c\\$d\\`e\\nf\"\nMYSQL_HOST=\nMYSQL_USERNAME=\"\"\n")
                .unwrap();
        assert_eq!(env.password.as_deref(), Some("a\"b\\c$d`e\\nf"));
        assert_eq!(env.host, None);
        assert_eq!(env.user.as_deref(), Some(""));
    }

    #[test]
    fn anything_else_is_an_error_with_its_line() {
        for (text, line, words) in [
            (
                "MYSQL_USERNAME=\"${MYSQL_USERNAME:-clustercheckuser}\"",
                1,
                "expansion",
            ),
            ("# ok\nMYSQL_PASSWORD=$(cat /secret)", 2, "quote the value"),
            ("MYSQL_USERNAME = x", 1, "not a variable name"),
            ("MYSQL_USERNAME=\"open", 1, "missing closing double quote"),
            ("MYSQL_PASSWORD='open", 1, "missing closing single quote"),
            ("MYSQL_USERNAME=a b", 1, "unexpected `b`"),
            ("MYSQL_USERNAME=x; MYSQL_PASSWORD=y", 1, "`;`"),
            ("if true; then", 1, "NAME=VALUE"),
            ("\n\nMYSQL_PORT=three", 3, "port number"),
        ] {
            let (at, message) = parse(text).unwrap_err();
            assert_eq!(at, line, "{text:?}: {message}");
            assert!(message.contains(words), "{text:?}: {message}");
        }
    }

    #[test]
    fn error_names_file_and_line() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"MYSQL_USERNAME=ok\nMYSQL_PASSWORD=\"`x`\"\n")
            .unwrap();
        let text = read(file.path()).unwrap_err().to_string();
        assert!(
            text.starts_with(&format!("{}:2: ", file.path().display())),
            "{text}"
        );
        assert!(read(Path::new("/nonexistent/clustercheck"))
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/clustercheck: cannot read it"));
    }
}

//! The `[client]` section of a my.cnf-style option file, the way clustercheck takes its
//! credentials (DEFAULTS_EXTRA_FILE), so an existing file can be reused unchanged.
//!
//! Only what a client connection needs is read: user, password, socket, host, port. The format is
//! MySQL's own (dashes and underscores are the same in option names, values may be quoted, bare
//! options carry no value, `!include` directives exist); no INI crate handles those rules, and the
//! subset is small enough to keep here with its tests.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MyCnfError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: port `{value}` is not a port number")]
    BadPort {
        path: PathBuf,
        line: usize,
        value: String,
    },
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientSection {
    pub user: Option<String>,
    pub password: Option<String>,
    pub socket: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
}

pub fn read_client_section(path: &Path) -> Result<ClientSection, MyCnfError> {
    let text = std::fs::read_to_string(path).map_err(|source| MyCnfError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    parse_client_section(&text, path)
}

/// Sections whose options a client reads; later ones win, as with the mysql client.
const CLIENT_GROUPS: [&str; 3] = ["client", "mysql", "clustercheck"];

pub fn parse_client_section(text: &str, path: &Path) -> Result<ClientSection, MyCnfError> {
    let mut section = ClientSection::default();
    let mut in_client = false;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('!')
        {
            continue;
        }
        if let Some(group) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = CLIENT_GROUPS.contains(&group.trim());
            continue;
        }
        if !in_client {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue; // a bare option such as `skip-ssl`: nothing we use
        };
        let name = name.trim().replace('-', "_");
        let value = unquote(value.trim()).to_owned();
        match name.as_str() {
            "user" => section.user = Some(value),
            "password" => section.password = Some(value),
            "socket" => section.socket = Some(PathBuf::from(value)),
            "host" => section.host = Some(value),
            "port" => {
                let port = value.parse().map_err(|_| MyCnfError::BadPort {
                    path: path.to_owned(),
                    line: index + 1,
                    value: value.clone(),
                })?;
                section.port = Some(port);
            }
            _ => {}
        }
    }
    Ok(section)
}

/// Values may be wrapped in single or double quotes; unquoted values end at a ` #` comment.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote) {
            if let Some(end) = inner.find(quote) {
                return &inner[..end];
            }
        }
    }
    match value.find(" #") {
        Some(comment) => value[..comment].trim_end(),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ClientSection {
        parse_client_section(text, Path::new("test.cnf")).unwrap()
    }

    #[test]
    fn reads_client_section_only() {
        let s = parse(
            "[mysqld]\nuser=mysql\n[client]\nuser = clustercheck\npassword=\"se cret\"\n\
             socket=/run/mysqld/mysqld.sock\nport=3307\nskip-ssl\n# comment\n",
        );
        assert_eq!(s.user.as_deref(), Some("clustercheck"));
        assert_eq!(s.password.as_deref(), Some("se cret"));
        assert_eq!(s.socket, Some(PathBuf::from("/run/mysqld/mysqld.sock")));
        assert_eq!(s.port, Some(3307));
    }

    #[test]
    fn single_quotes_and_trailing_comment() {
        let s = parse("[client]\npassword='a#b'\nhost=db1 # the first\n");
        assert_eq!(s.password.as_deref(), Some("a#b"));
        assert_eq!(s.host.as_deref(), Some("db1"));
    }

    #[test]
    fn bad_port_names_file_and_line() {
        let err = parse_client_section("[client]\nport=abc\n", Path::new("x.cnf")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.cnf line 2: port `abc` is not a port number"
        );
    }

    #[test]
    fn empty_file_is_empty_section() {
        assert_eq!(parse(""), ClientSection::default());
    }
}

//! The `[client]` options of a my.cnf-style file, the way clustercheck takes its credentials
//! (DEFAULTS_EXTRA_FILE), so an existing file can be reused unchanged.
//!
//! The file is read by [`super::optfile`] (MySQL's format, `!include` and `!includedir`
//! followed); this module only picks what a client connection needs: user, password, socket,
//! host, port, from the groups a client reads.

use std::path::{Path, PathBuf};

use super::optfile::{self, OptionFileError};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientSection {
    pub user: Option<String>,
    pub password: Option<String>,
    pub socket: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The file the password was read from (the defaults file or one it includes), so the
    /// caller can warn when that file is readable by other users.
    pub password_file: Option<PathBuf>,
}

/// Groups whose options a client reads; a later line wins, as with the mysql client.
const CLIENT_GROUPS: [&str; 3] = ["client", "mysql", "clustercheck"];

pub fn read_client_section(path: &Path) -> Result<ClientSection, OptionFileError> {
    let mut section = ClientSection::default();
    for option in optfile::read(path)? {
        if !option
            .group
            .as_deref()
            .is_some_and(|g| CLIENT_GROUPS.contains(&g))
        {
            continue;
        }
        // A bare option (`skip-ssl`) carries nothing we use.
        let Some(value) = option.value.clone() else {
            continue;
        };
        match option.name.as_str() {
            "user" => section.user = Some(value),
            "password" => {
                section.password = Some(value);
                section.password_file = Some(option.file.clone());
            }
            "socket" => section.socket = Some(PathBuf::from(value)),
            "host" => section.host = Some(value),
            "port" => {
                let port = value.parse().map_err(|_| {
                    OptionFileError::at(&option, format!("port `{value}` is not a port number"))
                })?;
                section.port = Some(port);
            }
            _ => {}
        }
    }
    Ok(section)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientSection, OptionFileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cnf");
        std::fs::write(&path, text).unwrap();
        read_client_section(&path)
    }

    #[test]
    fn reads_client_groups_only() {
        let s = parse(
            "[mysqld]\nuser=mysql\n[client]\nuser = clustercheck\npassword=\"se cret\"\n\
             socket=/run/mysqld/mysqld.sock\nport=3307\nskip-ssl\n# comment\n",
        )
        .unwrap();
        assert_eq!(s.user.as_deref(), Some("clustercheck"));
        assert_eq!(s.password.as_deref(), Some("se cret"));
        assert_eq!(s.socket, Some(PathBuf::from("/run/mysqld/mysqld.sock")));
        assert_eq!(s.port, Some(3307));
    }

    #[test]
    fn later_groups_win() {
        let s = parse("[clustercheck]\nuser = b\n[client]\nuser = a\nhost = h\n").unwrap();
        assert_eq!(s.user.as_deref(), Some("a"));
        assert_eq!(s.host.as_deref(), Some("h"));
    }

    #[test]
    fn single_quotes_and_trailing_comment() {
        let s = parse("[client]\npassword='a#b'\nhost=db1 # the first\n").unwrap();
        assert_eq!(s.password.as_deref(), Some("a#b"));
        assert_eq!(s.host.as_deref(), Some("db1"));
    }

    #[test]
    fn bad_port_names_file_and_line() {
        let err = parse("[client]\nport=abc\n").unwrap_err().to_string();
        assert!(
            err.ends_with("x.cnf line 2: port `abc` is not a port number"),
            "{err}"
        );
    }

    /// Regression: `!include` lines used to be skipped, so the password in the included file
    /// was silently not used.
    #[test]
    fn included_credentials_are_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.cnf"), "[client]\npassword = s3\n").unwrap();
        let main = dir.path().join("my.cnf");
        std::fs::write(&main, "[client]\nuser = u\n!include secret.cnf\n").unwrap();
        let s = read_client_section(&main).unwrap();
        assert_eq!(s.password.as_deref(), Some("s3"));
        assert_eq!(s.user.as_deref(), Some("u"));
        // The included file, not the includer, is the one that holds the password.
        assert_eq!(s.password_file, Some(dir.path().join("secret.cnf")));
    }

    #[test]
    fn empty_file_is_empty_section() {
        assert_eq!(parse("").unwrap(), ClientSection::default());
    }
}

//! Where and as whom a database client connects ([`DbEndpoint`]), resolved once at load for each
//! section that opens one (`[galera]`'s poller, `[writer]`'s lease), by the one set of rules
//! here: the section's keys over its other sources (clustercheck's variables, a `defaults_file`'s
//! `[client]` options), and the address as the mysql client picks it.

use std::path::{Path, PathBuf};

use super::{clustercheck_env, mycnf, ConfigError, Secret};

/// Where and as whom a database client connects, resolved from the config and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEndpoint {
    pub user: String,
    pub password: Secret,
    pub address: DbAddress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbAddress {
    Socket(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    /// Nothing configured: try these sockets in order at each connect, and keep the first whose
    /// server reports wsrep_on=ON (`galera.socket_candidates`).
    SocketCandidates(Vec<PathBuf>),
}

impl std::fmt::Display for DbAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbAddress::Socket(path) => write!(f, "unix:{}", path.display()),
            DbAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
            DbAddress::SocketCandidates(paths) => {
                f.write_str("first wsrep socket of ")?;
                for (i, path) in paths.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}unix:{}", path.display())?;
                }
                Ok(())
            }
        }
    }
}

/// The Debian/Ubuntu server socket: what `host = "localhost"` without a socket means.
pub(super) const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// A client's connection keys as one source gives them; unset keys come from the next source
/// ([`ClientKeys::over`]).
#[derive(Debug, Clone, Default)]
pub(super) struct ClientKeys {
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub socket: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
}

impl ClientKeys {
    /// A section's own keys (`user`, `password`, `socket`, `host`, `port`), the first source.
    pub(super) fn section(
        user: &Option<String>,
        password: &Option<Secret>,
        socket: &Option<PathBuf>,
        host: &Option<String>,
        port: Option<u16>,
    ) -> ClientKeys {
        ClientKeys {
            user: user.clone(),
            password: password.clone(),
            socket: socket.clone(),
            host: host.clone(),
            port,
        }
    }

    /// These keys, and `under`'s where these are unset.
    pub(super) fn over(self, under: ClientKeys) -> ClientKeys {
        ClientKeys {
            user: self.user.or(under.user),
            password: self.password.or(under.password),
            socket: self.socket.or(under.socket),
            host: self.host.or(under.host),
            port: self.port.or(under.port),
        }
    }

    /// The endpoint: `default_user` and an empty password when no source names them; the
    /// address as the mysql client picks it (a socket wins unless a host other than localhost is
    /// named; `localhost` alone is the default socket), and `unnamed` when no source names a
    /// socket or a host.
    pub(super) fn resolve(
        self,
        default_user: &str,
        unnamed: impl FnOnce() -> DbAddress,
    ) -> DbEndpoint {
        let address = match (self.socket, self.host) {
            (Some(socket), None) => DbAddress::Socket(socket),
            (Some(socket), Some(host)) if host == "localhost" => DbAddress::Socket(socket),
            (None, Some(host)) if host == "localhost" && self.port.is_none() => {
                DbAddress::Socket(PathBuf::from(DEFAULT_SOCKET))
            }
            (_, Some(host)) => DbAddress::Tcp {
                host,
                port: self.port.unwrap_or(3306),
            },
            (None, None) => unnamed(),
        };
        DbEndpoint {
            user: self.user.unwrap_or_else(|| default_user.to_owned()),
            password: self.password.unwrap_or_default(),
            address,
        }
    }
}

impl From<mycnf::ClientSection> for ClientKeys {
    fn from(file: mycnf::ClientSection) -> Self {
        ClientKeys {
            user: file.user,
            password: file.password.map(Secret::new),
            socket: file.socket,
            host: file.host,
            port: file.port,
        }
    }
}

/// clustercheck's shell variables name no socket.
impl From<clustercheck_env::ClustercheckEnv> for ClientKeys {
    fn from(env: clustercheck_env::ClustercheckEnv) -> Self {
        ClientKeys {
            user: env.user,
            password: env.password.map(Secret::new),
            socket: None,
            host: env.host,
            port: env.port,
        }
    }
}

/// A section's `defaults_file` (`key` names it in errors), or no options without one. The file
/// a password came from (it, or one it includes) is added to `secret_files`.
pub(super) fn read_defaults_file(
    path: Option<&Path>,
    key: &'static str,
    secret_files: &mut Vec<(PathBuf, &'static str)>,
) -> Result<ClientKeys, ConfigError> {
    let Some(path) = path else {
        return Ok(ClientKeys::default());
    };
    let file = mycnf::read_client_section(path)
        .map_err(|source| ConfigError::DefaultsFile { key, source })?;
    if let Some(password_file) = &file.password_file {
        secret_files.push((password_file.clone(), key));
    }
    Ok(file.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(socket: Option<&str>, host: Option<&str>, port: Option<u16>) -> ClientKeys {
        ClientKeys {
            socket: socket.map(PathBuf::from),
            host: host.map(str::to_owned),
            port,
            ..ClientKeys::default()
        }
    }

    /// The mysql client's choice of address, for every combination of socket, host and port.
    #[test]
    fn the_address_is_picked_as_the_mysql_client_does() {
        let unnamed = || DbAddress::Socket("/unnamed".into());
        let at = |k: ClientKeys| k.resolve("u", unnamed).address;
        let socket = |p: &str| DbAddress::Socket(p.into());
        let tcp = |h: &str, port| DbAddress::Tcp {
            host: h.into(),
            port,
        };
        assert_eq!(at(keys(Some("/s"), None, None)), socket("/s"));
        assert_eq!(
            at(keys(Some("/s"), Some("localhost"), Some(1))),
            socket("/s")
        );
        assert_eq!(at(keys(Some("/s"), Some("db1"), None)), tcp("db1", 3306));
        assert_eq!(
            at(keys(None, Some("localhost"), None)),
            socket(DEFAULT_SOCKET)
        );
        assert_eq!(
            at(keys(None, Some("localhost"), Some(3307))),
            tcp("localhost", 3307)
        );
        assert_eq!(at(keys(None, Some("db1"), Some(13301))), tcp("db1", 13301));
        assert_eq!(at(keys(None, None, Some(3307))), socket("/unnamed"));
    }

    #[test]
    fn earlier_sources_win_key_by_key_and_defaults_fill_the_rest() {
        let section = ClientKeys {
            user: Some("section".into()),
            ..ClientKeys::default()
        };
        let file = ClientKeys {
            user: Some("file".into()),
            password: Some(Secret::new("pw")),
            socket: Some("/f.sock".into()),
            ..ClientKeys::default()
        };
        let endpoint = section
            .over(file)
            .resolve("default", || DbAddress::Socket("/x".into()));
        assert_eq!(endpoint.user, "section");
        assert_eq!(endpoint.password.expose(), "pw");
        assert_eq!(endpoint.address, DbAddress::Socket("/f.sock".into()));
        let endpoint = ClientKeys::default().resolve("default", || DbAddress::Socket("/x".into()));
        assert_eq!(endpoint.user, "default");
        assert_eq!(endpoint.password.expose(), "");
    }
}

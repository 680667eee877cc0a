//! The `[peers]` section: the other controllers' clustercheckd /status pages, which this daemon
//! polls in the background (`collectors::peers`) to see the cluster as every node sees it:
//! /cluster, the cluster metrics, and the "stale view" rule of the Galera check.
//!
//! Off while `urls` is empty (the default). The peers' pages may sit behind the web config
//! (TLS, basic auth): `ca_file` verifies their certificates, `username` + `password_file` answer
//! their basic auth. The password is read once, here at load, into [`PeersConfig::credentials`],
//! like every other secret: a missing or unreadable file stops start-up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use humantime_serde::re::humantime::format_duration;
use serde::Deserialize;

use super::poll::{MAX_INTERVAL, MAX_TIMEOUT};
use super::{ConfigError, Secret};

/// Peers are other daemons answering from memory: polling one costs it microseconds, but there
/// is no point in asking faster than their own Galera poll (1 s by default) changes the answer.
const MIN_INTERVAL: Duration = Duration::from_millis(500);
const MIN_TIMEOUT: Duration = Duration::from_millis(50);

/// A control plane has a handful of controllers; more URLs than this is a mistake (a pasted
/// list of every host), and each one is a request per interval.
pub const MAX_PEERS: usize = 16;

/// A password file is a password, not a document.
const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// `[peers]`: off by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeersConfig {
    /// The other daemons' /status URLs, e.g. `https://10.0.0.12:9201/status` (the page is on the
    /// check port, or on `listen.metrics` when that is set). Empty (the default): no peers, no
    /// cluster view; every check behaves as before.
    pub urls: Vec<String>,
    /// How often every peer is polled (all at once, each under `timeout`).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Hard limit on one peer's answer (connect, TLS, headers and body). Must be below
    /// `interval`, so a round always ends before the next one starts.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// PEM file with the CA certificate(s) that sign the peers' certificates; required for
    /// `https://` URLs (the peers' web config TLS). Only these CAs are trusted, not the system's.
    pub ca_file: Option<PathBuf>,
    /// The user for the peers' basic auth (their web config's `basic_auth_users`).
    pub username: Option<String>,
    /// File holding only that user's password (one line; a trailing newline is ignored). Read
    /// once at load into `credentials`.
    pub password_file: Option<PathBuf>,
    /// `username` and the password read from `password_file`, resolved once by `Config::load`.
    #[serde(skip)]
    pub credentials: Option<PeerCredentials>,
    /// The CA certificates read from `ca_file` (PEM, DER-decoded), resolved once at load.
    #[serde(skip)]
    pub ca_certificates: Vec<Vec<u8>>,
}

/// Basic-auth credentials for the peers' pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCredentials {
    pub username: String,
    pub password: Secret,
}

impl Default for PeersConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            ca_file: None,
            username: None,
            password_file: None,
            credentials: None,
            ca_certificates: Vec::new(),
        }
    }
}

impl PeersConfig {
    /// Whether any peer is configured.
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// A round's answers count as current for this long (3 intervals, as every poller's default
    /// staleness): older ones are no evidence about the cluster now.
    pub fn max_staleness(&self) -> Duration {
        self.interval
            .saturating_mul(super::DEFAULT_STALENESS_INTERVALS)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| Err(ConfigError::invalid(key, message));
        if self.interval < MIN_INTERVAL || self.interval > MAX_INTERVAL {
            return invalid(
                "peers.interval",
                format!(
                    "must be between {} and {}",
                    format_duration(MIN_INTERVAL),
                    format_duration(MAX_INTERVAL)
                ),
            );
        }
        if self.timeout < MIN_TIMEOUT || self.timeout > MAX_TIMEOUT {
            return invalid(
                "peers.timeout",
                format!(
                    "must be between {} and {}",
                    format_duration(MIN_TIMEOUT),
                    format_duration(MAX_TIMEOUT)
                ),
            );
        }
        if self.timeout >= self.interval {
            return invalid(
                "peers.timeout",
                "must be less than peers.interval (a round must end before the next one)".into(),
            );
        }
        if self.urls.len() > MAX_PEERS {
            return invalid("peers.urls", format!("at most {MAX_PEERS} peers"));
        }
        let mut seen = Vec::new();
        for url in &self.urls {
            let parsed = parse_url(url).map_err(|m| ConfigError::invalid("peers.urls", m))?;
            if seen.contains(&parsed) {
                return invalid("peers.urls", format!("{url:.200} is listed twice"));
            }
            seen.push(parsed);
        }
        let https = seen.iter().any(|u| u.scheme() == "https");
        if https && self.ca_file.is_none() {
            // Only the CAs named here are trusted: the peers' certificates come from the
            // deployment's own CA, not from the public ones a system store holds.
            return invalid(
                "peers.ca_file",
                "must be set for https:// peers (the CA that signs their certificates)".into(),
            );
        }
        if self.ca_file.is_some() && !https {
            return invalid("peers.ca_file", "is set but no peer URL is https://".into());
        }
        match (&self.username, &self.password_file) {
            (Some(user), _) if user.is_empty() || user.contains(':') => invalid(
                "peers.username",
                "must be non-empty and without `:` (basic auth)".into(),
            ),
            (Some(_), None) => invalid(
                "peers.password_file",
                "must be set with peers.username".into(),
            ),
            (None, Some(_)) => invalid(
                "peers.username",
                "must be set with peers.password_file".into(),
            ),
            _ => Ok(()),
        }
    }

    /// Read the password file and the CA file, once. `warnings` gets a line when the password
    /// would travel in clear text (an `http://` peer).
    pub(super) fn resolve(
        &mut self,
        secret_files: &mut Vec<(PathBuf, &'static str)>,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        if let (Some(username), Some(path)) = (&self.username, &self.password_file) {
            let password = read_password_file(path)
                .map_err(|m| ConfigError::invalid("peers.password_file", m))?;
            secret_files.push((path.clone(), "peers.password_file"));
            self.credentials = Some(PeerCredentials {
                username: username.clone(),
                password,
            });
            if self.urls.iter().any(|u| u.starts_with("http://")) {
                warnings.push(
                    "peers: basic-auth credentials are sent to http:// peers in clear text; \
                     use https:// (peers.ca_file) for the peers' pages"
                        .to_owned(),
                );
            }
        }
        if let Some(path) = &self.ca_file {
            self.ca_certificates =
                read_ca_file(path).map_err(|m| ConfigError::invalid("peers.ca_file", m))?;
        }
        Ok(())
    }
}

/// A peer URL: http or https, a host, no credentials in it (they belong in `username` and
/// `password_file`, where they are not logged), no fragment.
fn parse_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:.200}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:.200}: must be http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:.200}: has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: it holds a password.
        return Err(
            "a URL holds credentials; use peers.username and peers.password_file".to_owned(),
        );
    }
    if url.fragment().is_some() {
        return Err(format!("{text:.200}: must not have a #fragment"));
    }
    Ok(url)
}

/// The password: the whole file but a trailing newline. Errors never quote the contents.
fn read_password_file(path: &Path) -> Result<Secret, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.len() > MAX_PASSWORD_FILE_BYTES {
        return Err(format!(
            "{shown}: larger than {MAX_PASSWORD_FILE_BYTES} bytes"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8"))?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(format!("{shown}: empty"));
    }
    if password.contains(['\n', '\r']) {
        return Err(format!(
            "{shown}: more than one line (it must hold only the password)"
        ));
    }
    Ok(Secret::new(password))
}

/// Every `CERTIFICATE` block of a PEM file, DER-decoded; at least one.
fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::pem::PemObject;
    let shown = path.display();
    let certificates: Vec<Vec<u8>> = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{shown}: {e}"))?
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{shown}: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("{shown}: no PEM certificate in it"));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_urls(urls: &[&str]) -> PeersConfig {
        PeersConfig {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            ..PeersConfig::default()
        }
    }

    #[test]
    fn off_by_default_with_two_second_rounds() {
        let config = PeersConfig::default();
        assert!(!config.enabled());
        assert_eq!(config.interval, Duration::from_secs(2));
        assert_eq!(config.timeout, Duration::from_secs(1));
        assert_eq!(config.max_staleness(), Duration::from_secs(6));
        config.validate().unwrap();
    }

    #[test]
    fn bad_urls_are_named_and_credentials_never_echoed() {
        for (urls, needle) in [
            (&["ftp://10.0.0.12/status"][..], "http:// or https://"),
            (&["not a url"][..], "not a url"),
            (
                &["https://u:s3cret@10.0.0.12:9201/status"][..],
                "credentials",
            ),
            (
                &[
                    "http://10.0.0.12:9201/status",
                    "http://10.0.0.12:9201/status",
                ][..],
                "twice",
            ),
            (&["http://10.0.0.12:9201/status#x"][..], "fragment"),
        ] {
            let err = with_urls(urls).validate().unwrap_err().to_string();
            assert!(err.contains("peers.urls"), "{err}");
            assert!(err.contains(needle), "{urls:?}: {err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        let many: Vec<String> = (0..=MAX_PEERS)
            .map(|i| format!("http://10.0.0.{i}:9200/status"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(with_urls(&refs).validate().is_err());
        let err = with_urls(&["https://10.0.0.12:9201/status"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("peers.ca_file"), "{err}");
        PeersConfig {
            ca_file: Some("/etc/clustercheckd/ca.crt".into()),
            ..with_urls(&[
                "http://10.0.0.12:9200/status",
                "https://[fd00::12]:9201/status",
            ])
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn timeout_must_be_below_interval() {
        let config = PeersConfig {
            timeout: Duration::from_secs(2),
            ..with_urls(&["http://10.0.0.12:9200/status"])
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("peers.timeout") && err.contains("less than"),
            "{err}"
        );
        let config = PeersConfig {
            interval: Duration::from_millis(100),
            ..PeersConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("peers.interval"));
    }

    #[test]
    fn username_and_password_file_go_together() {
        let config = PeersConfig {
            username: Some("prometheus".into()),
            ..with_urls(&["http://10.0.0.12:9201/status"])
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("peers.password_file"), "{err}");
        let config = PeersConfig {
            password_file: Some("/etc/clustercheckd/peers.pw".into()),
            ..with_urls(&["http://10.0.0.12:9201/status"])
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("peers.username"), "{err}");
        let config = PeersConfig {
            ca_file: Some("/etc/clustercheckd/ca.crt".into()),
            ..with_urls(&["http://10.0.0.12:9200/status"])
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("peers.ca_file"), "{err}");
    }

    #[test]
    fn password_file_is_read_once_without_its_newline_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret pw\n").unwrap();
        assert_eq!(read_password_file(&path).unwrap().expose(), "s3cret pw");
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(read_password_file(&path).unwrap().expose(), "s3cret");
        for (text, needle) in [("\n", "empty"), ("s3cret\nmore\n", "more than one line")] {
            std::fs::write(&path, text).unwrap();
            let err = read_password_file(&path).unwrap_err();
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        let err = read_password_file(&dir.path().join("missing")).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = read_ca_file(&path).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        assert!(read_ca_file(&dir.path().join("missing")).is_err());
    }
}

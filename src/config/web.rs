//! The web config file (`--web.config.file`, `listen.web_config_file`): TLS and basic auth for the
//! metrics listener, in the YAML format Prometheus exporters share (exporter-toolkit), so an
//! operator can reuse the file they already have for node_exporter.
//!
//! Supported, and only these (any other key, e.g. `http_server_config` or `cipher_suites`, is an
//! error naming it, so a setting we would silently ignore can never look applied):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths: against this file's directory
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # default NoClientCert
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12             # TLS12 (default) or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hashes, never plain passwords
//! ```
//!
//! This module parses and validates the file only; the certificate files it names are read where
//! TLS is set up (`http::web`), which also re-reads everything on change or SIGHUP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

/// A web config larger than this is not a web config; refusing it bounds what a reload reads.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a web config file cannot be used. One line, naming the file and the key at fault; never
/// a password (the file holds none, only bcrypt hashes, and those are not printed either).
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("web config {path}: cannot read it: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("web config {path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    /// Not YAML, an unknown key, or a value of the wrong type or out of the allowed set.
    #[error("web config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("web config {path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// exporter-toolkit's `client_auth_type` values (Go's `tls.ClientAuthType` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified against a CA.
    RequireAnyClientCert,
    /// Not required; one that is sent must verify against `client_ca_file`.
    VerifyClientCertIfGiven,
    /// Required, and must verify against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether this mode checks certificates against `client_ca_file` (which it then needs).
    pub fn verifies(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

/// The lowest TLS version accepted. exporter-toolkit also knows TLS10 and TLS11; rustls does not
/// speak them, so they are refused rather than silently raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TlsVersion {
    #[default]
    TLS12,
    TLS13,
}

/// `tls_server_config`, with every path made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    pub client_auth: ClientAuth,
    /// The CAs client certificates must chain to (PEM), for the verifying modes.
    pub client_ca_file: Option<PathBuf>,
    pub min_version: TlsVersion,
}

/// A bcrypt hash from `basic_auth_users`, checked to be one at load. Not shown by `{:?}`: it is
/// not a password, but an offline guess at one starts from it, so it stays out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// A loaded, validated web config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebConfig {
    /// `None`: plain HTTP (basic auth alone is allowed, as in exporter-toolkit).
    pub tls: Option<TlsSettings>,
    /// Empty: no authentication.
    pub users: BTreeMap<String, PasswordHash>,
}

impl WebConfig {
    /// Every file this config reads (the web config itself first): what a reload watches.
    pub fn files(&self, path: &Path) -> Vec<PathBuf> {
        let mut files = vec![path.to_owned()];
        if let Some(tls) = &self.tls {
            files.push(tls.cert_file.clone());
            files.push(tls.key_file.clone());
            files.extend(tls.client_ca_file.clone());
        }
        files
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: Option<ClientAuth>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<TlsVersion>,
}

/// Read and validate the web config at `path`.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let unreadable = |source| WebConfigError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_FILE_BYTES {
        return Err(WebConfigError::TooLarge {
            path: path.to_owned(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|e| e.at(path))
}

/// A problem found in the text, before it is tied to a file name.
#[derive(Debug)]
pub enum TextError {
    Parse(String),
    Invalid { key: String, message: String },
}

impl TextError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn at(self, path: &Path) -> WebConfigError {
        let path = path.to_owned();
        match self {
            Self::Parse(message) => WebConfigError::Parse { path, message },
            Self::Invalid { key, message } => WebConfigError::Invalid { path, key, message },
        }
    }
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(message) => f.write_str(message),
            Self::Invalid { key, message } => write!(f, "key `{key}`: {message}"),
        }
    }
}

/// Parse the file's text; relative paths are resolved against `base` (the file's directory, as
/// exporter-toolkit does, so a config and its certificates move together). Public for the fuzz
/// target: any input gives a config or an error, never a panic.
pub fn parse(text: &str, base: &Path) -> Result<WebConfig, TextError> {
    // An empty file (or one of comments only) is a valid config that changes nothing.
    let raw: RawWebConfig = match serde_yaml_ng::from_str::<Option<RawWebConfig>>(text) {
        Ok(raw) => raw.unwrap_or_default(),
        Err(error) => return Err(TextError::Parse(one_line(&error.to_string()))),
    };
    let tls = raw.tls_server_config.map(|t| tls(t, base)).transpose()?;
    let mut users = BTreeMap::new();
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        let key = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            return Err(TextError::invalid(
                "basic_auth_users",
                "a user name must be non-empty and contain no ':' (Basic auth splits on it)",
            ));
        }
        if bcrypt::HashParts::from_str(&hash).is_err() {
            return Err(TextError::invalid(
                &key,
                "not a bcrypt hash (make one with `htpasswd -nBC 10 USER`)",
            ));
        }
        users.insert(user, PasswordHash(hash));
    }
    Ok(WebConfig { tls, users })
}

fn tls(raw: RawTls, base: &Path) -> Result<TlsSettings, TextError> {
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let required = |value: Option<PathBuf>, key: &str| match value {
        Some(p) if !p.as_os_str().is_empty() => Ok(resolve(p)),
        _ => Err(TextError::invalid(
            key,
            "missing (required with tls_server_config)",
        )),
    };
    let cert_file = required(raw.cert_file, "tls_server_config.cert_file")?;
    let key_file = required(raw.key_file, "tls_server_config.key_file")?;
    let client_auth = raw.client_auth_type.unwrap_or_default();
    let client_ca_file = raw
        .client_ca_file
        .filter(|p| !p.as_os_str().is_empty())
        .map(resolve);
    match (client_auth, &client_ca_file) {
        (mode, None) if mode.verifies() => {
            return Err(TextError::invalid(
                "tls_server_config.client_ca_file",
                format!("required with client_auth_type {mode:?}"),
            ))
        }
        // exporter-toolkit refuses this too: CAs given but nothing asks for a certificate.
        (ClientAuth::NoClientCert, Some(_)) => {
            return Err(TextError::invalid(
                "tls_server_config.client_auth_type",
                "client_ca_file is set but client_auth_type is NoClientCert",
            ))
        }
        _ => {}
    }
    Ok(TlsSettings {
        cert_file,
        key_file,
        client_auth,
        client_ca_file,
        min_version: raw.min_version.unwrap_or_default(),
    })
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bcrypt of "secret" at cost 4 (fast to check).
    const HASH: &str = "$2b$04$tsb9mnqsM7mis5bpDtRrpek0qF68JxgesoO7LOIqiYsA0pV6dfspO";

    fn parse_ok(text: &str) -> WebConfig {
        parse(text, Path::new("/etc/ccd")).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("/etc/ccd"))
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn empty_file_changes_nothing() {
        assert_eq!(parse_ok(""), WebConfig::default());
        assert_eq!(parse_ok("# only a comment\n"), WebConfig::default());
        assert_eq!(
            parse_ok("tls_server_config:\nbasic_auth_users:\n"),
            WebConfig::default()
        );
    }

    #[test]
    fn full_file_with_relative_and_absolute_paths() {
        let config = parse_ok(&format!(
            "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: /keys/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             min_version: TLS13\nbasic_auth_users:\n  prometheus: '{HASH}'\n"
        ));
        let tls = config.tls.expect("tls");
        assert_eq!(tls.cert_file, PathBuf::from("/etc/ccd/tls/server.crt"));
        assert_eq!(tls.key_file, PathBuf::from("/keys/server.key"));
        assert_eq!(tls.client_ca_file, Some(PathBuf::from("/etc/ccd/ca.crt")));
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(tls.min_version, TlsVersion::TLS13);
        assert_eq!(config.users["prometheus"].as_str(), HASH);
        assert!(!format!("{:?}", config.users).contains(HASH));
    }

    #[test]
    fn every_client_auth_type_of_exporter_toolkit() {
        for mode in [
            "NoClientCert",
            "RequestClientCert",
            "RequireAnyClientCert",
            "VerifyClientCertIfGiven",
            "RequireAndVerifyClientCert",
        ] {
            let ca = if mode == "NoClientCert" {
                ""
            } else {
                "  client_ca_file: ca.crt\n"
            };
            let config = parse_ok(&format!(
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: {mode}\n{ca}"
            ));
            assert_eq!(format!("{:?}", config.tls.unwrap().client_auth), mode);
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        for (text, key) in [
            (
                "http_server_config:\n  http2: false\n",
                "http_server_config",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: []\n",
                "cipher_suites",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
                "client_allowed_sans",
            ),
        ] {
            let err = parse_err(text);
            assert!(err.contains(key), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        for (text, needle) in [
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n",
                "TLS11",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
                "Maybe",
            ),
            ("tls_server_config:\n  key_file: b\n", "cert_file"),
            ("tls_server_config:\n  cert_file: a\n", "key_file"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "client_ca_file",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
                "client_auth_type",
            ),
            (
                "basic_auth_users:\n  prometheus: plaintext\n",
                "basic_auth_users.prometheus",
            ),
            ("basic_auth_users: [a, b]\n", "basic_auth_users"),
            ("- just\n- a list\n", "sequence"),
        ] {
            let err = parse_err(text);
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    /// config/web-config.yml, the operators' example, parses.
    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/web-config.yml");
        let text = std::fs::read_to_string(path).expect("config/web-config.yml");
        let config = parse_ok(&text);
        let tls = config.tls.expect("tls_server_config");
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert!(config.users.contains_key("prometheus"));
    }

    #[test]
    fn a_bad_hash_is_not_echoed() {
        let err = parse_err("basic_auth_users:\n  prometheus: hunter2\n");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

//! TLS and basic auth on the metrics listener, from the web config file (`config::web`, the
//! format Prometheus exporters share), reloaded on change or SIGHUP.
//!
//! - TLS: rustls with the ring provider. Each new connection takes the acceptor current at its
//!   accept, so a reload (a renewed certificate, a new CA) applies to new connections while the
//!   ones in flight finish on the old one.
//! - Basic auth: every page on the listener; 401 with `WWW-Authenticate` otherwise. A bcrypt
//!   check costs tens of milliseconds of CPU on purpose, so checks run on the blocking pool one
//!   at a time (a semaphore of 1): a flood of bad passwords queues behind that one slot and can
//!   never occupy the runtime's threads or more than one core. A password that verified once is
//!   remembered as an HMAC of (user, password) under a key drawn at start-up (never the password
//!   itself), so Prometheus's scrapes skip bcrypt and the queue.
//! - Reload: the web config and the files it names are polled for a change of size, mtime or
//!   inode every [`POLL_INTERVAL`], and re-read at once on SIGHUP. A new file that does not load is
//!   logged and the running config kept; it is tried again at its next change or SIGHUP.
//!
//! Nothing here logs a password, an Authorization header or a hash.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ring::hmac;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::web::{self, ClientAuth, PasswordHash, TlsSettings, TlsVersion, WebConfig};
use crate::config::{Config, WebConfigError};

/// How often the web config and its files are checked for a change: a few `stat` calls.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Verified (user, password) pairs remembered per loaded config. A deployment has a handful of
/// users; the bound only matters if many distinct good passwords were to arrive.
const MAX_CACHED: usize = 1024;

/// Checked for an unknown user, so that the answer takes as long as for a known one (a fast 401
/// would tell an attacker which user names exist). bcrypt of a random string, cost 10.
const DUMMY_HASH: &str = "$2b$10$jfHRrOwhhfJaR3aq4gUFOuxHxTxEP0CkHLb1diburHRlKSbO/oxJa";

/// Why the web config cannot be used: the file itself, or the TLS material it names.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Config(#[from] WebConfigError),
    /// A certificate or key file cannot be read or holds nothing usable.
    #[error("web config {config}: key `{key}`: {file}: {message}")]
    Pem {
        config: PathBuf,
        key: &'static str,
        file: PathBuf,
        message: String,
    },
    /// rustls refused the combination (e.g. the key does not match the certificate).
    #[error("web config {config}: tls_server_config: {message}")]
    Tls { config: PathBuf, message: String },
}

/// What the listener applies to a connection: one loaded web config.
pub struct Active {
    tls: Option<TlsAcceptor>,
    auth: Option<BasicAuth>,
}

impl Active {
    fn build(path: &Path, config: &WebConfig, shared: &Shared) -> Result<Self, WebError> {
        let tls = config
            .tls
            .as_ref()
            .map(|settings| acceptor(path, settings))
            .transpose()?;
        let auth = (!config.users.is_empty()).then(|| BasicAuth {
            users: config.users.clone(),
            verified: Mutex::new(HashSet::new()),
            shared: shared.clone(),
        });
        Ok(Self { tls, auth })
    }
}

/// What survives a reload: the one bcrypt slot and the cache key.
#[derive(Clone)]
struct Shared {
    bcrypt_slot: Arc<Semaphore>,
    cache_key: Arc<hmac::Key>,
}

/// A loaded web config and the path to reload it from; [`Web::start`] begins watching it.
pub struct Web {
    path: PathBuf,
    active: Arc<Active>,
    /// The files it was built from, as they were just before they were read.
    stamps: Vec<Stamp>,
    shared: Shared,
}

impl Web {
    /// The web config `config.listen.web_config_file` names, read and built (certificates
    /// included), or `None` without one. Call before binding: an error means exit 2.
    pub fn from_config(config: &Config) -> Result<Option<Web>, WebError> {
        config
            .listen
            .web_config_file
            .as_deref()
            .map(Web::load)
            .transpose()
    }

    pub fn load(path: &Path) -> Result<Web, WebError> {
        let rng = ring::rand::SystemRandom::new();
        let cache_key =
            hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| WebError::Tls {
                config: path.to_owned(),
                message: "no random numbers for the password cache key".into(),
            })?;
        let shared = Shared {
            bcrypt_slot: Arc::new(Semaphore::new(1)),
            cache_key: Arc::new(cache_key),
        };
        let (active, stamps) = load_active(path, &shared)?;
        Ok(Web {
            path: path.to_owned(),
            active: Arc::new(active),
            stamps,
            shared,
        })
    }

    /// Start watching for changes and SIGHUP (registered before this returns, so a SIGHUP sent
    /// once the daemon reports it is listening reloads instead of killing it). The handle gives
    /// each new connection the config current at its accept.
    pub fn start(self, shutdown: CancellationToken) -> (WebHandle, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = watch::channel(self.active.clone());
        let hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGHUP; the web config reloads on change only");
                None
            }
        };
        tracing::info!(path = %self.path.display(), tls = self.active.tls.is_some(),
            basic_auth = self.active.auth.is_some(), "web config loaded");
        let task = tokio::spawn(self.watch(sender, hangups, shutdown));
        (WebHandle(receiver), task)
    }

    async fn watch(
        mut self,
        sender: watch::Sender<Arc<Active>>,
        mut hangups: Option<tokio::signal::unix::Signal>,
        shutdown: CancellationToken,
    ) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hangup = async {
                match hangups.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            let why = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = hangup => "SIGHUP",
                _ = poll.tick() => {
                    let paths: Vec<PathBuf> = self.stamps.iter().map(|s| s.path.clone()).collect();
                    if stamps(&paths) == self.stamps {
                        continue;
                    }
                    "a file changed"
                }
            };
            match load_active(&self.path, &self.shared) {
                Ok((active, stamps)) => {
                    tracing::info!(path = %self.path.display(), reason = why,
                        tls = active.tls.is_some(), basic_auth = active.auth.is_some(),
                        "web config reloaded");
                    self.stamps = stamps;
                    let _ = sender.send(Arc::new(active));
                }
                Err(error) => {
                    tracing::error!(reason = why, %error,
                        "web config not reloaded; the previous one stays in force");
                    // Not retried every second: the next change (or SIGHUP) tries again.
                    let paths: Vec<PathBuf> = self.stamps.iter().map(|s| s.path.clone()).collect();
                    let mut seen = stamps(&paths);
                    // A file the broken config names (and the old did not) is watched too.
                    if let Ok(config) = web::load(&self.path) {
                        for extra in config.files(&self.path) {
                            if !paths.contains(&extra) {
                                seen.extend(stamps(&[extra]));
                            }
                        }
                    }
                    self.stamps = seen;
                }
            }
        }
    }
}

/// Without a web config, SIGHUP (`systemctl reload`) is logged and otherwise ignored: its default
/// action would end the daemon, and HAProxy would mark the node down until it restarted.
pub fn log_hangups(shutdown: CancellationToken) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = hangups.recv() => tracing::info!("SIGHUP received: no web config to reload"),
            }
        }
    });
}

/// Read the web config and the files it names; the stamps are taken first, so a change made
/// while reading is seen at the next poll.
fn load_active(path: &Path, shared: &Shared) -> Result<(Active, Vec<Stamp>), WebError> {
    let before = stamps(&[path.to_owned()]);
    let config = web::load(path)?;
    let mut all = before;
    all.extend(stamps(&config.files(path)[1..]));
    let active = Active::build(path, &config, shared)?;
    Ok((active, all))
}

/// A file as last seen: enough to notice a rewrite, a replacement by rename, or a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    seen: Option<(SystemTime, u64, u64)>,
}

fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    paths
        .iter()
        .map(|path| Stamp {
            path: path.clone(),
            seen: std::fs::metadata(path).ok().map(|m| {
                (
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    m.len(),
                    m.ino(),
                )
            }),
        })
        .collect()
}

/// The metrics listener's view of the current web config.
#[derive(Clone)]
pub struct WebHandle(watch::Receiver<Arc<Active>>);

impl WebHandle {
    /// The TLS acceptor for a connection accepted now; `None` means plain HTTP.
    pub(super) fn tls(&self) -> Option<TlsAcceptor> {
        self.0.borrow().tls.clone()
    }

    fn current(&self) -> Arc<Active> {
        self.0.borrow().clone()
    }
}

/// Middleware for every page on the metrics listener: without basic auth configured it lets
/// everything through; with it, only a user whose password matches its bcrypt hash.
pub(super) async fn require_auth(
    State(web): State<WebHandle>,
    request: Request,
    next: Next,
) -> Response {
    let active = web.current();
    let Some(auth) = &active.auth else {
        return next.run(request).await;
    };
    if auth
        .allows(request.headers().get(header::AUTHORIZATION))
        .await
    {
        next.run(request).await
    } else {
        unauthorized()
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"clustercheckd\", charset=\"UTF-8\""),
        )],
        "Unauthorized\n",
    )
        .into_response()
}

/// `basic_auth_users` of one loaded config, with the passwords that verified under it.
struct BasicAuth {
    users: BTreeMap<String, PasswordHash>,
    /// HMAC tags of (user, password) pairs that verified; never the passwords.
    verified: Mutex<HashSet<[u8; 32]>>,
    shared: Shared,
}

impl BasicAuth {
    async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let tag = self.tag(&user, &password);
        if self.lock().contains(&tag) {
            return true;
        }
        let hash = self.users.get(&user).map(|h| h.as_str().to_owned());
        // Queue for the one slot; the permit moves into the blocking task, so a client that
        // gives up does not free the slot before its bcrypt run has finished.
        let Ok(permit) = self.shared.bcrypt_slot.clone().acquire_owned().await else {
            return false;
        };
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match hash {
                Some(hash) => bcrypt::verify(&password, &hash).unwrap_or(false),
                None => {
                    let _ = bcrypt::verify(&password, DUMMY_HASH);
                    false
                }
            }
        })
        .await
        .unwrap_or(false);
        if verified {
            let mut cache = self.lock();
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(tag);
        }
        verified
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// HMAC-SHA256 of the user's length, the user and the password (the length keeps
    /// ("ab", "c") and ("a", "bc") apart), under the process's random key.
    fn tag(&self, user: &str, password: &str) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.shared.cache_key);
        context.update(&(user.len() as u64).to_be_bytes());
        context.update(user.as_bytes());
        context.update(password.as_bytes());
        let mut tag = [0u8; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }
}

/// `Basic base64(user:password)` -> (user, password); anything else is no credentials.
fn credentials(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The rustls server for `tls_server_config`.
fn acceptor(config: &Path, settings: &TlsSettings) -> Result<TlsAcceptor, WebError> {
    let pem = |key: &'static str, file: &Path, message: String| WebError::Pem {
        config: config.to_owned(),
        key,
        file: file.to_owned(),
        message,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&settings.cert_file)
        .map_err(|m| pem("tls_server_config.cert_file", &settings.cert_file, m))?;
    let key = PrivateKeyDer::from_pem_file(&settings.key_file).map_err(|e| {
        pem(
            "tls_server_config.key_file",
            &settings.key_file,
            e.to_string(),
        )
    })?;
    let verifier: Arc<dyn ClientCertVerifier> =
        match (settings.client_auth, &settings.client_ca_file) {
            (ClientAuth::NoClientCert, _) => WebPkiClientVerifier::no_client_auth(),
            (ClientAuth::RequestClientCert, _) => Arc::new(AnyClientCert {
                mandatory: false,
                provider: provider.clone(),
            }),
            (ClientAuth::RequireAnyClientCert, _) => Arc::new(AnyClientCert {
                mandatory: true,
                provider: provider.clone(),
            }),
            (mode, ca_file) => {
                // config::web guarantees the file for the verifying modes.
                let ca_file = ca_file.as_deref().unwrap_or(Path::new(""));
                let ca_error = |m| pem("tls_server_config.client_ca_file", ca_file, m);
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca_file).map_err(ca_error)? {
                    roots
                        .add(cert)
                        .map_err(|e| ca_error(format!("not a usable CA certificate: {e}")))?;
                }
                let builder =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let builder = match mode {
                    ClientAuth::VerifyClientCertIfGiven => builder.allow_unauthenticated(),
                    _ => builder,
                };
                builder.build().map_err(|e| ca_error(e.to_string()))?
            }
        };
    let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.min_version {
        TlsVersion::TLS12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::TLS13 => &[&rustls::version::TLS13],
    };
    let tls_error = |e: rustls::Error| WebError::Tls {
        config: config.to_owned(),
        message: e.to_string(),
    };
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(tls_error)?;
    // The listener speaks HTTP/1.1 only; saying so lets a client that offers h2 settle at once.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Every certificate in a PEM file; none at all is an error (a key file given by mistake).
fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM CERTIFICATE block in it".into());
    }
    Ok(certs)
}

/// `RequestClientCert` / `RequireAnyClientCert`: a client certificate is asked for (or
/// required) but not checked against any CA, as Go's TLS server does for these modes. The
/// handshake still proves the client holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(users: &[(&str, &str)]) -> BasicAuth {
        let rng = ring::rand::SystemRandom::new();
        BasicAuth {
            users: users
                .iter()
                .map(|(u, p)| {
                    let hash = bcrypt::hash(p, 4).expect("hash");
                    let config = web::parse(
                        &format!("basic_auth_users:\n  {u}: '{hash}'\n"),
                        Path::new("/"),
                    )
                    .expect("parse");
                    (u.to_string(), config.users[*u].clone())
                })
                .collect(),
            verified: Mutex::new(HashSet::new()),
            shared: Shared {
                bcrypt_slot: Arc::new(Semaphore::new(1)),
                cache_key: Arc::new(hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("key")),
            },
        }
    }

    fn basic(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("header")
    }

    #[tokio::test]
    async fn right_password_passes_and_is_cached_wrong_ones_do_not() {
        let auth = auth(&[("prometheus", "s3cret")]);
        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some(&basic("prometheus", "wrong"))).await);
        assert!(!auth.allows(Some(&basic("nobody", "s3cret"))).await);
        assert!(
            !auth
                .allows(Some(&HeaderValue::from_static("Bearer x")))
                .await
        );
        assert!(auth.lock().is_empty(), "failures are not cached");
        assert!(auth.allows(Some(&basic("prometheus", "s3cret"))).await);
        assert_eq!(auth.lock().len(), 1);
        // The cached path needs no bcrypt slot: it passes even while the slot is held.
        let _held = auth
            .shared
            .bcrypt_slot
            .clone()
            .try_acquire_owned()
            .expect("slot");
        let cached = tokio::time::timeout(
            Duration::from_secs(1),
            auth.allows(Some(&basic("prometheus", "s3cret"))),
        )
        .await;
        assert_eq!(cached.ok(), Some(true));
    }

    /// bcrypt runs one at a time: while the slot is taken, an uncached check waits for it.
    #[tokio::test]
    async fn bcrypt_checks_queue_for_the_one_slot() {
        let auth = auth(&[("prometheus", "s3cret")]);
        let held = auth
            .shared
            .bcrypt_slot
            .clone()
            .try_acquire_owned()
            .expect("slot");
        let waiting = tokio::time::timeout(
            Duration::from_millis(300),
            auth.allows(Some(&basic("prometheus", "s3cret"))),
        )
        .await;
        assert!(waiting.is_err(), "checked without the slot: {waiting:?}");
        drop(held);
        assert!(auth.allows(Some(&basic("prometheus", "s3cret"))).await);
    }

    #[test]
    fn the_cache_holds_no_password() {
        let auth = auth(&[("prometheus", "s3cret")]);
        let tag = auth.tag("prometheus", "s3cret");
        assert!(!tag.windows(6).any(|w| w == b"s3cret"));
        assert_ne!(tag, auth.tag("prometheu", "ss3cret"));
    }

    /// The unknown-user path costs a real bcrypt run only if the dummy is a valid hash.
    #[test]
    fn the_dummy_hash_is_a_real_one() {
        assert_eq!(bcrypt::verify("anything", DUMMY_HASH).ok(), Some(false));
    }

    #[test]
    fn credentials_are_parsed_strictly() {
        assert_eq!(
            credentials(&basic("u", "p:w")),
            Some(("u".into(), "p:w".into()))
        );
        assert_eq!(credentials(&HeaderValue::from_static("Basic !!!")), None);
        assert_eq!(credentials(&HeaderValue::from_static("Basic")), None);
    }
}

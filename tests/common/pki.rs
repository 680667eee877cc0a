//! A throw-away PKI for TLS tests: a CA, a server certificate for IP 127.0.0.1 and a client
//! certificate, made at run time with openssl in a temporary directory (tests/web.rs, the peers'
//! https test in tests/peers.rs, recover over https in tests/recover.rs); and the two ends of
//! daemons reading each other's pages behind a web config: [`Pki::web_config`] for the pages,
//! [`Pki::peers_section`] for their readers.

use std::path::PathBuf;
use std::process::Command;

/// A CA and the certificates it signed, in a temporary directory.
pub struct Pki {
    dir: tempfile::TempDir,
    pub ca_crt: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_crt = dir.path().join("ca.crt");
        let pki = Pki { dir, ca_crt };
        pki.ca("ca");
        pki.signed(
            "server",
            "ca",
            "serverAuth",
            "subjectAltName=IP:127.0.0.1\n",
        );
        pki.signed("client", "ca", "clientAuth", "");
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn openssl(&self, args: &[&str]) {
        super::stdout_of(
            Command::new("openssl")
                .args(args)
                .current_dir(self.dir.path()),
            &format!("openssl {}", args.join(" ")),
        );
    }

    /// A self-signed CA `NAME.crt` / `NAME.key`.
    pub fn ca(&self, name: &str) {
        let (key, crt, subject) = (
            format!("{name}.key"),
            format!("{name}.crt"),
            format!("/CN=clustercheckd test {name}"),
        );
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    /// `NAME.crt` / `NAME.key` signed by CA `ca`, for `usage` (serverAuth or clientAuth).
    pub fn signed(&self, name: &str, ca: &str, usage: &str, extra: &str) {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        let ext = format!("{name}.ext");
        std::fs::write(
            self.path(&ext),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage={usage}\n{extra}"
            ),
        )
        .expect("write ext file");
        let subject = format!("/CN={name}");
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subject,
        ]);
        let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }

    /// A web config file for a daemon's metrics listener: TLS with `server.crt` (signed by this
    /// CA, for 127.0.0.1) and basic auth for `user` with `password` (bcrypt, cost 4: fast).
    pub fn web_config(&self, user: &str, password: &str) -> PathBuf {
        let path = self.path(&format!("web-{user}-{}.yml", self.files()));
        std::fs::write(
            &path,
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  \
                 {user}: '{}'\n",
                self.path("server.crt").display(),
                self.path("server.key").display(),
                bcrypt::hash(password, 4).expect("bcrypt")
            ),
        )
        .expect("write web config");
        path
    }

    /// The `[peers]` section that reads `urls` (behind [`Pki::web_config`]) as `user` with
    /// `password`: this CA as `ca_file`, and a password file written here.
    pub fn peers_section(&self, urls: &[String], user: &str, password: &str) -> String {
        let file = self.path(&format!("password-{}", self.files()));
        std::fs::write(&file, format!("{password}\n")).expect("write password file");
        let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
        format!(
            "[peers]\nurls = [{}]\nca_file = \"{}\"\nusername = \"{user}\"\n\
             password_file = \"{}\"\n",
            urls.join(", "),
            self.ca_crt.display(),
            file.display()
        )
    }

    /// How many files the directory holds: a fresh name for the next one.
    fn files(&self) -> usize {
        std::fs::read_dir(self.dir.path()).map_or(0, Iterator::count)
    }
}

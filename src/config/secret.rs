//! [`Secret`]: a password that cannot leak through `{:?}`, `{}`, serialisation or an error
//! message, because none of them ever shows its value; and [`exposed_to_others`], the check that
//! a file holding one is not readable by every local user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Deserialize;

/// A password: deserialised like a string, but never printed by `{:?}` or `{}` and never
/// serialised, so it cannot leak into logs, /status or metrics. Read it with [`Secret::expose`],
/// only where it is handed to a client library.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

/// A string; anything else is refused without quoting it. serde's own message would
/// (`invalid type: found signed int `73519046288`, expected a string`), and an unquoted
/// numeric password is an easy mistake to make.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        /// The message for a value of the wrong type, which names the type only.
        fn refuse<E: serde::de::Error>(what: &str) -> E {
            E::custom(format!(
                "a password must be a quoted string, not {what} (value not shown; in an environment \
                 variable, put it in double quotes)"
            ))
        }

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a quoted string")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }

            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(refuse("a boolean"))
            }

            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(refuse("a number"))
            }

            fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Secret, E> {
                Err(refuse("a number"))
            }

            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(refuse("a number"))
            }

            fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Secret, E> {
                Err(refuse("a number"))
            }

            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(refuse("a number"))
            }

            fn visit_char<E: serde::de::Error>(self, v: char) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                Err(refuse("bytes"))
            }
        }

        deserializer.deserialize_string(Visitor)
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The warning to log when the file at `path`, which holds a password (named by `key`, the
/// config key that points at it), can be read by users other than its owner and group. Group
/// read is allowed on purpose: `0640 root:clustercheckd` is a sound way to hand the daemon its
/// file. `None` when the file is private (or cannot be examined: reading it already succeeded,
/// so a failure here is a race not worth a warning).
pub fn exposed_to_others(path: &Path, key: &str) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "credentials file {} ({key}) is readable by every user on this host (mode {:04o}); \
             make it private: chmod 0600 (or 0640 with the daemon's group)",
            path.display(),
            mode & 0o7777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `password = 73519046288` (unquoted) was refused with a message quoting it.
    #[test]
    fn a_password_of_another_type_is_refused_without_showing_it() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            password: Secret,
        }
        fn parse(text: &str) -> Result<T, String> {
            use figment::providers::Format;
            figment::Figment::from(figment::providers::Toml::string(text))
                .extract::<T>()
                .map_err(|e| e.to_string())
        }
        for text in [
            "password = 73519046288",
            "password = 7351904.6288",
            "password = true",
            "password = [\"73519046288\"]",
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                !err.contains("73519046288") && !err.contains("7351904"),
                "{err}"
            );
        }
        let err = parse("password = 73519046288").unwrap_err();
        assert!(
            err.contains("must be a quoted string, not a number"),
            "{err}"
        );
        assert_eq!(
            parse("password = \"s3 cr\"").unwrap().password.expose(),
            "s3 cr"
        );
    }

    #[test]
    fn a_file_readable_by_others_is_named_a_private_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(&path, "password = x\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = exposed_to_others(&path, "rabbitmq.credentials_file").expect("a warning");
        assert!(warning.contains(&path.display().to_string()), "{warning}");
        assert!(warning.contains("rabbitmq.credentials_file"), "{warning}");
        assert!(warning.contains("0644"), "{warning}");
        for private in [0o600, 0o640, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(private)).unwrap();
            assert_eq!(exposed_to_others(&path, "k"), None, "{private:o}");
        }
    }

    #[test]
    fn never_shown() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }
}

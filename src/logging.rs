//! Logging set-up: plain text for people, JSON lines for log shippers; always to stderr so the
//! service manager (systemd's journal, Docker) collects it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init(config: &LogConfig) {
    // The filter was validated with the rest of the config.
    let filter = EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = quiet_amqp_client(filter, &config.level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// lapin logs at ERROR when the broker closes a socket it has just said goodbye on, which every
/// finished probe does; the probe reports its own outcome with context (log, metrics, /rabbitmq),
/// so lapin's own lines would be a false alarm on every poll. An operator who names `lapin` in
/// `log.level` gets them as asked.
fn quiet_amqp_client(filter: EnvFilter, level: &str) -> EnvFilter {
    if level.contains("lapin") {
        return filter;
    }
    match "lapin=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(filter: &EnvFilter, target_level: tracing::Level) -> bool {
        filter
            .max_level_hint()
            .is_some_and(|max| max >= target_level)
    }

    #[test]
    fn lapin_is_off_unless_the_operator_names_it() {
        let quiet = quiet_amqp_client(EnvFilter::new("debug"), "debug");
        assert!(quiet.to_string().contains("lapin=off"), "{quiet}");
        assert!(allows(&quiet, tracing::Level::DEBUG));
        let asked = quiet_amqp_client(EnvFilter::new("info,lapin=debug"), "info,lapin=debug");
        assert!(!asked.to_string().contains("lapin=off"), "{asked}");
    }
}

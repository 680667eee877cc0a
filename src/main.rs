//! The `clustercheckd` binary: flags, configuration, listeners, signals. Everything else is in the
//! library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use clustercheckd::config::{Config, Overrides};
use clustercheckd::Listeners;

/// Exit code for a configuration that cannot be used: nothing was started or bound.
const EXIT_CONFIG: u8 = 2;

/// Health-check and metrics daemon for an OpenStack HA control plane (Galera, RabbitMQ,
/// Pacemaker, VIP). Settings come from the TOML file, then CLUSTERCHECKD_* environment
/// variables, then these flags; see config/clustercheckd.toml.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Flags {
    /// The configuration file (default /etc/clustercheckd/clustercheckd.toml, optional there).
    #[arg(long, short = 'c', value_name = "PATH")]
    config: Option<PathBuf>,
    /// Validate the configuration (and the credentials file it names), print the result, exit.
    #[arg(long)]
    check_config: bool,
    /// Address of the health-check listener (listen.check), e.g. 0.0.0.0:9200.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Address of a separate /metrics and /status listener (listen.metrics).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// A web config file (the YAML format Prometheus exporters share: tls_server_config,
    /// basic_auth_users) for the metrics listener, which it requires (listen.web_config_file).
    /// Re-read on change or SIGHUP.
    #[arg(long = "web.config.file", value_name = "PATH")]
    web_config_file: Option<String>,
    /// This node's Pacemaker node name (node_name; default: unset, each cluster is asked).
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Log format: plain or json (log.format).
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Log filter, e.g. info or debug (log.level).
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Once every listener is bound and the first polls are done (each bounded by its collector's
    /// timeout), write the addresses they bound to PATH, one `NAME=ADDR` line each
    /// (`check=127.0.0.1:40123`, then `metrics=...` if configured). With port 0 in `--listen`
    /// this is how a supervisor or a test learns the port. Removed at start-up, written whole
    /// (through a rename) only when checks are accepted, so its presence means "serving".
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// Without a subcommand: run the daemon.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Galera's wsrep_notify_cmd: hand the event to the daemon's galera.notify_socket (`notify
    /// --socket PATH`, then Galera's own --status, --uuid, --primary, --members, --index).
    /// Reads no config file, never waits, always exits 0. See `clustercheckd notify --help`.
    #[command(disable_help_flag = true)]
    Notify {
        /// Everything after `notify`, read leniently: unknown options are ignored, so no
        /// server version can make it fail.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
    /// Take this node out of HAProxy before a planned stop of mysqld: create
    /// galera.maintenance_file, so the check answers 503 from the daemon's next poll. With
    /// --wait, return only once HAProxy has had time to notice ([haproxy] inter x (fall + 1),
    /// printed). --undo removes the file. Exit 1 when the file cannot be
    /// created or removed, 2 on a bad configuration.
    Drain {
        /// The configuration file (default /etc/clustercheckd/clustercheckd.toml).
        #[arg(long, short = 'c', value_name = "PATH")]
        config: Option<PathBuf>,
        /// Return only once HAProxy has had time to mark this node down.
        #[arg(long, conflicts_with = "undo")]
        wait: bool,
        /// Remove the maintenance file: the node returns through its normal health check.
        #[arg(long)]
        undo: bool,
    },
    /// After a full Galera outage: which node to bootstrap, and why. Reads every node's state
    /// from the daemons' /status pages (mysqld down, grastate.dat, gvwstate.dat), refuses when
    /// the evidence is incomplete or inconsistent (exit 1), asks for recovered positions after a
    /// crash (exit 3), else prints the commands (exit 0). Edits nothing. Run by an operator.
    Recover(RecoverFlags),
}

#[derive(Debug, clap::Args)]
struct RecoverFlags {
    /// Another node's clustercheckd (`http://HOST:PORT`, or its /status URL; https:// with the
    /// CA of -c's [peers] ca_file); once per node, besides -c's [peers] urls.
    #[arg(long = "peer", value_name = "URL")]
    peers: Vec<String>,
    /// This node's clustercheckd (default with -c: its metrics listener, else its check
    /// listener).
    #[arg(long = "self", value_name = "URL")]
    self_url: Option<String>,
    /// This node's clustercheckd config: its listener, and its [peers] (the other nodes, read
    /// with [peers]' CA and credentials, as the daemon reads them).
    #[arg(long, short = 'c', value_name = "PATH")]
    config: Option<PathBuf>,
    /// Per page, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
    /// A position recovered on another node (`--wsrep-recover` there printed it):
    /// `NODE=UUID:SEQNO`, NODE as the table names it; once per node.
    #[arg(long = "position", value_name = "NODE=UUID:SEQNO")]
    positions: Vec<String>,
    /// Run `mysqld --wsrep-recover` on THIS node (its daemon must report mysqld down) and use
    /// the position it recovers from InnoDB. Needs root or the mysql user.
    #[arg(long)]
    wsrep_recover: bool,
    /// The server binary for --wsrep-recover.
    #[arg(long, value_name = "PATH", default_value = "mysqld")]
    mysqld: PathBuf,
    /// The server's option file for --wsrep-recover (`--defaults-file`), when mysqld is not
    /// started with the default ones.
    #[arg(long, value_name = "PATH")]
    defaults_file: Option<PathBuf>,
    /// The OS user mysqld runs as, for --wsrep-recover.
    #[arg(long, value_name = "USER", default_value = "mysql")]
    user: String,
    /// How long --wsrep-recover may take (InnoDB crash recovery), in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    recover_timeout: f64,
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    if let Some(Command::Notify { args }) = &flags.command {
        clustercheckd::notify::main(args);
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Drain { config, wait, undo }) = &flags.command {
        return drain(config.as_deref().or(flags.config.as_deref()), *wait, *undo);
    }
    if let Some(Command::Recover(recover)) = &flags.command {
        return ExitCode::from(recover_command(recover));
    }
    let overrides = Overrides {
        node_name: flags.node_name,
        check_listen: flags.listen,
        metrics_listen: flags.metrics_listen,
        web_config_file: flags.web_config_file,
        log_format: flags.log_format,
        log_level: flags.log_level,
    };
    let config = match Config::load(flags.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("clustercheckd: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // The web config and the certificates it names are read before anything is bound, like the
    // rest of the configuration.
    let web = match clustercheckd::http::web::Web::from_config(&config) {
        Ok(web) => web,
        Err(error) => {
            eprintln!("clustercheckd: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if flags.check_config {
        for warning in &config.warnings {
            eprintln!("clustercheckd: warning: {warning}");
        }
        println!("clustercheckd: configuration is valid");
        return ExitCode::SUCCESS;
    }
    clustercheckd::logging::init(&config.log);
    // Found while loading, before there was a log to write them to.
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    match start(config, web, flags.ready_file.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("clustercheckd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `clustercheckd drain`: the same configuration as the daemon (file, then environment), no
/// listener, no log: progress on stdout, one error line on stderr.
fn drain(path: Option<&Path>, wait: bool, undo: bool) -> ExitCode {
    let config = match Config::load(path, &Overrides::default()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("clustercheckd drain: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let mut out = std::io::stdout();
    let done = match undo {
        true => clustercheckd::drain::undo(&config, &mut out),
        false => clustercheckd::drain::drain(&config, wait, &mut out),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clustercheckd drain: {error}");
            match error.is_config() {
                true => ExitCode::from(EXIT_CONFIG),
                false => ExitCode::FAILURE,
            }
        }
    }
}

fn recover_command(flags: &RecoverFlags) -> u8 {
    let seconds = |value: f64, name: &str| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("--{name} {value}: not a positive number of seconds"))
    };
    let (timeout, recover_timeout) = match (
        seconds(flags.timeout, "timeout"),
        seconds(flags.recover_timeout, "recover-timeout"),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("clustercheckd recover: {e}");
            return EXIT_CONFIG;
        }
    };
    let options = clustercheckd::recover::Options {
        peers: flags.peers.clone(),
        self_url: flags.self_url.clone(),
        config: flags.config.clone(),
        timeout,
        positions: flags.positions.clone(),
        wsrep_recover: flags
            .wsrep_recover
            .then(|| clustercheckd::recover::WsrepRecoverFlags {
                mysqld: flags.mysqld.clone(),
                defaults_file: flags.defaults_file.clone(),
                user: flags.user.clone(),
                timeout: recover_timeout,
            }),
    };
    clustercheckd::recover::main(&options)
}

fn start(
    config: Config,
    web: Option<clustercheckd::http::web::Web>,
    ready_file: Option<&Path>,
) -> anyhow::Result<()> {
    // First, while this is the only thread: it takes LISTEN_* out of the environment.
    let inherited = clustercheckd::http::activation::take()?;
    // A file left by an earlier run must not announce this one before it has bound anything.
    if let Some(path) = ready_file {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot remove {}", path.display()))
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let activated =
            inherited.check.is_some() || inherited.metrics.is_some() || inherited.agent.is_some();
        let check = match inherited.check {
            Some(listener) => {
                tokio::net::TcpListener::from_std(listener).context("the inherited check socket")?
            }
            None => clustercheckd::http::bind(config.listen.check).with_context(|| {
                format!("cannot listen on {} (listen.check)", config.listen.check)
            })?,
        };
        let metrics = match (inherited.metrics, config.listen.metrics) {
            (Some(listener), _) => Some(
                tokio::net::TcpListener::from_std(listener)
                    .context("the inherited metrics socket")?,
            ),
            (None, Some(addr)) => Some(
                clustercheckd::http::bind(addr)
                    .with_context(|| format!("cannot listen on {addr} (listen.metrics)"))?,
            ),
            (None, None) => None,
        };
        let agent = match (inherited.agent, config.listen.agent) {
            (Some(listener), _) => Some(
                tokio::net::TcpListener::from_std(listener)
                    .context("the inherited agent socket")?,
            ),
            (None, Some(addr)) => Some(
                clustercheckd::http::bind(addr)
                    .with_context(|| format!("cannot listen on {addr} (listen.agent)"))?,
            ),
            (None, None) => None,
        };
        // The bound addresses, not the configured ones: they differ when the port is 0.
        let bound_check = check.local_addr().context("the check listener's address")?;
        let bound_metrics = match &metrics {
            Some(listener) => Some(
                listener
                    .local_addr()
                    .context("the metrics listener's address")?,
            ),
            None => None,
        };
        let bound_agent = match &agent {
            Some(listener) => Some(
                listener
                    .local_addr()
                    .context("the agent listener's address")?,
            ),
            None => None,
        };
        tracing::info!(node_name = ?config.node_name, check = %bound_check,
            metrics = ?bound_metrics, agent = ?bound_agent, socket_activation = activated,
            version = env!("CARGO_PKG_VERSION"),
            "clustercheckd listening");
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        // Written once the first polls are done and checks are being accepted.
        let ready = || match ready_file {
            Some(path) => write_ready_file(path, bound_check, bound_metrics, bound_agent),
            None => Ok(()),
        };
        clustercheckd::run_with_ready(
            config,
            Listeners {
                check,
                metrics,
                agent,
                web,
            },
            shutdown,
            ready,
        )
        .await?;
        tracing::info!("clustercheckd stopped");
        Ok(())
    })
}

/// Write the bound addresses to `path` through a temporary file and a rename, so a reader never
/// sees half of them.
fn write_ready_file(
    path: &Path,
    check: SocketAddr,
    metrics: Option<SocketAddr>,
    agent: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let mut text = format!("check={check}\n");
    if let Some(metrics) = metrics {
        text.push_str(&format!("metrics={metrics}\n"));
    }
    if let Some(agent) = agent {
        text.push_str(&format!("agent={agent}\n"));
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write the ready file {}", path.display()))
}

/// SIGTERM (systemd, Docker) or SIGINT (a terminal) start a graceful shutdown.
async fn stop_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
        _ = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
    shutdown.cancel();
}

//! The AMQP round-trip probe: what an OpenStack service does, in miniature. Connect to the local
//! node's AMQP port, open a channel, declare a server-named exclusive auto-delete queue, consume
//! from it, publish one message through the default exchange and wait until it comes back.
//!
//! It must leave nothing behind, even when it times out. The queue is exclusive, so the broker
//! deletes it with the connection; the connection is closed politely when possible, and in every
//! case its socket is shut down by us at the end. That last step matters: lapin runs each
//! connection on its own I/O thread and will not write anything (not even `connection.close`)
//! while the broker has blocked the connection, so a probe caught by an alarm would otherwise
//! keep a thread and a broker connection until the alarm clears. We open the TCP socket
//! ourselves (lapin's `connector` hook) and keep a duplicate of its descriptor for that.
//!
//! A memory or disk alarm anywhere blocks publishers on every node: the broker answers our
//! publish with `connection.blocked`. That is its own outcome, not a failure of this node.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_rs::traits::Reactor;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPUri, AMQPUserInfo};
use lapin::{AsyncTcpStream, BasicProperties, Connection, ConnectionProperties, Event};
use serde::Serialize;

use crate::collectors::error_chain;
use crate::config::{RabbitmqConfig, RabbitmqCredentials};

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The message came back.
    Success {
        #[serde(serialize_with = "crate::collectors::seconds")]
        round_trip: Duration,
    },
    /// The broker blocked our publish: a resource alarm is in effect somewhere in the cluster.
    Blocked {
        reason: String,
    },
    Failed {
        error: String,
    },
}

impl ProbeOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Success { .. } => "success",
            Self::Blocked { .. } => "blocked",
            Self::Failed { .. } => "failed",
        }
    }

    pub const LABELS: [&'static str; 3] = ["success", "blocked", "failed"];
}

/// Where and as whom the probe connects.
#[derive(Clone)]
pub struct Probe {
    uri: AMQPUri,
    addr_text: String,
    timeout: Duration,
}

/// The message we send to ourselves.
const PAYLOAD: &[u8] = b"clustercheckd probe";

/// A very short heartbeat. A probe lasts milliseconds, so it never misses one; but a connection
/// the broker has blocked is not read by the broker any more, so it notices our closed socket
/// only when its own heartbeat write fails. Measured here: blocked probe connections were gone
/// from the broker a few seconds after the probe ended, instead of lingering for a minute.
const HEARTBEAT_SECONDS: u16 = 2;

impl Probe {
    pub fn new(config: &RabbitmqConfig, credentials: &RabbitmqCredentials) -> Self {
        let uri = AMQPUri {
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: credentials.user.clone(),
                    password: credentials.password.expose().to_owned(),
                },
                host: config.amqp_host.clone(),
                port: config.amqp_port,
            },
            vhost: config.vhost.clone(),
            query: AMQPQueryString {
                heartbeat: Some(HEARTBEAT_SECONDS),
                connection_timeout: Some(config.probe_timeout.as_millis() as u64),
                ..AMQPQueryString::default()
            },
            ..AMQPUri::default()
        };
        Self {
            addr_text: format!("{}:{}", config.amqp_host, config.amqp_port),
            uri,
            timeout: config.probe_timeout,
        }
    }

    /// One probe, never longer than the timeout plus a short cleanup.
    pub async fn run(&self) -> ProbeOutcome {
        let socket: Arc<Mutex<Option<std::net::TcpStream>>> = Arc::default();
        let connection: Arc<Mutex<Option<Connection>>> = Arc::default();
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            self.timeout,
            self.round_trip(socket.clone(), connection.clone()),
        )
        .await;
        let connection = connection.lock().ok().and_then(|mut c| c.take());
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => match &connection {
                Some(c) if c.status().blocked() => ProbeOutcome::Blocked {
                    reason: "connection blocked by the broker".to_owned(),
                },
                _ => ProbeOutcome::Failed {
                    error: format!(
                        "no round trip within {:.1} s",
                        started.elapsed().as_secs_f64()
                    ),
                },
            },
        };
        // Clean up: a polite close when the broker still reads from us, then the socket goes
        // in every case. Bounded, so a hung broker cannot hold the poller.
        let mut closed_politely = false;
        if let Some(connection) = connection {
            if !connection.status().blocked() && connection.status().connected() {
                closed_politely = matches!(
                    tokio::time::timeout(
                        Duration::from_secs(1).min(self.timeout),
                        connection.close(200, "clustercheckd probe done".into()),
                    )
                    .await,
                    Ok(Ok(()))
                );
            }
            drop(connection);
        }
        // After close-ok the broker closes the socket itself; shutting it under lapin's I/O
        // thread then would only race it.
        if let Some(socket) = socket.lock().ok().and_then(|mut s| s.take()) {
            if !closed_politely {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
        outcome
    }

    async fn round_trip(
        &self,
        socket_slot: Arc<Mutex<Option<std::net::TcpStream>>>,
        connection_slot: Arc<Mutex<Option<Connection>>>,
    ) -> ProbeOutcome {
        let runtime = async_rs::Runtime::tokio_current();
        let addr_text = self.addr_text.clone();
        let connect = async move |uri: AMQPUri, runtime: async_rs::TokioRuntime| {
            let addr: SocketAddr =
                match tokio::net::lookup_host((uri.authority.host.as_str(), uri.authority.port))
                    .await
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                {
                    Some(addr) => addr,
                    None => {
                        return Err(lapin::Error::from(std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            format!("cannot resolve {addr_text}"),
                        )))
                    }
                };
            let stream = runtime.tcp_connect_addr(addr).await?;
            // Keep our own handle on the socket: see the module comment.
            let duplicate = stream.get_ref().as_fd().try_clone_to_owned()?;
            if let Ok(mut slot) = socket_slot.lock() {
                *slot = Some(std::net::TcpStream::from(duplicate));
            }
            Ok(AsyncTcpStream::Plain(stream))
        };
        let properties =
            ConnectionProperties::default().with_connection_name("clustercheckd probe".into());
        let connection =
            match Connection::connector(self.uri.clone(), runtime, connect, properties).await {
                Ok(connection) => connection,
                Err(e) => return failed("connect", &e),
            };
        let mut events = connection.events_listener();
        let channel = connection.create_channel().await;
        if let Ok(mut slot) = connection_slot.lock() {
            *slot = Some(connection);
        }
        let channel = match channel {
            Ok(channel) => channel,
            Err(e) => return failed("open channel", &e),
        };
        let queue = match channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
        {
            Ok(queue) => queue,
            Err(e) => return failed("declare queue", &e),
        };
        let mut consumer = match channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
        {
            Ok(consumer) => consumer,
            Err(e) => return failed("consume", &e),
        };
        let sent = Instant::now();
        if let Err(e) = channel
            .basic_publish(
                "".into(),
                queue.name().clone(),
                BasicPublishOptions::default(),
                PAYLOAD,
                BasicProperties::default(),
            )
            .await
        {
            return failed("publish", &e);
        }
        // The message comes back, or the broker blocks us (an alarm), or something breaks.
        loop {
            tokio::select! {
                delivery = consumer.next() => return match delivery {
                    Some(Ok(d)) if d.data == PAYLOAD => ProbeOutcome::Success { round_trip: sent.elapsed() },
                    Some(Ok(_)) => ProbeOutcome::Failed { error: "a different message came back".to_owned() },
                    Some(Err(e)) => failed("consume", &e),
                    None => ProbeOutcome::Failed { error: "the consumer was cancelled".to_owned() },
                },
                event = events.next() => match event {
                    Some(Event::ConnectionBlocked(reason)) => return ProbeOutcome::Blocked { reason },
                    Some(Event::Error(e)) => return failed("connection", &e),
                    Some(_) => {}
                    // No more events: keep waiting for the delivery alone.
                    None => return match consumer.next().await {
                        Some(Ok(_)) => ProbeOutcome::Success { round_trip: sent.elapsed() },
                        _ => ProbeOutcome::Failed { error: "connection closed".to_owned() },
                    },
                },
            }
        }
    }
}

fn failed(step: &str, error: &lapin::Error) -> ProbeOutcome {
    ProbeOutcome::Failed {
        error: format!("{step}: {}", error_chain(error)),
    }
}

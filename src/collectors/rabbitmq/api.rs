//! The RabbitMQ management HTTP API: the few endpoints we read, their typed answers, and the
//! errors an operator needs to tell apart (wrong credentials, node down, node hung, garbage).
//!
//! Every call has a hard deadline covering connect, headers and body, and every body is read
//! under a byte cap: a hostile or broken server can cost us at most `timeout` and a few MB.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::collectors::error_chain;
use crate::config::{RabbitmqConfig, RabbitmqCredentials};

/// Bodies other than the queue listing are small (a node entry is ~10 kB); this only stops a
/// runaway server.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("authentication failed ({0}): check rabbitmq.user/password")]
    AuthenticationFailed(String),
    #[error("management API unreachable: {0}")]
    Unreachable(String),
    #[error("management API gave no complete answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("management API answered HTTP {status} to {call}")]
    Status { call: &'static str, status: u16 },
    #[error("management API answer to {call} is not what we expect: {message}")]
    Invalid { call: &'static str, message: String },
    #[error("management API answer to {call} is larger than {limit} bytes")]
    TooLarge { call: &'static str, limit: u64 },
    #[error("more than {0} queues (rabbitmq.max_queues): queue scan abandoned")]
    TooManyQueues(u64),
}

/// The API calls we make, for the per-call duration and error metrics.
pub const CALLS: [&str; 5] = ["overview", "nodes", "policies", "alarms", "queues"];

/// /api/overview: who the cluster is and what runs it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Overview {
    #[serde(default)]
    pub cluster_name: String,
    #[serde(default)]
    pub rabbitmq_version: String,
    #[serde(default)]
    pub erlang_version: String,
    /// The node that answered: the local node.
    pub node: String,
}

impl Overview {
    /// The major version, 0 when unknown.
    pub fn major_version(&self) -> u32 {
        self.rabbitmq_version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}

/// One entry of /api/nodes. Stats fields are absent for a node that is not running.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Node {
    pub name: String,
    /// `disc` or `ram`. 4.x has no ram nodes and reports `disc`.
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub running: bool,
    /// Nodes this node cannot see although they run: a network partition.
    #[serde(default)]
    pub partitions: Vec<String>,
    #[serde(default)]
    pub mem_alarm: bool,
    #[serde(default)]
    pub disk_free_alarm: bool,
    pub fd_used: Option<f64>,
    pub fd_total: Option<f64>,
    pub sockets_used: Option<f64>,
    pub sockets_total: Option<f64>,
    pub proc_used: Option<f64>,
    pub proc_total: Option<f64>,
    pub mem_used: Option<f64>,
    pub mem_limit: Option<f64>,
    /// Milliseconds.
    pub uptime: Option<f64>,
}

/// The node list is asked for these columns only: a full node entry carries dozens of rate
/// fields we never read.
pub const NODE_COLUMNS: &str = "name,type,running,partitions,mem_alarm,disk_free_alarm,fd_used,\
fd_total,sockets_used,sockets_total,proc_used,proc_total,mem_used,mem_limit,uptime";

/// One entry of /api/policies.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Policy {
    pub name: String,
    pub vhost: String,
    pub pattern: String,
    #[serde(rename = "apply-to", default)]
    pub apply_to: String,
    #[serde(default)]
    pub definition: serde_json::Value,
    #[serde(default)]
    pub priority: i64,
}

/// An alarm in effect somewhere in the cluster, from /api/health/checks/alarms (or, on servers
/// without it, the alarm flags of /api/nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alarm {
    pub node: String,
    /// One of [`ALARM_RESOURCES`] whatever the server called it; an unknown name is kept as
    /// the server wrote it (lower case, spaces as `_`).
    pub resource: String,
}

/// The alarm kinds, as our `resource` label names them.
pub const ALARM_RESOURCES: [&str; 3] = ["memory", "disk", "file_descriptors"];

/// The server's name for an alarmed resource, as our label. RabbitMQ 3.10's health check writes
/// "memory", "disk space" and "file descriptors" (the alarm handler's own atoms are `memory`,
/// `disk` and `file_descriptor_limit`); /api/nodes has `mem_alarm` and `disk_free_alarm`.
pub fn alarm_resource(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    match name.as_str() {
        "memory" | "mem" | "mem_alarm" => "memory".to_owned(),
        "disk" | "disk_space" | "disk_free" | "disk_free_alarm" => "disk".to_owned(),
        "file_descriptors" | "file_descriptor" | "file_descriptor_limit" | "fd" => {
            "file_descriptors".to_owned()
        }
        _ => name,
    }
}

impl<'de> Deserialize<'de> for Alarm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            node: String,
            resource: String,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Alarm {
            node: raw.node,
            resource: alarm_resource(&raw.resource),
        })
    }
}

#[derive(Deserialize)]
struct AlarmsAnswer {
    #[serde(default)]
    alarms: Vec<Alarm>,
}

/// A client for one management API, with credentials. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: RabbitmqCredentials,
    timeout: Duration,
}

impl Client {
    pub fn new(
        config: &RabbitmqConfig,
        credentials: RabbitmqCredentials,
    ) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            // Local API: a proxy from the environment must not see our credentials.
            .no_proxy()
            .pool_max_idle_per_host(2)
            // The management listener (cowboy) closes a keep-alive connection after 5 s without
            // a request; reusing one at that moment fails the call ("connection closed before
            // message completed") and made a healthy node look down for a poll. Drop idle
            // connections well before the server does.
            .pool_idle_timeout(Duration::from_secs(3))
            .tls_backend_preconfigured(
                crate::collectors::http_tls(&[]).map_err(ApiError::Unreachable)?,
            )
            .build()
            .map_err(|e| ApiError::Unreachable(e.to_string()))?;
        Ok(Self {
            http,
            base: config.management_url.trim_end_matches('/').to_owned(),
            credentials,
            timeout: config.timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Send a GET and return the response once the status says the body is worth reading.
    /// `accept_503` is for the health checks, which answer 503 with a JSON body.
    pub async fn get(
        &self,
        call: &'static str,
        path_and_query: &str,
        accept_503: bool,
    ) -> Result<reqwest::Response, ApiError> {
        let url = format!("{}{path_and_query}", self.base);
        let response = self
            .http
            .get(&url)
            .basic_auth(
                &self.credentials.user,
                Some(self.credentials.password.expose()),
            )
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(response),
            503 if accept_503 => Ok(response),
            401 | 403 => Err(ApiError::AuthenticationFailed(format!(
                "HTTP {status} for user {}",
                self.credentials.user
            ))),
            _ => Err(ApiError::Status { call, status }),
        }
    }

    fn transport_error(&self, error: reqwest::Error) -> ApiError {
        if error.is_timeout() {
            ApiError::Timeout(self.timeout)
        } else {
            // reqwest's Display hides the cause ("error sending request"); the chain says
            // "connection refused", which is what the operator needs.
            ApiError::Unreachable(error_chain(&error))
        }
    }

    /// GET a small JSON document, under the byte cap.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        call: &'static str,
        path_and_query: &str,
        accept_503: bool,
    ) -> Result<T, ApiError> {
        let response = self.get(call, path_and_query, accept_503).await?;
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.body_error(call, e))?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ApiError::TooLarge {
                    call,
                    limit: MAX_BODY_BYTES as u64,
                });
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::Invalid {
            call,
            message: e.to_string(),
        })
    }

    pub fn body_error(&self, call: &'static str, error: reqwest::Error) -> ApiError {
        if error.is_timeout() {
            ApiError::Timeout(self.timeout)
        } else {
            ApiError::Invalid {
                call,
                message: format!("body cut short: {}", error_chain(&error)),
            }
        }
    }

    pub async fn overview(&self) -> Result<Overview, ApiError> {
        // The overview's object totals make the broker count every queue; we need none of them.
        self.get_json(
            "overview",
            "/api/overview?columns=cluster_name,rabbitmq_version,erlang_version,node",
            false,
        )
        .await
    }

    pub async fn nodes(&self) -> Result<Vec<Node>, ApiError> {
        self.get_json(
            "nodes",
            &format!("/api/nodes?columns={NODE_COLUMNS}"),
            false,
        )
        .await
    }

    pub async fn policies(&self) -> Result<Vec<Policy>, ApiError> {
        self.get_json("policies", "/api/policies", false).await
    }

    /// Alarms anywhere in the cluster, straight from the nodes' alarm handlers: /api/nodes shows
    /// mem_alarm only after the next statistics refresh (seconds later). `None` when the server
    /// has no health-check endpoints (before 3.8.10): the caller falls back to /api/nodes.
    pub async fn alarms(&self) -> Result<Option<Vec<Alarm>>, ApiError> {
        match self
            .get_json::<AlarmsAnswer>("alarms", "/api/health/checks/alarms", true)
            .await
        {
            Ok(answer) => Ok(Some(answer.alarms)),
            Err(ApiError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Duration and errors of each API call, for `clustercheckd_rabbitmq_api_*`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallStats {
    #[serde(serialize_with = "crate::collectors::seconds")]
    pub last_duration: Duration,
    pub errors_total: u64,
    pub calls_total: u64,
}

/// Run `call`, timing it into `stats`.
pub async fn timed<T>(
    stats: &mut CallStats,
    call: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let started = Instant::now();
    let result = call.await;
    stats.last_duration = started.elapsed();
    stats.calls_total += 1;
    if result.is_err() {
        stats.errors_total += 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /api/health/checks/alarms as RabbitMQ 3.10 answers it (503 while an alarm is in effect).
    #[test]
    fn health_check_resource_names_map_to_our_labels() {
        let body = r#"{"status":"failed","reason":"resource alarm(s) in effect in the cluster",
            "alarms":[{"node":"rabbit1@vm","resource":"memory"},
                      {"node":"rabbit2@vm","resource":"disk space"},
                      {"node":"rabbit3@vm","resource":"file descriptors"},
                      {"node":"rabbit3@vm","resource":"Something New"}]}"#;
        let answer: AlarmsAnswer = serde_json::from_str(body).unwrap();
        let resources: Vec<&str> = answer.alarms.iter().map(|a| a.resource.as_str()).collect();
        assert_eq!(
            resources,
            ["memory", "disk", "file_descriptors", "something_new"]
        );
        assert_eq!(answer.alarms[1].node, "rabbit2@vm");
        for kind in ALARM_RESOURCES {
            assert_eq!(
                alarm_resource(kind),
                kind,
                "our own labels are fixed points"
            );
        }
    }
}

//! The `[agent]` section: how the optional HAProxy agent-check listener (`listen.agent`) answers.
//! The decision itself is [`crate::health::agent`]; this file only holds and bounds the settings.

use serde::Deserialize;

use super::ConfigError;

/// The lowest weight the agent may ever send, in percent. A weight of 0% is what HAProxy shows as
/// DRAIN, and HAProxy rounds `iweight x percent / 100` down, so a small percentage of a small
/// server weight is 0 too: the floor keeps "healthy but busy" from ever meaning "drain".
pub const MIN_AGENT_WEIGHT: u8 = 10;

/// Which kind of HAProxy backend the agent answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    /// A writer backend (one active server, the others `backup`): the agent never says `drain`,
    /// which would keep old sessions on the old writer while new ones go to a backup.
    Writer,
    /// A read backend: the maintenance file is answered with `drain` (existing sessions finish,
    /// no new ones), where several servers at once are harmless.
    Reader,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// `writer` (the default) or `reader`; only `reader` ever sends `drain`.
    pub role: AgentRole,
    /// The healthy weight, in percent of the server's weight in haproxy.cfg (`min_weight`..100).
    pub weight: u8,
    /// The lowest weight the receive queue can push it to (at least 10).
    pub min_weight: u8,
    /// wsrep_local_recv_queue at or below which the weight is `weight`. Both or neither.
    pub recv_queue_low: Option<u64>,
    /// wsrep_local_recv_queue at or above which the weight is `min_weight`; in between the
    /// weight falls linearly. Must be above `recv_queue_low`.
    pub recv_queue_high: Option<u64>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            role: AgentRole::Writer,
            weight: 100,
            min_weight: MIN_AGENT_WEIGHT,
            recv_queue_low: None,
            recv_queue_high: None,
        }
    }
}

impl AgentConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.min_weight < MIN_AGENT_WEIGHT {
            return Err(ConfigError::invalid(
                "agent.min_weight",
                format!(
                    "must be at least {MIN_AGENT_WEIGHT} (a weight near 0% means drain to HAProxy)"
                ),
            ));
        }
        if self.weight > 100 || self.weight < self.min_weight {
            return Err(ConfigError::invalid(
                "agent.weight",
                "must be between agent.min_weight and 100",
            ));
        }
        match (self.recv_queue_low, self.recv_queue_high) {
            (None, None) => {}
            (Some(low), Some(high)) if low < high => {}
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "agent.recv_queue_high",
                    "must be greater than agent.recv_queue_low",
                ))
            }
            (Some(_), None) | (None, Some(_)) => return Err(ConfigError::invalid(
                "agent.recv_queue_low",
                "agent.recv_queue_low and agent.recv_queue_high go together: set both or neither",
            )),
        }
        Ok(())
    }
}

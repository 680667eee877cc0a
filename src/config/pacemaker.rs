//! The `[pacemaker]` section: how crm_mon and cibadmin are run, and which cluster conditions fail
//! the `/pacemaker` check.

use std::path::PathBuf;
use std::time::Duration;

use super::poll::PollFloors;
use super::ConfigError;

/// Each crm_mon and cibadmin run costs a few milliseconds of CPU in the tool and in the CIB
/// manager, so not more often than twice a second.
const FLOORS: PollFloors = PollFloors {
    interval: Duration::from_millis(500),
    timeout: Duration::from_millis(100),
};

poll_section! {
    /// `[pacemaker]`: off by default (a Galera-only node has no Pacemaker to ask); polled every
    /// 5 s, each tool run killed (with its process group) after `timeout`.
    pub struct PacemakerConfig {
        pub crm_mon_path: PathBuf,
        pub cibadmin_path: PathBuf,
        /// Asked for this node's Pacemaker name (`crm_node -n`) on every poll when `node_name`
        /// is unset.
        pub crm_node_path: PathBuf,
        /// Read this CIB file instead of the live cluster (sets `CIB_file` for both tools; a
        /// `CIB_file` in the daemon's own environment is passed through as well).
        pub cib_file: Option<PathBuf>,
        /// /pacemaker answers 503 when the partition has no quorum.
        pub require_quorum: bool,
        /// /pacemaker answers 503 unless this node (`node_name`) is online, not standby and not
        /// in maintenance.
        pub require_local_node_online: bool,
        /// /pacemaker answers 503 while a resource is marked failed on this node.
        pub fail_on_failed_resources: bool,
        /// With `fail_on_failed_resources`: a failed resource on ANY node fails /pacemaker (the
        /// old cluster-wide rule: one failed stop anywhere empties every controller at once).
        /// Off by default: failures elsewhere are metrics and alerts.
        pub fail_on_failed_resources_anywhere: bool,
        /// /pacemaker answers 503 while any failed action is recorded (they stay until
        /// `crm_resource --cleanup`, so this is off by default).
        pub fail_on_failed_actions: bool,
    }
}

impl Default for PacemakerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(4),
            max_staleness: None,
            crm_mon_path: PathBuf::from("/usr/sbin/crm_mon"),
            cibadmin_path: PathBuf::from("/usr/sbin/cibadmin"),
            crm_node_path: PathBuf::from("/usr/sbin/crm_node"),
            cib_file: None,
            require_quorum: true,
            require_local_node_online: true,
            fail_on_failed_resources: true,
            fail_on_failed_resources_anywhere: false,
            fail_on_failed_actions: false,
        }
    }
}

impl PacemakerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.poll().validate("pacemaker", FLOORS)?;
        if self.crm_mon_path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "pacemaker.crm_mon_path",
                "must not be empty",
            ));
        }
        if self.cibadmin_path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "pacemaker.cibadmin_path",
                "must not be empty",
            ));
        }
        if self.crm_node_path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "pacemaker.crm_node_path",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

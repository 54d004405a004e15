//! Types of the `guest-fsfreeze-*` commands.

use serde::{Deserialize, Serialize};

/// Result of `guest-fsfreeze-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestFsfreezeStatus {
    /// No filesystem frozen by the agent.
    Thawed,
    /// Filesystems frozen by the agent.
    Frozen,
}

/// Arguments of `guest-fsfreeze-freeze-list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFsfreezeFreezeListArgs {
    /// Mount points to freeze; every freezable one when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mountpoints: Option<Vec<String>>,
}

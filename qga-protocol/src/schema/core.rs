//! Types of the always-present commands: sync, ping and info.

use serde::{Deserialize, Serialize};

/// Arguments of `guest-sync` and `guest-sync-delimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSyncArgs {
    /// The value the agent echoes back.
    pub id: i64,
}

/// Arguments of a command that takes none: any member is rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Result of a command that returns nothing: written as `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Result of `guest-info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestAgentInfo {
    /// The agent's version.
    pub version: String,
    /// Every command the agent knows, enabled or not.
    pub supported_commands: Vec<GuestAgentCommandInfo>,
}

/// One entry of [`GuestAgentInfo::supported_commands`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestAgentCommandInfo {
    /// The command's name.
    pub name: String,
    /// Whether it may be called now.
    pub enabled: bool,
    /// Whether it replies on success (false for shutdown and suspend).
    #[serde(rename = "success-response")]
    pub success_response: bool,
}

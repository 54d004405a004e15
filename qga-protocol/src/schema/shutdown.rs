//! Types of `guest-shutdown`.

use serde::{Deserialize, Serialize};

/// Arguments of `guest-shutdown`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestShutdownArgs {
    /// `powerdown` (the default), `halt` or `reboot`. A plain string in
    /// QEMU's schema, checked by the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

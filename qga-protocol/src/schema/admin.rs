//! Types of filesystem trim, suspend, user password and SSH keys: guest-fstrim, guest-suspend-disk, guest-suspend-ram, guest-suspend-hybrid, guest-set-user-password, guest-ssh-get-authorized-keys, guest-ssh-add-authorized-keys, guest-ssh-remove-authorized-keys.
//!
//! The suspend commands take no arguments ([`NoArgs`](super::NoArgs)) and
//! answer nothing on success.

use serde::{Deserialize, Serialize};

/// Arguments of `guest-fstrim`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFstrimArgs {
    /// Free ranges shorter than this many bytes are not discarded; 0 (the
    /// filesystem's own minimum) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<i64>,
}

/// The trim of one mounted filesystem: `minimum` and `trimmed` on success,
/// `error` otherwise. Members are in the order QEMU's agent writes them
/// (its dictionaries' hash order), so replies match byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFilesystemTrimResult {
    /// The minimum range length the kernel used, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<i64>,
    /// The mount point.
    pub path: String,
    /// Bytes trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trimmed: Option<i64>,
    /// Why this filesystem was not trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Result of `guest-fstrim`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFilesystemTrimResponse {
    /// One entry per device-backed mounted filesystem.
    pub paths: Vec<GuestFilesystemTrimResult>,
}

/// Arguments of `guest-set-user-password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSetUserPasswordArgs {
    /// The account whose password is set.
    pub username: String,
    /// The new password, base64-encoded.
    pub password: String,
    /// Whether `password` is already encrypted (a crypt(3) hash).
    pub crypted: bool,
}

/// Arguments of `guest-ssh-get-authorized-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSshGetAuthorizedKeysArgs {
    /// The account whose keys are read.
    pub username: String,
}

/// Result of `guest-ssh-get-authorized-keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestAuthorizedKeys {
    /// The public keys, one `authorized_keys` line each.
    pub keys: Vec<String>,
}

/// Arguments of `guest-ssh-add-authorized-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSshAddAuthorizedKeysArgs {
    /// The account whose keys are changed.
    pub username: String,
    /// Public keys to add, one `authorized_keys` line each.
    pub keys: Vec<String>,
    /// Whether to replace the existing keys; false when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<bool>,
}

/// Arguments of `guest-ssh-remove-authorized-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSshRemoveAuthorizedKeysArgs {
    /// The account whose keys are changed.
    pub username: String,
    /// Public keys to remove (exact lines).
    pub keys: Vec<String>,
}

//! The error of every guest operation, and its mapping to a QAPI error.

use qapi_core::QapiError;

/// A guest operation's failure: the text the host reads as `desc`.
/// Every operation error is a `GenericError` on the wire, as in QEMU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

impl CommandError {
    /// An error with the given text.
    pub fn msg(text: impl Into<String>) -> Self {
        CommandError(text.into())
    }

    /// `context: <strerror>`, as QEMU's `error_setg_errno` words it.
    pub fn errno(context: impl std::fmt::Display, errno: rustix::io::Errno) -> Self {
        CommandError(format!("{context}: {}", crate::sys::strerror(errno)))
    }

    /// [`CommandError::errno`] for a std I/O error.
    pub fn io(context: impl std::fmt::Display, error: &std::io::Error) -> Self {
        CommandError(format!("{context}: {}", crate::sys::io_strerror(error)))
    }
}

impl From<CommandError> for QapiError {
    fn from(e: CommandError) -> Self {
        QapiError::generic(e.0)
    }
}

//! The error every command and every bad request ends up as, and the one
//! place where the crates' own errors are given a QAPI class and desc.

use std::borrow::Cow;
use std::time::Duration;

use qga_protocol::{DecodeError, ErrorClass, FrameError, ParseError, RequestError};

use crate::args::ArgError;

/// Most bytes of host-supplied text (a command name, a path, a stray
/// token) repeated in an error's description.
pub const ECHO_MAX: usize = 1024;

/// `text` as an error description may repeat it: whole when it is at most
/// [`ECHO_MAX`] bytes, else its first bytes (cut at a character boundary)
/// followed by `...`. Anything the host sent that an error quotes goes
/// through this, so a hostile request cannot make a reply larger than a few
/// KiB.
pub fn echo(text: &str) -> Cow<'_, str> {
    if text.len() <= ECHO_MAX {
        return Cow::Borrowed(text);
    }
    let mut cut = ECHO_MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}...", &text[..cut]))
}

/// An error as the host sees it: a QAPI class and a description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{desc}")]
pub struct QapiError {
    /// The class written in the reply.
    pub class: ErrorClass,
    /// The description written in the reply.
    pub desc: String,
}

impl QapiError {
    /// A `GenericError` with the given description.
    pub fn generic(desc: impl Into<String>) -> Self {
        QapiError {
            class: ErrorClass::GenericError,
            desc: desc.into(),
        }
    }

    /// The error for a command the agent does not have.
    pub fn command_not_found(name: &str) -> Self {
        QapiError {
            class: ErrorClass::CommandNotFound,
            desc: format!("The command {} has not been found", echo(name)),
        }
    }

    /// The error for a command that exists but is disabled.
    pub fn disabled(name: &str, reason: Option<&str>) -> Self {
        let name = echo(name);
        let desc = match reason {
            Some(reason) => format!("Command {name} has been disabled: {reason}"),
            None => format!("Command {name} has been disabled"),
        };
        QapiError {
            class: ErrorClass::CommandNotFound,
            desc,
        }
    }

    /// The error for a command that ran past its deadline.
    pub fn timed_out(name: &str, deadline: Duration) -> Self {
        QapiError::generic(format!(
            "Command {name} timed out after {} seconds; its result will be discarded",
            deadline.as_secs_f64()
        ))
    }

    /// The error for a command whose wait was cut short by agent shutdown.
    pub fn interrupted(name: &str) -> Self {
        QapiError::generic(format!("Command {name} was interrupted: the agent is stopping"))
    }

    /// The error for a command whose code failed unexpectedly (a bug).
    pub fn internal(name: &str) -> Self {
        QapiError::generic(format!("Command {name} failed unexpectedly"))
    }
}

macro_rules! generic_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for QapiError {
            fn from(e: $ty) -> Self {
                QapiError::generic(e.to_string())
            }
        }
    )*};
}

generic_from!(FrameError, ParseError, RequestError, DecodeError, ArgError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_cut_at_a_character_boundary() {
        assert_eq!(echo("guest-ping"), "guest-ping");
        let exact = "a".repeat(ECHO_MAX);
        assert_eq!(echo(&exact), exact.as_str());
        let long = format!("{}\u{e9}tail", "a".repeat(ECHO_MAX - 1));
        assert_eq!(echo(&long), format!("{}...", "a".repeat(ECHO_MAX - 1)));
        let desc = QapiError::command_not_found(&"\u{7f}".repeat(8 << 20)).desc;
        assert!(desc.len() < ECHO_MAX + 64, "{} bytes", desc.len());
    }
}

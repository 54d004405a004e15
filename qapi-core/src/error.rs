//! The error every command and every bad request ends up as, and the one
//! place where the crates' own errors are given a QAPI class and desc.

use std::time::Duration;

use qga_protocol::{DecodeError, ErrorClass, FrameError, ParseError, RequestError};

use crate::args::ArgError;

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
            desc: format!("The command {name} has not been found"),
        }
    }

    /// The error for a command that exists but is disabled.
    pub fn disabled(name: &str, reason: Option<&str>) -> Self {
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

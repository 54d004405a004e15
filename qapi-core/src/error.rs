//! The error every command and every bad request ends up as, and the one
//! place where the crates' own errors are given a QAPI class and desc.

use std::time::Duration;

use qga_protocol::{DecodeError, ErrorClass, FrameError, ParseError, RequestError};

use crate::args::ArgError;

pub use qga_protocol::{echo, ECHO_MAX};

/// Most bytes of any error description the constructors of [`QapiError`]
/// make: a safety net under [`echo`], so that no path, however it words its
/// error, can make a reply larger than about this (times six, once escaped).
pub(crate) const DESC_MAX: usize = 64 * 1024;

/// `desc` cut to [`DESC_MAX`] bytes at a character boundary, `...` marking
/// the cut.
fn bounded_desc(mut desc: String) -> String {
    if desc.len() <= DESC_MAX {
        return desc;
    }
    let mut cut = DESC_MAX - 3;
    while !desc.is_char_boundary(cut) {
        cut -= 1;
    }
    desc.truncate(cut);
    desc.push_str("...");
    desc.shrink_to_fit();
    desc
}

/// An error as the host sees it: a QAPI class and a description.
///
/// Every constructor (and every `From` conversion) keeps `desc` within
/// 64 KiB; code that fills in the fields itself should go through
/// [`QapiError::new`] too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{desc}")]
pub struct QapiError {
    /// The class written in the reply.
    pub class: ErrorClass,
    /// The description written in the reply.
    pub desc: String,
}

impl QapiError {
    /// An error of the given class; a description longer than 64 KiB is cut
    /// to that, at a character boundary, `...` marking the cut.
    pub fn new(class: ErrorClass, desc: impl Into<String>) -> Self {
        QapiError {
            class,
            desc: bounded_desc(desc.into()),
        }
    }

    /// A `GenericError` with the given description (cut to 64 KiB).
    pub fn generic(desc: impl Into<String>) -> Self {
        QapiError::new(ErrorClass::GenericError, desc)
    }

    /// The error for a command the agent does not have.
    pub fn command_not_found(name: &str) -> Self {
        QapiError::new(
            ErrorClass::CommandNotFound,
            format!("The command {} has not been found", echo(name)),
        )
    }

    /// The error for a command that exists but is disabled.
    pub fn disabled(name: &str, reason: Option<&str>) -> Self {
        let name = echo(name);
        let desc = match reason {
            Some(reason) => format!("Command {name} has been disabled: {reason}"),
            None => format!("Command {name} has been disabled"),
        };
        QapiError::new(ErrorClass::CommandNotFound, desc)
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

    #[test]
    fn no_desc_is_larger_than_the_cap() {
        let exact = "d".repeat(DESC_MAX);
        assert_eq!(QapiError::generic(exact.clone()).desc, exact);
        let long = QapiError::generic("d".repeat(8 << 20)).desc;
        assert_eq!(long.len(), DESC_MAX);
        assert!(long.ends_with("dd..."));
        let wide = QapiError::new(ErrorClass::CommandNotFound, "\u{e9}".repeat(DESC_MAX)).desc;
        assert!(
            wide.len() <= DESC_MAX && wide.ends_with("\u{e9}..."),
            "{}",
            wide.len()
        );
        let converted = QapiError::from(ArgError::Custom("c".repeat(DESC_MAX * 2)));
        assert!(converted.desc.len() <= DESC_MAX);
    }
}

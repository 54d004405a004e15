//! Types of `guest-exec` and `guest-exec-status`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Which of a process's output streams `guest-exec` captures (QAPI enum
/// `GuestExecCaptureOutputMode`, QEMU 8.0 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestExecCaptureOutputMode {
    /// Neither: both go to `/dev/null`.
    None,
    /// Standard output only; standard error goes to `/dev/null`.
    Stdout,
    /// Standard error only; standard output goes to `/dev/null`.
    Stderr,
    /// Both, each on its own (`out-data` and `err-data`).
    Separated,
    /// Both, interleaved into `out-data` (not on Windows).
    Merged,
}

/// `capture-output` of `guest-exec`: the old boolean (`true` is
/// [`GuestExecCaptureOutputMode::Separated`], `false` is
/// [`GuestExecCaptureOutputMode::None`]) or a mode by name. QAPI alternate
/// `GuestExecCaptureOutput`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum GuestExecCaptureOutput {
    /// The boolean form (QAPI branch `flag`).
    Flag(bool),
    /// The named form (QAPI branch `mode`).
    Mode(GuestExecCaptureOutputMode),
}

impl GuestExecCaptureOutput {
    /// The mode this value stands for.
    pub fn mode(self) -> GuestExecCaptureOutputMode {
        match self {
            GuestExecCaptureOutput::Flag(true) => GuestExecCaptureOutputMode::Separated,
            GuestExecCaptureOutput::Flag(false) => GuestExecCaptureOutputMode::None,
            GuestExecCaptureOutput::Mode(mode) => mode,
        }
    }
}

impl<'de> Deserialize<'de> for GuestExecCaptureOutput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CaptureVisitor;
        impl Visitor<'_> for CaptureVisitor {
            type Value = GuestExecCaptureOutput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // QEMU names the alternate when the JSON type fits no branch.
                f.write_str("GuestExecCaptureOutput")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(GuestExecCaptureOutput::Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                use GuestExecCaptureOutputMode::*;
                let mode = match v {
                    "none" => None,
                    "stdout" => Stdout,
                    "stderr" => Stderr,
                    "separated" => Separated,
                    "merged" => Merged,
                    _ => {
                        return Err(E::unknown_variant(
                            v,
                            &["none", "stdout", "stderr", "separated", "merged"],
                        ))
                    }
                };
                Ok(GuestExecCaptureOutput::Mode(mode))
            }
        }
        deserializer.deserialize_any(CaptureVisitor)
    }
}

/// Arguments of `guest-exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestExecArgs {
    /// The program: a path, or a name looked up in `PATH`.
    pub path: String,
    /// Arguments after the program name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<Vec<String>>,
    /// The whole environment (`NAME=value` strings), replacing the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Standard input for the process, base64-encoded.
    #[serde(rename = "input-data", default, skip_serializing_if = "Option::is_none")]
    pub input_data: Option<String>,
    /// Which output to capture; none when left out.
    #[serde(rename = "capture-output", default, skip_serializing_if = "Option::is_none")]
    pub capture_output: Option<GuestExecCaptureOutput>,
}

/// Result of `guest-exec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestExec {
    /// The process's id, for `guest-exec-status`.
    pub pid: i64,
}

/// Arguments of `guest-exec-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestExecStatusArgs {
    /// A pid returned by `guest-exec`.
    pub pid: i64,
}

/// Result of `guest-exec-status`. Members are in the order QEMU's agent
/// writes them (its dictionaries' hash order), so replies match byte for
/// byte.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GuestExecStatus {
    /// The exit status, when the process exited normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitcode: Option<i64>,
    /// Captured standard error, base64-encoded (only when not empty).
    #[serde(rename = "err-data", default, skip_serializing_if = "Option::is_none")]
    pub err_data: Option<String>,
    /// Captured standard output, base64-encoded (only when not empty).
    #[serde(rename = "out-data", default, skip_serializing_if = "Option::is_none")]
    pub out_data: Option<String>,
    /// Whether standard error went beyond what the agent keeps (with
    /// `err-data`).
    #[serde(rename = "err-truncated", default, skip_serializing_if = "Option::is_none")]
    pub err_truncated: Option<bool>,
    /// The signal that ended the process, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i64>,
    /// Whether standard output went beyond what the agent keeps (with
    /// `out-data`).
    #[serde(rename = "out-truncated", default, skip_serializing_if = "Option::is_none")]
    pub out_truncated: Option<bool>,
    /// Whether the process has ended and all its captured output is in.
    pub exited: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn capture_output_takes_both_forms() {
        let decode = |json: &str| serde_json::from_str::<GuestExecCaptureOutput>(json);
        assert_eq!(
            decode("true").unwrap().mode(),
            GuestExecCaptureOutputMode::Separated
        );
        assert_eq!(decode("false").unwrap().mode(), GuestExecCaptureOutputMode::None);
        for (name, mode) in [
            ("none", GuestExecCaptureOutputMode::None),
            ("stdout", GuestExecCaptureOutputMode::Stdout),
            ("stderr", GuestExecCaptureOutputMode::Stderr),
            ("separated", GuestExecCaptureOutputMode::Separated),
            ("merged", GuestExecCaptureOutputMode::Merged),
        ] {
            assert_eq!(decode(&format!("\"{name}\"")).unwrap().mode(), mode);
            assert_eq!(
                serde_json::to_string(&GuestExecCaptureOutput::Mode(mode)).unwrap(),
                format!("\"{name}\"")
            );
        }
        for bad in ["1", "null", "[]", "{}", "\"both\"", "\"True\""] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_members_in_qemu_order() {
        let status = GuestExecStatus {
            exitcode: Some(3),
            err_data: Some("ZQo=".into()),
            out_data: Some("bwo=".into()),
            err_truncated: Some(false),
            signal: Some(9),
            out_truncated: Some(true),
            exited: true,
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"exitcode":3,"err-data":"ZQo=","out-data":"bwo=","err-truncated":false,"signal":9,"out-truncated":true,"exited":true}"#
        );
        assert_eq!(
            serde_json::to_string(&GuestExecStatus::default()).unwrap(),
            r#"{"exited":false}"#
        );
    }
}

//! Types of the `guest-file-*` commands.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Arguments of `guest-file-open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFileOpenArgs {
    /// Path of the file in the guest.
    pub path: String,
    /// An `fopen()` mode string; `r` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Arguments of `guest-file-close` and `guest-file-flush`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFileHandleArgs {
    /// A handle from `guest-file-open`.
    pub handle: i64,
}

/// Arguments of `guest-file-read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFileReadArgs {
    /// A handle from `guest-file-open`.
    pub handle: i64,
    /// Most bytes to read; 4096 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// Result of `guest-file-read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFileRead {
    /// Bytes read (before base64 encoding).
    pub count: i64,
    /// The bytes, base64-encoded.
    #[serde(rename = "buf-b64")]
    pub buf_b64: String,
    /// Whether the read reached the end of the file.
    pub eof: bool,
}

/// Arguments of `guest-file-write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFileWriteArgs {
    /// A handle from `guest-file-open`.
    pub handle: i64,
    /// The bytes to write, base64-encoded.
    #[serde(rename = "buf-b64")]
    pub buf_b64: String,
    /// How many of the decoded bytes to write; all when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// Result of `guest-file-write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFileWrite {
    /// Bytes written.
    pub count: i64,
    /// Whether the end of the file was reached.
    pub eof: bool,
}

/// `whence` of `guest-file-seek` by name (QAPI `QGASeek`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QgaSeek {
    /// From the start of the file.
    Set,
    /// From the current position.
    Cur,
    /// From the end of the file.
    End,
}

/// `whence` of `guest-file-seek`: a protocol number (0 set, 1 cur, 2 end) or
/// a name. QAPI alternate `GuestFileWhence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum GuestFileWhence {
    /// The numeric form; only 0, 1 and 2 are valid.
    Value(i64),
    /// The named form.
    Name(QgaSeek),
}

impl<'de> Deserialize<'de> for GuestFileWhence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WhenceVisitor;
        impl Visitor<'_> for WhenceVisitor {
            type Value = GuestFileWhence;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("GuestFileWhence")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(GuestFileWhence::Value(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(GuestFileWhence::Value)
                    .map_err(|_| E::invalid_type(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // A number picks the integer branch, as in QEMU.
                Err(E::invalid_type(de::Unexpected::Float(v), &"integer"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "set" => Ok(GuestFileWhence::Name(QgaSeek::Set)),
                    "cur" => Ok(GuestFileWhence::Name(QgaSeek::Cur)),
                    "end" => Ok(GuestFileWhence::Name(QgaSeek::End)),
                    _ => Err(E::unknown_variant(v, &["set", "cur", "end"])),
                }
            }
        }
        deserializer.deserialize_any(WhenceVisitor)
    }
}

/// Arguments of `guest-file-seek`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFileSeekArgs {
    /// A handle from `guest-file-open`.
    pub handle: i64,
    /// Bytes to move by.
    pub offset: i64,
    /// Where to move from.
    pub whence: GuestFileWhence,
}

/// Result of `guest-file-seek`. Members are in the order QEMU's agent
/// writes them (its dictionaries' hash order), so replies match byte for
/// byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFileSeek {
    /// Whether the end of the file was reached (always false after a seek).
    pub eof: bool,
    /// The new position from the start of the file.
    pub position: i64,
}

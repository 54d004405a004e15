//! The configuration file: the raw values it gives, before the command line
//! is laid over them.
//!
//! The file is a GLib key file (`qga_sys::keyfile`), as QEMU's agent reads
//! it: a `[general]` group of `key=value` lines, `#` comments, booleans
//! `true`/`false` (or `1`/`0`), and lists (`block-rpcs`, `allow-rpcs`) as
//! comma-separated strings. It is found at `-c PATH` (which must exist),
//! else `$QGA_CONF`, else `/etc/qemu/qemu-ga.conf` (which may be absent).
//! Unknown keys and groups are ignored, as QEMU ignores them. This agent's
//! own `[system-roots]` group says where the system is (see
//! `qga_commands::SystemRoots`; QEMU's agent ignores it).

use std::path::{Path, PathBuf};

use qga_commands::SystemRoots;
use qga_sys::keyfile::{is_space, KeyFile, KeyFileError};
use qga_transport::VsockPeers;

use super::cli::parse_file_mode;
use super::RawSettings;

/// The group of QEMU's keys.
const GENERAL: &str = "general";

/// The group of this agent's system roots.
pub(super) const ROOTS: &str = "system-roots";

/// Why the configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named with `-c` or `QGA_CONF` could not be read.
    #[error("failed to read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a key file.
    #[error("error parsing config file {path}, {error}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What GLib's rules refuse.
        error: KeyFileError,
    },
    /// A key's value has the wrong form.
    #[error(
        "error parsing config file {path}: key '{key}' has a value that cannot be interpreted: '{value}'"
    )]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Its value.
        value: String,
    },
}

/// Splits a comma-separated list, dropping empty items. Like QEMU's, the
/// items of one list come out last first (which `-D` shows).
pub(super) fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .rev()
        .map(str::to_string)
        .collect()
}

/// Reads the configuration file at `path`: `Ok(None)` when it does not
/// exist and need not (`must_exist` false).
pub(super) fn read(path: &Path, must_exist: bool) -> Result<Option<RawSettings>, ConfigError> {
    match std::fs::read(path) {
        Ok(text) => parse(&text, path).map(Some),
        Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses configuration-file text (`path` is for messages).
pub fn parse(text: &[u8], path: &Path) -> Result<RawSettings, ConfigError> {
    let file = KeyFile::parse(text).map_err(|error| ConfigError::Syntax {
        path: path.to_path_buf(),
        error,
    })?;
    let mut raw = RawSettings::default();
    for (key, value) in file.entries(GENERAL) {
        let bad_value = || ConfigError::Value {
            path: path.to_path_buf(),
            key: key.to_string(),
            value: value.to_string(),
        };
        // Trailing white space is dropped (GLib keeps it in strings; this
        // agent always dropped it, and so does GLib in numbers and booleans).
        let text = || qga_sys::keyfile::unescape(value.trim_end_matches(is_space)).map_err(|_| bad_value());
        let seconds = || text()?.parse::<u64>().map_err(|_| bad_value());
        let boolean = || match text()?.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(bad_value()),
        };
        match key {
            "daemon" => raw.daemon = boolean()?,
            "verbose" => raw.verbose = boolean()?,
            "retry-path" => raw.retry_path = boolean()?,
            "method" => raw.method = Some(text()?),
            "path" => raw.path = Some(text()?.into()),
            "logfile" => raw.logfile = Some(text()?.into()),
            "pidfile" => raw.pidfile = Some(text()?.into()),
            "fsfreeze-hook" => raw.fsfreeze_hook = Some(text()?.into()),
            "statedir" => raw.statedir = Some(text()?.into()),
            "block-rpcs" => raw.block_rpcs = split_list(&text()?),
            "allow-rpcs" => raw.allow_rpcs = split_list(&text()?),
            "fsfreeze-hook-timeout" => raw.fsfreeze_hook_timeout = Some(seconds()?),
            "fsfreeze-timeout" => raw.fsfreeze_timeout = Some(seconds()?),
            "command-timeout" => raw.command_timeout = Some(seconds()?),
            "file-create-mode" => {
                raw.file_create_mode = Some(parse_file_mode(&text()?).map_err(|_| bad_value())?);
            }
            "vsock-allow-cids" => {
                raw.vsock_allow_cids = Some(text()?.parse::<VsockPeers>().map_err(|_| bad_value())?);
            }
            _ => {}
        }
    }
    for (key, value) in file.entries(ROOTS) {
        let bad_value = || ConfigError::Value {
            path: path.to_path_buf(),
            key: format!("{ROOTS}.{key}"),
            value: value.to_string(),
        };
        let root = PathBuf::from(
            qga_sys::keyfile::unescape(value.trim_end_matches(is_space)).map_err(|_| bad_value())?,
        );
        if SystemRoots::default().named_mut(key).is_none() {
            return Err(bad_value());
        }
        raw.roots.push((key.to_string(), root));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<RawSettings, ConfigError> {
        parse(text.as_bytes(), Path::new("f"))
    }

    #[test]
    fn bad_files_are_errors() {
        let err = |t: &str| parse_text(t).unwrap_err().to_string();
        assert_eq!(
            err("[general\n"),
            "error parsing config file f, line 1: not a key-value pair, group or comment"
        );
        assert_eq!(
            err("[general]\njunk\n"),
            "error parsing config file f, line 2: not a key-value pair, group or comment"
        );
        assert_eq!(
            err("[general]\nverbose=yes\n"),
            "error parsing config file f: key 'verbose' has a value that cannot be interpreted: 'yes'"
        );
        assert_eq!(
            err("[general]\nfile-create-mode=4755\n"),
            "error parsing config file f: key 'file-create-mode' has a value that cannot be interpreted: '4755'"
        );
        assert!(err("[general]\nfsfreeze-timeout=-1\n").contains("'fsfreeze-timeout'"));
        assert!(err("[general]\nvsock-allow-cids=host\n").contains("'vsock-allow-cids'"));
        assert!(err("[system-roots]\nnowhere=/x\n").contains("'system-roots.nowhere'"));
        assert!(err("[general]\npath=/a\\x\n").contains("'path'"));
        // As GLib: a key before any group.
        assert!(err("daemon=true\n").contains("line 1"));
    }

    #[test]
    fn unknown_keys_and_groups_are_ignored() {
        let raw = parse_text("[general]\nunknown=1\n[other]\ndaemon=oops\n").unwrap();
        assert_eq!(raw, RawSettings::default());
    }

    #[test]
    fn roots_are_read() {
        let raw = parse_text("[system-roots]\nproc=/fake/proc\nsbin=/fake/sbin\n").unwrap();
        let mut roots = raw.roots.clone();
        roots.sort();
        assert_eq!(
            roots,
            [
                ("proc".into(), "/fake/proc".into()),
                ("sbin".into(), "/fake/sbin".into())
            ]
        );
    }
}

//! The configuration file and the effective configuration.
//!
//! The file is a GLib key file, as QEMU's agent reads it: a `[general]`
//! group of `key=value` lines, `#` comments, booleans `true`/`false`, and
//! lists (`block-rpcs`, `allow-rpcs`) as comma-separated strings. It is
//! found at `-c PATH` (which must exist), else `$QGA_CONF`, else
//! `/etc/qemu/qemu-ga.conf` (which may be absent). The command line is
//! applied on top of it; the command lists of both are joined. `-D` prints
//! the result in the same format, so it can be read back with `-c`.

use std::path::{Path, PathBuf};

use qga_transport::VsockPeers;

use crate::cli::{parse_file_mode, Cli, DEFAULT_PIDFILE, DEFAULT_STATEDIR};

/// The configuration file read when neither `-c` nor `QGA_CONF` names one.
pub const DEFAULT_CONFIG: &str = "/etc/qemu/qemu-ga.conf";

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
    /// A line is not a group, key-value pair or comment.
    #[error("error parsing config file {path}, line {line}: not a key-value pair, group or comment")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
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

/// The agent's configuration: the file, then the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `daemon` / `-d`.
    pub daemon: bool,
    /// `method` / `-m`.
    pub method: Option<String>,
    /// `path` / `-p`.
    pub path: Option<PathBuf>,
    /// `logfile` / `-l`.
    pub logfile: Option<PathBuf>,
    /// `pidfile` / `-f`.
    pub pidfile: Option<PathBuf>,
    /// `fsfreeze-hook` / `-F`.
    pub fsfreeze_hook: Option<PathBuf>,
    /// `statedir` / `-t`.
    pub statedir: Option<PathBuf>,
    /// `verbose` / `-v`.
    pub verbose: bool,
    /// `retry-path` / `-r`.
    pub retry_path: bool,
    /// `block-rpcs` / `-b`.
    pub block_rpcs: Vec<String>,
    /// `allow-rpcs` / `-a`.
    pub allow_rpcs: Vec<String>,
    /// `fsfreeze-hook-timeout` / `--fsfreeze-hook-timeout`, in seconds.
    pub fsfreeze_hook_timeout: Option<u64>,
    /// `fsfreeze-timeout` / `--fsfreeze-timeout`, in seconds.
    pub fsfreeze_timeout: Option<u64>,
    /// `file-create-mode` / `--file-create-mode`.
    pub file_create_mode: Option<u32>,
    /// `vsock-allow-cids` / `--vsock-allow-cids`.
    pub vsock_allow_cids: Option<VsockPeers>,
}

/// Splits a comma-separated list, dropping empty items. Like QEMU's, the
/// items of one list come out last first (which `-D` shows).
fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .rev()
        .map(str::to_string)
        .collect()
}

/// Undoes GLib's key-file escapes (`\s`, `\n`, `\t`, `\r`, `\\`).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

impl Config {
    /// Reads the configuration file the command line and environment name.
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let (path, must_exist) = match (&cli.config, std::env::var_os("QGA_CONF")) {
            (Some(path), _) => (path.clone(), true),
            (None, Some(path)) => (PathBuf::from(path), true),
            (None, None) => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text, &path),
            Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Parses key-file text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut in_general = false;
        for (number, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                if !line.ends_with(']') {
                    return Err(ConfigError::Syntax {
                        path: path.to_path_buf(),
                        line: number + 1,
                    });
                }
                in_general = line == "[general]";
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line: number + 1,
                });
            };
            if !in_general {
                continue;
            }
            let (key, value) = (key.trim(), unescape(value.trim()));
            let bad_value = || ConfigError::Value {
                path: path.to_path_buf(),
                key: key.to_string(),
                value: value.clone(),
            };
            let seconds = || value.parse::<u64>().map_err(|_| bad_value());
            let boolean = || match value.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(bad_value()),
            };
            match key {
                "daemon" => config.daemon = boolean()?,
                "verbose" => config.verbose = boolean()?,
                "retry-path" => config.retry_path = boolean()?,
                "method" => config.method = Some(value),
                "path" => config.path = Some(value.into()),
                "logfile" => config.logfile = Some(value.into()),
                "pidfile" => config.pidfile = Some(value.into()),
                "fsfreeze-hook" => config.fsfreeze_hook = Some(value.into()),
                "statedir" => config.statedir = Some(value.into()),
                "block-rpcs" => config.block_rpcs = split_list(&value),
                "allow-rpcs" => config.allow_rpcs = split_list(&value),
                "fsfreeze-hook-timeout" => config.fsfreeze_hook_timeout = Some(seconds()?),
                "fsfreeze-timeout" => config.fsfreeze_timeout = Some(seconds()?),
                "file-create-mode" => {
                    config.file_create_mode = Some(parse_file_mode(&value).map_err(|_| bad_value())?);
                }
                "vsock-allow-cids" => config.vsock_allow_cids = Some(value.parse().map_err(|_| bad_value())?),
                // Unknown keys are ignored, as QEMU ignores them.
                _ => {}
            }
        }
        Ok(config)
    }

    /// Applies the command line on top: options given override the file;
    /// command lists are appended.
    pub fn apply(&mut self, cli: &Cli) {
        self.daemon |= cli.daemonize;
        self.verbose |= cli.verbose;
        self.retry_path |= cli.retry_path;
        let or = |ours: &mut Option<PathBuf>, theirs: &Option<PathBuf>| {
            if theirs.is_some() {
                ours.clone_from(theirs);
            }
        };
        if cli.method.is_some() {
            self.method.clone_from(&cli.method);
        }
        or(&mut self.path, &cli.path);
        or(&mut self.logfile, &cli.logfile);
        or(&mut self.pidfile, &cli.pidfile);
        or(&mut self.fsfreeze_hook, &cli.fsfreeze_hook);
        or(&mut self.statedir, &cli.statedir);
        if cli.fsfreeze_hook_timeout.is_some() {
            self.fsfreeze_hook_timeout = cli.fsfreeze_hook_timeout;
        }
        if cli.fsfreeze_timeout.is_some() {
            self.fsfreeze_timeout = cli.fsfreeze_timeout;
        }
        if cli.file_create_mode.is_some() {
            self.file_create_mode = cli.file_create_mode;
        }
        if cli.vsock_allow_cids.is_some() {
            self.vsock_allow_cids.clone_from(&cli.vsock_allow_cids);
        }
        for list in &cli.block_rpcs {
            self.block_rpcs.extend(split_list(list));
        }
        for list in &cli.allow_rpcs {
            self.allow_rpcs.extend(split_list(list));
        }
    }

    /// Fills in the defaults QEMU fills in before `-D` or start-up: the
    /// method, its default path, the pidfile and the state directory.
    pub fn fill_defaults(&mut self, default_path: impl Fn(&str) -> Option<&'static str>) {
        let method = self
            .method
            .get_or_insert_with(|| "virtio-serial".to_string())
            .clone();
        if self.path.is_none() {
            self.path = default_path(&method).map(PathBuf::from);
        }
        self.pidfile.get_or_insert_with(|| PathBuf::from(DEFAULT_PIDFILE));
        self.statedir
            .get_or_insert_with(|| PathBuf::from(DEFAULT_STATEDIR));
    }

    /// The configuration as a key file, in QEMU's `-D` layout; this agent's
    /// own keys follow, each only when set, so that the dump of a
    /// configuration QEMU's agent could read is the one QEMU's prints.
    pub fn dump(&self) -> String {
        let mut out = String::from("[general]\n");
        let mut line = |key: &str, value: &str| {
            out.push_str(key);
            out.push('=');
            out.push_str(&value.replace('\\', "\\\\").replace('\n', "\\n"));
            out.push('\n');
        };
        let text = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        line("daemon", &self.daemon.to_string());
        line("method", self.method.as_deref().unwrap_or("virtio-serial"));
        if let Some(path) = text(&self.path) {
            line("path", &path);
        }
        if let Some(logfile) = text(&self.logfile) {
            line("logfile", &logfile);
        }
        line(
            "pidfile",
            &text(&self.pidfile).unwrap_or_else(|| DEFAULT_PIDFILE.into()),
        );
        if let Some(hook) = text(&self.fsfreeze_hook) {
            line("fsfreeze-hook", &hook);
        }
        line(
            "statedir",
            &text(&self.statedir).unwrap_or_else(|| DEFAULT_STATEDIR.into()),
        );
        line("verbose", &self.verbose.to_string());
        line("retry-path", &self.retry_path.to_string());
        line("block-rpcs", &self.block_rpcs.join(","));
        line("allow-rpcs", &self.allow_rpcs.join(","));
        if let Some(secs) = self.fsfreeze_hook_timeout {
            line("fsfreeze-hook-timeout", &secs.to_string());
        }
        if let Some(secs) = self.fsfreeze_timeout {
            line("fsfreeze-timeout", &secs.to_string());
        }
        if let Some(mode) = self.file_create_mode {
            line("file-create-mode", &format!("{mode:04o}"));
        }
        if let Some(peers) = &self.vsock_allow_cids {
            line("vsock-allow-cids", &peers.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["qemu-ga"];
        all.extend_from_slice(args);
        Cli::parse_from_args(all).unwrap()
    }

    /// QEMU's upstream fixture, `tests/data/test-qga-config`.
    const UPSTREAM: &str =
        "[general]\ndaemon=false\nmethod=virtio-serial\npath=/path/to/org.qemu.guest_agent.0\n\
        pidfile=/var/foo/qemu-ga.pid\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
        block-rpcs=guest-ping;guest-get-time\n";

    #[test]
    fn reads_every_key_and_dumps_in_qemus_layout() {
        let text = "# comment\n[general]\n daemon = true \nmethod=unix-listen\npath=/run/x\\sy\nlogfile=/l\n\
                    pidfile=/p\nfsfreeze-hook=/h\nstatedir=/s\nverbose=1\nretry-path=true\n\
                    block-rpcs=a,b\nallow-rpcs=\nunknown=1\n[other]\ndaemon=oops\n";
        let config = Config::parse(text, Path::new("c")).unwrap();
        assert_eq!(
            config.dump(),
            "[general]\ndaemon=true\nmethod=unix-listen\npath=/run/x y\nlogfile=/l\npidfile=/p\n\
             fsfreeze-hook=/h\nstatedir=/s\nverbose=true\nretry-path=true\nblock-rpcs=b,a\nallow-rpcs=\n"
        );
        // The dump reads back as the same configuration.
        let again = Config::parse(&config.dump(), Path::new("d")).unwrap();
        // (Each read reverses a list, as in QEMU.)
        assert_eq!(again.dump(), config.dump().replace("b,a", "a,b"));
    }

    #[test]
    fn command_line_overrides_and_lists_join() {
        let mut config = Config::parse(UPSTREAM.replace(';', ",").as_str(), Path::new("c")).unwrap();
        config.apply(&cli(&["-m", "unix-listen", "-p", "/x", "-b", "guest-info", "-F"]));
        config.fill_defaults(|_| None);
        assert_eq!(
            config.dump(),
            "[general]\ndaemon=false\nmethod=unix-listen\npath=/x\npidfile=/var/foo/qemu-ga.pid\n\
             fsfreeze-hook=/etc/qemu/fsfreeze-hook\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
             block-rpcs=guest-get-time,guest-ping,guest-info\nallow-rpcs=\n"
        );
    }

    #[test]
    fn defaults_are_filled_for_the_dump() {
        let mut config = Config::default();
        config
            .fill_defaults(|m| (m == "virtio-serial").then_some("/dev/virtio-ports/org.qemu.guest_agent.0"));
        assert_eq!(
            config.dump(),
            "[general]\ndaemon=false\nmethod=virtio-serial\npath=/dev/virtio-ports/org.qemu.guest_agent.0\n\
             pidfile=/var/run/qemu-ga.pid\nstatedir=/var/run\nverbose=false\nretry-path=false\nblock-rpcs=\n\
             allow-rpcs=\n"
        );
    }

    #[test]
    fn this_agents_own_keys_read_and_dump_back() {
        let text = "[general]\nfsfreeze-hook-timeout=5\nfsfreeze-timeout=0\nfile-create-mode=0640\n\
                    vsock-allow-cids=2,3\n";
        let mut config = Config::parse(text, Path::new("c")).unwrap();
        config.fill_defaults(|_| None);
        let dump = config.dump();
        assert!(
            dump.ends_with(
                "allow-rpcs=\nfsfreeze-hook-timeout=5\nfsfreeze-timeout=0\nfile-create-mode=0640\n\
                 vsock-allow-cids=2,3\n"
            ),
            "{dump}"
        );
        assert_eq!(Config::parse(&dump, Path::new("d")).unwrap(), config);
        config.apply(&cli(&[
            "--fsfreeze-timeout=9",
            "--file-create-mode=600",
            "--vsock-allow-cids=any",
        ]));
        assert_eq!(config.fsfreeze_timeout, Some(9));
        assert_eq!(config.fsfreeze_hook_timeout, Some(5));
        assert_eq!(config.file_create_mode, Some(0o600));
        assert_eq!(config.vsock_allow_cids, Some(VsockPeers::Any));
        let err = |t: &str| Config::parse(t, Path::new("f")).unwrap_err().to_string();
        assert_eq!(
            err("[general]\nfile-create-mode=4755\n"),
            "error parsing config file f: key 'file-create-mode' has a value that cannot be interpreted: '4755'"
        );
        assert!(err("[general]\nfsfreeze-timeout=-1\n").contains("'fsfreeze-timeout'"));
        assert!(err("[general]\nvsock-allow-cids=host\n").contains("'vsock-allow-cids'"));
    }

    #[test]
    fn bad_files_are_errors() {
        let err = |t: &str| Config::parse(t, Path::new("f")).unwrap_err().to_string();
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
    }
}

//! The command line, with QEMU's qemu-ga option names and letters.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use qga_transport::VsockPeers;

/// QEMU's default pidfile path.
pub const DEFAULT_PIDFILE: &str = "/var/run/qemu-ga.pid";
/// QEMU's default state directory.
pub const DEFAULT_STATEDIR: &str = "/var/run";
/// QEMU's default fsfreeze hook.
pub const DEFAULT_FSFREEZE_HOOK: &str = "/etc/qemu/fsfreeze-hook";
/// Default deadline for a command, in seconds.
pub const DEFAULT_COMMAND_TIMEOUT: u64 = 30;

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(name = "qemu-ga", disable_help_flag = true, disable_version_flag = true)]
pub struct Cli {
    /// Transport method.
    #[arg(short = 'm', long = "method")]
    pub method: Option<String>,
    /// Device or socket path, or `<cid>:<port>` for vsock-listen.
    #[arg(short = 'p', long = "path")]
    pub path: Option<PathBuf>,
    /// Log file; standard error when not given.
    #[arg(short = 'l', long = "logfile")]
    pub logfile: Option<PathBuf>,
    /// Pidfile, written when daemonizing.
    #[arg(short = 'f', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Fsfreeze hook; the value must be attached (`-F/path`, `--fsfreeze-hook=/path`).
    #[arg(short = 'F', long = "fsfreeze-hook", num_args = 0..=1, require_equals = true,
          default_missing_value = DEFAULT_FSFREEZE_HOOK)]
    pub fsfreeze_hook: Option<PathBuf>,
    /// Directory for state files.
    #[arg(short = 't', long = "statedir")]
    pub statedir: Option<PathBuf>,
    /// Log debugging information.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Print the version and exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Run in the background as a daemon.
    #[arg(short = 'd', long = "daemonize")]
    pub daemonize: bool,
    /// Commands to disable, comma-separated, or `help`.
    #[arg(short = 'b', long = "block-rpcs")]
    pub block_rpcs: Vec<String>,
    /// The only commands to enable, comma-separated, or `help`.
    #[arg(short = 'a', long = "allow-rpcs")]
    pub allow_rpcs: Vec<String>,
    /// Print the effective configuration and exit.
    #[arg(short = 'D', long = "dump-conf")]
    pub dump_conf: bool,
    /// Keep retrying the channel path when it is absent or fails.
    #[arg(short = 'r', long = "retry-path")]
    pub retry_path: bool,
    /// Configuration file.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Seconds a command may run before the host gets a time-out error
    /// (0: no limit).
    #[arg(long = "command-timeout", value_name = "SECONDS")]
    pub command_timeout: Option<u64>,
    /// Seconds the fsfreeze hook may run before it is killed (0: no limit).
    #[arg(long = "fsfreeze-hook-timeout", value_name = "SECONDS")]
    pub fsfreeze_hook_timeout: Option<u64>,
    /// Seconds after a freeze at which the agent thaws by itself if no
    /// thaw has come (0: never).
    #[arg(long = "fsfreeze-timeout", value_name = "SECONDS")]
    pub fsfreeze_timeout: Option<u64>,
    /// Permissions, in octal, of files `guest-file-open` creates.
    #[arg(long = "file-create-mode", value_name = "MODE", value_parser = parse_file_mode)]
    pub file_create_mode: Option<u32>,
    /// The vsock peers accepted: `any`, or comma-separated context ids.
    #[arg(long = "vsock-allow-cids", value_name = "CIDS")]
    pub vsock_allow_cids: Option<VsockPeers>,
    /// Print help and exit.
    #[arg(short = 'h', long = "help")]
    pub help: bool,
}

/// Parses permission bits written in octal (`0644`); setuid, setgid and
/// sticky bits are refused.
pub fn parse_file_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text.trim(), 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "invalid file mode '{text}': expected permission bits in octal, 0000 to 0777"
        )),
    }
}

impl Cli {
    /// Parses `args` (the program name first).
    pub fn parse_from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Cli::try_parse_from(args.into_iter().map(|a| attach_hook_value(a.into())))
    }
}

/// `-F` takes its optional value attached, as getopt does (`-F/path`);
/// clap reads that only in the long form, so `-F<path>` is rewritten to
/// `--fsfreeze-hook=<path>`.
fn attach_hook_value(arg: OsString) -> OsString {
    match arg.to_str().and_then(|a| a.strip_prefix("-F")) {
        Some(path) if !path.is_empty() => OsString::from(format!("--fsfreeze-hook={path}")),
        _ => arg,
    }
}

/// The text of `--help`.
pub fn help_text(program: &str, version: &str) -> String {
    format!(
        "\
Usage: {program} [-m <method> -p <path>] [<options>]
QEMU Guest Agent {version}, memory-safe implementation

  -m, --method      channel to the host: unix-listen, virtio-serial,
                    isa-serial or vsock-listen (default: virtio-serial)
  -p, --path        device or socket path; defaults: virtio-serial
                    /dev/virtio-ports/org.qemu.guest_agent.0,
                    isa-serial /dev/ttyS0; vsock-listen takes <cid>:<port>
  -l, --logfile     log to this file (default: standard error)
  -f, --pidfile     pidfile written when daemonizing
                    (default: {DEFAULT_PIDFILE})
  -F, --fsfreeze-hook
                    run a hook with 'freeze' / 'thaw' around filesystem
                    freezes; the path must be attached, as in -F/path or
                    --fsfreeze-hook=/path (default: {DEFAULT_FSFREEZE_HOOK})
  -t, --statedir    directory for state files, an absolute path
                    (default: {DEFAULT_STATEDIR})
  -v, --verbose     log debugging information
  -V, --version     print the version and exit
  -d, --daemonize   run in the background
  -b, --block-rpcs  comma-separated commands to disable
                    (\"--block-rpcs=help\" lists the commands)
  -a, --allow-rpcs  comma-separated commands to enable, all others disabled
                    (\"--allow-rpcs=help\" lists the commands)
  -D, --dump-conf   print the effective configuration (file and options) as
                    a configuration file and exit
  -r, --retry-path  keep trying to open the channel path when it is absent
                    or fails (device hot-plug, driver reload)
  -c, --config      configuration file (default: $QGA_CONF, else
                    /etc/qemu/qemu-ga.conf if it exists)
      --command-timeout SECONDS
                    error out a command that runs longer than this, and go
                    on serving (default: {DEFAULT_COMMAND_TIMEOUT}; 0: no limit)
      --fsfreeze-hook-timeout=SECONDS
                    kill the fsfreeze hook (and its process group) after this
                    long and fail the freeze (default: 60; 0: no limit)
      --fsfreeze-timeout=SECONDS
                    thaw by itself when no guest-fsfreeze-thaw comes this long
                    after a freeze (default: 600; 0: never)
      --file-create-mode=MODE
                    permissions, in octal, of files guest-file-open creates
                    (default: 0644)
      --vsock-allow-cids=CIDS
                    vsock peers accepted: 'any' or comma-separated context ids
                    (default: 2, the host)
  -h, --help        print this help and exit
"
    )
}

//! The command line, with QEMU's qemu-ga option names and letters: the
//! raw values as given, which [`super::resolve`] lays over the
//! configuration file's.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use qga_commands::{AgentConfig, SystemRoots};
use qga_transport::{Method, VsockPeers};

use super::{default_pidfile, DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONFIG, DEFAULT_FSFREEZE_HOOK};

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

/// A file mode that is not permission bits in octal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid file mode '{0}': expected permission bits in octal, 0000 to 0777")]
pub struct BadFileMode(String);

/// Parses permission bits written in octal (`0644`); setuid, setgid and
/// sticky bits are refused.
pub fn parse_file_mode(text: &str) -> Result<u32, BadFileMode> {
    match u32::from_str_radix(text.trim(), 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(BadFileMode(text.to_string())),
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
    let statedir = SystemRoots::default().statedir;
    let statedir = statedir.display();
    let hook_timeout = AgentConfig::DEFAULT_HOOK_TIMEOUT.as_secs();
    let auto_thaw = AgentConfig::DEFAULT_AUTO_THAW.as_secs();
    let create_mode = AgentConfig::DEFAULT_CREATE_MODE;
    let method = Method::default();
    let virtio_path = Method::VirtioSerial.default_path().unwrap_or_default();
    let isa_path = Method::IsaSerial.default_path().unwrap_or_default();
    let pidfile = default_pidfile();
    let pidfile = pidfile.display();
    let vsock_peers = VsockPeers::default();
    format!(
        "\
Usage: {program} [-m <method> -p <path>] [<options>]
QEMU Guest Agent {version}, memory-safe implementation

  -m, --method      channel to the host: unix-listen, virtio-serial,
                    isa-serial or vsock-listen (default: {method})
  -p, --path        device or socket path; defaults: virtio-serial
                    {virtio_path},
                    isa-serial {isa_path}; vsock-listen takes <cid>:<port>
  -l, --logfile     log to this file (default: standard error)
  -f, --pidfile     pidfile written when daemonizing
                    (default: {pidfile})
  -F, --fsfreeze-hook
                    run a hook with 'freeze' / 'thaw' around filesystem
                    freezes; the path must be attached, as in -F/path or
                    --fsfreeze-hook=/path (default: {DEFAULT_FSFREEZE_HOOK})
  -t, --statedir    directory for state files, an absolute path
                    (default: {statedir})
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
                    {DEFAULT_CONFIG} if it exists)
      --command-timeout SECONDS
                    error out a command that runs longer than this, and go
                    on serving (default: {DEFAULT_COMMAND_TIMEOUT}; 0: no limit)
      --fsfreeze-hook-timeout=SECONDS
                    kill the fsfreeze hook (and its process group) after this
                    long and fail the freeze (default: {hook_timeout}; 0: no limit)
      --fsfreeze-timeout=SECONDS
                    thaw by itself when no guest-fsfreeze-thaw comes this long
                    after a freeze (default: {auto_thaw}; 0: never)
      --file-create-mode=MODE
                    permissions, in octal, of files guest-file-open creates
                    (default: {create_mode:04o})
      --vsock-allow-cids=CIDS
                    vsock peers accepted: 'any' or comma-separated context ids
                    (default: {vsock_peers}, the host)
  -h, --help        print this help and exit
"
    )
}

/// What a command line clap refused prints, as QEMU's qemu-ga reports it:
/// getopt's line for standard error and, for an unknown option or a
/// missing value, QEMU's hint for standard output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// The line for standard error.
    pub line: String,
    /// The hint for standard output, if any.
    pub hint: Option<String>,
}

impl UsageError {
    /// The report of `error`, for the command line `args` (the program
    /// name first).
    pub fn of(error: &clap::Error, args: &[OsString]) -> UsageError {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        let argv0 = args
            .first()
            .map_or_else(|| "qemu-ga".into(), |a| a.to_string_lossy().into_owned());
        let arg = match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => arg.split(['=', ' ']).next().unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let complaint = match (error.kind(), arg.strip_prefix("--"), arg.strip_prefix('-')) {
            (ErrorKind::UnknownArgument, Some(long), _) => format!("unrecognized option '--{long}'"),
            (ErrorKind::UnknownArgument, None, Some(short)) => format!("invalid option -- '{short}'"),
            (ErrorKind::InvalidValue, _, _) if error.to_string().contains("value is required") => {
                // The option missing its value is the last argument, as given.
                let last = args
                    .last()
                    .map(|a| a.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match last.strip_prefix("--") {
                    Some(long) => format!("option '--{long}' requires an argument"),
                    None => format!(
                        "option requires an argument -- '{}'",
                        last.chars().last().unwrap_or('?')
                    ),
                }
            }
            _ => {
                let text = error.to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ");
                return UsageError {
                    line: format!("qemu-ga: {first}"),
                    hint: None,
                };
            }
        };
        UsageError {
            line: format!("qemu-ga: {complaint}"),
            hint: Some(format!(
                "Unknown option, try '{argv0} --help' for more information."
            )),
        }
    }
}

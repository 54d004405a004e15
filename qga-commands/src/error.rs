//! Every way a guest operation fails, and the text the host reads for it.
//!
//! This is the one place those texts are written. Where QEMU's agent fails
//! the same way, the text is QEMU's, word for word (typos and unbalanced
//! parentheses included: hosts match on them); the others are this agent's
//! own, for bounds and refusals QEMU does not have. Every failure is a
//! `GenericError` on the wire, as in QEMU. Host text quoted in a message
//! (a path, a mode, a key) is cut to 1 KiB ([`echo`]).

use std::fmt;
use std::path::PathBuf;

use qapi_core::{echo, QapiError};
use qga_sys::base64::InvalidBase64;
use qga_sys::errno::strerror;
use rustix::io::Errno;

use crate::exec::SpawnError;
use crate::file::{Refusal as FileRefusal, MAX_HANDLES};
use crate::fsfreeze::HookError;
use crate::run::ChildFailure;
use crate::ssh::{Refusal as SshRefusal, MAX_KEYS_FILE};

/// What the system said went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// An error number, worded as `strerror` words it.
    Errno(Errno),
    /// A file that ended before anything was read: `unexpected EOF`.
    Eof,
    /// An error without a number, in its own words.
    Other(String),
}

impl From<Errno> for Cause {
    fn from(errno: Errno) -> Self {
        Cause::Errno(errno)
    }
}

impl From<&std::io::Error> for Cause {
    fn from(error: &std::io::Error) -> Self {
        match error.raw_os_error() {
            Some(raw) => Cause::Errno(Errno::from_raw_os_error(raw)),
            None => Cause::Other(error.to_string()),
        }
    }
}

impl From<std::io::Error> for Cause {
    fn from(error: std::io::Error) -> Self {
        Cause::from(&error)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Errno(errno) => f.write_str(&strerror(*errno)),
            Cause::Eof => f.write_str("unexpected EOF"),
            Cause::Other(text) => f.write_str(text),
        }
    }
}

/// A system call QEMU names in its messages (`open("PATH"): REASON`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// `open`.
    Open,
    /// `pread`.
    Pread,
    /// `pwrite`.
    Pwrite,
    /// `realpath`.
    Realpath,
    /// `opendir`.
    Opendir,
    /// `readdir`.
    Readdir,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::Open => "open",
            Call::Pread => "pread",
            Call::Pwrite => "pwrite",
            Call::Realpath => "realpath",
            Call::Opendir => "opendir",
            Call::Readdir => "readdir",
        })
    }
}

impl Call {
    /// The call and cause of a failed sysfs attribute access.
    pub(crate) fn of_attr(error: qga_sys::sysfs::AttrError) -> (Call, Cause) {
        use qga_sys::sysfs::AttrError as E;
        match error {
            E::Open(e) => (Call::Open, e.into()),
            E::Read(e) => (Call::Pread, e.into()),
            E::Eof => (Call::Pread, Cause::Eof),
            E::Write(e) => (Call::Pwrite, e.into()),
        }
    }
}

/// What the SSH key commands were doing to `~/.ssh` or the keys file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SshStep {
    /// Making `~/.ssh`.
    CreateDirectory,
    /// Giving `~/.ssh` to the user.
    DirectoryOwner,
    /// Setting `~/.ssh` to 0700.
    DirectoryPermissions,
    /// Giving the keys file to the user (QEMU's text says "directory").
    FileOwner,
    /// Setting the keys file to 0600.
    FilePermissions,
}

impl fmt::Display for SshStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SshStep::CreateDirectory => "create directory",
            SshStep::DirectoryOwner | SshStep::FileOwner => "set ownership of directory",
            SshStep::DirectoryPermissions => "set permissions of directory",
            SshStep::FilePermissions => "set permissions of",
        })
    }
}

/// Where writing the new keys file failed, in GLib's words
/// (`g_file_set_contents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteStep {
    /// Creating the temporary file.
    Create {
        /// The temporary file.
        temp: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// Writing it.
    Write {
        /// The temporary file.
        temp: PathBuf,
        /// Why.
        cause: Cause,
    },
    /// Syncing it.
    Fsync {
        /// The temporary file.
        temp: PathBuf,
        /// Why.
        cause: Cause,
    },
    /// Renaming it over the keys file.
    Rename {
        /// The temporary file.
        temp: PathBuf,
        /// The keys file.
        dest: PathBuf,
        /// Why.
        errno: Errno,
    },
}

impl fmt::Display for WriteStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteStep::Create { temp, errno } => write!(
                f,
                "Failed to create file \u{201c}{}\u{201d}: {}",
                temp.display(),
                strerror(*errno)
            ),
            WriteStep::Write { temp, cause } => write!(
                f,
                "Failed to write file \u{201c}{}\u{201d}: write() failed: {cause}",
                temp.display()
            ),
            WriteStep::Fsync { temp, cause } => write!(
                f,
                "Failed to write file \u{201c}{}\u{201d}: fsync() failed: {cause}",
                temp.display()
            ),
            WriteStep::Rename { temp, dest, errno } => write!(
                f,
                "Failed to rename file \u{201c}{}\u{201d} to \u{201c}{}\u{201d}: g_rename() failed: {}",
                temp.display(),
                dest.display(),
                strerror(*errno)
            ),
        }
    }
}

impl fmt::Display for FileRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileRefusal::LastSymlink => f.write_str(
                "a symbolic link in a sticky world-writable directory is not followed for writing",
            ),
            FileRefusal::ForeignLink { name, owner } => write!(
                f,
                "the symbolic link '{}' in a sticky world-writable directory is owned by uid {owner}, \
                 neither root nor the directory's owner, and is not followed for writing",
                qapi_core::echo(&String::from_utf8_lossy(name))
            ),
            FileRefusal::ForeignOwner { kind, owner } => write!(
                f,
                "{kind} owned by uid {owner}, neither root nor the directory's owner, \
                 in a sticky world-writable directory"
            ),
            FileRefusal::HardLinked { links } => write!(
                f,
                "a file with {links} hard links in a sticky world-writable directory is not opened for writing"
            ),
        }
    }
}

impl fmt::Display for SshRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshRefusal::Link => f.write_str("a symbolic link"),
            SshRefusal::Owner(uid) => write!(f, "owned by uid {uid}, neither the user nor root"),
            SshRefusal::NotAFile => f.write_str("not a regular file"),
            SshRefusal::HardLinks(links) => write!(f, "has {links} hard links"),
            SshRefusal::TooLarge => write!(f, "larger than {MAX_KEYS_FILE} bytes (1 MiB), the most read"),
            SshRefusal::Replaced(uid) => {
                write!(f, "replaced by a directory of uid {uid} while it was being made")
            }
        }
    }
}

/// Why one filesystem of `guest-fstrim` was not trimmed: the text of its
/// entry's `error` member, as QEMU words it (the command itself succeeds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrimFailure {
    /// The mount point could not be opened.
    Open(Cause),
    /// The filesystem does not trim (`ENOTTY`, `EOPNOTSUPP`).
    NotSupported,
    /// `FITRIM` failed.
    Trim(Errno),
}

impl fmt::Display for TrimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrimFailure::Open(cause) => write!(f, "failed to open: {cause}"),
            TrimFailure::NotSupported => f.write_str("trim not supported"),
            TrimFailure::Trim(errno) => write!(f, "failed to trim: {}", strerror(*errno)),
        }
    }
}

/// A guest operation's failure (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandError {
    // --- System calls on paths, as QEMU names them.
    /// `CALL("PATH"): REASON`.
    Call {
        /// The call.
        call: Call,
        /// Its path.
        path: String,
        /// Why it failed.
        cause: Cause,
    },
    /// `CALL sysfs file "NAME": REASON` (memory blocks).
    SysfsFile {
        /// The call.
        call: Call,
        /// The attribute.
        name: String,
        /// Why it failed.
        cause: Cause,
    },

    // --- Time and host.
    /// A `guest-set-time` outside 1970 to 2069.
    InvalidTime,
    /// `clock_settime` failed.
    SetTime(Errno),
    /// The host name does not fit QEMU's buffer.
    HostName(Errno),

    // --- Helper programs.
    /// A helper program failed while doing `action`.
    Child {
        /// What it was to do (`shutdown`, `set user password`, ...).
        action: &'static str,
        /// How it failed.
        failure: ChildFailure,
    },
    /// The pipes for a helper program could not be made.
    PipeFds(Cause),
    /// Writing a helper program's input failed.
    ChildStdin(&'static str, Cause),
    /// Reading a helper program's output failed.
    ChildOutput(&'static str, Cause),
    /// Waiting for a helper program (this pid) failed.
    ChildWait(u32, Cause),

    // --- guest-shutdown, guest-suspend-*.
    /// A `mode` QEMU does not know.
    ShutdownMode,
    /// No suspend method supports the mode.
    SuspendNotSupported,
    /// A suspend mode with no kernel interface (hybrid).
    UnknownSuspendMode,
    /// A suspend helper could not be started.
    SuspendHelper(String, Cause),
    /// A suspend helper is missing.
    HelperNotFound(String),
    /// A suspend helper failed with this status.
    HelperStatus(String, i32),
    /// Writing `power/state` failed.
    SuspendWrite(PathBuf, Cause),

    // --- guest-file-*.
    /// No such handle.
    HandleNotFound(i64),
    /// A `count` out of range.
    InvalidCount(i64),
    /// A mode `fopen()` does not take.
    InvalidOpenMode(String),
    /// [`MAX_HANDLES`] are open already.
    TooManyHandles,
    /// A `whence` number other than 0, 1, 2.
    InvalidWhence(i64),
    /// `open` failed.
    OpenFile {
        /// The path, as given.
        path: String,
        /// The mode, as given.
        mode: String,
        /// Why.
        errno: Errno,
    },
    /// A rule against a guest user's trap refused the path.
    OpenRefused {
        /// The path, as given.
        path: String,
        /// The mode, as given.
        mode: String,
        /// The rule.
        why: FileRefusal,
    },
    /// A new file's permissions could not be set (it was removed).
    CreateMode {
        /// The path, as given.
        path: String,
        /// The mode, as given.
        mode: String,
        /// The permissions it was to have.
        create_mode: u32,
        /// Why.
        errno: Errno,
    },
    /// `read` failed.
    ReadFile(Errno),
    /// `write` failed.
    WriteFile(Errno),
    /// `lseek` failed.
    SeekFile(Errno),
    /// `buf-b64`, `input-data` or a password is not base64.
    Base64,
    /// The handle counter could not be written to the state directory.
    StateCommit,

    // --- guest-fsfreeze-*, guest-fstrim.
    /// The mount table could not be read.
    ReadMountTable(PathBuf, Cause),
    /// A mount point could not be opened.
    OpenMount(String, Cause),
    /// `FIFREEZE` failed.
    FreezeMount(String, Errno),
    /// A freeze runs already.
    FreezeInProgress,
    /// A cancelled freeze's `FIFREEZE` has not returned yet.
    FreezeStuckInKernel,
    /// A thaw or the agent's exit cancelled the freeze.
    FreezeCancelled,
    /// The freeze panicked (a bug); what it froze was thawed.
    FreezePanicked,
    /// The fsfreeze hook at this path failed.
    Hook(PathBuf, HookError),

    // --- guest-exec, guest-exec-status.
    /// A pid `guest-exec` did not start (or whose status was collected).
    UnknownPid,
    /// The process could not be started.
    Spawn(SpawnError),
    /// [`crate::exec::MAX_RUNNING`] processes run already.
    TooManyProcesses,
    /// `input-data` does not fit the memory budget.
    ExecInputTooLarge {
        /// Its decoded size.
        input: usize,
        /// What processes hold now.
        held: usize,
        /// The budget.
        budget: usize,
    },
    /// The I/O thread's eventfd could not be made.
    ExecEventfd(Errno),
    /// The I/O thread could not be started.
    ExecThread(Cause),

    // --- vCPUs, memory blocks, network, disks, statistics.
    /// A processor without an `online` file cannot go offline.
    CannotOffline(i64),
    /// The directory of processors could not be listed.
    ListEntries(String, Cause),
    /// The directory of memory blocks could not be listed.
    MemoryDirectory(String, Cause),
    /// No memory block was found.
    NoMemoryBlocks,
    /// The link and address dumps failed.
    Getifaddrs(Errno),
    /// `/sys/block` could not be listed.
    BlockDirectory(PathBuf, Cause),
    /// Neither mount table could be read.
    Mtab(PathBuf),
    /// `loadavg` could not be read (or parsed: no cause).
    LoadAverage(Option<Cause>),

    // --- guest-set-user-password, guest-ssh-*.
    /// A password with a newline.
    PasswordCharacters,
    /// A user name with a newline or a colon.
    UsernameCharacters,
    /// No such user (the file's error, or none: `Success`).
    UserLookup(String, Option<Cause>),
    /// A key that would not be one line of the file.
    InvalidKey(String),
    /// The keys file could not be opened.
    KeysOpen(PathBuf, Errno),
    /// The keys file could not be read.
    KeysRead(PathBuf, Errno),
    /// A file or directory on the way to the keys, refused.
    SshRefused(PathBuf, SshRefusal),
    /// Making or setting up `~/.ssh` or the keys file failed.
    SshSetup {
        /// What was being done.
        step: SshStep,
        /// To what.
        path: PathBuf,
        /// Why it failed.
        errno: Errno,
    },
    /// Writing the new keys file failed.
    KeysWrite {
        /// The keys file.
        path: PathBuf,
        /// Where it failed.
        step: WriteStep,
    },
}

impl CommandError {
    /// `CALL("PATH"): CAUSE`.
    pub(crate) fn call(call: Call, path: impl fmt::Display, cause: impl Into<Cause>) -> Self {
        CommandError::Call {
            call,
            path: path.to_string(),
            cause: cause.into(),
        }
    }

    /// `CALL("PATH"): CAUSE` for a failed access to the sysfs attribute
    /// at `path`.
    pub(crate) fn attr(path: impl fmt::Display, error: qga_sys::sysfs::AttrError) -> Self {
        let (call, cause) = Call::of_attr(error);
        CommandError::call(call, path, cause)
    }

    /// The failure of the fsfreeze hook at `hook`.
    pub(crate) fn hook(hook: &std::path::Path, error: HookError) -> Self {
        CommandError::Hook(hook.to_path_buf(), error)
    }
}

impl From<InvalidBase64> for CommandError {
    fn from(_: InvalidBase64) -> Self {
        CommandError::Base64
    }
}

/// `child process has failed to ACTION: ...`, and the rest of QEMU's words
/// for a helper program's failure.
fn child_failure(f: &mut fmt::Formatter<'_>, action: &str, failure: &ChildFailure) -> fmt::Result {
    match failure {
        ChildFailure::Exec { program, cause } => writeln!(
            f,
            "child process has failed to {action}: failed to exec '{program}': {cause}"
        ),
        ChildFailure::System(cause) => write!(f, "child process has failed to {action}: {cause}"),
        ChildFailure::Exit { code, output } if output.is_empty() => {
            write!(f, "child process has failed to {action}: exit status {code}")
        }
        ChildFailure::Exit { output, .. } => write!(f, "child process has failed to {action}: {output}"),
        ChildFailure::Signal { output } if output.is_empty() => {
            f.write_str("child process has terminated abnormally")
        }
        ChildFailure::Signal { output } => write!(f, "child process has terminated abnormally: {output}"),
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CommandError as E;
        match self {
            E::Call { call, path, cause } => write!(f, "{call}(\"{path}\"): {cause}"),
            E::SysfsFile { call, name, cause } => write!(f, "{call} sysfs file \"{name}\": {cause}"),

            E::InvalidTime => f.write_str("Invalid time"),
            E::SetTime(errno) => write!(f, "Failed to set time to guest: {}", strerror(*errno)),
            E::HostName(errno) => write!(f, "cannot get hostname: {}", strerror(*errno)),

            E::Child { action, failure } => child_failure(f, action, failure),
            E::PipeFds(cause) => write!(f, "cannot create pipe FDs: {cause}"),
            E::ChildStdin(action, cause) => write!(f, "{action}: cannot write to stdin pipe: {cause}"),
            E::ChildOutput(action, cause) => {
                write!(f, "{action}: cannot read from stdout/stderr pipe: {cause}")
            }
            E::ChildWait(pid, cause) => write!(f, "failed to wait for child (pid: {pid}): {cause}"),

            // QEMU's text, unbalanced parenthesis included.
            E::ShutdownMode => f.write_str("mode is invalid (valid values are: halt|powerdown|reboot"),
            E::SuspendNotSupported => f.write_str("the requested suspend mode is not supported by the guest"),
            E::UnknownSuspendMode => f.write_str("unknown guest suspend mode"),
            E::SuspendHelper(program, cause) => write!(
                f,
                "failed to create child process, error 'Failed to execute child process \
                 \u{201c}{program}\u{201d} ({cause})'"
            ),
            E::HelperNotFound(helper) => write!(f, "the helper program '{helper}' was not found"),
            E::HelperStatus(helper, code) => write!(
                f,
                "the helper program '{helper}' returned an unexpected exit status code ({code})"
            ),
            E::SuspendWrite(path, cause) => {
                write!(f, "suspend: cannot write to '{}': {cause}", path.display())
            }

            E::HandleNotFound(handle) => write!(f, "handle '{handle}' has not been found"),
            E::InvalidCount(count) => write!(f, "value '{count}' is invalid for argument count"),
            E::InvalidOpenMode(mode) => write!(f, "invalid file open mode '{}'", echo(mode)),
            E::TooManyHandles => write!(
                f,
                "too many open files: at most {MAX_HANDLES} guest-file handles may be open"
            ),
            E::InvalidWhence(code) => write!(f, "invalid whence code {code}"),
            E::OpenFile { path, mode, errno } => write!(
                f,
                "failed to open file '{}' (mode: '{}'): {}",
                echo(path),
                echo(mode),
                strerror(*errno)
            ),
            E::OpenRefused { path, mode, why } => write!(
                f,
                "failed to open file '{}' (mode: '{}'): {}: {why}",
                echo(path),
                echo(mode),
                strerror(Errno::ACCESS)
            ),
            E::CreateMode {
                path,
                mode,
                create_mode,
                errno,
            } => write!(
                f,
                "failed to set permission 0{create_mode:o} on new file '{}' (mode: '{}'): {}",
                echo(path),
                echo(mode),
                strerror(*errno)
            ),
            E::ReadFile(errno) => write!(f, "failed to read file: {}", strerror(*errno)),
            E::WriteFile(errno) => write!(f, "failed to write to file: {}", strerror(*errno)),
            E::SeekFile(errno) => write!(f, "failed to seek file: {}", strerror(*errno)),
            E::Base64 => f.write_str("Base64 data contains invalid characters"),
            E::StateCommit => f.write_str("failed to commit persistent state to disk"),

            E::ReadMountTable(path, cause) => write!(f, "failed to read {}: {cause}", path.display()),
            E::OpenMount(dir, cause) => write!(f, "failed to open {dir}: {cause}"),
            E::FreezeMount(dir, errno) => write!(f, "failed to freeze {dir}: {}", strerror(*errno)),
            E::FreezeInProgress => f.write_str("a filesystem freeze is already in progress"),
            E::FreezeStuckInKernel => {
                f.write_str("an earlier filesystem freeze is still inside the kernel (a writer holds it)")
            }
            E::FreezeCancelled => f.write_str(
                "guest-fsfreeze-freeze was cancelled: a thaw was requested or the agent is stopping",
            ),
            E::FreezePanicked => {
                f.write_str("guest-fsfreeze-freeze failed unexpectedly; what it froze was thawed")
            }
            E::Hook(hook, error) => match error {
                HookError::Child(failure) => child_failure(f, "execute fsfreeze hook", failure),
                HookError::TimedOut { limit, output } => {
                    write!(
                        f,
                        "fsfreeze hook '{}' did not finish within {} seconds and was killed with its \
                         process group; ",
                        hook.display(),
                        limit.as_secs_f64()
                    )?;
                    if output.is_empty() {
                        f.write_str("it printed nothing")
                    } else {
                        write!(f, "its last output: {}", output.trim_end())
                    }
                }
                HookError::Cancelled => write!(f, "fsfreeze hook '{}' was cancelled", hook.display()),
            },

            // QEMU 10 prints its format string's `PRId64` literally (see
            // the exec module).
            E::UnknownPid => f.write_str("PID ld does not exist"),
            E::Spawn(error) => match error {
                SpawnError::Fork(cause) => write!(f, "Failed to fork ({cause})"),
                SpawnError::Redirect(cause) => {
                    write!(f, "Failed to redirect output or input of child process ({cause})")
                }
                SpawnError::Exec { path, cause } => write!(
                    f,
                    "Failed to execute child process \u{201C}{}\u{201D} ({cause})",
                    echo(path)
                ),
                SpawnError::Pipe(errno) => write!(
                    f,
                    "Failed to create pipe for communicating with child process ({})",
                    strerror(*errno)
                ),
            },
            E::TooManyProcesses => write!(
                f,
                "too many processes started by guest-exec are still running ({}); wait for some \
                 to end and collect them with guest-exec-status",
                crate::exec::MAX_RUNNING
            ),
            E::ExecInputTooLarge { input, held, budget } => write!(
                f,
                "guest-exec: input-data of {input} bytes does not fit in the {} MiB that guest-exec \
                 may hold for the input and output of all its processes ({held} bytes are held by \
                 processes still running or not collected); collect finished processes with \
                 guest-exec-status, or send less input",
                budget >> 20
            ),
            E::ExecEventfd(errno) => {
                write!(f, "guest-exec: cannot create an eventfd: {}", strerror(*errno))
            }
            E::ExecThread(cause) => write!(f, "guest-exec: cannot start its I/O thread: {cause}"),

            E::CannotOffline(id) => write!(f, "logical processor #{id} can't be offlined"),
            E::ListEntries(dir, cause) => write!(f, "failed to list entries: {dir}: {cause}"),
            // QEMU's text, without a space before the quote.
            E::MemoryDirectory(dir, cause) => write!(f, "Can't open directory\"{dir}\": {cause}"),
            E::NoMemoryBlocks => f.write_str("guest reported zero memory blocks!"),
            E::Getifaddrs(errno) => write!(f, "getifaddrs failed: {}", strerror(*errno)),
            E::BlockDirectory(dir, cause) => {
                write!(f, "Can't open directory \"{}\": {cause}", dir.display())
            }
            E::Mtab(path) => write!(f, "failed to open mtab file: '{}'", path.display()),
            E::LoadAverage(None) => f.write_str("cannot query load average"),
            E::LoadAverage(Some(cause)) => write!(f, "cannot query load average: {cause}"),

            E::PasswordCharacters => f.write_str("forbidden characters in raw password"),
            E::UsernameCharacters => f.write_str("forbidden characters in username"),
            E::UserLookup(name, cause) => match cause {
                Some(cause) => write!(f, "failed to lookup user '{}': {cause}", echo(name)),
                None => write!(f, "failed to lookup user '{}': Success", echo(name)),
            },
            E::InvalidKey(key) => write!(f, "invalid OpenSSH public key: '{}'", echo(key)),
            E::KeysOpen(path, errno) => write!(
                f,
                "failed to read '{0}': Failed to open file \u{201c}{0}\u{201d}: {1}",
                path.display(),
                strerror(*errno)
            ),
            E::KeysRead(path, errno) => write!(
                f,
                "failed to read '{0}': Failed to read from file \u{201c}{0}\u{201d}: {1}",
                path.display(),
                strerror(*errno)
            ),
            E::SshRefused(path, why) => write!(f, "cannot use '{}': {why}", path.display()),
            E::SshSetup { step, path, errno } => {
                write!(f, "failed to {step} '{}': {}", path.display(), strerror(*errno))
            }
            E::KeysWrite { path, step } => write!(f, "failed to write to '{}': {step}", path.display()),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<CommandError> for QapiError {
    fn from(e: CommandError) -> Self {
        QapiError::generic(e.to_string())
    }
}

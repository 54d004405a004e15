//! Log output: standard error or `-l FILE`, one line per record, stamped
//! like QEMU's (`<seconds>.<microseconds>: <level>: <message>`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use log::{Level, LevelFilter};
use qapi_core::FreezeState;

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "critical",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug | Level::Trace => "debug",
    }
}

/// A logger that writes nothing while filesystems are frozen: a write
/// could block the agent (or dirty a snapshot). The frozen state is checked
/// under its own lock, which a freeze takes before its first `FIFREEZE`, so
/// a line being written when a freeze starts is finished first.
struct Suspendable {
    inner: env_logger::Logger,
    frozen: Arc<FreezeState>,
}

impl log::Log for Suspendable {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        !self.frozen.is_frozen() && self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.inner.enabled(record.metadata()) {
            self.frozen.while_thawed(|| self.inner.log(record));
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// The log file, opened again (at the same path) after `reopen` is set, so
/// that a log rotator can move it away and send SIGHUP. An agent started
/// while filesystems are frozen opens it at its first line, after the thaw
/// (creating it could block on a frozen filesystem).
struct ReopeningFile {
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
    reopen: Arc<AtomicBool>,
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new().append(true).create(true).open(path)
}

impl Write for ReopeningFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.reopen.swap(false, Ordering::SeqCst) || self.file.is_none() {
            // If the new file cannot be opened, keep writing to the old one.
            match open_log(&self.path) {
                Ok(file) => self.file = Some(file),
                // A log file deferred until the thaw that cannot be opened
                // then: standard error, as QEMU's agent falls back to.
                Err(_) if self.file.is_none() => return std::io::stderr().write(buf),
                Err(_) => {}
            }
        }
        match &mut self.file {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), std::fs::File::flush)
    }
}

/// Sets up logging: debug records too when `verbose`; nothing is written
/// while `frozen`; the log file is reopened after `reopen` is set.
pub fn init(
    verbose: bool,
    logfile: Option<&Path>,
    frozen: Arc<FreezeState>,
    reopen: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Warn
    });
    builder.format(|out, record| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        writeln!(
            out,
            "{}.{:06}: {}: {}",
            now.as_secs(),
            now.subsec_micros(),
            level_name(record.level()),
            record.args()
        )
    });
    if let Some(path) = logfile {
        let file = if frozen.is_frozen() {
            None
        } else {
            Some(open_log(path).with_context(|| format!("failed to open log file {}", path.display()))?)
        };
        builder.target(env_logger::Target::Pipe(Box::new(ReopeningFile {
            path: path.to_path_buf(),
            file,
            reopen,
        })));
    } else {
        builder.target(env_logger::Target::Stderr);
    }
    let inner = builder.build();
    let level = inner.filter();
    log::set_boxed_logger(Box::new(Suspendable { inner, frozen })).context("failed to set up logging")?;
    log::set_max_level(level);
    Ok(())
}

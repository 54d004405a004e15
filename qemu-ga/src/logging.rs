//! Log output: standard error or `-l FILE`, one line per record, stamped
//! like QEMU's (`<seconds>.<microseconds>: <level>: <message>`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use log::{Level, LevelFilter};

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "critical",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug | Level::Trace => "debug",
    }
}

/// Sets up logging: debug records too when `verbose`.
pub fn init(verbose: bool, logfile: Option<&Path>) -> anyhow::Result<()> {
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
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("failed to open log file {}", path.display()))?;
        builder.target(env_logger::Target::Pipe(Box::new(file)));
    } else {
        builder.target(env_logger::Target::Stderr);
    }
    builder.try_init().context("failed to set up logging")
}

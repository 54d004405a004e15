//! A host-side client: connects to an agent's socket, synchronizes with
//! `guest-sync-delimited`, runs one command and prints the reply.
//!
//! ```text
//! qga-client SOCKET COMMAND [ARGUMENTS-JSON]
//! qga-client ./qga.sock guest-sync '{"id": 42}'
//! ```
//!
//! It is what a host tool embedding `qga-protocol` needs and no more: a
//! stream, [`Client::sync`], [`Client::execute`]. The socket can be the
//! agent's own (`-m unix-listen`) or the host end of QEMU's chardev for a
//! virtio-serial port.
#![forbid(unsafe_code)]

use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use qga_protocol::{to_json, Client, ClientError, Request};
use serde_json::Value;

/// Commands that answer only when they fail.
const SILENT_ON_SUCCESS: [&str; 4] = [
    "guest-shutdown",
    "guest-suspend-disk",
    "guest-suspend-ram",
    "guest-suspend-hybrid",
];

fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (socket, command, arguments) = match args.as_slice() {
        [socket, command] => (socket, command, None),
        [socket, command, arguments] => (socket, command, Some(arguments)),
        _ => bail!("usage: qga-client SOCKET COMMAND [ARGUMENTS-JSON]"),
    };
    let mut request = Request::new(command.as_str());
    if let Some(arguments) = arguments {
        let value: Value = serde_json::from_str(arguments).context("ARGUMENTS-JSON is not valid JSON")?;
        if !value.is_object() {
            bail!("ARGUMENTS-JSON must be a JSON object");
        }
        request = request.with_arguments(value);
    }
    let stream = UnixStream::connect(socket).with_context(|| format!("cannot connect to {socket}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut client = Client::new(stream);
    client
        .sync()
        .context("the agent did not answer the sync handshake")?;
    if SILENT_ON_SUCCESS.contains(&command.as_str()) {
        client.send(&request)?;
        return Ok(ExitCode::SUCCESS);
    }
    match client.execute(&request) {
        Ok(value) => {
            println!(
                "{}",
                String::from_utf8_lossy(&to_json(&serde_json::json!({ "return": value }))?)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Agent(error)) => {
            println!(
                "{}",
                String::from_utf8_lossy(&to_json(&serde_json::json!({ "error": error }))?)
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn main() -> ExitCode {
    run().unwrap_or_else(|e| {
        eprintln!("qga-client: {e:#}");
        ExitCode::from(2)
    })
}

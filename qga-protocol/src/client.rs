//! A host-side connection to an agent over any byte stream.
//!
//! This is all a host tool needs to talk to an agent: connect a stream
//! (a Unix socket, a QEMU chardev socket, a serial port), wrap it in a
//! [`Client`], call [`Client::sync`] once, then [`Client::execute`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::message::{ErrorObject, Reply, ReplyError, Request, SENTINEL};

/// Longest reply line a client accepts: a 48 MiB `guest-file-read` in base64
/// plus room for the rest of the reply.
pub const MAX_REPLY_BYTES: usize = 96 << 20;

/// Why a call through a [`Client`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Reading or writing the stream failed (including read time-outs).
    #[error("I/O error talking to the agent")]
    Io(#[from] io::Error),
    /// The agent closed the stream.
    #[error("the agent closed the connection")]
    Closed,
    /// The agent sent a line that is not a reply.
    #[error("bad reply from the agent")]
    BadReply(#[from] ReplyError),
    /// A reply line longer than [`MAX_REPLY_BYTES`].
    #[error("reply longer than {MAX_REPLY_BYTES} bytes")]
    ReplyTooLong,
    /// The agent answered with an error reply.
    #[error("{}: {}", .0.class, .0.desc)]
    Agent(ErrorObject),
    /// The result did not have the expected type.
    #[error("unexpected result type")]
    ResultType(#[source] serde_json::Error),
}

/// A connection to an agent.
#[derive(Debug)]
pub struct Client<S> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
}

/// A fresh, unpredictable, positive sync id.
pub fn fresh_sync_id() -> i64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    (hasher.finish() >> 1) as i64
}

impl<S: Read + Write> Client<S> {
    /// Wraps a connected stream. Set any read time-out on the stream itself.
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            buf: Vec::with_capacity(4096),
            start: 0,
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Brings the channel to a known state with `guest-sync-delimited`, so
    /// that the next reply read is the answer to the next request.
    ///
    /// Sends 0xFF (dropping whatever partial input the agent holds), then the
    /// sync with a fresh id; skips everything up to each 0xFF the agent
    /// writes, and every reply that is not the matching one. Returns the id.
    pub fn sync(&mut self) -> Result<i64, ClientError> {
        let id = fresh_sync_id();
        self.sync_with_id(id)?;
        Ok(id)
    }

    /// [`Client::sync`] with a caller-chosen id.
    pub fn sync_with_id(&mut self, id: i64) -> Result<(), ClientError> {
        let request = Request::new("guest-sync-delimited").with_arguments(serde_json::json!({ "id": id }));
        let mut bytes = vec![SENTINEL];
        bytes.extend_from_slice(&request.encode());
        self.stream.write_all(&bytes)?;
        self.stream.flush()?;
        loop {
            self.skip_past_sentinel()?;
            let line = self.read_line()?;
            if let Ok(Reply::Return { value, .. }) = Reply::decode(&line) {
                if value.as_i64() == Some(id) {
                    return Ok(());
                }
            }
        }
    }

    /// Sends a request and returns its result, or the agent's error.
    pub fn execute(&mut self, request: &Request) -> Result<Value, ClientError> {
        self.send(request)?;
        match self.read_reply()? {
            Reply::Return { value, .. } => Ok(value),
            Reply::Error { error, .. } => Err(ClientError::Agent(error)),
        }
    }

    /// Calls `command` with typed arguments and result.
    pub fn call<A: Serialize, R: DeserializeOwned>(
        &mut self,
        command: &str,
        arguments: &A,
    ) -> Result<R, ClientError> {
        let arguments = serde_json::to_value(arguments).map_err(ClientError::ResultType)?;
        let value = self.execute(&Request::new(command).with_arguments(arguments))?;
        serde_json::from_value(value).map_err(ClientError::ResultType)
    }

    /// Sends a request without reading a reply (for `guest-shutdown` and the
    /// suspend commands, which reply only on failure).
    pub fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        self.stream.write_all(&request.encode())?;
        self.stream.flush()?;
        Ok(())
    }

    /// Reads the next reply.
    pub fn read_reply(&mut self) -> Result<Reply, ClientError> {
        let line = self.read_line()?;
        Ok(Reply::decode(&line)?)
    }

    /// Reads up to and without the next newline, dropping 0xFF bytes.
    fn read_line(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            let pending = &self.buf[self.start..];
            if let Some(end) = memchr::memchr(b'\n', pending) {
                let line: Vec<u8> = pending[..end]
                    .iter()
                    .copied()
                    .filter(|&b| b != SENTINEL)
                    .collect();
                self.start += end + 1;
                return Ok(line);
            }
            if pending.len() > MAX_REPLY_BYTES {
                return Err(ClientError::ReplyTooLong);
            }
            self.fill()?;
        }
    }

    /// Drops input up to and including the next 0xFF.
    fn skip_past_sentinel(&mut self) -> Result<(), ClientError> {
        loop {
            if let Some(at) = memchr::memchr(SENTINEL, &self.buf[self.start..]) {
                self.start += at + 1;
                return Ok(());
            }
            self.start = self.buf.len();
            self.fill()?;
        }
    }

    fn fill(&mut self) -> Result<(), ClientError> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 65536, 0);
        let n = loop {
            match self.stream.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e.into());
                }
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            return Err(ClientError::Closed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Cursor;

    /// A stream whose reads come from a script and whose writes are kept.
    struct Scripted {
        input: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }
    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn client(script: &[u8]) -> Client<Scripted> {
        Client::new(Scripted {
            input: Cursor::new(script.to_vec()),
            written: Vec::new(),
        })
    }

    #[test]
    fn sync_skips_stale_replies_until_its_id() {
        let script = b"{\"return\": 42}\n\xff{\"return\": 2}\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}\n\
                       \xff{\"return\": 42}\n{\"return\": {}}\n";
        let mut client = client(script);
        client.sync_with_id(42).unwrap();
        let sent = &client.get_ref().written;
        assert_eq!(sent[0], SENTINEL);
        let request = Request::decode(&sent[1..]).unwrap();
        assert_eq!(request.execute, "guest-sync-delimited");
        assert_eq!(request.arguments.unwrap()["id"], 42);
        // The stale 42 before the first 0xFF was skipped; the next reply is
        // the one after the matching sync.
        assert_eq!(
            client.read_reply().unwrap(),
            Reply::Return {
                value: serde_json::json!({}),
                id: None
            }
        );
    }

    #[test]
    fn sync_fails_when_the_agent_goes_away() {
        let mut client = client(b"\xff{\"return\": 1}\n");
        assert!(matches!(client.sync_with_id(7), Err(ClientError::Closed)));
    }

    #[test]
    fn execute_returns_agent_errors() {
        let mut client = client(b"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"nope\"}}\n");
        let err = client.execute(&Request::new("x")).unwrap_err();
        assert_eq!(err.to_string(), "CommandNotFound: nope");
    }
}

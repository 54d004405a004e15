//! Requests and replies: the shapes of the messages on the wire.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::parser::{parse_message, ParseError};
use crate::writer::write_json;

/// Most bytes of peer-supplied text (a command, member or parameter name,
/// a keyword, a path, a reply that is not one) that an error repeats.
pub const ECHO_MAX: usize = 1024;

/// `text` as an error may repeat it: whole when it is at most [`ECHO_MAX`]
/// bytes, else its first bytes (cut at a character boundary) followed by
/// `...`. Anything a peer sent that an error quotes goes through this, so
/// a hostile message cannot make a reply larger than a few KiB.
pub fn echo(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= ECHO_MAX {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = ECHO_MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}...", &text[..cut]))
}

/// Longest `id` (as the reply would write it) a request may carry. The
/// reply repeats the id unchanged, so a longer one is refused rather than
/// echoed: a request could otherwise make a reply of hundreds of MiB (a
/// character such as DEL is written as six bytes).
pub const ID_MAX: usize = 1 << 20;

/// The byte the agent writes before its reply to `guest-sync-delimited`, and
/// that a host sends to reset the agent's parser.
pub const SENTINEL: u8 = 0xFF;

/// One command call: `{"execute": ..., "arguments": {...}, "id": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The command's name.
    pub execute: String,
    /// The command's arguments; `None` when the member was left out.
    pub arguments: Option<Map<String, Value>>,
    /// Any JSON value, echoed back unchanged in the reply.
    pub id: Option<Value>,
}

/// Why a parsed message is not a request. The display text is QEMU's desc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The message is an array or a scalar.
    #[error("QMP input must be a JSON object")]
    NotAnObject,
    /// No `execute` member.
    #[error("QMP input lacks member 'execute'")]
    MissingExecute,
    /// `execute` is not a string.
    #[error("QMP input member 'execute' must be a string")]
    ExecuteNotString,
    /// `arguments` is not an object.
    #[error("QMP input member 'arguments' must be an object")]
    ArgumentsNotObject,
    /// A member other than `execute`, `arguments` and `id` (including
    /// `exec-oob`, which the guest agent does not support); a name longer
    /// than 1 KiB is kept as its first KiB and `...`.
    #[error("QMP input member '{0}' is unexpected")]
    UnexpectedMember(String),
    /// The `id` is longer than [`ID_MAX`] as the reply would write it
    /// (this agent's own limit; QEMU echoes any id).
    #[error("QMP input member 'id' is longer than {ID_MAX} bytes")]
    IdTooLong,
}

/// A message that is not a valid request, with the `id` to echo if it had one.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected<E> {
    /// What was wrong.
    pub error: E,
    /// The request's `id`, when the message was an object that had one.
    pub id: Option<Value>,
}

/// Why bytes could not be decoded into a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Valid JSON, but not a request.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl Request {
    /// A request for `execute` with no arguments and no id.
    pub fn new(execute: impl Into<String>) -> Self {
        Request {
            execute: execute.into(),
            arguments: None,
            id: None,
        }
    }

    /// Sets the arguments; a value that is not an object is ignored.
    pub fn with_arguments(mut self, arguments: Value) -> Self {
        if let Value::Object(map) = arguments {
            self.arguments = Some(map);
        }
        self
    }

    /// Sets the id the reply will echo.
    pub fn with_id(mut self, id: Value) -> Self {
        self.id = Some(id);
        self
    }

    /// Parses and checks one framed message.
    pub fn decode(text: &[u8]) -> Result<Request, Rejected<DecodeError>> {
        let value = parse_message(text).map_err(|e| Rejected {
            error: e.into(),
            id: None,
        })?;
        // No byte of a message is written back as more than six (`\u007F`):
        // a short message cannot hold an id too long to echo.
        let id_may_be_long = text.len().saturating_mul(6) > ID_MAX;
        Request::checked(value, id_may_be_long).map_err(|r| Rejected {
            error: r.error.into(),
            id: r.id,
        })
    }

    /// Checks a parsed message the way QEMU's dispatcher does.
    pub fn from_value(value: Value) -> Result<Request, Rejected<RequestError>> {
        Request::checked(value, true)
    }

    /// [`Request::from_value`], measuring the id only if it may be too long.
    fn checked(value: Value, id_may_be_long: bool) -> Result<Request, Rejected<RequestError>> {
        let Value::Object(members) = value else {
            return Err(Rejected {
                error: RequestError::NotAnObject,
                id: None,
            });
        };
        let mut execute = None;
        let mut arguments = None;
        let mut id = None;
        let mut error = None;
        for (key, value) in members {
            let problem = match key.as_str() {
                "execute" => match value {
                    Value::String(name) => {
                        execute = Some(name);
                        None
                    }
                    _ => Some(RequestError::ExecuteNotString),
                },
                "arguments" => match value {
                    Value::Object(map) => {
                        arguments = Some(map);
                        None
                    }
                    _ => Some(RequestError::ArgumentsNotObject),
                },
                "id" => {
                    id = Some(value);
                    None
                }
                // Only the first problem is reported: name no other.
                _ if error.is_none() => Some(RequestError::UnexpectedMember(echo(&key).into_owned())),
                _ => None,
            };
            if error.is_none() {
                error = problem;
            }
        }
        if id_may_be_long
            && id
                .as_ref()
                .is_some_and(|id| crate::writer::to_json(id).map_or(true, |text| text.len() > ID_MAX))
        {
            return Err(Rejected {
                error: RequestError::IdTooLong,
                id: None,
            });
        }
        if let Some(error) = error {
            return Err(Rejected { error, id });
        }
        match execute {
            Some(execute) => Ok(Request {
                execute,
                arguments,
                id,
            }),
            None => Err(Rejected {
                error: RequestError::MissingExecute,
                id,
            }),
        }
    }

    /// The request as bytes to send, without a trailing newline.
    pub fn encode(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wire<'a> {
            execute: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            arguments: Option<&'a Map<String, Value>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a Value>,
        }
        let mut out = Vec::with_capacity(64);
        // Serializing maps of JSON values into a Vec cannot fail.
        let _ = write_json(
            &mut out,
            &Wire {
                execute: &self.execute,
                arguments: self.arguments.as_ref(),
                id: self.id.as_ref(),
            },
        );
        out
    }
}

/// The class of an error reply. Current QEMU's agent uses only these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// Every failure that is not an unknown or disabled command.
    GenericError,
    /// The command does not exist, or is disabled.
    CommandNotFound,
}

impl ErrorClass {
    /// The class name as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::GenericError => "GenericError",
            ErrorClass::CommandNotFound => "CommandNotFound",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` member of an error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The class name. A `String`, not an [`ErrorClass`], so that a host
    /// can read the legacy classes old agents sent.
    pub class: String,
    /// Human-readable description.
    pub desc: String,
}

/// A reply as a host reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `{"return": ..., "id": ...}`
    Return {
        /// The command's result.
        value: Value,
        /// The request's id, if it had one.
        id: Option<Value>,
    },
    /// `{"error": {"class": ..., "desc": ...}, "id": ...}`
    Error {
        /// What went wrong.
        error: ErrorObject,
        /// The request's id, if it had one.
        id: Option<Value>,
    },
}

/// Why a line from the agent is not a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Not valid JSON.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Valid JSON, but neither a `return` nor an `error` object (its first
    /// KiB).
    #[error("not a reply: {0}")]
    NotAReply(String),
}

impl Reply {
    /// Reads one reply, classifying it by its `return` or `error` member.
    pub fn decode(text: &[u8]) -> Result<Reply, ReplyError> {
        let value = parse_message(text)?;
        let not_a_reply = || {
            ReplyError::NotAReply(
                echo(&String::from_utf8_lossy(&text[..text.len().min(4 * ECHO_MAX)])).into_owned(),
            )
        };
        let Value::Object(mut members) = value else {
            return Err(not_a_reply());
        };
        let id = members.remove("id");
        if let Some(value) = members.remove("return") {
            return Ok(Reply::Return { value, id });
        }
        match members.remove("error") {
            Some(error) => {
                let error = serde_json::from_value(error).map_err(|_| not_a_reply())?;
                Ok(Reply::Error { error, id })
            }
            None => Err(not_a_reply()),
        }
    }

    /// The id echoed in this reply.
    pub fn id(&self) -> Option<&Value> {
        match self {
            Reply::Return { id, .. } | Reply::Error { id, .. } => id.as_ref(),
        }
    }
}

/// Appends a success reply carrying an already serialized result, in QEMU's
/// member order (`return` before `id`), and the closing newline.
pub fn encode_return(out: &mut Vec<u8>, value_json: &[u8], id: Option<&Value>) {
    out.extend_from_slice(b"{\"return\": ");
    out.extend_from_slice(value_json);
    if let Some(id) = id {
        out.extend_from_slice(b", \"id\": ");
        let _ = write_json(out, id);
    }
    out.extend_from_slice(b"}\n");
}

/// Appends an error reply in QEMU's member order (`id` before `error`) and
/// the closing newline.
pub fn encode_error(out: &mut Vec<u8>, class: ErrorClass, desc: &str, id: Option<&Value>) {
    out.push(b'{');
    if let Some(id) = id {
        out.extend_from_slice(b"\"id\": ");
        let _ = write_json(out, id);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(b"\"error\": {\"class\": \"");
    out.extend_from_slice(class.as_str().as_bytes());
    out.extend_from_slice(b"\", \"desc\": ");
    let _ = write_json(out, desc);
    out.extend_from_slice(b"}}\n");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn reject(text: &str) -> (String, Option<Value>) {
        let r = Request::decode(text.as_bytes()).unwrap_err();
        (r.error.to_string(), r.id)
    }

    #[test]
    fn request_checks_match_qemu() {
        assert_eq!(reject("42").0, "QMP input must be a JSON object");
        assert_eq!(reject("{}").0, "QMP input lacks member 'execute'");
        assert_eq!(
            reject(r#"{"id":1}"#),
            ("QMP input lacks member 'execute'".into(), Some(json!(1)))
        );
        assert_eq!(
            reject(r#"{"execute":1}"#).0,
            "QMP input member 'execute' must be a string"
        );
        assert_eq!(
            reject(r#"{"execute":"x","arguments":null}"#).0,
            "QMP input member 'arguments' must be an object"
        );
        assert_eq!(
            reject(r#"{"exec-oob":"x"}"#).0,
            "QMP input member 'exec-oob' is unexpected"
        );
        assert_eq!(
            reject(r#"{"execute":"x","control":1}"#).0,
            "QMP input member 'control' is unexpected"
        );
        let ok = Request::decode(br#"{"execute":"guest-sync","arguments":{"id":5},"id":"a"}"#).unwrap();
        assert_eq!(ok.execute, "guest-sync");
        assert_eq!(ok.id, Some(json!("a")));
        assert_eq!(ok.arguments.unwrap()["id"], json!(5));
    }

    #[test]
    fn an_id_longer_than_its_limit_is_refused_not_echoed() {
        // The longest id that is echoed: a string of ID_MAX bytes of JSON.
        let longest = format!("\"{}\"", "x".repeat(ID_MAX - 2));
        let ok = Request::decode(format!("{{\"execute\":\"x\",\"id\":{longest}}}").as_bytes()).unwrap();
        assert_eq!(crate::writer::to_json(&ok.id).unwrap().len(), ID_MAX);
        let longer = format!("\"{}\"", "x".repeat(ID_MAX - 1));
        assert_eq!(
            reject(&format!("{{\"execute\":\"x\",\"id\":{longer}}}")),
            ("QMP input member 'id' is longer than 1048576 bytes".into(), None)
        );
        // Escaped characters count as written: DEL is six bytes.
        let del = format!("\"{}\"", "\u{7f}".repeat(ID_MAX / 6 + 1));
        assert_eq!(reject(&format!("{{\"id\":{del}}}")).1, None);
    }

    #[test]
    fn huge_member_names_are_quoted_short() {
        let name = "\u{7f}".repeat(8 << 20);
        let message = format!("{{\"execute\":\"x\",\"{name}\":1,\"{name}{name}\":2,\"id\":7}}");
        let (text, id) = reject(&message);
        assert_eq!(
            text,
            format!(
                "QMP input member '{}...' is unexpected",
                "\u{7f}".repeat(ECHO_MAX)
            )
        );
        assert_eq!(id, Some(json!(7)));
        // Cut at a character boundary.
        let wide = "\u{e9}".repeat(ECHO_MAX);
        let (text, _) = reject(&format!("{{\"{wide}\":1}}"));
        assert_eq!(
            text,
            format!(
                "QMP input member '{}...' is unexpected",
                "\u{e9}".repeat(ECHO_MAX / 2)
            )
        );
        let exact = "m".repeat(ECHO_MAX);
        assert_eq!(
            reject(&format!("{{\"{exact}\":1}}")).0,
            format!("QMP input member '{exact}' is unexpected")
        );
        let not_a_reply = format!("{{\"event\":\"{}\"}}", "e".repeat(1 << 20));
        let error = Reply::decode(not_a_reply.as_bytes()).unwrap_err().to_string();
        assert!(error.len() < ECHO_MAX + 32, "{} bytes", error.len());
    }

    #[test]
    fn replies_are_written_in_qemu_order() {
        let mut out = Vec::new();
        encode_return(&mut out, b"{}", Some(&json!("abc")));
        encode_error(
            &mut out,
            ErrorClass::CommandNotFound,
            "The command nope has not been found",
            Some(&json!(5)),
        );
        encode_error(&mut out, ErrorClass::GenericError, "stray '\u{fffd}'", None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"return\": {}, \"id\": \"abc\"}\n\
             {\"id\": 5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}}\n\
             {\"error\": {\"class\": \"GenericError\", \"desc\": \"stray '\\uFFFD'\"}}\n"
        );
    }

    #[test]
    fn replies_decode_by_key() {
        let r = Reply::decode(br#"{"id": 5, "error": {"class": "CommandNotFound", "desc": "x"}}"#).unwrap();
        assert_eq!(r.id(), Some(&json!(5)));
        assert!(matches!(r, Reply::Error { error, .. } if error.class == "CommandNotFound"));
        assert_eq!(
            Reply::decode(br#"{"return": 7}"#).unwrap(),
            Reply::Return {
                value: json!(7),
                id: None
            }
        );
        assert!(Reply::decode(br#"{"event": "x"}"#).is_err());
    }

    #[test]
    fn requests_round_trip() {
        let r = Request::new("guest-sync")
            .with_arguments(json!({"id": 1}))
            .with_id(json!([1]));
        assert_eq!(
            r.encode(),
            br#"{"execute": "guest-sync", "arguments": {"id": 1}, "id": [1]}"#
        );
        assert_eq!(Request::decode(&r.encode()).unwrap(), r);
    }
}

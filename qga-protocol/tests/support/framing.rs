//! Helpers for tests of the framer and the JSON writer, shared by the
//! property tests and the fuzz targets (`fuzz/`, included with `#[path]`).
#![allow(dead_code)]

use qga_protocol::{Frame, FrameError, Framer};
use serde_json::Value;

/// What the framer produced, owned, so runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Msg(Vec<u8>),
    Err(FrameError),
}

impl Out {
    /// The message, if this is one.
    pub fn message(&self) -> Option<&[u8]> {
        match self {
            Out::Msg(m) => Some(m),
            Out::Err(_) => None,
        }
    }
}

/// Feeds `chunks` in turn and collects every frame.
pub fn feed_chunks<'a>(framer: &mut Framer, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Out> {
    let mut out = Vec::new();
    for chunk in chunks {
        framer.feed(chunk, |f| {
            out.push(match f {
                Frame::Message(m) => Out::Msg(m.to_vec()),
                Frame::Error(e) => Out::Err(e),
            })
        });
    }
    out
}

/// Feeds `chunks` in turn, stopping after every frame and feeding the rest
/// of the chunk again (as a session that runs each request before it reads
/// on does), and collects every frame.
pub fn feed_chunks_stopping<'a>(framer: &mut Framer, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Out> {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = chunk;
        loop {
            let taken = framer.feed_until(rest, |f| {
                out.push(match f {
                    Frame::Message(m) => Out::Msg(m.to_vec()),
                    Frame::Error(e) => Out::Err(e),
                });
                false
            });
            assert!(taken <= rest.len());
            rest = &rest[taken..];
            if rest.is_empty() {
                break;
            }
        }
    }
    out
}

/// JSON equality where numbers compare by value (`1.0` prints as `1`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && json_eq(va, vb))
        }
        _ => a == b,
    }
}

/// Deepest nesting of `{`/`[` in a message the framer handed over (which is
/// lexically valid, so a quote-aware scan is enough).
pub fn nesting_depth(message: &[u8]) -> usize {
    let (mut depth, mut max) = (0i64, 0i64);
    let mut quote = None;
    let mut escaped = false;
    for &b in message {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'{' | b'[' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b'}' | b']' => depth -= 1,
                _ => {}
            },
        }
    }
    max as usize
}

/// Frames with the text of `Stray` errors reduced to their last byte (the one
/// that could not continue the token): see `bug_stray_text_depends_on_split`
/// in the property tests.
pub fn lax(out: &[Out]) -> Vec<Out> {
    out.iter()
        .map(|o| match o {
            Out::Err(FrameError::Stray(text)) => {
                Out::Err(FrameError::Stray(text.last().copied().into_iter().collect()))
            }
            other => other.clone(),
        })
        .collect()
}

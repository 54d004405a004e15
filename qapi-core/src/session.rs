//! One conversation with a host, sans-IO: bytes in, reply bytes out.

use qga_protocol::{Frame, Framer};

use crate::dispatch::Dispatcher;

/// Frames incoming bytes and dispatches each message, in order.
#[derive(Debug)]
pub struct Session {
    framer: Framer,
    dispatcher: Dispatcher,
}

impl Session {
    /// A session over `dispatcher` with QEMU's framing limits.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Session::with_framer(Framer::new(), dispatcher)
    }

    /// A session with a given framer (for other limits).
    pub fn with_framer(framer: Framer, dispatcher: Dispatcher) -> Self {
        Session { framer, dispatcher }
    }

    /// The dispatcher behind this session.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Processes the next bytes from the host: replies are appended to
    /// `out`; `flush` is called with `out` before any command that may block,
    /// and should write and clear it.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, flush: &mut dyn FnMut(&mut Vec<u8>)) {
        let Session { framer, dispatcher } = self;
        framer.feed(input, |frame| match frame {
            Frame::Message(message) => dispatcher.message(message, out, flush),
            Frame::Error(error) => dispatcher.frame_error(error, out),
        });
    }

    /// Forgets partial input, for a new host connection. Agent state (the
    /// registry, open handles) is not affected.
    pub fn reset(&mut self) {
        self.framer.reset();
    }
}

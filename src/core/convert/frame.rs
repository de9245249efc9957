//! The two values a stream conversion passes between its steps: a [`Delta`] (one normalised
//! streaming fact a parser step yields) and a [`Frame`] (one outgoing SSE event an emitter step
//! yields, with its SSE writer).

use serde_json::Value;

use super::ir::{Blob, StopReason};
use super::usage::Usage;

/// One normalised streaming fact, independent of any dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// The upstream message began (ids as the upstream gave them).
    Start {
        id: String,
    },
    Text(String),
    Thinking(String),
    /// A signature for the thinking just streamed.
    Signature(Blob),
    /// A tool call begins; `key` identifies it for later argument fragments.
    ToolStart {
        key: u64,
        id: String,
        name: String,
    },
    ToolArgs {
        key: u64,
        fragment: String,
    },
    /// The cumulative usage so far (replaces earlier values).
    Usage(Usage),
    Finish(StopReason),
    /// The upstream's terminal event arrived.
    Done,
    /// The upstream reported an error in-band.
    Error {
        status: u16,
        message: String,
    },
}

/// One outgoing SSE frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event {
        /// The `event:` line (Anthropic, Responses); `None` for data-only dialects (Chat,
        /// Completions, Gemini — whose SDK drops any frame that does not start with `data:`).
        name: Option<String>,
        data: Value,
    },
    /// `data: [DONE]` (Chat and Completions only).
    DoneMarker,
}

impl Frame {
    pub fn data(data: Value) -> Frame {
        Frame::Event { name: None, data }
    }

    pub fn named(name: &str, data: Value) -> Frame {
        Frame::Event {
            name: Some(name.to_string()),
            data,
        }
    }

    /// Appends the frame in SSE framing.
    pub fn write_sse(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Event { name, data } => {
                if let Some(name) = name {
                    out.extend_from_slice(b"event: ");
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'\n');
                }
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(data.to_string().as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            Frame::DoneMarker => out.extend_from_slice(b"data: [DONE]\n\n"),
        }
    }
}

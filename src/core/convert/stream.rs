//! Streaming conversion: upstream SSE bytes → per-dialect parser step → [`Delta`]s → per-dialect
//! emitter step → frames in the client's framing. Both steps are pure `(event, &mut state)`
//! functions; only the Gemini emitter buffers (function calls until the finish).

use crate::core::dialect::Dialect;
use crate::core::sse::{SseDecoder, SseEvent};

use super::context::{GeminiFraming, ResponseContext};
use super::dialects::{Emitter, Parser};
use super::frame::{Delta, Frame};
use super::usage::Usage;

/// Converts one upstream stream into the client's dialect, chunk by chunk.
#[derive(Debug)]
pub struct StreamConverter {
    ctx: ResponseContext,
    decoder: SseDecoder,
    parser: Parser,
    emitter: Emitter,
    usage: Usage,
    /// Records written so far in Gemini JSON-array framing (for `[` and `,`); the framing is
    /// cleared once `]` is written.
    array_records: u64,
    /// A terminal frame (completion or error) went out: nothing may follow.
    closed: bool,
    saw_finish: bool,
}

impl StreamConverter {
    pub fn new(ctx: ResponseContext) -> Self {
        StreamConverter {
            decoder: SseDecoder::new(),
            parser: Parser::new(ctx.upstream),
            emitter: Emitter::new(&ctx),
            usage: Usage::default(),
            array_records: 0,
            closed: false,
            saw_finish: false,
            ctx,
        }
    }

    /// Raw upstream bytes in, bytes for the client out.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        let events = self.decoder.feed(bytes);
        let mut out = Vec::new();
        for event in events {
            self.event(&event, &mut out);
        }
        out
    }

    /// The upstream ended: terminal events are sent even when it ended early. A stream that
    /// ended before any finish signal is reported as an in-band error (it was cut).
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(event) = self.decoder.finish() {
            self.event(&event, &mut out);
        }
        if !self.closed {
            let delta = if self.saw_finish {
                Delta::Done
            } else {
                Delta::Error {
                    status: 502,
                    message: "upstream stream ended before completion".into(),
                }
            };
            self.apply(&delta, &mut out);
        }
        self.close_array(&mut out);
        out
    }

    /// An in-band error frame in the client's dialect (e.g. the upstream connection broke).
    pub fn error(&mut self, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.closed {
            self.apply(
                &Delta::Error {
                    status: 502,
                    message: message.to_string(),
                },
                &mut out,
            );
        }
        self.close_array(&mut out);
        out
    }

    /// Tokens seen so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether the client gets Gemini's JSON-array framing (not SSE): no keep-alive frames fit.
    pub fn client_framing_is_json_array(&self) -> bool {
        self.ctx.client == Dialect::Gemini
            && self.ctx.gemini_framing == Some(GeminiFraming::JsonArray)
    }

    /// Whether the client got its terminal event.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn event(&mut self, event: &SseEvent, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        for delta in self.parser.step(event) {
            self.apply(&delta, out);
        }
    }

    fn apply(&mut self, delta: &Delta, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        let restored;
        let delta = match delta {
            Delta::ToolStart { key, id, name } if !self.ctx.tool_names.is_empty() => {
                restored = Delta::ToolStart {
                    key: *key,
                    id: id.clone(),
                    name: self.ctx.tool_names.restore(name),
                };
                &restored
            }
            Delta::Usage(u) => {
                self.usage = *u;
                delta
            }
            Delta::Finish(_) => {
                self.saw_finish = true;
                delta
            }
            _ => delta,
        };
        if matches!(delta, Delta::Done | Delta::Error { .. }) {
            self.closed = true;
        }
        for frame in self.emitter.step(delta) {
            self.write(&frame, out);
        }
    }

    fn write(&mut self, frame: &Frame, out: &mut Vec<u8>) {
        if self.ctx.gemini_framing == Some(GeminiFraming::JsonArray) {
            if let Frame::Event { data, .. } = frame {
                out.extend_from_slice(if self.array_records == 0 {
                    b"["
                } else {
                    b",\r\n"
                });
                out.extend_from_slice(data.to_string().as_bytes());
                self.array_records += 1;
            }
            return;
        }
        frame.write_sse(out);
    }

    fn close_array(&mut self, out: &mut Vec<u8>) {
        if self.ctx.gemini_framing == Some(GeminiFraming::JsonArray) {
            if self.array_records == 0 {
                out.push(b'[');
            }
            out.push(b']');
            self.ctx.gemini_framing = None;
        }
    }
}

//! The one face every dialect module shows: a unit struct implementing [`Codec`], which parses
//! and emits that dialect's requests, responses and stream events to and from the internal
//! representation. `dialects` dispatches on [`Dialect`](crate::core::dialect::Dialect) to them.

use crate::core::sse::SseEvent;
use serde_json::Value;
use std::fmt::Debug;

use super::context::ResponseContext;
use super::errors::ConvertError;
use super::frame::{Delta, Frame};
use super::ir::{Request, Response};

/// A dialect's request, response and stream converters. Stream steps are pure
/// `(input, &mut state) -> outputs` functions over the dialect's own state types.
pub trait Codec {
    /// State of the parser reading this dialect's upstream stream.
    type Parser: Debug + Default;
    /// State of the emitter writing this dialect's client stream.
    type Emitter: Debug;

    /// A client request (a JSON object) → the internal request. `url_stream`: the client asked
    /// for a stream in the URL (Gemini's `:streamGenerateContent`); other dialects say it in
    /// the body.
    fn parse_request(v: &Value, url_stream: bool) -> Result<Request, ConvertError>;
    /// The internal request → an upstream body.
    fn emit_request(req: &Request) -> Result<Value, ConvertError>;
    /// A successful upstream body → the internal response.
    fn parse_response(v: &Value) -> Result<Response, ConvertError>;
    /// The internal response → the client's body.
    fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value;
    /// A fresh emitter for one client stream.
    fn emitter(ctx: &ResponseContext) -> Self::Emitter;
    /// One upstream stream event → deltas.
    fn parse_stream_event(event: &SseEvent, st: &mut Self::Parser) -> Vec<Delta>;
    /// One delta → client frames.
    fn emit_stream_delta(delta: &Delta, st: &mut Self::Emitter) -> Vec<Frame>;
}

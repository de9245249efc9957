//! Format conversion between the five dialects (issue 4): one internal representation, a parser
//! and an emitter per dialect for requests, responses and streams.
//!
//! What the shell calls:
//! - [`convert_request`]`(from, to, body, upstream_model, gemini_stream)` → [`ConvertedRequest`]
//!   (new body, upstream path, and the [`ResponseContext`] the response side needs). Same
//!   dialect on both sides → the body comes back untouched.
//! - [`convert_response`]`(&ctx, status, body)` → [`ConvertedResponse`] for non-streaming bodies
//!   and upstream error bodies.
//! - [`StreamConverter`]: `new(ctx)`, `push(bytes)`, `finish()`, `error(msg)`, `usage()`.
//! - [`usage_from_body`] for converted bodies (pass-through streams: `core::usage::StreamScanner`).
//! - [`tokens::estimate_tokens`] / [`tokens::count_tokens_body`] for `count_tokens`.
//! - [`embeddings`] for OpenAI ↔ Gemini embeddings and `encoding_format: base64`.
//! - [`upstream_path`] for the target's endpoint.
//!
//! Layout: each dialect module (`openai_chat`, `openai_completions`, `openai_responses`,
//! `anthropic`, `gemini`) is a unit struct implementing [`codec::Codec`]; [`dialects`] dispatches
//! on [`Dialect`] to them. They share leaves only: [`ir`] (the internal representation and its
//! dialect-neutral helpers), [`json`] (field readers), [`frame`] (stream deltas and frames),
//! [`context`], [`errors`], [`tools`], [`usage`]. Nothing a dialect module imports imports it back.
//!
//! Documented losses: tool-call argument key order is normalised (serde_json sorts keys);
//! http(s) image URLs cannot go to Gemini (the core does not download; a 400 says so); an
//! assistant prefill is dropped by Chat and Gemini upstreams.

pub mod anthropic;
pub mod codec;
pub mod context;
pub mod dialects;
pub mod embeddings;
pub mod errors;
pub mod frame;
pub mod gemini;
pub mod ir;
pub mod json;
pub mod openai_chat;
pub mod openai_completions;
pub mod openai_responses;
pub mod stream;
pub mod tokens;
pub mod tools;
pub mod usage;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod matrix;
#[cfg(test)]
mod randomized;

use crate::core::dialect::Dialect;
use serde_json::Value;
use std::collections::HashMap;

pub use context::{GeminiFraming, ResponseContext};
pub use dialects::{emit_request, emit_response};
pub use errors::{ConvertError, UpstreamError};
pub use ir::{Block, Request, Response};
pub use stream::StreamConverter;
pub use tools::ToolNames;
pub use usage::{usage_from_body, Usage};

/// A request ready for the upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedRequest {
    pub body: Vec<u8>,
    /// Path (and query) on the upstream's base URL.
    pub path: String,
    pub context: ResponseContext,
}

/// A converted non-streaming response.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// `x-should-retry` to send: `Some(false)` for deterministic conversion failures.
    pub should_retry: Option<bool>,
}

/// The upstream endpoint for a dialect; Gemini streams are always requested as SSE.
pub fn upstream_path(to: Dialect, model: &str, stream: bool) -> String {
    match to {
        Dialect::OpenAiChat => "/v1/chat/completions".into(),
        Dialect::OpenAiCompletions => "/v1/completions".into(),
        Dialect::OpenAiResponses => "/v1/responses".into(),
        Dialect::AnthropicMessages => "/v1/messages".into(),
        Dialect::Gemini if stream => {
            format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
        }
        Dialect::Gemini => format!("/v1beta/models/{model}:generateContent"),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ConvertError> {
    serde_json::from_slice(body)
        .map_err(|e| ConvertError::Malformed(format!("request body is not valid JSON: {e}")))
}

/// Parses a client request in `from` into the internal representation.
pub fn parse_request(
    from: Dialect,
    body: &[u8],
    gemini_stream: Option<GeminiFraming>,
) -> Result<Request, ConvertError> {
    let v = parse_json(body)?;
    if !v.is_object() {
        return Err(ConvertError::Malformed(
            "request body must be a JSON object".into(),
        ));
    }
    let mut req = dialects::parse_request(from, &v, gemini_stream.is_some())?;
    resolve_result_names(&mut req);
    Ok(req)
}

/// Converts a client request for an upstream that speaks `to`. `gemini_stream` says whether a
/// Gemini client called `:streamGenerateContent` (and with which framing); other dialects
/// carry `stream` in the body.
pub fn convert_request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
    gemini_stream: Option<GeminiFraming>,
) -> Result<ConvertedRequest, ConvertError> {
    let mut req = parse_request(from, body, gemini_stream)?;
    let client_model = if req.model.is_empty() {
        upstream_model.to_string()
    } else {
        req.model.clone()
    };
    let context = ResponseContext {
        client: from,
        upstream: to,
        client_model,
        stream: req.stream,
        include_usage: req.include_usage,
        tool_names: ToolNames::default(),
        gemini_framing: gemini_stream.filter(|_| from == Dialect::Gemini),
        created: 0,
    };
    let path = upstream_path(to, upstream_model, req.stream);
    if from == to {
        return Ok(ConvertedRequest {
            body: body.to_vec(),
            path,
            context,
        });
    }
    let tool_names = tools::rename_tools(&mut req, to);
    req.model = upstream_model.to_string();
    let out = emit_request(to, &req)?;
    Ok(ConvertedRequest {
        body: out.to_string().into_bytes(),
        path,
        context: ResponseContext {
            tool_names,
            ..context
        },
    })
}

/// Parses a successful upstream body into the internal representation.
pub fn parse_response(upstream: Dialect, body: &[u8]) -> Result<Response, ConvertError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ConvertError::Malformed(format!("upstream response is not valid JSON: {e}"))
    })?;
    dialects::parse_response(upstream, &v)
}

/// Converts a non-streaming upstream answer (success or error) for the client.
pub fn convert_response(ctx: &ResponseContext, status: u16, body: &[u8]) -> ConvertedResponse {
    if ctx.client == ctx.upstream {
        return ConvertedResponse {
            status,
            body: body.to_vec(),
            should_retry: None,
        };
    }
    if status >= 400 {
        if ctx.client.provider() == ctx.upstream.provider() {
            return ConvertedResponse {
                status,
                body: body.to_vec(),
                should_retry: None,
            };
        }
        let (status, out) = UpstreamError::parse(status, body).render(ctx.client);
        return ConvertedResponse {
            status,
            body: out.to_string().into_bytes(),
            should_retry: None,
        };
    }
    match parse_response(ctx.upstream, body) {
        Ok(mut resp) => {
            restore_names(&mut resp, &ctx.tool_names);
            ConvertedResponse {
                status,
                body: emit_response(ctx, &resp).to_string().into_bytes(),
                should_retry: None,
            }
        }
        Err(ConvertError::Unsupported(message)) => {
            let (status, out) = ConvertError::Unsupported(message).render(ctx.client);
            ConvertedResponse {
                status,
                body: out,
                should_retry: Some(false),
            }
        }
        Err(ConvertError::Malformed(message)) => {
            let (status, out) = UpstreamError {
                status: 502,
                message,
                kind: None,
                invalid_key: false,
            }
            .render(ctx.client);
            ConvertedResponse {
                status,
                body: out.to_string().into_bytes(),
                should_retry: Some(false),
            }
        }
    }
}

fn restore_names(resp: &mut Response, names: &ToolNames) {
    for block in &mut resp.content {
        if let Block::ToolCall(call) = block {
            call.name = names.restore(&call.name);
        }
    }
}

/// Fills each tool result's function name from the call it answers (Gemini needs it).
fn resolve_result_names(req: &mut Request) {
    let mut names: HashMap<String, String> = HashMap::new();
    for msg in &mut req.messages {
        for block in &mut msg.content {
            match block {
                Block::ToolCall(call) => {
                    names.insert(call.id.clone(), call.name.clone());
                }
                Block::ToolResult(res) if res.name.is_none() => {
                    res.name = names.get(&res.call_id).cloned();
                }
                _ => {}
            }
        }
    }
}

//! What the response side of a conversion needs to know about the request it answers.

use crate::core::dialect::Dialect;

use super::tools::ToolNames;

/// How a Gemini client asked for a stream: `?alt=sse` or the default JSON array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiFraming {
    Sse,
    JsonArray,
}

/// What the response side needs to know about the request it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseContext {
    pub client: Dialect,
    pub upstream: Dialect,
    /// The model name the client asked for (echoed back in responses).
    pub client_model: String,
    pub stream: bool,
    /// Chat/Completions client asked for the final usage chunk.
    pub include_usage: bool,
    /// Tool names changed for the upstream, restored in responses.
    pub tool_names: ToolNames,
    /// Set for Gemini clients that stream.
    pub gemini_framing: Option<GeminiFraming>,
    /// Unix seconds for `created` fields; the shell sets it (the core has no clock).
    pub created: u64,
}

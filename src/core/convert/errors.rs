//! Conversion errors, and upstream error bodies read and rendered for a client of another
//! dialect in the wire vocabulary of `core::wire_error`.

use crate::core::dialect::{Dialect, Provider};
use crate::core::error::GatewayError;
use crate::core::wire_error::{
    anthropic_error, gemini_error, message_in, openai_error_object, openai_type,
};
use serde_json::{json, Value};
use std::fmt;

/// Why a request or response could not be converted. One type for this layer; the shell turns
/// it into a [`GatewayError`] (the one `From` below).
#[derive(Debug, Clone, PartialEq)]
pub enum ConvertError {
    /// The body is not JSON or not the dialect's shape.
    Malformed(String),
    /// Valid, but asks for something the target cannot express: a 400, never a drop.
    Unsupported(String),
}

impl ConvertError {
    pub fn message(&self) -> &str {
        match self {
            ConvertError::Malformed(m) | ConvertError::Unsupported(m) => m,
        }
    }

    /// Status and JSON body in the client's dialect.
    pub fn render(&self, client: Dialect) -> (u16, Vec<u8>) {
        let (status, body) = GatewayError::from(self.clone()).render(client.into());
        (status, body.to_string().into_bytes())
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ConvertError {}

impl From<ConvertError> for GatewayError {
    fn from(e: ConvertError) -> GatewayError {
        match e {
            ConvertError::Malformed(m) => GatewayError::MalformedJson(m),
            ConvertError::Unsupported(m) => GatewayError::InvalidRequest(m),
        }
    }
}

/// Shorthand for a 400 "cannot be converted" error.
pub fn unsupported(what: impl Into<String>) -> ConvertError {
    ConvertError::Unsupported(what.into())
}

/// What an upstream error body said, read from any of the usual shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError {
    pub status: u16,
    pub message: String,
    /// The upstream's own type string (`overloaded_error`, `rate_limit_error`, …), if any.
    pub kind: Option<String>,
    /// Gemini said the key is invalid (it answers 400, not 401).
    pub invalid_key: bool,
}

impl UpstreamError {
    /// Reads the message ([`message_in`]), or a plain-text body.
    pub fn parse(status: u16, body: &[u8]) -> UpstreamError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = message_in(&v).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("upstream returned HTTP {status}")
            } else {
                text.chars().take(500).collect()
            }
        });
        let err = match &v {
            Value::Array(items) => items.first().map_or(&Value::Null, |first| &first["error"]),
            _ => &v["error"],
        };
        let kind = err["type"].as_str().map(str::to_string);
        let invalid_key = err["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["reason"] == "API_KEY_INVALID"));
        UpstreamError {
            status,
            message,
            kind,
            invalid_key,
        }
    }

    /// The error as a client of `client` expects it: status and body.
    pub fn render(&self, client: Dialect) -> (u16, Value) {
        let status = if self.invalid_key { 401 } else { self.status };
        match client.provider() {
            Provider::OpenAi => (status, self.openai_body(status)),
            Provider::Anthropic => {
                let status = match status {
                    503 => 529,
                    s => s,
                };
                (status, anthropic_error(status, &self.message))
            }
            Provider::Gemini => gemini_error(status, &self.message),
        }
    }

    fn openai_body(&self, status: u16) -> Value {
        let (kind, code) = match status {
            401 => ("invalid_request_error", json!("invalid_api_key")),
            404 => ("invalid_request_error", json!("model_not_found")),
            429 => (
                self.kind.as_deref().unwrap_or("rate_limit_error"),
                json!("rate_limit_exceeded"),
            ),
            _ => (
                self.kind.as_deref().unwrap_or_else(|| openai_type(status)),
                Value::Null,
            ),
        };
        json!({"error": openai_error_object(&self.message, kind, code)})
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.message)
    }
}

impl std::error::Error for UpstreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tv15_anthropic_overloaded_to_chat_keeps_type_and_status() {
        let e = UpstreamError::parse(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(
            e.render(Dialect::OpenAiChat),
            (
                529,
                json!({"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}})
            )
        );
    }

    #[test]
    fn tv15_openai_429_to_anthropic_and_gemini() {
        let e = UpstreamError::parse(
            429,
            br#"{"error":{"message":"Slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(
            e.render(Dialect::AnthropicMessages),
            (
                429,
                json!({"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}})
            )
        );
        assert_eq!(
            e.render(Dialect::Gemini),
            (
                429,
                json!({"error":{"code":429,"message":"Slow down","status":"RESOURCE_EXHAUSTED"}})
            )
        );
    }

    #[test]
    fn gemini_invalid_key_becomes_401_for_others() {
        let e = UpstreamError::parse(
            400,
            br#"{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#,
        );
        let (status, body) = e.render(Dialect::AnthropicMessages);
        assert_eq!(status, 401);
        assert_eq!(body["error"]["type"], "authentication_error");
        let (status, body) = e.render(Dialect::OpenAiResponses);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_api_key"))
        );
    }

    #[test]
    fn status_mapping_table() {
        let e = |s| UpstreamError::parse(s, b"plain text failure");
        assert_eq!(e(503).render(Dialect::AnthropicMessages).0, 529);
        assert_eq!(e(529).render(Dialect::Gemini).0, 503);
        assert_eq!(
            e(413).render(Dialect::Gemini).1["error"]["status"],
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            e(404).render(Dialect::AnthropicMessages).1["error"]["type"],
            "not_found_error"
        );
        assert_eq!(
            e(500).render(Dialect::OpenAiChat).1["error"]["message"],
            "plain text failure"
        );
        assert_eq!(
            UpstreamError::parse(502, b"").message,
            "upstream returned HTTP 502"
        );
        assert_eq!(
            UpstreamError::parse(400, br#"{"detail":{"message":"bad"}}"#).message,
            "bad"
        );
    }

    #[test]
    fn convert_errors_render_as_400_in_client_shape() {
        let (status, body) = unsupported("n>1").render(Dialect::AnthropicMessages);
        assert_eq!(status, 400);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "n>1");
    }
}

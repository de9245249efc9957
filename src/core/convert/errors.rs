//! Conversion errors and the §7 translation of upstream error bodies into the client's dialect.

use crate::core::dialect::{Dialect, Provider};
use crate::core::error::{ErrorFormat, GatewayError};
use serde_json::{json, Value};

/// Why a request or response could not be converted. One type for this layer; the shell turns
/// it into a response with [`ConvertError::render`].
#[derive(Debug, Clone, PartialEq)]
pub enum ConvertError {
    /// The body is not JSON or not the dialect's shape.
    Malformed(String),
    /// Valid, but asks for something the target cannot express (§4.11): a 400, never a drop.
    Unsupported(String),
}

impl ConvertError {
    pub fn message(&self) -> &str {
        match self {
            ConvertError::Malformed(m) | ConvertError::Unsupported(m) => m,
        }
    }

    /// The gateway-level error this is.
    pub fn to_gateway(&self) -> GatewayError {
        match self {
            ConvertError::Malformed(m) => GatewayError::MalformedJson(m.clone()),
            ConvertError::Unsupported(m) => GatewayError::InvalidRequest(m.clone()),
        }
    }

    /// Status and JSON body in the client's dialect.
    pub fn render(&self, client: Dialect) -> (u16, Vec<u8>) {
        let (status, body) = self.to_gateway().render(error_format(client));
        (status, body.to_string().into_bytes())
    }
}

/// Shorthand for a 400 "cannot be converted" error.
pub fn unsupported(what: impl Into<String>) -> ConvertError {
    ConvertError::Unsupported(what.into())
}

/// The error-body family of a dialect.
pub fn error_format(dialect: Dialect) -> ErrorFormat {
    match dialect.provider() {
        Provider::OpenAi => ErrorFormat::OpenAi,
        Provider::Anthropic => ErrorFormat::Anthropic,
        Provider::Gemini => ErrorFormat::Gemini,
    }
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
    /// Reads `error.message`, `message`, `detail.message`, `Message` or a plain-text body.
    pub fn parse(status: u16, body: &[u8]) -> UpstreamError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let v = match &v {
            Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
            _ => v,
        };
        let err = &v["error"];
        let message = [
            &err["message"],
            &v["message"],
            &v["detail"]["message"],
            &v["detail"],
            &v["Message"],
            err,
        ]
        .into_iter()
        .find_map(|m| m.as_str().filter(|s| !s.is_empty()))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("upstream returned HTTP {status}")
            } else {
                text.chars().take(500).collect()
            }
        });
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

    /// The error as a client of `client` expects it: status and body (§7.3).
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
            Provider::Gemini => {
                let status = match status {
                    401 | 413 => 400,
                    529 => 503,
                    s => s,
                };
                (status, gemini_error(status, &self.message))
            }
        }
    }

    fn openai_body(&self, status: u16) -> Value {
        let (kind, code) = match status {
            401 => (
                "invalid_request_error".to_string(),
                json!("invalid_api_key"),
            ),
            404 => (
                "invalid_request_error".to_string(),
                json!("model_not_found"),
            ),
            429 => (
                self.kind.clone().unwrap_or("rate_limit_error".into()),
                json!("rate_limit_exceeded"),
            ),
            _ => (
                self.kind
                    .clone()
                    .unwrap_or_else(|| openai_type(status).to_string()),
                Value::Null,
            ),
        };
        json!({"error": {"message": self.message, "type": kind, "param": null, "code": code}})
    }
}

/// OpenAI `error.type` derived from the status.
pub fn openai_type(status: u16) -> &'static str {
    match status {
        403 => "permission_error",
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    }
}

/// Anthropic `error.type` derived from the status (clients branch on it, §7.3 note).
pub fn anthropic_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 409 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// An Anthropic error body.
pub fn anthropic_error(status: u16, message: &str) -> Value {
    json!({"type": "error", "error": {"type": anthropic_type(status), "message": message}})
}

/// A Gemini error body (google.rpc.Status).
pub fn gemini_error(status: u16, message: &str) -> Value {
    let grpc = match status {
        400 | 405 | 409 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 | 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    };
    json!({"error": {"code": status, "message": message, "status": grpc}})
}

/// An OpenAI error object (the value of the `error` key).
pub fn openai_error_object(status: u16, message: &str) -> Value {
    json!({"message": message, "type": openai_type(status), "param": null, "code": null})
}

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

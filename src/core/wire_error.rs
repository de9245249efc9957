//! The error vocabulary of the three wire families, in one leaf: each family's error `type` or
//! status name for an HTTP status, the one Gemini status table, the three error bodies, and the
//! one reader of the message in an upstream's error body. The gateway's own errors
//! (`GatewayError::render`) and relayed upstream errors (`convert::UpstreamError`) both speak it.

use serde_json::{json, Value};

/// OpenAI `error.type` for a status.
pub fn openai_type(status: u16) -> &'static str {
    match status {
        403 => "permission_error",
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    }
}

/// An OpenAI error object (the value of the body's `error` key).
pub fn openai_error_object(message: &str, kind: &str, code: Value) -> Value {
    json!({"message": message, "type": kind, "param": null, "code": code})
}

/// Anthropic `error.type` for a status (clients branch on it).
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

/// The status a Gemini client gets for an HTTP status, and its `google.rpc.Code` name. Google
/// maps codes and statuses one to one (INVALID_ARGUMENT 400, PERMISSION_DENIED 403, NOT_FOUND
/// 404, RESOURCE_EXHAUSTED 429, INTERNAL 500, UNAVAILABLE 503, DEADLINE_EXCEEDED 504); a status
/// Gemini never sends becomes the one it sends for that case: an overloaded upstream (Anthropic's
/// 529) is 503 UNAVAILABLE, a rejected key 400 INVALID_ARGUMENT (as Gemini answers a bad key).
/// Other client faults keep their status and are INVALID_ARGUMENT.
pub fn gemini_status(status: u16) -> (u16, &'static str) {
    match status {
        401 => (400, "INVALID_ARGUMENT"),
        400 | 405 | 409 | 413 | 422 => (status, "INVALID_ARGUMENT"),
        403 => (403, "PERMISSION_DENIED"),
        404 => (404, "NOT_FOUND"),
        429 => (429, "RESOURCE_EXHAUSTED"),
        503 | 529 => (503, "UNAVAILABLE"),
        504 => (504, "DEADLINE_EXCEEDED"),
        s => (s, "INTERNAL"),
    }
}

/// A Gemini error body (`google.rpc.Status`) with the given code name.
pub fn gemini_body(code: u16, message: &str, status: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

/// A Gemini error for an HTTP status: the status to send (see [`gemini_status`]) and the body.
pub fn gemini_error(status: u16, message: &str) -> (u16, Value) {
    let (status, name) = gemini_status(status);
    (status, gemini_body(status, message, name))
}

/// Gemini's answer to an invalid key: 400 INVALID_ARGUMENT with reason `API_KEY_INVALID`.
pub fn gemini_invalid_key(message: &str) -> (u16, Value) {
    let mut body = gemini_body(400, message, "INVALID_ARGUMENT");
    body["error"]["details"] = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]);
    (400, body)
}

/// The human message in an upstream error value of any family: `error.message`, `message`,
/// `detail.message`, `detail`, `Message` or a string `error` (the first non-empty one); a
/// Gemini array body is read from its first element.
pub fn message_in(v: &Value) -> Option<String> {
    let v = match v {
        Value::Array(items) => items.first()?,
        _ => v,
    };
    let err = &v["error"];
    [
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
}

/// [`message_in`] for a raw body; `None` when it is not JSON or names no message.
pub fn upstream_message(body: &[u8]) -> Option<String> {
    message_in(&serde_json::from_slice(body).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_clients_see_an_overload_as_503_unavailable() {
        // Google's table has no 529: Anthropic's overload reaches a Gemini client the way
        // Gemini reports its own (503 UNAVAILABLE), whichever path renders it.
        assert_eq!(gemini_status(529), (503, "UNAVAILABLE"));
        assert_eq!(gemini_status(503), (503, "UNAVAILABLE"));
        assert_eq!(gemini_status(413), (413, "INVALID_ARGUMENT"));
        assert_eq!(gemini_status(401), (400, "INVALID_ARGUMENT"));
        assert_eq!(gemini_status(409), (409, "INVALID_ARGUMENT"));
        assert_eq!(gemini_status(502), (502, "INTERNAL"));
        let (status, body) = gemini_invalid_key("bad key");
        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");
    }

    #[test]
    fn one_reader_finds_the_message_in_every_shape() {
        let read = |s: &str| upstream_message(s.as_bytes());
        assert_eq!(read(r#"{"error":{"message":"a"}}"#).as_deref(), Some("a"));
        assert_eq!(read(r#"{"message":"b"}"#).as_deref(), Some("b"));
        assert_eq!(read(r#"{"detail":{"message":"c"}}"#).as_deref(), Some("c"));
        assert_eq!(read(r#"{"detail":"d"}"#).as_deref(), Some("d"));
        assert_eq!(read(r#"{"Message":"e"}"#).as_deref(), Some("e"));
        assert_eq!(read(r#"{"error":"f"}"#).as_deref(), Some("f"));
        assert_eq!(read(r#"[{"error":{"message":"g"}}]"#).as_deref(), Some("g"));
        assert_eq!(
            read(r#"{"error":{"message":""},"message":"h"}"#).as_deref(),
            Some("h")
        );
        assert_eq!(read("<html>bad gateway</html>"), None);
        assert_eq!(read(r#"{"error":{"code":500}}"#), None);
    }
}

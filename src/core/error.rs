//! The gateway's error type and its one mapping to an HTTP status and a body in the caller's dialect.

use crate::core::dialect::{Dialect, Provider};
// One vocabulary for the gateway's own errors and relayed upstream ones.
use crate::core::wire_error::{
    anthropic_error, gemini_error, gemini_invalid_key, openai_error_object, openai_type,
};
use serde_json::{json, Value};
use std::fmt;

/// Which API a request came through: errors are answered in that API's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// A relay API: the error body of the vendor whose API it is.
    Api(Provider),
    /// The gateway's own `/api` (admin) and `/health`.
    Admin,
}

impl From<Dialect> for ErrorFormat {
    fn from(dialect: Dialect) -> ErrorFormat {
        ErrorFormat::Api(dialect.provider())
    }
}

/// Everything that can go wrong while serving a request, as the client should learn it.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayError {
    /// The request is well-formed JSON but asks for something invalid.
    InvalidRequest(String),
    /// The body is not valid JSON (or not the expected shape).
    MalformedJson(String),
    /// No credential, or an unknown/revoked/expired key.
    Unauthorized(String),
    /// Authenticated, but not allowed to do this (model, IP, role, plan limit).
    Forbidden(String),
    /// No such route or resource.
    NotFound(String),
    /// No channel serves this model in the caller's organization.
    ModelNotFound(String),
    MethodNotAllowed,
    Conflict(String),
    /// The request body is over the gateway's size limit.
    PayloadTooLarge(String),
    /// Too many requests; `retry_after_s` becomes a `Retry-After` header.
    RateLimited {
        message: String,
        retry_after_s: Option<u64>,
    },
    /// Every channel for the model failed or is unavailable.
    NoChannelAvailable(String),
    /// An upstream answered with an error we pass on (status kept).
    Upstream {
        status: u16,
        message: String,
        retry_after_s: Option<u64>,
    },
    UpstreamTimeout(String),
    /// A fault of ours: the message is generic, details go to the log only.
    Internal(String),
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for GatewayError {}

impl GatewayError {
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::InvalidRequest(_) | GatewayError::MalformedJson(_) => 400,
            GatewayError::Unauthorized(_) => 401,
            GatewayError::Forbidden(_) => 403,
            GatewayError::NotFound(_) | GatewayError::ModelNotFound(_) => 404,
            GatewayError::MethodNotAllowed => 405,
            GatewayError::Conflict(_) => 409,
            GatewayError::PayloadTooLarge(_) => 413,
            GatewayError::RateLimited { .. } => 429,
            GatewayError::NoChannelAvailable(_) => 503,
            GatewayError::Upstream { status, .. } => *status,
            GatewayError::UpstreamTimeout(_) => 504,
            GatewayError::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::InvalidRequest(_) => "invalid_request",
            GatewayError::MalformedJson(_) => "invalid_json",
            GatewayError::Unauthorized(_) => "invalid_api_key",
            GatewayError::Forbidden(_) => "forbidden",
            GatewayError::NotFound(_) => "not_found",
            GatewayError::ModelNotFound(_) => "model_not_found",
            GatewayError::MethodNotAllowed => "method_not_allowed",
            GatewayError::Conflict(_) => "conflict",
            GatewayError::PayloadTooLarge(_) => "request_too_large",
            GatewayError::RateLimited { .. } => "rate_limit_exceeded",
            GatewayError::NoChannelAvailable(_) => "no_channel_available",
            GatewayError::Upstream { .. } => "upstream_error",
            GatewayError::UpstreamTimeout(_) => "upstream_timeout",
            GatewayError::Internal(_) => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            GatewayError::InvalidRequest(m)
            | GatewayError::MalformedJson(m)
            | GatewayError::Unauthorized(m)
            | GatewayError::Forbidden(m)
            | GatewayError::NotFound(m)
            | GatewayError::Conflict(m)
            | GatewayError::PayloadTooLarge(m)
            | GatewayError::NoChannelAvailable(m)
            | GatewayError::UpstreamTimeout(m)
            | GatewayError::RateLimited { message: m, .. }
            | GatewayError::Upstream { message: m, .. } => m.clone(),
            GatewayError::ModelNotFound(model) => {
                format!("The model `{model}` does not exist or no channel serves it")
            }
            GatewayError::MethodNotAllowed => "method not allowed".to_string(),
            GatewayError::Internal(_) => "internal error".to_string(),
        }
    }

    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after_s, .. }
            | GatewayError::Upstream { retry_after_s, .. } => *retry_after_s,
            _ => None,
        }
    }

    /// The status and JSON body to send, in `format`'s shape.
    pub fn render(&self, format: ErrorFormat) -> (u16, Value) {
        let status = self.status();
        let message = self.message();
        let body = match format {
            ErrorFormat::Api(Provider::OpenAi) => json!({
                "error": openai_error_object(&message, openai_type(status), json!(self.code())),
            }),
            ErrorFormat::Api(Provider::Anthropic) => anthropic_error(status, &message),
            ErrorFormat::Api(Provider::Gemini) => {
                return match self {
                    GatewayError::Unauthorized(_) => gemini_invalid_key(&message),
                    _ => gemini_error(status, &message),
                };
            }
            ErrorFormat::Admin => json!({
                "success": false,
                "error": {"code": self.code(), "message": message},
            }),
        };
        (status, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_shape_for_unknown_key_and_model() {
        let (status, body) = GatewayError::Unauthorized("Invalid API key".into())
            .render(ErrorFormat::Api(Provider::OpenAi));
        assert_eq!(status, 401);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert_eq!(body["error"]["param"], Value::Null);
        let (status, body) =
            GatewayError::ModelNotFound("nope".into()).render(ErrorFormat::Api(Provider::OpenAi));
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "model_not_found");
        assert!(body["error"]["message"].as_str().unwrap().contains("nope"));
    }

    #[test]
    fn anthropic_types_follow_status() {
        let (_, body) = GatewayError::NoChannelAvailable("x".into())
            .render(ErrorFormat::Api(Provider::Anthropic));
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "overloaded_error");
        let (_, body) =
            GatewayError::Unauthorized("x".into()).render(ErrorFormat::Api(Provider::Anthropic));
        assert_eq!(body["error"]["type"], "authentication_error");
    }

    #[test]
    fn gemini_invalid_key_is_400_api_key_invalid() {
        let (status, body) =
            GatewayError::Unauthorized("bad".into()).render(ErrorFormat::Api(Provider::Gemini));
        assert_eq!(status, 400);
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");
        let (status, body) = GatewayError::RateLimited {
            message: "slow".into(),
            retry_after_s: Some(3),
        }
        .render(ErrorFormat::Api(Provider::Gemini));
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (429, Some("RESOURCE_EXHAUSTED"))
        );
    }

    #[test]
    fn internal_errors_hide_details() {
        let err = GatewayError::Internal("D1 said: table missing at /secret/path".into());
        let (status, body) = err.render(ErrorFormat::Admin);
        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
        assert_eq!(body["success"], false);
    }

    #[test]
    fn an_overloaded_upstream_reaches_gemini_clients_as_503_unavailable() {
        // Through failover (the gateway's error) and through conversion (the upstream's body)
        // alike: Gemini has no 529.
        let failover = GatewayError::Upstream {
            status: 529,
            message: "Overloaded".into(),
            retry_after_s: None,
        };
        let (status, body) = failover.render(ErrorFormat::Api(Provider::Gemini));
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (503, Some("UNAVAILABLE"))
        );
        assert_eq!(body["error"]["code"], 503);
        let converted = crate::core::convert::UpstreamError::parse(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .render(Dialect::Gemini);
        assert_eq!(converted, (status, body));
    }
}

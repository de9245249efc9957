//! HTTP helpers every handler shares: the one JSON response builder, the admin API's success
//! envelope, body and path parsing, and the 404 for an unknown admin path. A leaf: it imports
//! no other shell module.

use crate::core::error::GatewayError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Headers, Method, Request, Response};

/// The one place a JSON response is built.
pub fn json_response<T: Serialize + ?Sized>(body: &T, status: u16) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(text.into_bytes())
}

/// The admin API's success answer: `{"success":true,"data":…}` with status 200.
pub fn ok<T: Serialize>(data: T) -> Result<Response, GatewayError> {
    Ok(json_response(&json!({"success": true, "data": data}), 200))
}

/// The admin API's answer for a created resource: the success envelope with status 201.
pub fn created<T: Serialize>(data: T) -> Result<Response, GatewayError> {
    Ok(json_response(&json!({"success": true, "data": data}), 201))
}

/// The 404 for a path no handler serves; `prefix` is the handler's part after `/api/`.
pub fn unknown_endpoint(method: &Method, prefix: &str, rest: &[&str]) -> GatewayError {
    GatewayError::NotFound(format!(
        "Unknown admin endpoint: {method} /api/{prefix}{}",
        rest.join("/")
    ))
}

/// The path segments after a handler's prefix, without the empty ones a trailing `/` leaves.
pub fn nonempty<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    rest.iter().copied().filter(|s| !s.is_empty()).collect()
}

/// A positive id from a path segment.
pub fn parse_id(raw: &str) -> Result<i64, GatewayError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| GatewayError::InvalidRequest(format!("`{raw}` is not a valid id")))
}

/// The request body as `T`, or a malformed-JSON error naming what failed.
pub async fn json_body<T: for<'de> Deserialize<'de>>(req: &mut Request) -> Result<T, GatewayError> {
    let bytes = req.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        GatewayError::MalformedJson(format!(
            "request body is not valid JSON for this endpoint: {e}"
        ))
    })
}

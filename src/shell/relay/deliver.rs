//! Delivery, the relay's last phase: hand the chosen upstream answer to the client (piped, SSE
//! through the usage-reading pump, or converted back), then read usage, pin created resources
//! and finish the usage log off a copy after the response has started.

use crate::core::convert::{self, tokens, ResponseContext, StreamConverter};
use crate::core::dialect::Dialect;
use crate::core::endpoint::PinKind;
use crate::core::error::GatewayError;
use crate::core::usage::{passthrough_usage, usage_from_tail, Pricing, WireFamily};
use crate::shell::app::{body_bytes, now_ms, App};
use crate::shell::repo::pins;
use crate::shell::stream::{self, StreamJob};
use crate::shell::upstream::{self, relayed_headers};
use crate::shell::usage_log::{self, UsageEntry};
use std::time::Duration;
use worker::{Headers, Request, Response, ResponseBody};

/// Where a created resource must be reached again.
pub(super) struct PinTarget {
    pub kind: PinKind,
    pub station_id: i64,
    pub upstream_key_id: i64,
}

/// How a successful upstream answer is to be delivered.
pub(super) struct Delivery {
    pub family: WireFamily,
    pub pricing: Pricing,
    pub pin: Option<PinTarget>,
    /// Set when the request was converted: the answer is converted back for the client.
    pub conversion: Option<ResponseContext>,
}

/// JSON answers up to this size are read whole for usage and pins (created resources' objects
/// are small); bigger ones are read for their usage only, from their last `USAGE_TAIL_MAX` bytes.
const WHOLE_BODY_MAX: usize = 1 << 20;
const USAGE_TAIL_MAX: usize = 64 << 10;

/// Finishes a call's log after the response, whatever the outcome (the one place a relayed
/// call's entry is handed to `usage_log`, besides the stream pump's own end).
pub(super) fn finish_log(app: &App, log: UsageEntry) {
    let env = app.env.clone();
    app.ctx
        .wait_until(async move { usage_log::finish(&env, log).await });
}

/// Hands the upstream answer to the client; usage, pins and the log are read off a copy (or,
/// for SSE, off the pump) after the response has started. Converted answers are converted
/// back: whole bodies at once, streams chunk by chunk in the pump.
pub(super) async fn deliver(
    app: &App,
    client: &Request,
    mut resp: Response,
    how: Delivery,
    mut log: UsageEntry,
) -> Result<Response, GatewayError> {
    let Delivery {
        family,
        pricing,
        pin,
        conversion,
    } = how;
    let content_type = resp
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") && resp.status_code() < 400 {
        let config = app.config();
        let keepalive = Duration::from_secs(u64::try_from(config.keepalive_seconds).unwrap_or(15));
        let client_stall =
            Duration::from_secs(u64::try_from(config.client_stall_seconds).unwrap_or(30));
        let job = StreamJob {
            env: app.env.clone(),
            family,
            keepalive,
            client_stall,
            pricing,
            log,
            client_signal: client.inner().signal(),
            converter: conversion.map(|ctx| {
                StreamConverter::new(ResponseContext {
                    created: unix_seconds(),
                    ..ctx
                })
            }),
        };
        return stream::relay(&app.ctx, resp, job).map_err(GatewayError::Internal);
    }
    if let Some(ctx) = conversion {
        let body = body_bytes(&resp).await?;
        let ctx = ResponseContext {
            created: unix_seconds(),
            ..ctx
        };
        let converted = convert::convert_response(&ctx, resp.status_code(), &body);
        log.usage = convert::usage_from_body(ctx.upstream, &body);
        log.status = converted.status;
        log.cost_usd = pricing.cost_usd(log.usage).filter(|_| log.status < 400);
        finish_log(app, log);
        let mut answer = bytes_response(converted.status, "application/json", converted.body);
        if let Some(retry) = converted.should_retry {
            answer
                .headers_mut()
                .set("x-should-retry", if retry { "true" } else { "false" })?;
        }
        return Ok(answer);
    }
    if content_type.contains("json") {
        let copy = resp.cloned()?;
        let env = app.env.clone();
        app.ctx.wait_until(async move {
            // Read off the copy within bounds: a 50 MB embeddings answer costs 1 MB here, its
            // usage read from the tail, where every dialect writes it.
            let read = upstream::read_bounded(copy.body(), WHOLE_BODY_MAX, USAGE_TAIL_MAX).await;
            if let Ok(read) = read {
                log.usage = match read.whole() {
                    Some(body) => passthrough_usage(body),
                    None => read.tail.as_deref().and_then(usage_from_tail),
                };
                if log.status < 400 {
                    log.cost_usd = pricing.cost_usd(log.usage);
                    if let (Some(pin), Some(body)) = (pin, read.whole()) {
                        pin_resource(&env, &log, &pin, body).await;
                    }
                }
            }
            usage_log::finish(&env, log).await;
        });
    } else {
        // Binary or plain-text answers (speech, transcripts as text/srt/vtt) carry no usage.
        log.cost_usd = pricing.per_call.filter(|_| log.status < 400);
        finish_log(app, log);
    }
    Ok(with_relayed_headers(resp))
}

/// A token count answered by the gateway's own estimate (the station cannot count in this
/// dialect).
pub(super) fn local_count(dialect: Dialect, body: &[u8]) -> Response {
    let estimate = tokens::estimate_tokens(dialect, body);
    bytes_response(
        200,
        "application/json",
        tokens::count_tokens_body(dialect, estimate),
    )
}

/// The same answer (status and body untouched) with only the relayable headers.
fn with_relayed_headers(resp: Response) -> Response {
    let builder = Response::builder()
        .with_status(resp.status_code())
        .with_headers(relayed_headers(resp.headers()));
    match resp.body() {
        ResponseBody::Stream(stream) => builder.stream(stream.clone()),
        ResponseBody::Body(bytes) => builder.fixed(bytes.clone()),
        ResponseBody::Empty => builder.empty(),
    }
}

fn unix_seconds() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

pub(super) fn bytes_response(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", content_type);
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body)
}

/// An upstream's error for the client's own mistake, relayed as it is.
pub(super) fn passthrough_error(status: u16, text: &str, upstream_headers: &Headers) -> Response {
    let headers = relayed_headers(upstream_headers);
    if !headers.has("Content-Type").unwrap_or(false) {
        let _ = headers.set("Content-Type", "application/json");
    }
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(text.as_bytes().to_vec())
}

/// Remembers on which channel a file / video task / stored response was created.
async fn pin_resource(env: &worker::Env, log: &UsageEntry, pin: &PinTarget, body: &[u8]) {
    let Ok(object) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let Some(id) = ["id", "task_id"]
        .iter()
        .find_map(|k| object[*k].as_str())
        .filter(|id| !id.is_empty())
    else {
        return;
    };
    let owner = pins::Owner {
        org: log.organization_id,
        gateway_key_id: log.gateway_key_id,
        user_id: log.user_id,
    };
    let channel = (pin.station_id, pin.upstream_key_id);
    if let Err(e) = pins::store(env, owner, pin.kind, id, channel, &object).await {
        worker::console_error!("pinning {} {id} failed: {e}", pin.kind.as_str());
    }
}

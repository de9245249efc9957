//! The relay hot path: authenticate the gateway key, pick a channel, forward the original
//! bytes with the upstream key swapped in, fail over before the first byte, and hand the
//! upstream body to the client (natively piped; SSE through the usage-reading pump).
//! This file holds the two entry points and the prologue they share; the phases live in
//! `authorize` (the key), `send` (choosing, sending, failover) and `deliver` (the answer).

mod authorize;
mod deliver;
mod send;

pub use authorize::authorize;

use crate::core::convert::GeminiFraming;
use crate::core::endpoint::RelayEndpoint;
use crate::core::endpoint::{
    gemini_standard_path, pinned_call, plan_call, CallPlan, ModelSource, PinKind,
};
use crate::core::error::GatewayError;
use crate::core::gateway_key::GatewayKeyRecord;
use crate::core::multipart;
use crate::core::request_head::scan_request_head;
use crate::core::routing::Channel;
use crate::core::usage::{Pricing, WireFamily};
use crate::shell::app::{now_ms, App};
use crate::shell::repo::pins;
use crate::shell::routes;
use crate::shell::usage_log::UsageEntry;
use deliver::{deliver, finish_log, local_count, Delivery, PinTarget};
use send::{attempt_channels, send, Outbound, SendFailure};
use std::borrow::Cow;
use std::rc::Rc;
use worker::{Method, Request};

/// What both entry points establish before anything is routed.
struct Caller {
    key: Rc<GatewayKeyRecord>,
    started: i64,
    body: Vec<u8>,
}

impl Caller {
    /// Whose pinned resources this caller may reach.
    fn owner(&self) -> pins::Owner {
        pins::Owner {
            org: self.key.organization_id,
            gateway_key_id: self.key.id,
            user_id: self.key.user_id,
        }
    }

    /// The usage entry every call of this caller starts from.
    fn entry(&self, endpoint: &'static str) -> UsageEntry {
        UsageEntry {
            organization_id: self.key.organization_id,
            gateway_key_id: self.key.id,
            user_id: self.key.user_id,
            endpoint,
            started_at: self.started,
            ..UsageEntry::default()
        }
    }
}

/// The shared prologue: the key, then the body, within its size limit (multipart uploads have
/// the larger one).
async fn prologue(
    req: &mut Request,
    app: &App,
    key: Option<Rc<GatewayKeyRecord>>,
) -> Result<Caller, GatewayError> {
    let started = now_ms();
    let key = match key {
        Some(key) => key,
        None => authorize(req, app, started).await?,
    };
    let content_type = req.headers().get("Content-Type")?.unwrap_or_default();
    let multipart = content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/");
    let config = app.config();
    let (var, limit_mb) = if multipart {
        ("MAX_MULTIPART_BODY_MB", config.max_multipart_body_mb)
    } else {
        ("MAX_JSON_BODY_MB", config.max_json_body_mb)
    };
    let limit = usize::try_from(limit_mb)
        .unwrap_or(32)
        .saturating_mul(1 << 20);
    let too_large = || {
        GatewayError::PayloadTooLarge(format!(
            "the request body is over this gateway's limit of {} MB ({var})",
            limit >> 20
        ))
    };
    // A declared length over the limit is refused before anything is read.
    let declared = req.headers().get("Content-Length")?;
    if declared
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(too_large());
    }
    let body = req.bytes().await?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(Caller { key, started, body })
}

/// Counts the call against the organization's daily plan: only once the request passed its own
/// checks (body, model, allow-list), so a client's mistakes use up none of the team's quota.
async fn count_daily(app: &App, caller: &Caller) -> Result<(), GatewayError> {
    crate::shell::plans::check_daily_request(app, caller.key.organization_id).await
}

/// Relays one call of any endpoint in the table of `core::endpoint`.
pub async fn handle(
    req: &mut Request,
    app: &App,
    endpoint: RelayEndpoint,
) -> Result<worker::Response, GatewayError> {
    relay_as(req, app, endpoint, None).await
}

/// A call the gateway makes for one of its own features (the ComfyUI assistant's LLM turns):
/// the organization's routes through `key` instead of a presented one, counted and logged
/// like any client call.
pub async fn handle_internal(
    req: &mut Request,
    app: &App,
    endpoint: RelayEndpoint,
    key: GatewayKeyRecord,
) -> Result<worker::Response, GatewayError> {
    relay_as(req, app, endpoint, Some(Rc::new(key))).await
}

async fn relay_as(
    req: &mut Request,
    app: &App,
    endpoint: RelayEndpoint,
    key: Option<Rc<GatewayKeyRecord>>,
) -> Result<worker::Response, GatewayError> {
    let caller = prologue(req, app, key).await?;
    let (key, body) = (&caller.key, caller.body.as_slice());
    let (model, stream) = request_model(req, &endpoint, body)?;
    if let Some(model) = &model {
        key.check_model(model)?;
    }
    let org = key.organization_id;
    let table = routes::load(app, org).await?;
    let candidates: Cow<[Channel]> = match &model {
        Some(model) => Cow::Borrowed(
            table
                .channels(model)
                .ok_or_else(|| GatewayError::ModelNotFound(model.clone()))?,
        ),
        None => Cow::Owned(table.any_model_channels()),
    };
    count_daily(app, &caller).await?;
    let mut path_and_query = upstream_path(&req.url()?);
    if endpoint.family == WireFamily::Gemini {
        path_and_query = gemini_standard_path(&path_and_query).into_owned();
    }
    if let Some(dialect) = endpoint.counts_tokens_of {
        let now = now_ms();
        let local = |c: &Channel| {
            matches!(
                plan_call(&endpoint, c.serving(now), &path_and_query),
                CallPlan::LocalCount(_)
            )
        };
        if candidates.iter().all(local) {
            return Ok(local_count(dialect, body));
        }
    }
    let model_name = model.unwrap_or_default();
    let mut log = UsageEntry {
        model_requested: model_name.clone(),
        stream,
        ..caller.entry(endpoint.name)
    };
    let gemini_framing = endpoint.stream_from_path.then(|| {
        if path_and_query.contains("alt=sse") {
            GeminiFraming::Sse
        } else {
            GeminiFraming::JsonArray
        }
    });
    let outbound = Outbound {
        req,
        endpoint: &endpoint,
        model: Some(&model_name)
            .filter(|m| !m.is_empty() && endpoint.model == ModelSource::JsonBody),
        body,
        path_and_query,
        gemini_framing,
        // Conversational and embedding answers come whole unless streamed.
        long_body: stream || (endpoint.dialect.is_none() && endpoint.embeddings.is_none()),
        first_byte_timeout_ms: first_byte_timeout_ms(app),
        org,
    };
    key.admit()?;
    let result = attempt_channels(app, org, &candidates, &outbound, &model_name).await;
    log.attempts = result.attempts;
    match result.outcome {
        Ok((resp, channel, conversion)) => {
            log.model_sent = channel.upstream_model.clone();
            log.station_id = Some(channel.station_id);
            log.route_entry_id = Some(channel.id);
            log.status = resp.status_code();
            log.ttfb_ms = Some(now_ms() - caller.started);
            let pin = endpoint.pins.map(|kind| PinTarget {
                kind,
                station_id: channel.station_id,
                upstream_key_id: channel.upstream_key_id,
            });
            let how = Delivery {
                family: endpoint.family,
                pricing: channel.pricing,
                pin,
                conversion,
            };
            deliver(app, req, resp, how, log).await
        }
        Err(err) => {
            log.status = err.status();
            log.error_class = Some(err.code().to_string());
            finish_log(app, log);
            Err(err)
        }
    }
}

/// A call about a pinned resource goes to the channel that created it; no failover (the
/// resource exists nowhere else).
pub async fn handle_pinned(
    req: &mut Request,
    app: &App,
    kind: PinKind,
    id: &str,
) -> Result<worker::Response, GatewayError> {
    let caller = prologue(req, app, None).await?;
    let key = &caller.key;
    let org = key.organization_id;
    let channel = pins::find(&app.env, caller.owner(), kind, id)
        .await?
        .ok_or_else(|| {
            GatewayError::NotFound(format!(
                "No {} with id `{id}` was created through this gateway",
                kind.as_str()
            ))
        })?;
    count_daily(app, &caller).await?;
    let endpoint = pinned_call(kind);
    let outbound = Outbound {
        req,
        endpoint: &endpoint,
        model: None,
        body: &caller.body,
        path_and_query: upstream_path(&req.url()?),
        gemini_framing: None,
        long_body: true,
        first_byte_timeout_ms: first_byte_timeout_ms(app),
        org,
    };
    key.admit()?;
    let (resp, _) = send(app, &outbound, &channel, channel.serving(caller.started))
        .await
        .map_err(|failure| match failure {
            SendFailure::Request(err) => err,
            SendFailure::Channel(detail) => GatewayError::NoChannelAvailable(format!(
                "the station holding {} `{id}` cannot be reached: {detail}",
                kind.as_str()
            )),
        })?;
    if req.method() == Method::Delete && resp.status_code() < 400 {
        pins::remove(&app.env, org, kind, id).await?;
    }
    let log = UsageEntry {
        station_id: Some(channel.station_id),
        status: resp.status_code(),
        attempts: 1,
        ttfb_ms: Some(now_ms() - caller.started),
        ..caller.entry(endpoint.name)
    };
    let how = Delivery {
        family: WireFamily::OpenAi,
        pricing: Pricing::default(),
        pin: None,
        conversion: None,
    };
    deliver(app, req, resp, how, log).await
}

/// The routing model (if the endpoint has one) and whether a stream was asked for.
fn request_model(
    req: &Request,
    endpoint: &RelayEndpoint,
    body: &[u8],
) -> Result<(Option<String>, bool), GatewayError> {
    match &endpoint.model {
        ModelSource::JsonBody => {
            let head =
                scan_request_head(body).map_err(|e| GatewayError::MalformedJson(e.to_string()))?;
            let model = head
                .model
                .filter(|m| !m.is_empty())
                .ok_or_else(|| GatewayError::InvalidRequest("`model` is required".into()))?;
            Ok((Some(model), head.stream))
        }
        ModelSource::Multipart => {
            let content_type = req.headers().get("Content-Type")?.unwrap_or_default();
            let boundary = multipart::boundary(&content_type).ok_or_else(|| {
                GatewayError::InvalidRequest(
                    "this endpoint takes multipart/form-data with a boundary".into(),
                )
            })?;
            let model = multipart::text_field(body, boundary, "model").ok_or_else(|| {
                GatewayError::InvalidRequest("the form field `model` is required".into())
            })?;
            Ok((Some(model), false))
        }
        ModelSource::Path(model) => Ok((Some(model.clone()), endpoint.stream_from_path)),
        ModelSource::Any => Ok((None, false)),
    }
}

fn first_byte_timeout_ms(app: &App) -> u64 {
    u64::try_from(app.config().first_byte_timeout_seconds * 1000).unwrap_or(120_000)
}

/// The path and query to send upstream, without a `key=` parameter (that is our credential).
fn upstream_path(url: &worker::Url) -> String {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "key")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut clean = url.clone();
    if kept.is_empty() {
        clean.set_query(None);
    } else {
        clean.query_pairs_mut().clear().extend_pairs(kept);
    }
    match clean.query() {
        Some(query) => format!("{}?{query}", clean.path()),
        None => clean.path().to_string(),
    }
}

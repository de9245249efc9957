//! Choosing and sending, the relay's second phase: prepare the body, path and credential one
//! channel needs (native or converted), fetch with a first-byte timeout, and the failover loop
//! that asks `core::failover` what each answer means before any byte reaches the client.

use super::deliver::{bytes_response, local_count, passthrough_error};
use crate::core::convert::{self, convert_request, GeminiFraming, ResponseContext};
use crate::core::cooldown::{parse_retry_after, ChannelCooldown, ChannelOutcome};
use crate::core::crypto::fill_random;
use crate::core::dialect::Dialect;
use crate::core::endpoint::{gemini_path_with_model, learnable, missing_feature, plan_call};
use crate::core::endpoint::{CallPlan, ModelSource};
use crate::core::endpoint::{RelayEndpoint, UpstreamAuth};
use crate::core::error::GatewayError;
use crate::core::failover::{self, ProbeResult, Verdict};
use crate::core::headers::forwardable_request_header;
use crate::core::learned::{Feature, Serving};
use crate::core::redact::{scrub_message, scrub_station};
use crate::core::routing::{choose_channel, Channel};
use crate::core::wire_error::upstream_message;
use crate::shell::app::{now_ms, open_key, outbound_policy, upstream_key_aad, App};
use crate::shell::embeddings::{self, EmbedCall};
use crate::shell::{cache, probe, routes, upstream};
use futures::future::{select, Either};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{AbortController, Delay, Headers, Request, RequestInit, Response};

/// What every attempt of one relayed request shares.
pub(super) struct Outbound<'a> {
    pub req: &'a Request,
    pub endpoint: &'a RelayEndpoint,
    /// The client's model when the JSON body names it (renamed for mapped channels).
    pub model: Option<&'a String>,
    pub body: &'a [u8],
    /// As the client called it (standard paths), without our `key=` parameter.
    pub path_and_query: String,
    /// Gemini stream framing the client asked for (`alt=sse` or the JSON array).
    pub gemini_framing: Option<GeminiFraming>,
    /// The answer's body may still flow when the first-byte timeout expires (streams, media,
    /// files), so that timeout must stop at the headers.
    pub long_body: bool,
    pub first_byte_timeout_ms: u64,
    /// The caller's organization (the upstream key's ciphertext is bound to it).
    pub org: i64,
}

/// Why an attempt produced no upstream answer.
pub(super) enum SendFailure {
    /// The channel failed (connection, timeout, key): try another one.
    Channel(String),
    /// The request cannot be sent in the form this channel needs: a client error, final.
    Request(GatewayError),
}

/// The failover loop's result: the answer to deliver and the channel that gave it.
pub(super) struct Attempts<'a> {
    pub outcome: Result<(Response, &'a Channel, Option<ResponseContext>), GatewayError>,
    pub attempts: u32,
}

/// What the loop learned about channels, reported after the response has started.
#[derive(Default)]
struct Findings {
    outcomes: Vec<ChannelOutcome>,
    /// Channels whose key the station rejected: verified off the request path.
    probes: Vec<Channel>,
    /// Learned gaps a station no longer has: (station, feature).
    recovered: Vec<(i64, Feature)>,
}

/// Tries channels until one answers without a channel fault, within the attempt budget.
pub(super) async fn attempt_channels<'a>(
    app: &App,
    org: i64,
    channels: &'a [Channel],
    outbound: &Outbound<'_>,
    model: &str,
) -> Attempts<'a> {
    let now = now_ms();
    let failing = failing_channels(app, org, now).await;
    let config = app.config();
    let max_attempts = failover::attempt_budget(config.relay_max_attempts);
    let base_ms = config.cooldown_base_seconds * 1000;
    let mut tried: Vec<i64> = Vec::new();
    let mut found = Findings::default();
    let what = if model.is_empty() {
        "this call".to_string()
    } else {
        format!("`{model}`")
    };
    let mut last_error =
        GatewayError::NoChannelAvailable(format!("no channel is available for {what}"));
    let finish = |outcome, tried: &Vec<i64>, found: Findings| {
        report(app, org, base_ms, found);
        Attempts {
            outcome,
            attempts: u32::try_from(tried.len()).unwrap_or(u32::MAX),
        }
    };

    while tried.len() < max_attempts {
        let cooling = |id: i64| failing.get(&id).copied().filter(|until| *until > now);
        let native = |c: &Channel| {
            matches!(
                plan_call(outbound.endpoint, c.serving(now), &outbound.path_and_query),
                CallPlan::Native { .. }
            )
        };
        let Some(channel) = choose_channel(channels, &tried, cooling, native, random_u32()) else {
            break;
        };
        tried.push(channel.id);
        let mut serving = channel.serving(now);
        // One channel, possibly twice: natively, then converted when its station turns out not
        // to serve the dialect (learned at once, not a fault of the channel).
        let fault = loop {
            let (resp, conversion) = match send(app, outbound, channel, serving).await {
                Ok(answer) => answer,
                Err(SendFailure::Request(err)) => return finish(Err(err), &tried, found),
                Err(SendFailure::Channel(detail)) => break Fault::Connection(detail),
            };
            let status = resp.status_code();
            if status < 400 {
                if failing.contains_key(&channel.id) {
                    found.outcomes.push(ChannelOutcome {
                        channel_id: channel.id,
                        success: true,
                        retry_after_s: None,
                        error: String::new(),
                    });
                }
                // A native success where a learned gap was due for its re-check: the station
                // serves the dialect again.
                if let Some(feature) = missing_feature(outbound.endpoint)
                    .filter(|f| serving.rechecking(*f) && conversion.is_none())
                {
                    found.recovered.push((channel.station_id, feature));
                }
                return finish(Ok((resp, channel, conversion)), &tried, found);
            }
            let retry_after_s = resp
                .headers()
                .get("Retry-After")
                .ok()
                .flatten()
                .and_then(|v| parse_retry_after(&v));
            let text = upstream::error_text(&resp).await;
            let learnable = learnable(serving, outbound.endpoint, &outbound.path_and_query);
            match (
                failover::judge(status, text.as_bytes(), learnable.is_some()),
                learnable,
            ) {
                (Verdict::RouteMissing, Some(feature)) => {
                    let evidence = format!(
                        "HTTP {status}: {}",
                        upstream_message(text.as_bytes()).unwrap_or(text)
                    );
                    if let Err(e) =
                        routes::learn_gap(&app.env, org, channel.station_id, feature, &evidence)
                            .await
                    {
                        worker::console_error!("remembering a missing dialect failed: {e:?}");
                    }
                    let env = app.env.clone();
                    app.ctx.wait_until(async move {
                        routes::publish_after_commit(&env, org).await;
                    });
                    serving = serving.without(feature);
                    if let CallPlan::LocalCount(dialect) =
                        plan_call(outbound.endpoint, serving, &outbound.path_and_query)
                    {
                        let answer = local_count(dialect, outbound.body);
                        return finish(Ok((answer, channel, None)), &tried, found);
                    }
                }
                (Verdict::ChannelFault { probe_key }, _) => {
                    break Fault::Http {
                        status,
                        text,
                        retry_after_s,
                        probe_key,
                    }
                }
                (Verdict::Deliver | Verdict::RouteMissing, _) => {
                    // The request itself is at fault: the client gets the upstream's answer as is.
                    let answer = match &conversion {
                        Some(ctx) => {
                            let converted = convert::convert_response(ctx, status, text.as_bytes());
                            bytes_response(converted.status, "application/json", converted.body)
                        }
                        None => passthrough_error(
                            status,
                            &scrub_station(&text, &channel.base_url),
                            resp.headers(),
                        ),
                    };
                    return finish(Ok((answer, channel, None)), &tried, found);
                }
            }
        };
        match fault {
            Fault::Connection(detail) => {
                let detail = scrub_message(&detail, &channel.base_url);
                found.outcomes.push(failure(
                    channel,
                    None,
                    format!("connection: {detail}"),
                    now,
                    base_ms,
                    org,
                ));
                let last_was_http = matches!(last_error, GatewayError::Upstream { .. });
                if !failover::keeps_last_error(last_was_http, true) {
                    last_error = GatewayError::NoChannelAvailable(format!(
                        "all channels for {what} failed; last: {detail}"
                    ));
                }
            }
            Fault::Http {
                status,
                text,
                retry_after_s,
                probe_key,
            } => {
                // Clients and the cooldown registry get at most 1 kB, without the station's
                // URL or anything credential-shaped.
                let message = upstream_message(text.as_bytes()).map_or_else(
                    || format!("upstream returned HTTP {status}"),
                    |m| scrub_message(&m, &channel.base_url),
                );
                if probe_key
                    && !found
                        .probes
                        .iter()
                        .any(|c| c.upstream_key_id == channel.upstream_key_id)
                {
                    found.probes.push(channel.clone());
                }
                found.outcomes.push(failure(
                    channel,
                    retry_after_s,
                    format!("HTTP {status}: {message}"),
                    now,
                    base_ms,
                    org,
                ));
                last_error = if probe_key {
                    // The channel's own key was rejected: not the client's credential problem.
                    GatewayError::NoChannelAvailable(format!(
                        "every channel for {what} failed; the last upstream rejected its key (HTTP {status})"
                    ))
                } else {
                    GatewayError::Upstream {
                        status,
                        message,
                        retry_after_s,
                    }
                };
            }
        }
    }
    finish(Err(last_error), &tried, found)
}

/// Why a channel's attempt failed over.
enum Fault {
    Connection(String),
    Http {
        status: u16,
        text: String,
        retry_after_s: Option<u64>,
        probe_key: bool,
    },
}

fn failure(
    channel: &Channel,
    retry_after_s: Option<u64>,
    error: String,
    now: i64,
    base_ms: i64,
    org: i64,
) -> ChannelOutcome {
    let outcome = ChannelOutcome {
        channel_id: channel.id,
        success: false,
        retry_after_s,
        error,
    };
    // Cool the channel in this isolate at once, by the same rule the registry applies.
    let mut local = ChannelCooldown::default();
    local.apply(&outcome, now, base_ms);
    cache::note_cooling(org, channel.id, local.until_ms, now);
    outcome
}

/// After the response (never before the first byte): outcomes go to the cooldown registry; keys
/// a station rejected (401/403) are verified by a probe, and only a rejected probe marks a key
/// invalid, which drops its channels from the route table (one answer never does: a 403 may be
/// about one model, a 401 about a header); gaps a station no longer has are forgotten.
fn report(app: &App, org: i64, base_ms: i64, found: Findings) {
    let Findings {
        outcomes,
        probes,
        recovered,
    } = found;
    if outcomes.is_empty() && probes.is_empty() && recovered.is_empty() {
        return;
    }
    let env = app.env.clone();
    app.ctx.wait_until(async move {
        if !outcomes.is_empty() {
            if let Err(e) = upstream::report_outcomes(&env, org, base_ms, &outcomes).await {
                worker::console_error!("cooldown report failed: {e:?}");
            }
        }
        let mut rejected_keys = Vec::new();
        for channel in &probes {
            let at = probe::KeyAt {
                base_url: &channel.base_url,
                platform: &channel.platform,
                dialects: channel.dialects.as_deref(),
                key_ciphertext: &channel.key_ciphertext,
                aad: upstream_key_aad(org, channel.station_id),
            };
            if let (ProbeResult::Rejected, reason) = probe::verify(&env, &at).await {
                rejected_keys.push((
                    channel.upstream_key_id,
                    format!("verification probe: {reason}"),
                ));
            }
        }
        if !rejected_keys.is_empty() {
            if let Err(e) = routes::invalidate_keys(&env, org, &rejected_keys).await {
                worker::console_error!("marking rejected keys invalid failed: {e:?}");
            }
        }
        if !recovered.is_empty() {
            if let Err(e) = routes::forget_gaps(&env, org, &recovered).await {
                worker::console_error!("forgetting recovered dialects failed: {e:?}");
            }
        }
    });
}

/// Channels with failures since their last success → cooldown end. The isolate snapshot is
/// refreshed from the Durable Object at most every couple of seconds; if the object cannot
/// be reached, routing goes on without cooldown data rather than failing the request.
async fn failing_channels(app: &App, org: i64, now: i64) -> Rc<HashMap<i64, i64>> {
    if let Some(snapshot) = cache::get_cooldowns(org, now) {
        return snapshot;
    }
    let snapshot = match upstream::cooldown_entries(&app.env, org).await {
        Ok(entries) => entries
            .into_iter()
            .map(|c| (c.channel_id, c.until_ms))
            .collect(),
        Err(e) => {
            worker::console_error!("cooldown snapshot unavailable: {e:?}");
            HashMap::new()
        }
    };
    let snapshot = Rc::new(snapshot);
    cache::put_cooldowns(org, snapshot.clone(), now);
    snapshot
}

/// The body, path and credential header one channel gets for this call.
struct Prepared {
    body: Vec<u8>,
    path: String,
    auth: UpstreamAuth,
    conversion: Option<ResponseContext>,
    /// Set for embeddings converted between OpenAI and Gemini: the answer is converted in `send`.
    embeddings: Option<EmbedCall>,
}

fn prepare(
    out: &Outbound<'_>,
    channel: &Channel,
    serving: Serving<'_>,
) -> Result<Prepared, SendFailure> {
    let channel_error = |e: String| SendFailure::Channel(e);
    match plan_call(out.endpoint, serving, &out.path_and_query) {
        CallPlan::Convert { target } => {
            if let Some(kind) = out.endpoint.embeddings {
                let request = embeddings::prepare(kind, out.body, channel, serving)
                    .map_err(|e| SendFailure::Request(e.into()))?;
                return Ok(Prepared {
                    body: request.body,
                    path: request.path,
                    auth: auth_for(target),
                    conversion: None,
                    embeddings: Some(request.call),
                });
            }
            let client = out.endpoint.dialect.unwrap_or(Dialect::OpenAiChat);
            let converted = convert_request(
                client,
                target,
                out.body,
                &channel.upstream_model,
                out.gemini_framing,
            )
            .map_err(|e| SendFailure::Request(e.into()))?;
            let path = serving
                .upstream_path(target, &converted.path)
                .unwrap_or(converted.path);
            Ok(Prepared {
                body: converted.body,
                path,
                auth: auth_for(target),
                conversion: Some(converted.context),
                embeddings: None,
            })
        }
        CallPlan::Native { path } => {
            let renamed = out.model.is_some_and(|m| *m != channel.upstream_model);
            let body = if renamed {
                rename_model(out.body, &channel.upstream_model).map_err(channel_error)?
            } else {
                out.body.to_vec()
            };
            let path = if matches!(out.endpoint.model, ModelSource::Path(_)) {
                gemini_path_with_model(&path, &channel.upstream_model)
            } else {
                path
            };
            Ok(Prepared {
                body,
                path,
                auth: out.endpoint.auth,
                conversion: None,
                embeddings: None,
            })
        }
        // Handled before any attempt (every channel would answer locally).
        CallPlan::LocalCount(_) => Ok(Prepared {
            body: out.body.to_vec(),
            path: out.path_and_query.clone(),
            auth: out.endpoint.auth,
            conversion: None,
            embeddings: None,
        }),
    }
}

fn auth_for(dialect: Dialect) -> UpstreamAuth {
    match dialect {
        Dialect::AnthropicMessages => UpstreamAuth::AnthropicKey,
        Dialect::Gemini => UpstreamAuth::GoogleKey,
        Dialect::OpenAiChat | Dialect::OpenAiCompletions | Dialect::OpenAiResponses => {
            UpstreamAuth::Bearer
        }
    }
}

/// One attempt on one channel served as `serving` says: its body and credential, fetched with
/// the first-byte timeout.
pub(super) async fn send(
    app: &App,
    out: &Outbound<'_>,
    channel: &Channel,
    serving: Serving<'_>,
) -> Result<(Response, Option<ResponseContext>), SendFailure> {
    let fail = |e: String| SendFailure::Channel(e);
    let prepared = prepare(out, channel, serving)?;
    // The SSRF guard again, right before the key is opened and sent (stored rows may predate it).
    let url = format!("{}{}", channel.base_url, prepared.path);
    let own_host = out.req.headers().get("Host").ok().flatten();
    outbound_policy()
        .check(&url, own_host.as_deref())
        .map_err(|e| fail(e.message()))?;
    let upstream_key = open_key(
        &app.env,
        &channel.key_ciphertext,
        &upstream_key_aad(out.org, channel.station_id),
    )
    .map_err(|e| fail(e.to_string()))?;
    let headers = Headers::new();
    for (name, value) in out.req.headers().entries() {
        if forwardable_request_header(&name) {
            headers
                .append(&name, &value)
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    if prepared.conversion.is_some() || prepared.embeddings.is_some() {
        // The body changed: its client-side headers no longer describe it.
        let _ = headers.delete("anthropic-beta");
        let _ = headers.delete("content-encoding");
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| fail(e.to_string()))?;
    }
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|e| fail(e.to_string()));
    match prepared.auth {
        UpstreamAuth::Bearer => set("Authorization", &format!("Bearer {upstream_key}"))?,
        UpstreamAuth::AnthropicKey => {
            set("x-api-key", &upstream_key)?;
            if !headers.has("anthropic-version").unwrap_or(false) {
                set("anthropic-version", "2023-06-01")?;
            }
        }
        UpstreamAuth::GoogleKey => set("x-goog-api-key", &upstream_key)?,
    }
    let mut init = RequestInit::new();
    init.with_method(out.req.method()).with_headers(headers);
    if !prepared.body.is_empty() {
        init.with_body(Some(
            js_sys::Uint8Array::from(prepared.body.as_slice()).into(),
        ));
    }
    let request = Request::new_with_init(&url, &init).map_err(|e| fail(e.to_string()))?;
    // Response headers must arrive within the timeout; a hung upstream is aborted and the next
    // channel tried (the client has received nothing yet, so failing over is still safe).
    let timeout_ms = out.first_byte_timeout_ms;
    let answered = if out.long_body {
        // The body must outlive the timeout: our own timer, dropped once the headers arrive.
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = fetch_upstream(&request, &signal);
        let timeout = Delay::from(Duration::from_millis(timeout_ms));
        futures::pin_mut!(fetch);
        match select(fetch, timeout).await {
            Either::Left((result, _)) => Some(result),
            Either::Right(_) => {
                controller.abort();
                None
            }
        }
    } else {
        // A whole answer's first byte comes with its body, so the runtime's own timer bounds it:
        // no wasm callback to create and no timer to clear per call (one A/B run: ~0.2 ms of p50).
        let signal = web_sys::AbortSignal::timeout_with_f64(timeout_ms as f64);
        let result = fetch_upstream(&request, &signal).await;
        if result.is_err() && signal.aborted() {
            None
        } else {
            Some(result)
        }
    };
    let Some(result) = answered else {
        return Err(fail(format!("no response within {timeout_ms} ms")));
    };
    let resp = result.map_err(|e| fail(e.to_string()))?;
    let resp = match &prepared.embeddings {
        Some(call) => embeddings::answer(call, resp).await.map_err(fail)?,
        None => resp,
    };
    Ok((resp, prepared.conversion))
}

/// `fetch` as workers-rs does it, minus its reading of the answer's `cf` and `webSocket`
/// properties, which a relayed HTTP answer never has and which cost a crossing each.
async fn fetch_upstream(
    request: &Request,
    signal: &web_sys::AbortSignal,
) -> Result<Response, worker::Error> {
    let init = web_sys::RequestInit::new();
    init.set_signal(Some(signal));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answer = JsFuture::from(global.fetch_with_request_and_init(request.inner(), &init)).await?;
    let answer: web_sys::Response = answer.dyn_into()?;
    let builder = Response::builder()
        .with_status(answer.status())
        .with_headers(Headers(answer.headers()));
    Ok(match answer.body() {
        Some(body) => builder.stream(body),
        None => builder.empty(),
    })
}

/// Only for mapped models: the body is re-serialised with the upstream's model name.
fn rename_model(body: &[u8], upstream_model: &str) -> Result<Vec<u8>, String> {
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    value["model"] = serde_json::Value::String(upstream_model.to_string());
    serde_json::to_vec(&value).map_err(|e| e.to_string())
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    // A failed random source only skews the spread, never correctness.
    let _ = fill_random(&mut buf);
    u32::from_le_bytes(buf)
}

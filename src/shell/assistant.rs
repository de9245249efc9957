//! The ComfyUI side of the assistant: a client for one organization's server (its secret
//! header opened from D1), the catalogue cached in KV, queueing filled templates, and following
//! the runs — over ComfyUI's WebSocket, falling back to polling `/history` — as an SSE stream
//! whose outcomes are written to D1. A client that goes away cancels what is still pending.

use super::app::{assistant_auth_aad, now_ms, App};
use super::plans;
use super::repo::assistant::{self as repo, NewRun};
use crate::core::comfy::events::{
    preview, prompt_rejection, queue_position, Outcome, RunEvent, Tracker,
};
use crate::core::comfy::fill::Filled;
use crate::core::comfy::object_info::ObjectInfo;
use crate::core::convert::embeddings::base64_encode;
use crate::core::endpoint::{self, Route};
use crate::core::error::GatewayError;
use crate::core::gateway_key::GatewayKeyRecord;
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::future::{select, Either};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{
    Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response, WebSocket, WebsocketEvent,
};

/// The server id of the dev default (`COMFYUI_URL`, e.g. `http://127.0.0.1:8188`), used when
/// the organization registered none.
pub const DEFAULT_SERVER: i64 = 0;

/// How long one stream follows its runs before it hands over (the runs go on; re-attach).
const FOLLOW_LIMIT: Duration = Duration::from_secs(15 * 60);
/// Silence on the socket after which `/history` is asked.
const SOCKET_QUIET: Duration = Duration::from_secs(5);
const POLL_EVERY: Duration = Duration::from_millis(1000);
/// Seconds the catalogue stays in KV; a health check refreshes it.
const CATALOG_TTL_S: u64 = 3600;

/// A client of one ComfyUI server.
#[derive(Clone)]
pub struct Comfy {
    pub org: i64,
    pub server_id: i64,
    base_url: String,
    auth: Option<(String, String)>,
}

fn unreachable(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Upstream {
        status: 502,
        message: format!("the ComfyUI server did not answer: {e}"),
        retry_after_s: None,
    }
}

impl Comfy {
    /// The organization's server `id`, or the dev default for `DEFAULT_SERVER`.
    pub async fn open(app: &App, org: i64, id: i64) -> Result<Self, GatewayError> {
        if id == DEFAULT_SERVER {
            let base_url = app.secret("COMFYUI_URL").ok_or_else(|| {
                GatewayError::InvalidRequest(
                    "no ComfyUI server: add one under /api/assistant/servers".into(),
                )
            })?;
            return Ok(Self {
                org,
                server_id: id,
                base_url,
                auth: None,
            });
        }
        let d1 = app.db()?;
        let server = repo::server(&d1, org, id).await?;
        let secret = repo::server_secret(&d1, org, id).await?;
        let auth = match (secret.auth_header, secret.auth_ciphertext) {
            (Some(header), Some(sealed)) => Some((
                header,
                app.secret_box()?.open(&sealed, &assistant_auth_aad(org))?,
            )),
            _ => None,
        };
        Ok(Self {
            org,
            server_id: id,
            base_url: server.base_url,
            auth,
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Request, GatewayError> {
        let headers = Headers::new();
        if let Some((name, value)) = &self.auth {
            headers.set(name, value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method);
        if let Some(body) = body {
            headers.set("Content-Type", "application/json")?;
            init.with_body(Some(JsValue::from_str(&body.to_string())));
        }
        init.with_headers(headers);
        Ok(Request::new_with_init(
            &format!("{}{path}", self.base_url),
            &init,
        )?)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, GatewayError> {
        let req = self.request(method, path, body)?;
        Fetch::Request(req).send().await.map_err(unreachable)
    }

    /// A JSON answer with its status.
    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), GatewayError> {
        let mut resp = self.send(method, path, body).await?;
        let status = resp.status_code();
        let text = resp.text().await.map_err(unreachable)?;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, value))
    }

    async fn get_ok(&self, path: &str) -> Result<Value, GatewayError> {
        match self.json(Method::Get, path, None).await? {
            (200, value) => Ok(value),
            (status, _) => Err(unreachable(format!("GET {path} answered {status}"))),
        }
    }

    fn catalog_key(&self) -> String {
        format!("comfy:object_info:{}:{}", self.org, self.server_id)
    }

    /// `/system_stats` and `/object_info`; the catalogue goes to KV for the fills.
    pub async fn check(&self, app: &App) -> Result<(Value, ObjectInfo), GatewayError> {
        let stats = self.get_ok("/system_stats").await?;
        let body = self.get_ok("/object_info").await?;
        let info = ObjectInfo::parse(&body).map_err(unreachable)?;
        app.kv()?
            .put(&self.catalog_key(), body.to_string())?
            .expiration_ttl(CATALOG_TTL_S)
            .execute()
            .await?;
        Ok((stats, info))
    }

    /// The catalogue from KV, or fetched (and cached) when KV has none.
    pub async fn object_info(&self, app: &App) -> Result<ObjectInfo, GatewayError> {
        if let Some(text) = app.kv()?.get(&self.catalog_key()).text().await? {
            if let Ok(info) = serde_json::from_str::<Value>(&text)
                .map_err(|e| e.to_string())
                .and_then(|v| ObjectInfo::parse(&v))
            {
                return Ok(info);
            }
        }
        Ok(self.check(app).await?.1)
    }

    /// `POST /prompt`; a refusal (`node_errors`) is a 400 naming the nodes.
    pub async fn queue(
        &self,
        graph: &serde_json::Map<String, Value>,
        client_id: &str,
    ) -> Result<String, GatewayError> {
        let body = json!({"prompt": graph, "client_id": client_id});
        match self.json(Method::Post, "/prompt", Some(&body)).await? {
            (200, answer) => answer
                .get("prompt_id")
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| unreachable("POST /prompt answered without a prompt_id")),
            (400, answer) => Err(GatewayError::InvalidRequest(format!(
                "ComfyUI refused the workflow: {}",
                prompt_rejection(&answer)
            ))),
            (status, _) => Err(unreachable(format!("POST /prompt answered {status}"))),
        }
    }

    /// Removes the prompts from the queue and interrupts the one running.
    pub async fn cancel(&self, prompt_ids: &[String]) -> Result<(), GatewayError> {
        self.send(Method::Post, "/queue", Some(&json!({"delete": prompt_ids})))
            .await?;
        self.send(Method::Post, "/interrupt", Some(&json!({})))
            .await?;
        Ok(())
    }

    async fn websocket(&self, client_id: &str) -> Result<WebSocket, GatewayError> {
        let mut req = self.request(Method::Get, &format!("/ws?clientId={client_id}"), None)?;
        req.headers_mut()?.set("Upgrade", "websocket")?;
        let resp = Fetch::Request(req).send().await.map_err(unreachable)?;
        let ws = resp
            .websocket()
            .ok_or_else(|| unreachable("/ws did not upgrade"))?;
        ws.accept()?;
        // Previews come as binary frames; read them as bytes, not the standard's default Blob.
        let socket: &web_sys::WebSocket = ws.as_ref();
        js_sys::Reflect::set(socket, &"binaryType".into(), &"arraybuffer".into())
            .map_err(|_| GatewayError::Internal("cannot set the socket's binaryType".into()))?;
        Ok(ws)
    }
}

/// Queues each filled prompt (one daily request each) and stores its run; stops at the first
/// refusal, reporting what was queued before it.
pub async fn queue_all(
    app: &App,
    comfy: &Comfy,
    conversation: &repo::Conversation,
    template_id: &str,
    prompts: &[Filled],
) -> Result<Vec<(i64, String)>, GatewayError> {
    let d1 = app.db()?;
    let mut runs = Vec::new();
    for prompt in prompts {
        plans::check_daily_request(app, comfy.org).await?;
        let prompt_id = comfy.queue(&prompt.graph, &conversation.client_id).await?;
        let params = serde_json::to_string(&prompt.values).unwrap_or_default();
        let graph = Value::Object(prompt.graph.clone()).to_string();
        let run = NewRun {
            conversation_id: conversation.id,
            server_id: comfy.server_id,
            template_id,
            label: prompt.label.as_deref(),
            params: &params,
            graph: &graph,
            prompt_id: &prompt_id,
        };
        let id = repo::insert_run(&d1, comfy.org, &run, now_ms()).await?;
        runs.push((id, prompt_id));
    }
    Ok(runs)
}

/// One LLM turn through the gateway's own relay: the organization's routes, counted against its
/// daily limit and written to its usage log under `user`; answers `choices[0].message`.
pub async fn llm_message(
    app: &App,
    org: i64,
    user: i64,
    body: &Value,
) -> Result<Value, GatewayError> {
    const PATH: &str = "/v1/chat/completions";
    let Some(Route::Relay(endpoint)) = endpoint::resolve("POST", PATH) else {
        return Err(GatewayError::Internal(
            "no chat completions endpoint".into(),
        ));
    };
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&body.to_string())));
    let mut req = Request::new_with_init(&format!("https://assistant.internal{PATH}"), &init)?;
    let mut key = GatewayKeyRecord::unrestricted(org);
    key.user_id = (user != 0).then_some(user);
    let mut resp = super::relay::handle_internal(&mut req, app, endpoint, key).await?;
    let status = resp.status_code();
    let text = resp.text().await?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match answer.pointer("/choices/0/message") {
        Some(message) if status == 200 => Ok(message.clone()),
        _ => Err(GatewayError::Upstream {
            status: 502,
            message: format!(
                "the assistant's model answered {status}: {}",
                text.chars().take(300).collect::<String>()
            ),
            retry_after_s: None,
        }),
    }
}

/// An SSE response of one assistant message.
pub fn message_response(text: &str) -> Result<Response, GatewayError> {
    let (tx, rx) = unbounded::<String>();
    let _ = tx.unbounded_send(assistant_message(text).frame());
    drop(tx);
    sse_response(rx)
}

/// The `message` event of the assistant's text.
pub fn assistant_message(text: &str) -> RunEvent {
    RunEvent {
        name: "message",
        data: json!({"role": "assistant", "content": text}),
    }
}

/// Queues the prompts and answers with their SSE stream: `preface`, a `run` event per prompt,
/// then their progress.
pub async fn queue_and_follow(
    app: &App,
    comfy: Comfy,
    conversation: &repo::Conversation,
    template_id: &str,
    prompts: &[Filled],
    mut preface: Vec<RunEvent>,
) -> Result<Response, GatewayError> {
    let runs = queue_all(app, &comfy, conversation, template_id, prompts).await?;
    preface.extend(
        runs.iter()
            .zip(prompts)
            .map(|((run, prompt_id), p)| RunEvent {
                name: "run",
                data: json!({"run": run, "prompt_id": prompt_id, "template": template_id,
                     "label": p.label, "params": p.values}),
            }),
    );
    follow_response(app, comfy, conversation.client_id.clone(), runs, preface)
}

/// An SSE response that first sends `preface`, then follows `runs` to their ends.
pub fn follow_response(
    app: &App,
    comfy: Comfy,
    client_id: String,
    runs: Vec<(i64, String)>,
    preface: Vec<RunEvent>,
) -> Result<Response, GatewayError> {
    let (tx, rx) = unbounded::<String>();
    for event in &preface {
        let _ = tx.unbounded_send(event.frame());
    }
    let env = app.env.clone();
    app.ctx.wait_until(async move {
        if let Err(e) = follow(&env, &comfy, &client_id, runs, &tx).await {
            let _ = tx.unbounded_send(
                RunEvent {
                    name: "error",
                    data: json!({"message": e.to_string()}),
                }
                .frame(),
            );
        }
    });
    sse_response(rx)
}

/// The SSE response over a channel of frames; it ends when the sender is dropped.
pub fn sse_response(
    rx: futures::channel::mpsc::UnboundedReceiver<String>,
) -> Result<Response, GatewayError> {
    let stream = rx.map(|frame| Ok::<Vec<u8>, worker::Error>(frame.into_bytes()));
    let headers = Headers::new();
    headers.set("Content-Type", "text/event-stream")?;
    headers.set("Cache-Control", "no-cache")?;
    Ok(Response::from_stream(stream)?.with_headers(headers))
}

/// Follows the runs: queue positions, then the socket (or `/history` polling), writing each
/// outcome to D1. A client gone (send fails) cancels the pending prompts on the server.
async fn follow(
    env: &Env,
    comfy: &Comfy,
    client_id: &str,
    runs: Vec<(i64, String)>,
    tx: &UnboundedSender<String>,
) -> Result<(), GatewayError> {
    let mut tracker = Tracker::new(runs);
    let mut recorded = Vec::new();
    let socket = comfy.websocket(client_id).await.ok();
    if let Ok((200, queue)) = comfy.json(Method::Get, "/queue", None).await {
        for (run, prompt_id) in tracker.pending() {
            if let Some(position) = queue_position(&queue, &prompt_id) {
                send(
                    tx,
                    &[RunEvent {
                        name: "queued",
                        data: json!({"run": run, "position": position}),
                    }],
                )?;
            }
        }
    }
    let deadline = now_ms() + FOLLOW_LIMIT.as_millis() as i64;
    let outcome: Result<(), GatewayError> = async {
        // Prompts may have finished before the socket opened.
        poll_history(comfy, &mut tracker, tx).await?;
        if let Some(ws) = &socket {
            let mut events = ws.events()?;
            while !tracker.finished() && now_ms() < deadline {
                let next = select(events.next(), Delay::from(SOCKET_QUIET)).await;
                let batch = match next {
                    Either::Left((Some(Ok(WebsocketEvent::Message(msg))), _)) => {
                        if let Some(text) = msg.text() {
                            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            tracker.on_message(&value)
                        } else if let Some(bytes) = msg.bytes() {
                            let batch = preview(&bytes)
                                .map(|(mime, image)| {
                                    vec![RunEvent {
                                        name: "preview",
                                        data: json!({"mime": mime, "b64": base64_encode(image)}),
                                    }]
                                })
                                .unwrap_or_default();
                            batch
                        } else {
                            Vec::new()
                        }
                    }
                    Either::Left(_) => break, // closed or failed: poll instead
                    Either::Right(_) => {
                        poll_history(comfy, &mut tracker, tx).await?;
                        Vec::new()
                    }
                };
                send(tx, &batch)?;
                record(env, comfy.org, &tracker, &mut recorded).await?;
            }
            let _ = ws.close(Some(1000), Some("done"));
        }
        while !tracker.finished() && now_ms() < deadline {
            Delay::from(POLL_EVERY).await;
            poll_history(comfy, &mut tracker, tx).await?;
            record(env, comfy.org, &tracker, &mut recorded).await?;
        }
        Ok(())
    }
    .await;
    if let Err(GatewayError::Internal(reason)) = &outcome {
        if reason == CLIENT_GONE {
            let pending: Vec<String> = tracker.pending().into_iter().map(|(_, p)| p).collect();
            if !pending.is_empty() {
                comfy.cancel(&pending).await?;
                tracker.cancel_all();
            }
        }
    }
    record(env, comfy.org, &tracker, &mut recorded).await?;
    match outcome {
        Err(GatewayError::Internal(reason)) if reason == CLIENT_GONE => Ok(()),
        other => other,
    }
}

const CLIENT_GONE: &str = "the SSE client went away";

fn send(tx: &UnboundedSender<String>, events: &[RunEvent]) -> Result<(), GatewayError> {
    for event in events {
        tx.unbounded_send(event.frame())
            .map_err(|_| GatewayError::Internal(CLIENT_GONE.into()))?;
    }
    Ok(())
}

async fn poll_history(
    comfy: &Comfy,
    tracker: &mut Tracker,
    tx: &UnboundedSender<String>,
) -> Result<(), GatewayError> {
    for (_, prompt_id) in tracker.pending() {
        let history = comfy.get_ok(&format!("/history/{prompt_id}")).await?;
        let events = tracker.on_history(&prompt_id, &history);
        send(tx, &events)?;
    }
    Ok(())
}

/// Writes outcomes not yet written.
async fn record(
    env: &Env,
    org: i64,
    tracker: &Tracker,
    recorded: &mut Vec<i64>,
) -> Result<(), GatewayError> {
    let d1 = env.d1("DB")?;
    for (run, outcome) in tracker.outcomes() {
        if recorded.contains(&run) {
            continue;
        }
        let (status, error, outputs) = match &outcome {
            Outcome::Done { outputs } => ("done", None, serde_json::to_string(outputs).ok()),
            Outcome::Error { message, .. } => ("error", Some(message.as_str()), None),
            Outcome::Cancelled => ("cancelled", None, None),
        };
        repo::finish_run(&d1, org, run, status, error, outputs.as_deref(), now_ms()).await?;
        recorded.push(run);
    }
    Ok(())
}

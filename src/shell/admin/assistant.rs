//! The assistant's admin API (`/api/assistant/…`): ComfyUI servers and their health, templates
//! (built-in and uploaded) with their availability on a server, the per-organization switch,
//! and each user's conversations, runs (queued and followed as SSE), cancel and results.
//! Servers and settings need an admin; the rest any member, each seeing only their own.

use crate::core::comfy::assistant::{
    decide, give_up_message, system_prompt, tools, LastRun, Step, MAX_ATTEMPTS,
};
use crate::core::comfy::events::OutputFile;
use crate::core::comfy::fill::{availability, describe, fill};
use crate::core::comfy::server::ServerInput;
use crate::core::comfy::template::{builtin, Template};
use crate::core::crypto::random_token;
use crate::core::error::GatewayError;
use crate::shell::app::{assistant_auth_aad, now_ms, App};
use crate::shell::assistant::{
    assistant_message, follow_response, llm_message, message_response, queue_and_follow, Comfy,
    DEFAULT_SERVER,
};
use crate::shell::auth::Caller;
use crate::shell::http::{created, json_body, nonempty, ok, parse_id, unknown_endpoint};
use crate::shell::repo::assistant as repo;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Method, Request, Response};

/// `/api/assistant/…`; `rest` is the path after `assistant`.
pub async fn dispatch(
    req: &mut Request,
    app: &App,
    caller: &Caller,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    let rest = nonempty(rest);
    let org = caller.org;
    let user = caller.user_id.unwrap_or(0);
    match (req.method(), rest.as_slice()) {
        (Method::Get, ["settings"]) => return ok(settings(app, org).await?),
        (Method::Put, ["settings"]) => return put_settings(req, app, org).await,
        _ => {}
    }
    require_enabled(app, org).await?;
    match (req.method(), rest.as_slice()) {
        (Method::Get, ["servers"]) => ok(repo::servers(&app.db()?, org).await?),
        (Method::Post, ["servers"]) => create_server(req, app, org).await,
        (Method::Delete, ["servers", id]) => {
            let id = parse_id(id)?;
            repo::delete_server(&app.db()?, org, id).await?;
            ok(json!({"deleted": id}))
        }
        (Method::Post, ["servers", id, "check"]) => check_server(app, org, parse_id(id)?).await,
        (Method::Get, ["templates"]) => list_templates(req, app, org).await,
        (Method::Post, ["templates"]) => upload_template(req, app, org, user).await,
        (Method::Delete, ["templates", id]) => {
            repo::delete_template(&app.db()?, org, id).await?;
            ok(json!({"deleted": id}))
        }
        (Method::Get, ["conversations"]) => ok(repo::conversations(&app.db()?, org, user).await?),
        (Method::Post, ["conversations"]) => create_conversation(req, app, org, user).await,
        (Method::Get, ["conversations", id]) => {
            let d1 = app.db()?;
            let conversation = repo::conversation(&d1, org, user, parse_id(id)?).await?;
            let messages = repo::messages(&d1, org, conversation.id).await?;
            let runs = repo::runs_of(&d1, org, conversation.id).await?;
            ok(json!({"conversation": conversation, "messages": messages, "runs": runs}))
        }
        (Method::Post, ["conversations", id, "runs"]) => {
            start_run(req, app, org, user, parse_id(id)?).await
        }
        (Method::Post, ["chat"]) => chat(req, app, org, user).await,
        (Method::Get, ["runs", id, "events"]) => reattach(app, org, user, parse_id(id)?).await,
        (Method::Post, ["runs", id, "cancel"]) => cancel_run(app, org, user, parse_id(id)?).await,
        (Method::Get, ["runs", id, "view"]) => view(req, app, org, user, parse_id(id)?).await,
        _ => Err(unknown_endpoint(&req.method(), "assistant/", &rest)),
    }
}

const ENABLED: &str = "assistant.enabled";
/// The model of the organization's routes the assistant talks to.
const MODEL: &str = "assistant.model";

async fn settings(app: &App, org: i64) -> Result<Value, GatewayError> {
    let d1 = app.db()?;
    let enabled = repo::setting(&d1, org, ENABLED).await?;
    let model = repo::setting(&d1, org, MODEL).await?;
    Ok(json!({"enabled": enabled.as_deref() != Some("false"), "model": model}))
}

#[derive(Deserialize)]
struct SettingsInput {
    enabled: Option<bool>,
    model: Option<String>,
}

async fn put_settings(req: &mut Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let input: SettingsInput = json_body(req).await?;
    let d1 = app.db()?;
    if let Some(enabled) = input.enabled {
        let value = if enabled { "true" } else { "false" };
        repo::set_setting(&d1, org, ENABLED, value, now_ms()).await?;
    }
    if let Some(model) = input
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        repo::set_setting(&d1, org, MODEL, model, now_ms()).await?;
    }
    ok(settings(app, org).await?)
}

/// A 403 when an admin switched the assistant off for the organization.
async fn require_enabled(app: &App, org: i64) -> Result<(), GatewayError> {
    if repo::setting(&app.db()?, org, ENABLED).await?.as_deref() == Some("false") {
        return Err(GatewayError::Forbidden(
            "the assistant is disabled for this organization".into(),
        ));
    }
    Ok(())
}

async fn create_server(req: &mut Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let server = json_body::<ServerInput>(req).await?.validate()?;
    let sealed = match &server.auth {
        Some((_, value)) => Some(app.secret_box()?.seal(value, &assistant_auth_aad(org))?),
        None => None,
    };
    let d1 = app.db()?;
    let id = repo::insert_server(&d1, org, &server, sealed.as_deref(), now_ms()).await?;
    created(repo::server(&d1, org, id).await?)
}

/// Reads `/system_stats` and `/object_info`, records the result and the catalogue summary.
async fn check_server(app: &App, org: i64, id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let comfy = Comfy::open(app, org, id).await?;
    match comfy.check(app).await {
        Ok((stats, info)) => {
            let catalog = serde_json::to_string(&info.summary()).unwrap_or_default();
            let stats = stats.to_string();
            repo::record_check(&d1, org, id, Ok((&stats, &catalog)), now_ms()).await?;
        }
        Err(e) => repo::record_check(&d1, org, id, Err(&e.to_string()), now_ms()).await?,
    }
    ok(repo::server(&d1, org, id).await?)
}

/// Built-in templates, then the organization's uploads.
async fn all_templates(app: &App, org: i64) -> Result<Vec<Template>, GatewayError> {
    let mut templates = builtin();
    for row in repo::templates(&app.db()?, org).await? {
        if let Ok(t) = serde_json::from_str::<Template>(&row.definition) {
            templates.push(t);
        }
    }
    Ok(templates)
}

fn query(req: &Request, key: &str) -> Result<Option<String>, GatewayError> {
    Ok(req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned()))
}

/// `?server_id=` adds each template's availability on that server (0: the dev default).
async fn list_templates(req: &Request, app: &App, org: i64) -> Result<Response, GatewayError> {
    let templates = all_templates(app, org).await?;
    let info = match query(req, "server_id")? {
        Some(id) => {
            let id = id
                .parse::<i64>()
                .map_err(|_| GatewayError::InvalidRequest("`server_id` must be a number".into()))?;
            Some(Comfy::open(app, org, id).await?.object_info(app).await?)
        }
        None => None,
    };
    let list: Vec<Value> = templates
        .iter()
        .map(|t| {
            let mut entry = json!({"id": t.id, "title": t.title, "description": t.description,
                                   "output": t.output, "params": t.params, "fan_out": t.fan_out});
            if let Some(info) = &info {
                entry["availability"] = json!(availability(t, info));
            }
            entry
        })
        .collect();
    ok(list)
}

async fn upload_template(
    req: &mut Request,
    app: &App,
    org: i64,
    user: i64,
) -> Result<Response, GatewayError> {
    let template: Template = json_body(req).await?;
    template.check().map_err(GatewayError::InvalidRequest)?;
    if builtin().iter().any(|t| t.id == template.id) {
        return Err(GatewayError::Conflict(format!(
            "`{}` is a built-in template",
            template.id
        )));
    }
    let definition =
        serde_json::to_string(&template).map_err(|e| GatewayError::Internal(e.to_string()))?;
    repo::insert_template(&app.db()?, org, &template.id, &definition, user, now_ms()).await?;
    created(template)
}

#[derive(Deserialize)]
struct ConversationInput {
    server_id: Option<i64>,
    title: Option<String>,
}

async fn create_conversation(
    req: &mut Request,
    app: &App,
    org: i64,
    user: i64,
) -> Result<Response, GatewayError> {
    let input: ConversationInput = json_body(req).await?;
    let d1 = app.db()?;
    let server_id = match input.server_id {
        Some(id) if id != DEFAULT_SERVER => Some(repo::server(&d1, org, id).await?.id),
        _ => None,
    };
    let client_id = random_token("gw-", 24)?;
    let title: String = input
        .title
        .unwrap_or_else(|| "New conversation".into())
        .chars()
        .take(200)
        .collect();
    created(
        repo::create_conversation(&d1, org, user, server_id, &client_id, &title, now_ms()).await?,
    )
}

#[derive(Deserialize)]
struct RunInput {
    template: String,
    #[serde(default)]
    params: Map<String, Value>,
}

/// Fills and validates the template, queues its prompts, and answers with their SSE stream.
async fn start_run(
    req: &mut Request,
    app: &App,
    org: i64,
    user: i64,
    conversation: i64,
) -> Result<Response, GatewayError> {
    let input: RunInput = json_body(req).await?;
    let conversation = repo::conversation(&app.db()?, org, user, conversation).await?;
    let comfy = Comfy::open(app, org, conversation.server_id.unwrap_or(DEFAULT_SERVER)).await?;
    let templates = all_templates(app, org).await?;
    let template = templates
        .iter()
        .find(|t| t.id == input.template)
        .ok_or_else(|| {
            GatewayError::NotFound(format!("template `{}` not found", input.template))
        })?;
    let info = comfy.object_info(app).await?;
    let available = availability(template, &info);
    if !available.available {
        return Err(GatewayError::InvalidRequest(format!(
            "template `{}` cannot run on this server: {}",
            template.id,
            available.reasons.join("; ")
        )));
    }
    let prompts = fill(template, &input.params, &info, random_seed()?)
        .map_err(|errors| GatewayError::InvalidRequest(describe(&errors)))?;
    queue_and_follow(
        app,
        comfy,
        &conversation,
        &template.id,
        &prompts,
        Vec::new(),
    )
    .await
}

pub fn random_seed() -> Result<u64, GatewayError> {
    let mut bytes = [0u8; 8];
    crate::core::crypto::fill_random(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// The SSE stream of a run still going (or its outcome at once when it has ended).
async fn reattach(app: &App, org: i64, user: i64, id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let run = repo::run_of_user(&d1, org, user, id).await?;
    let conversation = repo::conversation(&d1, org, user, run.conversation_id).await?;
    let comfy = Comfy::open(app, org, run.server_id).await?;
    let prompt_id = run.prompt_id.clone().unwrap_or_default();
    follow_response(
        app,
        comfy,
        conversation.client_id,
        vec![(run.id, prompt_id)],
        Vec::new(),
    )
}

async fn cancel_run(app: &App, org: i64, user: i64, id: i64) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let run = repo::run_of_user(&d1, org, user, id).await?;
    if matches!(run.status.as_str(), "done" | "error" | "cancelled") {
        return Err(GatewayError::Conflict(format!(
            "run {id} has already ended ({})",
            run.status
        )));
    }
    let comfy = Comfy::open(app, org, run.server_id).await?;
    comfy
        .cancel(&[run.prompt_id.clone().unwrap_or_default()])
        .await?;
    repo::finish_run(&d1, org, id, "cancelled", None, None, now_ms()).await?;
    ok(json!({"cancelled": id}))
}

/// One output file of the user's run, fetched through `/view` (only files the run produced).
async fn view(
    req: &Request,
    app: &App,
    org: i64,
    user: i64,
    id: i64,
) -> Result<Response, GatewayError> {
    let run = repo::run_of_user(&app.db()?, org, user, id).await?;
    let wanted = OutputFile {
        filename: query(req, "filename")?.unwrap_or_default(),
        subfolder: query(req, "subfolder")?.unwrap_or_default(),
        kind: query(req, "type")?.unwrap_or_else(|| "output".into()),
    };
    let outputs: Vec<OutputFile> = run
        .outputs
        .and_then(|o| serde_json::from_value(o).ok())
        .unwrap_or_default();
    if !outputs.contains(&wanted) {
        return Err(GatewayError::NotFound(format!(
            "run {id} has no output `{}`",
            wanted.filename
        )));
    }
    let comfy = Comfy::open(app, org, run.server_id).await?;
    let mut url = worker::Url::parse("http://comfy/view")
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("filename", &wanted.filename)
        .append_pair("subfolder", &wanted.subfolder)
        .append_pair("type", &wanted.kind);
    let path = format!("/view?{}", url.query().unwrap_or_default());
    let resp = comfy.send(Method::Get, &path, None).await?;
    if resp.status_code() != 200 {
        return Err(GatewayError::Upstream {
            status: 502,
            message: format!("ComfyUI /view answered {}", resp.status_code()),
            retry_after_s: None,
        });
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct ChatInput {
    conversation_id: i64,
    message: String,
}

/// Messages of history the LLM sees besides the new one.
const HISTORY: usize = 20;

/// One chat turn: the LLM (through the relay) picks a template and fills it, asks, or tweaks
/// the last run; every fill is validated first and an invalid one goes back to the LLM with
/// the error (at most `MAX_ATTEMPTS` answers), then to the user as a plain message.
async fn chat(req: &mut Request, app: &App, org: i64, user: i64) -> Result<Response, GatewayError> {
    let input: ChatInput = json_body(req).await?;
    let text = input.message.trim();
    if text.is_empty() {
        return Err(GatewayError::InvalidRequest("`message` is empty".into()));
    }
    let d1 = app.db()?;
    let conversation = repo::conversation(&d1, org, user, input.conversation_id).await?;
    let model = repo::setting(&d1, org, MODEL).await?.ok_or_else(|| {
        GatewayError::InvalidRequest(
            "choose the assistant's model first: PUT /api/assistant/settings {\"model\": …}".into(),
        )
    })?;
    let history = repo::messages(&d1, org, conversation.id).await?;
    repo::add_message(&d1, org, conversation.id, "user", text, now_ms()).await?;
    let comfy = Comfy::open(app, org, conversation.server_id.unwrap_or(DEFAULT_SERVER)).await?;
    let info = comfy.object_info(app).await?;
    let all = all_templates(app, org).await?;
    let runnable: Vec<&Template> = all
        .iter()
        .filter(|t| availability(t, &info).available)
        .collect();
    let last = repo::runs_of(&d1, org, conversation.id)
        .await?
        .pop()
        .map(|run| {
            let fan_out = all
                .iter()
                .find(|t| t.id == run.template_id)
                .and_then(|t| t.fan_out.clone());
            let mut params: Map<String, Value> = run
                .params
                .and_then(|p| p.as_object().cloned())
                .unwrap_or_default();
            if let Some(name) = fan_out {
                params.remove(&name);
            }
            LastRun {
                template_id: run.template_id,
                params,
            }
        });
    let mut messages = vec![json!({"role": "system", "content": system_prompt(&runnable)})];
    let skip = history.len().saturating_sub(HISTORY);
    messages.extend(
        history
            .iter()
            .skip(skip)
            .map(|m| json!({"role": m.role, "content": m.content})),
    );
    messages.push(json!({"role": "user", "content": text}));
    let tools = tools(&runnable);
    let mut last_error = String::new();
    for _ in 0..MAX_ATTEMPTS {
        let body = json!({"model": model, "messages": messages, "tools": tools});
        let message = llm_message(app, org, user, &body).await?;
        match decide(&message, &runnable, last.as_ref(), &info, random_seed()?) {
            Step::Queue {
                template_id,
                params,
                prompts,
            } => {
                let reply = format!(
                    "Queued {} prompt(s) of `{template_id}` with {}.",
                    prompts.len(),
                    Value::Object(params)
                );
                repo::add_message(&d1, org, conversation.id, "assistant", &reply, now_ms()).await?;
                let preface = vec![assistant_message(&reply)];
                return queue_and_follow(
                    app,
                    comfy,
                    &conversation,
                    &template_id,
                    &prompts,
                    preface,
                )
                .await;
            }
            Step::Ask(reply) | Step::Reply(reply) => {
                repo::add_message(&d1, org, conversation.id, "assistant", &reply, now_ms()).await?;
                return message_response(&reply);
            }
            Step::Retry { call_id, error } => {
                messages.push(message);
                messages.push(json!({"role": "tool", "tool_call_id": call_id,
                                     "content": format!("Error: {error}. Correct the call.")}));
                last_error = error;
            }
        }
    }
    let reply = give_up_message(&last_error);
    repo::add_message(&d1, org, conversation.id, "assistant", &reply, now_ms()).await?;
    message_response(&reply)
}

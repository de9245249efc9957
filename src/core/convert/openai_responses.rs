//! OpenAI Responses: request/response parser and emitter, and the stream steps including the
//! full event lifecycle Codex depends on (§2.3, §5.3).

use crate::core::sse::SseEvent;
use serde_json::{json, Map, Value};

use super::errors::{unsupported, ConvertError};
use super::ir::{
    blob_for, Blob, Block, Media, Provider, Reasoning, Request, Response, ResponseFormat, Role,
    StopReason, SystemPart, ToolCall, ToolChoice, ToolDef, ToolResult,
};
use super::openai_chat::{openai_effort, parse_tool_choice, push_blocks, results_first, set_opt};
use super::read::{args_object, event_kind, opt_str, str_at};
use super::stream::{Delta, Frame};
use super::tools::object_schema;
use super::usage::Usage;
use super::ResponseContext;

// ---------------------------------------------------------------- requests

fn input_parts(content: &Value) -> Result<Vec<Block>, ConvertError> {
    let parts = match content {
        Value::String(s) => return Ok(vec![Block::text(s.clone())]),
        Value::Array(parts) => parts,
        _ => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    for p in parts {
        match str_at(p, "type") {
            "input_text" | "output_text" | "text" => out.push(Block::text(str_at(p, "text"))),
            "refusal" => out.push(Block::text(str_at(p, "refusal"))),
            "input_image" => out.push(Block::Image(match opt_str(p, "image_url") {
                Some(url) => Media::from_url(&url),
                None => Media::FileId(str_at(p, "file_id").to_string()),
            })),
            "input_file" => {
                let media = if let Some(data) = opt_str(p, "file_data") {
                    Media::from_url(&data)
                } else if let Some(url) = opt_str(p, "file_url") {
                    Media::Url(url)
                } else {
                    Media::FileId(str_at(p, "file_id").to_string())
                };
                out.push(Block::File {
                    media,
                    filename: opt_str(p, "filename"),
                });
            }
            other => {
                return Err(unsupported(format!(
                    "input part type `{other}` cannot be converted for this channel"
                )))
            }
        }
    }
    Ok(out)
}

pub fn parse_request(v: &Value) -> Result<Request, ConvertError> {
    if v.get("previous_response_id").is_some_and(|p| !p.is_null()) {
        return Err(unsupported(
            "previous_response_id needs a stored session, which this channel does not have; send the full input",
        ));
    }
    if v.get("conversation").is_some_and(|c| !c.is_null()) {
        return Err(unsupported(
            "`conversation` cannot be converted for this channel; send the full input",
        ));
    }
    let mut req = Request {
        model: str_at(v, "model").to_string(),
        ..Request::default()
    };
    if let Some(text) = opt_str(v, "instructions") {
        req.system.push(SystemPart { text, cache: false });
    }
    let items = match &v["input"] {
        Value::String(s) => vec![json!({"type": "message", "role": "user", "content": s})],
        Value::Array(items) => items.clone(),
        _ => {
            return Err(ConvertError::Malformed(
                "`input` must be a string or an array".into(),
            ))
        }
    };
    for item in &items {
        let kind = match str_at(item, "type") {
            "" if item.get("role").is_some() => "message",
            k => k,
        };
        match kind {
            "message" => match str_at(item, "role") {
                "system" | "developer" => {
                    for b in input_parts(&item["content"])? {
                        if let Block::Text { text, .. } = b {
                            req.system.push(SystemPart { text, cache: false });
                        }
                    }
                }
                "assistant" => push_blocks(
                    &mut req.messages,
                    Role::Assistant,
                    input_parts(&item["content"])?,
                ),
                _ => push_blocks(
                    &mut req.messages,
                    Role::User,
                    input_parts(&item["content"])?,
                ),
            },
            "function_call" => push_blocks(
                &mut req.messages,
                Role::Assistant,
                vec![Block::ToolCall(ToolCall {
                    id: str_at(item, "call_id").to_string(),
                    name: str_at(item, "name").to_string(),
                    arguments: args_object(str_at(item, "arguments")),
                    signature: None,
                })],
            ),
            "function_call_output" => {
                let content = match &item["output"] {
                    Value::String(s) => vec![Block::text(s.clone())],
                    other => input_parts(other)?,
                };
                push_blocks(
                    &mut req.messages,
                    Role::User,
                    vec![Block::ToolResult(ToolResult {
                        call_id: str_at(item, "call_id").to_string(),
                        name: None,
                        content,
                        is_error: false,
                    })],
                );
            }
            "reasoning" => {
                let text: String = item["summary"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| str_at(s, "text"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let signature =
                    opt_str(item, "encrypted_content").map(|e| Blob::new(Provider::OpenAi, e));
                push_blocks(
                    &mut req.messages,
                    Role::Assistant,
                    vec![Block::Thinking { text, signature }],
                );
            }
            other => {
                return Err(unsupported(format!(
                    "input item type `{other}` cannot be converted for this channel"
                )))
            }
        }
    }
    results_first(&mut req.messages);
    for t in v["tools"].as_array().into_iter().flatten() {
        if str_at(t, "type") != "function" {
            return Err(unsupported(format!(
                "tool type `{}` cannot be converted for this channel",
                str_at(t, "type")
            )));
        }
        req.tools.push(ToolDef {
            // Responses tools are strict unless they say otherwise.
            strict: Some(t["strict"].as_bool().unwrap_or(true)),
            ..ToolDef::declared(t, "parameters")
        });
    }
    req.tool_choice = parse_tool_choice(&v["tool_choice"]);
    req.parallel_tool_calls = v["parallel_tool_calls"].as_bool();
    req.max_tokens = v["max_output_tokens"].as_u64();
    req.temperature = v["temperature"].as_f64();
    req.top_p = v["top_p"].as_f64();
    req.stream = v["stream"].as_bool() == Some(true);
    req.reasoning = opt_str(&v["reasoning"], "effort").map(|e| match e.as_str() {
        "none" => Reasoning::Disabled,
        _ => Reasoning::Effort(e),
    });
    let format = &v["text"]["format"];
    req.response_format = match str_at(format, "type") {
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => Some(ResponseFormat::JsonSchema {
            name: str_at(format, "name").to_string(),
            schema: format.get("schema").cloned().unwrap_or(json!({})),
            strict: format["strict"].as_bool(),
        }),
        _ => None,
    };
    req.user = opt_str(v, "user").or_else(|| opt_str(v, "safety_identifier"));
    Ok(req)
}

fn input_part(b: &Block) -> Option<Value> {
    match b {
        Block::Text { text, .. } => Some(json!({"type": "input_text", "text": text})),
        Block::Image(m) => Some(match m {
            Media::FileId(id) => json!({"type": "input_image", "file_id": id}),
            other => json!({"type": "input_image", "image_url": other.to_url()}),
        }),
        Block::File { media, filename } => {
            let mut part = match media {
                Media::FileId(id) => json!({"type": "input_file", "file_id": id}),
                Media::Url(url) => json!({"type": "input_file", "file_url": url}),
                other => json!({"type": "input_file", "file_data": other.to_url()}),
            };
            if let Some(name) = filename {
                part["filename"] = json!(name);
            }
            Some(part)
        }
        _ => None,
    }
}

pub fn emit_request(req: &Request) -> Result<Value, ConvertError> {
    let mut input = Vec::new();
    for m in &req.messages {
        let mut parts = Vec::new();
        for b in &m.content {
            match (m.role, b) {
                (_, Block::Audio { .. }) => {
                    return Err(unsupported(
                        "audio input cannot be sent to a Responses channel",
                    ))
                }
                (_, Block::ToolResult(r)) => input
                    .push(json!({"type": "function_call_output", "call_id": r.call_id,
                    "output": super::openai_chat::joined_text(&r.content)})),
                (_, Block::ToolCall(c)) => input
                    .push(json!({"type": "function_call", "call_id": c.id,
                    "name": c.name, "arguments": c.arguments.to_string()})),
                (Role::Assistant, Block::Text { text, .. }) => input
                    .push(json!({"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": text}]})),
                (Role::User, other) => parts.extend(input_part(other)),
                // Reasoning items need their item id to be replayed; foreign thinking cannot go.
                _ => {}
            }
        }
        if !parts.is_empty() {
            input.push(json!({"type": "message", "role": "user", "content": parts}));
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(req.model));
    out.insert("input".into(), Value::Array(input));
    if !req.system.is_empty() {
        let text: Vec<&str> = req.system.iter().map(|s| s.text.as_str()).collect();
        out.insert("instructions".into(), json!(text.join("\n\n")));
    }
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"type": "function", "name": t.name,
                    "parameters": object_schema(&t.parameters), "strict": t.strict.unwrap_or(false)});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    set_opt(
        &mut out,
        "tool_choice",
        req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
        }),
    );
    set_opt(&mut out, "parallel_tool_calls", req.parallel_tool_calls);
    set_opt(&mut out, "max_output_tokens", req.max_tokens);
    set_opt(&mut out, "temperature", req.temperature);
    set_opt(&mut out, "top_p", req.top_p);
    if let Some(effort) = req.reasoning.as_ref().and_then(openai_effort) {
        out.insert("reasoning".into(), json!({"effort": effort}));
        out.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    set_opt(
        &mut out,
        "text",
        req.response_format.as_ref().map(|f| match f {
            ResponseFormat::JsonObject => json!({"format": {"type": "json_object"}}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut format = json!({"type": "json_schema", "name": name, "schema": schema});
                if let Some(s) = strict {
                    format["strict"] = json!(s);
                }
                json!({"format": format})
            }
        }),
    );
    set_opt(&mut out, "user", req.user.clone());
    // The gateway keeps no sessions: ask the upstream not to store either.
    out.insert("store".into(), json!(false));
    if req.stream {
        out.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------- responses

fn incomplete_reason(reason: &str) -> StopReason {
    if reason == "content_filter" {
        StopReason::ContentFilter
    } else {
        StopReason::MaxTokens
    }
}

pub fn parse_response(v: &Value) -> Result<Response, ConvertError> {
    if str_at(v, "status") == "failed" {
        return Err(ConvertError::Malformed(format!(
            "upstream response failed: {}",
            str_at(&v["error"], "message")
        )));
    }
    let mut content = Vec::new();
    for item in v["output"].as_array().into_iter().flatten() {
        match str_at(item, "type") {
            "reasoning" => content.push(Block::Thinking {
                text: item["summary"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| str_at(s, "text"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                signature: opt_str(item, "encrypted_content")
                    .map(|e| Blob::new(Provider::OpenAi, e)),
            }),
            "message" => content.extend(input_parts(&item["content"]).unwrap_or_default()),
            "function_call" => content.push(Block::ToolCall(ToolCall {
                id: str_at(item, "call_id").to_string(),
                name: str_at(item, "name").to_string(),
                arguments: args_object(str_at(item, "arguments")),
                signature: None,
            })),
            _ => {}
        }
    }
    let stop = if str_at(v, "status") == "incomplete" {
        incomplete_reason(str_at(&v["incomplete_details"], "reason"))
    } else {
        StopReason::EndTurn
    };
    Ok(Response {
        id: str_at(v, "id").to_string(),
        model: str_at(v, "model").to_string(),
        content,
        stop,
        usage: Usage::from_openai_responses(&v["usage"]),
    })
}

fn response_id(upstream: &str) -> String {
    if upstream.starts_with("resp_") {
        upstream.to_string()
    } else {
        format!(
            "resp_{}",
            if upstream.is_empty() {
                "gateway"
            } else {
                upstream
            }
        )
    }
}

/// `status` and `incomplete_details` for a final stop reason (§4.6).
fn status_of(stop: StopReason) -> (&'static str, Value) {
    match stop {
        StopReason::MaxTokens | StopReason::ContextWindow => {
            ("incomplete", json!({"reason": "max_output_tokens"}))
        }
        StopReason::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn reasoning_item(id: &str, text: &str, signature: &Option<Blob>) -> Value {
    let mut item =
        json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]});
    if let Some(enc) = blob_for(signature, Provider::OpenAi) {
        item["encrypted_content"] = json!(enc);
    }
    item
}

fn call_item(call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id,
        "name": name, "arguments": arguments, "status": status})
}

/// The whole response object, as the non-stream body and the terminal stream event carry it.
fn response_object(
    id: &str,
    ctx_model: &str,
    created: u64,
    status: &str,
    output: Vec<Value>,
    usage: Value,
    incomplete: Value,
) -> Value {
    json!({"id": id, "object": "response", "created_at": created, "status": status,
        "model": ctx_model, "output": output, "incomplete_details": incomplete, "error": null, "usage": usage})
}

pub fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value {
    // A cut or filtered answer stays `incomplete` even when it holds calls (TV11).
    let (status, incomplete) = status_of(resp.stop);
    let item_status = if status == "completed" {
        "completed"
    } else {
        "incomplete"
    };
    let mut output = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, output: &mut Vec<Value>| {
        if !text.is_empty() {
            let id = format!("msg_{}", output.len());
            output.push(message_item(&id, text, item_status));
            text.clear();
        }
    };
    for b in &resp.content {
        match b {
            Block::Text { text: t, .. } => text.push_str(t),
            Block::Thinking { text: t, signature } => {
                flush(&mut text, &mut output);
                let id = format!("rs_{}", output.len());
                output.push(reasoning_item(&id, t, signature));
            }
            Block::ToolCall(c) => {
                flush(&mut text, &mut output);
                output.push(call_item(
                    &c.id,
                    &c.name,
                    &c.arguments.to_string(),
                    item_status,
                ));
            }
            _ => {}
        }
    }
    flush(&mut text, &mut output);
    response_object(
        &response_id(&resp.id),
        &ctx.client_model,
        ctx.created,
        status,
        output,
        resp.usage.to_openai_responses(),
        incomplete,
    )
}

// ---------------------------------------------------------------- stream parser (Responses upstream)

/// State of the Responses-upstream parser (§5.3).
#[derive(Debug, Default)]
pub struct StreamParser {
    /// output_index of calls whose arguments have been seen.
    args_seen: Vec<u64>,
}

/// One upstream Responses event → deltas.
pub fn parse_stream_event(event: &SseEvent, st: &mut StreamParser) -> Vec<Delta> {
    let mut out = Vec::new();
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        return out;
    };
    let kind = event_kind(event, &v);
    let key = v["output_index"].as_u64().unwrap_or(0);
    let item = &v["item"];
    match kind {
        "response.created" => out.push(Delta::Start {
            id: str_at(&v["response"], "id").to_string(),
        }),
        "response.output_item.added" if str_at(item, "type") == "function_call" => {
            out.push(Delta::ToolStart {
                key,
                id: str_at(item, "call_id").to_string(),
                name: str_at(item, "name").to_string(),
            })
        }
        "response.output_text.delta" | "response.refusal.delta" => {
            out.extend(opt_str(&v, "delta").map(Delta::Text))
        }
        "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
            out.extend(opt_str(&v, "delta").map(Delta::Thinking))
        }
        "response.function_call_arguments.delta" => {
            if let Some(fragment) = opt_str(&v, "delta") {
                st.args_seen.push(key);
                out.push(Delta::ToolArgs { key, fragment });
            }
        }
        // Some backends send arguments only here (LiteLLM #25321).
        "response.function_call_arguments.done" | "response.output_item.done" => {
            let args = opt_str(&v, "arguments").or_else(|| opt_str(item, "arguments"));
            if let Some(fragment) = args.filter(|_| !st.args_seen.contains(&key)) {
                st.args_seen.push(key);
                out.push(Delta::ToolArgs { key, fragment });
            }
            if str_at(item, "type") == "reasoning" {
                out.extend(
                    opt_str(item, "encrypted_content")
                        .map(|e| Delta::Signature(Blob::new(Provider::OpenAi, e))),
                );
            }
        }
        "response.completed" | "response.incomplete" => {
            let r = &v["response"];
            if r["usage"].is_object() {
                out.push(Delta::Usage(Usage::from_openai_responses(&r["usage"])));
            }
            out.push(Delta::Finish(if kind == "response.incomplete" {
                incomplete_reason(str_at(&r["incomplete_details"], "reason"))
            } else {
                StopReason::EndTurn
            }));
            out.push(Delta::Done);
        }
        "response.failed" | "error" => {
            let err = if kind == "error" {
                &v
            } else {
                &v["response"]["error"]
            };
            out.push(Delta::Error {
                status: 500,
                message: opt_str(err, "message")
                    .unwrap_or_else(|| "upstream response failed".into()),
            });
        }
        _ => {}
    }
    out
}

// ---------------------------------------------------------------- stream emitter (Responses client)

#[derive(Debug, Clone, PartialEq)]
enum OpenItem {
    Message {
        text: String,
    },
    Reasoning {
        text: String,
        signature: Option<Blob>,
    },
    Call {
        key: u64,
        call_id: String,
        name: String,
        args: String,
    },
}

/// State of the Responses-client emitter: the whole lifecycle, strictly increasing sequence.
#[derive(Debug)]
pub struct StreamEmitter {
    id: String,
    model: String,
    created: u64,
    sequence: u64,
    started: bool,
    output: Vec<Value>,
    open: Option<OpenItem>,
    stop: Option<StopReason>,
    usage: Usage,
}

impl StreamEmitter {
    pub fn new(ctx: &ResponseContext) -> Self {
        StreamEmitter {
            id: response_id(""),
            model: ctx.client_model.clone(),
            created: ctx.created,
            sequence: 0,
            started: false,
            output: Vec::new(),
            open: None,
            stop: None,
            usage: Usage::default(),
        }
    }

    fn event(&mut self, name: &str, mut data: Value, out: &mut Vec<Frame>) {
        data["type"] = json!(name);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push(Frame::named(name, data));
    }

    fn snapshot(&self, status: &str, usage: Value, incomplete: Value) -> Value {
        response_object(
            &self.id,
            &self.model,
            self.created,
            status,
            self.output.clone(),
            usage,
            incomplete,
        )
    }

    fn ensure_started(&mut self, out: &mut Vec<Frame>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.snapshot("in_progress", Value::Null, Value::Null);
        self.event("response.created", json!({"response": response}), out);
        self.event("response.in_progress", json!({"response": response}), out);
    }

    fn item_id(&self) -> String {
        match &self.open {
            Some(OpenItem::Message { .. }) => format!("msg_{}", self.output.len()),
            Some(OpenItem::Reasoning { .. }) => format!("rs_{}", self.output.len()),
            Some(OpenItem::Call { call_id, .. }) => format!("fc_{call_id}"),
            None => String::new(),
        }
    }

    fn open(&mut self, item: OpenItem, out: &mut Vec<Frame>) {
        self.ensure_started(out);
        self.close(out);
        self.open = Some(item);
        let index = self.output.len();
        let id = self.item_id();
        match &self.open {
            Some(OpenItem::Message { .. }) => {
                self.event("response.output_item.added", json!({"output_index": index,
                    "item": {"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []}}), out);
                self.event("response.content_part.added", json!({"item_id": id, "output_index": index,
                    "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}), out);
            }
            Some(OpenItem::Reasoning { .. }) => {
                self.event(
                    "response.output_item.added",
                    json!({"output_index": index,
                    "item": {"type": "reasoning", "id": id, "summary": []}}),
                    out,
                );
                self.event(
                    "response.reasoning_summary_part.added",
                    json!({"item_id": id, "output_index": index,
                    "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
                    out,
                );
            }
            Some(OpenItem::Call { call_id, name, .. }) => {
                let item = json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
                    "arguments": "", "status": "in_progress"});
                self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                    out,
                );
            }
            None => {}
        }
    }

    fn close(&mut self, out: &mut Vec<Frame>) {
        let index = self.output.len();
        let id = self.item_id();
        let item = match self.open.take() {
            None => return,
            Some(OpenItem::Message { text }) => {
                self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index,
                    "content_index": 0, "text": text}),
                    out,
                );
                self.event("response.content_part.done", json!({"item_id": id, "output_index": index,
                    "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}), out);
                message_item(&id, &text, "completed")
            }
            Some(OpenItem::Reasoning { text, signature }) => {
                self.event(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": index,
                    "summary_index": 0, "text": text}),
                    out,
                );
                self.event(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": index,
                    "summary_index": 0, "part": {"type": "summary_text", "text": text}}),
                    out,
                );
                reasoning_item(&id, &text, &signature)
            }
            Some(OpenItem::Call {
                call_id,
                name,
                args,
                ..
            }) => {
                self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index,
                    "arguments": args}),
                    out,
                );
                call_item(&call_id, &name, &args, "completed")
            }
        };
        self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            out,
        );
        self.output.push(item);
    }
}

/// One delta → Responses events.
pub fn emit_stream_delta(delta: &Delta, st: &mut StreamEmitter) -> Vec<Frame> {
    let mut out = Vec::new();
    let index = st.output.len();
    match delta {
        Delta::Start { id } => {
            if !st.started && !id.is_empty() {
                st.id = response_id(id);
            }
            st.ensure_started(&mut out);
        }
        Delta::Text(text) => {
            if !matches!(st.open, Some(OpenItem::Message { .. })) {
                st.open(
                    OpenItem::Message {
                        text: String::new(),
                    },
                    &mut out,
                );
            }
            if let Some(OpenItem::Message { text: all }) = &mut st.open {
                all.push_str(text);
            }
            let id = st.item_id();
            st.event(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": st.output.len(),
                "content_index": 0, "delta": text}),
                &mut out,
            );
        }
        Delta::Thinking(text) => {
            if !matches!(st.open, Some(OpenItem::Reasoning { .. })) {
                st.open(
                    OpenItem::Reasoning {
                        text: String::new(),
                        signature: None,
                    },
                    &mut out,
                );
            }
            if let Some(OpenItem::Reasoning { text: all, .. }) = &mut st.open {
                all.push_str(text);
            }
            let id = st.item_id();
            st.event(
                "response.reasoning_summary_text.delta",
                json!({"item_id": id, "output_index": st.output.len(),
                "summary_index": 0, "delta": text}),
                &mut out,
            );
        }
        Delta::Signature(blob) => {
            if let Some(OpenItem::Reasoning { signature, .. }) = &mut st.open {
                *signature = Some(blob.clone());
            }
        }
        Delta::ToolStart { key, id, name } => {
            st.open(
                OpenItem::Call {
                    key: *key,
                    call_id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                },
                &mut out,
            );
        }
        Delta::ToolArgs { key, fragment } => {
            let mut matched = false;
            if let Some(OpenItem::Call {
                key: open_key,
                args,
                ..
            }) = &mut st.open
            {
                if open_key == key && !fragment.is_empty() {
                    args.push_str(fragment);
                    matched = true;
                }
            }
            if matched {
                let id = st.item_id();
                st.event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": index,
                    "delta": fragment}),
                    &mut out,
                );
            }
        }
        Delta::Usage(u) => st.usage = *u,
        Delta::Finish(r) => st.stop = Some(*r),
        Delta::Done => {
            st.ensure_started(&mut out);
            st.close(&mut out);
            let (status, incomplete) = status_of(st.stop.unwrap_or(StopReason::EndTurn));
            if status != "completed" {
                for item in &mut st.output {
                    if item.get("status").is_some() {
                        item["status"] = json!("incomplete");
                    }
                }
            }
            let response = st.snapshot(status, st.usage.to_openai_responses(), incomplete);
            let name = if status == "completed" {
                "response.completed"
            } else {
                "response.incomplete"
            };
            st.event(name, json!({"response": response}), &mut out);
        }
        Delta::Error { status, message } => {
            let code = if *status == 429 {
                "rate_limit_exceeded"
            } else {
                "server_error"
            };
            st.event(
                "error",
                json!({"code": code, "message": message, "param": null}),
                &mut out,
            );
            let mut response = st.snapshot("failed", Value::Null, Value::Null);
            response["error"] = json!({"code": code, "message": message});
            st.event("response.failed", json!({"response": response}), &mut out);
        }
    }
    out
}

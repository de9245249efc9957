//! OpenAI Responses: request/response parser and emitter, and the stream steps including the
//! full event lifecycle Codex depends on.

use crate::core::dialect::Provider;
use crate::core::sse::SseEvent;
use serde_json::{json, Map, Value};

use super::codec::Codec;
use super::context::ResponseContext;
use super::errors::{unsupported, ConvertError};
use super::frame::{Delta, Frame};
use super::ir::{
    blob_for, joined_text, push_blocks, results_first, Blob, Block, Media, Message, Reasoning,
    Request, Response, ResponseFormat, Role, StopReason, SystemPart, ToolCall, ToolChoice, ToolDef,
    ToolResult,
};
use super::json::{args_object, event_json, event_kind, opt_str, set_opt, str_at};
use super::tools::object_schema;
use super::usage::Usage;

/// OpenAI Responses (`/v1/responses`).
pub struct OpenAiResponses;

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

/// Rejects what needs a stored session, which a converting channel does not have.
fn reject_sessions(v: &Value) -> Result<(), ConvertError> {
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
    Ok(())
}

/// `input` as a list of items: a plain string is one user message.
fn input_items(input: &Value) -> Result<Vec<Value>, ConvertError> {
    match input {
        Value::String(s) => Ok(vec![
            json!({"type": "message", "role": "user", "content": s}),
        ]),
        Value::Array(items) => Ok(items.clone()),
        _ => Err(ConvertError::Malformed(
            "`input` must be a string or an array".into(),
        )),
    }
}

/// The summary text and encrypted content of a reasoning item.
fn reasoning_block(item: &Value) -> Block {
    let text = item["summary"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| str_at(s, "text"))
        .collect::<Vec<_>>()
        .join("\n");
    let signature = opt_str(item, "encrypted_content").map(|e| Blob::new(Provider::OpenAi, e));
    Block::Thinking { text, signature }
}

/// A `function_call` item (request history or response output).
fn call_block(item: &Value) -> Block {
    Block::ToolCall(ToolCall {
        id: str_at(item, "call_id").to_string(),
        name: str_at(item, "name").to_string(),
        arguments: args_object(str_at(item, "arguments")),
        signature: None,
    })
}

/// One `input` item into the request: a message (system parts go to `system`), a call, a call's
/// output, or replayed reasoning.
fn parse_input_item(item: &Value, req: &mut Request) -> Result<(), ConvertError> {
    let kind = match str_at(item, "type") {
        "" if item.get("role").is_some() => "message",
        k => k,
    };
    let (role, blocks) = match (kind, str_at(item, "role")) {
        ("message", "system" | "developer") => {
            for b in input_parts(&item["content"])? {
                if let Block::Text { text, .. } = b {
                    req.system.push(SystemPart { text, cache: false });
                }
            }
            return Ok(());
        }
        ("message", "assistant") => (Role::Assistant, input_parts(&item["content"])?),
        ("message", _) => (Role::User, input_parts(&item["content"])?),
        ("function_call", _) => (Role::Assistant, vec![call_block(item)]),
        ("function_call_output", _) => {
            let content = match &item["output"] {
                Value::String(s) => vec![Block::text(s.clone())],
                other => input_parts(other)?,
            };
            let result = ToolResult {
                call_id: str_at(item, "call_id").to_string(),
                name: None,
                content,
                is_error: false,
            };
            (Role::User, vec![Block::ToolResult(result)])
        }
        ("reasoning", _) => (Role::Assistant, vec![reasoning_block(item)]),
        (other, _) => {
            return Err(unsupported(format!(
                "input item type `{other}` cannot be converted for this channel"
            )))
        }
    };
    push_blocks(&mut req.messages, role, blocks);
    Ok(())
}

/// Function tools (strict unless they say otherwise); other tool types cannot be converted.
fn parse_tools(v: &Value) -> Result<Vec<ToolDef>, ConvertError> {
    let mut tools = Vec::new();
    for t in v["tools"].as_array().into_iter().flatten() {
        if str_at(t, "type") != "function" {
            return Err(unsupported(format!(
                "tool type `{}` cannot be converted for this channel",
                str_at(t, "type")
            )));
        }
        tools.push(ToolDef {
            strict: Some(t["strict"].as_bool().unwrap_or(true)),
            ..ToolDef::declared(t, "parameters")
        });
    }
    Ok(tools)
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

/// The conversation as `input` items: calls, call outputs and assistant text are items of their
/// own; a user turn's other parts form one message.
fn emit_input(messages: &[Message]) -> Result<Vec<Value>, ConvertError> {
    let mut input = Vec::new();
    for m in messages {
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
                    "output": joined_text(&r.content)})),
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
    Ok(input)
}

/// Function tools (strict only when the client said so).
fn tool_defs(tools: &[ToolDef]) -> Value {
    let tools = tools
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
    Value::Array(tools)
}

// ---------------------------------------------------------------- responses

fn incomplete_reason(reason: &str) -> StopReason {
    if reason == "content_filter" {
        StopReason::ContentFilter
    } else {
        StopReason::MaxTokens
    }
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

/// `status` and `incomplete_details` for a final stop reason.
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

// ---------------------------------------------------------------- stream parser (Responses upstream)

/// State of the Responses-upstream parser.
#[derive(Debug, Default)]
pub struct StreamParser {
    /// output_index of calls whose arguments have been seen.
    args_seen: Vec<u64>,
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

    /// Streamed text (`reasoning`: summary text) into the open item of that kind, opening one
    /// when another is open, and its delta event.
    fn append(&mut self, reasoning: bool, text: &str, out: &mut Vec<Frame>) {
        let open_kind = match &self.open {
            Some(OpenItem::Message { .. }) => Some(false),
            Some(OpenItem::Reasoning { .. }) => Some(true),
            _ => None,
        };
        if open_kind != Some(reasoning) {
            let item = if reasoning {
                OpenItem::Reasoning {
                    text: String::new(),
                    signature: None,
                }
            } else {
                OpenItem::Message {
                    text: String::new(),
                }
            };
            self.open(item, out);
        }
        if let Some(OpenItem::Message { text: all } | OpenItem::Reasoning { text: all, .. }) =
            &mut self.open
        {
            all.push_str(text);
        }
        let (name, part_index) = if reasoning {
            ("response.reasoning_summary_text.delta", "summary_index")
        } else {
            ("response.output_text.delta", "content_index")
        };
        let mut data =
            json!({"item_id": self.item_id(), "output_index": self.output.len(), "delta": text});
        data[part_index] = json!(0);
        self.event(name, data, out);
    }

    /// An argument fragment for the open call it belongs to (others are dropped).
    fn append_args(&mut self, key: u64, fragment: &str, out: &mut Vec<Frame>) {
        let Some(OpenItem::Call {
            key: open_key,
            args,
            ..
        }) = &mut self.open
        else {
            return;
        };
        if *open_key != key || fragment.is_empty() {
            return;
        }
        args.push_str(fragment);
        let data = json!({"item_id": self.item_id(), "output_index": self.output.len(),
            "delta": fragment});
        self.event("response.function_call_arguments.delta", data, out);
    }

    /// The end: the open item closes, and `response.completed` (or `.incomplete`, with every
    /// item marked so) carries the final snapshot.
    fn complete(&mut self, out: &mut Vec<Frame>) {
        self.ensure_started(out);
        self.close(out);
        let (status, incomplete) = status_of(self.stop.unwrap_or(StopReason::EndTurn));
        if status != "completed" {
            for item in &mut self.output {
                if item.get("status").is_some() {
                    item["status"] = json!("incomplete");
                }
            }
        }
        let response = self.snapshot(status, self.usage.to_openai_responses(), incomplete);
        let name = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.event(name, json!({"response": response}), out);
    }

    /// An in-band error: the `error` event, then `response.failed`.
    fn fail(&mut self, status: u16, message: &str, out: &mut Vec<Frame>) {
        let code = if status == 429 {
            "rate_limit_exceeded"
        } else {
            "server_error"
        };
        self.event(
            "error",
            json!({"code": code, "message": message, "param": null}),
            out,
        );
        let mut response = self.snapshot("failed", Value::Null, Value::Null);
        response["error"] = json!({"code": code, "message": message});
        self.event("response.failed", json!({"response": response}), out);
    }
}

impl Codec for OpenAiResponses {
    type Parser = StreamParser;
    type Emitter = StreamEmitter;

    fn parse_request(v: &Value, _url_stream: bool) -> Result<Request, ConvertError> {
        reject_sessions(v)?;
        let mut req = Request {
            model: str_at(v, "model").to_string(),
            ..Request::default()
        };
        if let Some(text) = opt_str(v, "instructions") {
            req.system.push(SystemPart { text, cache: false });
        }
        for item in &input_items(&v["input"])? {
            parse_input_item(item, &mut req)?;
        }
        results_first(&mut req.messages);
        req.tools = parse_tools(v)?;
        req.tool_choice = ToolChoice::from_openai(&v["tool_choice"]);
        req.parallel_tool_calls = v["parallel_tool_calls"].as_bool();
        req.max_tokens = v["max_output_tokens"].as_u64();
        req.temperature = v["temperature"].as_f64();
        req.top_p = v["top_p"].as_f64();
        req.stream = v["stream"].as_bool() == Some(true);
        req.reasoning = Reasoning::from_openai(opt_str(&v["reasoning"], "effort"));
        let format = &v["text"]["format"];
        req.response_format = ResponseFormat::from_openai(format, format);
        req.user = opt_str(v, "user").or_else(|| opt_str(v, "safety_identifier"));
        Ok(req)
    }

    fn emit_request(req: &Request) -> Result<Value, ConvertError> {
        let mut out = Map::new();
        out.insert("model".into(), json!(req.model));
        out.insert("input".into(), Value::Array(emit_input(&req.messages)?));
        if !req.system.is_empty() {
            let text: Vec<&str> = req.system.iter().map(|s| s.text.as_str()).collect();
            out.insert("instructions".into(), json!(text.join("\n\n")));
        }
        if !req.tools.is_empty() {
            out.insert("tools".into(), tool_defs(&req.tools));
        }
        let choice = req.tool_choice.as_ref().map(|c| c.to_openai(false));
        set_opt(&mut out, "tool_choice", choice);
        set_opt(&mut out, "parallel_tool_calls", req.parallel_tool_calls);
        set_opt(&mut out, "max_output_tokens", req.max_tokens);
        set_opt(&mut out, "temperature", req.temperature);
        set_opt(&mut out, "top_p", req.top_p);
        if let Some(effort) = req.reasoning.as_ref().and_then(Reasoning::openai_effort) {
            out.insert("reasoning".into(), json!({"effort": effort}));
            out.insert("include".into(), json!(["reasoning.encrypted_content"]));
        }
        let format = req.response_format.as_ref();
        set_opt(
            &mut out,
            "text",
            format.map(|f| json!({"format": f.to_openai(false)})),
        );
        set_opt(&mut out, "user", req.user.clone());
        // The gateway keeps no sessions: ask the upstream not to store either.
        out.insert("store".into(), json!(false));
        if req.stream {
            out.insert("stream".into(), json!(true));
        }
        Ok(Value::Object(out))
    }

    fn parse_response(v: &Value) -> Result<Response, ConvertError> {
        if str_at(v, "status") == "failed" {
            return Err(ConvertError::Malformed(format!(
                "upstream response failed: {}",
                str_at(&v["error"], "message")
            )));
        }
        let mut content = Vec::new();
        for item in v["output"].as_array().into_iter().flatten() {
            match str_at(item, "type") {
                "reasoning" => content.push(reasoning_block(item)),
                "message" => content.extend(input_parts(&item["content"]).unwrap_or_default()),
                "function_call" => content.push(call_block(item)),
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

    fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value {
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

    /// One upstream Responses event → deltas.
    fn parse_stream_event(event: &SseEvent, st: &mut StreamParser) -> Vec<Delta> {
        let Some(v) = event_json(event) else {
            return Vec::new();
        };
        let mut out = Vec::new();
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

    /// One delta → Responses events.
    fn emit_stream_delta(delta: &Delta, st: &mut StreamEmitter) -> Vec<Frame> {
        let mut out = Vec::new();
        match delta {
            Delta::Start { id } => {
                if !st.started && !id.is_empty() {
                    st.id = response_id(id);
                }
                st.ensure_started(&mut out);
            }
            Delta::Text(text) => st.append(false, text, &mut out),
            Delta::Thinking(text) => st.append(true, text, &mut out),
            Delta::Signature(blob) => {
                if let Some(OpenItem::Reasoning { signature, .. }) = &mut st.open {
                    *signature = Some(blob.clone());
                }
            }
            Delta::ToolStart { key, id, name } => {
                let call = OpenItem::Call {
                    key: *key,
                    call_id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                };
                st.open(call, &mut out);
            }
            Delta::ToolArgs { key, fragment } => st.append_args(*key, fragment, &mut out),
            Delta::Usage(u) => st.usage = *u,
            Delta::Finish(r) => st.stop = Some(*r),
            Delta::Done => st.complete(&mut out),
            Delta::Error { status, message } => st.fail(*status, message, &mut out),
        }
        out
    }

    fn emitter(ctx: &ResponseContext) -> StreamEmitter {
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
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::context;
    use super::*;
    use crate::core::dialect::Dialect;

    #[test]
    fn input_items_become_turns() {
        assert_eq!(
            input_items(&json!("hi")).unwrap(),
            vec![json!({"type": "message", "role": "user", "content": "hi"})]
        );
        assert!(input_items(&json!(3)).is_err());
        let mut req = Request::default();
        let reasoning = json!({"type": "reasoning", "summary": [{"text": "a"}, {"text": "b"}],
            "encrypted_content": "enc"});
        parse_input_item(&reasoning, &mut req).unwrap();
        parse_input_item(&json!({"role": "system", "content": "rules"}), &mut req).unwrap();
        assert_eq!(
            req.messages[0].content,
            vec![Block::Thinking {
                text: "a\nb".into(),
                signature: Some(Blob::new(Provider::OpenAi, "enc")),
            }]
        );
        assert_eq!(req.system[0].text, "rules");
        assert!(parse_input_item(&json!({"type": "web_search_call"}), &mut req).is_err());
        let stored = json!({"input": "x", "previous_response_id": "resp_1"});
        assert!(OpenAiResponses::parse_request(&stored, false).is_err());
    }

    #[test]
    fn switching_item_kinds_closes_the_open_one() {
        let ctx = context(Dialect::OpenAiChat, Dialect::OpenAiResponses, "m", false);
        let mut st = OpenAiResponses::emitter(&ctx);
        let mut frames = Vec::new();
        for d in [Delta::Thinking("t".into()), Delta::Text("x".into())] {
            frames.extend(OpenAiResponses::emit_stream_delta(&d, &mut st));
        }
        let names: Vec<String> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Event { name, .. } => name.clone(),
                Frame::DoneMarker => None,
            })
            .collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
            ]
        );
        let failed = OpenAiResponses::emit_stream_delta(
            &Delta::Error {
                status: 429,
                message: "slow".into(),
            },
            &mut st,
        );
        let Frame::Event { data, .. } = &failed[1] else {
            panic!("expected response.failed")
        };
        assert_eq!(data["response"]["error"]["code"], "rate_limit_exceeded");
        assert_eq!(data["sequence_number"], 12);
    }
}

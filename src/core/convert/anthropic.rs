//! Anthropic Messages: request/response parser and emitter, and the stream steps
//! (parser side: an Anthropic upstream; emitter side: an Anthropic client).

use crate::core::dialect::Provider;
use crate::core::sse::SseEvent;
use crate::core::wire_error::anthropic_error;
use serde_json::{json, Map, Value};

use super::codec::Codec;
use super::context::ResponseContext;
use super::errors::{unsupported, ConvertError};
use super::frame::{Delta, Frame};
use super::ir::{
    blob_for, push_blocks, Blob, Block, Media, Message, Reasoning, Request, Response,
    ResponseFormat, Role, StopReason, SystemPart, ToolCall, ToolChoice, ToolDef, ToolResult,
};
use super::json::{array_at, event_json, event_kind, opt_str, set_opt, str_at, string_list};
use super::tools::{anthropic_id, object_schema};
use super::usage::Usage;

/// Anthropic Messages (`/v1/messages`).
pub struct AnthropicMessages;

/// `max_tokens` when the client gave none (Anthropic requires it; NAPI's default).
pub const DEFAULT_MAX_TOKENS: u64 = 8192;

/// Claude Code's billing line in `system[0]`; never sent to other providers.
const ATTRIBUTION_PREFIX: &str = "x-anthropic-billing-header";

// ---------------------------------------------------------------- requests

fn source_media(src: &Value) -> Media {
    match str_at(src, "type") {
        "base64" => Media::Base64 {
            mime: str_at(src, "media_type").to_string(),
            data: str_at(src, "data").to_string(),
        },
        "file" => Media::FileId(str_at(src, "file_id").to_string()),
        _ => Media::Url(str_at(src, "url").to_string()),
    }
}

fn parse_block(b: &Value) -> Result<Block, ConvertError> {
    let cache = b.get("cache_control").is_some();
    Ok(match str_at(b, "type") {
        "text" => Block::Text {
            text: str_at(b, "text").to_string(),
            cache,
        },
        "image" => Block::Image(source_media(&b["source"])),
        "document" if str_at(&b["source"], "type") == "text" => {
            Block::text(str_at(&b["source"], "data"))
        }
        "document" => Block::File {
            media: source_media(&b["source"]),
            filename: opt_str(b, "title"),
        },
        "thinking" => Block::Thinking {
            text: str_at(b, "thinking").to_string(),
            signature: opt_str(b, "signature").map(|s| Blob::new(Provider::Anthropic, s)),
        },
        "redacted_thinking" => {
            Block::RedactedThinking(Blob::new(Provider::Anthropic, str_at(b, "data")))
        }
        "tool_use" => Block::ToolCall(ToolCall {
            id: str_at(b, "id").to_string(),
            name: str_at(b, "name").to_string(),
            arguments: b
                .get("input")
                .filter(|i| i.is_object())
                .cloned()
                .unwrap_or(json!({})),
            signature: None,
        }),
        "tool_result" => Block::ToolResult(ToolResult {
            call_id: str_at(b, "tool_use_id").to_string(),
            name: None,
            content: parse_content(&b["content"])?,
            is_error: b["is_error"].as_bool() == Some(true),
        }),
        other => {
            return Err(unsupported(format!(
                "content block type `{other}` cannot be converted for this channel"
            )))
        }
    })
}

fn parse_content(content: &Value) -> Result<Vec<Block>, ConvertError> {
    match content {
        Value::String(s) => Ok(vec![Block::text(s.clone())]),
        Value::Array(blocks) => blocks.iter().map(parse_block).collect(),
        _ => Ok(Vec::new()),
    }
}

/// `system` as a string or text blocks, without Claude Code's attribution line.
fn parse_system(system: &Value) -> Vec<SystemPart> {
    let mut parts = match system {
        Value::String(s) => vec![SystemPart {
            text: s.clone(),
            cache: false,
        }],
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| SystemPart {
                text: str_at(b, "text").to_string(),
                cache: b.get("cache_control").is_some(),
            })
            .collect(),
        _ => Vec::new(),
    };
    parts.retain(|s| !s.text.starts_with(ATTRIBUTION_PREFIX));
    parts
}

/// Client tools; server tools (web search, code execution…) cannot be converted.
fn parse_tools(v: &Value) -> Result<Vec<ToolDef>, ConvertError> {
    let mut tools = Vec::new();
    for t in v["tools"].as_array().into_iter().flatten() {
        if !matches!(str_at(t, "type"), "" | "custom") {
            return Err(unsupported(format!(
                "server tool `{}` cannot be converted for this channel",
                str_at(t, "type")
            )));
        }
        tools.push(ToolDef {
            cache: t.get("cache_control").is_some(),
            ..ToolDef::declared(t, "input_schema")
        });
    }
    Ok(tools)
}

fn parse_tool_choice(choice: &Value) -> Option<ToolChoice> {
    match str_at(choice, "type") {
        "auto" => Some(ToolChoice::Auto),
        "any" => Some(ToolChoice::Required),
        "none" => Some(ToolChoice::None),
        "tool" => Some(ToolChoice::Tool(str_at(choice, "name").to_string())),
        _ => None,
    }
}

/// `thinking`: a budget, adaptive with `output_config.effort`, or off.
fn parse_thinking(v: &Value) -> Option<Reasoning> {
    let thinking = &v["thinking"];
    match str_at(thinking, "type") {
        "enabled" => Some(Reasoning::Budget(
            thinking["budget_tokens"].as_i64().unwrap_or(-1),
        )),
        "adaptive" => Some(Reasoning::Effort(
            opt_str(&v["output_config"], "effort").unwrap_or_else(|| "xhigh".into()),
        )),
        "disabled" => Some(Reasoning::Disabled),
        _ => None,
    }
}

fn media_source(m: &Media) -> Value {
    match m {
        Media::Base64 { mime, data } => {
            json!({"type": "base64", "media_type": mime, "data": data})
        }
        Media::Url(url) => json!({"type": "url", "url": url}),
        Media::FileId(id) => json!({"type": "file", "file_id": id}),
    }
}

fn cache_mark(mut v: Value, cache: bool) -> Value {
    if cache {
        v["cache_control"] = json!({"type": "ephemeral"});
    }
    v
}

/// One IR block as an Anthropic block; `None` when it must not cross (foreign signatures).
fn emit_block(b: &Block) -> Result<Option<Value>, ConvertError> {
    Ok(match b {
        Block::Text { text, cache } if !text.trim().is_empty() => {
            Some(cache_mark(json!({"type": "text", "text": text}), *cache))
        }
        Block::Text { .. } => None,
        Block::Image(m) => Some(json!({"type": "image", "source": media_source(m)})),
        Block::File { media, .. } => {
            Some(json!({"type": "document", "source": media_source(media)}))
        }
        Block::Audio { .. } => {
            return Err(unsupported(
                "audio input cannot be sent to Anthropic channels",
            ))
        }
        Block::Thinking { text, signature } => blob_for(signature, Provider::Anthropic)
            .map(|sig| json!({"type": "thinking", "thinking": text, "signature": sig})),
        Block::RedactedThinking(blob) => (blob.origin == Provider::Anthropic)
            .then(|| json!({"type": "redacted_thinking", "data": blob.value})),
        Block::ToolCall(c) => Some(json!({"type": "tool_use", "id": anthropic_id(&c.id),
            "name": c.name, "input": c.arguments})),
        Block::ToolResult(r) => {
            let content = match r.content.as_slice() {
                [Block::Text { text, .. }] => json!(text),
                blocks => Value::Array(
                    blocks
                        .iter()
                        .map(emit_block)
                        .collect::<Result<Vec<_>, _>>()?
                        .into_iter()
                        .flatten()
                        .collect(),
                ),
            };
            let mut out = json!({"type": "tool_result", "tool_use_id": anthropic_id(&r.call_id), "content": content});
            if r.is_error {
                out["is_error"] = json!(true);
            }
            Some(out)
        }
    })
}

/// Whether every assistant turn that calls tools opens with an Anthropic-signed thinking block,
/// the condition for enabling thinking on a conversation.
fn history_allows_thinking(messages: &[Message]) -> bool {
    messages
        .iter()
        .filter(|m| {
            m.role == Role::Assistant && m.content.iter().any(|b| matches!(b, Block::ToolCall(_)))
        })
        .all(|m| match m.content.first() {
            Some(Block::Thinking { signature, .. }) => {
                blob_for(signature, Provider::Anthropic).is_some()
            }
            Some(Block::RedactedThinking(b)) => b.origin == Provider::Anthropic,
            _ => false,
        })
}

/// Claude 4.6+ take adaptive thinking and reject `budget_tokens`.
fn adaptive_model(model: &str) -> bool {
    ["4-6", "4-7", "4.6", "4.7"]
        .iter()
        .any(|v| model.contains(v))
}

fn emit_messages(req: &Request) -> Result<Vec<Value>, ConvertError> {
    let mut out: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let mut blocks: Vec<&Block> = m.content.iter().collect();
        if m.role == Role::User {
            blocks.sort_by_key(|b| !matches!(b, Block::ToolResult(_)));
        }
        let mut values = Vec::new();
        for b in blocks {
            values.extend(emit_block(b)?);
        }
        if values.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((role, content)) if *role == m.role => content.extend(values),
            _ => out.push((m.role, values)),
        }
    }
    if out.first().map(|(r, _)| *r) != Some(Role::User) {
        // Anthropic needs a user turn first (system-only or assistant-first inputs).
        out.insert(0, (Role::User, vec![json!({"type": "text", "text": "."})]));
    }
    Ok(out
        .into_iter()
        .map(|(role, content)| {
            json!({"role": if role == Role::User { "user" } else { "assistant" }, "content": content})
        })
        .collect())
}

/// The system blocks; JSON mode has no native form here, so the format becomes an instruction.
fn system_blocks(req: &Request) -> Vec<Value> {
    let mut system: Vec<Value> = req
        .system
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .map(|s| cache_mark(json!({"type": "text", "text": s.text}), s.cache))
        .collect();
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => system.push(json!({"type": "text",
            "text": "Respond with a single valid JSON object and nothing else."})),
        Some(ResponseFormat::JsonSchema { schema, .. }) => system.push(json!({"type": "text",
            "text": format!("Respond with a single valid JSON value matching this JSON Schema and nothing else: {schema}")})),
        None => {}
    }
    system
}

/// Tool definitions with their cache marks.
fn tool_defs(tools: &[ToolDef]) -> Value {
    let tools = tools
        .iter()
        .map(|t| {
            let mut tool = json!({"name": t.name, "input_schema": object_schema(&t.parameters)});
            if let Some(d) = &t.description {
                tool["description"] = json!(d);
            }
            cache_mark(tool, t.cache)
        })
        .collect();
    Value::Array(tools)
}

/// The settings thinking constrains: the token ceiling, the tool choice and sampling.
struct Knobs {
    max_tokens: u64,
    tool_choice: Option<ToolChoice>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
}

impl Knobs {
    /// The request's own values: temperature clamped to Anthropic's 0–1, `top_p` only without it.
    fn of(req: &Request) -> Knobs {
        let temperature = req.temperature.map(|t| t.clamp(0.0, 1.0));
        Knobs {
            max_tokens: req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            tool_choice: req.tool_choice.clone(),
            top_p: req.top_p.filter(|_| temperature.is_none()),
            temperature,
            top_k: req.top_k,
        }
    }

    /// Turns thinking on when asked for and the history allows it: adaptive thinking with an
    /// effort on models that have it, else a budget below `max_tokens`. Thinking forbids forced
    /// tool use and sampling overrides.
    fn think(&mut self, req: &Request, out: &mut Map<String, Value>) {
        let Some(budget) = req
            .reasoning
            .as_ref()
            .and_then(Reasoning::budget)
            .filter(|b| *b != 0 && history_allows_thinking(&req.messages))
        else {
            return;
        };
        if adaptive_model(&req.model) {
            out.insert("thinking".into(), json!({"type": "adaptive"}));
            let effort = req
                .reasoning
                .as_ref()
                .and_then(Reasoning::effort)
                .unwrap_or("high".into());
            let effort = if matches!(effort.as_str(), "xhigh" | "auto") {
                "max".into()
            } else {
                effort
            };
            out.insert("output_config".into(), json!({"effort": effort}));
        } else {
            let budget = if budget < 1024 { 8192 } else { budget as u64 };
            if self.max_tokens <= budget {
                self.max_tokens = budget + DEFAULT_MAX_TOKENS;
            }
            out.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        if matches!(
            self.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Tool(_))
        ) {
            self.tool_choice = Some(ToolChoice::Auto);
        }
        self.temperature = None;
        self.top_p = None;
        self.top_k = None;
    }

    /// `tool_choice`, with `disable_parallel_tool_use` when the client turned parallel calls off.
    fn tool_choice_value(&self, req: &Request) -> Option<Value> {
        let mut choice = self.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        });
        if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() {
            choice.get_or_insert_with(|| json!({"type": "auto"}))["disable_parallel_tool_use"] =
                json!(true);
        }
        choice
    }
}

// ---------------------------------------------------------------- responses

pub(crate) fn parse_stop(reason: &str) -> StopReason {
    match reason {
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        "pause_turn" => StopReason::PauseTurn,
        "model_context_window_exceeded" => StopReason::ContextWindow,
        _ => StopReason::EndTurn,
    }
}

pub(crate) fn stop_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::StopSequence => "stop_sequence",
        StopReason::MaxTokens => "max_tokens",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
        StopReason::PauseTurn => "pause_turn",
        StopReason::ContextWindow => "model_context_window_exceeded",
    }
}

fn message_id(upstream_id: &str) -> String {
    if upstream_id.starts_with("msg_") {
        upstream_id.to_string()
    } else if upstream_id.is_empty() {
        "msg_gateway".to_string()
    } else {
        format!("msg_{}", anthropic_id(upstream_id))
    }
}

// ---------------------------------------------------------------- stream parser (Anthropic upstream)

/// State of the Anthropic-upstream parser.
#[derive(Debug, Default)]
pub struct StreamParser {
    usage: Usage,
}

fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}

// ---------------------------------------------------------------- stream emitter (Anthropic client)

#[derive(Debug, Clone, Copy, PartialEq)]
enum OpenBlock {
    Text,
    Thinking,
    Tool(u64),
}

/// State of the Anthropic-client emitter: dense indexes, one block open at a time.
#[derive(Debug)]
pub struct StreamEmitter {
    model: String,
    started: bool,
    next_index: u64,
    open: Option<OpenBlock>,
    saw_tool: bool,
    stop: Option<StopReason>,
    usage: Usage,
}

impl StreamEmitter {
    fn ensure_started(&mut self, id: &str, out: &mut Vec<Frame>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut usage = self.usage.to_anthropic();
        usage["cache_creation_input_tokens"] = json!(self.usage.cache_creation_tokens);
        usage["cache_read_input_tokens"] = json!(self.usage.cached_tokens);
        usage["output_tokens"] = json!(0);
        out.push(Frame::named(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": message_id(id), "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}}),
        ));
    }

    fn close(&mut self, out: &mut Vec<Frame>) {
        if self.open.take().is_some() {
            out.push(Frame::named(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": self.next_index - 1}),
            ));
        }
    }

    /// Opens a block unless one of the same kind is already open.
    fn open(&mut self, kind: OpenBlock, block: Value, out: &mut Vec<Frame>) {
        if self.open == Some(kind) {
            return;
        }
        self.ensure_started("", out);
        self.close(out);
        out.push(Frame::named("content_block_start",
            json!({"type": "content_block_start", "index": self.next_index, "content_block": block})));
        self.next_index += 1;
        self.open = Some(kind);
    }

    /// Text or thinking into its block (opened unless open): a `<field>_delta` with `field` set.
    fn stream_text(&mut self, kind: OpenBlock, field: &str, text: &str, out: &mut Vec<Frame>) {
        let mut block = json!({"type": field});
        block[field] = json!("");
        self.open(kind, block, out);
        let mut delta = json!({"type": format!("{field}_delta")});
        delta[field] = json!(text);
        out.push(self.delta(delta));
    }

    fn delta(&self, delta: Value) -> Frame {
        Frame::named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": self.next_index - 1, "delta": delta}),
        )
    }
}

impl Codec for AnthropicMessages {
    type Parser = StreamParser;
    type Emitter = StreamEmitter;

    fn parse_request(v: &Value, _url_stream: bool) -> Result<Request, ConvertError> {
        let messages = array_at(v, "messages")?;
        let mut req = Request {
            model: str_at(v, "model").to_string(),
            max_tokens: v["max_tokens"].as_u64(),
            system: parse_system(&v["system"]),
            ..Request::default()
        };
        for m in messages {
            let role = match str_at(m, "role") {
                "assistant" => Role::Assistant,
                _ => Role::User,
            };
            push_blocks(&mut req.messages, role, parse_content(&m["content"])?);
        }
        req.tools = parse_tools(v)?;
        let choice = &v["tool_choice"];
        req.tool_choice = parse_tool_choice(choice);
        if choice["disable_parallel_tool_use"].as_bool() == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
        req.temperature = v["temperature"].as_f64();
        req.top_p = v["top_p"].as_f64();
        req.top_k = v["top_k"].as_u64();
        req.stop = string_list(v.get("stop_sequences"));
        req.stream = v["stream"].as_bool() == Some(true);
        req.user = opt_str(&v["metadata"], "user_id");
        req.reasoning = parse_thinking(v);
        Ok(req)
    }

    fn emit_request(req: &Request) -> Result<Value, ConvertError> {
        let mut out = Map::new();
        out.insert("model".into(), json!(req.model));
        let system = system_blocks(req);
        if !system.is_empty() {
            out.insert("system".into(), Value::Array(system));
        }
        out.insert("messages".into(), Value::Array(emit_messages(req)?));
        if !req.tools.is_empty() {
            out.insert("tools".into(), tool_defs(&req.tools));
        }
        let mut knobs = Knobs::of(req);
        knobs.think(req, &mut out);
        out.insert("max_tokens".into(), json!(knobs.max_tokens));
        set_opt(&mut out, "tool_choice", knobs.tool_choice_value(req));
        set_opt(&mut out, "temperature", knobs.temperature);
        set_opt(&mut out, "top_p", knobs.top_p);
        set_opt(&mut out, "top_k", knobs.top_k);
        if !req.stop.is_empty() {
            out.insert("stop_sequences".into(), json!(req.stop));
        }
        if let Some(user) = &req.user {
            out.insert("metadata".into(), json!({"user_id": user}));
        }
        if req.stream {
            out.insert("stream".into(), json!(true));
        }
        Ok(Value::Object(out))
    }

    fn parse_response(v: &Value) -> Result<Response, ConvertError> {
        let content = v["content"]
            .as_array()
            .ok_or_else(|| ConvertError::Malformed("upstream response has no content".into()))?;
        let mut blocks = Vec::new();
        for b in content {
            // Server-tool blocks have no equivalent in other dialects: skip them, keep the rest.
            if let Ok(block) = parse_block(b) {
                blocks.push(block);
            }
        }
        Ok(Response {
            id: str_at(v, "id").to_string(),
            model: str_at(v, "model").to_string(),
            content: blocks,
            stop: parse_stop(str_at(v, "stop_reason")),
            usage: Usage::from_anthropic(&v["usage"]),
        })
    }

    fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value {
        let content: Vec<Value> = resp
            .content
            .iter()
            .filter_map(|b| match b {
                Block::Text { text, .. } => Some(json!({"type": "text", "text": text})),
                Block::Thinking { text, signature } => {
                    Some(json!({"type": "thinking", "thinking": text,
                    "signature": blob_for(signature, Provider::Anthropic).unwrap_or("")}))
                }
                Block::ToolCall(c) => Some(json!({"type": "tool_use", "id": anthropic_id(&c.id),
                    "name": c.name, "input": c.arguments})),
                _ => None,
            })
            .collect();
        let stop = StopReason::settle(Some(resp.stop), resp.has_tool_call());
        json!({
            "id": message_id(&resp.id), "type": "message", "role": "assistant",
            "model": ctx.client_model, "content": content,
            "stop_reason": stop_name(stop), "stop_sequence": null,
            "usage": resp.usage.to_anthropic(),
        })
    }

    /// One upstream Anthropic event → deltas.
    fn parse_stream_event(event: &SseEvent, st: &mut StreamParser) -> Vec<Delta> {
        let Some(v) = event_json(event) else {
            return Vec::new();
        };
        let key = v["index"].as_u64().unwrap_or(0);
        let mut out = Vec::new();
        match event_kind(event, &v) {
            "message_start" => {
                out.push(Delta::Start {
                    id: str_at(&v["message"], "id").to_string(),
                });
                st.usage.merge_anthropic(&v["message"]["usage"]);
                out.push(Delta::Usage(st.usage));
            }
            "content_block_start" => {
                let b = &v["content_block"];
                match str_at(b, "type") {
                    "tool_use" => out.push(Delta::ToolStart {
                        key,
                        id: str_at(b, "id").to_string(),
                        name: str_at(b, "name").to_string(),
                    }),
                    "text" => out.extend(opt_str(b, "text").map(Delta::Text)),
                    "thinking" => out.extend(opt_str(b, "thinking").map(Delta::Thinking)),
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match str_at(d, "type") {
                    "text_delta" => out.extend(opt_str(d, "text").map(Delta::Text)),
                    "thinking_delta" => out.extend(opt_str(d, "thinking").map(Delta::Thinking)),
                    "signature_delta" => out.extend(
                        opt_str(d, "signature")
                            .map(|s| Delta::Signature(Blob::new(Provider::Anthropic, s))),
                    ),
                    "input_json_delta" => out.extend(
                        opt_str(d, "partial_json")
                            .map(|fragment| Delta::ToolArgs { key, fragment }),
                    ),
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = opt_str(&v["delta"], "stop_reason") {
                    out.push(Delta::Finish(parse_stop(&reason)));
                }
                if v["usage"].is_object() {
                    st.usage.merge_anthropic(&v["usage"]);
                    out.push(Delta::Usage(st.usage));
                }
            }
            "message_stop" => out.push(Delta::Done),
            "error" => out.push(Delta::Error {
                status: status_of(str_at(&v["error"], "type")),
                message: str_at(&v["error"], "message").to_string(),
            }),
            _ => {}
        }
        out
    }

    /// One delta → Anthropic events.
    fn emit_stream_delta(delta: &Delta, st: &mut StreamEmitter) -> Vec<Frame> {
        let mut out = Vec::new();
        match delta {
            Delta::Start { id } => st.ensure_started(id, &mut out),
            Delta::Text(text) => st.stream_text(OpenBlock::Text, "text", text, &mut out),
            Delta::Thinking(text) => {
                st.stream_text(OpenBlock::Thinking, "thinking", text, &mut out)
            }
            Delta::Signature(blob) => {
                if st.open == Some(OpenBlock::Thinking) && blob.origin == Provider::Anthropic {
                    out.push(st.delta(json!({"type": "signature_delta", "signature": blob.value})));
                }
            }
            Delta::ToolStart { key, id, name } => {
                st.saw_tool = true;
                st.ensure_started("", &mut out);
                st.close(&mut out);
                st.open(
                    OpenBlock::Tool(*key),
                    json!({"type": "tool_use", "id": anthropic_id(id), "name": name, "input": {}}),
                    &mut out,
                );
            }
            Delta::ToolArgs { key, fragment } => {
                if st.open == Some(OpenBlock::Tool(*key)) && !fragment.is_empty() {
                    out.push(
                        st.delta(json!({"type": "input_json_delta", "partial_json": fragment})),
                    );
                }
            }
            Delta::Usage(u) => st.usage = *u,
            Delta::Finish(r) => st.stop = Some(*r),
            Delta::Done => {
                st.ensure_started("", &mut out);
                st.close(&mut out);
                let stop = StopReason::settle(st.stop, st.saw_tool);
                out.push(Frame::named(
                    "message_delta",
                    json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_name(stop), "stop_sequence": null},
                    "usage": st.usage.to_anthropic()}),
                ));
                out.push(Frame::named(
                    "message_stop",
                    json!({"type": "message_stop"}),
                ));
            }
            Delta::Error { status, message } => {
                out.push(Frame::named("error", anthropic_error(*status, message)));
            }
        }
        out
    }

    fn emitter(ctx: &ResponseContext) -> StreamEmitter {
        StreamEmitter {
            model: ctx.client_model.clone(),
            started: false,
            next_index: 0,
            open: None,
            saw_tool: false,
            stop: None,
            usage: Usage::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_drops_the_attribution_line() {
        let parts = parse_system(&json!([
            {"type": "text", "text": "x-anthropic-billing-header: cc"},
            {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}},
        ]));
        assert_eq!(
            parts,
            vec![SystemPart {
                text: "rules".into(),
                cache: true
            }]
        );
        assert_eq!(parse_system(&json!("s"))[0].text, "s");
    }

    #[test]
    fn thinking_frees_the_tool_choice_and_sampling() {
        let req = Request {
            model: "claude-sonnet-4".into(),
            max_tokens: Some(1000),
            temperature: Some(1.5),
            top_k: Some(5),
            tool_choice: Some(ToolChoice::Required),
            reasoning: Some(Reasoning::Budget(2000)),
            ..Request::default()
        };
        let mut knobs = Knobs::of(&req);
        assert_eq!(knobs.temperature, Some(1.0));
        let mut out = Map::new();
        knobs.think(&req, &mut out);
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": 2000})
        );
        assert_eq!(knobs.max_tokens, 2000 + DEFAULT_MAX_TOKENS);
        assert_eq!(knobs.tool_choice, Some(ToolChoice::Auto));
        assert_eq!((knobs.temperature, knobs.top_k), (None, None));
        let plain = Request {
            tools: vec![ToolDef::declared(&json!({"name": "f"}), "input_schema")],
            parallel_tool_calls: Some(false),
            ..Request::default()
        };
        assert_eq!(
            Knobs::of(&plain).tool_choice_value(&plain),
            Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
        );
    }
}

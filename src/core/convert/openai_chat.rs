//! OpenAI Chat Completions: request/response parser and emitter, and the stream steps (§2.1,
//! §5.1 parser side, §5.2 emitter side).

use crate::core::sse::SseEvent;
use serde_json::{json, Map, Value};

use super::errors::{openai_error_object, unsupported, ConvertError};
use super::ir::{
    blob_for, Blob, Block, Media, Message, Provider, Reasoning, Request, Response, ResponseFormat,
    Role, StopReason, SystemPart, ToolCall, ToolChoice, ToolDef, ToolResult,
};
use super::read::{args_object, opt_str, str_at, string_list};
use super::stream::{Delta, Frame};
use super::tools::object_schema;
use super::usage::Usage;
use super::ResponseContext;

// ---------------------------------------------------------------- requests

/// Appends blocks to the conversation, merging consecutive same-role turns (CPA accumulator).
pub(crate) fn push_blocks(messages: &mut Vec<Message>, role: Role, blocks: Vec<Block>) {
    if blocks.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => messages.push(Message {
            role,
            content: blocks,
        }),
    }
}

/// Puts tool results first in every user turn (Anthropic requires it, §4.1).
pub(crate) fn results_first(messages: &mut [Message]) {
    for msg in messages.iter_mut().filter(|m| m.role == Role::User) {
        msg.content
            .sort_by_key(|b| !matches!(b, Block::ToolResult(_)));
    }
}

fn text_parts(content: &Value) -> Vec<(String, bool)> {
    match content {
        Value::String(s) => vec![(s.clone(), false)],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| {
                p.get("text")
                    .and_then(Value::as_str)
                    .map(|t| (t.to_string(), p.get("cache_control").is_some()))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn user_parts(content: &Value) -> Result<Vec<Block>, ConvertError> {
    let parts = match content {
        Value::String(s) => return Ok(vec![Block::text(s.clone())]),
        Value::Array(parts) => parts,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(ConvertError::Malformed(
                "message content must be a string or an array".into(),
            ))
        }
    };
    let mut out = Vec::new();
    for p in parts {
        match str_at(p, "type") {
            "text" => out.push(Block::Text {
                text: str_at(p, "text").to_string(),
                cache: p.get("cache_control").is_some(),
            }),
            "image_url" => {
                let url = p["image_url"]
                    .as_str()
                    .unwrap_or_else(|| str_at(&p["image_url"], "url"));
                out.push(Block::Image(Media::from_url(url)));
            }
            "input_audio" => out.push(Block::Audio {
                data: str_at(&p["input_audio"], "data").to_string(),
                format: str_at(&p["input_audio"], "format").to_string(),
            }),
            "file" => {
                let f = &p["file"];
                let media = match opt_str(f, "file_data") {
                    Some(data) => Media::from_url(&data),
                    None => Media::FileId(str_at(f, "file_id").to_string()),
                };
                out.push(Block::File {
                    media,
                    filename: opt_str(f, "filename"),
                });
            }
            other => {
                return Err(unsupported(format!(
                    "content part type `{other}` cannot be converted"
                )))
            }
        }
    }
    Ok(out)
}

fn assistant_blocks(m: &Value) -> Vec<Block> {
    let mut out = Vec::new();
    let reasoning = opt_str(m, "reasoning_content").or_else(|| opt_str(m, "reasoning"));
    if let Some(text) = reasoning {
        out.push(Block::Thinking {
            text,
            signature: None,
        });
    }
    for (text, cache) in text_parts(&m["content"]) {
        if !text.is_empty() {
            out.push(Block::Text { text, cache });
        }
    }
    for call in m["tool_calls"].as_array().into_iter().flatten() {
        let signature = call["extra_content"]["google"]["thought_signature"]
            .as_str()
            .map(|s| Blob::new(Provider::Gemini, s));
        out.push(Block::ToolCall(ToolCall {
            id: str_at(call, "id").to_string(),
            name: str_at(&call["function"], "name").to_string(),
            arguments: args_object(str_at(&call["function"], "arguments")),
            signature,
        }));
    }
    out
}

/// Tool choice from its Chat/Responses spelling.
pub(crate) fn parse_tool_choice(v: &Value) -> Option<ToolChoice> {
    match v {
        Value::String(s) => match s.as_str() {
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            "auto" => Some(ToolChoice::Auto),
            _ => None,
        },
        Value::Object(_) => {
            let name = v["function"]["name"]
                .as_str()
                .or_else(|| v["name"].as_str())?;
            Some(ToolChoice::Tool(name.to_string()))
        }
        _ => None,
    }
}

/// Rejects what no non-OpenAI target can express (§4.11).
pub(crate) fn reject_unmappable(v: &Value) -> Result<(), ConvertError> {
    if v["n"].as_u64().is_some_and(|n| n > 1) {
        return Err(unsupported(
            "n>1 cannot be converted for this channel; request one choice",
        ));
    }
    if v["logprobs"].as_bool() == Some(true) || v["logprobs"].is_u64() {
        return Err(unsupported("logprobs cannot be converted for this channel"));
    }
    Ok(())
}

pub fn parse_request(v: &Value) -> Result<Request, ConvertError> {
    reject_unmappable(v)?;
    let messages = v["messages"]
        .as_array()
        .ok_or_else(|| ConvertError::Malformed("`messages` must be an array".into()))?;
    let mut req = Request {
        model: str_at(v, "model").to_string(),
        ..Request::default()
    };
    for m in messages {
        match str_at(m, "role") {
            "system" | "developer" => req.system.extend(
                text_parts(&m["content"])
                    .into_iter()
                    .map(|(text, cache)| SystemPart { text, cache }),
            ),
            "user" => push_blocks(&mut req.messages, Role::User, user_parts(&m["content"])?),
            "assistant" => push_blocks(&mut req.messages, Role::Assistant, assistant_blocks(m)),
            "tool" | "function" => {
                let content = user_parts(&m["content"])?;
                let result = ToolResult {
                    call_id: str_at(m, "tool_call_id").to_string(),
                    name: opt_str(m, "name"),
                    content,
                    is_error: false,
                };
                push_blocks(
                    &mut req.messages,
                    Role::User,
                    vec![Block::ToolResult(result)],
                );
            }
            other => {
                return Err(ConvertError::Malformed(format!(
                    "unknown message role `{other}`"
                )))
            }
        }
    }
    results_first(&mut req.messages);
    for t in v["tools"].as_array().into_iter().flatten() {
        if str_at(t, "type") != "function" {
            return Err(unsupported(format!(
                "tool type `{}` cannot be converted",
                str_at(t, "type")
            )));
        }
        let f = &t["function"];
        req.tools.push(ToolDef {
            strict: f["strict"].as_bool(),
            ..ToolDef::declared(f, "parameters")
        });
    }
    req.tool_choice = parse_tool_choice(&v["tool_choice"]);
    req.parallel_tool_calls = v["parallel_tool_calls"].as_bool();
    req.max_tokens = v["max_completion_tokens"]
        .as_u64()
        .or(v["max_tokens"].as_u64());
    parse_shared_options(v, &mut req);
    req.reasoning = opt_str(v, "reasoning_effort").map(|e| match e.as_str() {
        "none" => Reasoning::Disabled,
        _ => Reasoning::Effort(e),
    });
    req.response_format = parse_response_format(&v["response_format"]);
    Ok(req)
}

/// The sampling and streaming fields a Chat request shares with a legacy Completions one.
pub(crate) fn parse_shared_options(v: &Value, req: &mut Request) {
    req.temperature = v["temperature"].as_f64();
    req.top_p = v["top_p"].as_f64();
    req.stop = string_list(v.get("stop"));
    req.stream = v["stream"].as_bool() == Some(true);
    req.include_usage = v["stream_options"]["include_usage"].as_bool() == Some(true);
    req.user = opt_str(v, "user");
    req.seed = v["seed"].as_i64();
    req.presence_penalty = v["presence_penalty"].as_f64();
    req.frequency_penalty = v["frequency_penalty"].as_f64();
}

/// Writes what `parse_shared_options` reads (and `max_tokens`); a stream always asks for usage.
pub(crate) fn emit_shared_options(req: &Request, out: &mut Map<String, Value>) {
    set_opt(out, "max_tokens", req.max_tokens);
    set_opt(out, "temperature", req.temperature);
    set_opt(out, "top_p", req.top_p);
    if !req.stop.is_empty() {
        out.insert(
            "stop".into(),
            json!(req.stop.iter().take(4).collect::<Vec<_>>()),
        );
    }
    set_opt(out, "user", req.user.clone());
    set_opt(out, "seed", req.seed);
    set_opt(out, "presence_penalty", req.presence_penalty);
    set_opt(out, "frequency_penalty", req.frequency_penalty);
    if req.stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
}

fn parse_response_format(v: &Value) -> Option<ResponseFormat> {
    match str_at(v, "type") {
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => {
            let s = &v["json_schema"];
            Some(ResponseFormat::JsonSchema {
                name: str_at(s, "name").to_string(),
                schema: s.get("schema").cloned().unwrap_or(json!({})),
                strict: s["strict"].as_bool(),
            })
        }
        _ => None,
    }
}

fn media_part(block: &Block) -> Option<Value> {
    match block {
        Block::Text { text, .. } => Some(json!({"type": "text", "text": text})),
        Block::Image(m) => Some(json!({"type": "image_url", "image_url": {"url": m.to_url()}})),
        Block::Audio { data, format } => {
            Some(json!({"type": "input_audio", "input_audio": {"data": data, "format": format}}))
        }
        Block::File { media, filename } => {
            let mut file = match media {
                Media::FileId(id) => json!({"file_id": id}),
                other => json!({"file_data": other.to_url()}),
            };
            if let Some(name) = filename {
                file["filename"] = json!(name);
            }
            Some(json!({"type": "file", "file": file}))
        }
        _ => None,
    }
}

/// A content value: a plain string for a lone text part, else an array of parts.
fn content_value(blocks: &[&Block]) -> Value {
    if let [Block::Text { text, .. }] = blocks {
        return json!(text);
    }
    Value::Array(blocks.iter().filter_map(|b| media_part(b)).collect())
}

/// The joined text of text blocks.
pub(crate) fn joined_text(blocks: &[Block]) -> String {
    blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

fn emit_user(blocks: &[Block], out: &mut Vec<Value>) {
    let mut result_images: Vec<&Block> = Vec::new();
    for b in blocks {
        if let Block::ToolResult(r) = b {
            out.push(json!({"role": "tool", "tool_call_id": r.call_id, "content": joined_text(&r.content)}));
            result_images.extend(
                r.content
                    .iter()
                    .filter(|c| !matches!(c, Block::Text { .. })),
            );
        }
    }
    // Tool messages carry text only: their images follow in a synthetic user message (§4.2).
    if !result_images.is_empty() {
        out.push(json!({"role": "user", "content": content_value(&result_images)}));
    }
    let rest: Vec<&Block> = blocks.iter().filter(|b| media_part(b).is_some()).collect();
    if !rest.is_empty() {
        out.push(json!({"role": "user", "content": content_value(&rest)}));
    }
}

fn emit_assistant(blocks: &[Block], out: &mut Vec<Value>) {
    let mut msg = json!({"role": "assistant", "content": joined_text(blocks)});
    let reasoning: String = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Thinking { text, signature }
                if signature.is_none() || blob_for(signature, Provider::OpenAi).is_some() =>
            {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    if !reasoning.is_empty() {
        msg["reasoning_content"] = json!(reasoning);
    }
    set_tool_calls(&mut msg, blocks);
    out.push(msg);
}

/// Sets an assistant message's `tool_calls` from the calls among `blocks`, when there are any.
fn set_tool_calls(msg: &mut Value, blocks: &[Block]) {
    let calls: Vec<Value> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolCall(c) => Some(json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.arguments.to_string()}})),
            _ => None,
        })
        .collect();
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
}

/// Chat `tool_choice` value.
fn tool_choice_value(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

/// Sets `key` when `value` is present.
pub(crate) fn set_opt<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v.into());
    }
}

/// OpenAI `reasoning_effort` for an internal setting (`auto` is not an OpenAI value).
pub(crate) fn openai_effort(r: &Reasoning) -> Option<String> {
    match r {
        Reasoning::Disabled => Some("none".into()),
        other => other
            .effort()
            .map(|e| if e == "auto" { "medium".into() } else { e }),
    }
}

pub fn emit_request(req: &Request) -> Result<Value, ConvertError> {
    let mut messages: Vec<Value> = req
        .system
        .iter()
        .map(|s| json!({"role": "system", "content": s.text}))
        .collect();
    for m in &req.messages {
        match m.role {
            Role::User => emit_user(&m.content, &mut messages),
            Role::Assistant => emit_assistant(&m.content, &mut messages),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(req.model));
    out.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": object_schema(&t.parameters)});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                if let Some(s) = t.strict {
                    f["strict"] = json!(s);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    set_opt(
        &mut out,
        "tool_choice",
        req.tool_choice.as_ref().map(tool_choice_value),
    );
    set_opt(&mut out, "parallel_tool_calls", req.parallel_tool_calls);
    emit_shared_options(req, &mut out);
    set_opt(
        &mut out,
        "reasoning_effort",
        req.reasoning.as_ref().and_then(openai_effort),
    );
    set_opt(
        &mut out,
        "response_format",
        req.response_format.as_ref().map(|f| match f {
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut s = json!({"name": name, "schema": schema});
                if let Some(strict) = strict {
                    s["strict"] = json!(strict);
                }
                json!({"type": "json_schema", "json_schema": s})
            }
        }),
    );
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------- responses

pub(crate) fn parse_finish(reason: &str) -> StopReason {
    match reason {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

pub(crate) fn finish_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::PauseTurn => "stop",
        StopReason::MaxTokens | StopReason::ContextWindow => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

pub fn parse_response(v: &Value) -> Result<Response, ConvertError> {
    parse_first_choice(v, |choice| assistant_blocks(&choice["message"]))
}

/// A Chat or Completions answer from its first choice, whose content `content_of` reads.
pub(crate) fn parse_first_choice(
    v: &Value,
    content_of: impl FnOnce(&Value) -> Vec<Block>,
) -> Result<Response, ConvertError> {
    let choice = v["choices"]
        .get(0)
        .ok_or_else(|| ConvertError::Malformed("upstream response has no choices".into()))?;
    Ok(Response {
        id: str_at(v, "id").to_string(),
        model: str_at(v, "model").to_string(),
        content: content_of(choice),
        stop: parse_finish(str_at(choice, "finish_reason")),
        usage: Usage::from_openai_chat(&v["usage"]),
    })
}

/// A `chatcmpl-` id for a converted answer.
fn chat_id(upstream_id: &str) -> String {
    if upstream_id.is_empty() {
        "chatcmpl-gateway".into()
    } else {
        format!("chatcmpl-{}", upstream_id.trim_start_matches("chatcmpl-"))
    }
}

pub fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value {
    let text = joined_text(&resp.content);
    let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
    let reasoning: String = resp
        .content
        .iter()
        .filter_map(|b| match b {
            Block::Thinking { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    set_tool_calls(&mut message, &resp.content);
    let stop = StopReason::settle(Some(resp.stop), resp.has_tool_call());
    json!({
        "id": chat_id(&resp.id),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.client_model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_name(stop)}],
        "usage": resp.usage.to_openai_chat(),
    })
}

// ---------------------------------------------------------------- stream parser (Chat upstream)

#[derive(Debug, Default)]
struct PendingTool {
    key: u64,
    id: String,
    name: String,
    args: String,
    started: bool,
}

/// State of the Chat-upstream parser (§5.1).
#[derive(Debug, Default)]
pub struct StreamParser {
    started: bool,
    tools: Vec<PendingTool>,
    finished: bool,
}

fn start_ready_tool(tool: &mut PendingTool, out: &mut Vec<Delta>) {
    if tool.started || tool.id.is_empty() || tool.name.is_empty() {
        return;
    }
    tool.started = true;
    out.push(Delta::ToolStart {
        key: tool.key,
        id: tool.id.clone(),
        name: tool.name.clone(),
    });
    if !tool.args.is_empty() {
        out.push(Delta::ToolArgs {
            key: tool.key,
            fragment: tool.args.clone(),
        });
    }
}

fn tool_delta(entry: &Value, position: usize, st: &mut StreamParser, out: &mut Vec<Delta>) {
    let id = str_at(entry, "id");
    let key = entry["index"].as_u64().unwrap_or_else(|| {
        st.tools
            .iter()
            .find(|t| !id.is_empty() && t.id == id)
            .map_or(position as u64, |t| t.key)
    });
    let slot = match st.tools.iter().position(|t| t.key == key) {
        Some(i) => i,
        None => {
            st.tools.push(PendingTool {
                key,
                ..PendingTool::default()
            });
            st.tools.len() - 1
        }
    };
    let tool = &mut st.tools[slot];
    if tool.id.is_empty() && !id.is_empty() {
        tool.id = id.to_string();
    }
    let name = str_at(&entry["function"], "name");
    if tool.name.is_empty() && !name.is_empty() {
        tool.name = name.to_string();
    }
    let mut fragment = str_at(&entry["function"], "arguments");
    // Cumulative-snapshot upstreams resend the whole string: keep only the new suffix.
    if !tool.args.is_empty() && fragment.len() > tool.args.len() && fragment.starts_with(&tool.args)
    {
        fragment = &fragment[tool.args.len()..];
    }
    tool.args.push_str(fragment);
    if tool.started {
        if !fragment.is_empty() {
            out.push(Delta::ToolArgs {
                key,
                fragment: fragment.to_string(),
            });
        }
    } else {
        start_ready_tool(tool, out);
    }
}

/// The JSON of one upstream Chat or Completions chunk, or the deltas that stand for the whole
/// event: `[DONE]`, an in-band error, nothing for data that is not JSON.
pub(crate) fn chunk_json(event: &SseEvent) -> Result<Value, Vec<Delta>> {
    if event.data.trim() == "[DONE]" {
        return Err(vec![Delta::Done]);
    }
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        return Err(Vec::new());
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(vec![Delta::Error {
            status: err["code"].as_u64().map_or(500, |c| c as u16),
            message: err["message"]
                .as_str()
                .unwrap_or("upstream error")
                .to_string(),
        }]);
    }
    Ok(v)
}

/// One upstream Chat chunk → deltas.
pub fn parse_stream_event(event: &SseEvent, st: &mut StreamParser) -> Vec<Delta> {
    let v = match chunk_json(event) {
        Ok(v) => v,
        Err(deltas) => return deltas,
    };
    let mut out = Vec::new();
    let choice = &v["choices"][0];
    if !st.started && (choice.is_object() || v.get("id").is_some()) {
        st.started = true;
        out.push(Delta::Start {
            id: str_at(&v, "id").to_string(),
        });
    }
    let delta = &choice["delta"];
    if let Some(r) = opt_str(delta, "reasoning_content").or_else(|| opt_str(delta, "reasoning")) {
        out.push(Delta::Thinking(r));
    }
    if let Some(text) = opt_str(delta, "content") {
        out.push(Delta::Text(text));
    }
    for (position, entry) in delta["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        tool_delta(entry, position, st, &mut out);
    }
    if let Some(reason) = opt_str(choice, "finish_reason") {
        if !st.finished {
            st.finished = true;
            // Calls that never got both id and name are still delivered (CPA `tool_<index>`).
            for tool in st.tools.iter_mut().filter(|t| !t.started) {
                if tool.id.is_empty() {
                    tool.id = format!("call_{}", tool.key);
                }
                if tool.name.is_empty() {
                    tool.name = format!("tool_{}", tool.key);
                }
                start_ready_tool(tool, &mut out);
            }
            out.push(Delta::Finish(parse_finish(&reason)));
        }
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        out.push(Delta::Usage(Usage::from_openai_chat(u)));
    }
    out
}

// ---------------------------------------------------------------- stream emitter (Chat client)

/// What every Chat and Completions stream chunk repeats, with the stop and usage the end reports.
#[derive(Debug)]
pub(crate) struct ChunkHead {
    pub id: String,
    model: String,
    created: u64,
    object: &'static str,
    include_usage: bool,
    pub stop: Option<StopReason>,
    usage: Usage,
}

impl ChunkHead {
    pub fn new(ctx: &ResponseContext, id: String, object: &'static str) -> Self {
        ChunkHead {
            id,
            model: ctx.client_model.clone(),
            created: ctx.created,
            object,
            include_usage: ctx.include_usage,
            stop: None,
            usage: Usage::default(),
        }
    }

    /// A chunk carrying `choices`.
    pub fn chunk(&self, choices: Value) -> Frame {
        Frame::data(json!({
            "id": self.id, "object": self.object, "created": self.created,
            "model": self.model, "choices": choices,
        }))
    }

    /// The end of the stream: the last choice, the usage chunk when the client asked, `[DONE]`.
    pub fn finish(&self, last_choice: Value, out: &mut Vec<Frame>) {
        out.push(self.chunk(json!([last_choice])));
        if self.include_usage {
            let mut usage = self.chunk(json!([]));
            if let Frame::Event { data, .. } = &mut usage {
                data["usage"] = self.usage.to_openai_chat();
            }
            out.push(usage);
        }
        out.push(Frame::DoneMarker);
    }

    /// The deltas both emitters treat alike (usage, finish reason, in-band error); others are
    /// the caller's.
    pub fn absorb(&mut self, delta: &Delta, out: &mut Vec<Frame>) {
        match delta {
            Delta::Usage(u) => self.usage = *u,
            Delta::Finish(r) => self.stop = Some(*r),
            Delta::Error { status, message } => out.push(Frame::data(
                json!({"error": openai_error_object(*status, message)}),
            )),
            _ => {}
        }
    }
}

/// State of the Chat-client emitter (§5.2).
#[derive(Debug)]
pub struct StreamEmitter {
    head: ChunkHead,
    started: bool,
    /// Upstream tool key → dense Chat index.
    tool_keys: Vec<u64>,
}

impl StreamEmitter {
    pub fn new(ctx: &ResponseContext) -> Self {
        StreamEmitter {
            head: ChunkHead::new(ctx, chat_id(""), "chat.completion.chunk"),
            started: false,
            tool_keys: Vec::new(),
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Frame {
        self.head
            .chunk(json!([{"index": 0, "delta": delta, "finish_reason": finish}]))
    }

    fn ensure_started(&mut self, out: &mut Vec<Frame>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
    }
}

/// One delta → Chat chunks.
pub fn emit_stream_delta(delta: &Delta, st: &mut StreamEmitter) -> Vec<Frame> {
    let mut out = Vec::new();
    match delta {
        Delta::Start { id } => {
            if !st.started {
                st.head.id = chat_id(id);
            }
            st.ensure_started(&mut out);
        }
        Delta::Text(text) => {
            st.ensure_started(&mut out);
            out.push(st.chunk(json!({"content": text}), None));
        }
        Delta::Thinking(text) => {
            st.ensure_started(&mut out);
            out.push(st.chunk(json!({"reasoning_content": text}), None));
        }
        Delta::ToolStart { key, id, name } => {
            st.ensure_started(&mut out);
            let index = st.tool_keys.len();
            st.tool_keys.push(*key);
            out.push(st.chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
        }
        Delta::ToolArgs { key, fragment } => {
            if let Some(index) = st.tool_keys.iter().position(|k| k == key) {
                if !fragment.is_empty() {
                    out.push(st.chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                        None,
                    ));
                }
            }
        }
        Delta::Done => {
            st.ensure_started(&mut out);
            let stop = StopReason::settle(st.head.stop, !st.tool_keys.is_empty());
            st.head.finish(
                json!({"index": 0, "delta": {}, "finish_reason": finish_name(stop)}),
                &mut out,
            );
        }
        other => st.head.absorb(other, &mut out),
    }
    out
}

//! OpenAI Chat Completions: request/response parser and emitter, and the stream steps
//! (parser side: a Chat upstream; emitter side: a Chat client).

use crate::core::dialect::Provider;
use crate::core::sse::SseEvent;
use crate::core::wire_error::{openai_error_object, openai_type};
use serde_json::{json, Map, Value};

use super::codec::Codec;
use super::context::ResponseContext;
use super::errors::{unsupported, ConvertError};
use super::frame::{Delta, Frame};
use super::ir::{
    blob_for, joined_text, push_blocks, results_first, Blob, Block, Media, Reasoning, Request,
    Response, ResponseFormat, Role, StopReason, SystemPart, ToolCall, ToolChoice, ToolDef,
    ToolResult,
};
use super::json::{args_object, array_at, event_json, opt_str, set_opt, str_at, string_list};
use super::tools::object_schema;
use super::usage::Usage;

/// OpenAI Chat Completions (`/v1/chat/completions`).
pub struct OpenAiChat;

// ---------------------------------------------------------------- requests

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

/// One message into the request: system and developer text to `system`, tool answers as
/// results in a user turn.
fn parse_message(m: &Value, req: &mut Request) -> Result<(), ConvertError> {
    let (role, blocks) = match str_at(m, "role") {
        "system" | "developer" => {
            let parts = text_parts(&m["content"]).into_iter();
            req.system
                .extend(parts.map(|(text, cache)| SystemPart { text, cache }));
            return Ok(());
        }
        "user" => (Role::User, user_parts(&m["content"])?),
        "assistant" => (Role::Assistant, assistant_blocks(m)),
        "tool" | "function" => {
            let result = ToolResult {
                call_id: str_at(m, "tool_call_id").to_string(),
                name: opt_str(m, "name"),
                content: user_parts(&m["content"])?,
                is_error: false,
            };
            (Role::User, vec![Block::ToolResult(result)])
        }
        other => {
            return Err(ConvertError::Malformed(format!(
                "unknown message role `{other}`"
            )))
        }
    };
    push_blocks(&mut req.messages, role, blocks);
    Ok(())
}

/// Function tools; other tool types cannot be converted.
fn parse_tools(v: &Value) -> Result<Vec<ToolDef>, ConvertError> {
    let mut tools = Vec::new();
    for t in v["tools"].as_array().into_iter().flatten() {
        if str_at(t, "type") != "function" {
            return Err(unsupported(format!(
                "tool type `{}` cannot be converted",
                str_at(t, "type")
            )));
        }
        let f = &t["function"];
        tools.push(ToolDef {
            strict: f["strict"].as_bool(),
            ..ToolDef::declared(f, "parameters")
        });
    }
    Ok(tools)
}

/// Rejects what no non-OpenAI target can express.
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
    // Tool messages carry text only: their images follow in a synthetic user message.
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

// ---------------------------------------------------------------- stream parser (Chat upstream)

#[derive(Debug, Default)]
struct PendingTool {
    key: u64,
    id: String,
    name: String,
    args: String,
    started: bool,
}

/// State of the Chat-upstream parser.
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

/// A Chat chunk's start, choice delta (reasoning, text, tool-call fragments) and finish; calls
/// that never got both id and name are still delivered at the finish (CPA `tool_<index>`).
fn parse_choice_delta(v: &Value, st: &mut StreamParser, out: &mut Vec<Delta>) {
    let choice = &v["choices"][0];
    if !st.started && (choice.is_object() || v.get("id").is_some()) {
        st.started = true;
        out.push(Delta::Start {
            id: str_at(v, "id").to_string(),
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
        tool_delta(entry, position, st, out);
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
                start_ready_tool(tool, out);
            }
            out.push(Delta::Finish(parse_finish(&reason)));
        }
    }
}

/// One upstream Chat or Completions chunk → deltas: `[DONE]`, an in-band error and the usage
/// report are read here, the choice by `read_choice`.
pub(crate) fn chunk_deltas(
    event: &SseEvent,
    read_choice: impl FnOnce(&Value, &mut Vec<Delta>),
) -> Vec<Delta> {
    let v = match chunk_json(event) {
        Ok(v) => v,
        Err(deltas) => return deltas,
    };
    let mut out = Vec::new();
    read_choice(&v, &mut out);
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        out.push(Delta::Usage(Usage::from_openai_chat(u)));
    }
    out
}

/// The JSON of one upstream Chat or Completions chunk, or the deltas that stand for the whole
/// event: `[DONE]`, an in-band error, nothing for data that is not JSON.
fn chunk_json(event: &SseEvent) -> Result<Value, Vec<Delta>> {
    if event.data.trim() == "[DONE]" {
        return Err(vec![Delta::Done]);
    }
    let Some(v) = event_json(event) else {
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
                json!({"error": openai_error_object(message, openai_type(*status), Value::Null)}),
            )),
            _ => {}
        }
    }
}

/// State of the Chat-client emitter.
#[derive(Debug)]
pub struct StreamEmitter {
    head: ChunkHead,
    started: bool,
    /// Upstream tool key → dense Chat index.
    tool_keys: Vec<u64>,
}

impl StreamEmitter {
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

impl Codec for OpenAiChat {
    type Parser = StreamParser;
    type Emitter = StreamEmitter;

    fn parse_request(v: &Value, _url_stream: bool) -> Result<Request, ConvertError> {
        reject_unmappable(v)?;
        let messages = array_at(v, "messages")?;
        let mut req = Request {
            model: str_at(v, "model").to_string(),
            ..Request::default()
        };
        for m in messages {
            parse_message(m, &mut req)?;
        }
        results_first(&mut req.messages);
        req.tools = parse_tools(v)?;
        req.tool_choice = ToolChoice::from_openai(&v["tool_choice"]);
        req.parallel_tool_calls = v["parallel_tool_calls"].as_bool();
        req.max_tokens = v["max_completion_tokens"]
            .as_u64()
            .or(v["max_tokens"].as_u64());
        parse_shared_options(v, &mut req);
        req.reasoning = Reasoning::from_openai(opt_str(v, "reasoning_effort"));
        let format = &v["response_format"];
        req.response_format = ResponseFormat::from_openai(format, &format["json_schema"]);
        Ok(req)
    }

    fn emit_request(req: &Request) -> Result<Value, ConvertError> {
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
            req.tool_choice.as_ref().map(|c| c.to_openai(true)),
        );
        set_opt(&mut out, "parallel_tool_calls", req.parallel_tool_calls);
        emit_shared_options(req, &mut out);
        set_opt(
            &mut out,
            "reasoning_effort",
            req.reasoning.as_ref().and_then(Reasoning::openai_effort),
        );
        let format = req.response_format.as_ref();
        set_opt(
            &mut out,
            "response_format",
            format.map(|f| f.to_openai(true)),
        );
        Ok(Value::Object(out))
    }

    fn parse_response(v: &Value) -> Result<Response, ConvertError> {
        parse_first_choice(v, |choice| assistant_blocks(&choice["message"]))
    }

    fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value {
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

    /// One upstream Chat chunk → deltas.
    fn parse_stream_event(event: &SseEvent, st: &mut StreamParser) -> Vec<Delta> {
        chunk_deltas(event, |v, out| parse_choice_delta(v, st, out))
    }

    /// One delta → Chat chunks.
    fn emit_stream_delta(delta: &Delta, st: &mut StreamEmitter) -> Vec<Frame> {
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

    fn emitter(ctx: &ResponseContext) -> StreamEmitter {
        StreamEmitter {
            head: ChunkHead::new(ctx, chat_id(""), "chat.completion.chunk"),
            started: false,
            tool_keys: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(text: &str) -> SseEvent {
        SseEvent {
            event: String::new(),
            data: text.into(),
        }
    }

    #[test]
    fn tool_messages_become_results_ahead_of_user_text() {
        let v = json!({"model": "m", "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "user", "content": "and?"},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ]});
        let req = OpenAiChat::parse_request(&v, false).unwrap();
        assert_eq!(req.system[0].text, "be brief");
        let user = &req.messages[1];
        assert!(matches!(&user.content[0], Block::ToolResult(r) if r.call_id == "c1"));
        assert_eq!(user.content[1], Block::text("and?"));
        let bad = json!({"messages": [{"role": "robot", "content": "x"}]});
        assert!(OpenAiChat::parse_request(&bad, false).is_err());
    }

    #[test]
    fn chunk_steps_read_done_errors_usage_and_cumulative_arguments() {
        let mut st = StreamParser::default();
        assert_eq!(
            OpenAiChat::parse_stream_event(&data("[DONE]"), &mut st),
            vec![Delta::Done]
        );
        let err = OpenAiChat::parse_stream_event(
            &data(r#"{"error":{"code":429,"message":"slow"}}"#),
            &mut st,
        );
        assert_eq!(
            err,
            vec![Delta::Error {
                status: 429,
                message: "slow".into()
            }]
        );
        let call = |args: &str| {
            data(
                &json!({"id": "x", "choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c",
                "function": {"name": "f", "arguments": args}}]}}]})
                .to_string(),
            )
        };
        let first = OpenAiChat::parse_stream_event(&call("{\"a\""), &mut st);
        assert!(matches!(first[1], Delta::ToolStart { key: 0, .. }));
        // A snapshot upstream resends the whole string: only the new suffix goes on.
        let second = OpenAiChat::parse_stream_event(&call("{\"a\":1}"), &mut st);
        assert_eq!(
            second,
            vec![Delta::ToolArgs {
                key: 0,
                fragment: ":1}".into()
            }]
        );
        let end = OpenAiChat::parse_stream_event(
            &data(
                r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
            ),
            &mut st,
        );
        assert_eq!(end[0], Delta::Finish(StopReason::ToolUse));
        assert!(matches!(end[1], Delta::Usage(u) if u.prompt_tokens == 3));
    }
}

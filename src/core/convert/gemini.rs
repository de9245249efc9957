//! Gemini generateContent / streamGenerateContent: request/response parser and emitter, and the
//! stream steps. Requests accept camelCase and snake_case; output is camelCase.

use crate::core::dialect::Provider;
use crate::core::sse::SseEvent;
use crate::core::wire_error::{gemini_body, gemini_status};
use serde_json::{json, Map, Value};

use super::codec::Codec;
use super::context::ResponseContext;
use super::errors::{unsupported, ConvertError};
use super::frame::{Delta, Frame};
use super::ir::{
    blob_for, joined_text, push_blocks, Blob, Block, Media, Message, Reasoning, Request, Response,
    ResponseFormat, Role, StopReason, SystemPart, ToolCall, ToolChoice, ToolDef, ToolResult,
};
use super::json::{array_at, event_json, opt_str, set_opt, str_at, string_list};
use super::tools::gemini_schema;
use super::usage::Usage;

/// Gemini `generateContent` / `streamGenerateContent`.
pub struct Gemini;

/// The documented value that lets history from other providers pass Gemini 3's signature check.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// A field under its camelCase or snake_case name.
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> &'a Value {
    match v.get(camel) {
        Some(x) => x,
        None => &v[snake],
    }
}

// ---------------------------------------------------------------- requests

fn blob_part(mime: &str, data: &str) -> Block {
    let media = Media::Base64 {
        mime: mime.to_string(),
        data: data.to_string(),
    };
    if mime.starts_with("image/") {
        Block::Image(media)
    } else if let Some(format) = mime.strip_prefix("audio/") {
        Block::Audio {
            data: data.to_string(),
            format: format.trim_start_matches("x-").replace("mpeg", "mp3"),
        }
    } else {
        Block::File {
            media,
            filename: None,
        }
    }
}

/// A `functionResponse.response` as tool-result text: `{"result": "…"}` unwraps, other objects
/// are serialised.
fn response_text(response: &Value) -> String {
    match response {
        Value::Object(map) if map.len() == 1 => {
            match map.get("result").or_else(|| map.get("content")) {
                Some(Value::String(s)) => s.clone(),
                _ => response.to_string(),
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Ids handed to id-less calls of the latest model turn, matched by name then order.
#[derive(Default)]
struct PendingCalls {
    calls: Vec<(String, String)>,
    counter: u64,
}

impl PendingCalls {
    fn take(&mut self, name: &str) -> Option<String> {
        let i = self
            .calls
            .iter()
            .position(|(_, n)| n == name)
            .or(if self.calls.is_empty() { None } else { Some(0) })?;
        Some(self.calls.remove(i).0)
    }
}

fn parse_parts(role: Role, parts: &[Value], pending: &mut PendingCalls) -> Vec<Block> {
    let mut out = Vec::new();
    if role == Role::Assistant {
        pending.calls.clear();
    }
    for p in parts {
        let signature = opt_str(p, "thoughtSignature")
            .or_else(|| opt_str(p, "thought_signature"))
            .map(|s| Blob::new(Provider::Gemini, s));
        let inline = field(p, "inlineData", "inline_data");
        let file = field(p, "fileData", "file_data");
        let call = field(p, "functionCall", "function_call");
        let response = field(p, "functionResponse", "function_response");
        if let Some(text) = p.get("text").and_then(Value::as_str) {
            if p["thought"].as_bool() == Some(true) {
                out.push(Block::Thinking {
                    text: text.to_string(),
                    signature,
                });
            } else {
                out.push(Block::text(text));
            }
        } else if inline.is_object() {
            out.push(blob_part(
                field(inline, "mimeType", "mime_type")
                    .as_str()
                    .unwrap_or(""),
                str_at(inline, "data"),
            ));
        } else if file.is_object() {
            let mime = field(file, "mimeType", "mime_type").as_str().unwrap_or("");
            let media = Media::Url(
                field(file, "fileUri", "file_uri")
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
            out.push(if mime.starts_with("image/") {
                Block::Image(media)
            } else {
                Block::File {
                    media,
                    filename: None,
                }
            });
        } else if call.is_object() {
            let name = str_at(call, "name").to_string();
            let id = opt_str(call, "id").unwrap_or_else(|| {
                pending.counter += 1;
                format!("call_g{}", pending.counter)
            });
            pending.calls.push((id.clone(), name.clone()));
            out.push(Block::ToolCall(ToolCall {
                id,
                name,
                arguments: call_args(call),
                signature,
            }));
        } else if response.is_object() {
            let name = str_at(response, "name").to_string();
            let call_id = match opt_str(response, "id") {
                Some(id) => {
                    pending.calls.retain(|(i, _)| *i != id);
                    id
                }
                None => pending.take(&name).unwrap_or_else(|| name.clone()),
            };
            out.push(Block::ToolResult(ToolResult {
                call_id,
                name: Some(name),
                content: vec![Block::text(response_text(&response["response"]))],
                is_error: false,
            }));
        }
    }
    out
}

/// The text parts of `systemInstruction`.
fn system_parts(instruction: &Value) -> Vec<SystemPart> {
    instruction["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .map(|text| SystemPart {
            text: text.to_string(),
            cache: false,
        })
        .collect()
}

/// `contents` as turns: `model` is the assistant, anything else the user.
fn parse_contents(contents: &[Value]) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut pending = PendingCalls::default();
    for c in contents {
        let role = if str_at(c, "role") == "model" {
            Role::Assistant
        } else {
            Role::User
        };
        let parts = c["parts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let blocks = parse_parts(role, parts, &mut pending);
        push_blocks(&mut messages, role, blocks);
    }
    messages
}

/// Function declarations; Gemini's built-in tools cannot be converted.
fn parse_tools(v: &Value) -> Result<Vec<ToolDef>, ConvertError> {
    let mut tools = Vec::new();
    for t in v["tools"].as_array().into_iter().flatten() {
        let decls = field(t, "functionDeclarations", "function_declarations");
        let Some(decls) = decls.as_array() else {
            return Err(unsupported("Gemini built-in tools (googleSearch, codeExecution, urlContext) cannot be converted for this channel"));
        };
        for d in decls {
            let params = [
                field(d, "parametersJsonSchema", "parameters_json_schema"),
                &d["parameters"],
            ]
            .into_iter()
            .find(|p| p.is_object())
            .cloned()
            .unwrap_or(json!({"type": "object"}));
            tools.push(ToolDef {
                name: str_at(d, "name").to_string(),
                description: opt_str(d, "description"),
                parameters: lower_types(params),
                strict: None,
                cache: false,
            });
        }
    }
    Ok(tools)
}

/// `toolConfig.functionCallingConfig`: `ANY` with one allowed function names that function.
fn parse_tool_choice(tool_config: &Value) -> Option<ToolChoice> {
    let fcc = field(
        tool_config,
        "functionCallingConfig",
        "function_calling_config",
    );
    let allowed = field(fcc, "allowedFunctionNames", "allowed_function_names");
    match str_at(fcc, "mode") {
        "AUTO" => Some(ToolChoice::Auto),
        "NONE" => Some(ToolChoice::None),
        "ANY" | "VALIDATED" => match allowed.as_array().map(Vec::as_slice) {
            Some([one]) => Some(ToolChoice::Tool(one.as_str().unwrap_or("").to_string())),
            _ => Some(ToolChoice::Required),
        },
        _ => None,
    }
}

/// Rejects generation settings no other dialect can express.
fn reject_unmappable(g: &Value) -> Result<(), ConvertError> {
    if field(g, "candidateCount", "candidate_count")
        .as_u64()
        .is_some_and(|n| n > 1)
    {
        return Err(unsupported(
            "candidateCount>1 cannot be converted for this channel",
        ));
    }
    if field(g, "responseLogprobs", "response_logprobs").as_bool() == Some(true) {
        return Err(unsupported(
            "responseLogprobs cannot be converted for this channel",
        ));
    }
    Ok(())
}

/// The sampling fields of `generationConfig`.
fn parse_sampling(g: &Value, req: &mut Request) {
    req.temperature = g["temperature"].as_f64();
    req.top_p = field(g, "topP", "top_p").as_f64();
    req.top_k = field(g, "topK", "top_k").as_u64();
    req.max_tokens = field(g, "maxOutputTokens", "max_output_tokens").as_u64();
    req.stop = string_list(Some(field(g, "stopSequences", "stop_sequences")));
    req.presence_penalty = field(g, "presencePenalty", "presence_penalty").as_f64();
    req.frequency_penalty = field(g, "frequencyPenalty", "frequency_penalty").as_f64();
    req.seed = g["seed"].as_i64();
}

/// JSON mode: `responseMimeType: application/json`, with a schema when one is given.
fn parse_response_format(g: &Value) -> Option<ResponseFormat> {
    if field(g, "responseMimeType", "response_mime_type").as_str() != Some("application/json") {
        return None;
    }
    let schema = [
        field(g, "responseJsonSchema", "response_json_schema"),
        field(g, "responseSchema", "response_schema"),
    ]
    .into_iter()
    .find(|s| s.is_object());
    Some(match schema {
        Some(s) => ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: lower_types(s.clone()),
            strict: None,
        },
        None => ResponseFormat::JsonObject,
    })
}

/// `thinkingConfig`: a level (Gemini 3) or a budget (2.5; 0 turns thinking off).
fn parse_thinking(thinking: &Value) -> Option<Reasoning> {
    if let Some(level) = field(thinking, "thinkingLevel", "thinking_level").as_str() {
        return Some(Reasoning::Effort(level.to_lowercase()));
    }
    field(thinking, "thinkingBudget", "thinking_budget")
        .as_i64()
        .map(|b| {
            if b == 0 {
                Reasoning::Disabled
            } else {
                Reasoning::Budget(b)
            }
        })
}

/// Gemini's OpenAPI-subset schemas spell types in capitals (`OBJECT`); JSON Schema wants lowercase.
fn lower_types(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(t)) = map.get_mut("type") {
                    *t = t.to_lowercase();
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

fn media_part(media: &Media, audio_mime: Option<String>) -> Result<Value, ConvertError> {
    match media {
        Media::Base64 { mime, data } => Ok(json!({"inlineData": {"mimeType": audio_mime.unwrap_or(mime.clone()), "data": data}})),
        Media::Url(url) | Media::FileId(url)
            if url.starts_with("gs://") || url.starts_with("https://generativelanguage.googleapis.com/") =>
        {
            Ok(json!({"fileData": {"fileUri": url}}))
        }
        _ => Err(unsupported(
            "Gemini channels accept images and files only inline (data: URLs) or as Gemini file URIs",
        )),
    }
}

/// A tool result's `functionResponse.response`: a JSON object stays, anything else is wrapped.
fn response_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"result": text}),
    }
}

fn emit_parts(m: &Message, call_order: &[String]) -> Result<Vec<Value>, ConvertError> {
    let mut parts = Vec::new();
    let mut trailing_media = Vec::new();
    let mut blocks: Vec<&Block> = m.content.iter().collect();
    // Responses go in the order of the calls they answer.
    blocks.sort_by_key(|b| match b {
        Block::ToolResult(r) => call_order
            .iter()
            .position(|id| *id == r.call_id)
            .unwrap_or(usize::MAX),
        _ => usize::MAX,
    });
    let mut first_call = true;
    for b in blocks {
        match b {
            Block::Text { text, .. } if !text.is_empty() => parts.push(json!({"text": text})),
            Block::Text { .. } | Block::Thinking { .. } | Block::RedactedThinking(_) => {}
            Block::Image(media) | Block::File { media, .. } => parts.push(media_part(media, None)?),
            Block::Audio { data, format } => parts.push(media_part(
                &Media::Base64 {
                    mime: String::new(),
                    data: data.clone(),
                },
                Some(format!("audio/{format}")),
            )?),
            Block::ToolCall(c) => {
                let mut part =
                    json!({"functionCall": {"id": c.id, "name": c.name, "args": c.arguments}});
                match blob_for(&c.signature, Provider::Gemini) {
                    Some(sig) => part["thoughtSignature"] = json!(sig),
                    None if first_call => part["thoughtSignature"] = json!(SKIP_SIGNATURE),
                    None => {}
                }
                first_call = false;
                parts.push(part);
            }
            Block::ToolResult(r) => {
                let text = joined_text(&r.content);
                parts.push(json!({"functionResponse": {"id": r.call_id,
                    "name": r.name.clone().unwrap_or_default(), "response": response_object(&text)}}));
                for media in r.content.iter().filter_map(|c| match c {
                    Block::Image(m) | Block::File { media: m, .. } => Some(m),
                    _ => None,
                }) {
                    trailing_media.push(media_part(media, None)?);
                }
            }
        }
    }
    parts.extend(trailing_media);
    Ok(parts)
}

/// The turns as `contents`: same-role turns merge, and a trailing model turn (prefill) is dropped
/// because Gemini does not continue it (CPA).
fn emit_contents(messages: &[Message]) -> Result<Vec<Value>, ConvertError> {
    let mut contents: Vec<Value> = Vec::new();
    let mut call_order: Vec<String> = Vec::new();
    for m in messages {
        let parts = emit_parts(m, &call_order)?;
        if m.role == Role::Assistant {
            call_order = m.call_ids();
        }
        if parts.is_empty() {
            continue;
        }
        let role = if m.role == Role::User {
            "user"
        } else {
            "model"
        };
        match contents.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(existing) = last["parts"].as_array_mut() {
                    existing.extend(parts);
                }
            }
            _ => contents.push(json!({"role": role, "parts": parts})),
        }
    }
    if contents.last().is_some_and(|c| c["role"] == "model") {
        contents.pop();
    }
    Ok(contents)
}

/// `tools`: one entry holding every function declaration.
fn tool_declarations(tools: &[ToolDef]) -> Value {
    let decls: Vec<Value> = tools
        .iter()
        .map(|t| {
            let mut d =
                json!({"name": t.name, "parametersJsonSchema": gemini_schema(&t.parameters)});
            if let Some(desc) = &t.description {
                d["description"] = json!(desc);
            }
            d
        })
        .collect();
    json!([{"functionDeclarations": decls}])
}

/// `toolConfig` for a tool choice.
fn tool_config(choice: &ToolChoice) -> Value {
    let config = match choice {
        ToolChoice::Auto => json!({"mode": "AUTO"}),
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
    };
    json!({"functionCallingConfig": config})
}

/// `generationConfig`: sampling, stop sequences (five at most), JSON mode and thinking.
fn generation_config(req: &Request) -> Map<String, Value> {
    let mut g = Map::new();
    set_opt(&mut g, "temperature", req.temperature);
    set_opt(&mut g, "topP", req.top_p);
    set_opt(&mut g, "topK", req.top_k);
    set_opt(&mut g, "maxOutputTokens", req.max_tokens);
    set_opt(&mut g, "presencePenalty", req.presence_penalty);
    set_opt(&mut g, "frequencyPenalty", req.frequency_penalty);
    set_opt(&mut g, "seed", req.seed);
    if !req.stop.is_empty() {
        g.insert(
            "stopSequences".into(),
            json!(req.stop.iter().take(5).collect::<Vec<_>>()),
        );
    }
    if let Some(format) = &req.response_format {
        g.insert("responseMimeType".into(), json!("application/json"));
        if let ResponseFormat::JsonSchema { schema, .. } = format {
            g.insert("responseJsonSchema".into(), gemini_schema(schema));
        }
    }
    if let Some(r) = &req.reasoning {
        g.insert("thinkingConfig".into(), thinking_config(r, &req.model));
    }
    g
}

/// Gemini 3 takes a level, 2.5 a budget; never both.
fn thinking_config(r: &Reasoning, model: &str) -> Value {
    if model.contains("gemini-3") {
        let level = match r.effort().as_deref() {
            None | Some("minimal") | Some("low") => "low",
            Some("medium") => "medium",
            _ => "high",
        };
        return json!({"thinkingLevel": level, "includeThoughts": true});
    }
    match r.budget() {
        None | Some(0) => json!({"thinkingBudget": 0}),
        Some(b) => json!({"thinkingBudget": b, "includeThoughts": true}),
    }
}

// ---------------------------------------------------------------- responses

pub(crate) fn parse_finish(reason: &str) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" | "LANGUAGE" => {
            StopReason::ContentFilter
        }
        _ => StopReason::EndTurn,
    }
}

fn finish_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ContextWindow => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
        _ => "STOP",
    }
}

/// Blocks of one candidate; id-less calls get `call_<responseId>_<n>` ids.
fn candidate_blocks(parts: &[Value], response_id: &str, counter: &mut u64) -> Vec<Block> {
    let mut out = Vec::new();
    for p in parts {
        let signature = opt_str(p, "thoughtSignature").map(|s| Blob::new(Provider::Gemini, s));
        if let Some(text) = p["text"].as_str() {
            if p["thought"].as_bool() == Some(true) {
                out.push(Block::Thinking {
                    text: text.to_string(),
                    signature,
                });
            } else if !text.is_empty() {
                out.push(Block::text(text));
            }
        } else if let Some(call) = p.get("functionCall").filter(|c| c.is_object()) {
            let id = opt_str(call, "id").unwrap_or_else(|| {
                *counter += 1;
                super::tools::anthropic_id(&format!("call_{response_id}_{counter}"))
            });
            out.push(Block::ToolCall(ToolCall {
                id,
                name: str_at(call, "name").to_string(),
                arguments: call_args(call),
                signature,
            }));
        }
    }
    out
}

// ---------------------------------------------------------------- stream parser (Gemini upstream)

/// State of the Gemini-upstream parser.
#[derive(Debug, Default)]
pub struct StreamParser {
    started: bool,
    response_id: String,
    /// Id-less calls numbered so far (for generated ids).
    calls: u64,
    /// Tool keys handed out so far.
    tools: u64,
}

// ---------------------------------------------------------------- stream emitter (Gemini client)

#[derive(Debug)]
struct BufferedCall {
    key: u64,
    id: String,
    name: String,
    args: String,
}

/// State of the Gemini-client emitter: text streams, function calls wait for the finish.
#[derive(Debug)]
pub struct StreamEmitter {
    model: String,
    response_id: String,
    calls: Vec<BufferedCall>,
    stop: Option<StopReason>,
    usage: Usage,
}

impl StreamEmitter {
    fn chunk(&self, parts: Vec<Value>) -> Value {
        json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "modelVersion": self.model, "responseId": self.response_id})
    }
}

/// A `functionCall`'s arguments object (`{}` when absent or not an object).
fn call_args(call: &Value) -> Value {
    call.get("args")
        .filter(|a| a.is_object())
        .cloned()
        .unwrap_or(json!({}))
}

impl Codec for Gemini {
    type Parser = StreamParser;
    type Emitter = StreamEmitter;

    fn parse_request(v: &Value, url_stream: bool) -> Result<Request, ConvertError> {
        let contents = array_at(v, "contents")?;
        let tools = parse_tools(v)?;
        let g = field(v, "generationConfig", "generation_config");
        reject_unmappable(g)?;
        let mut req = Request {
            model: str_at(v, "model").trim_start_matches("models/").to_string(),
            stream: url_stream,
            system: system_parts(field(v, "systemInstruction", "system_instruction")),
            messages: parse_contents(contents),
            tools,
            tool_choice: parse_tool_choice(field(v, "toolConfig", "tool_config")),
            response_format: parse_response_format(g),
            reasoning: parse_thinking(field(g, "thinkingConfig", "thinking_config")),
            ..Request::default()
        };
        parse_sampling(g, &mut req);
        Ok(req)
    }

    fn emit_request(req: &Request) -> Result<Value, ConvertError> {
        let mut out = Map::new();
        out.insert(
            "contents".into(),
            Value::Array(emit_contents(&req.messages)?),
        );
        if !req.system.is_empty() {
            let parts: Vec<Value> = req.system.iter().map(|s| json!({"text": s.text})).collect();
            out.insert("systemInstruction".into(), json!({"parts": parts}));
        }
        if !req.tools.is_empty() {
            out.insert("tools".into(), tool_declarations(&req.tools));
        }
        if let Some(choice) = &req.tool_choice {
            out.insert("toolConfig".into(), tool_config(choice));
        }
        let g = generation_config(req);
        if !g.is_empty() {
            out.insert("generationConfig".into(), Value::Object(g));
        }
        Ok(Value::Object(out))
    }

    fn parse_response(v: &Value) -> Result<Response, ConvertError> {
        let Some(candidate) = v["candidates"].get(0) else {
            return Err(match opt_str(&v["promptFeedback"], "blockReason") {
                Some(reason) => unsupported(format!("request blocked by Gemini API: {reason}")),
                None => ConvertError::Malformed("Gemini returned an empty response".into()),
            });
        };
        let parts = candidate["content"]["parts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let id = str_at(v, "responseId").to_string();
        Ok(Response {
            content: candidate_blocks(parts, &id, &mut 0),
            id,
            model: str_at(v, "modelVersion").to_string(),
            stop: parse_finish(str_at(candidate, "finishReason")),
            usage: Usage::from_gemini(&v["usageMetadata"]),
        })
    }

    fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value {
        let mut parts: Vec<Value> = resp
            .content
            .iter()
            .filter_map(|b| match b {
                Block::Text { text, .. } => Some(json!({"text": text})),
                Block::Thinking { text, .. } => Some(json!({"text": text, "thought": true})),
                Block::ToolCall(c) => {
                    Some(json!({"functionCall": {"id": c.id, "name": c.name, "args": c.arguments}}))
                }
                _ => None,
            })
            .collect();
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        json!({
            "candidates": [{"content": {"role": "model", "parts": parts},
                "finishReason": finish_name(resp.stop), "index": 0}],
            "usageMetadata": resp.usage.to_gemini(),
            "modelVersion": ctx.client_model,
            "responseId": resp.id,
        })
    }

    /// One upstream Gemini chunk → deltas. Calls arrive whole: a start and one argument fragment.
    fn parse_stream_event(event: &SseEvent, st: &mut StreamParser) -> Vec<Delta> {
        let Some(v) = event_json(event) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(err) = v.get("error").filter(|e| e.is_object()) {
            out.push(Delta::Error {
                status: err["code"].as_u64().map_or(500, |c| c as u16),
                message: str_at(err, "message").to_string(),
            });
            return out;
        }
        if !st.started {
            st.started = true;
            st.response_id = str_at(&v, "responseId").to_string();
            out.push(Delta::Start {
                id: st.response_id.clone(),
            });
        }
        let candidate = &v["candidates"][0];
        let parts = candidate["content"]["parts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for block in candidate_blocks(parts, &st.response_id, &mut st.calls) {
            match block {
                Block::Text { text, .. } => out.push(Delta::Text(text)),
                Block::Thinking { text, signature } => {
                    if !text.is_empty() {
                        out.push(Delta::Thinking(text));
                    }
                    out.extend(signature.map(Delta::Signature));
                }
                Block::ToolCall(c) => {
                    let key = st.tools;
                    st.tools += 1;
                    out.push(Delta::ToolStart {
                        key,
                        id: c.id,
                        name: c.name,
                    });
                    out.push(Delta::ToolArgs {
                        key,
                        fragment: c.arguments.to_string(),
                    });
                }
                _ => {}
            }
        }
        if let Some(u) = v.get("usageMetadata").filter(|u| u.is_object()) {
            out.push(Delta::Usage(Usage::from_gemini(u)));
        }
        if let Some(reason) = opt_str(candidate, "finishReason") {
            out.push(Delta::Finish(parse_finish(&reason)));
            out.push(Delta::Done);
        } else if candidate.is_null() {
            if let Some(reason) = opt_str(&v["promptFeedback"], "blockReason") {
                out.push(Delta::Error {
                    status: 400,
                    message: format!("request blocked by Gemini API: {reason}"),
                });
            }
        }
        out
    }

    /// One delta → Gemini chunks.
    fn emit_stream_delta(delta: &Delta, st: &mut StreamEmitter) -> Vec<Frame> {
        let mut out = Vec::new();
        match delta {
            Delta::Start { id } => st.response_id = id.clone(),
            Delta::Text(text) => out.push(Frame::data(st.chunk(vec![json!({"text": text})]))),
            Delta::Thinking(text) => out.push(Frame::data(
                st.chunk(vec![json!({"text": text, "thought": true})]),
            )),
            Delta::Signature(_) => {}
            Delta::ToolStart { key, id, name } => st.calls.push(BufferedCall {
                key: *key,
                id: id.clone(),
                name: name.clone(),
                args: String::new(),
            }),
            Delta::ToolArgs { key, fragment } => {
                if let Some(call) = st.calls.iter_mut().find(|c| c.key == *key) {
                    call.args.push_str(fragment);
                }
            }
            Delta::Usage(u) => st.usage = *u,
            Delta::Finish(r) => st.stop = Some(*r),
            Delta::Done => {
                st.calls.sort_by_key(|c| c.key);
                let mut parts: Vec<Value> = st
                    .calls
                    .iter()
                    .map(|c| {
                        json!({"functionCall": {"id": c.id, "name": c.name,
                        "args": super::json::args_object(&c.args)}})
                    })
                    .collect();
                if parts.is_empty() {
                    parts.push(json!({"text": ""}));
                }
                let stop = StopReason::settle(st.stop, !st.calls.is_empty());
                let mut chunk = st.chunk(parts);
                chunk["candidates"][0]["finishReason"] = json!(finish_name(stop));
                chunk["usageMetadata"] = st.usage.to_gemini();
                out.push(Frame::data(chunk));
            }
            Delta::Error { status, message } => {
                // Data-only: google-genai skips a frame that starts with an `event:` line, which
                // would turn the error into a silently truncated success. The stream's HTTP
                // status was sent long ago: the body keeps the upstream's code, named by the table.
                let (_, name) = gemini_status(*status);
                out.push(Frame::data(gemini_body(*status, message, name)))
            }
        }
        out
    }

    fn emitter(ctx: &ResponseContext) -> StreamEmitter {
        StreamEmitter {
            model: ctx.client_model.clone(),
            response_id: String::new(),
            calls: Vec::new(),
            stop: None,
            usage: Usage::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_config_and_thinking_read_both_spellings() {
        let one = json!({"function_calling_config": {"mode": "ANY",
            "allowed_function_names": ["f"]}});
        assert_eq!(parse_tool_choice(&one), Some(ToolChoice::Tool("f".into())));
        assert_eq!(
            parse_tool_choice(&json!({"functionCallingConfig": {"mode": "ANY"}})),
            Some(ToolChoice::Required)
        );
        assert_eq!(
            parse_thinking(&json!({"thinkingBudget": 0})),
            Some(Reasoning::Disabled)
        );
        assert_eq!(
            parse_thinking(&json!({"thinking_level": "HIGH"})),
            Some(Reasoning::Effort("high".into()))
        );
        assert!(reject_unmappable(&json!({"candidateCount": 2})).is_err());
    }

    #[test]
    fn contents_merge_turns_and_drop_a_trailing_model_turn() {
        let msg = |role, text: &str| Message {
            role,
            content: vec![Block::text(text)],
        };
        let contents = emit_contents(&[
            msg(Role::User, "a"),
            msg(Role::User, "b"),
            msg(Role::Assistant, "prefill"),
        ])
        .unwrap();
        assert_eq!(
            contents,
            vec![json!({"role": "user", "parts": [{"text": "a"}, {"text": "b"}]})]
        );
        let req = Request {
            stop: (0..7).map(|i| i.to_string()).collect(),
            response_format: Some(ResponseFormat::JsonObject),
            ..Request::default()
        };
        let g = generation_config(&req);
        assert_eq!(g["stopSequences"].as_array().map(Vec::len), Some(5));
        assert_eq!(g["responseMimeType"], "application/json");
    }
}

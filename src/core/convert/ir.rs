//! The internal representation every dialect parses into and emits from: a superset that keeps
//! ordered content blocks, thinking with its signature and origin, tool calls with ids and cache
//! hints.

use crate::core::dialect::Provider;
use serde_json::{json, Value};

use super::json::{opt_str, str_at};
use super::usage::Usage;

/// A provider-bound opaque value (thinking signature, encrypted reasoning, thought signature).
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub origin: Provider,
    pub value: String,
}

impl Blob {
    pub fn new(origin: Provider, value: impl Into<String>) -> Self {
        Blob {
            origin,
            value: value.into(),
        }
    }
}

/// Keeps a blob only when it goes back to the vendor that made it.
pub fn blob_for(blob: &Option<Blob>, target: Provider) -> Option<&str> {
    blob.as_ref()
        .filter(|b| b.origin == target)
        .map(|b| b.value.as_str())
}

/// Where an image or file's bytes live.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    Url(String),
    Base64 { mime: String, data: String },
    FileId(String),
}

impl Media {
    /// Reads an `https://…` or `data:<mime>;base64,<b64>` URL.
    pub fn from_url(url: &str) -> Media {
        if let Some(rest) = url.strip_prefix("data:") {
            if let Some((mime, data)) = rest.split_once(";base64,") {
                return Media::Base64 {
                    mime: mime.to_string(),
                    data: data.to_string(),
                };
            }
        }
        Media::Url(url.to_string())
    }

    /// The URL form (a `data:` URL for inline bytes) used by the OpenAI dialects.
    pub fn to_url(&self) -> String {
        match self {
            Media::Url(u) | Media::FileId(u) => u.clone(),
            Media::Base64 { mime, data } => format!("data:{mime};base64,{data}"),
        }
    }
}

/// A model-issued function call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Always a JSON object (unparseable arguments become `{}`).
    pub arguments: Value,
    /// Gemini `thoughtSignature` attached to this call.
    pub signature: Option<Blob>,
}

/// A client-supplied result for an earlier call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// Known when the client dialect carries it (Gemini) or resolved from history.
    pub name: Option<String>,
    /// Text and image blocks only.
    pub content: Vec<Block>,
    pub is_error: bool,
}

/// One ordered piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text {
        text: String,
        /// Anthropic `cache_control` was set on it.
        cache: bool,
    },
    Image(Media),
    File {
        media: Media,
        filename: Option<String>,
    },
    Audio {
        data: String,
        format: String,
    },
    Thinking {
        text: String,
        signature: Option<Blob>,
    },
    RedactedThinking(Blob),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
}

impl Block {
    pub fn text(text: impl Into<String>) -> Block {
        Block::Text {
            text: text.into(),
            cache: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    /// The ids of the tool calls in this turn, in order (results answer them by position).
    pub fn call_ids(&self) -> Vec<String> {
        self.content
            .iter()
            .filter_map(|b| match b {
                Block::ToolCall(c) => Some(c.id.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Appends blocks to the conversation, merging consecutive same-role turns (CPA accumulator).
pub fn push_blocks(messages: &mut Vec<Message>, role: Role, blocks: Vec<Block>) {
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

/// Puts tool results first in every user turn (Anthropic requires it).
pub fn results_first(messages: &mut [Message]) {
    for msg in messages.iter_mut().filter(|m| m.role == Role::User) {
        msg.content
            .sort_by_key(|b| !matches!(b, Block::ToolResult(_)));
    }
}

/// The joined text of text blocks.
pub fn joined_text(blocks: &[Block]) -> String {
    blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

/// A system/developer instruction part.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemPart {
    pub text: String,
    pub cache: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// `None` = the client did not say (Chat: off, Responses: on).
    pub strict: Option<bool>,
    pub cache: bool,
}

impl ToolDef {
    /// A client's function declaration: `name`, `description` and the schema under `schema_key`
    /// (an empty object schema when absent); strictness and cache hints are the caller's to set.
    pub fn declared(decl: &Value, schema_key: &str) -> ToolDef {
        ToolDef {
            name: str_at(decl, "name").to_string(),
            description: opt_str(decl, "description"),
            parameters: decl
                .get(schema_key)
                .cloned()
                .unwrap_or(json!({"type": "object"})),
            strict: None,
            cache: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Tool(String),
}

impl ToolChoice {
    /// Tool choice from its Chat/Responses spelling.
    pub fn from_openai(v: &Value) -> Option<ToolChoice> {
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

    /// The OpenAI spelling; a named tool's name is nested under `function` for Chat only.
    pub fn to_openai(&self, nested: bool) -> Value {
        match self {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) if nested => {
                json!({"type": "function", "function": {"name": name}})
            }
            ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

impl ResponseFormat {
    /// The OpenAI spelling: `type` in `v`, the schema's `name`, `schema` and `strict` in
    /// `schema_holder` (Chat nests them under `json_schema`, Responses does not).
    pub fn from_openai(v: &Value, schema_holder: &Value) -> Option<ResponseFormat> {
        match str_at(v, "type") {
            "json_object" => Some(ResponseFormat::JsonObject),
            "json_schema" => Some(ResponseFormat::JsonSchema {
                name: str_at(schema_holder, "name").to_string(),
                schema: schema_holder.get("schema").cloned().unwrap_or(json!({})),
                strict: schema_holder["strict"].as_bool(),
            }),
            _ => None,
        }
    }

    /// The OpenAI spelling; the schema's fields are nested under `json_schema` for Chat only.
    pub fn to_openai(&self, nested: bool) -> Value {
        let ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } = self
        else {
            return json!({"type": "json_object"});
        };
        let mut s = json!({"name": name, "schema": schema});
        if let Some(strict) = strict {
            s["strict"] = json!(strict);
        }
        if nested {
            return json!({"type": "json_schema", "json_schema": s});
        }
        s["type"] = json!("json_schema");
        s
    }
}

/// How much the model should think.
#[derive(Debug, Clone, PartialEq)]
pub enum Reasoning {
    /// `minimal` / `low` / `medium` / `high` / `xhigh` / `auto`.
    Effort(String),
    /// A token budget (`-1` = dynamic).
    Budget(i64),
    Disabled,
}

impl Reasoning {
    /// Effort name for OpenAI targets (CPA `ConvertBudgetToLevel` thresholds).
    pub fn effort(&self) -> Option<String> {
        match self {
            Reasoning::Effort(e) => Some(e.clone()),
            Reasoning::Disabled => None,
            Reasoning::Budget(b) => Some(
                match *b {
                    b if b < 0 => "auto",
                    0 => return None,
                    1..=512 => "minimal",
                    513..=1024 => "low",
                    1025..=8192 => "medium",
                    8193..=24576 => "high",
                    _ => "xhigh",
                }
                .to_string(),
            ),
        }
    }

    /// The setting an OpenAI effort name asks for (`none` turns thinking off).
    pub fn from_openai(effort: Option<String>) -> Option<Reasoning> {
        effort.map(|e| match e.as_str() {
            "none" => Reasoning::Disabled,
            _ => Reasoning::Effort(e),
        })
    }

    /// OpenAI `reasoning_effort` for this setting (`auto` is not an OpenAI value).
    pub fn openai_effort(&self) -> Option<String> {
        match self {
            Reasoning::Disabled => Some("none".into()),
            other => other
                .effort()
                .map(|e| if e == "auto" { "medium".into() } else { e }),
        }
    }

    /// Token budget for Anthropic/Gemini 2.5 targets (CPA `thinking/convert.go` table).
    pub fn budget(&self) -> Option<i64> {
        match self {
            Reasoning::Budget(b) => Some(*b),
            Reasoning::Disabled => None,
            Reasoning::Effort(e) => match e.as_str() {
                "none" => None,
                "minimal" => Some(512),
                "low" => Some(1024),
                "medium" => Some(8192),
                "high" => Some(24576),
                "auto" => Some(-1),
                _ => Some(32768),
            },
        }
    }
}

/// A generation request in the internal representation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    pub model: String,
    pub system: Vec<SystemPart>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// The client asked for a usage chunk (Chat `stream_options.include_usage`).
    pub include_usage: bool,
    pub reasoning: Option<Reasoning>,
    pub response_format: Option<ResponseFormat>,
    pub user: Option<String>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    StopSequence,
    MaxTokens,
    ToolUse,
    ContentFilter,
    PauseTurn,
    ContextWindow,
}

impl StopReason {
    /// The reason a client sees: any emitted tool call wins, and `ToolUse` without a call is a
    /// normal end (Claude Code chokes on `tool_use` with zero blocks).
    pub fn settle(reason: Option<StopReason>, saw_tool: bool) -> StopReason {
        match (reason, saw_tool) {
            (_, true) => StopReason::ToolUse,
            (Some(StopReason::ToolUse) | None, false) => StopReason::EndTurn,
            (Some(r), false) => r,
        }
    }
}

/// A non-streaming answer in the internal representation.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: String,
    pub model: String,
    pub content: Vec<Block>,
    pub stop: StopReason,
    pub usage: Usage,
}

impl Response {
    pub fn has_tool_call(&self) -> bool {
        self.content.iter().any(|b| matches!(b, Block::ToolCall(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_and_effort_follow_cpa_tables() {
        assert_eq!(Reasoning::Budget(2000).effort().as_deref(), Some("medium"));
        assert_eq!(Reasoning::Budget(8192).effort().as_deref(), Some("medium"));
        assert_eq!(Reasoning::Budget(1024).effort().as_deref(), Some("low"));
        assert_eq!(Reasoning::Budget(-1).effort().as_deref(), Some("auto"));
        assert_eq!(Reasoning::Budget(0).effort(), None);
        assert_eq!(Reasoning::Effort("high".into()).budget(), Some(24576));
    }

    #[test]
    fn data_urls_round_trip() {
        let m = Media::from_url("data:image/png;base64,AAA");
        assert_eq!(
            m,
            Media::Base64 {
                mime: "image/png".into(),
                data: "AAA".into()
            }
        );
        assert_eq!(m.to_url(), "data:image/png;base64,AAA");
        assert_eq!(
            Media::from_url("https://x/y.png"),
            Media::Url("https://x/y.png".into())
        );
    }

    #[test]
    fn settle_prefers_emitted_tools() {
        assert_eq!(
            StopReason::settle(Some(StopReason::EndTurn), true),
            StopReason::ToolUse
        );
        assert_eq!(
            StopReason::settle(Some(StopReason::ToolUse), false),
            StopReason::EndTurn
        );
        assert_eq!(
            StopReason::settle(Some(StopReason::MaxTokens), false),
            StopReason::MaxTokens
        );
    }

    #[test]
    fn openai_spellings_round_trip() {
        for (nested, tool) in [
            (true, json!({"type": "function", "function": {"name": "f"}})),
            (false, json!({"type": "function", "name": "f"})),
        ] {
            let choice = ToolChoice::from_openai(&tool).unwrap();
            assert_eq!(choice, ToolChoice::Tool("f".into()));
            assert_eq!(choice.to_openai(nested), tool);
        }
        let format = ResponseFormat::JsonSchema {
            name: "n".into(),
            schema: json!({"type": "object"}),
            strict: Some(true),
        };
        let chat = format.to_openai(true);
        assert_eq!(
            ResponseFormat::from_openai(&chat, &chat["json_schema"]),
            Some(format.clone())
        );
        let responses = format.to_openai(false);
        assert_eq!(
            ResponseFormat::from_openai(&responses, &responses),
            Some(format)
        );
        assert_eq!(
            Reasoning::from_openai(Some("none".into())),
            Some(Reasoning::Disabled)
        );
        assert_eq!(
            Reasoning::Budget(-1).openai_effort().as_deref(),
            Some("medium")
        );
    }
}

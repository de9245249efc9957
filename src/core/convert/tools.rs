//! Tool names, call ids and JSON schemas made acceptable to each target, with the
//! map that restores the client's original names on the way back.

use crate::core::dialect::Dialect;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::ir::{Block, Request, ToolChoice};

/// Longest tool name OpenAI and Gemini accept.
const MAX_NAME: usize = 64;

/// Upstream name ↔ client name, for every tool name the conversion had to change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolNames {
    /// (upstream name, client name)
    renamed: Vec<(String, String)>,
}

impl ToolNames {
    /// The client's name for a name the upstream used.
    pub fn restore(&self, upstream: &str) -> String {
        self.renamed
            .iter()
            .find(|(u, _)| u == upstream)
            .map_or_else(|| upstream.to_string(), |(_, c)| c.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.renamed.is_empty()
    }

    fn upstream_name(&mut self, client: &str, target: Dialect) -> String {
        let name = sanitize_name(client, target);
        if name != client && !self.renamed.iter().any(|(u, _)| *u == name) {
            self.renamed.push((name.clone(), client.to_string()));
        }
        name
    }
}

/// A name valid for `target`: invalid characters become `_`; over-long names become the first
/// 55 characters + `_` + 8 hex digits of sha256(original) (LLM `truncate_tool_name`).
pub fn sanitize_name(name: &str, target: Dialect) -> String {
    let gemini = target == Dialect::Gemini;
    let mut out: String = name
        .chars()
        .map(|c| {
            let ok = c.is_ascii_alphanumeric()
                || c == '_'
                || c == '-'
                || (gemini && (c == '.' || c == ':'));
            if ok {
                c
            } else {
                '_'
            }
        })
        .collect();
    if gemini && !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    if out.is_empty() {
        out.push('_');
    }
    let limited = target != Dialect::AnthropicMessages;
    if limited && out.chars().count() > MAX_NAME {
        let digest = Sha256::digest(name.as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let head: String = out.chars().take(55).collect();
        out = format!("{head}_{hex}");
    }
    out
}

/// Renames every tool in the request (definitions, choice, calls, results) for `target`.
pub fn rename_tools(req: &mut Request, target: Dialect) -> ToolNames {
    let mut names = ToolNames::default();
    for tool in &mut req.tools {
        tool.name = names.upstream_name(&tool.name, target);
    }
    if let Some(ToolChoice::Tool(name)) = &mut req.tool_choice {
        *name = names.upstream_name(name, target);
    }
    for msg in &mut req.messages {
        for block in &mut msg.content {
            match block {
                Block::ToolCall(call) => call.name = names.upstream_name(&call.name, target),
                Block::ToolResult(res) => {
                    if let Some(n) = &mut res.name {
                        *n = names.upstream_name(n, target);
                    }
                }
                _ => {}
            }
        }
    }
    names
}

/// An id valid for Anthropic: anything outside `[a-zA-Z0-9_-]` becomes `_` (CPA `SanitizeClaudeToolID`).
pub fn anthropic_id(id: &str) -> String {
    let out: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "toolu_gw".to_string()
    } else {
        out
    }
}

/// Schema for OpenAI and Anthropic targets: every `type: object` node gets `properties` (CPA
/// `normalizeObjectSchemaProperties`); strict validators reject objects without it.
pub fn object_schema(schema: &Value) -> Value {
    let mut out = if schema.is_object() {
        schema.clone()
    } else {
        serde_json::json!({"type": "object"})
    };
    add_properties(&mut out);
    out
}

fn add_properties(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("object")
                && !map.contains_key("properties")
            {
                map.insert("properties".into(), Value::Object(Map::new()));
            }
            map.values_mut().for_each(add_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(add_properties),
        _ => {}
    }
}

/// How deep `$ref`s are followed; recursive schemas stop here as `{}`.
const MAX_REF_DEPTH: usize = 8;

/// Schema for Gemini `parametersJsonSchema` / `responseJsonSchema`: full JSON
/// Schema is accepted, but `$schema` is removed and `$ref`s are inlined from `$defs`.
pub fn gemini_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = inline_refs(schema, &defs, 0);
    if let Value::Object(map) = &mut out {
        map.remove("$schema");
        map.remove("$defs");
        map.remove("definitions");
    }
    if !out.is_object() {
        out = serde_json::json!({"type": "object", "properties": {}});
    }
    out
}

fn inline_refs(v: &Value, defs: &Value, depth: usize) -> Value {
    match v {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                let name = target.rsplit('/').next().unwrap_or("");
                if depth >= MAX_REF_DEPTH || defs.get(name).is_none() {
                    return Value::Object(Map::new());
                }
                return inline_refs(&defs[name], defs, depth + 1);
            }
            Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "$schema")
                    .map(|(k, v)| (k.clone(), inline_refs(v, defs, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|x| inline_refs(x, defs, depth)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::convert::ir::{Message, Role, ToolCall, ToolDef};
    use serde_json::json;

    const LONG: &str = "mcp__github__create_or_update_file_in_repository_with_long_name_v2";

    #[test]
    fn tv13_long_name_is_shortened_and_restored() {
        assert!(LONG.len() > 64);
        let short = sanitize_name(LONG, Dialect::Gemini);
        assert_eq!(short.len(), 64);
        assert_eq!(&short[..55], &LONG[..55]);
        let digest = Sha256::digest(LONG.as_bytes());
        assert_eq!(
            &short[56..],
            format!(
                "{:02x}{:02x}{:02x}{:02x}",
                digest[0], digest[1], digest[2], digest[3]
            )
        );
        assert_eq!(sanitize_name(LONG, Dialect::AnthropicMessages), LONG);

        let mut req = Request {
            tools: vec![ToolDef {
                name: LONG.into(),
                description: None,
                parameters: json!({}),
                strict: None,
                cache: false,
            }],
            tool_choice: Some(ToolChoice::Tool(LONG.into())),
            messages: vec![Message {
                role: Role::Assistant,
                content: vec![Block::ToolCall(ToolCall {
                    id: "c".into(),
                    name: LONG.into(),
                    arguments: json!({}),
                    signature: None,
                })],
            }],
            ..Request::default()
        };
        let names = rename_tools(&mut req, Dialect::OpenAiChat);
        assert_eq!(req.tools[0].name, short);
        assert_eq!(req.tool_choice, Some(ToolChoice::Tool(short.clone())));
        assert_eq!(names.restore(&short), LONG);
        assert_eq!(names.restore("other"), "other");
    }

    #[test]
    fn gemini_names_keep_dots_and_start_with_a_letter() {
        assert_eq!(sanitize_name("ns.tool:1", Dialect::Gemini), "ns.tool:1");
        assert_eq!(sanitize_name("ns.tool", Dialect::OpenAiChat), "ns_tool");
        assert_eq!(sanitize_name("9lives", Dialect::Gemini), "_9lives");
        assert_eq!(anthropic_id("functions.Bash:0"), "functions_Bash_0");
    }

    #[test]
    fn tv13_schema_for_gemini_inlines_refs_and_drops_schema_uri() {
        let schema = json!({"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
            "properties":{"p":{"anyOf":[{"type":"string","format":"uri"},{"type":"null"}]},"o":{"type":"object"},"c":{"const":"x"},
            "r":{"$ref":"#/$defs/R"}},"$defs":{"R":{"type":"integer"}}});
        assert_eq!(
            gemini_schema(&schema),
            json!({"type":"object","additionalProperties":false,
                "properties":{"p":{"anyOf":[{"type":"string","format":"uri"},{"type":"null"}]},"o":{"type":"object"},"c":{"const":"x"},
                "r":{"type":"integer"}}})
        );
        let recursive = json!({"$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"}}}},"$ref":"#/$defs/N"});
        let out = gemini_schema(&recursive);
        assert_eq!(
            out["properties"]["next"]["properties"]["next"]["type"],
            "object"
        );
    }

    #[test]
    fn object_nodes_get_properties() {
        assert_eq!(
            object_schema(&json!({"type":"object","properties":{"o":{"type":"object"}}})),
            json!({"type":"object","properties":{"o":{"type":"object","properties":{}}}})
        );
        assert_eq!(
            object_schema(&Value::Null),
            json!({"type":"object","properties":{}})
        );
    }
}

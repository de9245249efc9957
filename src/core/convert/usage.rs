//! Token usage in one shape and the usage arithmetic to and from every dialect. (Pass-through
//! streams are scanned by `core::usage::StreamScanner`, which uses these readers.)

use crate::core::dialect::Dialect;
use serde_json::{json, Map, Value};

/// Token counts with OpenAI semantics: `prompt_tokens` includes cached and cache-written input,
/// `completion_tokens` includes reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Input read from the prompt cache.
    pub cached_tokens: u64,
    /// Input written to the prompt cache (Anthropic only).
    pub cache_creation_tokens: u64,
    pub reasoning_tokens: u64,
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Reads Chat/Completions `usage`.
    pub fn from_openai_chat(u: &Value) -> Usage {
        Usage::from_openai_names(u, "prompt_tokens", "completion_tokens")
    }

    /// Reads Responses `usage`.
    pub fn from_openai_responses(u: &Value) -> Usage {
        Usage::from_openai_names(u, "input_tokens", "output_tokens")
    }

    /// Both OpenAI usage shapes: the two counts under `input`/`output`, cached and reasoning
    /// parts in `<input>_details`/`<output>_details` (no cache-creation count in either).
    fn from_openai_names(u: &Value, input: &str, output: &str) -> Usage {
        Usage {
            prompt_tokens: num(u, input),
            completion_tokens: num(u, output),
            cached_tokens: num(&u[format!("{input}_details")], "cached_tokens"),
            cache_creation_tokens: 0,
            reasoning_tokens: num(&u[format!("{output}_details")], "reasoning_tokens"),
        }
    }

    /// Merges an Anthropic `usage` object: fields present replace, absent ones stay.
    pub fn merge_anthropic(&mut self, u: &Value) {
        let mut raw_input = self
            .prompt_tokens
            .saturating_sub(self.cached_tokens + self.cache_creation_tokens);
        if let Some(n) = u.get("input_tokens").and_then(Value::as_u64) {
            raw_input = n;
        }
        if let Some(n) = u.get("cache_read_input_tokens").and_then(Value::as_u64) {
            self.cached_tokens = n;
        }
        if let Some(n) = u.get("cache_creation_input_tokens").and_then(Value::as_u64) {
            self.cache_creation_tokens = n;
        }
        if let Some(n) = u.get("output_tokens").and_then(Value::as_u64) {
            self.completion_tokens = n;
        }
        self.prompt_tokens = raw_input + self.cached_tokens + self.cache_creation_tokens;
    }

    pub fn from_anthropic(u: &Value) -> Usage {
        let mut usage = Usage::default();
        usage.merge_anthropic(u);
        usage
    }

    /// Reads Gemini `usageMetadata`.
    pub fn from_gemini(u: &Value) -> Usage {
        let thoughts = num(u, "thoughtsTokenCount");
        Usage {
            prompt_tokens: num(u, "promptTokenCount") + num(u, "toolUsePromptTokenCount"),
            completion_tokens: num(u, "candidatesTokenCount") + thoughts,
            cached_tokens: num(u, "cachedContentTokenCount"),
            cache_creation_tokens: 0,
            reasoning_tokens: thoughts,
        }
    }

    pub fn to_openai_chat(&self) -> Value {
        let mut u = json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total(),
        });
        if self.cached_tokens > 0 {
            u["prompt_tokens_details"] = json!({"cached_tokens": self.cached_tokens});
        }
        if self.reasoning_tokens > 0 {
            u["completion_tokens_details"] = json!({"reasoning_tokens": self.reasoning_tokens});
        }
        u
    }

    /// Responses usage; both detail objects are always present because SDK types require them.
    pub fn to_openai_responses(&self) -> Value {
        json!({
            "input_tokens": self.prompt_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.total(),
        })
    }

    /// Anthropic usage: `input_tokens` excludes both cache fields; cache fields only when non-zero.
    pub fn to_anthropic(&self) -> Value {
        let mut u = Map::new();
        u.insert(
            "input_tokens".into(),
            json!(self
                .prompt_tokens
                .saturating_sub(self.cached_tokens + self.cache_creation_tokens)),
        );
        if self.cache_creation_tokens > 0 {
            u.insert(
                "cache_creation_input_tokens".into(),
                json!(self.cache_creation_tokens),
            );
        }
        if self.cached_tokens > 0 {
            u.insert("cache_read_input_tokens".into(), json!(self.cached_tokens));
        }
        u.insert("output_tokens".into(), json!(self.completion_tokens));
        Value::Object(u)
    }

    pub fn to_gemini(&self) -> Value {
        let mut u = Map::new();
        u.insert("promptTokenCount".into(), json!(self.prompt_tokens));
        if self.cached_tokens > 0 {
            u.insert("cachedContentTokenCount".into(), json!(self.cached_tokens));
        }
        u.insert(
            "candidatesTokenCount".into(),
            json!(self.completion_tokens.saturating_sub(self.reasoning_tokens)),
        );
        if self.reasoning_tokens > 0 {
            u.insert("thoughtsTokenCount".into(), json!(self.reasoning_tokens));
        }
        u.insert("totalTokenCount".into(), json!(self.total()));
        Value::Object(u)
    }
}

/// Usage of a complete non-streaming response body in `dialect`.
pub fn usage_from_body(dialect: Dialect, body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match dialect {
        Dialect::OpenAiChat | Dialect::OpenAiCompletions => Some(Usage::from_openai_chat(
            v.get("usage").filter(|u| u.is_object())?,
        )),
        Dialect::OpenAiResponses => Some(Usage::from_openai_responses(
            v.get("usage").filter(|u| u.is_object())?,
        )),
        Dialect::AnthropicMessages => Some(Usage::from_anthropic(
            v.get("usage").filter(|u| u.is_object())?,
        )),
        Dialect::Gemini => Some(Usage::from_gemini(
            v.get("usageMetadata").filter(|u| u.is_object())?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tv6_anthropic_usage_to_every_dialect() {
        let u = Usage::from_anthropic(
            &json!({"input_tokens":100,"cache_creation_input_tokens":50,"cache_read_input_tokens":900,"output_tokens":20}),
        );
        assert_eq!(
            u.to_openai_chat(),
            json!({"prompt_tokens":1050,"completion_tokens":20,"total_tokens":1070,"prompt_tokens_details":{"cached_tokens":900}})
        );
        assert_eq!(
            u.to_openai_responses(),
            json!({"input_tokens":1050,"input_tokens_details":{"cached_tokens":900},"output_tokens":20,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":1070})
        );
        assert_eq!(
            u.to_gemini(),
            json!({"promptTokenCount":1050,"cachedContentTokenCount":900,"candidatesTokenCount":20,"totalTokenCount":1070})
        );
        assert_eq!(
            u.to_anthropic(),
            json!({"input_tokens":100,"cache_creation_input_tokens":50,"cache_read_input_tokens":900,"output_tokens":20})
        );
    }

    #[test]
    fn tv6_gemini_usage_to_chat_and_anthropic() {
        let u = Usage::from_gemini(
            &json!({"promptTokenCount":1000,"cachedContentTokenCount":600,"candidatesTokenCount":50,"thoughtsTokenCount":200,"totalTokenCount":1250}),
        );
        assert_eq!(
            u.to_openai_chat(),
            json!({"prompt_tokens":1000,"completion_tokens":250,"total_tokens":1250,"prompt_tokens_details":{"cached_tokens":600},"completion_tokens_details":{"reasoning_tokens":200}})
        );
        assert_eq!(
            u.to_anthropic(),
            json!({"input_tokens":400,"cache_read_input_tokens":600,"output_tokens":250})
        );
        assert_eq!(
            u.to_gemini(),
            json!({"promptTokenCount":1000,"cachedContentTokenCount":600,"candidatesTokenCount":50,"thoughtsTokenCount":200,"totalTokenCount":1250})
        );
    }

    #[test]
    fn openai_to_anthropic_never_goes_negative() {
        let u = Usage::from_openai_chat(
            &json!({"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":9}}),
        );
        assert_eq!(
            u.to_anthropic(),
            json!({"input_tokens":0,"cache_read_input_tokens":9,"output_tokens":1})
        );
    }

    #[test]
    fn anthropic_deltas_replace_not_add() {
        let mut u = Usage::from_anthropic(
            &json!({"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":1}),
        );
        u.merge_anthropic(&json!({"output_tokens":12}));
        u.merge_anthropic(&json!({"output_tokens":15}));
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens),
            (100, 15, 90)
        );
    }

    #[test]
    fn body_usage_per_dialect() {
        let chat = br#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        assert_eq!(
            usage_from_body(Dialect::OpenAiChat, chat).map(|u| u.total()),
            Some(7)
        );
        let resp = br#"{"usage":{"input_tokens":3,"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2}}}"#;
        assert_eq!(
            usage_from_body(Dialect::OpenAiResponses, resp).map(|u| u.reasoning_tokens),
            Some(2)
        );
        assert_eq!(usage_from_body(Dialect::Gemini, b"{}"), None);
        assert_eq!(
            usage_from_body(Dialect::AnthropicMessages, b"not json"),
            None
        );
    }
}

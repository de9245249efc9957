//! A local input-token estimate for `count_tokens` on channels that cannot count (never a
//! constant: a fixed 0 skews clients' context budgeting).
//!
//! Heuristic: one token per 4 characters of text (the usual English average for BPE
//! tokenizers), 1,000 tokens per inline image or file, 4 tokens of framing per message or
//! content turn, and 3 for the reply primer. Ids, roles, types, signatures and media types are
//! not text the model reads and are skipped.

use crate::core::dialect::Dialect;
use serde_json::{json, Value};

const CHARS_PER_TOKEN: u64 = 4;
const MEDIA_TOKENS: u64 = 1000;
const MESSAGE_OVERHEAD: u64 = 4;
const REPLY_PRIMER: u64 = 3;

/// Keys whose string values are not prompt text.
const SKIPPED_KEYS: &[&str] = &[
    "model",
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "call_id",
    "mime_type",
    "mimeType",
    "media_type",
    "signature",
    "encrypted_content",
    "thoughtSignature",
    "thought_signature",
    "cache_control",
    "detail",
    "format",
    "encoding_format",
];

/// Keys whose string values are media (base64 or URLs): counted as one media item each.
const MEDIA_KEYS: &[&str] = &[
    "data",
    "url",
    "image_url",
    "file_data",
    "fileUri",
    "file_uri",
    "file_url",
    "file_id",
];

#[derive(Default)]
struct Tally {
    chars: u64,
    media: u64,
}

fn walk(v: &Value, key: &str, tally: &mut Tally) {
    match v {
        Value::String(s) if MEDIA_KEYS.contains(&key) && !s.is_empty() => tally.media += 1,
        Value::String(_) if MEDIA_KEYS.contains(&key) => {}
        Value::String(s) if !SKIPPED_KEYS.contains(&key) => tally.chars += s.chars().count() as u64,
        Value::Array(items) => items.iter().for_each(|x| walk(x, key, tally)),
        Value::Object(map) => map.iter().for_each(|(k, x)| walk(x, k, tally)),
        _ => {}
    }
}

/// Estimated input tokens of a request body in `dialect` (0 only for an unreadable body).
pub fn estimate_tokens(dialect: Dialect, body: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    let turns_key = match dialect {
        Dialect::OpenAiChat | Dialect::AnthropicMessages => "messages",
        Dialect::OpenAiResponses => "input",
        Dialect::OpenAiCompletions => "prompt",
        Dialect::Gemini => "contents",
    };
    let turns = v[turns_key].as_array().map_or(1, |a| a.len() as u64);
    let mut tally = Tally::default();
    if let Value::Object(map) = &v {
        for (k, x) in map.iter().filter(|(k, _)| k.as_str() != "model") {
            walk(x, k, &mut tally);
        }
    }
    tally.chars.div_ceil(CHARS_PER_TOKEN)
        + tally.media * MEDIA_TOKENS
        + turns * MESSAGE_OVERHEAD
        + REPLY_PRIMER
}

/// The `count_tokens` answer body for a client dialect.
pub fn count_tokens_body(dialect: Dialect, tokens: u64) -> Vec<u8> {
    let v = match dialect {
        Dialect::AnthropicMessages => json!({"input_tokens": tokens}),
        Dialect::Gemini => json!({"totalTokens": tokens}),
        Dialect::OpenAiChat | Dialect::OpenAiCompletions | Dialect::OpenAiResponses => {
            json!({"object": "response.input_tokens", "input_tokens": tokens})
        }
    };
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_counts_text_turns_and_media() {
        // "You are terse." (14) + "Hello there, how are you?" (25) = 39 chars → 10 tokens;
        // 1 message × 4 + 3 primer = 17.
        let body = br#"{"model":"claude-x","max_tokens":10,"system":"You are terse.","messages":[{"role":"user","content":"Hello there, how are you?"}]}"#;
        assert_eq!(estimate_tokens(Dialect::AnthropicMessages, body), 17);
        let with_image = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}"#;
        assert_eq!(
            estimate_tokens(Dialect::AnthropicMessages, with_image),
            1000 + 4 + 3
        );
        let gemini = br#"{"contents":[{"role":"user","parts":[{"text":"abcdefgh"}]},{"role":"model","parts":[{"text":"ijkl"}]}]}"#;
        assert_eq!(estimate_tokens(Dialect::Gemini, gemini), 3 + 8 + 3);
        assert_eq!(estimate_tokens(Dialect::OpenAiChat, b"nope"), 0);
    }

    #[test]
    fn estimate_grows_with_input() {
        let small = br#"{"messages":[{"role":"user","content":"hi"}]}"#;
        let big =
            br#"{"messages":[{"role":"user","content":"hi hi hi hi hi hi hi hi hi hi hi hi"}]}"#;
        assert!(
            estimate_tokens(Dialect::OpenAiChat, big) > estimate_tokens(Dialect::OpenAiChat, small)
        );
    }

    #[test]
    fn count_tokens_bodies() {
        assert_eq!(
            count_tokens_body(Dialect::AnthropicMessages, 17),
            br#"{"input_tokens":17}"#.to_vec()
        );
        assert_eq!(
            count_tokens_body(Dialect::Gemini, 5),
            br#"{"totalTokens":5}"#.to_vec()
        );
    }
}

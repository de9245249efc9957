//! Token usage read from pass-through responses (bodies and SSE streams of every dialect),
//! cost from a station's published prices, and the frames a relayed stream needs of its own:
//! keep-alive and the in-band error sent when the upstream dies after the first byte.

use crate::core::convert::frame::Frame;
pub use crate::core::convert::Usage;
// The endpoint table and the shell name families through this module too.
pub use crate::core::dialect::WireFamily;
use crate::core::sse::{SseDecoder, SseEvent};
use crate::core::wire_error::{
    anthropic_error, gemini_body, message_in, openai_error_object, openai_type,
};
use serde_json::{json, Value};

/// Merges a later report into `into`: streams repeat or grow their counts, never shrink.
fn merge_max(into: &mut Usage, other: Usage) {
    into.prompt_tokens = into.prompt_tokens.max(other.prompt_tokens);
    into.completion_tokens = into.completion_tokens.max(other.completion_tokens);
    into.cached_tokens = into.cached_tokens.max(other.cached_tokens);
    into.cache_creation_tokens = into.cache_creation_tokens.max(other.cache_creation_tokens);
    into.reasoning_tokens = into.reasoning_tokens.max(other.reasoning_tokens);
}

/// Reads the usage object of any dialect from a parsed body or stream event, recognising the
/// dialect by its field names; the usage arithmetic is `convert::Usage`'s, the one place for it.
pub fn usage_from_value(v: &Value) -> Option<Usage> {
    if let Some(meta) = v.get("usageMetadata").filter(|m| m.is_object()) {
        return Some(Usage::from_gemini(meta));
    }
    // Anthropic's message_start carries usage inside `message`; Responses events inside `response`.
    let u = [&v["usage"], &v["message"]["usage"], &v["response"]["usage"]]
        .into_iter()
        .find(|u| u.is_object())?;
    if u.get("prompt_tokens").is_some() || u.get("completion_tokens").is_some() {
        return Some(Usage::from_openai_chat(u));
    }
    if u.get("input_tokens_details").is_some() || u.get("output_tokens_details").is_some() {
        return Some(Usage::from_openai_responses(u));
    }
    if u.get("input_tokens").is_some() || u.get("output_tokens").is_some() {
        // Responses always sends input_tokens_details (handled above): this is Anthropic.
        return Some(Usage::from_anthropic(u));
    }
    None
}

/// Usage of a whole (non-stream) JSON body relayed as it came, whatever its family, or of a
/// Gemini JSON-array stream (last report wins). Converted bodies: `convert::usage_from_body`.
pub fn passthrough_usage(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match &v {
        Value::Array(items) => items.iter().rev().find_map(usage_from_value),
        _ => usage_from_value(&v),
    }
}

/// Usage of a body too big to parse whole, from its last bytes: every dialect writes its usage
/// object (`usage`, Gemini `usageMetadata`) after the payload, so the last such key in the tail
/// is read, and only its value is parsed.
pub fn usage_from_tail(tail: &[u8]) -> Option<Usage> {
    for key in [&b"\"usageMetadata\""[..], &b"\"usage\""[..]] {
        let mut end = tail.len();
        while let Some(at) = find_last(&tail[..end], key) {
            end = at;
            let rest = skip_ws(&tail[at + key.len()..]);
            let Some(rest) = rest.strip_prefix(b":") else {
                continue;
            };
            let rest = skip_ws(rest);
            if !rest.starts_with(b"{") {
                continue;
            }
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
            if let Some(Ok(value)) = values.next() {
                let name = String::from_utf8_lossy(&key[1..key.len() - 1]).into_owned();
                let mut wrapper = serde_json::Map::new();
                wrapper.insert(name, value);
                if let Some(usage) = usage_from_value(&Value::Object(wrapper)) {
                    return Some(usage);
                }
            }
        }
    }
    None
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

fn skip_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Watches a relayed SSE stream without changing it: usage seen so far, whether the dialect's
/// terminal event arrived (a stream that ends without one was cut), and how many events passed.
#[derive(Debug)]
pub struct StreamScanner {
    family: WireFamily,
    decoder: SseDecoder,
    usage: Option<Usage>,
    terminal_seen: bool,
    events: u64,
    /// Set when the upstream sent an in-band error itself.
    upstream_error: Option<String>,
}

impl StreamScanner {
    pub fn new(family: WireFamily) -> Self {
        Self {
            family,
            decoder: SseDecoder::new(),
            usage: None,
            terminal_seen: false,
            events: 0,
            upstream_error: None,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        for event in self.decoder.feed(chunk) {
            self.observe(&event);
        }
    }

    /// The upstream closed: an unterminated last event still counts.
    pub fn finish(&mut self) {
        if let Some(event) = self.decoder.finish() {
            self.observe(&event);
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    pub fn terminal_seen(&self) -> bool {
        self.terminal_seen
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn upstream_error(&self) -> Option<&str> {
        self.upstream_error.as_deref()
    }

    fn observe(&mut self, event: &SseEvent) {
        self.events += 1;
        let data = event.data.as_str();
        if self.family == WireFamily::OpenAi && data.trim() == "[DONE]" {
            self.terminal_seen = true;
            return;
        }
        // Most events are content deltas: parse JSON only for those that can matter here.
        let interesting = data.contains("sage")
            || data.contains("\"error\"")
            || data.contains("finishReason")
            || matches!(
                event.event.as_str(),
                "message_stop" | "error" | "response.completed" | "response.incomplete"
            )
            || data.contains("\"response.");
        if !interesting {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if let Some(u) = usage_from_value(&v) {
            merge_max(self.usage.get_or_insert_with(Usage::default), u);
        }
        let kind = v["type"].as_str().unwrap_or(event.event.as_str());
        if let Some(message) =
            message_in(&v).filter(|_| kind == "error" || v.get("error").is_some())
        {
            self.upstream_error = Some(message);
            self.terminal_seen = true;
            return;
        }
        self.terminal_seen |= match self.family {
            WireFamily::OpenAi => false,
            WireFamily::OpenAiResponses => matches!(
                kind,
                "response.completed" | "response.incomplete" | "response.failed"
            ),
            WireFamily::Anthropic => kind == "message_stop",
            WireFamily::Gemini => v["candidates"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c.get("finishReason").is_some())),
        };
    }
}

/// A station's published price for one model (USD).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Pricing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_call: Option<f64>,
}

impl Pricing {
    /// The cost of one successful call, when the station publishes a price for it. Cached input
    /// is billed at the cache-read price when there is one, else as ordinary input.
    pub fn cost_usd(&self, usage: Option<Usage>) -> Option<f64> {
        if let Some(per_call) = self.per_call {
            return Some(per_call);
        }
        let usage = usage?;
        let input = self.input_per_mtok?;
        let output = self.output_per_mtok.unwrap_or(input);
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let cache_price = self.cache_read_per_mtok.unwrap_or(input);
        let micro = (usage.prompt_tokens - cached) as f64 * input
            + cached as f64 * cache_price
            + usage.completion_tokens as f64 * output;
        Some(micro / 1_000_000.0)
    }
}

/// A frame that keeps an idle stream open without changing its meaning.
pub fn keepalive_frame(family: WireFamily) -> &'static [u8] {
    match family {
        WireFamily::Anthropic => b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
        _ => b": keep-alive\n\n",
    }
}

/// The in-band error that ends a stream whose upstream failed after the first byte.
/// `sequence_number` is only used by Responses streams (the next number in the stream).
///
/// The bodies are the wire error bodies for a 502 (one builder per family, in `wire_error`) with a machine-readable code where the dialect has one, written by the
/// converters' SSE writer; unlike a converted Responses stream no `response.failed` follows, as
/// pass-through keeps no response snapshot to fail.
pub fn inband_error_frame(family: WireFamily, message: &str, sequence_number: u64) -> Vec<u8> {
    const CODE: &str = "upstream_stream_interrupted";
    let frame = match family {
        WireFamily::OpenAi => Frame::data(
            json!({"error": openai_error_object(message, openai_type(502), json!(CODE))}),
        ),
        WireFamily::OpenAiResponses => Frame::named(
            "error",
            json!({"type": "error", "code": CODE, "message": message, "param": null, "sequence_number": sequence_number}),
        ),
        WireFamily::Anthropic => Frame::named("error", anthropic_error(502, message)),
        // gemini_error(502) says INTERNAL; a broken upstream connection is UNAVAILABLE. Data-only
        // like the converters' Gemini errors: google-genai skips frames with an `event:` line.
        WireFamily::Gemini => Frame::data(gemini_body(502, message, "UNAVAILABLE")),
    };
    let mut out = Vec::new();
    frame.write_sse(&mut out);
    out
}

/// Whether bytes written so far end between two events, where a frame of ours may go.
pub fn at_frame_boundary(tail: &[u8]) -> bool {
    tail.is_empty()
        || tail.ends_with(b"\n\n")
        || tail.ends_with(b"\r\n\r\n")
        || tail.ends_with(b"\r\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_found_in_the_tail_of_a_big_body() {
        // The tail of an embeddings answer: the cut may fall inside a number.
        let tail = br#"12345, 0.5]}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 7, "total_tokens": 7}}"#;
        let u = usage_from_tail(tail).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 0));
        let gemini = br#""text": "a \"usage\": 5"}]}}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4}}"#;
        let u = usage_from_tail(gemini).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (3, 4));
        // A key inside text is skipped when no object follows it.
        assert_eq!(usage_from_tail(br#"{"text": "the \"usage\" word"}"#), None);
        assert_eq!(usage_from_tail(b""), None);
    }

    fn scan(family: WireFamily, stream: &str) -> StreamScanner {
        let mut s = StreamScanner::new(family);
        // Byte by byte: chunk boundaries must not matter.
        for b in stream.as_bytes() {
            s.feed(&[*b]);
        }
        s.finish();
        s
    }

    #[test]
    fn openai_chat_stream_usage_and_done() {
        let s = scan(
            WireFamily::OpenAi,
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
             data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":3},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\n\
             data: [DONE]\n\n",
        );
        assert_eq!(
            s.usage(),
            Some(Usage {
                prompt_tokens: 11,
                completion_tokens: 7,
                cached_tokens: 3,
                cache_creation_tokens: 0,
                reasoning_tokens: 2
            })
        );
        assert!(s.terminal_seen());
        assert_eq!(s.events(), 3);
    }

    #[test]
    fn cut_openai_stream_has_no_terminal_but_keeps_partial_usage() {
        let s = scan(
            WireFamily::OpenAi,
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choi",
        );
        assert!(!s.terminal_seen());
        assert_eq!(s.usage(), None);
    }

    #[test]
    fn anthropic_stream_merges_start_and_delta_usage() {
        let s = scan(
            WireFamily::Anthropic,
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":4,\"cache_creation_input_tokens\":2,\"output_tokens\":1}}}\n\n\
             event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n\
             event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":25}}\n\n\
             event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(
            s.usage(),
            Some(Usage {
                prompt_tokens: 16,
                completion_tokens: 25,
                cached_tokens: 4,
                cache_creation_tokens: 2,
                reasoning_tokens: 0
            })
        );
        assert!(s.terminal_seen());
    }

    #[test]
    fn anthropic_in_band_error_is_noticed() {
        let s = scan(
            WireFamily::Anthropic,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        );
        assert_eq!(s.upstream_error(), Some("Overloaded"));
    }

    #[test]
    fn responses_stream_terminal_and_usage() {
        let s = scan(
            WireFamily::OpenAiResponses,
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"x\",\"sequence_number\":3}\n\n\
             event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":4,\"response\":{\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":1},\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":2}}}}\n\n",
        );
        assert_eq!(
            s.usage(),
            Some(Usage {
                prompt_tokens: 9,
                completion_tokens: 5,
                cached_tokens: 1,
                cache_creation_tokens: 0,
                reasoning_tokens: 2
            })
        );
        assert!(s.terminal_seen());
    }

    #[test]
    fn gemini_stream_counts_thoughts_as_output() {
        let s = scan(
            WireFamily::Gemini,
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}],\"usageMetadata\":{\"promptTokenCount\":8}}\r\n\r\n\
             data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":6,\"cachedContentTokenCount\":2}}\r\n\r\n",
        );
        assert_eq!(
            s.usage(),
            Some(Usage {
                prompt_tokens: 8,
                completion_tokens: 10,
                cached_tokens: 2,
                cache_creation_tokens: 0,
                reasoning_tokens: 6
            })
        );
        assert!(s.terminal_seen());
    }

    #[test]
    fn bodies_of_each_dialect() {
        let chat =
            br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        assert_eq!(
            passthrough_usage(chat).map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((5, 2))
        );
        let embeddings = br#"{"data":[],"usage":{"prompt_tokens":4,"total_tokens":4}}"#;
        assert_eq!(
            passthrough_usage(embeddings).map(|u| u.prompt_tokens),
            Some(4)
        );
        let anthropic = br#"{"type":"message","usage":{"input_tokens":3,"output_tokens":9}}"#;
        assert_eq!(
            passthrough_usage(anthropic).map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((3, 9))
        );
        let gemini_array = br#"[{"usageMetadata":{"promptTokenCount":2}},{"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":5}}]"#;
        assert_eq!(
            passthrough_usage(gemini_array).map(|u| u.completion_tokens),
            Some(5)
        );
        assert_eq!(passthrough_usage(b"not json"), None);
        assert_eq!(passthrough_usage(br#"{"id":"x"}"#), None);
    }

    #[test]
    fn cost_uses_cache_price_and_per_call() {
        let usage = Some(Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 500_000,
            cached_tokens: 400_000,
            cache_creation_tokens: 0,
            reasoning_tokens: 0,
        });
        let p = Pricing {
            input_per_mtok: Some(2.0),
            output_per_mtok: Some(8.0),
            cache_read_per_mtok: Some(0.5),
            per_call: None,
        };
        let cost = p.cost_usd(usage).unwrap();
        assert!(
            (cost - (0.6 * 2.0 + 0.4 * 0.5 + 0.5 * 8.0)).abs() < 1e-9,
            "{cost}"
        );
        assert_eq!(
            Pricing {
                per_call: Some(0.04),
                ..Pricing::default()
            }
            .cost_usd(None),
            Some(0.04)
        );
        assert_eq!(
            Pricing::default().cost_usd(usage),
            None,
            "unknown price: unknown cost, not zero"
        );
    }

    #[test]
    fn frames_are_valid_sse_in_each_dialect() {
        for family in [
            WireFamily::OpenAi,
            WireFamily::OpenAiResponses,
            WireFamily::Anthropic,
            WireFamily::Gemini,
        ] {
            let frame = inband_error_frame(family, "upstream cut \"x\"", 7);
            let events = SseDecoder::new().feed(&frame);
            assert_eq!(events.len(), 1, "{family:?}");
            let v: Value = serde_json::from_str(&events[0].data).unwrap();
            assert_eq!(
                message_in(&v).as_deref(),
                Some("upstream cut \"x\""),
                "{family:?}"
            );
            assert!(at_frame_boundary(&frame));
            assert!(at_frame_boundary(keepalive_frame(family)));
        }
        assert_eq!(
            inband_error_frame(WireFamily::OpenAi, "m", 0),
            b"data: {\"error\":{\"code\":\"upstream_stream_interrupted\",\"message\":\"m\",\"param\":null,\"type\":\"server_error\"}}\n\n"
        );
        assert_eq!(
            inband_error_frame(WireFamily::Anthropic, "m", 0),
            b"event: error\ndata: {\"error\":{\"message\":\"m\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n"
        );
        let responses = inband_error_frame(WireFamily::OpenAiResponses, "m", 7);
        assert!(String::from_utf8(responses)
            .unwrap()
            .contains("\"sequence_number\":7"));
        assert!(!at_frame_boundary(b"data: {\"a\""));
        assert!(!at_frame_boundary(b"data: x\n"));
    }

    #[test]
    fn usage_survives_decoys_and_chunking_in_each_dialect() {
        let chat = "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        assert_eq!(
            scan(WireFamily::OpenAi, chat).usage().map(|u| u.total()),
            Some(9)
        );
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"\\\"usage\\\"\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":30}}\n\n";
        assert_eq!(
            scan(WireFamily::Anthropic, anthropic).usage().map(|u| (
                u.prompt_tokens,
                u.cached_tokens,
                u.completion_tokens
            )),
            Some((15, 5, 30))
        );
        let responses = "event: response.output_text.delta\ndata: {\"delta\":\"usage\"}\n\nevent: response.completed\ndata: {\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":6}}}\n\n";
        assert_eq!(
            scan(WireFamily::OpenAiResponses, responses)
                .usage()
                .map(|u| u.total()),
            Some(10)
        );
        let gemini = "data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":1}}\n\ndata: {\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":3,\"thoughtsTokenCount\":2}}";
        assert_eq!(
            scan(WireFamily::Gemini, gemini)
                .usage()
                .map(|u| (u.completion_tokens, u.reasoning_tokens)),
            Some((5, 2))
        );
        assert_eq!(
            scan(WireFamily::OpenAi, "data: {\"choices\":[]}\n\n").usage(),
            None
        );
    }
}

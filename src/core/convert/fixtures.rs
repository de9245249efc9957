//! Test-vector fixtures replayed against the
//! converters: request in → expected request out; stream in → expected stream out.

use super::*;
use crate::core::sse::{SseDecoder, SseEvent};
use serde_json::json;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/convert/", $name))
    };
}

fn dialect(v: &Value) -> Dialect {
    Dialect::parse(v.as_str().unwrap()).unwrap()
}

/// Converts the fixture's request and checks the body (and, when given, the response back).
fn request_vector(text: &str) {
    let f: Value = serde_json::from_str(text).unwrap();
    let (from, to) = (dialect(&f["from"]), dialect(&f["to"]));
    let model = f["model"].as_str().unwrap();
    let body = f["request"].to_string();
    let converted = convert_request(from, to, body.as_bytes(), model, None).unwrap();
    let got: Value = serde_json::from_slice(&converted.body).unwrap();
    assert_eq!(got, f["expected"], "{}", f["note"]);
    if let Some(upstream) = f.get("upstream_response") {
        let out = convert_response(&converted.context, 200, upstream.to_string().as_bytes());
        let got: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!((out.status, got), (200, f["expected_response"].clone()));
    }
}

/// Raw SSE bytes for `[event-or-null, data]` entries.
fn sse_bytes(entries: &Value) -> Vec<u8> {
    let mut out = String::new();
    for e in entries.as_array().unwrap() {
        if let Some(name) = e[0].as_str() {
            out.push_str(&format!("event: {name}\n"));
        }
        let data = match &e[1] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("data: {data}\n\n"));
    }
    out.into_bytes()
}

/// Client frames as `[event-or-null, data]`, data parsed as JSON unless it is `[DONE]`.
fn decode(bytes: &[u8]) -> Vec<Value> {
    let mut d = SseDecoder::new();
    let mut events: Vec<SseEvent> = d.feed(bytes);
    events.extend(d.finish());
    events
        .into_iter()
        .map(|e| {
            let name = if e.event.is_empty() {
                Value::Null
            } else {
                json!(e.event)
            };
            let data = serde_json::from_str(&e.data).unwrap_or(json!(e.data));
            json!([name, data])
        })
        .collect()
}

pub(super) fn context(
    upstream: Dialect,
    client: Dialect,
    model: &str,
    include_usage: bool,
) -> ResponseContext {
    ResponseContext {
        client,
        upstream,
        client_model: model.to_string(),
        stream: true,
        include_usage,
        tool_names: ToolNames::default(),
        gemini_framing: (client == Dialect::Gemini).then_some(GeminiFraming::Sse),
        created: 0,
    }
}

/// Runs a stream through a converter in chunks of `chunk` bytes, then `finish()`.
pub(super) fn run_stream(ctx: &ResponseContext, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut conv = StreamConverter::new(ctx.clone());
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        out.extend(conv.push(piece));
    }
    out.extend(conv.finish());
    out
}

fn stream_vector(text: &str) {
    let f: Value = serde_json::from_str(text).unwrap();
    let ctx = context(
        dialect(&f["upstream"]),
        dialect(&f["client"]),
        f["client_model"].as_str().unwrap(),
        f["include_usage"].as_bool().unwrap(),
    );
    let input = sse_bytes(&f["input"]);
    let whole = run_stream(&ctx, &input, input.len());
    assert_eq!(Value::Array(decode(&whole)), f["expected"]);
    for chunk in [1, 7, 64] {
        assert_eq!(run_stream(&ctx, &input, chunk), whole, "chunk size {chunk}");
    }
}

#[test]
fn tv01_chat_to_anthropic_request() {
    request_vector(fixture!("tv01_chat_to_anthropic_request.json"));
}

#[test]
fn tv02_anthropic_to_chat_request() {
    request_vector(fixture!("tv02_anthropic_to_chat_request.json"));
}

#[test]
fn tv03_chat_stream_to_anthropic() {
    stream_vector(fixture!("tv03_chat_stream_to_anthropic.json"));
}

#[test]
fn tv04_fake_stream_keeps_content_and_sends_final_delta() {
    stream_vector(fixture!("tv04_chat_fake_stream_to_anthropic.json"));
}

#[test]
fn tv05_anthropic_stream_to_chat() {
    stream_vector(fixture!("tv05_anthropic_stream_to_chat.json"));
}

#[test]
fn tv07_gemini_stream_to_chat() {
    stream_vector(fixture!("tv07a_gemini_stream_tool_under_stop_to_chat.json"));
    stream_vector(fixture!("tv07b_gemini_stream_max_tokens_to_chat.json"));
}

#[test]
fn tv08_chat_to_gemini_request() {
    request_vector(fixture!("tv08_chat_to_gemini_request.json"));
}

#[test]
fn tv09_gemini_to_chat_request() {
    request_vector(fixture!("tv09_gemini_to_chat_request.json"));
}

#[test]
fn tv10_chat_stream_to_gemini() {
    stream_vector(fixture!("tv10_chat_stream_to_gemini.json"));
}

#[test]
fn tv11_anthropic_stream_to_responses() {
    stream_vector(fixture!("tv11_anthropic_stream_to_responses.json"));
}

#[test]
fn tv12_responses_to_chat_request() {
    request_vector(fixture!("tv12_responses_to_chat_request.json"));
    let body = br#"{"model":"m","input":"hi","previous_response_id":"resp_x"}"#;
    let err = convert_request(
        Dialect::OpenAiResponses,
        Dialect::OpenAiChat,
        body,
        "m",
        None,
    )
    .unwrap_err();
    let (status, body) = err.render(Dialect::OpenAiResponses);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("previous_response_id"));
}

#[test]
fn tv13_long_tool_name_to_gemini_and_back() {
    request_vector(fixture!("tv13_anthropic_to_gemini_long_tool_request.json"));
}

#[test]
fn tv14_thinking_constraints_for_anthropic() {
    request_vector(fixture!("tv14_chat_thinking_to_anthropic_request.json"));
    request_vector(fixture!(
        "tv14b_chat_thinking_fresh_to_anthropic_request.json"
    ));
    request_vector(fixture!("tv14c_chat_thinking_adaptive_request.json"));
}

#[test]
fn tv15_errors_before_the_stream() {
    let ctx = context(
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
        "gpt-x",
        false,
    );
    let out = convert_response(
        &ctx,
        529,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!(out.status, 529);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.body).unwrap(),
        json!({"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}})
    );
    // Same family: the upstream body passes unchanged.
    let ctx = context(
        Dialect::OpenAiResponses,
        Dialect::OpenAiChat,
        "gpt-x",
        false,
    );
    let body =
        br#"{"error":{"message":"x","type":"invalid_request_error","param":"model","code":"bad"}}"#;
    assert_eq!(convert_response(&ctx, 400, body).body, body.to_vec());
    // A prompt Gemini blocked is a 400 in the client's format, not a retryable failure.
    let ctx = context(
        Dialect::Gemini,
        Dialect::AnthropicMessages,
        "claude-x",
        false,
    );
    let out = convert_response(
        &ctx,
        200,
        br#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3}}"#,
    );
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!((out.status, out.should_retry), (400, Some(false)));
    assert_eq!(
        v["error"]["message"],
        "request blocked by Gemini API: SAFETY"
    );
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

fn frames_after_error(upstream_text: &[u8], upstream: Dialect, client: Dialect) -> Vec<Value> {
    let ctx = context(upstream, client, "model-x", true);
    let mut conv = StreamConverter::new(ctx);
    let mut out = conv.push(upstream_text);
    out.extend(conv.error("upstream connection lost"));
    out.extend(conv.finish());
    assert!(conv.is_closed());
    decode(&out)
}

#[test]
fn tv15_mid_stream_failure_is_in_band_and_final() {
    let chat_text =
        b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part\"}}]}\n\n";
    let frames = frames_after_error(chat_text, Dialect::OpenAiChat, Dialect::AnthropicMessages);
    let names: Vec<&str> = frames.iter().map(|f| f[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        frames[3][1],
        json!({"type":"error","error":{"type":"api_error","message":"upstream connection lost"}})
    );

    let anthropic_text = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n";
    let frames = frames_after_error(
        anthropic_text,
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
    );
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[2],
        json!([null, {"error":{"message":"upstream connection lost","type":"server_error","param":null,"code":null}}])
    );
    assert!(!frames.iter().any(|f| f[1] == "[DONE]"));

    let frames = frames_after_error(
        anthropic_text,
        Dialect::AnthropicMessages,
        Dialect::OpenAiResponses,
    );
    let names: Vec<&str> = frames.iter().map(|f| f[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "error",
            "response.failed"
        ]
    );
    assert_eq!(frames[6][1]["response"]["status"], "failed");
    assert_eq!(frames[6][1]["sequence_number"], 6);

    // An upstream `event: error` frame becomes the client's in-band error too.
    let overloaded = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let frames = frames_after_error(overloaded, Dialect::AnthropicMessages, Dialect::Gemini);
    assert_eq!(
        frames,
        vec![json!([null, {"error":{"code":529,"message":"Overloaded","status":"UNAVAILABLE"}}])]
    );
}

#[test]
fn extra_crlf_framing_and_pings_change_nothing() {
    let f: Value = serde_json::from_str(fixture!("tv05_anthropic_stream_to_chat.json")).unwrap();
    let plain = sse_bytes(&f["input"]);
    let text = String::from_utf8(plain.clone()).unwrap();
    let crlf = text
        .replace(
            "\n\n",
            "\r\n\r\nevent: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\n",
        )
        .replace('\n', "\r\n")
        .replace("\r\r\n", "\r\n");
    let ctx = context(
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
        "gpt-x",
        true,
    );
    assert_eq!(
        run_stream(&ctx, crlf.as_bytes(), 5),
        run_stream(&ctx, &plain, 3)
    );
}

#[test]
fn extra_responses_arguments_only_in_done() {
    stream_vector(fixture!(
        "extra_responses_args_only_in_done_to_anthropic.json"
    ));
}

#[test]
fn stream_ended_without_finish_is_reported_not_completed() {
    let ctx = context(
        Dialect::OpenAiChat,
        Dialect::AnthropicMessages,
        "claude-x",
        false,
    );
    let out = run_stream(
        &ctx,
        b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n",
        9,
    );
    let frames = decode(&out);
    assert_eq!(frames.last().unwrap()[0], "error");
    assert!(!frames.iter().any(|f| f[0] == "message_stop"));
}

#[test]
fn gemini_json_array_framing() {
    let mut ctx = context(
        Dialect::AnthropicMessages,
        Dialect::Gemini,
        "gemini-x",
        false,
    );
    ctx.gemini_framing = Some(GeminiFraming::JsonArray);
    let input = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":2}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let out = run_stream(&ctx, input, 11);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!([
            {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}],"modelVersion":"gemini-x","responseId":"m"},
            {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"index":0,"finishReason":"STOP"}],
             "modelVersion":"gemini-x","responseId":"m","usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1,"totalTokenCount":3}}
        ])
    );
}

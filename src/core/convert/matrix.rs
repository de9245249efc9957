//! Capability matrix: every (client, upstream) pair through the same scenarios — a text turn,
//! parallel tool calls with results, an image input, a thinking turn, a length stop, and an
//! upstream error before and during the stream — streaming and not.
//!
//! Each scenario starts in the internal representation, is emitted in the upstream's (or the
//! client's) dialect, converted, and read back with the other side's parser; the facts that
//! must survive are compared, and each client stream is checked against its dialect's rules.

use super::dialects::{Emitter, Parser};
use super::fixtures::{context, run_stream};
use super::frame::Delta;
use super::ir::{Blob, Message, Reasoning, Role, StopReason, SystemPart, ToolCall, ToolResult};
use super::*;
use crate::core::sse::SseDecoder;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Scenario {
    Text,
    Tools,
    Image,
    Thinking,
    Length,
}

pub(super) const SCENARIOS: [Scenario; 5] = [
    Scenario::Text,
    Scenario::Tools,
    Scenario::Image,
    Scenario::Thinking,
    Scenario::Length,
];

/// Completions has no tools, images or reasoning: those scenarios are 400s there.
fn expressible(d: Dialect, s: Scenario) -> bool {
    d != Dialect::OpenAiCompletions || matches!(s, Scenario::Text | Scenario::Length)
}

fn pairs() -> impl Iterator<Item = (Dialect, Dialect)> {
    Dialect::ALL
        .into_iter()
        .flat_map(|c| Dialect::ALL.into_iter().map(move |u| (c, u)))
        .filter(|(c, u)| c != u)
}

fn call(id: &str, name: &str, args: Value) -> Block {
    Block::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args,
        signature: None,
    })
}

fn result(id: &str, text: &str) -> Block {
    Block::ToolResult(ToolResult {
        call_id: id.into(),
        name: None,
        content: vec![Block::text(text)],
        is_error: false,
    })
}

fn request(s: Scenario) -> Request {
    let mut req = Request {
        model: "client-model".into(),
        system: vec![SystemPart {
            text: "Be brief.".into(),
            cache: false,
        }],
        messages: vec![Message {
            role: Role::User,
            content: vec![Block::text("Weather in Paris?")],
        }],
        max_tokens: Some(if s == Scenario::Length { 5 } else { 300 }),
        ..Request::default()
    };
    match s {
        Scenario::Tools => {
            req.tools = ["get_weather", "get_time"]
                .iter()
                .map(|n| ir::ToolDef {
                    name: n.to_string(),
                    description: None,
                    parameters: json!({"type":"object","properties":{"city":{"type":"string"}}}),
                    strict: None,
                    cache: false,
                })
                .collect();
            req.messages.push(Message {
                role: Role::Assistant,
                content: vec![
                    call("call_a", "get_weather", json!({"city": "Paris"})),
                    call("call_b", "get_time", json!({})),
                ],
            });
            req.messages.push(Message {
                role: Role::User,
                content: vec![result("call_a", "18C"), result("call_b", "noon")],
            });
        }
        Scenario::Image => req.messages[0]
            .content
            .push(Block::Image(ir::Media::Base64 {
                mime: "image/png".into(),
                data: "AAAA".into(),
            })),
        Scenario::Thinking => req.reasoning = Some(Reasoning::Effort("medium".into())),
        Scenario::Text | Scenario::Length => {}
    }
    req
}

/// What must survive a request conversion: system text, each turn's text, calls, results
/// (each answering a call of the turn before), images.
fn request_facts(req: &Request) -> Value {
    let system: String = req.system.iter().map(|s| s.text.as_str()).collect();
    let mut last_calls: Vec<String> = Vec::new();
    let turns: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let mut facts = Vec::new();
            for b in &m.content {
                match b {
                    Block::Text { text, .. } => facts.push(json!(["text", text])),
                    Block::Image(_) => facts.push(json!(["image"])),
                    Block::ToolCall(c) => facts.push(json!(["call", c.name, c.arguments])),
                    Block::ToolResult(r) => {
                        let answered = last_calls.iter().position(|id| *id == r.call_id);
                        facts.push(json!(["result", answered, ir::joined_text(&r.content)]));
                    }
                    _ => {}
                }
            }
            if m.role == Role::Assistant {
                last_calls = m.call_ids();
            }
            json!([m.role == Role::User, facts])
        })
        .collect();
    json!({"system": system, "turns": turns})
}

#[test]
fn requests_convert_for_every_pair() {
    let mut checked = 0;
    for (client, upstream) in pairs() {
        for s in SCENARIOS.into_iter().filter(|s| expressible(client, *s)) {
            let original = request(s);
            let body = emit_request(client, &original).unwrap().to_string();
            let converted = convert_request(client, upstream, body.as_bytes(), "up-model", None);
            if !expressible(upstream, s) {
                let err = converted.unwrap_err();
                assert!(
                    matches!(err, ConvertError::Unsupported(_)),
                    "{client:?}->{upstream:?} {s:?}"
                );
                assert_eq!(err.render(client).0, 400);
                continue;
            }
            let converted =
                converted.unwrap_or_else(|e| panic!("{client:?}->{upstream:?} {s:?}: {e:?}"));
            let back = parse_request(upstream, &converted.body, None).unwrap();
            if upstream == Dialect::OpenAiCompletions || client == Dialect::OpenAiCompletions {
                // One prompt string: only the text can be compared.
                let joined: String = back
                    .messages
                    .iter()
                    .map(|m| ir::joined_text(&m.content))
                    .collect();
                assert!(
                    joined.contains("Weather in Paris?"),
                    "{client:?}->{upstream:?}"
                );
            } else {
                let expected = parse_request(client, body.as_bytes(), None).unwrap();
                assert_eq!(
                    request_facts(&back),
                    request_facts(&expected),
                    "{client:?}->{upstream:?} {s:?}"
                );
                if s == Scenario::Thinking {
                    assert!(back.reasoning.is_some(), "{client:?}->{upstream:?}");
                }
            }
            checked += 1;
        }
    }
    // 12 full pairs × 5 scenarios + 8 pairs with Completions × 2 text-only scenarios.
    assert_eq!(checked, 12 * 5 + 8 * 2);
}

fn usage() -> Usage {
    Usage {
        prompt_tokens: 30,
        completion_tokens: 12,
        cached_tokens: 10,
        cache_creation_tokens: 0,
        reasoning_tokens: 0,
    }
}

/// The upstream's answer for a scenario as deltas (the error scenario fails midway).
pub(super) fn deltas(s: Scenario, upstream: Dialect, fail: bool) -> Vec<Delta> {
    let mut d = vec![Delta::Start { id: "up1".into() }];
    match s {
        Scenario::Tools => d.extend([
            Delta::Text("Checking.".into()),
            Delta::ToolStart {
                key: 0,
                id: "call_a".into(),
                name: "get_weather".into(),
            },
            Delta::ToolArgs {
                key: 0,
                fragment: "{\"city\":".into(),
            },
            Delta::ToolArgs {
                key: 0,
                fragment: "\"Paris\"}".into(),
            },
            Delta::ToolStart {
                key: 1,
                id: "call_b".into(),
                name: "get_time".into(),
            },
            Delta::ToolArgs {
                key: 1,
                fragment: "{}".into(),
            },
        ]),
        Scenario::Thinking => d.extend([
            Delta::Thinking("Let me think".into()),
            Delta::Signature(Blob::new(upstream.provider(), "sig")),
            Delta::Text("42".into()),
        ]),
        _ => d.extend([Delta::Text("Hello".into()), Delta::Text(" world".into())]),
    }
    if fail {
        d.push(Delta::Error {
            status: 500,
            message: "boom".into(),
        });
        return d;
    }
    d.push(Delta::Usage(usage()));
    d.push(Delta::Finish(match s {
        Scenario::Tools => StopReason::ToolUse,
        Scenario::Length => StopReason::MaxTokens,
        _ => StopReason::EndTurn,
    }));
    d.push(Delta::Done);
    d
}

/// Upstream SSE bytes for the deltas, written by the upstream dialect's own emitter.
pub(super) fn upstream_stream(upstream: Dialect, deltas: &[Delta]) -> Vec<u8> {
    let ctx = context(upstream, upstream, "up-model", true);
    let mut emitter = Emitter::new(&ctx);
    let mut out = Vec::new();
    for d in deltas {
        for frame in emitter.step(d) {
            frame.write_sse(&mut out);
        }
    }
    out
}

/// What a client understood from a stream, read with its own dialect's parser.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    text: String,
    thinking: String,
    calls: Vec<(String, Value)>,
    stop: Option<StopReason>,
    usage: Option<Usage>,
    done: bool,
    error: Option<String>,
}

fn read_client_stream(client: Dialect, bytes: &[u8]) -> Seen {
    let mut parser = Parser::new(client);
    let mut seen = Seen::default();
    let mut args: Vec<(u64, String, String)> = Vec::new();
    let mut decoder = SseDecoder::new();
    for event in decoder.feed(bytes) {
        for d in parser.step(&event) {
            match d {
                Delta::Text(t) => seen.text.push_str(&t),
                Delta::Thinking(t) => seen.thinking.push_str(&t),
                Delta::ToolStart { key, name, .. } => args.push((key, name, String::new())),
                Delta::ToolArgs { key, fragment } => {
                    if let Some(a) = args.iter_mut().find(|a| a.0 == key) {
                        a.2.push_str(&fragment);
                    }
                }
                Delta::Finish(r) => seen.stop = Some(r),
                Delta::Usage(u) => seen.usage = Some(u),
                Delta::Done => seen.done = true,
                Delta::Error { message, .. } => seen.error = Some(message),
                Delta::Start { .. } | Delta::Signature(_) => {}
            }
        }
    }
    seen.calls = args
        .into_iter()
        .map(|(_, n, a)| (n, json::args_object(&a)))
        .collect();
    seen
}

/// Each client dialect's stream rules: Anthropic frames are named, indexes dense and
/// never interleaved; Chat/Completions end with `[DONE]` and nothing else has it; Responses
/// sequence numbers run 0..N.
fn check_rules(client: Dialect, bytes: &[u8], failed: bool) {
    let events = SseDecoder::new().feed(bytes);
    let has_done = events.iter().any(|e| e.data == "[DONE]");
    let done_dialect = matches!(client, Dialect::OpenAiChat | Dialect::OpenAiCompletions);
    assert_eq!(has_done, done_dialect && !failed, "{client:?} [DONE]");
    match client {
        Dialect::AnthropicMessages => {
            let mut next = 0;
            let mut open: Option<u64> = None;
            for e in &events {
                assert!(!e.event.is_empty(), "unnamed Anthropic frame");
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(v["type"], e.event.as_str());
                let index = v["index"].as_u64();
                match e.event.as_str() {
                    "content_block_start" => {
                        assert_eq!((open, index), (None, Some(next)));
                        open = index;
                        next += 1;
                    }
                    "content_block_delta" => assert_eq!(index, open),
                    "content_block_stop" => {
                        assert_eq!(index, open);
                        open = None;
                    }
                    _ => {}
                }
            }
            let last = events.last().map(|e| e.event.as_str());
            assert_eq!(last, Some(if failed { "error" } else { "message_stop" }));
        }
        Dialect::OpenAiResponses => {
            for (n, e) in events.iter().enumerate() {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(v["sequence_number"], n as u64);
            }
        }
        Dialect::OpenAiChat => {
            let indexes: Vec<u64> = events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
                .filter_map(|v| {
                    v["choices"][0]["delta"]["tool_calls"][0]["id"]
                        .as_str()
                        .map(|_| {
                            v["choices"][0]["delta"]["tool_calls"][0]["index"]
                                .as_u64()
                                .unwrap()
                        })
                })
                .collect();
            assert_eq!(indexes, (0..indexes.len() as u64).collect::<Vec<_>>());
        }
        _ => {}
    }
}

fn expected_seen(s: Scenario, client: Dialect) -> Seen {
    let (text, thinking, calls) = match s {
        Scenario::Tools => (
            "Checking.",
            "",
            vec![
                ("get_weather".to_string(), json!({"city": "Paris"})),
                ("get_time".to_string(), json!({})),
            ],
        ),
        Scenario::Thinking => ("42", "Let me think", vec![]),
        _ => ("Hello world", "", vec![]),
    };
    let thinking = if client == Dialect::OpenAiCompletions {
        ""
    } else {
        thinking
    };
    Seen {
        text: text.into(),
        thinking: thinking.into(),
        calls,
        stop: Some(match s {
            Scenario::Tools => StopReason::ToolUse,
            Scenario::Length => StopReason::MaxTokens,
            _ => StopReason::EndTurn,
        }),
        usage: Some(usage()),
        done: true,
        error: None,
    }
}

#[test]
fn streams_convert_for_every_pair() {
    for (client, upstream) in pairs() {
        for s in SCENARIOS.into_iter().filter(|s| {
            *s != Scenario::Image && expressible(client, *s) && expressible(upstream, *s)
        }) {
            let ctx = context(upstream, client, "client-model", true);
            let input = upstream_stream(upstream, &deltas(s, upstream, false));
            let out = run_stream(&ctx, &input, 13);
            check_rules(client, &out, false);
            let mut seen = read_client_stream(client, &out);
            let expected = expected_seen(s, client);
            // Stop reasons a dialect cannot tell apart read back as their nearest kin.
            if s == Scenario::Tools && matches!(client, Dialect::Gemini | Dialect::OpenAiResponses)
            {
                seen.stop = expected.stop;
            }
            assert_eq!(seen, expected, "{upstream:?} -> {client:?} {s:?}");

            let failing = upstream_stream(upstream, &deltas(s, upstream, true));
            let out = run_stream(&ctx, &failing, 13);
            check_rules(client, &out, true);
            let seen = read_client_stream(client, &out);
            assert_eq!(
                seen.error.as_deref(),
                Some("boom"),
                "{upstream:?} -> {client:?} {s:?}"
            );
            assert!(!seen.done);
        }
    }
}

/// The answer as the IR response a non-streaming upstream returns.
fn response(s: Scenario, upstream: Dialect) -> Response {
    let content = match s {
        Scenario::Tools => vec![
            Block::text("Checking."),
            call("call_a", "get_weather", json!({"city": "Paris"})),
            call("call_b", "get_time", json!({})),
        ],
        Scenario::Thinking => vec![
            Block::Thinking {
                text: "Let me think".into(),
                signature: Some(Blob::new(upstream.provider(), "sig")),
            },
            Block::text("42"),
        ],
        _ => vec![Block::text("Hello world")],
    };
    Response {
        id: "up1".into(),
        model: "up-model".into(),
        content,
        stop: match s {
            Scenario::Tools => StopReason::ToolUse,
            Scenario::Length => StopReason::MaxTokens,
            _ => StopReason::EndTurn,
        },
        usage: usage(),
    }
}

#[test]
fn responses_and_errors_convert_for_every_pair() {
    for (client, upstream) in pairs() {
        let ctx = ResponseContext {
            stream: false,
            ..context(upstream, client, "client-model", false)
        };
        for s in SCENARIOS.into_iter().filter(|s| {
            *s != Scenario::Image && expressible(client, *s) && expressible(upstream, *s)
        }) {
            let up_ctx = context(upstream, upstream, "up-model", false);
            let body = emit_response(&up_ctx, &response(s, upstream)).to_string();
            let out = convert_response(&ctx, 200, body.as_bytes());
            assert_eq!(out.status, 200, "{upstream:?} -> {client:?} {s:?}");
            let got = parse_response(client, &out.body).unwrap();
            let expected = response(s, upstream);
            let facts = |r: &Response| {
                json!([
                    ir::joined_text(&r.content),
                    r.content
                        .iter()
                        .filter_map(|b| match b {
                            Block::ToolCall(c) => Some(json!([c.name, c.arguments])),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                    r.usage.prompt_tokens,
                    r.usage.completion_tokens,
                    r.usage.cached_tokens
                ])
            };
            assert_eq!(
                facts(&got),
                facts(&expected),
                "{upstream:?} -> {client:?} {s:?}"
            );
            let has_thinking = got
                .content
                .iter()
                .any(|b| matches!(b, Block::Thinking { text, .. } if text == "Let me think"));
            assert_eq!(
                has_thinking,
                s == Scenario::Thinking && client != Dialect::OpenAiCompletions,
                "{upstream:?} -> {client:?}"
            );
            if s == Scenario::Length && client != Dialect::Gemini {
                assert_eq!(
                    got.stop,
                    StopReason::MaxTokens,
                    "{upstream:?} -> {client:?}"
                );
            }
        }
        // An error before the first byte: status and body in the client's family.
        let (status, upstream_body) = UpstreamError {
            status: 429,
            message: "slow down".into(),
            kind: None,
            invalid_key: false,
        }
        .render(upstream);
        let out = convert_response(&ctx, status, upstream_body.to_string().as_bytes());
        assert_eq!(out.status, 429);
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        let message = v["error"]["message"].as_str();
        assert_eq!(
            message,
            Some("slow down"),
            "{upstream:?} -> {client:?}: {v}"
        );
    }
}

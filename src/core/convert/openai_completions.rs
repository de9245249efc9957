//! OpenAI legacy Completions: a prompt in, text out. Parsed into a one-turn chat; what the
//! legacy API has and chat lacks (echo, suffix, best_of, token prompts, logprobs) is a 400.

use crate::core::sse::SseEvent;
use serde_json::{json, Map, Value};

use super::codec::Codec;
use super::context::ResponseContext;
use super::errors::{unsupported, ConvertError};
use super::frame::{Delta, Frame};
use super::ir::{joined_text, push_blocks, Block, Reasoning, Request, Response, Role, StopReason};
use super::json::{opt_str, str_at, string_list};
use super::openai_chat::{
    chunk_deltas, emit_shared_options, finish_name, parse_finish, parse_first_choice,
    parse_shared_options, reject_unmappable, ChunkHead,
};

/// OpenAI legacy Completions (`/v1/completions`).
pub struct OpenAiCompletions;

/// The legacy API's default `max_tokens`.
const DEFAULT_MAX_TOKENS: u64 = 16;

fn completion_id(upstream: &str) -> String {
    format!(
        "cmpl-{}",
        if upstream.is_empty() {
            "gateway"
        } else {
            upstream
        }
    )
}

/// A tool call has no place in a completion: it ends the text like a normal stop.
fn completion_finish(reason: StopReason) -> &'static str {
    match reason {
        StopReason::ToolUse => "stop",
        other => finish_name(other),
    }
}

/// State of the Completions-upstream parser.
#[derive(Debug, Default)]
pub struct StreamParser {
    started: bool,
}

/// State of the Completions-client emitter.
#[derive(Debug)]
pub struct StreamEmitter {
    head: ChunkHead,
}

impl Codec for OpenAiCompletions {
    type Parser = StreamParser;
    type Emitter = StreamEmitter;

    fn parse_request(v: &Value, _url_stream: bool) -> Result<Request, ConvertError> {
        reject_unmappable(v)?;
        if v["echo"].as_bool() == Some(true) {
            return Err(unsupported("`echo` cannot be converted for this channel"));
        }
        if v["suffix"].as_str().is_some_and(|s| !s.is_empty()) {
            return Err(unsupported(
                "`suffix` (fill-in-the-middle) cannot be converted for this channel",
            ));
        }
        if v["best_of"].as_u64().is_some_and(|n| n > 1) {
            return Err(unsupported(
                "`best_of` cannot be converted for this channel",
            ));
        }
        let prompts: Vec<String> = match &v["prompt"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) if items.iter().all(Value::is_string) => {
                string_list(v.get("prompt"))
            }
            Value::Array(_) => {
                return Err(unsupported(
                    "token-array prompts cannot be converted for this channel",
                ))
            }
            _ => return Err(ConvertError::Malformed("`prompt` is required".into())),
        };
        let mut req = Request {
            model: str_at(v, "model").to_string(),
            max_tokens: Some(v["max_tokens"].as_u64().unwrap_or(DEFAULT_MAX_TOKENS)),
            ..Request::default()
        };
        parse_shared_options(v, &mut req);
        for p in prompts {
            push_blocks(&mut req.messages, Role::User, vec![Block::text(p)]);
        }
        Ok(req)
    }

    /// A conversation as one prompt: instructions and turns joined by blank lines. Only text can go.
    fn emit_request(req: &Request) -> Result<Value, ConvertError> {
        if !req.tools.is_empty() {
            return Err(unsupported("tools cannot be sent to a Completions channel"));
        }
        if req
            .reasoning
            .as_ref()
            .is_some_and(|r| *r != Reasoning::Disabled)
        {
            return Err(unsupported(
                "reasoning settings cannot be sent to a Completions channel",
            ));
        }
        let mut texts: Vec<String> = req.system.iter().map(|s| s.text.clone()).collect();
        for m in &req.messages {
            if m.content
                .iter()
                .any(|b| !matches!(b, Block::Text { .. } | Block::Thinking { .. }))
            {
                return Err(unsupported(
                    "only text can be sent to a Completions channel",
                ));
            }
            texts.push(joined_text(&m.content));
        }
        let mut out = Map::new();
        out.insert("model".into(), json!(req.model));
        out.insert("prompt".into(), json!(texts.join("\n\n")));
        emit_shared_options(req, &mut out);
        Ok(Value::Object(out))
    }

    fn parse_response(v: &Value) -> Result<Response, ConvertError> {
        parse_first_choice(v, |choice| vec![Block::text(str_at(choice, "text"))])
    }

    fn emit_response(resp: &Response, ctx: &ResponseContext) -> Value {
        json!({
            "id": completion_id(&resp.id), "object": "text_completion", "created": ctx.created,
            "model": ctx.client_model,
            "choices": [{"text": joined_text(&resp.content), "index": 0, "logprobs": null,
                "finish_reason": completion_finish(resp.stop)}],
            "usage": resp.usage.to_openai_chat(),
        })
    }

    /// One upstream Completions chunk → deltas.
    fn parse_stream_event(event: &SseEvent, st: &mut StreamParser) -> Vec<Delta> {
        chunk_deltas(event, |v, out| {
            if !st.started {
                st.started = true;
                out.push(Delta::Start {
                    id: str_at(v, "id").to_string(),
                });
            }
            let choice = &v["choices"][0];
            if let Some(text) = opt_str(choice, "text") {
                out.push(Delta::Text(text));
            }
            if let Some(reason) = opt_str(choice, "finish_reason") {
                out.push(Delta::Finish(parse_finish(&reason)));
            }
        })
    }

    /// One delta → Completions chunks (reasoning and tool calls have no legacy form).
    fn emit_stream_delta(delta: &Delta, st: &mut StreamEmitter) -> Vec<Frame> {
        let mut out = Vec::new();
        let st = &mut st.head;
        match delta {
            Delta::Start { id } if !id.is_empty() => st.id = completion_id(id),
            Delta::Text(text) => out.push(st.chunk(
                json!([{"text": text, "index": 0, "logprobs": null, "finish_reason": null}]),
            )),
            Delta::Done => {
                let stop = completion_finish(StopReason::settle(st.stop, false));
                st.finish(
                    json!({"text": "", "index": 0, "logprobs": null, "finish_reason": stop}),
                    &mut out,
                );
            }
            other => st.absorb(other, &mut out),
        }
        out
    }

    fn emitter(ctx: &ResponseContext) -> StreamEmitter {
        StreamEmitter {
            head: ChunkHead::new(ctx, completion_id(""), "text_completion"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_only_options_are_refused() {
        for v in [
            json!({"prompt": "x", "echo": true}),
            json!({"prompt": "x", "suffix": "y"}),
            json!({"prompt": "x", "best_of": 2}),
        ] {
            assert!(matches!(
                OpenAiCompletions::parse_request(&v, false),
                Err(ConvertError::Unsupported(_))
            ));
        }
        let req = OpenAiCompletions::parse_request(&json!({"prompt": "hi"}), false).unwrap();
        assert_eq!(req.messages[0].content, vec![Block::text("hi")]);
    }

    #[test]
    fn a_chunk_starts_once_and_carries_text_and_finish() {
        let mut st = StreamParser::default();
        let event = SseEvent {
            event: String::new(),
            data: r#"{"id":"c","choices":[{"text":"hel","finish_reason":"length"}]}"#.into(),
        };
        let deltas = OpenAiCompletions::parse_stream_event(&event, &mut st);
        assert_eq!(
            deltas,
            vec![
                Delta::Start { id: "c".into() },
                Delta::Text("hel".into()),
                Delta::Finish(StopReason::MaxTokens),
            ]
        );
        assert!(!matches!(
            OpenAiCompletions::parse_stream_event(&event, &mut st)[0],
            Delta::Start { .. }
        ));
    }
}

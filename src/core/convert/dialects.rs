//! Dispatch from a [`Dialect`] to its [`Codec`]: one table, expanded by one macro into the
//! request and response entry points and the stream state enums (enum dispatch, no `dyn`).

use crate::core::dialect::Dialect;
use crate::core::sse::SseEvent;
use serde_json::Value;

use super::codec::Codec;
use super::context::ResponseContext;
use super::errors::ConvertError;
use super::frame::{Delta, Frame};
use super::ir::{Request, Response};
use super::{anthropic, gemini, openai_chat, openai_completions, openai_responses};

/// Expands the table `module::Codec` (each codec named like its [`Dialect`] variant) into every
/// match on the dialect.
macro_rules! codecs {
    ($($module:ident :: $name:ident),+ $(,)?) => {
        /// Parses a client request (a JSON object) in `from` into the internal representation.
        pub fn parse_request(
            from: Dialect,
            v: &Value,
            url_stream: bool,
        ) -> Result<Request, ConvertError> {
            match from {
                $(Dialect::$name => $module::$name::parse_request(v, url_stream),)+
            }
        }

        /// Emits an internal request as a `to` body.
        pub fn emit_request(to: Dialect, req: &Request) -> Result<Value, ConvertError> {
            match to {
                $(Dialect::$name => $module::$name::emit_request(req),)+
            }
        }

        /// Parses a successful upstream body (JSON) into the internal representation.
        pub fn parse_response(upstream: Dialect, v: &Value) -> Result<Response, ConvertError> {
            match upstream {
                $(Dialect::$name => $module::$name::parse_response(v),)+
            }
        }

        /// Emits an internal response as the client's body.
        pub fn emit_response(ctx: &ResponseContext, resp: &Response) -> Value {
            match ctx.client {
                $(Dialect::$name => $module::$name::emit_response(resp, ctx),)+
            }
        }

        /// Per-upstream stream parser state.
        #[derive(Debug)]
        pub enum Parser {
            $($name(<$module::$name as Codec>::Parser),)+
        }

        impl Parser {
            pub fn new(upstream: Dialect) -> Parser {
                match upstream {
                    $(Dialect::$name => Parser::$name(Default::default()),)+
                }
            }

            pub fn step(&mut self, event: &SseEvent) -> Vec<Delta> {
                match self {
                    $(Parser::$name(st) => $module::$name::parse_stream_event(event, st),)+
                }
            }
        }

        /// Per-client stream emitter state.
        #[derive(Debug)]
        pub enum Emitter {
            $($name(<$module::$name as Codec>::Emitter),)+
        }

        impl Emitter {
            pub fn new(ctx: &ResponseContext) -> Emitter {
                match ctx.client {
                    $(Dialect::$name => Emitter::$name($module::$name::emitter(ctx)),)+
                }
            }

            pub fn step(&mut self, delta: &Delta) -> Vec<Frame> {
                match self {
                    $(Emitter::$name(st) => $module::$name::emit_stream_delta(delta, st),)+
                }
            }
        }
    };
}

codecs! {
    openai_chat::OpenAiChat,
    openai_completions::OpenAiCompletions,
    openai_responses::OpenAiResponses,
    anthropic::AnthropicMessages,
    gemini::Gemini,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::convert::ir::{push_blocks, Block, Role};

    #[test]
    fn every_dialect_reads_back_what_it_writes() {
        let mut req = Request {
            model: "m".into(),
            ..Request::default()
        };
        push_blocks(&mut req.messages, Role::User, vec![Block::text("hello")]);
        for dialect in Dialect::ALL {
            let body = emit_request(dialect, &req).unwrap();
            let back = parse_request(dialect, &body, false).unwrap();
            assert_eq!(back.messages, req.messages, "{dialect:?}");
            assert!(matches!(
                (Parser::new(dialect), dialect),
                (Parser::OpenAiChat(_), Dialect::OpenAiChat)
                    | (Parser::OpenAiCompletions(_), Dialect::OpenAiCompletions)
                    | (Parser::OpenAiResponses(_), Dialect::OpenAiResponses)
                    | (Parser::AnthropicMessages(_), Dialect::AnthropicMessages)
                    | (Parser::Gemini(_), Dialect::Gemini)
            ));
        }
    }
}

//! Embeddings across dialects: an OpenAI `/v1/embeddings` call on a Gemini-only channel, or a
//! Gemini `:embedContent` / `:batchEmbedContents` call on an OpenAI-only one. The shell side of
//! `core::convert::embeddings`: the channel's body and path, and the answer converted back
//! (body, error shape, `encoding_format`) before the relay looks at it, so retry rules, usage
//! reading and delivery stay the same as for a native answer.

use crate::core::convert::embeddings::{self, EmbedContext};
use crate::core::convert::{ConvertError, UpstreamError};
use crate::core::dialect::Dialect;
use crate::core::endpoint::Embeddings;
use crate::core::learned::Serving;
use crate::core::routing::Channel;
use worker::{Headers, Response};

/// What the answer of one converted embeddings call needs.
pub(super) struct EmbedCall {
    kind: Embeddings,
    context: EmbedContext,
}

/// The request for the channel: body, path on its base URL, and the answer's context.
pub(super) struct EmbedRequest {
    pub body: Vec<u8>,
    pub path: String,
    pub call: EmbedCall,
}

/// Converts the client's embeddings body for `channel`, which serves the other dialect.
pub(super) fn prepare(
    kind: Embeddings,
    body: &[u8],
    channel: &Channel,
    serving: Serving<'_>,
) -> Result<EmbedRequest, ConvertError> {
    let model = channel.upstream_model.as_str();
    let target = kind.convert_target();
    let (body, context, standard_path) = match kind {
        Embeddings::OpenAi => {
            let (body, ctx) = embeddings::openai_to_gemini_request(body, model)?;
            (body, ctx, embeddings::gemini_path(model))
        }
        Embeddings::GeminiSingle | Embeddings::GeminiBatch => {
            let single = kind == Embeddings::GeminiSingle;
            let (body, ctx) = embeddings::gemini_to_openai_request(body, model, single)?;
            (body, ctx, "/v1/embeddings".to_string())
        }
    };
    let path = serving
        .upstream_path(target, &standard_path)
        .unwrap_or(standard_path);
    Ok(EmbedRequest {
        body,
        path,
        call: EmbedCall { kind, context },
    })
}

/// The channel's answer in the client's dialect: converted embeddings, or its error in the
/// client's error shape with the same status and `Retry-After`.
pub(super) async fn answer(call: &EmbedCall, resp: Response) -> Result<Response, String> {
    let status = resp.status_code();
    let body = super::app::body_bytes(&resp)
        .await
        .map_err(|e| e.to_string())?;
    let client = match call.kind {
        Embeddings::OpenAi => Dialect::OpenAiChat,
        Embeddings::GeminiSingle | Embeddings::GeminiBatch => Dialect::Gemini,
    };
    let converted = if status >= 400 {
        Err(UpstreamError::parse(status, &body))
    } else {
        let result = match call.kind {
            Embeddings::OpenAi => embeddings::gemini_to_openai_response(&call.context, &body),
            Embeddings::GeminiSingle | Embeddings::GeminiBatch => {
                embeddings::openai_to_gemini_response(&call.context, &body)
            }
        };
        result.map_err(|e| UpstreamError {
            status: 502,
            message: format!(
                "the upstream's embeddings answer cannot be read: {}",
                e.message()
            ),
            kind: None,
            invalid_key: false,
        })
    };
    let (status, body) = match converted {
        Ok(body) => (status, body),
        Err(error) => {
            let (status, body) = error.render(client);
            (status, body.to_string().into_bytes())
        }
    };
    let headers = Headers::new();
    headers
        .set("Content-Type", "application/json")
        .map_err(|e| e.to_string())?;
    if let Some(retry_after) = resp.headers().get("Retry-After").ok().flatten() {
        headers
            .set("Retry-After", &retry_after)
            .map_err(|e| e.to_string())?;
    }
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body))
}

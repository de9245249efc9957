//! Which relay endpoint a request is: how to find its model, how to authenticate upstream,
//! what its response looks like. One table, so the relay itself has no per-endpoint branches.

use crate::core::dialect::{Dialect, WireFamily};
use crate::core::learned::{Feature, Serving};
use crate::core::string_enum::string_enum;
use std::borrow::Cow;

/// How the client's credential is replaced by the upstream key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// `Authorization: Bearer <key>` (OpenAI style).
    Bearer,
    /// `x-api-key: <key>` plus `anthropic-version` (defaulted when the client sent none).
    AnthropicKey,
    /// `x-goog-api-key: <key>`.
    GoogleKey,
}

/// Where the routing model name is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The `model` field of a JSON body.
    JsonBody,
    /// A `model` field of a multipart/form-data body.
    Multipart,
    /// In the URL (Gemini: `/v1beta/models/{model}:method`).
    Path(String),
    /// None: the call is routed to any channel of the organization (file uploads).
    Any,
}

/// A relayed endpoint, resolved from method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayEndpoint {
    /// A short stable name for logs and stats, e.g. `chat.completions`.
    pub name: &'static str,
    pub family: WireFamily,
    pub auth: UpstreamAuth,
    pub model: ModelSource,
    /// Known from the URL to be a stream (Gemini `:streamGenerateContent`).
    pub stream_from_path: bool,
    /// The response carries a resource id that later calls must reach on the same channel.
    pub pins: Option<PinKind>,
    /// Conversational endpoints: the dialect, so a channel that speaks another one gets a
    /// converted request. `None`: passed through to channels as it is.
    pub dialect: Option<Dialect>,
    /// A token count in this dialect, answered by a local estimate when the channel does not
    /// speak it (never a constant).
    pub counts_tokens_of: Option<Dialect>,
    /// Embedding endpoints: converted between OpenAI and Gemini for a channel that serves only
    /// the other one.
    pub embeddings: Option<Embeddings>,
}

/// The embedding endpoints that can be converted into each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embeddings {
    /// OpenAI `POST /v1/embeddings`.
    OpenAi,
    /// Gemini `:embedContent` (one content, one `embedding` back).
    GeminiSingle,
    /// Gemini `:batchEmbedContents` (what the google-genai SDKs call).
    GeminiBatch,
}

impl Embeddings {
    /// The dialect a channel must serve to take this call converted.
    pub fn convert_target(self) -> Dialect {
        match self {
            Embeddings::OpenAi => Dialect::Gemini,
            Embeddings::GeminiSingle | Embeddings::GeminiBatch => Dialect::OpenAiChat,
        }
    }
}

string_enum! {
    /// Resources that live on one upstream and must be reached there again, by the kind
    /// their pins store.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PinKind {
        File = "file",
        Video = "video",
        Response = "response",
    }
}

/// What a request to the gateway's public surface is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Relayed to a channel chosen by model.
    Relay(RelayEndpoint),
    /// A call about a resource pinned to the channel that created it (`GET /v1/files/{id}`…).
    Pinned {
        kind: PinKind,
        id: String,
    },
    /// `GET /v1/files`: the files uploaded through the gateway by the organization.
    FileList,
    /// `GET /v1/models[/{model}]` (shape chosen from the caller's headers) or `/v1beta/models…`.
    Models {
        gemini_path: bool,
        model: Option<String>,
    },
    BillingSubscription,
    BillingUsage,
}

const fn relay(name: &'static str, family: WireFamily, auth: UpstreamAuth) -> RelayEndpoint {
    RelayEndpoint {
        name,
        family,
        auth,
        model: ModelSource::JsonBody,
        stream_from_path: false,
        pins: None,
        dialect: None,
        counts_tokens_of: None,
        embeddings: None,
    }
}

fn conversational(
    name: &'static str,
    family: WireFamily,
    auth: UpstreamAuth,
    dialect: Dialect,
) -> RelayEndpoint {
    RelayEndpoint {
        dialect: Some(dialect),
        ..relay(name, family, auth)
    }
}

fn openai(name: &'static str) -> RelayEndpoint {
    relay(name, WireFamily::OpenAi, UpstreamAuth::Bearer)
}

fn multipart(name: &'static str) -> RelayEndpoint {
    RelayEndpoint {
        model: ModelSource::Multipart,
        ..openai(name)
    }
}

/// The call made about a pinned resource: OpenAI style, no model, no conversion.
pub fn pinned_call(kind: PinKind) -> RelayEndpoint {
    RelayEndpoint {
        model: ModelSource::Any,
        ..openai(match kind {
            PinKind::File => "files.resource",
            PinKind::Video => "video.resource",
            PinKind::Response => "responses.resource",
        })
    }
}

/// Resolves a request; `None` means no such endpoint.
pub fn resolve(method: &str, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route = match (method, segments.as_slice()) {
        ("POST", ["v1", "chat", "completions"]) => Route::Relay(conversational(
            "chat.completions",
            WireFamily::OpenAi,
            UpstreamAuth::Bearer,
            Dialect::OpenAiChat,
        )),
        ("POST", ["v1", "completions"]) => Route::Relay(conversational(
            "completions",
            WireFamily::OpenAi,
            UpstreamAuth::Bearer,
            Dialect::OpenAiCompletions,
        )),
        ("POST", ["v1", "embeddings"]) => Route::Relay(RelayEndpoint {
            embeddings: Some(Embeddings::OpenAi),
            ..openai("embeddings")
        }),
        ("POST", ["v1", "responses"]) => Route::Relay(RelayEndpoint {
            pins: Some(PinKind::Response),
            ..conversational(
                "responses",
                WireFamily::OpenAiResponses,
                UpstreamAuth::Bearer,
                Dialect::OpenAiResponses,
            )
        }),
        ("POST", ["v1", "images", "generations"]) => Route::Relay(openai("images.generations")),
        ("POST", ["v1", "images", "edits"]) => Route::Relay(multipart("images.edits")),
        ("POST", ["v1", "images", "variations"]) => Route::Relay(multipart("images.variations")),
        ("POST", ["v1", "audio", "speech"]) => Route::Relay(openai("audio.speech")),
        ("POST", ["v1", "audio", "transcriptions"]) => {
            Route::Relay(multipart("audio.transcriptions"))
        }
        ("POST", ["v1", "audio", "translations"]) => Route::Relay(multipart("audio.translations")),
        ("POST", ["v1", "rerank"]) => Route::Relay(openai("rerank")),
        ("POST", ["v1", "moderations"]) => Route::Relay(openai("moderations")),
        ("POST", ["v1", "video", "generations"]) => Route::Relay(RelayEndpoint {
            pins: Some(PinKind::Video),
            ..openai("video.generations")
        }),
        ("POST", ["v1", "files"]) => Route::Relay(RelayEndpoint {
            model: ModelSource::Any,
            pins: Some(PinKind::File),
            ..openai("files.upload")
        }),
        ("GET", ["v1", "files"]) => Route::FileList,
        ("GET" | "DELETE", ["v1", "files", id]) | ("GET", ["v1", "files", id, "content"]) => {
            Route::Pinned {
                kind: PinKind::File,
                id: (*id).to_string(),
            }
        }
        ("GET", ["v1", "video", "generations", id]) => Route::Pinned {
            kind: PinKind::Video,
            id: (*id).to_string(),
        },
        ("GET" | "DELETE", ["v1", "responses", id])
        | ("GET", ["v1", "responses", id, "input_items"]) => Route::Pinned {
            kind: PinKind::Response,
            id: (*id).to_string(),
        },
        ("POST", ["v1", "messages"]) => Route::Relay(conversational(
            "messages",
            WireFamily::Anthropic,
            UpstreamAuth::AnthropicKey,
            Dialect::AnthropicMessages,
        )),
        ("POST", ["v1", "messages", "count_tokens"]) => Route::Relay(RelayEndpoint {
            counts_tokens_of: Some(Dialect::AnthropicMessages),
            ..relay(
                "messages.count_tokens",
                WireFamily::Anthropic,
                UpstreamAuth::AnthropicKey,
            )
        }),
        ("GET", ["v1", "models"]) => Route::Models {
            gemini_path: false,
            model: None,
        },
        ("GET", ["v1", "models", model]) => Route::Models {
            gemini_path: false,
            model: Some((*model).to_string()),
        },
        ("GET", ["v1beta", "models"]) => Route::Models {
            gemini_path: true,
            model: None,
        },
        ("GET", ["v1beta", "models", model]) => Route::Models {
            gemini_path: true,
            model: Some((*model).to_string()),
        },
        // google-genai SDKs now default to API version `v1`: the same calls as under `v1beta`.
        ("POST", ["v1beta" | "v1", "models", call]) => Route::Relay(gemini_call(call)?),
        ("GET", ["dashboard", "billing", "subscription"])
        | ("GET", ["v1", "dashboard", "billing", "subscription"]) => Route::BillingSubscription,
        ("GET", ["dashboard", "billing", "usage"])
        | ("GET", ["v1", "dashboard", "billing", "usage"]) => Route::BillingUsage,
        _ => return None,
    };
    Some(route)
}

/// `{model}:{method}` of a Gemini URL.
fn gemini_call(call: &str) -> Option<RelayEndpoint> {
    let (model, method) = call.rsplit_once(':')?;
    let gemini = Some(Dialect::Gemini);
    let (name, stream, dialect, counts, embeddings) = match method {
        "generateContent" => ("gemini.generateContent", false, gemini, None, None),
        "streamGenerateContent" => ("gemini.streamGenerateContent", true, gemini, None, None),
        "countTokens" => ("gemini.countTokens", false, None, gemini, None),
        "embedContent" => (
            "gemini.embedContent",
            false,
            None,
            None,
            Some(Embeddings::GeminiSingle),
        ),
        "batchEmbedContents" => (
            "gemini.batchEmbedContents",
            false,
            None,
            None,
            Some(Embeddings::GeminiBatch),
        ),
        _ => return None,
    };
    if model.is_empty() {
        return None;
    }
    Some(RelayEndpoint {
        model: ModelSource::Path(model.to_string()),
        stream_from_path: stream,
        dialect,
        counts_tokens_of: counts,
        embeddings,
        ..relay(name, WireFamily::Gemini, UpstreamAuth::GoogleKey)
    })
}

/// Whether a path belongs to the relay surface at all (as opposed to `/api` or `/health`), so
/// an unknown relay path can be answered in the right dialect.
pub fn is_relay_path(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/v1beta/") || path.starts_with("/dashboard/")
}

/// A Gemini call's standard path (`/v1beta/models/…`), whichever version the client used:
/// channels get the version their station serves under its own prefix.
pub fn gemini_standard_path(path_and_query: &str) -> Cow<'_, str> {
    match path_and_query.strip_prefix("/v1/models/") {
        Some(rest) => Cow::Owned(format!("/v1beta/models/{rest}")),
        None => Cow::Borrowed(path_and_query),
    }
}

/// The Gemini URL path for a model and method, with the model name replaced (for mapped models).
pub fn gemini_path_with_model(path: &str, upstream_model: &str) -> String {
    match path.rsplit_once('/') {
        Some((prefix, call)) => match call.rsplit_once(':') {
            Some((_, method)) => format!("{prefix}/{upstream_model}:{method}"),
            None => path.to_string(),
        },
        None => path.to_string(),
    }
}

/// How one call reaches one channel, decided from the dialects the channel serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallPlan {
    /// The channel speaks the client's dialect: same body, the path under its prefix.
    Native { path: String },
    /// It does not: convert to `target` (the channel's primary dialect).
    Convert { target: Dialect },
    /// A token count the channel cannot answer in this dialect: estimate locally.
    LocalCount(Dialect),
}

/// Decides how a call with `standard_path` (as the client sent it, with query) goes to a
/// channel that serves `served` (its station's override, or its platform's defaults minus the
/// dialects it was found to lack).
pub fn plan_call<'a>(
    endpoint: &RelayEndpoint,
    served: impl Into<Serving<'a>>,
    standard_path: &str,
) -> CallPlan {
    let served = served.into();
    if let Some(counted) = endpoint.counts_tokens_of {
        if !served.counts_tokens(counted) {
            return CallPlan::LocalCount(counted);
        }
    }
    // Non-conversational endpoints live beside the dialect of their family.
    let dialect = endpoint.dialect.unwrap_or(endpoint.family.home_dialect());
    if let Some(path) = served.upstream_path(dialect, standard_path) {
        return CallPlan::Native { path };
    }
    let embedding_target = endpoint
        .embeddings
        .map(Embeddings::convert_target)
        .filter(|target| served.prefix(*target).is_some());
    match (endpoint.dialect, served.primary(), embedding_target) {
        (Some(_), Some(target), _) => CallPlan::Convert { target },
        (None, _, Some(target)) => CallPlan::Convert { target },
        // Nothing to convert (images, audio…), or a channel without any dialect row: the
        // call goes as it is and the station answers for itself.
        _ => CallPlan::Native {
            path: standard_path.to_string(),
        },
    }
}

/// What an endpoint's "no such route" answer says a station lacks, if it says anything a
/// conversion can work around. OpenAI embeddings are not evidence against chat.
pub fn missing_feature(endpoint: &RelayEndpoint) -> Option<Feature> {
    if let Some(counted) = endpoint.counts_tokens_of {
        return Some(Feature::TokenCount(counted));
    }
    if let Some(dialect) = endpoint.dialect {
        return Some(Feature::Dialect(dialect));
    }
    match endpoint.embeddings {
        Some(Embeddings::GeminiSingle | Embeddings::GeminiBatch) => {
            Some(Feature::Dialect(Dialect::Gemini))
        }
        _ => None,
    }
}

/// What a "no such route" answer to a native call of `endpoint` on a channel served as
/// `served` teaches: the missing feature, if the call could go another way (converted, or
/// counted locally) without it. Never the station's primary dialect, never under an explicit
/// dialect list.
pub fn learnable(
    served: Serving<'_>,
    endpoint: &RelayEndpoint,
    standard_path: &str,
) -> Option<Feature> {
    let feature = missing_feature(endpoint)?;
    let primary = Feature::Dialect(served.base_primary()?);
    if served.is_explicit() || served.lacks(feature) || feature == primary {
        return None;
    }
    let native = |s: Serving<'_>| {
        matches!(
            plan_call(endpoint, s, standard_path),
            CallPlan::Native { .. }
        )
    };
    (native(served) && !native(served.without(feature))).then_some(feature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::panels::relay_paths::{parse_override, DialectRoute, Served};

    fn relay_of(method: &str, path: &str) -> RelayEndpoint {
        match resolve(method, path) {
            Some(Route::Relay(e)) => e,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn openai_endpoints() {
        assert_eq!(
            relay_of("POST", "/v1/chat/completions").name,
            "chat.completions"
        );
        assert_eq!(
            relay_of("POST", "/v1/images/edits").model,
            ModelSource::Multipart
        );
        assert_eq!(
            relay_of("POST", "/v1/audio/transcriptions").model,
            ModelSource::Multipart
        );
        assert_eq!(
            relay_of("POST", "/v1/audio/speech").model,
            ModelSource::JsonBody
        );
        assert_eq!(relay_of("POST", "/v1/files").model, ModelSource::Any);
        assert_eq!(
            relay_of("POST", "/v1/responses").family,
            WireFamily::OpenAiResponses
        );
        assert_eq!(
            relay_of("POST", "/v1/video/generations").pins,
            Some(PinKind::Video)
        );
        assert_eq!(resolve("GET", "/v1/chat/completions"), None);
        assert_eq!(resolve("POST", "/v1/unknown"), None);
    }

    #[test]
    fn pinned_and_listing_routes() {
        assert_eq!(
            resolve("GET", "/v1/files/file-abc/content"),
            Some(Route::Pinned {
                kind: PinKind::File,
                id: "file-abc".into()
            })
        );
        assert_eq!(
            resolve("DELETE", "/v1/files/file-abc"),
            Some(Route::Pinned {
                kind: PinKind::File,
                id: "file-abc".into()
            })
        );
        assert_eq!(resolve("GET", "/v1/files"), Some(Route::FileList));
        assert_eq!(
            resolve("GET", "/v1/video/generations/task_1"),
            Some(Route::Pinned {
                kind: PinKind::Video,
                id: "task_1".into()
            })
        );
        assert_eq!(
            resolve("GET", "/v1/models/gpt-4o"),
            Some(Route::Models {
                gemini_path: false,
                model: Some("gpt-4o".into())
            })
        );
        assert_eq!(
            resolve("GET", "/dashboard/billing/usage"),
            Some(Route::BillingUsage)
        );
    }

    #[test]
    fn anthropic_endpoints_use_the_anthropic_key_header() {
        let e = relay_of("POST", "/v1/messages");
        assert_eq!(
            (e.family, e.auth),
            (WireFamily::Anthropic, UpstreamAuth::AnthropicKey)
        );
        assert_eq!(
            relay_of("POST", "/v1/messages/count_tokens").name,
            "messages.count_tokens"
        );
    }

    #[test]
    fn gemini_model_and_stream_come_from_the_path() {
        let e = relay_of(
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        );
        assert_eq!(e.model, ModelSource::Path("gemini-2.5-flash".into()));
        assert!(e.stream_from_path);
        assert_eq!(e.auth, UpstreamAuth::GoogleKey);
        assert_eq!(e.dialect, Some(Dialect::Gemini));
        assert_eq!(
            relay_of("POST", "/v1beta/models/g:countTokens").counts_tokens_of,
            Some(Dialect::Gemini)
        );
        let e = relay_of("POST", "/v1beta/models/gemini-2.5-flash:generateContent");
        assert!(!e.stream_from_path);
        assert_eq!(resolve("POST", "/v1beta/models/x:unknownMethod"), None);
        // Version v1 is the same surface.
        for action in [
            "generateContent",
            "streamGenerateContent",
            "countTokens",
            "embedContent",
            "batchEmbedContents",
        ] {
            let v1 = relay_of("POST", &format!("/v1/models/gemini-2.5-flash:{action}"));
            let v1beta = relay_of("POST", &format!("/v1beta/models/gemini-2.5-flash:{action}"));
            assert_eq!(v1, v1beta);
        }
        assert_eq!(resolve("POST", "/v1/models/x:unknownMethod"), None);
        assert_eq!(
            gemini_standard_path("/v1/models/g:streamGenerateContent?alt=sse"),
            "/v1beta/models/g:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            gemini_standard_path("/v1beta/models/g:generateContent"),
            "/v1beta/models/g:generateContent"
        );
        assert_eq!(resolve("POST", "/v1beta/models/:generateContent"), None);
        assert_eq!(
            gemini_path_with_model(
                "/v1beta/models/flash:streamGenerateContent",
                "gemini-2.5-flash"
            ),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
    }

    /// `plan_call` for a channel of `platform` without an override.
    fn plan(endpoint: &RelayEndpoint, platform: &str, path: &str) -> CallPlan {
        plan_call(endpoint, Served::of(platform, None), path)
    }

    #[test]
    fn native_paths_follow_the_platform_prefix() {
        let messages = relay_of("POST", "/v1/messages");
        assert_eq!(
            plan(&messages, "onehub", "/v1/messages?beta=true"),
            CallPlan::Native {
                path: "/claude/v1/messages?beta=true".into()
            }
        );
        assert_eq!(
            plan(&messages, "new-api", "/v1/messages"),
            CallPlan::Native {
                path: "/v1/messages".into()
            }
        );
        let chat = relay_of("POST", "/v1/chat/completions");
        assert_eq!(
            plan(&chat, "zhipu", "/v1/chat/completions"),
            CallPlan::Native {
                path: "/api/paas/v4/chat/completions".into()
            }
        );
    }

    #[test]
    fn missing_dialects_convert_to_the_primary_one() {
        let messages = relay_of("POST", "/v1/messages");
        assert_eq!(
            plan(&messages, "openai-compatible", "/v1/messages"),
            CallPlan::Convert {
                target: Dialect::OpenAiChat
            }
        );
        let chat = relay_of("POST", "/v1/chat/completions");
        assert_eq!(
            plan(&chat, "anthropic-compatible", "/v1/chat/completions"),
            CallPlan::Convert {
                target: Dialect::AnthropicMessages
            }
        );
        let gemini = relay_of("POST", "/v1beta/models/g:generateContent");
        assert_eq!(
            plan(&gemini, "one-api", "/v1beta/models/g:generateContent"),
            CallPlan::Convert {
                target: Dialect::OpenAiChat
            }
        );
    }

    #[test]
    fn token_counts_are_estimated_where_the_dialect_is_missing() {
        let count = relay_of("POST", "/v1/messages/count_tokens");
        assert_eq!(
            plan(&count, "openai-compatible", "/v1/messages/count_tokens"),
            CallPlan::LocalCount(Dialect::AnthropicMessages)
        );
        assert_eq!(
            plan(&count, "new-api", "/v1/messages/count_tokens"),
            CallPlan::Native {
                path: "/v1/messages/count_tokens".into()
            }
        );
        let embeddings = relay_of("POST", "/v1/embeddings");
        assert_eq!(
            plan(&embeddings, "anthropic-compatible", "/v1/embeddings"),
            CallPlan::Native {
                path: "/v1/embeddings".into()
            }
        );
    }

    #[test]
    fn embeddings_convert_between_openai_and_gemini_only_where_needed() {
        let openai = relay_of("POST", "/v1/embeddings");
        assert_eq!(
            plan(&openai, "gemini-compatible", "/v1/embeddings"),
            CallPlan::Convert {
                target: Dialect::Gemini
            }
        );
        assert_eq!(
            plan(&openai, "openai-compatible", "/v1/embeddings"),
            CallPlan::Native {
                path: "/v1/embeddings".into()
            }
        );
        for path in [
            "/v1beta/models/e:embedContent",
            "/v1beta/models/e:batchEmbedContents",
        ] {
            let gemini = relay_of("POST", path);
            assert_eq!(
                plan(&gemini, "openai-compatible", path),
                CallPlan::Convert {
                    target: Dialect::OpenAiChat
                }
            );
            assert_eq!(
                plan(&gemini, "onehub", path),
                CallPlan::Native {
                    path: path.replace("/v1beta", "/gemini/v1beta")
                }
            );
        }
        // Neither side served: the station answers for itself.
        let gemini = relay_of("POST", "/v1beta/models/e:embedContent");
        assert_eq!(
            plan(
                &gemini,
                "anthropic-compatible",
                "/v1beta/models/e:embedContent"
            ),
            CallPlan::Native {
                path: "/v1beta/models/e:embedContent".into()
            }
        );
    }

    #[test]
    fn responses_clients_are_converted_for_channels_without_responses() {
        let responses = relay_of("POST", "/v1/responses");
        assert_eq!(responses.pins, Some(PinKind::Response));
        assert_eq!(
            plan(&responses, "openai", "/v1/responses"),
            CallPlan::Native {
                path: "/v1/responses".into()
            }
        );
        assert_eq!(
            plan(&responses, "openai-compatible", "/v1/responses"),
            CallPlan::Convert {
                target: Dialect::OpenAiChat
            }
        );
        assert_eq!(
            plan(&responses, "gemini-compatible", "/v1/responses"),
            CallPlan::Convert {
                target: Dialect::Gemini
            }
        );
    }

    fn overridden(value: serde_json::Value) -> Vec<DialectRoute> {
        parse_override(&value).unwrap().unwrap()
    }

    #[test]
    fn a_station_override_decides_paths_and_conversion_targets() {
        let only_responses = overridden(serde_json::json!([{"dialect": "openai-responses"}]));
        let served = Served::of("openai-compatible", Some(&only_responses));
        let chat = relay_of("POST", "/v1/chat/completions");
        assert_eq!(
            plan_call(&chat, served, "/v1/chat/completions"),
            CallPlan::Convert {
                target: Dialect::OpenAiResponses
            },
            "the platform default (chat) is no longer served"
        );
        let messages = relay_of("POST", "/v1/messages");
        assert_eq!(
            plan_call(&messages, served, "/v1/messages"),
            CallPlan::Convert {
                target: Dialect::OpenAiResponses
            }
        );
        let responses = relay_of("POST", "/v1/responses");
        assert_eq!(
            plan_call(&responses, served, "/v1/responses"),
            CallPlan::Native {
                path: "/v1/responses".into()
            }
        );
        let count = relay_of("POST", "/v1/messages/count_tokens");
        assert_eq!(
            plan_call(&count, served, "/v1/messages/count_tokens"),
            CallPlan::LocalCount(Dialect::AnthropicMessages)
        );

        // New API without Anthropic: Claude clients are converted to its first row.
        let no_claude = overridden(serde_json::json!([
            {"dialect": "openai-chat"}, {"dialect": "openai-responses"}, {"dialect": "gemini"}
        ]));
        assert_eq!(
            plan_call(
                &messages,
                Served::of("new-api", Some(&no_claude)),
                "/v1/messages"
            ),
            CallPlan::Convert {
                target: Dialect::OpenAiChat
            }
        );
        assert_eq!(
            plan(&messages, "new-api", "/v1/messages"),
            CallPlan::Native {
                path: "/v1/messages".into()
            },
            "without the override New API serves Claude"
        );

        // A prefix override moves native calls and the endpoints beside them.
        let custom =
            overridden(serde_json::json!([{"dialect": "openai-chat", "prefix": "/custom/v1"}]));
        let served = Served::of("openai-compatible", Some(&custom));
        assert_eq!(
            plan_call(&chat, served, "/v1/chat/completions"),
            CallPlan::Native {
                path: "/custom/v1/chat/completions".into()
            }
        );
        let images = relay_of("POST", "/v1/images/generations");
        assert_eq!(
            plan_call(&images, served, "/v1/images/generations"),
            CallPlan::Native {
                path: "/custom/v1/images/generations".into()
            }
        );
        // An override can also add what the platform lacks (Sub2API builds with chat).
        let with_chat = overridden(serde_json::json!([
            {"dialect": "anthropic-messages"}, {"dialect": "openai-chat"}
        ]));
        assert_eq!(
            plan_call(
                &chat,
                Served::of("sub2api", Some(&with_chat)),
                "/v1/chat/completions"
            ),
            CallPlan::Native {
                path: "/v1/chat/completions".into()
            }
        );
    }
}

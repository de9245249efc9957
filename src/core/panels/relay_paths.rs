//! Which wire dialects each platform serves, and under which path prefix.
//! A dialect missing from a platform's row is not served natively: the relay converts instead.

use crate::core::dialect::Dialect;
use crate::core::error::GatewayError;
use crate::core::platform::Platform;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use Dialect::{AnthropicMessages, Gemini, OpenAiChat, OpenAiCompletions, OpenAiResponses};

/// Standard roots: everything the New API line of panels serves natively.
const NEW_API: &[(Dialect, &str)] = &[
    (OpenAiChat, "/v1"),
    (OpenAiCompletions, "/v1"),
    (OpenAiResponses, "/v1"),
    (AnthropicMessages, "/v1"),
    (Gemini, "/v1beta"),
];
/// OpenAI routes only: no `/v1/messages`, no `/v1beta`, no responses.
const ONE_API: &[(Dialect, &str)] = &[(OpenAiChat, "/v1"), (OpenAiCompletions, "/v1")];
/// Claude at `/claude/v1/messages`, Gemini at `/gemini/{version}/models/…`.
const ONE_HUB: &[(Dialect, &str)] = &[
    (OpenAiChat, "/v1"),
    (OpenAiCompletions, "/v1"),
    (OpenAiResponses, "/v1"),
    (AnthropicMessages, "/claude/v1"),
    (Gemini, "/gemini/v1beta"),
];
/// Veloera `router/relay-router.go`: chat, completions, `/v1/responses` and `/v1/messages`; no
/// Gemini route.
const VELOERA: &[(Dialect, &str)] = &[
    (OpenAiChat, "/v1"),
    (OpenAiCompletions, "/v1"),
    (OpenAiResponses, "/v1"),
    (AnthropicMessages, "/v1"),
];
/// Mostly Claude Code traffic; chat completions as New API.
const ANYROUTER: &[(Dialect, &str)] = &[(AnthropicMessages, "/v1"), (OpenAiChat, "/v1")];
/// Claude-native; chat completions exist only in builds after Dec 2025 (add per station).
const SUB2API: &[(Dialect, &str)] = &[
    (AnthropicMessages, "/v1"),
    (OpenAiResponses, "/v1"),
    (Gemini, "/v1beta"),
];
const OPENAI_CHAT: &[(Dialect, &str)] = &[(OpenAiChat, "/v1")];
const ANTHROPIC: &[(Dialect, &str)] = &[(AnthropicMessages, "/v1")];
const GEMINI: &[(Dialect, &str)] = &[(Gemini, "/v1beta")];
const OPENAI: &[(Dialect, &str)] = &[
    (OpenAiChat, "/v1"),
    (OpenAiCompletions, "/v1"),
    (OpenAiResponses, "/v1"),
];
/// Google also serves OpenAI chat under `/v1beta/openai`.
const GOOGLE: &[(Dialect, &str)] = &[(Gemini, "/v1beta"), (OpenAiChat, "/v1beta/openai")];
/// Vendors with an Anthropic-compatible endpoint under `/anthropic`.
const WITH_ANTHROPIC_ROOT: &[(Dialect, &str)] =
    &[(OpenAiChat, "/v1"), (AnthropicMessages, "/anthropic/v1")];
const ZHIPU: &[(Dialect, &str)] = &[
    (OpenAiChat, "/api/paas/v4"),
    (AnthropicMessages, "/api/anthropic/v1"),
];
const DASHSCOPE: &[(Dialect, &str)] = &[(OpenAiChat, "/compatible-mode/v1")];
const ARK: &[(Dialect, &str)] = &[(OpenAiChat, "/api/v3")];

/// The dialects `platform` serves and the prefix each lives under. The prefix replaces the
/// dialect's standard root ([`standard_root`]): OneHub serves `/v1/messages` as
/// `/claude/v1/messages`, Zhipu `/v1/chat/completions` as `/api/paas/v4/chat/completions`.
/// The first row of a generic platform is its primary API. A station may override the whole
/// row ([`Served::Override`]).
pub fn dialects(platform: Platform) -> &'static [(Dialect, &'static str)] {
    match platform {
        Platform::NewApi => NEW_API,
        Platform::OneApi => ONE_API,
        Platform::OneHub | Platform::DoneHub => ONE_HUB,
        Platform::Veloera => VELOERA,
        Platform::AnyRouter => ANYROUTER,
        Platform::Sub2Api => SUB2API,
        Platform::OpenAiCompatible | Platform::ModelScope => OPENAI_CHAT,
        Platform::AnthropicCompatible | Platform::Anthropic => ANTHROPIC,
        Platform::GeminiCompatible => GEMINI,
        Platform::OpenAi => OPENAI,
        Platform::Gemini => GOOGLE,
        Platform::DeepSeek | Platform::Moonshot | Platform::MiniMax => WITH_ANTHROPIC_ROOT,
        Platform::Zhipu => ZHIPU,
        Platform::Aliyun => DASHSCOPE,
        Platform::Doubao => ARK,
    }
}

/// The dialects one key serves when they differ from its station's platform table (None: the
/// table). A Sub2API key serves what its group's platform does (Sub2API
/// `backend/internal/server/routes/gateway.go` and `handler/gateway_handler.go` Messages: Claude
/// groups `/v1/messages`, OpenAI groups `/v1/responses`, Gemini groups `/v1beta` and `/v1/messages`
/// through its Gemini compatibility path); dialects the panel's admin `switched_off` are dropped.
pub fn key_dialects(
    platform: Platform,
    key_platform: &str,
    switched_off: &[Dialect],
) -> Option<Vec<DialectRoute>> {
    let rows: &[(Dialect, &str)] = match (platform, key_platform) {
        (Platform::Sub2Api, "anthropic") => &[(AnthropicMessages, "/v1")],
        (Platform::Sub2Api, "openai") => &[(OpenAiResponses, "/v1")],
        (Platform::Sub2Api, "gemini") => &[(Gemini, "/v1beta"), (AnthropicMessages, "/v1")],
        _ => dialects(platform),
    };
    let kept: Vec<(Dialect, &str)> = rows
        .iter()
        .filter(|(d, _)| !switched_off.contains(d))
        .copied()
        .collect();
    if kept.is_empty() || kept == dialects(platform) {
        return None;
    }
    Some(
        kept.into_iter()
            .map(|(dialect, prefix)| DialectRoute {
                dialect,
                prefix: prefix.into(),
            })
            .collect(),
    )
}

/// The version root of a dialect's standard paths (`/v1/chat/completions`, `/v1beta/models/…`).
pub fn standard_root(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Gemini => "/v1beta",
        _ => "/v1",
    }
}

/// One row of a station's dialect override: a dialect it serves natively, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialectRoute {
    pub dialect: Dialect,
    /// Replaces the dialect's standard root, like the prefixes of [`dialects`].
    pub prefix: String,
}

/// The dialects one channel serves natively, with their prefixes: its station's override, or
/// its platform's defaults. The one place paths and conversion targets are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served<'a> {
    Platform(Platform),
    /// The station's own list (validated by [`parse_override`]; never empty).
    Override(&'a [DialectRoute]),
}

impl<'a> Served<'a> {
    /// A station's table: its override if it has one, else its platform's defaults (unknown
    /// platform names are treated as New API, which serves every dialect).
    pub fn of(platform: &str, dialects: Option<&'a [DialectRoute]>) -> Served<'a> {
        match dialects {
            Some(rows) => Served::Override(rows),
            None => Served::Platform(Platform::parse(platform).unwrap_or(Platform::NewApi)),
        }
    }

    /// The prefix `dialect` is served under, if it is served natively.
    pub fn prefix(self, dialect: Dialect) -> Option<&'a str> {
        match self {
            Served::Platform(platform) => dialects(platform)
                .iter()
                .find(|(d, _)| *d == dialect)
                .map(|(_, p)| *p),
            Served::Override(rows) => rows
                .iter()
                .find(|r| r.dialect == dialect)
                .map(|r| r.prefix.as_str()),
        }
    }

    /// The primary dialect: what calls in an unserved dialect are converted to.
    pub fn primary(self) -> Option<Dialect> {
        match self {
            Served::Platform(platform) => dialects(platform).first().map(|(d, _)| *d),
            Served::Override(rows) => rows.first().map(|r| r.dialect),
        }
    }

    /// Rewrites a standard path (as clients call it) to the path this channel serves it at.
    pub fn upstream_path(self, dialect: Dialect, standard_path: &str) -> Option<String> {
        let rest = standard_path.strip_prefix(standard_root(dialect))?;
        Some(format!("{}{rest}", self.prefix(dialect)?))
    }
}

/// The longest prefix an override may set.
const MAX_PREFIX_CHARS: usize = 200;

/// Validates a station's `dialects` field: `null` means the platform's defaults; otherwise a
/// non-empty list of `{ "dialect": …, "prefix": "/…" }`, each dialect once, the prefix
/// optional (the dialect's standard root). Trailing slashes of a prefix are dropped.
pub fn parse_override(value: &Value) -> Result<Option<Vec<DialectRoute>>, GatewayError> {
    let bad = |m: String| GatewayError::InvalidRequest(m);
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) if items.is_empty() => {
            return Err(bad(
                "`dialects` must not be empty; null restores the platform's defaults".into(),
            ))
        }
        Value::Array(items) => items,
        _ => {
            return Err(bad(
                "`dialects` must be a list of {\"dialect\", \"prefix\"} or null".into(),
            ))
        }
    };
    let mut rows: Vec<DialectRoute> = Vec::with_capacity(items.len());
    for item in items {
        let Some(fields) = item.as_object() else {
            return Err(bad(
                "each `dialects` entry must be an object {\"dialect\", \"prefix\"}".into(),
            ));
        };
        if let Some(unknown) = fields.keys().find(|k| *k != "dialect" && *k != "prefix") {
            return Err(bad(format!(
                "unknown field `{unknown}` in a `dialects` entry; expected `dialect` and `prefix`"
            )));
        }
        let name = fields.get("dialect").and_then(Value::as_str).unwrap_or("");
        let dialect = Dialect::parse(name).ok_or_else(|| {
            bad(format!(
                "unknown dialect `{name}` in `dialects`; one of {}",
                Dialect::names()
            ))
        })?;
        if rows.iter().any(|r| r.dialect == dialect) {
            return Err(bad(format!(
                "dialect `{name}` is listed twice in `dialects`"
            )));
        }
        let prefix = match fields.get("prefix") {
            None | Some(Value::Null) => standard_root(dialect).to_string(),
            Some(Value::String(p))
                if p.starts_with('/')
                    && p.chars().count() <= MAX_PREFIX_CHARS
                    && !p.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') =>
            {
                p.trim_end_matches('/').to_string()
            }
            Some(_) => {
                return Err(bad(format!(
                    "the `prefix` of `{name}` must be a path starting with `/` (at most \
                     {MAX_PREFIX_CHARS} characters, no spaces, `?` or `#`)"
                )))
            }
        };
        rows.push(DialectRoute { dialect, prefix });
    }
    Ok(Some(rows))
}

/// The override as stored in D1 (JSON text), `None` for the platform's defaults.
pub fn stored_override(rows: Option<&[DialectRoute]>) -> Result<Option<String>, GatewayError> {
    rows.map(serde_json::to_string)
        .transpose()
        .map_err(|e| GatewayError::Internal(format!("dialects encoding: {e}")))
}

/// Reads an override from a D1 row (JSON text) or from JSON (a list), `null` as none. Text that
/// does not parse (it was validated when written) falls back to the platform's defaults.
pub fn deserialize_override<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<DialectRoute>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Rows(Vec<DialectRoute>),
        Text(String),
    }
    Ok(match Option::<Stored>::deserialize(deserializer)? {
        Some(Stored::Rows(rows)) => Some(rows),
        Some(Stored::Text(text)) => serde_json::from_str(&text).ok(),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upstream_path(platform: Platform, dialect: Dialect, path: &str) -> Option<String> {
        Served::Platform(platform).upstream_path(dialect, path)
    }

    fn prefix(platform: Platform, dialect: Dialect) -> Option<&'static str> {
        Served::Platform(platform).prefix(dialect)
    }

    fn invalid(value: Value) -> String {
        match parse_override(&value) {
            Err(GatewayError::InvalidRequest(m)) => m,
            other => panic!("{value}: {other:?}"),
        }
    }

    #[test]
    fn an_override_replaces_the_platform_table() {
        let rows = parse_override(&json!([
            {"dialect": "openai-responses"},
            {"dialect": "anthropic-messages", "prefix": "/custom/v1/"},
            {"dialect": "gemini", "prefix": null}
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            rows,
            vec![
                DialectRoute {
                    dialect: OpenAiResponses,
                    prefix: "/v1".into()
                },
                DialectRoute {
                    dialect: AnthropicMessages,
                    prefix: "/custom/v1".into()
                },
                DialectRoute {
                    dialect: Gemini,
                    prefix: "/v1beta".into()
                },
            ]
        );
        let served = Served::of("openai-compatible", Some(&rows));
        assert_eq!(served.primary(), Some(OpenAiResponses));
        assert_eq!(
            served.prefix(OpenAiChat),
            None,
            "the platform's row is gone"
        );
        assert_eq!(
            served
                .upstream_path(AnthropicMessages, "/v1/messages?beta=true")
                .as_deref(),
            Some("/custom/v1/messages?beta=true")
        );
        let defaults = Served::of("openai-compatible", None);
        assert_eq!(defaults, Served::Platform(Platform::OpenAiCompatible));
        assert_eq!(defaults.primary(), Some(OpenAiChat));
        assert_eq!(
            Served::of("no-such-kind", None),
            Served::Platform(Platform::NewApi)
        );
        assert_eq!(parse_override(&Value::Null).unwrap(), None);
    }

    #[test]
    fn bad_overrides_are_refused_with_the_reason() {
        assert!(invalid(json!([])).contains("must not be empty"));
        assert!(invalid(json!("openai-chat")).contains("must be a list"));
        assert!(invalid(json!(["openai-chat"])).contains("must be an object"));
        let unknown = invalid(json!([{"dialect": "openai"}]));
        assert!(
            unknown.contains("unknown dialect `openai`") && unknown.contains("openai-responses"),
            "{unknown}"
        );
        assert!(invalid(json!([{}])).contains("unknown dialect ``"));
        assert!(invalid(json!([{"dialect": "gemini", "prefix": "v1beta"}]))
            .contains("the `prefix` of `gemini` must be a path starting with `/`"));
        assert!(invalid(json!([{"dialect": "gemini", "prefix": 3}])).contains("`prefix`"));
        assert!(invalid(json!([{"dialect": "gemini", "prefix": "/a b"}])).contains("`prefix`"));
        assert!(invalid(
            json!([{"dialect": "openai-chat"}, {"dialect": "openai-chat", "prefix": "/x"}])
        )
        .contains("`openai-chat` is listed twice"));
        assert!(
            invalid(json!([{"dialect": "gemini", "path": "/x"}])).contains("unknown field `path`")
        );
    }

    #[test]
    fn overrides_round_trip_through_d1_text_and_json() {
        #[derive(Deserialize)]
        struct Row {
            #[serde(default, deserialize_with = "deserialize_override")]
            dialects: Option<Vec<DialectRoute>>,
        }
        let rows = parse_override(&json!([{"dialect": "gemini", "prefix": "/g/v1beta"}]))
            .unwrap()
            .unwrap();
        let text = stored_override(Some(&rows)).unwrap().unwrap();
        assert_eq!(text, r#"[{"dialect":"gemini","prefix":"/g/v1beta"}]"#);
        let read = |v: Value| serde_json::from_value::<Row>(v).unwrap().dialects;
        assert_eq!(read(json!({"dialects": text})), Some(rows.clone()));
        assert_eq!(read(json!({"dialects": rows})), Some(rows));
        assert_eq!(read(json!({"dialects": null})), None);
        assert_eq!(read(json!({})), None);
        assert_eq!(
            read(json!({"dialects": "not json"})),
            None,
            "defaults, not an error"
        );
        assert_eq!(stored_override(None).unwrap(), None);
    }

    #[test]
    fn onehub_serves_claude_and_gemini_under_their_own_prefixes() {
        assert_eq!(
            upstream_path(Platform::OneHub, AnthropicMessages, "/v1/messages").as_deref(),
            Some("/claude/v1/messages")
        );
        assert_eq!(
            upstream_path(
                Platform::DoneHub,
                Gemini,
                "/v1beta/models/gemini-2.5-pro:generateContent"
            )
            .as_deref(),
            Some("/gemini/v1beta/models/gemini-2.5-pro:generateContent")
        );
        assert_eq!(
            upstream_path(Platform::NewApi, AnthropicMessages, "/v1/messages").as_deref(),
            Some("/v1/messages")
        );
    }

    #[test]
    fn missing_dialects_mean_conversion() {
        assert_eq!(prefix(Platform::OneApi, AnthropicMessages), None);
        assert_eq!(prefix(Platform::Veloera, Gemini), None);
        assert_eq!(prefix(Platform::Veloera, OpenAiResponses), Some("/v1"));
        assert_eq!(prefix(Platform::Sub2Api, OpenAiChat), None);
        assert_eq!(
            upstream_path(Platform::OneApi, Gemini, "/v1beta/models/x"),
            None
        );
        // A path outside the dialect's standard root is not rewritten.
        assert_eq!(
            upstream_path(Platform::NewApi, OpenAiChat, "/chat/completions"),
            None
        );
    }

    #[test]
    fn a_key_serves_its_groups_platform_and_not_what_the_admin_switched_off() {
        let only = |rows: Option<Vec<DialectRoute>>| -> Vec<Dialect> {
            rows.unwrap().into_iter().map(|r| r.dialect).collect()
        };
        assert_eq!(
            only(key_dialects(Platform::Sub2Api, "gemini", &[])),
            vec![Gemini, AnthropicMessages]
        );
        assert_eq!(
            only(key_dialects(Platform::Sub2Api, "anthropic", &[])),
            vec![AnthropicMessages]
        );
        assert_eq!(
            only(key_dialects(Platform::Sub2Api, "openai", &[])),
            vec![OpenAiResponses]
        );
        // An unknown group platform keeps the station's table.
        assert_eq!(key_dialects(Platform::Sub2Api, "antigravity", &[]), None);
        assert_eq!(key_dialects(Platform::NewApi, "", &[]), None);
        let done_hub = key_dialects(Platform::DoneHub, "", &[AnthropicMessages]).unwrap();
        assert!(done_hub.iter().all(|r| r.dialect != AnthropicMessages));
        assert_eq!(
            Served::Override(&done_hub).prefix(Gemini),
            Some("/gemini/v1beta")
        );
    }

    #[test]
    fn vendor_roots() {
        assert_eq!(
            upstream_path(Platform::Zhipu, OpenAiChat, "/v1/chat/completions").as_deref(),
            Some("/api/paas/v4/chat/completions")
        );
        assert_eq!(
            upstream_path(Platform::Aliyun, OpenAiChat, "/v1/chat/completions").as_deref(),
            Some("/compatible-mode/v1/chat/completions")
        );
        assert_eq!(
            upstream_path(Platform::Doubao, OpenAiChat, "/v1/chat/completions").as_deref(),
            Some("/api/v3/chat/completions")
        );
        assert_eq!(
            upstream_path(Platform::DeepSeek, AnthropicMessages, "/v1/messages").as_deref(),
            Some("/anthropic/v1/messages")
        );
        assert_eq!(
            upstream_path(Platform::Gemini, OpenAiChat, "/v1/chat/completions").as_deref(),
            Some("/v1beta/openai/chat/completions")
        );
    }

    #[test]
    fn every_platform_serves_something() {
        for p in Platform::ALL {
            assert!(!dialects(p).is_empty(), "{}", p.as_str());
        }
    }
}

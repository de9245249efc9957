//! Which wire dialects each platform serves, and under which path prefix (upstream-panels.md §10).
//! A dialect missing from a platform's row is not served natively: the relay converts instead.

use crate::core::dialect::Dialect;
use crate::core::station::Platform;
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
/// No Gemini route in Veloera's router.
const VELOERA: &[(Dialect, &str)] = &[
    (OpenAiChat, "/v1"),
    (OpenAiCompletions, "/v1"),
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
/// The first row of a generic platform is its primary API. Stations may override this later.
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

/// The version root of a dialect's standard paths (`/v1/chat/completions`, `/v1beta/models/…`).
pub fn standard_root(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Gemini => "/v1beta",
        _ => "/v1",
    }
}

/// The prefix `platform` serves `dialect` under, if it serves it natively.
pub fn prefix(platform: Platform, dialect: Dialect) -> Option<&'static str> {
    dialects(platform)
        .iter()
        .find(|(d, _)| *d == dialect)
        .map(|(_, p)| *p)
}

/// Rewrites a standard path (as clients call it) to the path `platform` serves it at.
pub fn upstream_path(platform: Platform, dialect: Dialect, standard_path: &str) -> Option<String> {
    let rest = standard_path.strip_prefix(standard_root(dialect))?;
    Some(format!("{}{rest}", prefix(platform, dialect)?))
}

#[cfg(test)]
mod tests {
    use super::*;

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

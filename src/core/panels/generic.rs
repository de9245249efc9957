//! OpenAI-, Anthropic- and Gemini-compatible providers (base URL + API key) and the official
//! vendors as presets of them: default base URLs, and models from the dialect's models list.

use super::credential::Credential;
use super::exchange::{excerpt, PanelError, PanelRequest};
use super::relay_paths;
use crate::core::dialect::Dialect;
use crate::core::platform::Platform;
use serde_json::Value;

/// Anthropic's API version header value for the models list.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The largest page both Anthropic (`limit`) and Gemini (`pageSize`) allow: one call lists all.
const MODELS_PAGE_SIZE: usize = 1000;

/// Which models-list API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelsApi {
    /// `GET {root}/models`, `Authorization: Bearer`, `data[].id`.
    OpenAi,
    /// `GET /v1/models`, `x-api-key` + `anthropic-version`, `data[].id`.
    Anthropic,
    /// `GET /v1beta/models`, `x-goog-api-key`, `models[].name` = `models/<id>`.
    Gemini,
}

/// A generic provider: which models API it speaks and under which root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenericApi {
    pub models: ModelsApi,
    /// The primary dialect's prefix, e.g. `/v1`, `/api/paas/v4`, `/v1beta`.
    pub root: &'static str,
}

impl GenericApi {
    /// The OpenAI models list under `/v1`, which every relay panel serves to its keys.
    pub const OPENAI_V1: GenericApi = GenericApi {
        models: ModelsApi::OpenAi,
        root: "/v1",
    };
    /// Gemini's models list under `/v1beta`.
    pub const GEMINI_V1BETA: GenericApi = GenericApi {
        models: ModelsApi::Gemini,
        root: "/v1beta",
    };

    /// The platform's primary API (first row of its dialect table).
    pub fn for_platform(platform: Platform) -> GenericApi {
        let (dialect, root) = relay_paths::dialects(platform)
            .first()
            .copied()
            .unwrap_or((Dialect::OpenAiChat, "/v1"));
        let models = match dialect {
            Dialect::AnthropicMessages => ModelsApi::Anthropic,
            Dialect::Gemini => ModelsApi::Gemini,
            _ => ModelsApi::OpenAi,
        };
        GenericApi { models, root }
    }

    pub fn models_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        let Credential::ApiKey { key } = cred else {
            return Err(PanelError::Credential(
                "API providers need an API key".into(),
            ));
        };
        let (path, auth) = match self.models {
            ModelsApi::OpenAi => (
                format!("{}/models", self.root),
                vec![("Authorization", format!("Bearer {key}"))],
            ),
            ModelsApi::Anthropic => (
                format!("{}/models?limit={MODELS_PAGE_SIZE}", self.root),
                vec![
                    ("x-api-key", key.clone()),
                    ("anthropic-version", ANTHROPIC_VERSION.into()),
                ],
            ),
            ModelsApi::Gemini => (
                format!("{}/models?pageSize={MODELS_PAGE_SIZE}", self.root),
                vec![("x-goog-api-key", key.clone())],
            ),
        };
        let mut headers = auth;
        headers.push(("Accept", "application/json".into()));
        Ok(PanelRequest {
            method: "GET",
            path,
            headers,
            body: None,
        })
    }

    pub fn parse_models(&self, status: u16, body: &str) -> Result<Vec<String>, PanelError> {
        parse_model_list(status, body, self.models)
    }
}

/// The default base URL of an official vendor; None for the generic kinds and the panels.
pub fn default_base_url(platform: Platform) -> Option<&'static str> {
    Some(match platform {
        Platform::OpenAi => "https://api.openai.com",
        Platform::Anthropic => "https://api.anthropic.com",
        Platform::Gemini => "https://generativelanguage.googleapis.com",
        Platform::DeepSeek => "https://api.deepseek.com",
        Platform::Moonshot => "https://api.moonshot.cn",
        Platform::Zhipu => "https://open.bigmodel.cn",
        Platform::Aliyun => "https://dashscope.aliyuncs.com",
        Platform::Doubao => "https://ark.cn-beijing.volces.com",
        Platform::MiniMax => "https://api.minimax.io",
        Platform::ModelScope => "https://api-inference.modelscope.cn",
        _ => return None,
    })
}

/// Model ids from a models list, sorted and deduplicated. All three dialects put the reason of
/// an error in `error.message`; Gemini reports a bad key as HTTP 400 `API_KEY_INVALID`.
pub fn parse_model_list(
    status: u16,
    body: &str,
    api: ModelsApi,
) -> Result<Vec<String>, PanelError> {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = || {
        parsed
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str().or(v["message"].as_str()))
            .map_or_else(|| format!("HTTP {status}"), str::to_owned)
    };
    let bad_gemini_key = status == 400 && body.contains("API_KEY_INVALID");
    match status {
        401 | 403 => return Err(PanelError::Auth(message())),
        _ if bad_gemini_key => return Err(PanelError::Auth(message())),
        404 => return Err(PanelError::NotSupported(excerpt(body))),
        200..=299 => {}
        _ => return Err(PanelError::Http(status)),
    }
    let v = parsed.ok_or_else(|| PanelError::Malformed(excerpt(body)))?;
    let (list, field) = match api {
        ModelsApi::OpenAi | ModelsApi::Anthropic => (&v["data"], "id"),
        ModelsApi::Gemini => (&v["models"], "name"),
    };
    let list = list
        .as_array()
        .ok_or_else(|| PanelError::Malformed("models list without its array".into()))?;
    let mut ids: Vec<String> = list
        .iter()
        .filter(|m| serves_generation(m))
        .filter_map(|m| m[field].as_str())
        .map(|id| id.strip_prefix("models/").unwrap_or(id).to_string())
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Gemini lists embedding-only models too; keep those that can generate content.
fn serves_generation(model: &Value) -> bool {
    model["supportedGenerationMethods"]
        .as_array()
        .is_none_or(|methods| {
            methods
                .iter()
                .any(|m| m.as_str() == Some("generateContent"))
        })
}

#[cfg(test)]
mod tests {
    use super::super::PanelAdapter;
    use super::*;

    fn key() -> Credential {
        Credential::ApiKey { key: "sk-k".into() }
    }

    #[test]
    fn each_dialect_lists_models_its_own_way() {
        let openai = PanelAdapter::for_platform(Platform::Zhipu)
            .models_request(&key())
            .unwrap();
        assert_eq!(openai.path, "/api/paas/v4/models");
        assert_eq!(
            openai.headers[0],
            ("Authorization", "Bearer sk-k".to_string())
        );
        let anthropic = PanelAdapter::for_platform(Platform::Anthropic)
            .models_request(&key())
            .unwrap();
        assert_eq!(anthropic.path, "/v1/models?limit=1000");
        assert!(anthropic
            .headers
            .contains(&("x-api-key", "sk-k".to_string())));
        assert!(anthropic
            .headers
            .contains(&("anthropic-version", "2023-06-01".to_string())));
        let gemini = PanelAdapter::for_platform(Platform::GeminiCompatible)
            .models_request(&key())
            .unwrap();
        assert_eq!(gemini.path, "/v1beta/models?pageSize=1000");
        assert_eq!(gemini.headers[0], ("x-goog-api-key", "sk-k".to_string()));
        assert_eq!(
            PanelAdapter::for_platform(Platform::Aliyun)
                .models_request(&key())
                .unwrap()
                .path,
            "/compatible-mode/v1/models"
        );
    }

    #[test]
    fn model_lists_parse_per_dialect() {
        let parse =
            |p: Platform, status, body| PanelAdapter::for_platform(p).parse_models(status, body);
        assert_eq!(
            parse(Platform::OpenAi, 200, fixture!("openai_models.json")).unwrap(),
            vec!["gpt-4o", "gpt-4o-mini"]
        );
        assert_eq!(
            parse(
                Platform::AnthropicCompatible,
                200,
                fixture!("anthropic_models.json")
            )
            .unwrap(),
            vec!["claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929"]
        );
        // The embedding-only model is left out.
        assert_eq!(
            parse(Platform::Gemini, 200, fixture!("gemini_models.json")).unwrap(),
            vec!["gemini-2.5-flash", "gemini-2.5-pro"]
        );
        assert!(matches!(
            parse(Platform::Gemini, 200, fixture!("openai_models.json")),
            Err(PanelError::Malformed(_))
        ));
        assert!(matches!(
            parse(Platform::OpenAi, 200, "not json"),
            Err(PanelError::Malformed(_))
        ));
    }

    #[test]
    fn bad_keys_are_auth_errors_in_every_dialect() {
        let parse =
            |p: Platform, status, body| PanelAdapter::for_platform(p).parse_models(status, body);
        assert!(matches!(
            parse(Platform::DeepSeek, 401, fixture!("openai_unauthorized.json")),
            Err(PanelError::Auth(m)) if m.starts_with("Incorrect API key")
        ));
        assert_eq!(
            parse(
                Platform::Anthropic,
                401,
                fixture!("anthropic_unauthorized.json")
            ),
            Err(PanelError::Auth("invalid x-api-key".into()))
        );
        assert_eq!(
            parse(Platform::Gemini, 400, fixture!("gemini_bad_key.json")),
            Err(PanelError::Auth(
                "API key not valid. Please pass a valid API key.".into()
            ))
        );
        assert_eq!(
            parse(Platform::OpenAi, 500, "{}"),
            Err(PanelError::Http(500))
        );
    }

    #[test]
    fn presets_and_what_providers_lack() {
        assert_eq!(
            default_base_url(Platform::Doubao),
            Some("https://ark.cn-beijing.volces.com")
        );
        assert_eq!(default_base_url(Platform::OpenAiCompatible), None);
        assert_eq!(default_base_url(Platform::NewApi), None);
        let a = PanelAdapter::for_platform(Platform::MiniMax);
        assert!(a.status_request().is_none());
        assert!(matches!(
            a.self_request(&key()),
            Err(PanelError::NotSupported(_))
        ));
        assert!(matches!(
            a.tokens_request(&key(), 1),
            Err(PanelError::NotSupported(_))
        ));
        assert!(matches!(
            a.checkin_request(&key()),
            Err(PanelError::NotSupported(_))
        ));
        let token = Credential::access_token("t", "1");
        assert!(matches!(
            a.models_request(&token),
            Err(PanelError::Credential(_))
        ));
    }
}

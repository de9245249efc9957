//! `POST /api/provider/detect`, the pure part: which probes to make against a base URL and which
//! platform the answers point to, by the field-based rules of upstream-panels.md §8 (never by a
//! page title). The shell loops: `detect(url, &answers)` → `Probe(request)` → fetch → push the
//! answer → again, until `Done(detection)`. At most three probes.

use super::family::{self, bearer};
use super::{anyrouter, new_api, PanelError, PanelRequest};
use crate::core::station::Platform;
use serde_json::Value;

const STATUS_PATH: &str = "/api/status";
const SUB2API_SETTINGS_PATH: &str = "/api/v1/settings/public";
const MODELS_PATH: &str = "/v1/models";

/// The answer to one probe, as fetched by the shell.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeAnswer {
    /// The probe request's path.
    pub path: String,
    pub status: u16,
    pub body: String,
}

/// The platform the evidence points to (None: no rule matched), and why, for the admin.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub platform: Option<Platform>,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DetectStep {
    Probe(PanelRequest),
    Done(Detection),
}

fn done(platform: Option<Platform>, evidence: &str) -> DetectStep {
    DetectStep::Done(Detection {
        platform,
        evidence: evidence.to_string(),
    })
}

fn probe(path: &str) -> DetectStep {
    DetectStep::Probe(PanelRequest {
        method: "GET",
        path: path.to_string(),
        headers: vec![("Accept", "application/json".into())],
        body: None,
    })
}

/// The next probe to make, or the verdict once the answers so far decide it.
pub fn detect(base_url: &str, answers: &[ProbeAnswer]) -> DetectStep {
    let host = host_of(base_url);
    if let Some(vendor) = vendor_by_host(&host) {
        return done(Some(vendor), "official API host");
    }
    let answer = |path: &str| answers.iter().find(|a| a.path == path);
    let Some(status) = answer(STATUS_PATH) else {
        return DetectStep::Probe(family::status_request());
    };
    let on_anyrouter = host.contains("anyrouter");
    if anyrouter::is_waf_challenge(&status.body) {
        return if on_anyrouter {
            done(
                Some(Platform::AnyRouter),
                "WAF challenge on an anyrouter host",
            )
        } else {
            done(
                None,
                "the station answers with a WAF challenge page; choose the kind by hand",
            )
        };
    }
    if let Some(data) = status_data(status) {
        return classify_status_fields(&data, on_anyrouter);
    }
    // No panel status: Sub2API answers its public settings, generic APIs their models list.
    let Some(settings) = answer(SUB2API_SETTINGS_PATH) else {
        return probe(SUB2API_SETTINGS_PATH);
    };
    if json(&settings.body).is_some_and(|v| v["code"].as_i64() == Some(0) && v["data"].is_object())
    {
        return done(
            Some(Platform::Sub2Api),
            "no /api/status; /api/v1/settings/public answers code 0",
        );
    }
    let Some(models) = answer(MODELS_PATH) else {
        return probe(MODELS_PATH);
    };
    classify_models_probe(models)
}

/// `data` of a successful `/api/status` envelope.
fn status_data(answer: &ProbeAnswer) -> Option<Value> {
    let v = json(&answer.body)?;
    (answer.status == 200 && v["success"].as_bool() == Some(true) && v["data"].is_object())
        .then(|| v["data"].clone())
}

/// §8's field rules, most specific fork first (Veloera and DoneHub also carry their parents' fields).
fn classify_status_fields(data: &Value, on_anyrouter: bool) -> DetectStep {
    let has = |field: &str| data.get(field).is_some();
    if has("check_in_enabled") || data["system_name"].as_str() == Some("Veloera") {
        return done(
            Some(Platform::Veloera),
            "/api/status has check_in_enabled or system_name Veloera",
        );
    }
    if has("GeminiAPIEnabled") || has("linuxDo_oauth") || has("invite_code_register") {
        return done(Some(Platform::DoneHub), "/api/status has DoneHub fields (GeminiAPIEnabled, linuxDo_oauth, invite_code_register)");
    }
    if has("PaymentUSDRate") || has("chat_links") {
        return done(
            Some(Platform::OneHub),
            "/api/status has PaymentUSDRate or chat_links",
        );
    }
    if [
        "checkin_enabled",
        "quota_display_type",
        "setup",
        "price",
        "docs_link",
    ]
    .iter()
    .any(|f| has(f))
    {
        return if on_anyrouter {
            done(
                Some(Platform::AnyRouter),
                "New API status fields on an anyrouter host",
            )
        } else {
            done(Some(Platform::NewApi), "/api/status has New API fields (checkin_enabled, quota_display_type, setup, price, docs_link)")
        };
    }
    if has("chat_link") && has("oidc") {
        return done(
            Some(Platform::OneApi),
            "/api/status has chat_link and oidc without New API or OneHub fields",
        );
    }
    done(
        None,
        "/api/status answers, but with no field that identifies the panel",
    )
}

/// The unauthenticated `/v1/models` error names the dialect: Anthropic's `type:error`,
/// Google's `error.status`, Sub2API's string `code`, OpenAI's `error.message`.
fn classify_models_probe(models: &ProbeAnswer) -> DetectStep {
    let Some(v) = json(&models.body) else {
        return done(None, "neither /api/status nor /v1/models answers JSON");
    };
    if matches!(
        v["code"].as_str(),
        Some("API_KEY_REQUIRED" | "UNAUTHORIZED" | "INVALID_API_KEY")
    ) {
        return done(
            Some(Platform::Sub2Api),
            "/v1/models answers Sub2API's API_KEY_REQUIRED",
        );
    }
    if v["type"].as_str() == Some("error") && v["error"]["type"].is_string() {
        return done(
            Some(Platform::AnthropicCompatible),
            "/v1/models answers an Anthropic error",
        );
    }
    if v["error"]["status"].is_string() {
        return done(
            Some(Platform::GeminiCompatible),
            "/v1/models answers a Google-style error",
        );
    }
    if v["error"]["message"].is_string() || v["data"].is_array() {
        return done(
            Some(Platform::OpenAiCompatible),
            "/v1/models answers in OpenAI's shape",
        );
    }
    done(None, "/v1/models answers JSON of no known dialect")
}

fn json(body: &str) -> Option<Value> {
    serde_json::from_str(body).ok()
}

/// The host of `http(s)://host[:port]/…`, lowercased, without the port.
fn host_of(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Official vendors are known by their API host alone.
fn vendor_by_host(host: &str) -> Option<Platform> {
    const HOSTS: [(&str, Platform); 13] = [
        ("api.openai.com", Platform::OpenAi),
        ("api.anthropic.com", Platform::Anthropic),
        ("generativelanguage.googleapis.com", Platform::Gemini),
        ("api.deepseek.com", Platform::DeepSeek),
        ("api.moonshot.cn", Platform::Moonshot),
        ("api.moonshot.ai", Platform::Moonshot),
        ("open.bigmodel.cn", Platform::Zhipu),
        ("dashscope.aliyuncs.com", Platform::Aliyun),
        ("dashscope-intl.aliyuncs.com", Platform::Aliyun),
        ("volces.com", Platform::Doubao),
        ("api.minimax.io", Platform::MiniMax),
        ("api.minimaxi.com", Platform::MiniMax),
        ("api-inference.modelscope.cn", Platform::ModelScope),
    ];
    HOSTS
        .iter()
        .find(|(known, _)| host == *known || host.ends_with(&format!(".{known}")))
        .map(|(_, p)| *p)
}

/// The credentialed confirmation probe: `/api/user/self` with an access token and no user header.
pub fn user_header_probe(access_token: &str) -> PanelRequest {
    PanelRequest {
        method: "GET",
        path: "/api/user/self".into(),
        headers: vec![bearer(access_token), ("Accept", "application/json".into())],
        body: None,
    }
}

/// Which user-id header the panel demands: `New-Api-User` (New API line), `Veloera-User`
/// (Veloera), or none when the call succeeded without one (One API, OneHub, DoneHub).
pub fn required_user_header(status: u16, body: &str) -> Result<Option<&'static str>, PanelError> {
    match family::parse_envelope(status, body) {
        Ok(_) => Ok(None),
        Err(PanelError::Auth(m)) if m.contains("Veloera-User") => Ok(Some("Veloera-User")),
        Err(PanelError::Auth(m)) if m.contains("New-Api-User") => {
            Ok(new_api::PROFILE.user_headers.first().copied())
        }
        Err(e) => Err(e),
    }
}

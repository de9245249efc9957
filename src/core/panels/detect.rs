//! `POST /api/provider/detect`, the pure part: which probes to make against a base URL and which
//! platform the answers point to, by the panels' own identifying fields (never by a
//! page title). The shell loops: `detect(url, &answers)` → `Probe(request)` → fetch → push the
//! answer → again, until `Done(detection)`. At most three probes.

use super::exchange::{PanelError, PanelRequest};
use super::family::{self, bearer};
use super::new_api;
use super::waf::is_waf_challenge;
use crate::core::platform::Platform;
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
    if is_waf_challenge(&status.body) {
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

/// the field rules, most specific fork first (Veloera and DoneHub also carry their parents' fields).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(path: &str, status: u16, body: &str) -> ProbeAnswer {
        ProbeAnswer {
            path: path.into(),
            status,
            body: body.into(),
        }
    }

    fn verdict(url: &str, answers: &[ProbeAnswer]) -> Option<Platform> {
        match detect(url, answers) {
            DetectStep::Done(d) => d.platform,
            DetectStep::Probe(r) => panic!("wanted a verdict, got a probe of {}", r.path),
        }
    }

    fn next_probe(url: &str, answers: &[ProbeAnswer]) -> String {
        match detect(url, answers) {
            DetectStep::Probe(r) => r.path,
            DetectStep::Done(d) => panic!("wanted a probe, got {d:?}"),
        }
    }

    #[test]
    fn status_fields_name_the_panel() {
        let url = "https://relay.example";
        assert_eq!(next_probe(url, &[]), "/api/status");
        let cases = [
            (fixture!("new_api_status.json"), Platform::NewApi),
            (fixture!("one_api_status.json"), Platform::OneApi),
            (fixture!("onehub_status.json"), Platform::OneHub),
            (fixture!("donehub_status.json"), Platform::DoneHub),
            (fixture!("veloera_status.json"), Platform::Veloera),
        ];
        for (body, platform) in cases {
            assert_eq!(
                verdict(url, &[answer(STATUS_PATH, 200, body)]),
                Some(platform),
                "{body}"
            );
        }
        let legacy_new_api = r#"{"success":true,"data":{"system_name":"My Relay","price":7.3,"min_topup":1,"quota_per_unit":500000}}"#;
        assert_eq!(
            verdict(url, &[answer(STATUS_PATH, 200, legacy_new_api)]),
            Some(Platform::NewApi)
        );
        let bare = r#"{"success":true,"data":{"system_name":"X","quota_per_unit":500000}}"#;
        assert_eq!(verdict(url, &[answer(STATUS_PATH, 200, bare)]), None);
    }

    #[test]
    fn anyrouter_by_host_with_challenge_or_new_api_fields() {
        let challenge = answer(STATUS_PATH, 200, fixture!("anyrouter_challenge.html"));
        assert_eq!(
            verdict("https://anyrouter.top", std::slice::from_ref(&challenge)),
            Some(Platform::AnyRouter)
        );
        assert_eq!(verdict("https://waf.example", &[challenge]), None);
        let status = answer(STATUS_PATH, 200, fixture!("new_api_status.json"));
        assert_eq!(
            verdict("https://anyrouter.top/", &[status]),
            Some(Platform::AnyRouter)
        );
    }

    #[test]
    fn sub2api_and_generic_apis_without_a_panel_status() {
        let url = "https://gw.example:8443/";
        let no_status = answer(STATUS_PATH, 404, "404 page not found");
        assert_eq!(
            next_probe(url, std::slice::from_ref(&no_status)),
            SUB2API_SETTINGS_PATH
        );
        let settings = answer(
            SUB2API_SETTINGS_PATH,
            200,
            fixture!("sub2api_settings.json"),
        );
        assert_eq!(
            verdict(url, &[no_status.clone(), settings]),
            Some(Platform::Sub2Api)
        );
        let no_settings = answer(SUB2API_SETTINGS_PATH, 404, "404 page not found");
        let first_two = [no_status.clone(), no_settings.clone()];
        assert_eq!(next_probe(url, &first_two), MODELS_PATH);
        let with_models = |status, body| {
            let mut all = first_two.to_vec();
            all.push(answer(MODELS_PATH, status, body));
            verdict(url, &all)
        };
        assert_eq!(
            with_models(401, fixture!("anthropic_unauthorized.json")),
            Some(Platform::AnthropicCompatible)
        );
        assert_eq!(
            with_models(401, fixture!("openai_unauthorized.json")),
            Some(Platform::OpenAiCompatible)
        );
        assert_eq!(
            with_models(403, fixture!("gemini_unregistered.json")),
            Some(Platform::GeminiCompatible)
        );
        assert_eq!(
            with_models(401, fixture!("sub2api_unauthorized.json")),
            Some(Platform::Sub2Api)
        );
        assert_eq!(with_models(404, "<html>nginx</html>"), None);
    }

    #[test]
    fn official_hosts_need_no_probe() {
        assert_eq!(
            verdict("https://api.deepseek.com", &[]),
            Some(Platform::DeepSeek)
        );
        assert_eq!(
            verdict("https://ark.cn-beijing.volces.com/api/v3", &[]),
            Some(Platform::Doubao)
        );
        assert_eq!(
            verdict("https://API.OpenAI.com/v1", &[]),
            Some(Platform::OpenAi)
        );
        assert_eq!(
            next_probe("https://notapi.openai.com.evil.example", &[]),
            "/api/status"
        );
    }

    #[test]
    fn confirmation_probe_names_the_user_header() {
        let r = user_header_probe("tok");
        assert_eq!(r.path, "/api/user/self");
        assert!(!r.headers.iter().any(|(h, _)| h.ends_with("User")));
        assert_eq!(
            required_user_header(401, fixture!("new_api_missing_user_header.json")),
            Ok(Some("New-Api-User"))
        );
        assert_eq!(
            required_user_header(401, fixture!("veloera_missing_header.json")),
            Ok(Some("Veloera-User"))
        );
        assert_eq!(
            required_user_header(200, fixture!("onehub_self.json")),
            Ok(None)
        );
        assert!(matches!(
            required_user_header(200, fixture!("new_api_bad_token.json")),
            Err(PanelError::Auth(_))
        ));
    }
}

//! The New-API family (New API, One API, OneHub, DoneHub, Veloera, AnyRouter): one
//! `{success, message, data}` envelope and one set of builders and parsers, with each panel's
//! differences (user header, paths, pagination, check-in) in its [`FamilyProfile`].

use super::credential::Credential;
use super::exchange::{
    excerpt, BalanceKind, CheckinOutcome, GroupInfo, ModelPrice, PanelBalance, PanelError,
    PanelRequest, PanelStatus, PanelToken, PriceBasis, TokenBatch,
};
use super::waf::is_waf_challenge;
use crate::core::dialect::Dialect;
use crate::core::platform::Platform;
use serde_json::Value;

/// The panels' own default (500000 quota units = 1 USD); used only when /api/status omits it.
pub const DEFAULT_QUOTA_PER_UNIT: f64 = 500_000.0;
/// The most tokens a New API or OneHub page may hold.
pub const TOKEN_PAGE_SIZE: usize = 100;
/// One API ignores `size` and always pages by 10.
pub const ONE_API_PAGE_SIZE: usize = 10;
/// OneHub refuses names over 30 characters; the others allow 50.
const MAX_TOKEN_NAME_CHARS: usize = 30;

/// How one panel of the family differs from the others.
#[derive(Debug, PartialEq)]
pub struct FamilyProfile {
    pub platform: Platform,
    /// Headers that carry the panel user id on management calls (empty: none needed).
    pub user_headers: &'static [&'static str],
    pub token_list: TokenList,
    /// Returns the user's model names (a list, or OneHub's name → details map).
    pub models_path: &'static str,
    pub pricing: PriceSource,
    pub groups_path: Option<&'static str>,
    pub checkin: Option<Checkin>,
    /// False where logins are browser-only (OAuth behind a WAF).
    pub password_login: bool,
}

/// The token-list pagination a panel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenList {
    /// `?p=&size=100`: current builds 1-based (`data.items`, masked keys), legacy 0-based array.
    NewApi,
    /// `?p=` 0-based, fixed 10 per page, array with full keys.
    OneApi,
    /// `?page=&size=100` 1-based, `{data, page, size, total_count}`.
    OneHub,
}

impl TokenList {
    pub fn first_page(self) -> usize {
        match self {
            TokenList::NewApi | TokenList::OneApi => 0,
            TokenList::OneHub => 1,
        }
    }
}

/// Where per-model prices come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// `GET /api/pricing` with ratios and `group_ratio`.
    NewApi,
    /// OneHub's `GET /api/available_model` with `price{type, input, output}`.
    AvailableModel,
    None,
}

/// A panel's check-in endpoint and where it puts the reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkin {
    pub path: &'static str,
    pub reward: Reward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reward {
    /// Quota units in `data.<field>`; a repeat is `success:false` "already checked in".
    QuotaField(&'static str),
    /// USD inside the message text (`…$25…`); a repeat is success with an empty message.
    /// The call is the browser's XHR (AnyRouter `sign_in`).
    UsdInMessage,
}

/// The `Authorization` header of an access token (the `Bearer ` prefix is optional upstream).
pub fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

/// A management call with the given auth header and the panel's user-id headers.
pub fn request(
    profile: &FamilyProfile,
    auth: (&'static str, String),
    user_id: &str,
    method: &'static str,
    path: String,
    body: Option<String>,
) -> PanelRequest {
    let mut headers = vec![auth];
    headers.extend(
        profile
            .user_headers
            .iter()
            .map(|h| (*h, user_id.to_string())),
    );
    headers.push(("Accept", "application/json".into()));
    if body.is_some() {
        headers.push(("Content-Type", "application/json".into()));
    }
    PanelRequest {
        method,
        path,
        headers,
        body,
    }
}

/// Builds a management call with the account's token or cookie and the panel's user headers.
pub fn authed(
    profile: &FamilyProfile,
    cred: &Credential,
    method: &'static str,
    path: String,
    body: Option<String>,
) -> Result<PanelRequest, PanelError> {
    let auth = match cred {
        Credential::AccessToken { token, .. } => bearer(token),
        Credential::Cookie { cookie, .. } => ("Cookie", cookie.clone()),
        Credential::Password { .. } => {
            return Err(PanelError::Credential(
                "log in first: management calls need the session the login returns".into(),
            ))
        }
        Credential::ApiKey { .. } => {
            return Err(PanelError::Credential(format!(
                "{} management needs an access token or a session cookie, not an API key",
                profile.platform.as_str()
            )))
        }
    };
    Ok(request(profile, auth, cred.user_id(), method, path, body))
}

pub fn get(
    profile: &FamilyProfile,
    cred: &Credential,
    path: &str,
) -> Result<PanelRequest, PanelError> {
    authed(profile, cred, "GET", path.to_string(), None)
}

pub fn status_request() -> PanelRequest {
    PanelRequest {
        method: "GET",
        path: "/api/status".into(),
        headers: vec![("Accept", "application/json".into())],
        body: None,
    }
}

/// The account error a WAF challenge page becomes when it cannot be passed.
pub fn challenge_error() -> PanelError {
    PanelError::Blocked(
        "the station answered with its WAF challenge page instead of JSON; \
         retry with the solved acw_sc__v2 cookie, or refresh the account's cookie from a browser"
            .into(),
    )
}

/// Unwraps the `{success, message, data}` envelope, classifying failures.
pub fn parse_envelope(status: u16, body: &str) -> Result<Value, PanelError> {
    if status == 404 {
        return Err(PanelError::NotSupported(excerpt(body)));
    }
    if is_waf_challenge(body) {
        return Err(challenge_error());
    }
    let parsed: Result<Value, _> = serde_json::from_str(body);
    if status == 401 || status == 403 {
        let message = parsed
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(PanelError::Auth(if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        }));
    }
    if !(200..300).contains(&status) {
        return Err(PanelError::Http(status));
    }
    let v = parsed.map_err(|_| PanelError::Malformed(excerpt(body)))?;
    if v["success"].as_bool() == Some(true) {
        return Ok(v);
    }
    let message = v["message"].as_str().unwrap_or_default().to_string();
    // Bad tokens and sessions come back as HTTP 200 + success:false.
    let auth_markers = [
        "access token",
        "未登录",
        "无权",
        "会话无效",
        "New-Api-User",
        "Veloera-User",
    ];
    if auth_markers.iter().any(|m| message.contains(m))
        || message.to_ascii_lowercase().contains("unauthorized")
    {
        Err(PanelError::Auth(message))
    } else {
        Err(PanelError::Refused(message))
    }
}

pub fn parse_status(envelope: &Value) -> PanelStatus {
    let data = &envelope["data"];
    let flag = |name: &str| data[name].as_bool().unwrap_or(false);
    PanelStatus {
        quota_per_unit: data["quota_per_unit"]
            .as_f64()
            .filter(|q| *q > 0.0)
            .unwrap_or(DEFAULT_QUOTA_PER_UNIT),
        // New API spells it `checkin_enabled`, Veloera `check_in_enabled`.
        checkin_enabled: flag("checkin_enabled") || flag("check_in_enabled"),
        turnstile_check: flag("turnstile_check"),
        system_name: data["system_name"].as_str().unwrap_or_default().to_string(),
        // Only DoneHub publishes these (done-hub `controller/misc.go` GetStatus).
        switched_off: [
            ("ClaudeAPIEnabled", Dialect::AnthropicMessages),
            ("GeminiAPIEnabled", Dialect::Gemini),
        ]
        .into_iter()
        .filter(|(flag, _)| data[*flag].as_bool() == Some(false))
        .map(|(_, dialect)| dialect)
        .collect(),
    }
}

pub fn parse_status_body(status: u16, body: &str) -> Result<PanelStatus, PanelError> {
    Ok(parse_status(&parse_envelope(status, body)?))
}

pub fn parse_self(envelope: &Value, quota_per_unit: f64) -> Result<PanelBalance, PanelError> {
    let data = &envelope["data"];
    let quota = data["quota"]
        .as_f64()
        .ok_or_else(|| PanelError::Malformed("user self without quota".into()))?;
    Ok(PanelBalance {
        user_id: data["id"].as_i64().unwrap_or_default(),
        group: data["group"]
            .as_str()
            .filter(|g| !g.is_empty())
            .unwrap_or("default")
            .to_string(),
        balance_usd: quota / quota_per_unit,
        used_usd: data["used_quota"].as_f64().unwrap_or(0.0) / quota_per_unit,
        kind: BalanceKind::Wallet,
    })
}

/// Model names from a list (`["gpt-4o"]`) or a name-keyed map (OneHub `/api/available_model`).
pub fn parse_models(envelope: &Value) -> Result<Vec<String>, PanelError> {
    let data = &envelope["data"];
    let names: Vec<String> = if let Some(list) = data.as_array() {
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    } else if let Some(map) = data.as_object() {
        map.keys().cloned().collect()
    } else {
        return Err(PanelError::Malformed(
            "models: data is neither a list nor a map".into(),
        ));
    };
    let mut models: Vec<String> = names.into_iter().filter(|m| !m.is_empty()).collect();
    models.sort();
    models.dedup();
    Ok(models)
}

/// `/api/pricing` (New API, Veloera) in USD. Its `group_ratio` is the anonymous view with an
/// access token (New API `controller/pricing.go`: `TryUserAuth` reads only the session, and every
/// group outside the public usable groups is deleted), so the authenticated ratio comes first.
/// Per-call models cost `model_price` USD × group ratio whatever the quota unit.
pub fn parse_pricing(envelope: &Value, basis: &PriceBasis) -> Vec<(String, ModelPrice)> {
    let group_ratio = basis
        .group_ratio
        .or_else(|| envelope["group_ratio"][&basis.group].as_f64())
        .unwrap_or(1.0);
    let Some(items) = envelope["data"].as_array() else {
        return vec![];
    };
    items
        .iter()
        .filter_map(|item| {
            let name = item["model_name"].as_str()?.to_string();
            let price = if item["quota_type"].as_i64() == Some(1) {
                ModelPrice::PerCall {
                    usd: item["model_price"].as_f64()? * group_ratio,
                }
            } else {
                let input = basis.usd_per_mtok(item["model_ratio"].as_f64()?, group_ratio);
                ModelPrice::Tokens {
                    input_usd_per_mtok: input,
                    output_usd_per_mtok: input * item["completion_ratio"].as_f64().unwrap_or(1.0),
                    cache_read_usd_per_mtok: item["cache_ratio"].as_f64().map(|r| input * r),
                }
            };
            Some((name, price))
        })
        .collect()
}

/// Groups from a name-keyed map: New API `{ratio, desc}` or OneHub `{name, ratio}`.
pub fn parse_groups(envelope: &Value) -> Result<Vec<GroupInfo>, PanelError> {
    let map = envelope["data"]
        .as_object()
        .ok_or_else(|| PanelError::Malformed("groups: data is not a map".into()))?;
    Ok(map
        .iter()
        .map(|(name, g)| GroupInfo {
            name: name.clone(),
            ratio: g["ratio"].as_f64(),
            description: g["desc"]
                .as_str()
                .or(g["name"].as_str())
                .unwrap_or_default()
                .to_string(),
        })
        .collect())
}

/// One page of the token list, in whichever shape the panel used.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPage {
    pub tokens: Vec<PanelToken>,
    /// Legacy panels answer a bare array with 0-based pages.
    pub legacy: bool,
    pub total: Option<usize>,
}

pub fn tokens_request(
    profile: &FamilyProfile,
    cred: &Credential,
    page: usize,
) -> Result<PanelRequest, PanelError> {
    authed(
        profile,
        cred,
        "GET",
        tokens_path(profile.token_list, page),
        None,
    )
}

pub fn tokens_path(style: TokenList, page: usize) -> String {
    match style {
        // p=0 is page one on current (1-based, p=0 ≡ 1) and legacy (0-based) builds alike.
        TokenList::NewApi => format!("/api/token/?p={page}&size={TOKEN_PAGE_SIZE}"),
        TokenList::OneApi => format!("/api/token/?p={page}"),
        TokenList::OneHub => format!("/api/token/?page={page}&size={TOKEN_PAGE_SIZE}"),
    }
}

/// Reads an array (legacy New API, One API, Veloera), `data.items` (New API) or `data.data` (OneHub).
pub fn parse_tokens(envelope: &Value) -> Result<TokenPage, PanelError> {
    let data = &envelope["data"];
    let total = |field: &str| data[field].as_u64().and_then(|t| usize::try_from(t).ok());
    let (items, legacy, total) = if data.is_array() {
        (data.clone(), true, None)
    } else if data["items"].is_array() {
        (data["items"].clone(), false, total("total"))
    } else if data["data"].is_array() {
        (data["data"].clone(), false, total("total_count"))
    } else if data.is_null() {
        (Value::Array(vec![]), true, None)
    } else {
        return Err(PanelError::Malformed(
            "token list has neither an array nor items".into(),
        ));
    };
    let tokens: Vec<PanelToken> = serde_json::from_value(items)
        .map_err(|e| PanelError::Malformed(format!("token list: {e}")))?;
    Ok(TokenPage {
        tokens,
        legacy,
        total,
    })
}

/// New API: the `p` of the page after `page` (`requested_p` was its `p`), or None when done.
pub fn next_token_page(page: &TokenPage, requested_p: usize, collected: usize) -> Option<usize> {
    if page.tokens.len() < TOKEN_PAGE_SIZE || page.total.is_some_and(|t| collected >= t) {
        return None;
    }
    // Current panels: p=0 and p=1 are both page one, so after p=0 comes p=2.
    Some(if page.legacy {
        requested_p + 1
    } else {
        requested_p.max(1) + 1
    })
}

/// One page plus the next page index in the profile's pagination; `seen` = tokens before it.
pub fn parse_token_batch(
    profile: &FamilyProfile,
    status: u16,
    body: &str,
    page: usize,
    seen: usize,
) -> Result<TokenBatch, PanelError> {
    let parsed = parse_tokens(&parse_envelope(status, body)?)?;
    let collected = seen + parsed.tokens.len();
    let next_page = match profile.token_list {
        TokenList::NewApi => next_token_page(&parsed, page, collected),
        TokenList::OneApi => (parsed.tokens.len() == ONE_API_PAGE_SIZE).then_some(page + 1),
        TokenList::OneHub => {
            let more = parsed
                .total
                .map_or(parsed.tokens.len() == TOKEN_PAGE_SIZE, |t| collected < t);
            (more && !parsed.tokens.is_empty()).then_some(page + 1)
        }
    };
    Ok(TokenBatch {
        tokens: parsed.tokens,
        next_page,
    })
}

/// New API's full-key endpoint for a masked token.
pub fn token_key_path(token_id: i64) -> String {
    format!("/api/token/{token_id}/key")
}

/// The most ids one `POST /api/token/batch/keys` takes (New API `controller/token.go`
/// GetTokenKeysBatch: more is refused with "MsgBatchTooMany").
pub const MAX_KEYS_PER_REVEAL: usize = 100;

/// The batch reveal of masked keys: `{"ids": […]}` (at most [`MAX_KEYS_PER_REVEAL`]).
pub fn token_keys_request(
    profile: &FamilyProfile,
    cred: &Credential,
    ids: &[i64],
) -> Result<PanelRequest, PanelError> {
    let body = serde_json::json!({ "ids": ids }).to_string();
    authed(
        profile,
        cred,
        "POST",
        "/api/token/batch/keys".into(),
        Some(body),
    )
}

/// `data.keys` (`{"<id>": "<full key>"}`); ids the panel did not answer (not the user's, or
/// deleted meanwhile) are simply absent. Some derivatives put the map in `data` itself.
pub fn parse_token_keys(envelope: &Value) -> Result<Vec<(i64, String)>, PanelError> {
    let data = &envelope["data"];
    let map = data["keys"]
        .as_object()
        .or_else(|| data.as_object().filter(|m| !m.contains_key("keys")))
        .ok_or_else(|| PanelError::Malformed("batch key answer without data.keys".into()))?;
    Ok(map
        .iter()
        .filter_map(|(id, key)| {
            let key = key.as_str().filter(|k| !k.is_empty() && !k.contains('*'))?;
            Some((id.parse().ok()?, key.to_string()))
        })
        .collect())
}

pub fn parse_token_key(envelope: &Value) -> Result<String, PanelError> {
    envelope["data"]["key"]
        .as_str()
        .filter(|k| !k.is_empty() && !k.contains('*'))
        .map(str::to_owned)
        .ok_or_else(|| PanelError::Malformed("token key response without a full key".into()))
}

/// An unlimited, never-expiring token. One body for all: the panels ignore fields they lack.
pub fn create_token_request(
    profile: &FamilyProfile,
    cred: &Credential,
    name: &str,
) -> Result<PanelRequest, PanelError> {
    authed(
        profile,
        cred,
        "POST",
        "/api/token/".into(),
        Some(create_token_body(name)),
    )
}

pub fn create_token_body(name: &str) -> String {
    let name: String = name.chars().take(MAX_TOKEN_NAME_CHARS).collect();
    serde_json::json!({
        "name": name, "remain_quota": 0, "unlimited_quota": true, "expired_time": -1,
        "model_limits_enabled": false, "model_limits": "", "allow_ips": "", "group": ""
    })
    .to_string()
}

/// One API returns the created token with its key, DoneHub `data:{id, key}` (done-hub
/// `controller/token.go` AddToken); the others only `{success:true}`.
pub fn parse_created_token(envelope: &Value) -> Result<Option<PanelToken>, PanelError> {
    let data = &envelope["data"];
    if data["key"].as_str().is_none_or(str::is_empty) {
        return Ok(None);
    }
    serde_json::from_value(data.clone())
        .map(Some)
        .map_err(|e| PanelError::Malformed(format!("created token: {e}")))
}

pub fn checkin_request(
    profile: &FamilyProfile,
    cred: &Credential,
) -> Result<PanelRequest, PanelError> {
    let checkin = profile.checkin.ok_or_else(|| {
        PanelError::NotSupported(format!("{} has no check-in", profile.platform.as_str()))
    })?;
    let body = (checkin.reward == Reward::UsdInMessage).then(|| "{}".to_string());
    let mut request = authed(profile, cred, "POST", checkin.path.into(), body)?;
    if checkin.reward == Reward::UsdInMessage {
        request
            .headers
            .push(("X-Requested-With", "XMLHttpRequest".into()));
    }
    Ok(request)
}

pub fn parse_checkin(
    profile: &FamilyProfile,
    status: u16,
    body: &str,
    quota_per_unit: f64,
) -> Result<CheckinOutcome, PanelError> {
    let reward = profile
        .checkin
        .map_or(Reward::QuotaField("quota_awarded"), |c| c.reward);
    match parse_envelope(status, body) {
        Ok(v) => Ok(match reward {
            Reward::QuotaField(field) => CheckinOutcome::Rewarded {
                usd: v["data"][field].as_f64().unwrap_or(0.0) / quota_per_unit,
            },
            Reward::UsdInMessage => {
                let message = v["message"].as_str().unwrap_or_default().trim();
                if message.is_empty() {
                    CheckinOutcome::AlreadyDone
                } else {
                    CheckinOutcome::Rewarded {
                        usd: dollar_amount(message).unwrap_or(0.0),
                    }
                }
            }
        }),
        Err(PanelError::Refused(m)) if is_already_checked_in(&m) => Ok(CheckinOutcome::AlreadyDone),
        Err(PanelError::Refused(m)) if m.contains("Turnstile") => Err(PanelError::Refused(
            format!("{m} (this site wants a browser Turnstile check for check-in)"),
        )),
        Err(e) => Err(e),
    }
}

/// "今日已签到" (New API), "你今天已经签到过了" (Veloera), "Already checked in today" (i18n).
fn is_already_checked_in(message: &str) -> bool {
    message.contains("已签到")
        || message.contains("已经签到")
        || message.to_ascii_lowercase().contains("already")
}

/// The first `$<number>` in a message (AnyRouter: "签到成功，获得 $25").
fn dollar_amount(message: &str) -> Option<f64> {
    let after = &message[message.find('$')? + 1..];
    let end = after
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(after.len());
    after[..end].parse().ok()
}

pub fn login_request(
    profile: &FamilyProfile,
    username: &str,
    password: &str,
) -> Result<PanelRequest, PanelError> {
    if !profile.password_login {
        return Err(PanelError::Credential(format!(
            "{} logins are browser-only (OAuth): import the session cookie and user id",
            profile.platform.as_str()
        )));
    }
    Ok(PanelRequest {
        method: "POST",
        path: "/api/user/login".into(),
        headers: vec![
            ("Accept", "application/json".into()),
            ("Content-Type", "application/json".into()),
        ],
        body: Some(serde_json::json!({ "username": username, "password": password }).to_string()),
    })
}

/// A successful login sets the `session` cookie and returns the user (its id is the user header).
pub fn parse_login(status: u16, body: &str, set_cookie: &[&str]) -> Result<Credential, PanelError> {
    let v = parse_envelope(status, body).map_err(|e| match e {
        PanelError::Refused(m) => PanelError::Auth(if m.contains("Turnstile") {
            format!("{m}: this site wants a browser Turnstile check; import a cookie or access token")
        } else {
            m
        }),
        other => other,
    })?;
    let data = &v["data"];
    if data["require_2fa"].as_bool() == Some(true) {
        return Err(PanelError::Auth(
            "two-factor authentication is on: import a session cookie or an access token".into(),
        ));
    }
    let user_id = data["id"]
        .as_i64()
        .ok_or_else(|| PanelError::Malformed("login answer without a user id".into()))?;
    let cookie = set_cookie
        .iter()
        .filter_map(|c| c.split(';').next())
        .map(str::trim)
        .find(|c| c.starts_with("session="))
        .ok_or_else(|| PanelError::Malformed("login succeeded but set no session cookie".into()))?;
    Ok(Credential::Cookie {
        cookie: cookie.to_string(),
        user_id: user_id.to_string(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{new_api, PanelAdapter};
    use super::*;

    fn adapter() -> PanelAdapter {
        PanelAdapter::for_platform(Platform::NewApi)
    }

    fn token() -> Credential {
        Credential::access_token("tok", "42")
    }

    #[test]
    fn management_calls_carry_the_credential_and_every_derivative_user_header() {
        let r = adapter().self_request(&token()).unwrap();
        assert_eq!((r.method, r.path.as_str()), ("GET", "/api/user/self"));
        assert_eq!(r.headers[0], ("Authorization", "Bearer tok".to_string()));
        for h in new_api::PROFILE.user_headers {
            assert!(r.headers.contains(&(*h, "42".to_string())), "{h}");
        }
        let cookie = Credential::Cookie {
            cookie: "session=abc".into(),
            user_id: "42".into(),
        };
        let r = adapter().models_request(&cookie).unwrap();
        assert_eq!(r.headers[0], ("Cookie", "session=abc".to_string()));
        let password = Credential::Password {
            username: "a".into(),
            password: "b".into(),
        };
        assert!(
            matches!(adapter().self_request(&password), Err(PanelError::Credential(m)) if m.contains("log in first"))
        );
    }

    #[test]
    fn status_balance_models_from_fixtures() {
        let status = adapter()
            .parse_status(200, fixture!("new_api_status.json"))
            .unwrap();
        assert_eq!(
            status,
            PanelStatus {
                quota_per_unit: 500_000.0,
                checkin_enabled: true,
                turnstile_check: false,
                system_name: "New API".into(),
                switched_off: vec![],
            }
        );
        let b = adapter()
            .parse_balance(200, fixture!("new_api_self.json"), 1_000_000.0)
            .unwrap();
        assert_eq!(
            (b.user_id, b.group.as_str(), b.balance_usd, b.used_usd),
            (42, "vip", 2.5, 0.5)
        );
        assert_eq!(
            adapter()
                .parse_models(200, fixture!("new_api_models.json"))
                .unwrap(),
            vec!["claude-sonnet-4-5", "gpt-4o"]
        );
    }

    #[test]
    fn auth_failures_in_both_styles_and_malformed_bodies() {
        let a = adapter();
        assert_eq!(
            a.parse_balance(401, fixture!("new_api_missing_user_header.json"), 1.0),
            Err(PanelError::Auth(
                "无权进行此操作，未提供 New-Api-User".into()
            ))
        );
        assert!(matches!(
            a.parse_balance(200, fixture!("new_api_bad_token.json"), 1.0),
            Err(PanelError::Auth(_))
        ));
        assert_eq!(
            a.parse_created_token(200, fixture!("new_api_token_limit.json")),
            Err(PanelError::Refused("已达到最大令牌数量限制 (5)".into()))
        );
        assert!(matches!(
            a.parse_models(200, "{\"success\":tru"),
            Err(PanelError::Malformed(_))
        ));
        assert!(matches!(
            a.parse_balance(200, r#"{"success":true,"data":{"id":1}}"#, 1.0),
            Err(PanelError::Malformed(_))
        ));
        assert_eq!(
            a.parse_models(502, "bad gateway"),
            Err(PanelError::Http(502))
        );
        assert_eq!(
            a.parse_balance(403, "", 1.0),
            Err(PanelError::Auth("HTTP 403".into()))
        );
    }

    #[test]
    fn current_token_list_is_masked_and_complete_at_total() {
        let a = adapter();
        let batch = a
            .parse_tokens(200, fixture!("new_api_tokens_current.json"), 0, 0)
            .unwrap();
        assert_eq!(batch.next_page, None);
        assert_eq!(batch.tokens.len(), 2);
        assert!(batch.tokens[0].is_masked() && batch.tokens[0].is_enabled());
        assert!(!batch.tokens[1].is_enabled());
        assert_eq!(batch.tokens[1].group, "vip");
        let key = a.token_key_request(&token(), 7).unwrap();
        assert_eq!(
            (key.method, key.path.as_str()),
            ("POST", "/api/token/7/key")
        );
        let full = a
            .parse_token_key(200, fixture!("new_api_token_key.json"))
            .unwrap();
        assert_eq!((full.len(), &full[..4]), (48, "AbCd"));
    }

    #[test]
    fn masked_keys_are_revealed_a_hundred_at_a_time() {
        let a = adapter();
        let r = a.token_keys_request(&token(), &[7, 8]).unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.body.as_deref()),
            ("POST", "/api/token/batch/keys", Some(r#"{"ids":[7,8]}"#))
        );
        assert!(r.headers.contains(&("New-Api-User", "42".to_string())));
        let mut keys = a
            .parse_token_keys(
                200,
                r#"{"success":true,"message":"","data":{"keys":{"8":"full-8","7":"full-7","9":"ab**cd"}}}"#,
            )
            .unwrap();
        keys.sort();
        assert_eq!(keys, vec![(7, "full-7".into()), (8, "full-8".into())]);
        // A derivative answering the map bare is read too; a build without the route is a 404.
        assert_eq!(
            a.parse_token_keys(200, r#"{"success":true,"data":{"11":"k11"}}"#),
            Ok(vec![(11, "k11".into())])
        );
        assert!(matches!(
            a.parse_token_keys(404, fixture!("invalid_url_404.json")),
            Err(PanelError::NotSupported(_))
        ));
        // CriticalRateLimit answers a bare 429.
        let limited = a.parse_token_keys(429, "").unwrap_err();
        assert!(limited.is_rate_limited() && !limited.is_account_error());
        assert!(PanelAdapter::for_platform(Platform::OneHub)
            .token_keys_request(&token(), &[1])
            .is_err());
    }

    #[test]
    fn legacy_token_list_pages_from_zero() {
        let legacy =
            parse_tokens(&serde_json::from_str(fixture!("new_api_tokens_legacy.json")).unwrap())
                .unwrap();
        assert!(legacy.legacy && !legacy.tokens[0].is_masked());
        assert_eq!(PanelToken::relay_key(&legacy.tokens[0].key).len(), 51);
        // A full legacy page of 100 continues at p+1; a current one skips p=1 (≡ p=0).
        let full_page = |legacy| TokenPage {
            tokens: vec![legacy_token(); TOKEN_PAGE_SIZE],
            legacy,
            total: None,
        };
        assert_eq!(next_token_page(&full_page(true), 0, 100), Some(1));
        assert_eq!(next_token_page(&full_page(false), 0, 100), Some(2));
        assert_eq!(next_token_page(&full_page(false), 2, 200), Some(3));
    }

    /// The basis of a 500000-units-per-USD station (the panels' default).
    pub(crate) fn basis(group: &str, group_ratio: Option<f64>) -> PriceBasis {
        PriceBasis {
            group: group.into(),
            group_ratio,
            quota_per_unit: DEFAULT_QUOTA_PER_UNIT,
        }
    }

    #[test]
    fn a_private_groups_ratio_and_the_stations_quota_unit_set_the_price() {
        // The anonymous /api/pricing has no `svip`; /api/user/self/groups said 0.5.
        let svip = PriceBasis {
            quota_per_unit: 1_000_000.0,
            ..basis("svip", Some(0.5))
        };
        let prices = adapter()
            .parse_pricing(200, fixture!("new_api_pricing.json"), &svip)
            .unwrap();
        // 1.25 quota units per token × 0.5, at 1,000,000 units per USD: $0.625 per M tokens.
        assert_eq!(
            prices[0].1,
            ModelPrice::Tokens {
                input_usd_per_mtok: 0.625,
                output_usd_per_mtok: 2.5,
                cache_read_usd_per_mtok: Some(0.3125)
            }
        );
        assert_eq!(prices[1].1, ModelPrice::PerCall { usd: 0.02 });
        // Unknown to both: ratio 1.
        let unknown = adapter()
            .parse_pricing(200, fixture!("new_api_pricing.json"), &basis("svip", None))
            .unwrap();
        assert_eq!(unknown[1].1, ModelPrice::PerCall { usd: 0.04 });
    }

    fn legacy_token() -> PanelToken {
        PanelToken {
            id: 1,
            key: "k".into(),
            status: 1,
            ..PanelToken::default()
        }
    }

    #[test]
    fn create_token_returns_nothing_so_the_list_is_read_again() {
        let r = adapter()
            .create_token_request(&token(), "a-very-long-gateway-token-name-over-30")
            .unwrap();
        let body: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["name"], "a-very-long-gateway-token-name");
        assert_eq!(
            (
                body["unlimited_quota"].clone(),
                body["expired_time"].clone()
            ),
            (Value::Bool(true), Value::from(-1))
        );
        assert_eq!(
            adapter().parse_created_token(200, r#"{"success":true,"message":""}"#),
            Ok(None)
        );
    }

    #[test]
    fn pricing_at_the_group_ratio_and_groups() {
        let a = adapter();
        assert_eq!(a.pricing_request(&token()).unwrap().path, "/api/pricing");
        let prices = a
            .parse_pricing(200, fixture!("new_api_pricing.json"), &basis("vip", None))
            .unwrap();
        assert_eq!(
            prices,
            vec![
                (
                    "gpt-4o".to_string(),
                    ModelPrice::Tokens {
                        input_usd_per_mtok: 2.0,
                        output_usd_per_mtok: 8.0,
                        cache_read_usd_per_mtok: Some(1.0)
                    }
                ),
                ("dall-e-3".to_string(), ModelPrice::PerCall { usd: 0.032 }),
            ]
        );
        assert_eq!(
            a.groups_request(&token()).unwrap().path,
            "/api/user/self/groups"
        );
        let groups = a
            .parse_groups(200, fixture!("new_api_groups.json"))
            .unwrap();
        assert_eq!(
            groups[0],
            GroupInfo {
                name: "auto".into(),
                ratio: None,
                description: "自动选择".into()
            }
        );
        assert_eq!(
            (groups[2].name.as_str(), groups[2].ratio),
            ("vip", Some(0.8))
        );
    }

    #[test]
    fn checkin_reward_repeat_and_failure_reasons() {
        let a = adapter();
        let r = a.checkin_request(&token()).unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.body.clone()),
            ("POST", "/api/user/checkin", None)
        );
        assert_eq!(
            a.parse_checkin(200, fixture!("new_api_checkin_ok.json"), 500_000.0),
            Ok(CheckinOutcome::Rewarded { usd: 0.5 })
        );
        assert_eq!(
            a.parse_checkin(200, fixture!("new_api_checkin_dup.json"), 500_000.0),
            Ok(CheckinOutcome::AlreadyDone)
        );
        assert_eq!(
            a.parse_checkin(200, fixture!("new_api_checkin_turnstile.json"), 500_000.0),
            Err(PanelError::Refused(
                "Turnstile token 为空 (this site wants a browser Turnstile check for check-in)"
                    .into()
            ))
        );
        assert_eq!(
            a.parse_checkin(200, fixture!("new_api_checkin_disabled.json"), 500_000.0),
            Err(PanelError::Refused("签到功能未启用".into()))
        );
        assert!(matches!(
            a.parse_checkin(404, fixture!("invalid_url_404.json"), 500_000.0),
            Err(PanelError::NotSupported(m)) if m.contains("Invalid URL")
        ));
    }

    #[test]
    fn password_login_yields_a_session_cookie() {
        let a = adapter();
        let password = Credential::Password {
            username: "alice".into(),
            password: "pw".into(),
        };
        let r = a.login_request(&password).unwrap().unwrap();
        assert_eq!(r.path, "/api/user/login");
        assert_eq!(
            r.body.as_deref(),
            Some(r#"{"password":"pw","username":"alice"}"#)
        );
        assert!(a.login_request(&token()).is_none());
        let set_cookie = [
            "other=1; Path=/",
            "session=MTc0; Path=/; Max-Age=2592000; HttpOnly",
        ];
        assert_eq!(
            a.parse_login(200, fixture!("new_api_login.json"), &set_cookie),
            Ok(Credential::Cookie {
                cookie: "session=MTc0".into(),
                user_id: "42".into()
            })
        );
        assert!(matches!(
            a.parse_login(200, fixture!("new_api_login_2fa.json"), &set_cookie),
            Err(PanelError::Auth(m)) if m.contains("two-factor")
        ));
        assert_eq!(
            a.parse_login(200, fixture!("new_api_login_wrong.json"), &[]),
            Err(PanelError::Auth("用户名或密码错误，或用户已被封禁".into()))
        );
        assert!(matches!(
            a.parse_login(200, fixture!("new_api_login.json"), &[]),
            Err(PanelError::Malformed(_))
        ));
    }
}

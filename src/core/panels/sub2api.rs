//! Sub2API (Wei-Shaw/sub2api): `{code, message, data}` envelope, email login → 24 h JWT, balance
//! in USD, its own key API, models and key balance readable with a relay key only; no check-in
//! and no `/api/status` (upstream-panels.md §7).

use super::credential::Credential;
use super::exchange::{
    excerpt, GroupInfo, PanelBalance, PanelError, PanelRequest, PanelStatus, PanelToken, TokenBatch,
};
use super::generic;
use serde_json::Value;

const KEY_PAGE_SIZE: usize = 100;

fn request(
    method: &'static str,
    path: String,
    auth: Option<String>,
    body: Option<String>,
) -> PanelRequest {
    let mut headers = vec![("Accept", "application/json".to_string())];
    if let Some(token) = auth {
        headers.push(("Authorization", format!("Bearer {token}")));
    }
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

/// The JWT management calls need (the `Bearer` scheme is mandatory here).
fn jwt(cred: &Credential) -> Result<String, PanelError> {
    match cred {
        Credential::AccessToken { token, .. } => Ok(token.clone()),
        Credential::Password { .. } => Err(PanelError::Credential(
            "log in first: Sub2API management calls need the JWT the login returns".into(),
        )),
        _ => Err(PanelError::Credential(
            "Sub2API management needs an email + password login (or its JWT); a relay key only reads models and balance".into(),
        )),
    }
}

/// Unwraps `{code: 0, data}`. Handler errors carry a numeric `code` equal to the HTTP status,
/// middleware errors a string code (`UNAUTHORIZED`, `INVALID_API_KEY`, …).
pub fn parse_envelope(status: u16, body: &str) -> Result<Value, PanelError> {
    if status == 404 {
        return Err(PanelError::NotSupported(excerpt(body)));
    }
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    if status == 401 || status == 403 {
        return Err(PanelError::Auth(error_message(parsed.as_ref(), status)));
    }
    match parsed {
        None if (200..300).contains(&status) => Err(PanelError::Malformed(excerpt(body))),
        None => Err(PanelError::Http(status)),
        Some(v) if (200..300).contains(&status) && v["code"].as_i64() == Some(0) => Ok(v),
        Some(v) => Err(PanelError::Refused(error_message(Some(&v), status))),
    }
}

/// `CODE: message`, whichever of the two the body has.
fn error_message(v: Option<&Value>, status: u16) -> String {
    let text = v.and_then(|v| v["message"].as_str()).unwrap_or_default();
    let code = v.and_then(|v| v["code"].as_str()).unwrap_or_default();
    match (code.is_empty(), text.is_empty()) {
        (true, true) => format!("HTTP {status}"),
        (true, false) => text.to_string(),
        (false, true) => code.to_string(),
        (false, false) => format!("{code}: {text}"),
    }
}

pub fn settings_request() -> PanelRequest {
    request("GET", "/api/v1/settings/public".into(), None, None)
}

/// Sub2API counts in USD, so the quota unit is 1.
pub fn parse_settings(status: u16, body: &str) -> Result<PanelStatus, PanelError> {
    let data = &parse_envelope(status, body)?["data"];
    Ok(PanelStatus {
        turnstile_check: data["turnstile_enabled"].as_bool().unwrap_or(false),
        system_name: data["site_name"].as_str().unwrap_or_default().to_string(),
        ..PanelStatus::usd()
    })
}

pub fn login_request(email: &str, password: &str) -> PanelRequest {
    let body = serde_json::json!({ "email": email, "password": password });
    request(
        "POST",
        "/api/v1/auth/login".into(),
        None,
        Some(body.to_string()),
    )
}

/// The JWT (valid 24 h by default) as an access-token credential.
pub fn parse_login(status: u16, body: &str) -> Result<Credential, PanelError> {
    let v = parse_envelope(status, body).map_err(|e| match e {
        PanelError::Refused(m) => PanelError::Auth(m),
        other => other,
    })?;
    let data = &v["data"];
    let token = data["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| PanelError::Malformed("login answer without access_token".into()))?;
    Ok(Credential::AccessToken {
        token: token.to_string(),
        user_id: data["user"]["id"]
            .as_i64()
            .map(|id| id.to_string())
            .unwrap_or_default(),
    })
}

/// `/api/v1/auth/me` with the JWT, or the key's own `/v1/usage` with a relay key.
pub fn balance_request(cred: &Credential) -> Result<PanelRequest, PanelError> {
    match cred {
        Credential::ApiKey { key } => {
            Ok(request("GET", "/v1/usage".into(), Some(key.clone()), None))
        }
        _ => Ok(request(
            "GET",
            "/api/v1/auth/me".into(),
            Some(jwt(cred)?),
            None,
        )),
    }
}

/// `data.balance` (USD) from `/auth/me`, or `remaining` (USD) from `/v1/usage`.
pub fn parse_balance(status: u16, body: &str) -> Result<PanelBalance, PanelError> {
    let usage: Option<Value> = serde_json::from_str(body).ok();
    if let Some(remaining) = usage
        .as_ref()
        .filter(|_| status == 200)
        .and_then(|u| u["remaining"].as_f64())
    {
        return Ok(PanelBalance {
            user_id: 0,
            group: usage
                .as_ref()
                .and_then(|u| u["planName"].as_str())
                .unwrap_or_default()
                .to_string(),
            balance_usd: remaining,
            used_usd: 0.0,
        });
    }
    let data = &parse_envelope(status, body)?["data"];
    let balance = data["balance"]
        .as_f64()
        .ok_or_else(|| PanelError::Malformed("auth/me without balance".into()))?;
    Ok(PanelBalance {
        user_id: data["id"].as_i64().unwrap_or_default(),
        group: String::new(),
        balance_usd: balance,
        used_usd: 0.0,
    })
}

/// `/v1/models` answers only to a relay key (a JWT gets 401 `INVALID_API_KEY`).
pub fn models_request(cred: &Credential) -> Result<PanelRequest, PanelError> {
    match cred {
        Credential::ApiKey { key } => {
            Ok(request("GET", "/v1/models".into(), Some(key.clone()), None))
        }
        _ => Err(PanelError::Credential(
            "Sub2API lists models per relay key: call with the account's API key".into(),
        )),
    }
}

/// Both the Claude and the OpenAI static lists carry `data[].id`.
pub fn parse_models(status: u16, body: &str) -> Result<Vec<String>, PanelError> {
    generic::parse_model_list(status, body, generic::ModelsApi::OpenAi)
}

pub fn groups_request(cred: &Credential) -> Result<PanelRequest, PanelError> {
    Ok(request(
        "GET",
        "/api/v1/groups/available".into(),
        Some(jwt(cred)?),
        None,
    ))
}

pub fn parse_groups(status: u16, body: &str) -> Result<Vec<GroupInfo>, PanelError> {
    let v = parse_envelope(status, body)?;
    let groups = v["data"]
        .as_array()
        .ok_or_else(|| PanelError::Malformed("groups: data is not a list".into()))?;
    Ok(groups
        .iter()
        .filter_map(|g| {
            Some(GroupInfo {
                name: g["name"].as_str()?.to_string(),
                ratio: g["rate_multiplier"].as_f64(),
                description: g["platform"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect())
}

/// Keys are listed in full, `sk-` included; `page` is 1-based.
pub fn keys_request(cred: &Credential, page: usize) -> Result<PanelRequest, PanelError> {
    let path = format!("/api/v1/keys?page={page}&page_size={KEY_PAGE_SIZE}");
    Ok(request("GET", path, Some(jwt(cred)?), None))
}

/// Maps a key object onto the family's token shape (`"active"` → status 1).
fn key_token(key: &Value) -> Result<PanelToken, PanelError> {
    let id = key["id"]
        .as_i64()
        .ok_or_else(|| PanelError::Malformed("key without id".into()))?;
    Ok(PanelToken {
        id,
        key: key["key"].as_str().unwrap_or_default().to_string(),
        name: key["name"].as_str().unwrap_or_default().to_string(),
        status: if key["status"].as_str() == Some("active") {
            1
        } else {
            2
        },
        group: key["group"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

pub fn parse_keys(status: u16, body: &str) -> Result<TokenBatch, PanelError> {
    let v = parse_envelope(status, body)?;
    let data = &v["data"];
    let items = data["items"]
        .as_array()
        .ok_or_else(|| PanelError::Malformed("key list without items".into()))?;
    let tokens = items.iter().map(key_token).collect::<Result<Vec<_>, _>>()?;
    let (page, pages) = (
        data["page"].as_u64().unwrap_or(1),
        data["pages"].as_u64().unwrap_or(1),
    );
    let next_page = (page < pages)
        .then(|| usize::try_from(page + 1).ok())
        .flatten();
    Ok(TokenBatch { tokens, next_page })
}

/// Creates a key in the account's default group (`group_id` omitted).
pub fn create_key_request(cred: &Credential, name: &str) -> Result<PanelRequest, PanelError> {
    let body = serde_json::json!({ "name": name });
    Ok(request(
        "POST",
        "/api/v1/keys".into(),
        Some(jwt(cred)?),
        Some(body.to_string()),
    ))
}

pub fn parse_created_key(status: u16, body: &str) -> Result<PanelToken, PanelError> {
    key_token(&parse_envelope(status, body)?["data"])
}

#[cfg(test)]
mod tests {
    use super::super::PanelAdapter;
    use super::*;
    use crate::core::platform::Platform;

    fn adapter() -> PanelAdapter {
        PanelAdapter::for_platform(Platform::Sub2Api)
    }

    #[test]
    fn email_login_gives_a_jwt() {
        let a = adapter();
        let login = a
            .login_request(&Credential::Password {
                username: "a@b.c".into(),
                password: "pw".into(),
            })
            .unwrap()
            .unwrap();
        assert_eq!(login.path, "/api/v1/auth/login");
        assert_eq!(
            login.body.as_deref(),
            Some(r#"{"email":"a@b.c","password":"pw"}"#)
        );
        assert_eq!(
            a.parse_login(200, fixture!("sub2api_login.json"), &[]),
            Ok(Credential::access_token(
                "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjEyfQ.sig",
                "12"
            ))
        );
        assert_eq!(
            a.parse_login(401, fixture!("sub2api_login_wrong.json"), &[]),
            Err(PanelError::Auth("invalid email or password".into()))
        );
    }

    #[test]
    fn usd_balance_from_me_or_from_the_key() {
        let a = adapter();
        let status = a
            .parse_status(200, fixture!("sub2api_settings.json"))
            .unwrap();
        assert_eq!(
            (status.quota_per_unit, status.system_name.as_str()),
            (1.0, "Sub2API")
        );
        let me = a
            .self_request(&Credential::access_token("jwt", "12"))
            .unwrap();
        assert_eq!(me.path, "/api/v1/auth/me");
        assert!(me
            .headers
            .contains(&("Authorization", "Bearer jwt".to_string())));
        let b = a
            .parse_balance(200, fixture!("sub2api_me.json"), 1.0)
            .unwrap();
        assert_eq!((b.user_id, b.balance_usd), (12, 12.5));
        let key = Credential::ApiKey { key: "sk-k".into() };
        assert_eq!(a.self_request(&key).unwrap().path, "/v1/usage");
        let b = a
            .parse_balance(200, fixture!("sub2api_usage.json"), 1.0)
            .unwrap();
        assert_eq!((b.balance_usd, b.group.as_str()), (12.5, "钱包余额"));
        assert_eq!(
            a.parse_balance(401, fixture!("sub2api_unauthorized.json"), 1.0),
            Err(PanelError::Auth(
                "UNAUTHORIZED: Authorization header is required".into()
            ))
        );
        assert!(matches!(
            a.parse_balance(200, "<html>", 1.0),
            Err(PanelError::Malformed(_))
        ));
        assert_eq!(
            a.parse_balance(200, r#"{"code":500,"message":"db down"}"#, 1.0),
            Err(PanelError::Refused("db down".into()))
        );
    }

    #[test]
    fn keys_are_full_and_paginated_by_pages() {
        let a = adapter();
        let batch = a
            .parse_tokens(200, fixture!("sub2api_keys.json"), 1, 0)
            .unwrap();
        assert_eq!(batch.next_page, Some(2));
        let t = &batch.tokens[0];
        assert_eq!(
            (t.id, t.is_enabled(), t.group.as_str(), t.is_masked()),
            (9, true, "claude", false)
        );
        assert_eq!(PanelToken::relay_key(&t.key), t.key);
        assert!(!batch.tokens[1].is_enabled());
        let create = a
            .create_token_request(&Credential::access_token("jwt", "12"), "ai-gateway")
            .unwrap();
        assert_eq!(
            (create.method, create.body.as_deref()),
            ("POST", Some(r#"{"name":"ai-gateway"}"#))
        );
        let created = a
            .parse_created_token(201, fixture!("sub2api_key_created.json"))
            .unwrap()
            .unwrap();
        assert_eq!((created.id, created.key.len()), (11, 67));
    }

    #[test]
    fn models_need_the_relay_key_and_groups_the_jwt() {
        let a = adapter();
        assert!(matches!(
            a.models_request(&Credential::access_token("jwt", "12")),
            Err(PanelError::Credential(_))
        ));
        let key = Credential::ApiKey { key: "sk-k".into() };
        assert_eq!(a.models_request(&key).unwrap().path, "/v1/models");
        assert_eq!(
            a.parse_models(200, fixture!("sub2api_models.json"))
                .unwrap(),
            vec!["claude-opus-4-1-20250805", "claude-sonnet-4-5-20250929"]
        );
        assert_eq!(
            a.parse_models(401, fixture!("sub2api_invalid_api_key.json")),
            Err(PanelError::Auth("Invalid API key".into()))
        );
        assert!(matches!(
            a.groups_request(&key),
            Err(PanelError::Credential(_))
        ));
        let groups = a
            .parse_groups(200, fixture!("sub2api_groups.json"))
            .unwrap();
        assert_eq!(
            (
                groups[1].name.as_str(),
                groups[1].ratio,
                groups[1].description.as_str()
            ),
            ("claude", Some(1.5), "anthropic")
        );
        assert_eq!(
            a.checkin_request(&Credential::access_token("jwt", "12")),
            Err(PanelError::NotSupported("sub2api has no check-in".into()))
        );
    }
}

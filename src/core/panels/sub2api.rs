//! Sub2API (Wei-Shaw/sub2api): `{code, message, data}` envelope, email login → 24 h JWT, balance
//! in USD, its own key API, models and key balance readable with a relay key only; no check-in
//! and no `/api/status`.

use super::credential::Credential;
use super::exchange::{
    excerpt, BalanceKind, GroupInfo, LimitWindow, PanelBalance, PanelError, PanelRequest,
    PanelStatus, PanelToken, SubscriptionPlan, TokenBatch,
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
    // Newer builds answer a TOTP account's login with `requires_2fa` and a temp token for a second
    // step (Sub2API `handler/auth_handler.go` Login); a headless sync cannot answer it.
    if data["requires_2fa"].as_bool() == Some(true) {
        return Err(PanelError::Credential(
            "needs 2FA: this account has two-factor authentication on; register it with a token (the JWT of a browser login) instead of the password".into(),
        ));
    }
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

/// The plan name `/v1/usage` gives a wallet balance (Sub2API `handler/gateway_handler.go` Usage).
const WALLET_PLAN: &str = "钱包余额";

/// `data.balance` (USD) from `/auth/me`, or `/v1/usage` with a relay key: the wallet, or for a
/// subscription group the smallest remaining limit, `-1` meaning no limit at all
/// (`calculateSubscriptionRemaining`).
pub fn parse_balance(status: u16, body: &str) -> Result<PanelBalance, PanelError> {
    let usage: Option<Value> = serde_json::from_str(body).ok();
    if let Some(remaining) = usage
        .as_ref()
        .filter(|_| status == 200)
        .and_then(|u| u["remaining"].as_f64())
    {
        let plan = usage
            .as_ref()
            .and_then(|u| u["planName"].as_str())
            .unwrap_or_default()
            .to_string();
        let subscription = || {
            vec![SubscriptionPlan {
                group: plan.clone(),
                expires_at: None,
                windows: Vec::new(),
                remaining_usd: (remaining >= 0.0).then_some(remaining),
            }]
        };
        let kind = match (plan.as_str(), remaining < 0.0) {
            (WALLET_PLAN, _) => BalanceKind::Wallet,
            (_, true) => BalanceKind::Unlimited {
                subscriptions: subscription(),
                wallet_usd: None,
            },
            (_, false) => BalanceKind::Subscription {
                subscriptions: subscription(),
                wallet_usd: None,
            },
        };
        return Ok(PanelBalance {
            user_id: 0,
            group: plan.clone(),
            balance_usd: remaining.max(0.0),
            used_usd: 0.0,
            kind,
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
        kind: BalanceKind::Wallet,
    })
}

/// `GET /api/v1/subscriptions/progress` (Sub2API `handler/subscription_handler.go` GetProgress):
/// each active subscription with its daily, weekly and monthly windows and their resets.
pub fn subscriptions_request(cred: &Credential) -> Result<PanelRequest, PanelError> {
    Ok(request(
        "GET",
        "/api/v1/subscriptions/progress".into(),
        Some(jwt(cred)?),
        None,
    ))
}

/// `data: [{subscription, progress: {group_name, expires_at, daily?, weekly?, monthly?}}]`, each
/// window `{limit_usd, used_usd, remaining_usd, resets_at}` (`service/subscription_service.go`
/// SubscriptionProgress); a window that is absent has no limit.
pub fn parse_subscriptions(status: u16, body: &str) -> Result<Vec<SubscriptionPlan>, PanelError> {
    let v = parse_envelope(status, body)?;
    let items = v["data"]
        .as_array()
        .ok_or_else(|| PanelError::Malformed("subscriptions: data is not a list".into()))?;
    Ok(items
        .iter()
        .map(|item| {
            let progress = &item["progress"];
            let text = |v: &Value| v.as_str().map(str::to_owned);
            SubscriptionPlan {
                group: progress["group_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                expires_at: text(&progress["expires_at"]),
                windows: ["daily", "weekly", "monthly"]
                    .into_iter()
                    .filter_map(|period| {
                        let w = &progress[period];
                        Some(LimitWindow {
                            period: period.to_string(),
                            limit_usd: w["limit_usd"].as_f64()?,
                            used_usd: w["used_usd"].as_f64().unwrap_or(0.0),
                            remaining_usd: w["remaining_usd"].as_f64().unwrap_or(0.0),
                            resets_at: text(&w["resets_at"]),
                        })
                    })
                    .collect(),
                remaining_usd: None,
            }
        })
        .collect())
}

/// The wallet balance of `/auth/me` joined with the subscriptions: with any limited window the
/// balance is the smallest remaining limit; with subscriptions but no limit it is unlimited.
pub fn with_subscriptions(balance: PanelBalance, plans: Vec<SubscriptionPlan>) -> PanelBalance {
    if plans.is_empty() {
        return balance;
    }
    let wallet_usd = Some(balance.balance_usd);
    let smallest = plans
        .iter()
        .flat_map(|p| &p.windows)
        .map(|w| w.remaining_usd.max(0.0))
        .reduce(f64::min);
    match smallest {
        Some(remaining) => PanelBalance {
            balance_usd: remaining,
            kind: BalanceKind::Subscription {
                subscriptions: plans,
                wallet_usd,
            },
            ..balance
        },
        None => PanelBalance {
            kind: BalanceKind::Unlimited {
                subscriptions: plans,
                wallet_usd,
            },
            ..balance
        },
    }
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

/// The groups need the login; a bare relay key has none to read (NotSupported, not an error).
pub fn groups_request(cred: &Credential) -> Result<PanelRequest, PanelError> {
    if matches!(cred, Credential::ApiKey { .. }) {
        return Err(PanelError::NotSupported(
            "groups without a login (a relay key)".into(),
        ));
    }
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
        platform: key["group"]["platform"]
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
    fn a_2fa_login_asks_for_a_token_instead() {
        let answer = r#"{"code":0,"message":"success","data":{"requires_2fa":true,"temp_token":"tmp","user_email_masked":"a***@b.c"}}"#;
        let e = adapter().parse_login(200, answer, &[]).unwrap_err();
        assert!(e.is_account_error());
        assert!(e.to_string().contains("needs 2FA"), "{e}");
    }

    #[test]
    fn subscriptions_with_limits_without_limits_and_through_a_key() {
        let a = adapter();
        let jwt = Credential::access_token("jwt", "12");
        assert_eq!(
            a.subscriptions_request(&jwt).unwrap().path,
            "/api/v1/subscriptions/progress"
        );
        assert!(a
            .subscriptions_request(&Credential::ApiKey { key: "k".into() })
            .is_err());
        let wallet = || {
            a.parse_balance(200, fixture!("sub2api_me.json"), 1.0)
                .unwrap()
        };
        let progress = r#"{"code":0,"message":"success","data":[{"subscription":{"id":4},"progress":{"id":4,"group_name":"Claude Max",
            "expires_at":"2026-01-01T00:00:00Z","expires_in_days":20,
            "daily":{"limit_usd":20,"used_usd":18.5,"remaining_usd":1.5,"percentage":92.5,"resets_at":"2025-12-28T00:00:00Z","resets_in_seconds":3600},
            "monthly":{"limit_usd":200,"used_usd":30,"remaining_usd":170,"percentage":15,"resets_at":"2026-01-01T00:00:00Z","resets_in_seconds":86400}}}]}"#;
        let limited = a.parse_subscriptions(200, progress, wallet()).unwrap();
        assert_eq!(limited.balance_usd, 1.5);
        assert_eq!(limited.stored_usd(), Some(1.5));
        let BalanceKind::Subscription {
            subscriptions,
            wallet_usd,
        } = &limited.kind
        else {
            panic!("{:?}", limited.kind)
        };
        assert_eq!(*wallet_usd, Some(12.5));
        assert_eq!(subscriptions[0].group, "Claude Max");
        assert_eq!(
            subscriptions[0]
                .windows
                .iter()
                .map(|w| (w.period.as_str(), w.limit_usd, w.resets_at.as_deref()))
                .collect::<Vec<_>>(),
            vec![
                ("daily", 20.0, Some("2025-12-28T00:00:00Z")),
                ("monthly", 200.0, Some("2026-01-01T00:00:00Z"))
            ]
        );
        let unlimited = r#"{"code":0,"message":"success","data":[{"progress":{"group_name":"VIP","expires_at":"2026-01-01T00:00:00Z"}}]}"#;
        let unlimited = a.parse_subscriptions(200, unlimited, wallet()).unwrap();
        assert!(matches!(unlimited.kind, BalanceKind::Unlimited { .. }));
        assert_eq!(unlimited.stored_usd(), None);
        let none = a
            .parse_subscriptions(200, r#"{"code":0,"data":[]}"#, wallet())
            .unwrap();
        assert_eq!(
            (none.stored_usd(), none.kind),
            (Some(12.5), BalanceKind::Wallet)
        );
        // A relay key of a subscription group: the smallest remaining limit, or -1 for none.
        let key = a
            .parse_balance(
                200,
                r#"{"isValid":true,"planName":"Claude Max","remaining":1.5,"unit":"USD"}"#,
                1.0,
            )
            .unwrap();
        assert!(matches!(key.kind, BalanceKind::Subscription { .. }));
        assert_eq!(key.stored_usd(), Some(1.5));
        let key = a
            .parse_balance(
                200,
                r#"{"isValid":true,"planName":"VIP","remaining":-1,"unit":"USD"}"#,
                1.0,
            )
            .unwrap();
        assert!(matches!(key.kind, BalanceKind::Unlimited { .. }));
        assert_eq!(key.stored_usd(), None);
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
            Err(PanelError::NotSupported(_))
        ));
        assert!(matches!(
            a.groups_request(&Credential::Password {
                username: "a@b.c".into(),
                password: "pw".into()
            }),
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

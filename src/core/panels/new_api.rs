//! New API (QuantumNous/new-api) management API: see shared/refs/upstream-panels.md §0–§1.
//! Tolerates the current (paginated, masked keys) and legacy (array, 0-based, full keys) shapes.

use super::{PanelError, PanelRequest};
use serde::Deserialize;
use serde_json::Value;

/// How a New API account authenticates management calls.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_token: String,
    pub user_id: String,
}

/// New API's own default (500000 quota units = 1 USD); used only when /api/status omits it.
pub const DEFAULT_QUOTA_PER_UNIT: f64 = 500_000.0;
/// Ratio 1 = $0.002 per 1K tokens = $2 per 1M tokens.
const USD_PER_MTOK_AT_RATIO_1: f64 = 2.0;
pub const TOKEN_PAGE_SIZE: usize = 100;

fn authed(
    creds: &Credentials,
    method: &'static str,
    path: String,
    body: Option<String>,
) -> PanelRequest {
    let mut headers = vec![
        ("Authorization", format!("Bearer {}", creds.access_token)),
        ("New-Api-User", creds.user_id.clone()),
        ("Accept", "application/json".to_string()),
    ];
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_string()));
    }
    PanelRequest {
        method,
        path,
        headers,
        body,
    }
}

pub fn status_request() -> PanelRequest {
    PanelRequest {
        method: "GET",
        path: "/api/status".into(),
        headers: vec![("Accept", "application/json".into())],
        body: None,
    }
}

pub fn self_request(creds: &Credentials) -> PanelRequest {
    authed(creds, "GET", "/api/user/self".into(), None)
}

pub fn models_request(creds: &Credentials) -> PanelRequest {
    authed(creds, "GET", "/api/user/models".into(), None)
}

pub fn pricing_request(creds: &Credentials) -> PanelRequest {
    authed(creds, "GET", "/api/pricing".into(), None)
}

/// `p=0` is page one on both current (1-based, p=0 ≡ 1) and legacy (0-based) panels, so the
/// first request is shape-agnostic; [`next_token_page`] picks the following page number.
pub fn tokens_request(creds: &Credentials, p: usize) -> PanelRequest {
    authed(
        creds,
        "GET",
        format!("/api/token/?p={p}&size={TOKEN_PAGE_SIZE}"),
        None,
    )
}

pub fn token_key_request(creds: &Credentials, token_id: i64) -> PanelRequest {
    authed(creds, "POST", format!("/api/token/{token_id}/key"), None)
}

pub fn create_token_request(creds: &Credentials, name: &str) -> PanelRequest {
    let body = serde_json::json!({
        "name": name, "remain_quota": 0, "unlimited_quota": true, "expired_time": -1,
        "model_limits_enabled": false, "model_limits": "", "allow_ips": "", "group": ""
    });
    authed(creds, "POST", "/api/token/".into(), Some(body.to_string()))
}

pub fn checkin_request(creds: &Credentials) -> PanelRequest {
    authed(creds, "POST", "/api/user/checkin".into(), None)
}

/// Unwraps the `{success, message, data}` envelope, classifying failures.
pub fn parse_envelope(status: u16, body: &str) -> Result<Value, PanelError> {
    let parsed: Result<Value, _> = serde_json::from_str(body);
    if status == 404 {
        return Err(PanelError::NotSupported(short(body)));
    }
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
    let v = parsed.map_err(|_| PanelError::Malformed(short(body)))?;
    if v["success"].as_bool() == Some(true) {
        return Ok(v);
    }
    let message = v["message"].as_str().unwrap_or_default().to_string();
    // New API reports a bad access token as HTTP 200 + success:false (upstream-panels.md §1).
    if message.contains("access token")
        || message.contains("未登录")
        || message.contains("New-Api-User")
        || message.contains("无权")
    {
        Err(PanelError::Auth(message))
    } else {
        Err(PanelError::Refused(message))
    }
}

fn short(body: &str) -> String {
    body.chars().take(200).collect()
}

/// What `/api/status` tells us.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelStatus {
    pub quota_per_unit: f64,
    pub checkin_enabled: bool,
    pub turnstile_check: bool,
    pub system_name: String,
}

pub fn parse_status(envelope: &Value) -> PanelStatus {
    let data = &envelope["data"];
    PanelStatus {
        quota_per_unit: data["quota_per_unit"]
            .as_f64()
            .filter(|q| *q > 0.0)
            .unwrap_or(DEFAULT_QUOTA_PER_UNIT),
        checkin_enabled: data["checkin_enabled"].as_bool().unwrap_or(false),
        turnstile_check: data["turnstile_check"].as_bool().unwrap_or(false),
        system_name: data["system_name"].as_str().unwrap_or_default().to_string(),
    }
}

/// The account's balance in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelBalance {
    pub user_id: i64,
    pub group: String,
    /// `quota` is what remains (not quota − used: upstream-panels.md §9 #3).
    pub balance_usd: f64,
    pub used_usd: f64,
}

pub fn parse_self(envelope: &Value, quota_per_unit: f64) -> Result<PanelBalance, PanelError> {
    let data = &envelope["data"];
    let quota = data["quota"]
        .as_f64()
        .ok_or_else(|| PanelError::Malformed("user self without quota".into()))?;
    Ok(PanelBalance {
        user_id: data["id"].as_i64().unwrap_or_default(),
        group: data["group"].as_str().unwrap_or("default").to_string(),
        balance_usd: quota / quota_per_unit,
        used_usd: data["used_quota"].as_f64().unwrap_or(0.0) / quota_per_unit,
    })
}

pub fn parse_models(envelope: &Value) -> Result<Vec<String>, PanelError> {
    let list = envelope["data"]
        .as_array()
        .ok_or_else(|| PanelError::Malformed("models: data is not a list".into()))?;
    let mut models: Vec<String> = list
        .iter()
        .filter_map(|m| m.as_str())
        .map(str::to_owned)
        .filter(|m| !m.is_empty())
        .collect();
    models.sort();
    models.dedup();
    Ok(models)
}

/// One token as listed; `key` may be masked (contains `*`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PanelToken {
    pub id: i64,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "enabled_status")]
    pub status: i64,
    #[serde(default)]
    pub group: String,
}

fn enabled_status() -> i64 {
    1
}

impl PanelToken {
    pub fn is_enabled(&self) -> bool {
        self.status == 1
    }

    pub fn is_masked(&self) -> bool {
        self.key.contains('*')
    }

    /// The relay key as clients send it (`sk-` + the stored key).
    pub fn relay_key(key: &str) -> String {
        if key.starts_with("sk-") {
            key.to_string()
        } else {
            format!("sk-{key}")
        }
    }
}

/// One page of the token list, in whichever shape the panel used.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPage {
    pub tokens: Vec<PanelToken>,
    /// Legacy panels answer a bare array with 0-based pages.
    pub legacy: bool,
    pub total: Option<usize>,
}

pub fn parse_tokens(envelope: &Value) -> Result<TokenPage, PanelError> {
    let data = &envelope["data"];
    let (items, legacy, total) = if data.is_array() {
        (data.clone(), true, None)
    } else if data["items"].is_array() {
        (
            data["items"].clone(),
            false,
            data["total"].as_u64().and_then(|t| usize::try_from(t).ok()),
        )
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

/// The `p` of the page after `page` (`requested_p` was its `p`), or None when the list is done.
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

pub fn parse_token_key(envelope: &Value) -> Result<String, PanelError> {
    envelope["data"]["key"]
        .as_str()
        .filter(|k| !k.is_empty() && !k.contains('*'))
        .map(str::to_owned)
        .ok_or_else(|| PanelError::Malformed("token key response without a full key".into()))
}

/// A model's price in USD, from `/api/pricing` and the account's group ratio.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelPrice {
    Tokens {
        input_usd_per_mtok: f64,
        output_usd_per_mtok: f64,
        cache_read_usd_per_mtok: Option<f64>,
    },
    PerCall {
        usd: f64,
    },
}

pub fn parse_pricing(envelope: &Value, group: &str) -> Vec<(String, ModelPrice)> {
    let group_ratio = envelope["group_ratio"][group].as_f64().unwrap_or(1.0);
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
                let input = item["model_ratio"].as_f64()? * USD_PER_MTOK_AT_RATIO_1 * group_ratio;
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

/// The result of a check-in attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckinOutcome {
    Rewarded { usd: f64 },
    AlreadyDone,
}

pub fn parse_checkin(
    status: u16,
    body: &str,
    quota_per_unit: f64,
) -> Result<CheckinOutcome, PanelError> {
    match parse_envelope(status, body) {
        Ok(v) => Ok(CheckinOutcome::Rewarded {
            usd: v["data"]["quota_awarded"].as_f64().unwrap_or(0.0) / quota_per_unit,
        }),
        Err(PanelError::Refused(m))
            if m.contains("已签到") || m.to_ascii_lowercase().contains("already") =>
        {
            Ok(CheckinOutcome::AlreadyDone)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn creds() -> Credentials {
        Credentials {
            access_token: "tok".into(),
            user_id: "42".into(),
        }
    }

    #[test]
    fn requests_carry_token_and_user_header() {
        let r = tokens_request(&creds(), 0);
        assert_eq!(r.path, "/api/token/?p=0&size=100");
        assert!(r.headers.contains(&("Authorization", "Bearer tok".into())));
        assert!(r.headers.contains(&("New-Api-User", "42".into())));
        let c = create_token_request(&creds(), "gateway");
        assert_eq!(c.method, "POST");
        assert_eq!(
            serde_json::from_str::<Value>(c.body.as_deref().unwrap()).unwrap()["unlimited_quota"],
            true
        );
    }

    #[test]
    fn envelope_classifies_failures() {
        assert!(parse_envelope(200, r#"{"success":true,"data":1}"#).is_ok());
        assert!(
            matches!(parse_envelope(401, r#"{"success":false,"message":"未提供 New-Api-User"}"#), Err(PanelError::Auth(m)) if m.contains("New-Api-User"))
        );
        assert!(matches!(
            parse_envelope(
                200,
                r#"{"success":false,"message":"无权进行此操作，access token 无效"}"#
            ),
            Err(PanelError::Auth(_))
        ));
        assert!(matches!(
            parse_envelope(
                200,
                r#"{"success":false,"message":"已达到最大令牌数量限制 (5)"}"#
            ),
            Err(PanelError::Refused(_))
        ));
        assert!(matches!(
            parse_envelope(
                404,
                r#"{"error":{"message":"Invalid URL (POST /api/user/checkin)"}}"#
            ),
            Err(PanelError::NotSupported(_))
        ));
        assert!(matches!(
            parse_envelope(502, "bad gateway"),
            Err(PanelError::Http(502))
        ));
        assert!(matches!(
            parse_envelope(200, "{\"success\":tru"),
            Err(PanelError::Malformed(_))
        ));
    }

    #[test]
    fn balance_uses_quota_per_unit_from_status() {
        let status = parse_status(
            &json!({"success":true,"data":{"quota_per_unit":1000000,"checkin_enabled":true}}),
        );
        assert_eq!(
            (status.quota_per_unit, status.checkin_enabled),
            (1_000_000.0, true)
        );
        let me = json!({"success":true,"data":{"id":42,"quota":2500000,"used_quota":500000,"group":"vip"}});
        let b = parse_self(&me, status.quota_per_unit).unwrap();
        assert_eq!(
            (b.balance_usd, b.used_usd, b.group.as_str()),
            (2.5, 0.5, "vip")
        );
        assert_eq!(
            parse_status(&json!({"data":{}})).quota_per_unit,
            DEFAULT_QUOTA_PER_UNIT
        );
    }

    #[test]
    fn token_lists_in_all_three_shapes() {
        let current = json!({"success":true,"data":{"page":1,"page_size":100,"total":1,"items":[
            {"id":7,"key":"AbCd**********WxYz","status":1,"name":"default","group":""}]}});
        let page = parse_tokens(&current).unwrap();
        assert!(!page.legacy && page.tokens[0].is_masked() && page.total == Some(1));
        let legacy =
            json!({"success":true,"data":[{"id":3,"key":"k".repeat(48),"status":2,"name":"x"}]});
        let page = parse_tokens(&legacy).unwrap();
        assert!(page.legacy && !page.tokens[0].is_masked() && !page.tokens[0].is_enabled());
        assert!(parse_tokens(&json!({"data":{"weird":1}})).is_err());
    }

    #[test]
    fn pagination_follows_each_shape() {
        let full = |legacy, total| TokenPage {
            tokens: (0..100)
                .map(|i| PanelToken {
                    id: i,
                    key: "k".into(),
                    name: String::new(),
                    status: 1,
                    group: String::new(),
                })
                .collect(),
            legacy,
            total,
        };
        assert_eq!(next_token_page(&full(false, Some(250)), 0, 100), Some(2));
        assert_eq!(next_token_page(&full(false, Some(250)), 2, 200), Some(3));
        assert_eq!(next_token_page(&full(false, Some(200)), 2, 200), None);
        assert_eq!(next_token_page(&full(true, None), 0, 100), Some(1));
        let short = TokenPage {
            tokens: vec![],
            legacy: true,
            total: None,
        };
        assert_eq!(next_token_page(&short, 3, 300), None);
    }

    #[test]
    fn key_fetch_and_relay_key_prefix() {
        assert_eq!(
            parse_token_key(&json!({"success":true,"data":{"key":"abc"}})).unwrap(),
            "abc"
        );
        assert!(parse_token_key(&json!({"success":true,"data":{"key":"ab**cd"}})).is_err());
        assert_eq!(PanelToken::relay_key("abc"), "sk-abc");
        assert_eq!(PanelToken::relay_key("sk-abc"), "sk-abc");
    }

    #[test]
    fn pricing_converts_ratios_to_usd() {
        let p = json!({"success":true,"data":[
            {"model_name":"gpt-4o","quota_type":0,"model_ratio":1.25,"completion_ratio":4,"model_price":0},
            {"model_name":"dall-e-3","quota_type":1,"model_ratio":0,"model_price":0.04}],
            "group_ratio":{"default":1,"vip":0.5}});
        let prices = parse_pricing(&p, "vip");
        assert_eq!(
            prices[0],
            (
                "gpt-4o".into(),
                ModelPrice::Tokens {
                    input_usd_per_mtok: 1.25,
                    output_usd_per_mtok: 5.0,
                    cache_read_usd_per_mtok: None
                }
            )
        );
        assert_eq!(
            prices[1],
            ("dall-e-3".into(), ModelPrice::PerCall { usd: 0.02 })
        );
    }

    #[test]
    fn checkin_outcomes() {
        let ok = r#"{"success":true,"message":"签到成功","data":{"quota_awarded":250000,"checkin_date":"2026-04-25"}}"#;
        assert_eq!(
            parse_checkin(200, ok, 500_000.0).unwrap(),
            CheckinOutcome::Rewarded { usd: 0.5 }
        );
        assert_eq!(
            parse_checkin(
                200,
                r#"{"success":false,"message":"今日已签到"}"#,
                500_000.0
            )
            .unwrap(),
            CheckinOutcome::AlreadyDone
        );
        assert!(matches!(
            parse_checkin(
                200,
                r#"{"success":false,"message":"Turnstile token 为空"}"#,
                1.0
            ),
            Err(PanelError::Refused(_))
        ));
        assert!(matches!(
            parse_checkin(404, "Invalid URL", 1.0),
            Err(PanelError::NotSupported(_))
        ));
    }
}

//! New API (QuantumNous/new-api) management API.
//! Its profile in the New-API family; the shared family code tolerates the current (paginated,
//! masked keys) and legacy (array, 0-based, full keys) shapes.

use super::family::{Checkin, FamilyProfile, PriceSource, Reward, TokenList};
use crate::core::platform::Platform;

const CHECKIN: Checkin = Checkin {
    path: "/api/user/checkin",
    reward: Reward::QuotaField("quota_awarded"),
};

/// New API and its unnamed derivatives: every derivative's user-id header is sent at once
/// (the safe default for derivatives); New API itself reads `New-Api-User`.
pub static PROFILE: FamilyProfile = FamilyProfile {
    platform: Platform::NewApi,
    user_headers: &[
        "New-Api-User",
        "Veloera-User",
        "voapi-user",
        "User-id",
        "Rix-Api-User",
        "neo-api-user",
    ],
    token_list: TokenList::NewApi,
    models_path: "/api/user/models",
    pricing: PriceSource::NewApi,
    groups_path: Some("/api/user/self/groups"),
    checkin: Some(CHECKIN),
    password_login: true,
};

#[cfg(test)]
mod tests {
    use super::super::credential::Credential;
    use super::super::family::{
        next_token_page, parse_envelope, parse_pricing, parse_self, parse_status, parse_token_key,
        parse_tokens, TokenPage, DEFAULT_QUOTA_PER_UNIT,
    };
    use super::super::{CheckinOutcome, ModelPrice, PanelAdapter, PanelError, PanelToken};
    use super::*;
    use serde_json::{json, Value};

    fn adapter() -> PanelAdapter {
        PanelAdapter::for_platform(Platform::NewApi)
    }

    fn creds() -> Credential {
        Credential::access_token("tok", "42")
    }

    fn parse_checkin(status: u16, body: &str, qpu: f64) -> Result<CheckinOutcome, PanelError> {
        adapter().parse_checkin(status, body, qpu)
    }

    #[test]
    fn requests_carry_token_and_user_header() {
        let r = adapter().tokens_request(&creds(), 0).unwrap();
        assert_eq!(r.path, "/api/token/?p=0&size=100");
        assert!(r.headers.contains(&("Authorization", "Bearer tok".into())));
        assert!(r.headers.contains(&("New-Api-User", "42".into())));
        let c = adapter().create_token_request(&creds(), "gateway").unwrap();
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
                    status: 1,
                    ..PanelToken::default()
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
        let prices = parse_pricing(&p, &super::super::family::tests::basis("vip", None));
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

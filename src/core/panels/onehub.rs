//! OneHub (MartialBE/one-hub) and its fork DoneHub (deanxv/done-hub): no user header, `page`/`size`
//! token pagination, models and prices from `/api/available_model`, no check-in.
//! DoneHub differs in `/api/status` fields (detection, and its
//! `GeminiAPIEnabled`/`ClaudeAPIEnabled`) and in AddToken answering `data:{id, key}`.

use super::exchange::{ModelPrice, PriceBasis};
use super::family::{FamilyProfile, PriceSource, TokenList};
use crate::core::platform::Platform;
use serde_json::Value;

/// A `times` model costs 1000 × input × group ratio quota units a call (OneHub
/// `relay/relay_util/quota.go` GetTotalQuota).
const TIMES_UNITS_PER_INPUT: f64 = 1000.0;

const fn profile(platform: Platform) -> FamilyProfile {
    FamilyProfile {
        platform,
        user_headers: &[],
        token_list: TokenList::OneHub,
        // Session-aware only with a cookie; an access token gets the public-groups view.
        models_path: "/api/available_model",
        pricing: PriceSource::AvailableModel,
        groups_path: Some("/api/user_group_map"),
        checkin: None,
        password_login: true,
    }
}

pub static ONEHUB: FamilyProfile = profile(Platform::OneHub);
pub static DONEHUB: FamilyProfile = profile(Platform::DoneHub);

/// Prices from `/api/available_model`'s `price{type, input, output}` (quota units per token, or
/// per 1000 calls for `times`), times the group ratio (`/api/user_group_map`; the panel charges
/// `price × groupRatio`, OneHub `relay/relay_util/quota.go` NewQuota), at the station's unit.
pub fn parse_pricing(envelope: &Value, basis: &PriceBasis) -> Vec<(String, ModelPrice)> {
    let Some(models) = envelope["data"].as_object() else {
        return vec![];
    };
    let group_ratio = basis.group_ratio.unwrap_or(1.0);
    models
        .iter()
        .filter_map(|(name, model)| {
            let price = &model["price"];
            let input = price["input"].as_f64()?;
            let price = if price["type"].as_str() == Some("times") {
                ModelPrice::PerCall {
                    usd: TIMES_UNITS_PER_INPUT * input * group_ratio / basis.quota_per_unit,
                }
            } else {
                ModelPrice::Tokens {
                    input_usd_per_mtok: basis.usd_per_mtok(input, group_ratio),
                    output_usd_per_mtok: basis
                        .usd_per_mtok(price["output"].as_f64().unwrap_or(input), group_ratio),
                    cache_read_usd_per_mtok: None,
                }
            };
            Some((name.clone(), price))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::credential::Credential;
    use super::super::{GroupInfo, PanelAdapter, PanelError};
    use super::*;

    fn token() -> Credential {
        Credential::access_token("tok", "")
    }

    #[test]
    fn page_size_pagination_from_one_until_total_count() {
        for platform in [Platform::OneHub, Platform::DoneHub] {
            let a = PanelAdapter::for_platform(platform);
            let batch = a
                .parse_tokens(200, fixture!("onehub_tokens.json"), 2, 100)
                .unwrap();
            assert_eq!(batch.next_page, None, "101 of 101 collected");
            assert!(batch.tokens[0].key.starts_with("Xy7pQ2mN9aB3cD4_"));
            let batch = a
                .parse_tokens(200, fixture!("onehub_tokens.json"), 2, 0)
                .unwrap();
            assert_eq!(batch.next_page, Some(3));
        }
    }

    #[test]
    fn models_and_base_prices_from_available_model() {
        let a = PanelAdapter::for_platform(Platform::OneHub);
        assert_eq!(
            a.pricing_request(&token()).unwrap().path,
            "/api/available_model"
        );
        assert_eq!(
            a.parse_models(200, fixture!("onehub_available_model.json"))
                .unwrap(),
            vec!["dall-e-3", "gpt-4o"]
        );
        let prices = a
            .parse_pricing(
                200,
                fixture!("onehub_available_model.json"),
                &super::super::family::tests::basis("default", None),
            )
            .unwrap();
        assert_eq!(
            prices[0],
            ("dall-e-3".to_string(), ModelPrice::PerCall { usd: 0.04 })
        );
        assert_eq!(
            prices[1],
            (
                "gpt-4o".to_string(),
                ModelPrice::Tokens {
                    input_usd_per_mtok: 2.5,
                    output_usd_per_mtok: 10.0,
                    cache_read_usd_per_mtok: None
                }
            )
        );
    }

    #[test]
    fn prices_carry_the_group_ratio_and_the_quota_unit() {
        let a = PanelAdapter::for_platform(Platform::DoneHub);
        let svip = PriceBasis {
            group: "svip".into(),
            group_ratio: Some(0.5),
            quota_per_unit: 1_000_000.0,
        };
        let prices = a
            .parse_pricing(200, fixture!("onehub_available_model.json"), &svip)
            .unwrap();
        // dall-e-3 `times` input 20: 1000 × 20 × 0.5 units = $0.01; gpt-4o 1.25/5 units a token.
        assert_eq!(prices[0].1, ModelPrice::PerCall { usd: 0.01 });
        assert_eq!(
            prices[1].1,
            ModelPrice::Tokens {
                input_usd_per_mtok: 0.625,
                output_usd_per_mtok: 2.5,
                cache_read_usd_per_mtok: None
            }
        );
    }

    #[test]
    fn done_hub_status_says_which_dialects_its_admin_switched_off() {
        let a = PanelAdapter::for_platform(Platform::DoneHub);
        let off = a
            .parse_status(
                200,
                r#"{"success":true,"data":{"system_name":"Done Hub","GeminiAPIEnabled":false,"ClaudeAPIEnabled":true}}"#,
            )
            .unwrap();
        assert_eq!(
            off.switched_off,
            vec![crate::core::dialect::Dialect::Gemini]
        );
        // OneHub publishes neither flag: nothing is known to be off.
        let onehub = a
            .parse_status(200, r#"{"success":true,"data":{"system_name":"One Hub"}}"#)
            .unwrap();
        assert!(onehub.switched_off.is_empty());
    }

    #[test]
    fn balance_groups_and_no_checkin() {
        let a = PanelAdapter::for_platform(Platform::DoneHub);
        let b = a
            .parse_balance(200, fixture!("onehub_self.json"), 500_000.0)
            .unwrap();
        assert_eq!((b.balance_usd, b.used_usd), (5.0, 1.0));
        assert_eq!(
            a.groups_request(&token()).unwrap().path,
            "/api/user_group_map"
        );
        let groups = a
            .parse_groups(200, fixture!("onehub_user_group_map.json"))
            .unwrap();
        assert_eq!(
            groups[1],
            GroupInfo {
                name: "svip".into(),
                ratio: Some(0.5),
                description: "SVIP".into()
            }
        );
        assert_eq!(
            a.checkin_request(&token()),
            Err(PanelError::NotSupported("done-hub has no check-in".into()))
        );
        // DoneHub's AddToken answers the new token's id and key; OneHub's nothing.
        let created = a
            .parse_created_token(
                200,
                r#"{"success":true,"message":"","data":{"id":12,"key":"Xy7pQ2mN9aB3cD4_sig"}}"#,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (created.id, created.key.as_str(), created.is_enabled()),
            (12, "Xy7pQ2mN9aB3cD4_sig", true)
        );
        assert_eq!(
            PanelAdapter::for_platform(Platform::OneHub)
                .parse_created_token(200, r#"{"success":true,"message":""}"#),
            Ok(None)
        );
    }
}

//! OneHub (MartialBE/one-hub) and its fork DoneHub (deanxv/done-hub): no user header, `page`/`size`
//! token pagination, models and prices from `/api/available_model`, no check-in
//! (upstream-panels.md §3–§4). DoneHub differs only in `/api/status` fields, used by detection.

use super::exchange::ModelPrice;
use super::family::{FamilyProfile, PriceSource, TokenList, USD_PER_MTOK_AT_RATIO_1};
use crate::core::platform::Platform;
use serde_json::Value;

/// OneHub's price unit: 1.0 = $0.002 (per 1K tokens, or per call for `times` models).
const USD_PER_UNIT: f64 = 0.002;

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

/// Base prices (group ratio 1) from `/api/available_model`'s `price{type, input, output}`.
pub fn parse_pricing(envelope: &Value) -> Vec<(String, ModelPrice)> {
    let Some(models) = envelope["data"].as_object() else {
        return vec![];
    };
    models
        .iter()
        .filter_map(|(name, model)| {
            let price = &model["price"];
            let input = price["input"].as_f64()?;
            let price = if price["type"].as_str() == Some("times") {
                ModelPrice::PerCall {
                    usd: input * USD_PER_UNIT,
                }
            } else {
                ModelPrice::Tokens {
                    input_usd_per_mtok: input * USD_PER_MTOK_AT_RATIO_1,
                    output_usd_per_mtok: price["output"].as_f64().unwrap_or(input)
                        * USD_PER_MTOK_AT_RATIO_1,
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
            .parse_pricing(200, fixture!("onehub_available_model.json"), "default")
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
        assert_eq!(
            a.parse_created_token(200, r#"{"success":true,"message":""}"#),
            Ok(None)
        );
    }
}

//! OneHub (MartialBE/one-hub) and its fork DoneHub (deanxv/done-hub): no user header, `page`/`size`
//! token pagination, models and prices from `/api/available_model`, no check-in
//! (upstream-panels.md §3–§4). DoneHub differs only in `/api/status` fields, used by detection.

use super::family::{FamilyProfile, Pricing, TokenList, USD_PER_MTOK_AT_RATIO_1};
use super::ModelPrice;
use crate::core::station::Platform;
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
        pricing: Pricing::AvailableModel,
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

//! One API (songquanpeng/one-api): no user header, token pages fixed at 10, the created token
//! comes back with its key, no pricing and no check-in (upstream-panels.md §2).

use super::family::{FamilyProfile, Pricing, TokenList};
use crate::core::station::Platform;

pub static PROFILE: FamilyProfile = FamilyProfile {
    platform: Platform::OneApi,
    user_headers: &[],
    token_list: TokenList::OneApi,
    models_path: "/api/user/available_models",
    pricing: Pricing::None,
    groups_path: None,
    checkin: None,
    password_login: true,
};

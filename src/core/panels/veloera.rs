//! Veloera (a spring-2025 New API fork): its own `Veloera-User` header, legacy token list, and
//! check-in at `/api/user/check_in` with the reward in `data.quota` (upstream-panels.md §5, §9 #1–#2).

use super::family::{Checkin, FamilyProfile, Pricing, Reward, TokenList};
use crate::core::station::Platform;

pub static PROFILE: FamilyProfile = FamilyProfile {
    platform: Platform::Veloera,
    user_headers: &["Veloera-User"],
    token_list: TokenList::NewApi,
    models_path: "/api/user/models",
    pricing: Pricing::NewApi,
    groups_path: Some("/api/user/self/groups"),
    checkin: Some(Checkin {
        path: "/api/user/check_in",
        reward: Reward::QuotaField("quota"),
    }),
    password_login: true,
};

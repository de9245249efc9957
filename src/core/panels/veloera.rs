//! Veloera (a spring-2025 New API fork): its own `Veloera-User` header, legacy token list, and
//! check-in at `/api/user/check_in` with the reward in `data.quota`.

use super::family::{Checkin, FamilyProfile, PriceSource, Reward, TokenList};
use crate::core::platform::Platform;

pub static PROFILE: FamilyProfile = FamilyProfile {
    platform: Platform::Veloera,
    user_headers: &["Veloera-User"],
    token_list: TokenList::NewApi,
    models_path: "/api/user/models",
    pricing: PriceSource::NewApi,
    groups_path: Some("/api/user/self/groups"),
    checkin: Some(Checkin {
        path: "/api/user/check_in",
        reward: Reward::QuotaField("quota"),
    }),
    password_login: true,
};

#[cfg(test)]
mod tests {
    use super::super::credential::Credential;
    use super::super::{CheckinOutcome, PanelAdapter, PanelError};
    use super::*;

    fn token() -> Credential {
        Credential::access_token("tok", "7")
    }

    #[test]
    fn own_user_header_and_underscored_checkin() {
        let a = PanelAdapter::for_platform(Platform::Veloera);
        let r = a.checkin_request(&token()).unwrap();
        assert_eq!((r.method, r.path.as_str()), ("POST", "/api/user/check_in"));
        assert!(r.headers.contains(&("Veloera-User", "7".to_string())));
        assert!(!r.headers.iter().any(|(h, _)| *h == "New-Api-User"));
        assert_eq!(
            a.parse_checkin(200, fixture!("veloera_checkin_ok.json"), 500_000.0),
            Ok(CheckinOutcome::Rewarded { usd: 0.5 })
        );
        assert_eq!(
            a.parse_checkin(200, fixture!("veloera_checkin_dup.json"), 500_000.0),
            Ok(CheckinOutcome::AlreadyDone)
        );
        assert_eq!(
            a.parse_balance(401, fixture!("veloera_missing_header.json"), 500_000.0),
            Err(PanelError::Auth(
                "无权进行此操作，未提供 Veloera-User".into()
            ))
        );
    }

    #[test]
    fn status_flag_and_balance_use_quota_not_quota_minus_used() {
        let a = PanelAdapter::for_platform(Platform::Veloera);
        let status = a
            .parse_status(200, fixture!("veloera_status.json"))
            .unwrap();
        assert!(status.checkin_enabled);
        assert_eq!(status.system_name, "Veloera");
        let b = a
            .parse_balance(200, fixture!("veloera_self.json"), status.quota_per_unit)
            .unwrap();
        assert_eq!((b.user_id, b.balance_usd, b.used_usd), (7, 5.0, 1.0));
        let legacy = a
            .parse_tokens(200, fixture!("new_api_tokens_legacy.json"), 0, 0)
            .unwrap();
        assert_eq!((legacy.tokens.len(), legacy.next_page), (1, None));
    }
}

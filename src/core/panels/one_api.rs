//! One API (songquanpeng/one-api): no user header, token pages fixed at 10, the created token
//! comes back with its key, no pricing and no check-in.

use super::family::{FamilyProfile, PriceSource, TokenList};
use crate::core::platform::Platform;

pub static PROFILE: FamilyProfile = FamilyProfile {
    platform: Platform::OneApi,
    user_headers: &[],
    token_list: TokenList::OneApi,
    models_path: "/api/user/available_models",
    pricing: PriceSource::None,
    groups_path: None,
    checkin: None,
    password_login: true,
};

#[cfg(test)]
mod tests {
    use super::super::credential::Credential;
    use super::super::{PanelAdapter, PanelError};
    use super::*;

    fn token() -> Credential {
        Credential::access_token("tok", "")
    }

    #[test]
    fn no_user_header_and_ten_token_pages() {
        let a = PanelAdapter::for_platform(Platform::OneApi);
        let r = a.tokens_request(&token(), 0).unwrap();
        assert_eq!(r.path, "/api/token/?p=0");
        assert_eq!(
            r.headers,
            vec![
                ("Authorization", "Bearer tok".to_string()),
                ("Accept", "application/json".to_string())
            ]
        );
        let full = a
            .parse_tokens(200, fixture!("one_api_tokens.json"), 0, 0)
            .unwrap();
        assert_eq!((full.tokens.len(), full.next_page), (10, Some(1)));
        assert_eq!(full.tokens[9].key.len(), 48);
        let short = a
            .parse_tokens(
                200,
                r#"{"success":true,"data":[{"id":1,"key":"k"}]}"#,
                1,
                10,
            )
            .unwrap();
        assert_eq!(short.next_page, None);
    }

    #[test]
    fn created_token_carries_its_key_and_models_come_from_available_models() {
        let a = PanelAdapter::for_platform(Platform::OneApi);
        let created = a
            .parse_created_token(200, fixture!("one_api_token_created.json"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (created.id, created.key.len(), created.name.as_str()),
            (11, 48, "ai-gateway")
        );
        assert_eq!(
            a.models_request(&token()).unwrap().path,
            "/api/user/available_models"
        );
        assert_eq!(
            a.parse_models(200, fixture!("one_api_models.json"))
                .unwrap(),
            vec!["gpt-3.5-turbo", "gpt-4o-mini"]
        );
        let status = a
            .parse_status(200, fixture!("one_api_status.json"))
            .unwrap();
        assert_eq!(
            (status.quota_per_unit, status.checkin_enabled),
            (500_000.0, false)
        );
    }

    #[test]
    fn no_pricing_groups_or_checkin() {
        let a = PanelAdapter::for_platform(Platform::OneApi);
        assert_eq!(
            a.checkin_request(&token()),
            Err(PanelError::NotSupported("one-api has no check-in".into()))
        );
        assert!(matches!(
            a.pricing_request(&token()),
            Err(PanelError::NotSupported(_))
        ));
        assert!(matches!(
            a.groups_request(&token()),
            Err(PanelError::NotSupported(_))
        ));
        assert!(matches!(
            a.token_key_request(&token(), 1),
            Err(PanelError::NotSupported(_))
        ));
    }
}

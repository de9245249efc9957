//! AnyRouter (closed-source New API derivative): imported session cookie + lowercase
//! `new-api-user`, and check-in at `/api/user/sign_in` with the reward in the message. Its
//! Aliyun WAF challenge page is `waf`'s.

use super::family::{Checkin, FamilyProfile, PriceSource, Reward, TokenList};
use crate::core::platform::Platform;

pub static PROFILE: FamilyProfile = FamilyProfile {
    platform: Platform::AnyRouter,
    user_headers: &["new-api-user"],
    token_list: TokenList::NewApi,
    models_path: "/api/user/models",
    pricing: PriceSource::NewApi,
    groups_path: Some("/api/user/self/groups"),
    checkin: Some(Checkin {
        path: "/api/user/sign_in",
        reward: Reward::UsdInMessage,
    }),
    password_login: false,
};

#[cfg(test)]
mod tests {
    use super::super::credential::Credential;
    use super::super::{CheckinOutcome, PanelAdapter, PanelError};
    use super::*;

    fn cookie() -> Credential {
        Credential::Cookie {
            cookie: "session=abc".into(),
            user_id: "12345".into(),
        }
    }

    #[test]
    fn sign_in_reward_in_the_message_and_repeat_as_empty_success() {
        let a = PanelAdapter::for_platform(Platform::AnyRouter);
        let r = a.checkin_request(&cookie()).unwrap();
        assert_eq!(
            (r.path.as_str(), r.body.as_deref()),
            ("/api/user/sign_in", Some("{}"))
        );
        assert!(r.headers.contains(&("new-api-user", "12345".to_string())));
        assert!(r
            .headers
            .contains(&("X-Requested-With", "XMLHttpRequest".to_string())));
        assert_eq!(
            a.parse_checkin(200, fixture!("anyrouter_sign_in_ok.json"), 500_000.0),
            Ok(CheckinOutcome::Rewarded { usd: 25.0 })
        );
        assert_eq!(
            a.parse_checkin(200, fixture!("anyrouter_sign_in_dup.json"), 500_000.0),
            Ok(CheckinOutcome::AlreadyDone)
        );
        assert!(matches!(
            a.parse_checkin(401, "", 500_000.0),
            Err(PanelError::Auth(_))
        ));
    }

    #[test]
    fn password_login_is_refused_with_a_clear_reason() {
        let a = PanelAdapter::for_platform(Platform::AnyRouter);
        let login = a.login_request(&Credential::Password {
            username: "u".into(),
            password: "p".into(),
        });
        assert!(
            matches!(login, Some(Err(PanelError::Credential(m))) if m.contains("import the session cookie"))
        );
    }
}

//! Account credentials of every kind a platform may need (which kinds each platform accepts is
//! `accepted`).

use crate::core::string_enum::string_enum;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an account logs in with. Serialized (tagged JSON) before it is sealed for D1.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A panel's system access token (`Authorization`), plus the user id some panels require.
    AccessToken { token: String, user_id: String },
    /// An imported browser session: a `Cookie` header value (`session=…`), plus the user id.
    Cookie { cookie: String, user_id: String },
    /// Username (Sub2API: email) and password, exchanged for a session by the adapter's login.
    Password { username: String, password: String },
    /// A relay API key: the whole credential of API providers.
    ApiKey { key: String },
}

string_enum! {
    /// The credential kinds, named as the `accounts.credential_kind` column stores them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CredentialKind {
        AccessToken = "access_token",
        Cookie = "cookie",
        Password = "password",
        ApiKey = "api_key",
    }
}

impl CredentialKind {
    /// What an admin must supply for this kind, for error messages.
    pub(super) fn needs(self, with_user_id: bool) -> &'static str {
        match (self, with_user_id) {
            (CredentialKind::AccessToken, true) => "`access_token` + `user_id`",
            (CredentialKind::AccessToken, false) => "`access_token`",
            (CredentialKind::Cookie, true) => "`cookie` (session) + `user_id`",
            (CredentialKind::Cookie, false) => "`cookie` (session)",
            (CredentialKind::Password, _) => "`username` + `password`",
            (CredentialKind::ApiKey, _) => "`api_key`",
        }
    }
}

/// Raw credential fields from admin input (each trimmed; empty means absent).
#[derive(Debug, Default, Clone)]
pub struct CredentialFields {
    pub access_token: Option<String>,
    pub cookie: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub api_key: Option<String>,
    /// Already checked to be numeric by the caller.
    pub user_id: Option<String>,
}

impl Credential {
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::AccessToken { .. } => CredentialKind::AccessToken,
            Credential::Cookie { .. } => CredentialKind::Cookie,
            Credential::Password { .. } => CredentialKind::Password,
            Credential::ApiKey { .. } => CredentialKind::ApiKey,
        }
    }

    /// The panel user id carried by token and cookie credentials ("" when none).
    pub fn user_id(&self) -> &str {
        match self {
            Credential::AccessToken { user_id, .. } | Credential::Cookie { user_id, .. } => user_id,
            _ => "",
        }
    }
}

/// Secrets never reach logs: only the kind and the user id are shown.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credential::{}(*****, user_id={:?})",
            self.kind().as_str(),
            self.user_id()
        )
    }
}

#[cfg(test)]
impl Credential {
    /// An access token with its user id (empty where the panel needs none): most adapter tests'
    /// credential.
    pub(crate) fn access_token(token: &str, user_id: &str) -> Self {
        Credential::AccessToken {
            token: token.into(),
            user_id: user_id.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::exchange::PanelError;
    use super::*;
    use crate::core::platform::Platform;

    fn fields(
        token: &str,
        cookie: &str,
        user: &str,
        pass: &str,
        key: &str,
        id: &str,
    ) -> CredentialFields {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        CredentialFields {
            access_token: some(token),
            cookie: some(cookie),
            username: some(user),
            password: some(pass),
            api_key: some(key),
            user_id: some(id),
        }
    }

    #[test]
    fn picks_the_kind_each_platform_needs() {
        let c =
            Credential::from_fields(Platform::NewApi, fields("tok", "", "", "", "", "42")).unwrap();
        assert_eq!(c, Credential::access_token("tok", "42"));
        let c = Credential::from_fields(Platform::AnyRouter, fields("tok", "abc", "", "", "", "7"))
            .unwrap();
        assert_eq!(
            c,
            Credential::Cookie {
                cookie: "session=abc".into(),
                user_id: "7".into()
            }
        );
        let c =
            Credential::from_fields(Platform::OneApi, fields("tok", "", "", "", "", "")).unwrap();
        assert_eq!(c.kind(), CredentialKind::AccessToken);
        let c =
            Credential::from_fields(Platform::Sub2Api, fields("", "", "a@b.c", "pw", "sk-x", ""))
                .unwrap();
        assert_eq!(
            c,
            Credential::Password {
                username: "a@b.c".into(),
                password: "pw".into()
            }
        );
        let c = Credential::from_fields(Platform::DeepSeek, fields("", "", "", "", " sk-d ", ""))
            .unwrap();
        assert_eq!(c, Credential::ApiKey { key: "sk-d".into() });
    }

    #[test]
    fn missing_credentials_say_what_would_work() {
        let err = Credential::from_fields(Platform::AnyRouter, fields("tok", "", "", "", "", "7"))
            .unwrap_err();
        assert_eq!(
            err,
            PanelError::Credential(
                "missing credential for platform `anyrouter`: provide `cookie` (session) + `user_id`".into()
            )
        );
        let err = Credential::from_fields(Platform::NewApi, fields("tok", "", "", "", "", ""))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential problem: missing credential for platform `new-api`: provide `access_token` + `user_id`, \
             or `cookie` (session) + `user_id`, or `username` + `password` (got an incomplete or unusable access_token)"
        );
        let err = Credential::from_fields(Platform::OpenAi, fields("tok", "", "", "", "", ""))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("platform `openai`: provide `api_key`"),
            "{err}"
        );
        assert!(err.is_account_error());
        let wrong = Credential::ApiKey { key: "k".into() };
        assert!(wrong.check_for(Platform::Veloera).is_err());
        assert!(wrong.check_for(Platform::Gemini).is_ok());
    }

    #[test]
    fn debug_redacts_and_json_round_trips() {
        let c = Credential::Password {
            username: "alice".into(),
            password: "hunter2".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"password","username":"alice","password":"hunter2"}"#
        );
        assert_eq!(serde_json::from_str::<Credential>(&json).unwrap(), c);
        assert_eq!(c.kind().as_str(), "password");
    }
}

//! Which credentials each platform accepts, and how admin input becomes one: the kinds in
//! order of preference, the user id family panels need, and the "missing credential" errors.

use super::credential::{Credential, CredentialFields, CredentialKind};
use super::exchange::PanelError;
use super::PanelAdapter;
use crate::core::platform::Platform;

/// Credential kinds each platform can work with, in order of preference.
pub fn accepted_kinds(platform: Platform) -> &'static [CredentialKind] {
    use CredentialKind::*;
    match platform {
        Platform::NewApi
        | Platform::OneApi
        | Platform::OneHub
        | Platform::DoneHub
        | Platform::Veloera => &[AccessToken, Cookie, Password],
        // OAuth-only logins behind a WAF: an imported session is the one thing that works.
        Platform::AnyRouter => &[Cookie],
        // JWT login for management; a bare relay key still reads models and balance.
        Platform::Sub2Api => &[Password, AccessToken, ApiKey],
        _ => &[ApiKey],
    }
}

/// Whether the platform's management calls carry the panel user id in a header.
fn needs_user_id(platform: Platform) -> bool {
    matches!(PanelAdapter::for_platform(platform), PanelAdapter::Family(p) if !p.user_headers.is_empty())
}

impl Credential {
    /// Picks the credential the fields describe, preferring the platform's first accepted kind.
    pub fn from_fields(
        platform: Platform,
        fields: CredentialFields,
    ) -> Result<Credential, PanelError> {
        let present = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let user_id = present(fields.user_id).unwrap_or_default();
        let (token, cookie, username, password, key) = (
            present(fields.access_token),
            present(fields.cookie),
            present(fields.username),
            present(fields.password),
            present(fields.api_key),
        );
        let mut chosen = None;
        for kind in accepted_kinds(platform) {
            chosen = match kind {
                CredentialKind::AccessToken => token.clone().map(|token| Credential::AccessToken {
                    token,
                    user_id: user_id.clone(),
                }),
                CredentialKind::Cookie => cookie.clone().map(|c| Credential::Cookie {
                    cookie: session_cookie(&c),
                    user_id: user_id.clone(),
                }),
                CredentialKind::Password => username
                    .clone()
                    .zip(password.clone())
                    .map(|(username, password)| Credential::Password { username, password }),
                CredentialKind::ApiKey => key.clone().map(|key| Credential::ApiKey { key }),
            };
            if chosen.is_some() {
                break;
            }
        }
        let credential = chosen.ok_or_else(|| missing(platform, None))?;
        credential.check_for(platform)?;
        Ok(credential)
    }

    /// Fails with a clear message when this credential cannot serve `platform`.
    pub fn check_for(&self, platform: Platform) -> Result<(), PanelError> {
        if !accepted_kinds(platform).contains(&self.kind()) {
            return Err(missing(platform, Some(self.kind())));
        }
        let blank = match self {
            Credential::AccessToken { token, .. } => token.trim().is_empty(),
            Credential::Cookie { cookie, .. } => cookie.trim().is_empty(),
            Credential::Password { username, password } => {
                username.trim().is_empty() || password.is_empty()
            }
            Credential::ApiKey { key } => key.trim().is_empty(),
        };
        let needs_id = matches!(
            self,
            Credential::AccessToken { .. } | Credential::Cookie { .. }
        ) && needs_user_id(platform);
        if blank || (needs_id && self.user_id().is_empty()) {
            return Err(missing(platform, Some(self.kind())));
        }
        Ok(())
    }
}

/// "missing credential for that platform", naming what would work.
fn missing(platform: Platform, got: Option<CredentialKind>) -> PanelError {
    let with_id = needs_user_id(platform);
    let options: Vec<&str> = accepted_kinds(platform)
        .iter()
        .map(|k| k.needs(with_id))
        .collect();
    let got = got
        .map(|k| format!(" (got an incomplete or unusable {})", k.as_str()))
        .unwrap_or_default();
    PanelError::Credential(format!(
        "missing credential for platform `{}`: provide {}{got}",
        platform.as_str(),
        options.join(", or ")
    ))
}

/// A pasted cookie: a bare value becomes `session=<value>`; a full cookie string is kept.
fn session_cookie(raw: &str) -> String {
    if raw.contains('=') {
        raw.to_string()
    } else {
        format!("session={raw}")
    }
}

//! Invitation rules: a one-time token (only its SHA-256 is stored), 48 h expiry, cancellable,
//! accepted only by a signed-in user whose email matches.

use crate::core::crypto::{random_token, sha256_hex, CryptoError};
use crate::core::error::GatewayError;

/// How long an invitation stays valid.
pub const INVITATION_TTL_MS: i64 = 48 * 3_600_000;

/// A fresh invitation token: the full value goes to the inviter once, the hash to D1.
pub struct MintedInvitation {
    pub token: String,
    pub hash: String,
}

pub fn mint_invitation() -> Result<MintedInvitation, CryptoError> {
    let token = random_token("inv-", 40)?;
    let hash = invitation_hash(&token);
    Ok(MintedInvitation { token, hash })
}

/// The stored form of a presented token.
pub fn invitation_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The state of a stored invitation that acceptance looks at.
#[derive(Debug, Clone)]
pub struct InvitationState<'a> {
    pub email: &'a str,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub cancelled_at: Option<i64>,
}

impl InvitationState<'_> {
    /// Whether the token can still be looked up or used (not used, cancelled or expired).
    /// Every unusable case answers the same 404, so a token's history is not revealed.
    pub fn check_open(&self, now_ms: i64) -> Result<(), GatewayError> {
        if self.accepted_at.is_some() || self.cancelled_at.is_some() || now_ms >= self.expires_at {
            return Err(GatewayError::NotFound(
                "invitation not found, expired, cancelled or already used".into(),
            ));
        }
        Ok(())
    }

    /// Acceptance also needs the signed-in user's email to be the invited one.
    pub fn check_acceptable(&self, user_email: &str, now_ms: i64) -> Result<(), GatewayError> {
        self.check_open(now_ms)?;
        if !same_email(self.email, user_email) {
            return Err(GatewayError::Forbidden(
                "this invitation was sent to another email address".into(),
            ));
        }
        Ok(())
    }
}

/// Emails compare case-insensitively (D1's columns use `COLLATE NOCASE` too).
pub fn same_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// A plausible email: one `@`, something on both sides, a dot in the domain, no spaces.
pub fn normalize_email(raw: &str) -> Result<String, GatewayError> {
    let email = raw.trim().to_ascii_lowercase();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(GatewayError::InvalidRequest(
            "`email` is not a valid email address".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(email: &str) -> InvitationState<'_> {
        InvitationState {
            email,
            expires_at: 1_000,
            accepted_at: None,
            cancelled_at: None,
        }
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = mint_invitation().unwrap();
        let b = mint_invitation().unwrap();
        assert!(a.token.starts_with("inv-") && a.token.len() > 40);
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, invitation_hash(&a.token));
        assert!(!a.hash.contains(&a.token));
    }

    #[test]
    fn expired_used_cancelled_and_wrong_email_are_refused() {
        assert!(open("a@x.io").check_acceptable("A@X.io", 999).is_ok());
        assert_eq!(
            open("a@x.io")
                .check_acceptable("a@x.io", 1_000)
                .unwrap_err()
                .status(),
            404
        );
        let used = InvitationState {
            accepted_at: Some(5),
            ..open("a@x.io")
        };
        assert_eq!(used.check_open(0).unwrap_err().status(), 404);
        let cancelled = InvitationState {
            cancelled_at: Some(5),
            ..open("a@x.io")
        };
        assert_eq!(cancelled.check_open(0).unwrap_err().status(), 404);
        assert_eq!(
            open("a@x.io")
                .check_acceptable("b@x.io", 0)
                .unwrap_err()
                .status(),
            403
        );
    }

    #[test]
    fn emails_are_normalized_and_validated() {
        assert_eq!(
            normalize_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "", "ann", "ann@", "@x.io", "a b@x.io", "a@x", "a@.x", "a@x.", "a@b@x.io",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}

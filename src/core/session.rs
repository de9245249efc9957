//! User sessions: HS256 JWTs (jwt-compact) with a short-lived access token and a longer
//! refresh token, password policy and PBKDF2 parameters, and the failed-login throttle rule.
//! Time is passed in (`now_ms`) so all of it is tested natively.

use crate::core::error::GatewayError;
use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken};
use serde::{Deserialize, Serialize};

/// Access tokens live 15 minutes: every admin call re-reads the membership from D1 anyway.
pub const ACCESS_TTL_S: i64 = 15 * 60;
/// Refresh tokens live 30 days; a refresh re-checks that the user is still active.
pub const REFRESH_TTL_S: i64 = 30 * 24 * 3600;
/// workerd refuses PBKDF2 above 100,000 iterations (WebCrypto `deriveBits` throws).
pub const PBKDF2_ITERATIONS: u32 = 100_000;
/// Failed logins allowed per email, and per client IP, within [`LOGIN_WINDOW_MS`].
pub const LOGIN_FAILURES_PER_EMAIL: i64 = 5;
pub const LOGIN_FAILURES_PER_IP: i64 = 30;
pub const LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// Which of the two tokens a JWT is: a refresh token is never accepted as an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// Our claims next to the standard `exp` / `iat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The user id.
    pub sub: i64,
    pub typ: TokenKind,
}

fn at(now_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(now_ms).unwrap_or_default()
}

fn options(now_ms: i64) -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    TimeOptions::new(Duration::zero(), move || at(now_ms))
}

/// Signs a token of `kind` for `user_id`, valid from `now_ms` for the kind's lifetime.
pub fn issue(
    secret: &str,
    user_id: i64,
    kind: TokenKind,
    now_ms: i64,
) -> Result<String, GatewayError> {
    let ttl = match kind {
        TokenKind::Access => ACCESS_TTL_S,
        TokenKind::Refresh => REFRESH_TTL_S,
    };
    let claims = Claims::new(SessionClaims {
        sub: user_id,
        typ: kind,
    })
    .set_duration_and_issuance(&options(now_ms), Duration::seconds(ttl));
    Hs256
        .token(
            &Header::empty().with_token_type("JWT"),
            &claims,
            &Hs256Key::new(secret.as_bytes()),
        )
        .map_err(|e| GatewayError::Internal(format!("JWT signing failed: {e}")))
}

/// Checks signature (HS256 only: `alg: none` and any other algorithm are refused), expiry and
/// kind; returns the user id. Every failure is the same 401 so nothing is learnt from it.
pub fn verify(
    secret: &str,
    token: &str,
    kind: TokenKind,
    now_ms: i64,
) -> Result<i64, GatewayError> {
    let invalid = || GatewayError::Unauthorized("Invalid or expired session token".into());
    let untrusted = UntrustedToken::new(token).map_err(|_| invalid())?;
    let checked = Hs256
        .validator::<SessionClaims>(&Hs256Key::new(secret.as_bytes()))
        .validate(&untrusted)
        .map_err(|_| invalid())?;
    let claims = checked.claims();
    claims
        .validate_expiration(&options(now_ms))
        .map_err(|_| invalid())?;
    if claims.custom.typ != kind || claims.custom.sub <= 0 {
        return Err(invalid());
    }
    Ok(claims.custom.sub)
}

/// A password must be 8–256 characters (the cap bounds the hashing work per request).
pub fn check_password_policy(password: &str) -> Result<(), GatewayError> {
    let len = password.chars().count();
    if (8..=256).contains(&len) {
        Ok(())
    } else {
        Err(GatewayError::InvalidRequest(
            "`password` must be 8 to 256 characters".into(),
        ))
    }
}

/// Whether another failed login is still allowed given the failures counted in the window.
pub fn login_blocked(email_failures: i64, ip_failures: i64) -> bool {
    email_failures >= LOGIN_FAILURES_PER_EMAIL || ip_failures >= LOGIN_FAILURES_PER_IP
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    const NOW: i64 = 1_760_000_000_000;

    fn b64(s: &str) -> String {
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    #[test]
    fn round_trip_and_kinds_do_not_mix() {
        let access = issue("k", 42, TokenKind::Access, NOW).unwrap();
        assert_eq!(verify("k", &access, TokenKind::Access, NOW + 1_000), Ok(42));
        assert!(verify("k", &access, TokenKind::Refresh, NOW).is_err());
        let refresh = issue("k", 42, TokenKind::Refresh, NOW).unwrap();
        assert!(verify("k", &refresh, TokenKind::Access, NOW).is_err());
        assert_eq!(
            verify("k", &refresh, TokenKind::Refresh, NOW + 86_400_000),
            Ok(42)
        );
    }

    #[test]
    fn expired_wrong_key_alg_none_and_changed_claims_are_401() {
        let token = issue("k", 42, TokenKind::Access, NOW).unwrap();
        let expired = verify(
            "k",
            &token,
            TokenKind::Access,
            NOW + ACCESS_TTL_S * 1000 + 1,
        );
        assert_eq!(expired.unwrap_err().status(), 401);
        assert!(verify("other", &token, TokenKind::Access, NOW).is_err());
        let parts: Vec<&str> = token.split('.').collect();
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(verify("k", &none, TokenKind::Access, NOW).is_err());
        let forged_claims = b64(&format!(
            r#"{{"exp":{},"iat":{},"sub":1,"typ":"access"}}"#,
            NOW / 1000 + 900,
            NOW / 1000
        ));
        let changed = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert!(verify("k", &changed, TokenKind::Access, NOW).is_err());
        for junk in ["", "a.b", "a.b.c", "Bearer x"] {
            assert!(verify("k", junk, TokenKind::Access, NOW).is_err());
        }
    }

    #[test]
    fn password_policy_and_throttle() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("long enough").is_ok());
        assert!(check_password_policy(&"x".repeat(257)).is_err());
        assert!(!login_blocked(4, 29));
        assert!(login_blocked(5, 0));
        assert!(login_blocked(0, 30));
    }
}

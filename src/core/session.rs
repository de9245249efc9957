//! User sessions: HS256 JWTs (jwt-compact) with a short-lived access token and a longer
//! refresh token, password policy and PBKDF2 parameters, and the throttle rules (with backoff).
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
/// A throttle: `limit` attempts per `window_ms` for one subject of `scope`; past it the subject
/// is locked for the window, doubled with every further strike (at most a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub scope: &'static str,
    pub limit: i64,
    pub window_ms: i64,
}

const MINUTE_MS: i64 = 60_000;
/// Longest lock, and how long strikes are remembered after the last lock.
pub const MAX_LOCK_MS: i64 = 24 * 60 * MINUTE_MS;

/// Failed sign-ins per (email, client IP): someone else's failures never lock the victim's IP.
pub const LOGIN_PER_EMAIL_IP: Throttle = Throttle {
    scope: "email_ip",
    limit: 5,
    window_ms: 15 * MINUTE_MS,
};
/// Failed sign-ins per client IP, over all emails (spraying one password over many accounts).
pub const LOGIN_PER_IP: Throttle = Throttle {
    scope: "ip",
    limit: 30,
    window_ms: 15 * MINUTE_MS,
};
/// Wrong `current_password`s per user when changing the password.
pub const PASSWORD_CHANGE: Throttle = Throttle {
    scope: "password",
    limit: 5,
    window_ms: 15 * MINUTE_MS,
};
/// Registrations per client IP (every attempt counts); `REGISTRATIONS_PER_IP_PER_HOUR` overrides.
pub const REGISTER_PER_IP: Throttle = Throttle {
    scope: "register",
    limit: 10,
    window_ms: 60 * MINUTE_MS,
};

/// What a counted attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Still locked from an earlier strike, until then (ms).
    Locked {
        until: i64,
    },
    /// This attempt passed the limit: lock until then (and count a strike).
    Lock {
        until: i64,
    },
}

impl Throttle {
    /// The verdict on an attempt once it is counted (`attempts` includes it), given the
    /// subject's lock and strikes so far.
    pub fn judge(&self, attempts: i64, locked_until: i64, strikes: i64, now_ms: i64) -> Verdict {
        if locked_until > now_ms {
            Verdict::Locked {
                until: locked_until,
            }
        } else if attempts > self.limit {
            Verdict::Lock {
                until: now_ms + self.lock_ms(strikes),
            }
        } else {
            Verdict::Allowed
        }
    }

    /// The lock after `strikes` earlier ones: the window, doubled per strike, at most a day.
    pub fn lock_ms(&self, strikes: i64) -> i64 {
        let doublings = u32::try_from(strikes.clamp(0, 20)).unwrap_or(20);
        self.window_ms
            .saturating_mul(1_i64 << doublings)
            .min(MAX_LOCK_MS)
    }
}

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
    /// The session (refresh-token family) both tokens of a sign-in belong to.
    pub sid: String,
    /// The user's token version when issued: a password change or a disabled user bumps it,
    /// which ends every session at its next use.
    pub ver: i64,
    /// Refresh tokens: the id of this one token of the family (rotated on every refresh).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
}

/// Who a token is for and which session it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub user_id: i64,
    pub session_id: String,
    pub version: i64,
    /// Empty for access tokens.
    pub token_id: String,
}

fn at(now_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(now_ms).unwrap_or_default()
}

fn options(now_ms: i64) -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    TimeOptions::new(Duration::zero(), move || at(now_ms))
}

/// Signs a token of `kind` for the session, valid from `now_ms` for the kind's lifetime.
pub fn issue(
    secret: &str,
    session: &SessionRef,
    kind: TokenKind,
    now_ms: i64,
) -> Result<String, GatewayError> {
    let ttl = match kind {
        TokenKind::Access => ACCESS_TTL_S,
        TokenKind::Refresh => REFRESH_TTL_S,
    };
    let claims = Claims::new(SessionClaims {
        sub: session.user_id,
        typ: kind,
        sid: session.session_id.clone(),
        ver: session.version,
        jti: match kind {
            TokenKind::Access => String::new(),
            TokenKind::Refresh => session.token_id.clone(),
        },
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
/// kind; returns the session it names. Every failure is the same 401 so nothing is learnt.
pub fn verify(
    secret: &str,
    token: &str,
    kind: TokenKind,
    now_ms: i64,
) -> Result<SessionRef, GatewayError> {
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
    let c = &claims.custom;
    let needs_jti = kind == TokenKind::Refresh;
    if c.typ != kind || c.sub <= 0 || c.sid.is_empty() || c.jti.is_empty() == needs_jti {
        return Err(invalid());
    }
    Ok(SessionRef {
        user_id: c.sub,
        session_id: c.sid.clone(),
        version: c.ver,
        token_id: c.jti.clone(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    const NOW: i64 = 1_760_000_000_000;

    fn b64(s: &str) -> String {
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    fn session() -> SessionRef {
        SessionRef {
            user_id: 42,
            session_id: "s1".into(),
            version: 3,
            token_id: "j1".into(),
        }
    }

    #[test]
    fn round_trip_and_kinds_do_not_mix() {
        let access = issue("k", &session(), TokenKind::Access, NOW).unwrap();
        let seen = verify("k", &access, TokenKind::Access, NOW + 1_000).unwrap();
        assert_eq!(
            (seen.user_id, seen.session_id.as_str(), seen.version),
            (42, "s1", 3)
        );
        assert_eq!(seen.token_id, "", "access tokens carry no refresh id");
        assert!(verify("k", &access, TokenKind::Refresh, NOW).is_err());
        let refresh = issue("k", &session(), TokenKind::Refresh, NOW).unwrap();
        assert!(verify("k", &refresh, TokenKind::Access, NOW).is_err());
        assert_eq!(
            verify("k", &refresh, TokenKind::Refresh, NOW + 86_400_000),
            Ok(session())
        );
    }

    #[test]
    fn expired_wrong_key_alg_none_and_changed_claims_are_401() {
        let token = issue("k", &session(), TokenKind::Access, NOW).unwrap();
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
            r#"{{"exp":{},"iat":{},"sub":1,"typ":"access","sid":"s1","ver":3}}"#,
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
    }

    #[test]
    fn throttles_lock_past_the_limit_with_a_doubling_backoff() {
        let t = LOGIN_PER_EMAIL_IP;
        assert_eq!(t.judge(5, 0, 0, NOW), Verdict::Allowed);
        assert_eq!(
            t.judge(6, 0, 0, NOW),
            Verdict::Lock {
                until: NOW + 15 * MINUTE_MS
            }
        );
        assert_eq!(
            t.judge(1, NOW + 5, 1, NOW),
            Verdict::Locked { until: NOW + 5 },
            "a lock holds whatever the count"
        );
        assert_eq!(t.lock_ms(1), 30 * MINUTE_MS);
        assert_eq!(t.lock_ms(2), 60 * MINUTE_MS);
        assert_eq!(t.lock_ms(40), MAX_LOCK_MS);
        assert_eq!(REGISTER_PER_IP.judge(10, 0, 0, NOW), Verdict::Allowed);
    }
}

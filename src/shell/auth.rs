//! Who is calling the admin API: the instance admin (`AUTH_TOKEN`) or a user with a session
//! JWT, and in which organization with which role (`X-Organization-Id`). Also the password
//! hashing (PBKDF2-SHA256 through WebCrypto) and the failed-login counters in D1.

use super::app::{now_ms, App, DEFAULT_ORGANIZATION_ID};
use super::db::{self, num};
use crate::core::crypto::{constant_time_eq, hex, sha256_hex};
use crate::core::error::GatewayError;
use crate::core::roles::{self, Action, Role};
use crate::core::session::{self, TokenKind, LOGIN_WINDOW_MS};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Request;

/// The header that picks the organization a user acts in (default: their first one).
pub const ORG_HEADER: &str = "X-Organization-Id";

/// An authenticated identity, before an organization is chosen.
pub struct Principal {
    /// `None` for the instance admin (`AUTH_TOKEN`).
    pub user_id: Option<i64>,
    pub email: String,
}

impl Principal {
    pub fn is_instance_admin(&self) -> bool {
        self.user_id.is_none()
    }

    /// The user id, or a 400 for the instance admin on user-only endpoints.
    pub fn user(&self) -> Result<i64, GatewayError> {
        self.user_id.ok_or_else(|| {
            GatewayError::InvalidRequest(
                "this endpoint needs a user session; the admin token is not a user".into(),
            )
        })
    }
}

/// A principal acting in one organization with a role. The instance admin acts as owner and
/// may, besides, do what no role may (set the plan).
pub struct Caller {
    pub user_id: Option<i64>,
    pub org: i64,
    pub role: Role,
}

impl Caller {
    pub fn require(&self, action: Action) -> Result<(), GatewayError> {
        if self.user_id.is_none() {
            return Ok(());
        }
        roles::require(self.role, action)
    }
}

fn bearer(req: &Request) -> String {
    let presented = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let value = presented.trim();
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Whether the bearer token is shaped like a session JWT (three dot-separated parts) rather
/// than a gateway key or the admin token.
/// Whether the request presents the instance admin's `AUTH_TOKEN` (compared in constant time).
pub fn is_admin_token(req: &Request, app: &App) -> bool {
    app.secret("AUTH_TOKEN")
        .is_some_and(|expected| constant_time_eq(bearer(req).as_bytes(), expected.as_bytes()))
}

pub fn is_session(req: &Request) -> bool {
    bearer(req).matches('.').count() == 2
}

#[derive(Deserialize)]
struct UserRow {
    email: String,
}

/// `Authorization: Bearer $AUTH_TOKEN` (constant-time) or a valid access JWT of an active user.
pub async fn authenticate(req: &Request, app: &App) -> Result<Principal, GatewayError> {
    let token = bearer(req);
    let unauthorized = || GatewayError::Unauthorized("Invalid or missing admin token".into());
    if token.is_empty() {
        return Err(unauthorized());
    }
    if is_admin_token(req, app) {
        return Ok(Principal {
            user_id: None,
            email: String::new(),
        });
    }
    if !is_session(req) {
        return Err(unauthorized());
    }
    let user_id = session::verify(&jwt_secret(app)?, &token, TokenKind::Access, now_ms())?;
    let user: Option<UserRow> = db::first(
        &app.db()?,
        "SELECT email FROM users WHERE id = ?1 AND status = 'active'",
        &[num(user_id)],
    )
    .await?;
    let user =
        user.ok_or_else(|| GatewayError::Unauthorized("Invalid or expired session token".into()))?;
    Ok(Principal {
        user_id: Some(user_id),
        email: user.email,
    })
}

pub fn jwt_secret(app: &App) -> Result<String, GatewayError> {
    app.secret("JWT_SECRET")
        .ok_or_else(|| GatewayError::Internal("JWT_SECRET is not configured".into()))
}

#[derive(Deserialize)]
struct MembershipRow {
    organization_id: i64,
    role: String,
}

/// The organization from `X-Organization-Id` (or `org` when the path names it), checked against
/// the principal's memberships. A foreign or unknown organization is the same 404.
pub async fn caller(
    req: &Request,
    app: &App,
    principal: &Principal,
    org: Option<i64>,
) -> Result<Caller, GatewayError> {
    let org = match org {
        Some(id) => Some(id),
        None => match req.headers().get(ORG_HEADER)? {
            Some(raw) => Some(raw.trim().parse::<i64>().map_err(|_| {
                GatewayError::InvalidRequest(format!("{ORG_HEADER} must be an organization id"))
            })?),
            None => None,
        },
    };
    let not_found = || GatewayError::NotFound("organization not found".into());
    let d1 = app.db()?;
    let Some(user_id) = principal.user_id else {
        let org = org.unwrap_or(DEFAULT_ORGANIZATION_ID);
        let exists: Option<db::IdRow> = db::first(
            &d1,
            "SELECT id FROM organizations WHERE id = ?1",
            &[num(org)],
        )
        .await?;
        exists.ok_or_else(not_found)?;
        return Ok(Caller {
            user_id: None,
            org,
            role: Role::Owner,
        });
    };
    let row: Option<MembershipRow> = match org {
        Some(org) => {
            db::first(
                &d1,
                "SELECT organization_id, role FROM memberships WHERE organization_id = ?1 AND user_id = ?2",
                &[num(org), num(user_id)],
            )
            .await?
        }
        None => db::first(
            &d1,
            "SELECT organization_id, role FROM memberships WHERE user_id = ?1 ORDER BY created_at, organization_id LIMIT 1",
            &[num(user_id)],
        )
        .await?
        .or(None),
    };
    let row = match (row, org) {
        (Some(row), _) => row,
        (None, Some(_)) => return Err(not_found()),
        (None, None) => {
            return Err(GatewayError::Forbidden(
                "you belong to no organization yet: create one (POST /api/organizations) or accept an invitation".into(),
            ))
        }
    };
    let role = Role::parse(&row.role)
        .ok_or_else(|| GatewayError::Internal(format!("unknown role `{}` in D1", row.role)))?;
    Ok(Caller {
        user_id: Some(user_id),
        org: row.organization_id,
        role,
    })
}

fn js_error(context: &str) -> impl Fn(JsValue) -> GatewayError + '_ {
    move |e| GatewayError::Internal(format!("{context}: {e:?}"))
}

fn get(target: &JsValue, name: &str) -> Result<JsValue, GatewayError> {
    Reflect::get(target, &name.into()).map_err(js_error(name))
}

/// PBKDF2-SHA256 (256 bits) through `crypto.subtle`: native speed instead of wasm, and workerd
/// caps the iterations at 100,000.
pub async fn pbkdf2(password: &str, salt: &[u8], iterations: u32) -> Result<String, GatewayError> {
    let subtle = get(&get(&worker::js_sys::global(), "crypto")?, "subtle")?;
    let call = |name: &str, args: Array| -> Result<JsFuture, GatewayError> {
        let method: Function = get(&subtle, name)?.dyn_into().map_err(js_error(name))?;
        let promise: Promise = method
            .apply(&subtle, &args)
            .map_err(js_error(name))?
            .dyn_into()
            .map_err(js_error(name))?;
        Ok(JsFuture::from(promise))
    };
    let key = call(
        "importKey",
        Array::of5(
            &"raw".into(),
            &Uint8Array::from(password.as_bytes()),
            &"PBKDF2".into(),
            &JsValue::FALSE,
            &Array::of1(&"deriveBits".into()),
        ),
    )?
    .await
    .map_err(js_error("importKey"))?;
    let params = Object::new();
    for (name, value) in [
        ("name", JsValue::from("PBKDF2")),
        ("hash", "SHA-256".into()),
        ("salt", Uint8Array::from(salt).into()),
        ("iterations", iterations.into()),
    ] {
        Reflect::set(&params, &name.into(), &value).map_err(js_error("params"))?;
    }
    let bits = call("deriveBits", Array::of3(&params, &key, &256.into()))?
        .await
        .map_err(js_error("deriveBits"))?;
    Ok(hex(&Uint8Array::new(&bits).to_vec()))
}

#[derive(Deserialize)]
struct AttemptRow {
    attempts: i64,
}

/// Counts this login attempt against the email and the client IP *before* the password is
/// checked (one atomic UPSERT each, so parallel guesses cannot slip past the limit), and
/// refuses with 429 once either is over its limit in the window.
pub async fn count_login_attempt(app: &App, email: &str, ip: &str) -> Result<(), GatewayError> {
    let d1 = app.db()?;
    let now = now_ms();
    let mut counts = [0_i64; 2];
    for (i, (scope, subject)) in [
        ("email", sha256_hex(email.as_bytes())),
        ("ip", ip.to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        let row: Option<AttemptRow> = db::first(
            &d1,
            "INSERT INTO login_attempts (scope, subject, window_start, attempts) VALUES (?1, ?2, ?3, 1) \
             ON CONFLICT (scope, subject) DO UPDATE SET \
               attempts = CASE WHEN window_start <= ?4 THEN 1 ELSE attempts + 1 END, \
               window_start = CASE WHEN window_start <= ?4 THEN ?3 ELSE window_start END \
             RETURNING attempts",
            &[scope.into(), subject.into(), num(now), num(now - LOGIN_WINDOW_MS)],
        )
        .await?;
        counts[i] = row.map_or(0, |r| r.attempts);
    }
    // The attempt just counted is allowed when the failures before it were under the limit.
    if session::login_blocked(counts[0] - 1, counts[1] - 1) {
        return Err(GatewayError::RateLimited {
            message: "too many failed sign-in attempts; try again later".into(),
            retry_after_s: Some((LOGIN_WINDOW_MS / 1000) as u64),
        });
    }
    Ok(())
}

/// A successful login clears the email's count and takes itself off the IP's, so only
/// failures accumulate.
pub async fn clear_login_attempts(app: &App, email: &str, ip: &str) -> Result<(), GatewayError> {
    db::batch_sql(
        &app.db()?,
        &[
            (
                "DELETE FROM login_attempts WHERE scope = 'email' AND subject = ?1",
                &[sha256_hex(email.as_bytes()).into()],
            ),
            (
                "UPDATE login_attempts SET attempts = MAX(attempts - 1, 0) WHERE scope = 'ip' AND subject = ?1",
                &[ip.into()],
            ),
        ],
    )
    .await
}

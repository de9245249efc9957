//! Who is calling the admin API: the instance admin (`AUTH_TOKEN`) or a user with a session
//! JWT, and in which organization with which role (`X-Organization-Id`). Also the password
//! hashing (PBKDF2-SHA256 through WebCrypto) and the throttles' counters in D1.

use super::app::{now_ms, App, DEFAULT_ORGANIZATION_ID};
use super::db::{self, num};
use super::repo::organizations;
use crate::core::crypto::{constant_time_eq, hex, sha256_hex};
use crate::core::error::GatewayError;
use crate::core::roles::{self, Action, Role};
use crate::core::session::{self, Throttle, TokenKind, Verdict, MAX_LOCK_MS};
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
    /// The session (refresh-token family) of the access token; `None` for the admin token.
    pub session_id: Option<String>,
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

/// Whether the request presents the instance admin's `AUTH_TOKEN` (compared in constant time).
pub fn is_admin_token(req: &Request, app: &App) -> bool {
    app.secret("AUTH_TOKEN")
        .is_some_and(|expected| constant_time_eq(bearer(req).as_bytes(), expected.as_bytes()))
}

/// Whether the bearer token is shaped like a session JWT (three dot-separated parts) rather
/// than a gateway key or the admin token.
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
            session_id: None,
        });
    }
    if !is_session(req) {
        return Err(unauthorized());
    }
    let session = session::verify(&jwt_secret(app)?, &token, TokenKind::Access, now_ms())?;
    // Every call re-checks the user (active, same token version) and the session (not revoked).
    let user: Option<UserRow> = db::first(
        &app.db()?,
        "SELECT u.email FROM users u JOIN sessions s ON s.user_id = u.id \
         WHERE u.id = ?1 AND u.status = 'active' AND u.token_version = ?2 AND s.id = ?3 AND s.revoked_at IS NULL",
        &[num(session.user_id), num(session.version), session.session_id.as_str().into()],
    )
    .await?;
    let user =
        user.ok_or_else(|| GatewayError::Unauthorized("Invalid or expired session token".into()))?;
    Ok(Principal {
        user_id: Some(session.user_id),
        email: user.email,
        session_id: Some(session.session_id),
    })
}

pub fn jwt_secret(app: &App) -> Result<String, GatewayError> {
    app.secret("JWT_SECRET")
        .ok_or_else(|| GatewayError::Internal("JWT_SECRET is not configured".into()))
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
        if !organizations::exists(&d1, org).await? {
            return Err(not_found());
        }
        return Ok(Caller {
            user_id: None,
            org,
            role: Role::Owner,
        });
    };
    let row = organizations::membership(&d1, user_id, org).await?;
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
    locked_until: i64,
    strikes: i64,
}

/// Counts one attempt for each `(throttle, subject)` — one atomic UPSERT each, so parallel
/// guesses cannot slip past a limit — and refuses with 429 (the longest wait as `Retry-After`)
/// while a subject is locked or when this attempt passes its limit, which starts a lock that
/// doubles with every strike.
pub async fn count_attempts(app: &App, subjects: &[(Throttle, &str)]) -> Result<(), GatewayError> {
    let d1 = app.db()?;
    let now = now_ms();
    let mut wait_until = 0_i64;
    for (throttle, subject) in subjects {
        let row: Option<AttemptRow> = db::first(
            &d1,
            "INSERT INTO login_attempts (scope, subject, window_start, attempts) VALUES (?1, ?2, ?3, 1) \
             ON CONFLICT (scope, subject) DO UPDATE SET \
               attempts = CASE WHEN window_start <= ?4 AND locked_until <= ?3 THEN 1 ELSE attempts + 1 END, \
               window_start = CASE WHEN window_start <= ?4 AND locked_until <= ?3 THEN ?3 ELSE window_start END, \
               strikes = CASE WHEN locked_until <= ?5 THEN 0 ELSE strikes END \
             RETURNING attempts, locked_until, strikes",
            &[throttle.scope.into(), (*subject).into(), num(now), num(now - throttle.window_ms), num(now - MAX_LOCK_MS)],
        )
        .await?;
        let Some(row) = row else { continue };
        match throttle.judge(row.attempts, row.locked_until, row.strikes, now) {
            Verdict::Allowed => {}
            Verdict::Locked { until } => wait_until = wait_until.max(until),
            Verdict::Lock { until } => {
                db::run(
                    &d1,
                    "UPDATE login_attempts SET locked_until = ?1, strikes = strikes + 1, attempts = 0, window_start = ?2 \
                     WHERE scope = ?3 AND subject = ?4",
                    &[num(until), num(now), throttle.scope.into(), (*subject).into()],
                )
                .await?;
                wait_until = wait_until.max(until);
            }
        }
    }
    if wait_until > now {
        return Err(GatewayError::RateLimited {
            message: "too many attempts; try again later".into(),
            retry_after_s: Some(u64::try_from((wait_until - now + 999) / 1000).unwrap_or(1)),
        });
    }
    Ok(())
}

/// A success forgets the subject's failures (`clear`) or takes itself off its count.
pub async fn forgive_attempts(
    app: &App,
    clear: &[(Throttle, &str)],
    uncount: &[(Throttle, &str)],
) -> Result<(), GatewayError> {
    let d1 = app.db()?;
    let mut statements = Vec::new();
    for (throttle, subject) in clear {
        statements.push(db::stmt(
            &d1,
            "DELETE FROM login_attempts WHERE scope = ?1 AND subject = ?2",
            &[throttle.scope.into(), (*subject).into()],
        )?);
    }
    for (throttle, subject) in uncount {
        statements.push(db::stmt(
            &d1,
            "UPDATE login_attempts SET attempts = MAX(attempts - 1, 0) WHERE scope = ?1 AND subject = ?2",
            &[throttle.scope.into(), (*subject).into()],
        )?);
    }
    db::batch(&d1, statements).await
}

/// The (email, client IP) subject of the sign-in throttle; the email only as its hash.
pub fn email_ip_subject(email: &str, ip: &str) -> String {
    format!("{}|{ip}", sha256_hex(email.as_bytes()))
}

/// The client's address as Cloudflare reports it.
pub fn client_ip(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}

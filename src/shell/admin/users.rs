//! Users and sessions (`/api/users/…`): register, login (access + refresh JWT), refresh with
//! rotation and replay detection, logout, the signed-in user's profile, and the instance admin
//! disabling a user. Login failures never say whether the email exists.

use crate::core::crypto::{constant_time_eq, fill_random, hex, random_token};
use crate::core::error::GatewayError;
use crate::core::invitation::normalize_email;
use crate::core::names::validate_optional_name;
use crate::core::session::{
    self, check_password_policy, SessionRef, Throttle, TokenKind, LOGIN_PER_EMAIL_IP, LOGIN_PER_IP,
    PASSWORD_CHANGE, PBKDF2_ITERATIONS, REGISTER_PER_IP,
};
use crate::shell::app::{now_ms, App};
use crate::shell::auth::{self, Principal};
use crate::shell::db::{self, num};
use crate::shell::http::{created, json_body, ok};
use crate::shell::repo::users::{self, PasswordHash, UserView};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{D1Database, Request, Response};

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
    #[serde(default)]
    name: String,
}

fn new_salt() -> Result<String, GatewayError> {
    let mut salt = [0u8; 16];
    fill_random(&mut salt)?;
    Ok(hex(&salt))
}

/// The tokens of one session (refresh-token family) as the API returns them.
fn token_pair(app: &App, session: &SessionRef) -> Result<serde_json::Value, GatewayError> {
    let secret = auth::jwt_secret(app)?;
    let now = now_ms();
    Ok(json!({
        "access_token": session::issue(&secret, session, TokenKind::Access, now)?,
        "refresh_token": session::issue(&secret, session, TokenKind::Refresh, now)?,
        "token_type": "Bearer",
        "expires_in": session::ACCESS_TTL_S,
    }))
}

/// Starts a session for the user at their current token version and returns its tokens.
async fn session_tokens(app: &App, user_id: i64) -> Result<serde_json::Value, GatewayError> {
    let now = now_ms();
    let session = SessionRef {
        user_id,
        session_id: random_token("", 32)?,
        version: 0,
        token_id: random_token("", 32)?,
    };
    let d1 = app.db()?;
    let row: Option<VersionRow> = db::first(
        &d1,
        "SELECT token_version FROM users WHERE id = ?1 AND status = 'active'",
        &[num(user_id)],
    )
    .await?;
    let version = row
        .ok_or_else(|| GatewayError::Unauthorized("Invalid or expired session token".into()))?
        .token_version;
    db::run(
        &d1,
        "INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        &[session.session_id.as_str().into(), num(user_id), session.token_id.as_str().into(), num(now), num(now + session::REFRESH_TTL_S * 1000)],
    )
    .await?;
    token_pair(app, &SessionRef { version, ..session })
}

#[derive(Deserialize)]
struct VersionRow {
    token_version: i64,
}

pub async fn register(req: &mut Request, app: &App) -> Result<Response, GatewayError> {
    let input: Credentials = json_body(req).await?;
    let email = normalize_email(&input.email)?;
    check_password_policy(&input.password)?;
    let name = validate_optional_name(&input.name)?;
    let throttle = Throttle {
        limit: app.config().registrations_per_ip_per_hour,
        ..REGISTER_PER_IP
    };
    auth::count_attempts(app, &[(throttle, &auth::client_ip(req))]).await?;
    let d1 = app.db()?;
    // Uniqueness first, so a taken email costs no insert; the hash runs either way, so the
    // answer's timing is the same.
    let taken = users::id_by_email(&d1, &email).await?;
    let salt = new_salt()?;
    let hash = auth::pbkdf2(&input.password, salt.as_bytes(), PBKDF2_ITERATIONS).await?;
    if taken.is_some() {
        return Err(already_registered());
    }
    let now = now_ms();
    let password = PasswordHash {
        hash,
        salt,
        iterations: i64::from(PBKDF2_ITERATIONS),
    };
    let id = users::insert(&d1, (&email, &name), password, now)
        .await?
        .ok_or_else(already_registered)?;
    let mut data = session_tokens(app, id).await?;
    data["user"] = json!({"id": id, "email": email, "name": name, "created_at": now});
    created(data)
}

fn already_registered() -> GatewayError {
    GatewayError::Conflict("this email cannot be registered".into())
}

/// Checks `password` against the stored hash; an unknown email still costs one PBKDF2 run so
/// the answer time does not reveal whether it exists.
async fn check_password(app: &App, email: &str, password: &str) -> Result<i64, GatewayError> {
    let row = users::password_by_email(&app.db()?, email).await?;
    let (salt, iterations) = row
        .as_ref()
        .map_or(("no-such-user", PBKDF2_ITERATIONS), |r| {
            (
                r.password_salt.as_str(),
                u32::try_from(r.password_iterations).unwrap_or(PBKDF2_ITERATIONS),
            )
        });
    let hash = auth::pbkdf2(password, salt.as_bytes(), iterations).await?;
    match row {
        Some(r)
            if r.status == "active"
                && constant_time_eq(hash.as_bytes(), r.password_hash.as_bytes()) =>
        {
            Ok(r.id)
        }
        _ => Err(GatewayError::Unauthorized(
            "Invalid email or password".into(),
        )),
    }
}

pub async fn login(req: &mut Request, app: &App) -> Result<Response, GatewayError> {
    let input: Credentials = json_body(req).await?;
    let email = input.email.trim().to_ascii_lowercase();
    let ip = auth::client_ip(req);
    let pair = auth::email_ip_subject(&email, &ip);
    let subjects = [
        (LOGIN_PER_EMAIL_IP, pair.as_str()),
        (LOGIN_PER_IP, ip.as_str()),
    ];
    auth::count_attempts(app, &subjects).await?;
    let id = check_password(app, &email, &input.password).await?;
    auth::forgive_attempts(app, &subjects[..1], &subjects[1..]).await?;
    users::set_last_login(&app.db()?, id, now_ms()).await?;
    let mut data = session_tokens(app, id).await?;
    data["user"] = serde_json::to_value(load_user(app, id).await?)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    ok(data)
}

#[derive(Deserialize)]
struct RefreshInput {
    refresh_token: String,
}

/// A refresh token buys a new pair and is spent: the session's next refresh needs the new one.
/// Presenting a spent one (a replay: one of the two holders is a thief) revokes the session.
pub async fn refresh(req: &mut Request, app: &App) -> Result<Response, GatewayError> {
    let input: RefreshInput = json_body(req).await?;
    let now = now_ms();
    let presented = session::verify(
        &auth::jwt_secret(app)?,
        input.refresh_token.trim(),
        TokenKind::Refresh,
        now,
    )?;
    let d1 = app.db()?;
    let next = SessionRef {
        token_id: random_token("", 32)?,
        ..presented.clone()
    };
    let rotated: Option<db::IdRow> = db::first(
        &d1,
        "UPDATE sessions SET refresh_jti = ?1, last_used_at = ?2 \
         WHERE id = ?3 AND user_id = ?4 AND refresh_jti = ?5 AND revoked_at IS NULL AND expires_at > ?2 \
           AND EXISTS (SELECT 1 FROM users WHERE id = ?4 AND status = 'active' AND token_version = ?6) \
         RETURNING rowid AS id",
        &[next.token_id.as_str().into(), num(now), presented.session_id.as_str().into(), num(presented.user_id),
          presented.token_id.as_str().into(), num(presented.version)],
    )
    .await?;
    if rotated.is_none() {
        revoke_sessions(&d1, "id = ?1", &presented.session_id.as_str().into(), now).await?;
        return Err(GatewayError::Unauthorized(
            "Invalid or expired session token".into(),
        ));
    }
    ok(token_pair(app, &next)?)
}

/// Revokes the sessions matched by `scope` (a condition with one parameter, `?1`).
async fn revoke_sessions(
    d1: &D1Database,
    scope: &str,
    arg: &JsValue,
    now: i64,
) -> Result<(), GatewayError> {
    db::run(
        d1,
        &format!("UPDATE sessions SET revoked_at = ?2 WHERE {scope} AND revoked_at IS NULL"),
        &[arg.clone(), num(now)],
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogoutInput {
    /// Every session of the user, not only this one.
    #[serde(default)]
    all: bool,
}

/// `POST /api/users/logout`: ends this session (`{"all": true}`: every session of the user).
pub async fn logout(
    req: &mut Request,
    app: &App,
    principal: &Principal,
) -> Result<Response, GatewayError> {
    let user = principal.user()?;
    let bytes = req.bytes().await?;
    let input: LogoutInput = if bytes.is_empty() {
        LogoutInput::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| GatewayError::MalformedJson(format!("logout body: {e}")))?
    };
    let d1 = app.db()?;
    let now = now_ms();
    if input.all {
        end_all_sessions(&d1, user, now).await?;
    } else if let Some(sid) = &principal.session_id {
        revoke_sessions(&d1, "id = ?1", &sid.as_str().into(), now).await?;
    }
    ok(json!({"logged_out": if input.all { "all" } else { "this session" }}))
}

/// Bumps the user's token version and revokes every session: no token issued before works.
async fn end_all_sessions(d1: &D1Database, user: i64, now: i64) -> Result<(), GatewayError> {
    db::run(
        d1,
        "UPDATE users SET token_version = token_version + 1, updated_at = ?2 WHERE id = ?1",
        &[num(user), num(now)],
    )
    .await?;
    revoke_sessions(d1, "user_id = ?1", &num(user), now).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
}

/// `PATCH /api/users/:id` (instance admin): `status` `disabled` ends every session of the user
/// at once and stops their gateway keys within the key cache's TTL; `active` re-enables.
pub async fn set_status(
    req: &mut Request,
    app: &App,
    principal: &Principal,
    id: i64,
) -> Result<Response, GatewayError> {
    if !principal.is_instance_admin() {
        return Err(GatewayError::Forbidden(
            "only the instance admin enables or disables users".into(),
        ));
    }
    let change: StatusChange = json_body(req).await?;
    if !matches!(change.status.as_str(), "active" | "disabled") {
        return Err(GatewayError::InvalidRequest(
            "`status` must be active or disabled".into(),
        ));
    }
    let d1 = app.db()?;
    let now = now_ms();
    let row: Option<db::IdRow> = db::first(
        &d1,
        "UPDATE users SET status = ?1, updated_at = ?2 WHERE id = ?3 RETURNING id",
        &[change.status.as_str().into(), num(now), num(id)],
    )
    .await?;
    row.ok_or_else(|| GatewayError::NotFound(format!("user {id} not found")))?;
    if change.status == "disabled" {
        end_all_sessions(&d1, id, now).await?;
    }
    ok(json!({"id": id, "status": change.status}))
}

async fn load_user(app: &App, id: i64) -> Result<UserView, GatewayError> {
    let user = users::active(&app.db()?, id).await?;
    user.ok_or_else(|| GatewayError::Unauthorized("Invalid or expired session token".into()))
}

/// The signed-in user with the organizations they belong to and their role in each.
pub async fn me(app: &App, principal: &Principal) -> Result<Response, GatewayError> {
    let id = principal.user()?;
    let user = load_user(app, id).await?;
    let orgs = users::memberships(&app.db()?, id).await?;
    ok(json!({"user": user, "organizations": orgs}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileUpdate {
    name: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
}

/// Renames the user or changes the password (which needs the current one).
pub async fn update_me(
    req: &mut Request,
    app: &App,
    principal: &Principal,
) -> Result<Response, GatewayError> {
    let id = principal.user()?;
    let change: ProfileUpdate = json_body(req).await?;
    let d1 = app.db()?;
    let now = now_ms();
    if let Some(name) = &change.name {
        users::set_name(&d1, id, &validate_optional_name(name)?, now).await?;
    }
    let mut view = serde_json::to_value(load_user(app, id).await?)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    if let Some(password) = &change.password {
        check_password_policy(password)?;
        // Guessing the current password through this endpoint is throttled like sign-in.
        let subject = id.to_string();
        auth::count_attempts(app, &[(PASSWORD_CHANGE, &subject)]).await?;
        let current = change.current_password.as_deref().unwrap_or_default();
        check_password(app, &principal.email, current)
            .await
            .map_err(|_| GatewayError::Forbidden("`current_password` is wrong".into()))?;
        auth::forgive_attempts(app, &[(PASSWORD_CHANGE, &subject)], &[]).await?;
        let salt = new_salt()?;
        let hash = auth::pbkdf2(password, salt.as_bytes(), PBKDF2_ITERATIONS).await?;
        let password = PasswordHash {
            hash,
            salt,
            iterations: i64::from(PBKDF2_ITERATIONS),
        };
        users::set_password(&d1, id, password, now).await?;
        // Every session ends (a thief's too); the caller gets a fresh one.
        end_all_sessions(&d1, id, now).await?;
        view["session"] = session_tokens(app, id).await?;
    }
    ok(view)
}

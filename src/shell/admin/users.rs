//! Users and sessions (`/api/users/…`): register, login (access + refresh JWT), refresh, and
//! the signed-in user's profile. Login failures never say whether the email exists.

use crate::core::crypto::{constant_time_eq, fill_random, hex};
use crate::core::error::GatewayError;
use crate::core::invitation::normalize_email;
use crate::core::names::validate_optional_name;
use crate::core::session::{self, check_password_policy, TokenKind, PBKDF2_ITERATIONS};
use crate::shell::app::{now_ms, App};
use crate::shell::auth::{self, Principal};
use crate::shell::http::{created, json_body, ok};
use crate::shell::repo::users::{self, PasswordHash, UserView};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

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

/// The access and refresh tokens of a fresh session.
fn session_tokens(app: &App, user_id: i64) -> Result<serde_json::Value, GatewayError> {
    let secret = auth::jwt_secret(app)?;
    let now = now_ms();
    Ok(json!({
        "access_token": session::issue(&secret, user_id, TokenKind::Access, now)?,
        "refresh_token": session::issue(&secret, user_id, TokenKind::Refresh, now)?,
        "token_type": "Bearer",
        "expires_in": session::ACCESS_TTL_S,
    }))
}

pub async fn register(req: &mut Request, app: &App) -> Result<Response, GatewayError> {
    let input: Credentials = json_body(req).await?;
    let email = normalize_email(&input.email)?;
    check_password_policy(&input.password)?;
    let name = validate_optional_name(&input.name)?;
    let salt = new_salt()?;
    let hash = auth::pbkdf2(&input.password, salt.as_bytes(), PBKDF2_ITERATIONS).await?;
    let now = now_ms();
    let password = PasswordHash {
        hash,
        salt,
        iterations: i64::from(PBKDF2_ITERATIONS),
    };
    let id = users::insert(&app.db()?, (&email, &name), password, now)
        .await?
        .ok_or_else(|| GatewayError::Conflict("this email is already registered".into()))?;
    let mut data = session_tokens(app, id)?;
    data["user"] = json!({"id": id, "email": email, "name": name, "created_at": now});
    created(data)
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
    let ip = req
        .headers()
        .get("CF-Connecting-IP")?
        .unwrap_or_else(|| "unknown".into());
    auth::count_login_attempt(app, &email, &ip).await?;
    let id = check_password(app, &email, &input.password).await?;
    auth::clear_login_attempts(app, &email, &ip).await?;
    users::set_last_login(&app.db()?, id, now_ms()).await?;
    let mut data = session_tokens(app, id)?;
    data["user"] = serde_json::to_value(load_user(app, id).await?)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    ok(data)
}

#[derive(Deserialize)]
struct RefreshInput {
    refresh_token: String,
}

/// A refresh token buys a new pair while the user is still active.
pub async fn refresh(req: &mut Request, app: &App) -> Result<Response, GatewayError> {
    let input: RefreshInput = json_body(req).await?;
    let id = session::verify(
        &auth::jwt_secret(app)?,
        input.refresh_token.trim(),
        TokenKind::Refresh,
        now_ms(),
    )?;
    load_user(app, id).await?;
    ok(session_tokens(app, id)?)
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
    if let Some(password) = &change.password {
        check_password_policy(password)?;
        let current = change.current_password.as_deref().unwrap_or_default();
        check_password(app, &principal.email, current)
            .await
            .map_err(|_| GatewayError::Forbidden("`current_password` is wrong".into()))?;
        let salt = new_salt()?;
        let hash = auth::pbkdf2(password, salt.as_bytes(), PBKDF2_ITERATIONS).await?;
        let password = PasswordHash {
            hash,
            salt,
            iterations: i64::from(PBKDF2_ITERATIONS),
        };
        users::set_password(&d1, id, password, now).await?;
    }
    ok(load_user(app, id).await?)
}

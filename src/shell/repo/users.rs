//! Users (`users`): accounts with their password hashes (never shown) and profiles. The
//! throttles' counters (`login_attempts`) and sessions are written by `auth` and `admin::users`.

use crate::core::error::GatewayError;
use crate::shell::db::{all, first, num, run, IdRow};
use serde::{Deserialize, Serialize};
use worker::D1Database;

/// A password hash with its salt and iteration count.
pub struct PasswordHash {
    pub hash: String,
    pub salt: String,
    pub iterations: i64,
}

/// Registers a user; None when the email is taken.
pub async fn insert(
    db: &D1Database,
    (email, name): (&str, &str),
    password: PasswordHash,
    now: i64,
) -> Result<Option<i64>, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "INSERT INTO users (email, name, password_hash, password_salt, password_iterations, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (email) DO NOTHING RETURNING id",
        &[email.into(), name.into(), password.hash.into(), password.salt.into(), num(password.iterations), num(now)],
    )
    .await?;
    Ok(row.map(|r| r.id))
}

/// The id of the user with this (normalized) email.
pub async fn id_by_email(db: &D1Database, email: &str) -> Result<Option<i64>, GatewayError> {
    let user: Option<IdRow> =
        first(db, "SELECT id FROM users WHERE email = ?1", &[email.into()]).await?;
    Ok(user.map(|u| u.id))
}

/// What a password check needs of a user.
#[derive(Deserialize)]
pub struct PasswordRow {
    pub id: i64,
    pub password_hash: String,
    pub password_salt: String,
    pub password_iterations: i64,
    pub status: String,
}

pub async fn password_by_email(
    db: &D1Database,
    email: &str,
) -> Result<Option<PasswordRow>, GatewayError> {
    first(
        db,
        "SELECT id, password_hash, password_salt, password_iterations, status FROM users WHERE email = ?1",
        &[email.into()],
    )
    .await
}

pub async fn set_last_login(db: &D1Database, id: i64, now: i64) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE users SET last_login_at = ?1 WHERE id = ?2",
        &[num(now), num(id)],
    )
    .await
}

/// A user as the API shows it (never the hash or salt).
#[derive(Serialize, Deserialize)]
pub struct UserView {
    id: i64,
    email: String,
    name: String,
    created_at: i64,
    last_login_at: Option<i64>,
}

/// An active user.
pub async fn active(db: &D1Database, id: i64) -> Result<Option<UserView>, GatewayError> {
    first(
        db,
        "SELECT id, email, name, created_at, last_login_at FROM users WHERE id = ?1 AND status = 'active'",
        &[num(id)],
    )
    .await
}

pub async fn set_name(db: &D1Database, id: i64, name: &str, now: i64) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE users SET name = ?1, updated_at = ?2 WHERE id = ?3",
        &[name.into(), num(now), num(id)],
    )
    .await
}

pub async fn set_password(
    db: &D1Database,
    id: i64,
    password: PasswordHash,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE users SET password_hash = ?1, password_salt = ?2, password_iterations = ?3, updated_at = ?4 WHERE id = ?5",
        &[password.hash.into(), password.salt.into(), num(password.iterations), num(now), num(id)],
    )
    .await
}

/// An organization the user belongs to, with the user's role.
#[derive(Serialize, Deserialize)]
pub struct OrgMembership {
    id: i64,
    name: String,
    slug: String,
    plan: String,
    role: String,
}

/// The user's organizations, in the order they joined.
pub async fn memberships(db: &D1Database, id: i64) -> Result<Vec<OrgMembership>, GatewayError> {
    all(
        db,
        "SELECT o.id, o.name, o.slug, o.plan, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.user_id = ?1 ORDER BY m.created_at, o.id",
        &[num(id)],
    )
    .await
}

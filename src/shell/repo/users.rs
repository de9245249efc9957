//! Users and sign-in (`users`, `login_attempts`): accounts with their password hashes (never
//! shown), profiles, and the failed-login counters.

use crate::core::error::GatewayError;
use crate::shell::db::{all, batch_sql, first, num, run, IdRow};
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

#[derive(Deserialize)]
struct EmailRow {
    email: String,
}

/// The email of an active user.
pub async fn active_email(db: &D1Database, id: i64) -> Result<Option<String>, GatewayError> {
    let user: Option<EmailRow> = first(
        db,
        "SELECT email FROM users WHERE id = ?1 AND status = 'active'",
        &[num(id)],
    )
    .await?;
    Ok(user.map(|u| u.email))
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

#[derive(Deserialize)]
struct AttemptRow {
    attempts: i64,
}

/// Counts one attempt of `subject` in `scope` (one atomic UPSERT; a window that started before
/// `window_start_before` restarts at `now`); returns the attempts in the window.
pub async fn count_attempt(
    db: &D1Database,
    (scope, subject): (&str, String),
    now: i64,
    window_start_before: i64,
) -> Result<i64, GatewayError> {
    let row: Option<AttemptRow> = first(
        db,
        "INSERT INTO login_attempts (scope, subject, window_start, attempts) VALUES (?1, ?2, ?3, 1) \
         ON CONFLICT (scope, subject) DO UPDATE SET \
           attempts = CASE WHEN window_start <= ?4 THEN 1 ELSE attempts + 1 END, \
           window_start = CASE WHEN window_start <= ?4 THEN ?3 ELSE window_start END \
         RETURNING attempts",
        &[scope.into(), subject.into(), num(now), num(window_start_before)],
    )
    .await?;
    Ok(row.map_or(0, |r| r.attempts))
}

/// Clears the email's count and takes one attempt off the IP's.
pub async fn clear_attempts(
    db: &D1Database,
    email_hash: String,
    ip: &str,
) -> Result<(), GatewayError> {
    batch_sql(
        db,
        &[
            (
                "DELETE FROM login_attempts WHERE scope = 'email' AND subject = ?1",
                &[email_hash.into()],
            ),
            (
                "UPDATE login_attempts SET attempts = MAX(attempts - 1, 0) WHERE scope = 'ip' AND subject = ?1",
                &[ip.into()],
            ),
        ],
    )
    .await
}

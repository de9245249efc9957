//! Organizations, memberships and invitations (`organizations`, `memberships`,
//! `invitations`). Membership changes that must keep exactly one owner, or stay within the
//! plan's member limit, are single statements or one batch.

use crate::core::error::GatewayError;
use crate::shell::db::{all, batch, batch_sql, first, num, opt_num, opt_str, run, stmt, IdRow};
use serde::{Deserialize, Serialize};
use worker::D1Database;

/// An organization as the admin API shows it, with the caller's role when listed.
#[derive(Serialize, Deserialize)]
pub struct OrgView {
    id: i64,
    name: String,
    slug: String,
    plan: String,
    created_at: i64,
    #[serde(default)]
    role: Option<String>,
}

pub async fn get(db: &D1Database, org: i64) -> Result<Option<OrgView>, GatewayError> {
    first(
        db,
        "SELECT id, name, slug, plan, created_at FROM organizations WHERE id = ?1",
        &[num(org)],
    )
    .await
}

#[derive(Deserialize)]
struct PlanRow {
    plan: String,
}

/// The organization's plan (as stored).
pub async fn plan(db: &D1Database, org: i64) -> Result<Option<String>, GatewayError> {
    let row: Option<PlanRow> = first(
        db,
        "SELECT plan FROM organizations WHERE id = ?1",
        &[num(org)],
    )
    .await?;
    Ok(row.map(|r| r.plan))
}

/// Whether the organization exists.
pub async fn exists(db: &D1Database, org: i64) -> Result<bool, GatewayError> {
    Ok(plan(db, org).await?.is_some())
}

/// Every organization (the instance admin's view, as owner).
pub async fn list_all(db: &D1Database) -> Result<Vec<OrgView>, GatewayError> {
    all(
        db,
        "SELECT id, name, slug, plan, created_at, 'owner' AS role FROM organizations ORDER BY id",
        &[],
    )
    .await
}

/// The organizations a user belongs to, with their role in each.
pub async fn list_of_user(db: &D1Database, user: i64) -> Result<Vec<OrgView>, GatewayError> {
    all(
        db,
        "SELECT o.id, o.name, o.slug, o.plan, o.created_at, m.role FROM organizations o \
         JOIN memberships m ON m.organization_id = o.id WHERE m.user_id = ?1 ORDER BY o.id",
        &[num(user)],
    )
    .await
}

/// Creates the organization with its one owner, in one batch; returns it by its unique slug.
/// `None` also when the owner already owns `max_owned` organizations (counted in the insert
/// itself, so parallel creates cannot pass the limit).
pub async fn create(
    db: &D1Database,
    (name, slug, plan): (&str, &str, &str),
    (owner, max_owned): (i64, i64),
    now: i64,
) -> Result<Option<OrgView>, GatewayError> {
    batch(
        db,
        vec![
            stmt(
                db,
                "INSERT INTO organizations (name, slug, plan, created_at, updated_at) SELECT ?1, ?2, ?3, ?4, ?4 \
                 WHERE (SELECT COUNT(*) FROM memberships WHERE user_id = ?5 AND role = 'owner') < ?6",
                &[name.into(), slug.into(), plan.into(), num(now), num(owner), num(max_owned)],
            )?,
            stmt(
                db,
                "INSERT INTO memberships (organization_id, user_id, role, created_at) \
                 SELECT id, ?1, 'owner', ?2 FROM organizations WHERE slug = ?3",
                &[num(owner), num(now), slug.into()],
            )?,
        ],
    )
    .await?;
    first(
        db,
        "SELECT id, name, slug, plan, created_at, 'owner' AS role FROM organizations WHERE slug = ?1",
        &[slug.into()],
    )
    .await
}

/// Renames and/or changes the plan (absent: unchanged).
pub async fn update(
    db: &D1Database,
    org: i64,
    (name, plan): (Option<&str>, Option<&str>),
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE organizations SET name = COALESCE(?1, name), plan = COALESCE(?2, plan), updated_at = ?3 WHERE id = ?4",
        &[opt_str(name), opt_str(plan), num(now), num(org)],
    )
    .await
}

/// Deletes the organization; D1's foreign keys cascade to everything it owns, the tables
/// without one are emptied first.
pub async fn delete(db: &D1Database, org: i64) -> Result<(), GatewayError> {
    batch(
        db,
        ["usage_logs", "usage_daily", "settings", "job_runs"]
            .iter()
            .map(|table| {
                stmt(
                    db,
                    &format!("DELETE FROM {table} WHERE organization_id = ?1"),
                    &[num(org)],
                )
            })
            .chain([stmt(
                db,
                "DELETE FROM organizations WHERE id = ?1",
                &[num(org)],
            )])
            .collect::<Result<Vec<_>, _>>()?,
    )
    .await
}

/// A member as the admin API shows them.
#[derive(Serialize, Deserialize)]
pub struct MemberView {
    user_id: i64,
    email: String,
    name: String,
    role: String,
    created_at: i64,
}

pub async fn members(db: &D1Database, org: i64) -> Result<Vec<MemberView>, GatewayError> {
    all(
        db,
        "SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.organization_id = ?1 ORDER BY m.created_at, m.user_id",
        &[num(org)],
    )
    .await
}

#[derive(Deserialize)]
struct RoleRow {
    role: String,
}

/// The user's role in the organization (as stored), None when not a member.
pub async fn member_role(
    db: &D1Database,
    org: i64,
    user_id: i64,
) -> Result<Option<String>, GatewayError> {
    let row: Option<RoleRow> = first(
        db,
        "SELECT role FROM memberships WHERE organization_id = ?1 AND user_id = ?2",
        &[num(org), num(user_id)],
    )
    .await?;
    Ok(row.map(|r| r.role))
}

/// Whether the organization has an owner.
pub async fn has_owner(db: &D1Database, org: i64) -> Result<bool, GatewayError> {
    let owner: Option<RoleRow> = first(
        db,
        "SELECT role FROM memberships WHERE organization_id = ?1 AND role = 'owner'",
        &[num(org)],
    )
    .await?;
    Ok(owner.is_some())
}

/// Whether a user with this email is a member.
pub async fn has_member_email(
    db: &D1Database,
    org: i64,
    email: &str,
) -> Result<bool, GatewayError> {
    let member: Option<RoleRow> = first(
        db,
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = ?1 AND u.email = ?2",
        &[num(org), email.into()],
    )
    .await?;
    Ok(member.is_some())
}

/// A membership row: the organization and the role in it.
#[derive(Deserialize)]
pub struct MembershipRow {
    pub organization_id: i64,
    pub role: String,
}

/// The user's membership in `org`, or (org None) in their first organization.
pub async fn membership(
    db: &D1Database,
    user_id: i64,
    org: Option<i64>,
) -> Result<Option<MembershipRow>, GatewayError> {
    match org {
        Some(org) => {
            first(
                db,
                "SELECT organization_id, role FROM memberships WHERE organization_id = ?1 AND user_id = ?2",
                &[num(org), num(user_id)],
            )
            .await
        }
        None => {
            first(
                db,
                "SELECT organization_id, role FROM memberships WHERE user_id = ?1 ORDER BY created_at, organization_id LIMIT 1",
                &[num(user_id)],
            )
            .await
        }
    }
}

/// Changes a member's role; the owner's row is never changed here.
pub async fn set_role(
    db: &D1Database,
    org: i64,
    user_id: i64,
    role: &str,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE memberships SET role = ?1 WHERE organization_id = ?2 AND user_id = ?3 AND role <> 'owner'",
        &[role.into(), num(org), num(user_id)],
    )
    .await
}

/// Removes a (non-owner) member; their gateway keys in this organization stop working with the
/// membership.
pub async fn remove_member(
    db: &D1Database,
    org: i64,
    user_id: i64,
    now: i64,
) -> Result<(), GatewayError> {
    batch_sql(
        db,
        &[
            (
                "DELETE FROM memberships WHERE organization_id = ?1 AND user_id = ?2 AND role <> 'owner'",
                &[num(org), num(user_id)],
            ),
            (
                "UPDATE gateway_keys SET enabled = 0, updated_at = ?3 WHERE organization_id = ?1 AND user_id = ?2",
                &[num(org), num(user_id), num(now)],
            ),
        ],
    )
    .await
}

/// Adds a membership while the organization has fewer than `max_members` (the count and the
/// insert are one statement, so concurrent joins cannot pass the limit). False: not added
/// (already a member, or the limit is reached).
pub async fn join(
    db: &D1Database,
    (org, user_id, role): (i64, i64, &str),
    max_members: i64,
    now: i64,
) -> Result<bool, GatewayError> {
    let inserted: Option<RoleRow> = first(
        db,
        "INSERT INTO memberships (organization_id, user_id, role, created_at) \
         SELECT ?1, ?2, ?3, ?4 WHERE (SELECT COUNT(*) FROM memberships WHERE organization_id = ?1) < ?5 \
         ON CONFLICT (organization_id, user_id) DO NOTHING RETURNING role",
        &[num(org), num(user_id), role.into(), num(now), num(max_members)],
    )
    .await?;
    Ok(inserted.is_some())
}

/// The member becomes owner and the old owner an admin, in one batch.
pub async fn transfer_ownership(
    db: &D1Database,
    org: i64,
    user_id: i64,
) -> Result<(), GatewayError> {
    batch_sql(
        db,
        &[
            (
                "UPDATE memberships SET role = 'admin' WHERE organization_id = ?1 AND role = 'owner'",
                &[num(org)],
            ),
            (
                "UPDATE memberships SET role = 'owner' WHERE organization_id = ?1 AND user_id = ?2",
                &[num(org), num(user_id)],
            ),
        ],
    )
    .await
}

/// An invitation as the admin API shows it (never its token).
#[derive(Serialize, Deserialize)]
pub struct InvitationView {
    id: i64,
    email: String,
    role: String,
    expires_at: i64,
    accepted_at: Option<i64>,
    cancelled_at: Option<i64>,
    created_at: i64,
}

pub async fn invitations(db: &D1Database, org: i64) -> Result<Vec<InvitationView>, GatewayError> {
    all(
        db,
        "SELECT id, email, role, expires_at, accepted_at, cancelled_at, created_at FROM invitations \
         WHERE organization_id = ?1 ORDER BY created_at DESC, id DESC",
        &[num(org)],
    )
    .await
}

/// An invitation to store: only the token's hash.
pub struct NewInvitation<'a> {
    pub email: &'a str,
    pub role: &'a str,
    pub token_hash: String,
    pub invited_by: Option<i64>,
    pub expires_at: i64,
}

/// Stores the invitation; returns its id.
pub async fn invite(
    db: &D1Database,
    org: i64,
    inv: NewInvitation<'_>,
    now: i64,
) -> Result<i64, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        &[num(org), inv.email.into(), inv.role.into(), inv.token_hash.into(), opt_num(inv.invited_by), num(inv.expires_at), num(now)],
    )
    .await?;
    Ok(row
        .ok_or_else(|| GatewayError::Internal("invitation insert returned no id".into()))?
        .id)
}

/// Cancels an open invitation; false when there is none with this id.
pub async fn cancel_invitation(
    db: &D1Database,
    org: i64,
    id: i64,
    now: i64,
) -> Result<bool, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "UPDATE invitations SET cancelled_at = ?1 WHERE organization_id = ?2 AND id = ?3 AND accepted_at IS NULL AND cancelled_at IS NULL RETURNING id",
        &[num(now), num(org), num(id)],
    )
    .await?;
    Ok(row.is_some())
}

/// An invitation found by its token, with its organization's name.
#[derive(Deserialize)]
pub struct InvitationRow {
    pub id: i64,
    pub organization_id: i64,
    pub org_name: String,
    pub email: String,
    pub role: String,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub cancelled_at: Option<i64>,
}

pub async fn invitation_by_hash(
    db: &D1Database,
    token_hash: String,
) -> Result<Option<InvitationRow>, GatewayError> {
    first(
        db,
        "SELECT i.id, i.organization_id, o.name AS org_name, i.email, i.role, i.expires_at, i.accepted_at, i.cancelled_at \
         FROM invitations i JOIN organizations o ON o.id = i.organization_id WHERE i.token_hash = ?1",
        &[token_hash.into()],
    )
    .await
}

/// Spends the invitation.
pub async fn accept_invitation(db: &D1Database, id: i64, now: i64) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE invitations SET accepted_at = ?1 WHERE id = ?2 AND accepted_at IS NULL",
        &[num(now), num(id)],
    )
    .await
}

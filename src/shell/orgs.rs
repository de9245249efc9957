//! Organizations, members, ownership transfer and invitations (`/api/organizations/…`,
//! `/api/invitations/:token`). Every query names the organization; a foreign one is a 404.

use super::admin::{json_body, ok, parse_id};
use super::app::{json_response, now_ms, App, DEFAULT_ORGANIZATION_ID};
use super::auth::{self, Caller, Principal};
use super::db::{self, num};
use super::plans::{forget_limits, org_limits};
use crate::core::crypto::random_token;
use crate::core::error::GatewayError;
use crate::core::invitation::{
    invitation_hash, mint_invitation, normalize_email, InvitationState, INVITATION_TTL_MS,
};
use crate::core::organization::{slug_base, validate_name};
use crate::core::plans::{Limit, Plan, PLANS};
use crate::core::roles::{check_member_change, Action, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{D1Database, Method, Request, Response};

/// Organizations one user may own unless the `MAX_ORGS_PER_USER` var says otherwise.
const DEFAULT_MAX_ORGS_PER_USER: i64 = 3;

#[derive(Serialize, Deserialize)]
struct OrgView {
    id: i64,
    name: String,
    slug: String,
    plan: String,
    created_at: i64,
    #[serde(default)]
    role: Option<String>,
}

/// `/api/organizations/…` (segments after `organizations`).
pub async fn dispatch(
    req: &mut Request,
    app: &App,
    principal: &Principal,
    segments: &[&str],
) -> Result<Response, GatewayError> {
    let method = req.method();
    if let (Method::Get, ["plans"]) = (&method, segments) {
        return ok(PLANS);
    }
    let Some((id, rest)) = segments.split_first() else {
        return match method {
            Method::Get => list(app, principal).await,
            Method::Post => create(req, app, principal).await,
            _ => Err(GatewayError::MethodNotAllowed),
        };
    };
    let caller = auth::caller(req, app, principal, Some(parse_id(id)?)).await?;
    match (method, rest) {
        (Method::Get, []) => {
            caller.require(Action::ReadOrganization)?;
            ok(get(app, caller.org).await?)
        }
        (Method::Patch, []) => update(req, app, &caller).await,
        (Method::Delete, []) => delete(app, &caller).await,
        (Method::Post, ["transfer"]) => transfer(req, app, &caller).await,
        (Method::Get, ["members"]) => {
            caller.require(Action::ReadOrganization)?;
            members(app, caller.org).await
        }
        (Method::Post, ["members"]) => add_member(req, app, principal, &caller).await,
        (Method::Patch, ["members", uid]) => change_member(req, app, &caller, parse_id(uid)?).await,
        (Method::Delete, ["members", uid]) => remove_member(app, &caller, parse_id(uid)?).await,
        (Method::Get, ["invitations"]) => list_invitations(app, &caller).await,
        (Method::Post, ["invitations"]) => invite(req, app, &caller).await,
        (Method::Delete, ["invitations", inv]) => {
            cancel_invitation(app, &caller, parse_id(inv)?).await
        }
        _ => Err(GatewayError::NotFound(
            "Unknown organization endpoint".into(),
        )),
    }
}

async fn get(app: &App, org: i64) -> Result<OrgView, GatewayError> {
    let row: Option<OrgView> = db::first(
        &app.db()?,
        "SELECT id, name, slug, plan, created_at FROM organizations WHERE id = ?1",
        &[num(org)],
    )
    .await?;
    row.ok_or_else(|| GatewayError::NotFound("organization not found".into()))
}

/// The instance admin sees every organization; a user sees theirs with their role.
async fn list(app: &App, principal: &Principal) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let orgs: Vec<OrgView> = match principal.user_id {
        None => {
            db::all(
                &d1,
                "SELECT id, name, slug, plan, created_at, 'owner' AS role FROM organizations ORDER BY id",
                &[],
            )
            .await?
        }
        Some(user) => {
            db::all(
                &d1,
                "SELECT o.id, o.name, o.slug, o.plan, o.created_at, m.role FROM organizations o \
                 JOIN memberships m ON m.organization_id = o.id WHERE m.user_id = ?1 ORDER BY o.id",
                &[num(user)],
            )
            .await?
        }
    };
    ok(orgs)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrg {
    name: String,
    plan: Option<String>,
    /// Instance admin only: the registered user who becomes the owner.
    owner_email: Option<String>,
}

#[derive(Deserialize)]
struct UserIdRow {
    id: i64,
}

/// The id of the registered user with this (normalized) email, or a 404.
async fn registered_user(d1: &D1Database, email: &str) -> Result<i64, GatewayError> {
    let user: Option<UserIdRow> =
        db::first(d1, "SELECT id FROM users WHERE email = ?1", &[email.into()]).await?;
    user.map(|u| u.id)
        .ok_or_else(|| GatewayError::NotFound(format!("no registered user has the email {email}")))
}

/// A user creates an organization they own (Free plan); the instance admin names the owner
/// (`owner_email`) and may pick the plan. Either way it starts with exactly one owner.
async fn create(
    req: &mut Request,
    app: &App,
    principal: &Principal,
) -> Result<Response, GatewayError> {
    let input: NewOrg = json_body(req).await?;
    let name = validate_name(&input.name)?;
    let d1 = app.db()?;
    let (owner, plan) = match principal.user_id {
        Some(user) => {
            if input.plan.is_some() || input.owner_email.is_some() {
                return Err(GatewayError::Forbidden(
                    "only the instance admin sets `plan` or `owner_email` at creation".into(),
                ));
            }
            (user, Plan::Free)
        }
        None => {
            let email = normalize_email(input.owner_email.as_deref().unwrap_or_default())
                .map_err(|_| {
                    GatewayError::InvalidRequest(
                        "`owner_email` (a registered user) is required: every organization has exactly one owner".into(),
                    )
                })?;
            (
                registered_user(&d1, &email).await?,
                parse_plan(input.plan.as_deref().unwrap_or("free"))?,
            )
        }
    };
    let slug = format!("{}-{}", slug_base(&name), random_token("", 8)?);
    let now = now_ms();
    // A user owns at most MAX_ORGS_PER_USER organizations (counted in the insert itself, so
    // parallel creates cannot pass it); the instance admin is not limited.
    let max_owned = match principal.user_id {
        Some(_) => app.var_i64("MAX_ORGS_PER_USER", DEFAULT_MAX_ORGS_PER_USER),
        None => i64::MAX,
    };
    db::batch(
        &d1,
        vec![
            db::stmt(
                &d1,
                "INSERT INTO organizations (name, slug, plan, created_at, updated_at) SELECT ?1, ?2, ?3, ?4, ?4 \
                 WHERE (SELECT COUNT(*) FROM memberships WHERE user_id = ?5 AND role = 'owner') < ?6",
                &[name.as_str().into(), slug.as_str().into(), plan.as_str().into(), num(now), num(owner), num(max_owned)],
            )?,
            db::stmt(
                &d1,
                "INSERT INTO memberships (organization_id, user_id, role, created_at) \
                 SELECT id, ?1, 'owner', ?2 FROM organizations WHERE slug = ?3",
                &[num(owner), num(now), slug.as_str().into()],
            )?,
        ],
    )
    .await?;
    let org: Option<OrgView> = db::first(
        &d1,
        "SELECT id, name, slug, plan, created_at, 'owner' AS role FROM organizations WHERE slug = ?1",
        &[slug.as_str().into()],
    )
    .await?;
    let org = org.ok_or_else(|| {
        GatewayError::Forbidden(format!(
            "org_limit_per_user: a user may own at most {max_owned} organizations"
        ))
    })?;
    Ok(json_response(&json!({"success": true, "data": org}), 201))
}

fn parse_plan(raw: &str) -> Result<Plan, GatewayError> {
    Plan::parse(raw).ok_or_else(|| {
        GatewayError::InvalidRequest("`plan` must be free, pro or enterprise".into())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgUpdate {
    name: Option<String>,
    plan: Option<String>,
}

async fn update(req: &mut Request, app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    let change: OrgUpdate = json_body(req).await?;
    let name = match &change.name {
        Some(n) => {
            caller.require(Action::UpdateOrganization)?;
            Some(validate_name(n)?)
        }
        None => None,
    };
    let plan = match &change.plan {
        Some(p) => {
            caller.require(Action::ChangePlan)?;
            Some(parse_plan(p)?.as_str())
        }
        None => None,
    };
    if name.is_none() && plan.is_none() {
        caller.require(Action::UpdateOrganization)?;
    }
    db::run(
        &app.db()?,
        "UPDATE organizations SET name = COALESCE(?1, name), plan = COALESCE(?2, plan), updated_at = ?3 WHERE id = ?4",
        &[db::opt_str(name.as_deref()), db::opt_str(plan), num(now_ms()), num(caller.org)],
    )
    .await?;
    // A new plan applies to this isolate's relay calls at once (others within a minute).
    forget_limits(caller.org);
    ok(get(app, caller.org).await?)
}

/// Deletes the organization; D1's foreign keys cascade to everything it owns.
async fn delete(app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    caller.require(Action::DeleteOrganization)?;
    if caller.org == DEFAULT_ORGANIZATION_ID {
        return Err(GatewayError::Conflict(
            "the default organization cannot be deleted".into(),
        ));
    }
    let d1 = app.db()?;
    db::batch(
        &d1,
        ["usage_logs", "usage_daily", "settings"]
            .iter()
            .map(|table| {
                db::stmt(
                    &d1,
                    &format!("DELETE FROM {table} WHERE organization_id = ?1"),
                    &[num(caller.org)],
                )
            })
            .chain([db::stmt(
                &d1,
                "DELETE FROM organizations WHERE id = ?1",
                &[num(caller.org)],
            )])
            .collect::<Result<Vec<_>, _>>()?,
    )
    .await?;
    ok(json!({"deleted": true}))
}

#[derive(Serialize, Deserialize)]
struct MemberView {
    user_id: i64,
    email: String,
    name: String,
    role: String,
    created_at: i64,
}

async fn members(app: &App, org: i64) -> Result<Response, GatewayError> {
    ok(db::all::<MemberView>(
        &app.db()?,
        "SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.organization_id = ?1 ORDER BY m.created_at, m.user_id",
        &[num(org)],
    )
    .await?)
}

#[derive(Deserialize)]
struct RoleRow {
    role: String,
}

/// The member's current role, or 404 when `user_id` is not in the organization.
async fn member_role(app: &App, org: i64, user_id: i64) -> Result<Role, GatewayError> {
    let row: Option<RoleRow> = db::first(
        &app.db()?,
        "SELECT role FROM memberships WHERE organization_id = ?1 AND user_id = ?2",
        &[num(org), num(user_id)],
    )
    .await?;
    row.and_then(|r| Role::parse(&r.role))
        .ok_or_else(|| GatewayError::NotFound(format!("user {user_id} is not a member")))
}

fn parse_role(raw: &str) -> Result<Role, GatewayError> {
    Role::parse(raw)
        .ok_or_else(|| GatewayError::InvalidRequest("`role` must be owner, admin or member".into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

async fn change_member(
    req: &mut Request,
    app: &App,
    caller: &Caller,
    user_id: i64,
) -> Result<Response, GatewayError> {
    let change: RoleChange = json_body(req).await?;
    let role = parse_role(&change.role)?;
    caller.require(Action::ManageMembers)?;
    let current = member_role(app, caller.org, user_id).await?;
    check_member_change(caller.role, current, Some(role))?;
    db::run(
        &app.db()?,
        "UPDATE memberships SET role = ?1 WHERE organization_id = ?2 AND user_id = ?3 AND role <> 'owner'",
        &[role.as_str().into(), num(caller.org), num(user_id)],
    )
    .await?;
    ok(json!({"user_id": user_id, "role": role}))
}

/// Removes a member (admins and owner), or lets any non-owner member leave.
async fn remove_member(app: &App, caller: &Caller, user_id: i64) -> Result<Response, GatewayError> {
    let leaving = caller.user_id == Some(user_id);
    if !leaving {
        caller.require(Action::ManageMembers)?;
    }
    let current = member_role(app, caller.org, user_id).await?;
    let actor = if leaving { Role::Admin } else { caller.role };
    check_member_change(actor, current, None)?;
    db::batch_sql(
        &app.db()?,
        &[
            (
                "DELETE FROM memberships WHERE organization_id = ?1 AND user_id = ?2 AND role <> 'owner'",
                &[num(caller.org), num(user_id)],
            ),
            // Their gateway keys in this organization stop working with the membership.
            (
                "UPDATE gateway_keys SET enabled = 0, updated_at = ?3 WHERE organization_id = ?1 AND user_id = ?2",
                &[num(caller.org), num(user_id), num(now_ms())],
            ),
        ],
    )
    .await?;
    ok(json!({"removed": user_id}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    email: String,
    role: String,
}

/// Instance admin only: adds a registered user directly (e.g. the owner of the default org).
async fn add_member(
    req: &mut Request,
    app: &App,
    principal: &Principal,
    caller: &Caller,
) -> Result<Response, GatewayError> {
    if !principal.is_instance_admin() {
        return Err(GatewayError::Forbidden(
            "members join by invitation; only the instance admin adds them directly".into(),
        ));
    }
    let input: NewMember = json_body(req).await?;
    let role = parse_role(&input.role)?;
    let email = normalize_email(&input.email)?;
    let d1 = app.db()?;
    let user_id = registered_user(&d1, &email).await?;
    if role == Role::Owner {
        let owner: Option<RoleRow> = db::first(
            &d1,
            "SELECT role FROM memberships WHERE organization_id = ?1 AND role = 'owner'",
            &[num(caller.org)],
        )
        .await?;
        if owner.is_some() {
            return Err(GatewayError::Conflict(
                "the organization has an owner: use POST /api/organizations/:id/transfer".into(),
            ));
        }
    }
    join(app, caller.org, user_id, role).await?;
    Ok(json_response(
        &json!({"success": true, "data": {"user_id": user_id, "role": role}}),
        201,
    ))
}

/// Adds a membership if the plan's member limit allows it. The count and the insert are one
/// statement, so concurrent joins cannot pass the limit.
async fn join(app: &App, org: i64, user_id: i64, role: Role) -> Result<(), GatewayError> {
    let d1 = app.db()?;
    let limits = org_limits(&d1, org).await?;
    let inserted: Option<RoleRow> = db::first(
        &d1,
        "INSERT INTO memberships (organization_id, user_id, role, created_at) \
         SELECT ?1, ?2, ?3, ?4 WHERE (SELECT COUNT(*) FROM memberships WHERE organization_id = ?1) < ?5 \
         ON CONFLICT (organization_id, user_id) DO NOTHING RETURNING role",
        &[num(org), num(user_id), role.as_str().into(), num(now_ms()), num(limits.members)],
    )
    .await?;
    if inserted.is_some() {
        return Ok(());
    }
    if member_role(app, org, user_id).await.is_ok() {
        return Err(GatewayError::Conflict(
            "already a member of this organization".into(),
        ));
    }
    Err(limits.exceeded(Limit::Members))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    user_id: i64,
}

/// Explicit ownership transfer: the target (already a member) becomes owner, the old owner an
/// admin, in one batch so there is always exactly one owner.
async fn transfer(req: &mut Request, app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    caller.require(Action::TransferOwnership)?;
    let input: Transfer = json_body(req).await?;
    let current = member_role(app, caller.org, input.user_id).await?;
    if current == Role::Owner {
        return Err(GatewayError::Conflict(
            "that user is already the owner".into(),
        ));
    }
    db::batch_sql(
        &app.db()?,
        &[
            (
                "UPDATE memberships SET role = 'admin' WHERE organization_id = ?1 AND role = 'owner'",
                &[num(caller.org)],
            ),
            (
                "UPDATE memberships SET role = 'owner' WHERE organization_id = ?1 AND user_id = ?2",
                &[num(caller.org), num(input.user_id)],
            ),
        ],
    )
    .await?;
    ok(json!({"owner": input.user_id}))
}

#[derive(Serialize, Deserialize)]
struct InvitationView {
    id: i64,
    email: String,
    role: String,
    expires_at: i64,
    accepted_at: Option<i64>,
    cancelled_at: Option<i64>,
    created_at: i64,
}

async fn list_invitations(app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    caller.require(Action::ManageInvitations)?;
    ok(db::all::<InvitationView>(
        &app.db()?,
        "SELECT id, email, role, expires_at, accepted_at, cancelled_at, created_at FROM invitations \
         WHERE organization_id = ?1 ORDER BY created_at DESC, id DESC",
        &[num(caller.org)],
    )
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvitation {
    email: String,
    role: String,
}

/// Invites an email as admin or member; the token is shown once, only its hash is stored.
async fn invite(req: &mut Request, app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    caller.require(Action::ManageInvitations)?;
    let input: NewInvitation = json_body(req).await?;
    let email = normalize_email(&input.email)?;
    let role = parse_role(&input.role)?;
    if role == Role::Owner {
        return Err(GatewayError::InvalidRequest(
            "invitations are for admin or member; ownership moves by transfer".into(),
        ));
    }
    let d1 = app.db()?;
    let member: Option<RoleRow> = db::first(
        &d1,
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = ?1 AND u.email = ?2",
        &[num(caller.org), email.as_str().into()],
    )
    .await?;
    if member.is_some() {
        return Err(GatewayError::Conflict(
            "already a member of this organization".into(),
        ));
    }
    let minted = mint_invitation()?;
    let now = now_ms();
    let expires_at = now + INVITATION_TTL_MS;
    let row: Option<db::IdRow> = db::first(
        &d1,
        "INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        &[num(caller.org), email.as_str().into(), role.as_str().into(), minted.hash.into(), db::opt_num(caller.user_id), num(expires_at), num(now)],
    )
    .await?;
    let id = row
        .ok_or_else(|| GatewayError::Internal("invitation insert returned no id".into()))?
        .id;
    Ok(json_response(
        &json!({"success": true, "data": {
            "id": id, "email": email, "role": role, "expires_at": expires_at, "token": minted.token,
            "note": "Send this token to the invitee now: it is shown only once.",
        }}),
        201,
    ))
}

async fn cancel_invitation(app: &App, caller: &Caller, id: i64) -> Result<Response, GatewayError> {
    caller.require(Action::ManageInvitations)?;
    let row: Option<db::IdRow> = db::first(
        &app.db()?,
        "UPDATE invitations SET cancelled_at = ?1 WHERE organization_id = ?2 AND id = ?3 AND accepted_at IS NULL AND cancelled_at IS NULL RETURNING id",
        &[num(now_ms()), num(caller.org), num(id)],
    )
    .await?;
    row.ok_or_else(|| GatewayError::NotFound(format!("open invitation {id} not found")))?;
    ok(json!({"cancelled": id}))
}

#[derive(Deserialize)]
struct InvitationRow {
    id: i64,
    organization_id: i64,
    org_name: String,
    email: String,
    role: String,
    expires_at: i64,
    accepted_at: Option<i64>,
    cancelled_at: Option<i64>,
}

async fn find_invitation(app: &App, token: &str) -> Result<InvitationRow, GatewayError> {
    let row: Option<InvitationRow> = db::first(
        &app.db()?,
        "SELECT i.id, i.organization_id, o.name AS org_name, i.email, i.role, i.expires_at, i.accepted_at, i.cancelled_at \
         FROM invitations i JOIN organizations o ON o.id = i.organization_id WHERE i.token_hash = ?1",
        &[invitation_hash(token).into()],
    )
    .await?;
    let row = row.ok_or_else(|| {
        GatewayError::NotFound("invitation not found, expired, cancelled or already used".into())
    })?;
    state(&row).check_open(now_ms())?;
    Ok(row)
}

fn state(row: &InvitationRow) -> InvitationState<'_> {
    InvitationState {
        email: &row.email,
        expires_at: row.expires_at,
        accepted_at: row.accepted_at,
        cancelled_at: row.cancelled_at,
    }
}

/// Public lookup: only the organization's name, the role and the expiry.
pub async fn lookup_invitation(app: &App, token: &str) -> Result<Response, GatewayError> {
    let row = find_invitation(app, token).await?;
    ok(json!({"organization": row.org_name, "role": row.role, "expires_at": row.expires_at}))
}

/// The signed-in user whose email was invited joins (within the plan's member limit); the
/// token is then spent.
pub async fn accept_invitation(
    app: &App,
    principal: &Principal,
    token: &str,
) -> Result<Response, GatewayError> {
    let user_id = principal.user()?;
    let row = find_invitation(app, token).await?;
    let now = now_ms();
    state(&row).check_acceptable(&principal.email, now)?;
    let role = parse_role(&row.role)?;
    join(app, row.organization_id, user_id, role).await?;
    db::run(
        &app.db()?,
        "UPDATE invitations SET accepted_at = ?1 WHERE id = ?2 AND accepted_at IS NULL",
        &[num(now), num(row.id)],
    )
    .await?;
    ok(json!({"organization_id": row.organization_id, "role": role}))
}

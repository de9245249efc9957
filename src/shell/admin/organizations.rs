//! Organizations, members, ownership transfer and invitations (`/api/organizations/…`,
//! `/api/invitations/:token`). Every query names the organization; a foreign one is a 404.

use crate::core::crypto::random_token;
use crate::core::error::GatewayError;
use crate::core::invitation::{
    invitation_hash, mint_invitation, normalize_email, InvitationState, INVITATION_TTL_MS,
};
use crate::core::names::validate_name;
use crate::core::organization::slug_base;
use crate::core::plans::{Limit, Plan, PLANS};
use crate::core::roles::{check_member_change, Action, Role};
use crate::shell::app::{now_ms, App, DEFAULT_ORGANIZATION_ID};
use crate::shell::auth::{self, Caller, Principal};
use crate::shell::http::{created, json_body, ok, parse_id};
use crate::shell::plans::{forget_limits, org_limits};
use crate::shell::repo::organizations::{self, InvitationRow, NewInvitation, OrgView};
use crate::shell::repo::users;
use crate::shell::routes;
use crate::shell::upstream::clear_cooldown;
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Method, Request, Response};

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
    let row = organizations::get(&app.db()?, org).await?;
    row.ok_or_else(|| GatewayError::NotFound("organization not found".into()))
}

/// The instance admin sees every organization; a user sees theirs with their role.
async fn list(app: &App, principal: &Principal) -> Result<Response, GatewayError> {
    let d1 = app.db()?;
    let orgs = match principal.user_id {
        None => organizations::list_all(&d1).await?,
        Some(user) => organizations::list_of_user(&d1, user).await?,
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

/// The id of the registered user with this (normalized) email, or a 404.
async fn registered_user(d1: &D1Database, email: &str) -> Result<i64, GatewayError> {
    users::id_by_email(d1, email)
        .await?
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
    let max_owned = match principal.user_id {
        Some(_) => app.config().max_orgs_per_user,
        None => i64::MAX,
    };
    let row = (name.as_str(), slug.as_str(), plan.as_str());
    let org = organizations::create(&d1, row, (owner, max_owned), now)
        .await?
        .ok_or_else(|| {
            GatewayError::Forbidden(format!(
                "org_limit_per_user: a user may own at most {max_owned} organizations"
            ))
        })?;
    created(org)
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
    let change = (name.as_deref(), plan);
    organizations::update(&app.db()?, caller.org, change, now_ms()).await?;
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
    organizations::delete(&app.db()?, caller.org).await?;
    // Outside D1 too: its published route table and its channels' cooldown state.
    routes::forget(&app.env, caller.org).await?;
    clear_cooldown(&app.env, caller.org, None).await?;
    ok(json!({"deleted": true}))
}

async fn members(app: &App, org: i64) -> Result<Response, GatewayError> {
    ok(organizations::members(&app.db()?, org).await?)
}

/// The member's current role, or 404 when `user_id` is not in the organization.
async fn member_role(app: &App, org: i64, user_id: i64) -> Result<Role, GatewayError> {
    let role = organizations::member_role(&app.db()?, org, user_id).await?;
    role.and_then(|r| Role::parse(&r))
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
    organizations::set_role(&app.db()?, caller.org, user_id, role.as_str()).await?;
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
    organizations::remove_member(&app.db()?, caller.org, user_id, now_ms()).await?;
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
    if role == Role::Owner && organizations::has_owner(&d1, caller.org).await? {
        return Err(GatewayError::Conflict(
            "the organization has an owner: use POST /api/organizations/:id/transfer".into(),
        ));
    }
    join(app, caller.org, user_id, role).await?;
    created(json!({"user_id": user_id, "role": role}))
}

/// Adds a membership if the plan's member limit allows it. The count and the insert are one
/// statement, so concurrent joins cannot pass the limit.
async fn join(app: &App, org: i64, user_id: i64, role: Role) -> Result<(), GatewayError> {
    let d1 = app.db()?;
    let limits = org_limits(&d1, org).await?;
    let member = (org, user_id, role.as_str());
    if organizations::join(&d1, member, limits.members, now_ms()).await? {
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
    organizations::transfer_ownership(&app.db()?, caller.org, input.user_id).await?;
    ok(json!({"owner": input.user_id}))
}

async fn list_invitations(app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    caller.require(Action::ManageInvitations)?;
    ok(organizations::invitations(&app.db()?, caller.org).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationInput {
    email: String,
    role: String,
}

/// Invites an email as admin or member; the token is shown once, only its hash is stored.
async fn invite(req: &mut Request, app: &App, caller: &Caller) -> Result<Response, GatewayError> {
    caller.require(Action::ManageInvitations)?;
    let input: InvitationInput = json_body(req).await?;
    let email = normalize_email(&input.email)?;
    let role = parse_role(&input.role)?;
    if role == Role::Owner {
        return Err(GatewayError::InvalidRequest(
            "invitations are for admin or member; ownership moves by transfer".into(),
        ));
    }
    let d1 = app.db()?;
    if organizations::has_member_email(&d1, caller.org, &email).await? {
        return Err(GatewayError::Conflict(
            "already a member of this organization".into(),
        ));
    }
    let minted = mint_invitation()?;
    let now = now_ms();
    let expires_at = now + INVITATION_TTL_MS;
    let invitation = NewInvitation {
        email: &email,
        role: role.as_str(),
        token_hash: minted.hash,
        invited_by: caller.user_id,
        expires_at,
    };
    let id = organizations::invite(&d1, caller.org, invitation, now).await?;
    created(json!({
        "id": id, "email": email, "role": role, "expires_at": expires_at, "token": minted.token,
        "note": "Send this token to the invitee now: it is shown only once.",
    }))
}

async fn cancel_invitation(app: &App, caller: &Caller, id: i64) -> Result<Response, GatewayError> {
    caller.require(Action::ManageInvitations)?;
    if !organizations::cancel_invitation(&app.db()?, caller.org, id, now_ms()).await? {
        return Err(GatewayError::NotFound(format!(
            "open invitation {id} not found"
        )));
    }
    ok(json!({"cancelled": id}))
}

async fn find_invitation(app: &App, token: &str) -> Result<InvitationRow, GatewayError> {
    let row = organizations::invitation_by_hash(&app.db()?, invitation_hash(token)).await?;
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
    organizations::accept_invitation(&app.db()?, row.id, now).await?;
    ok(json!({"organization_id": row.organization_id, "role": role}))
}

//! Roles in an organization and the one permission function `can(role, action)` that every
//! admin endpoint goes through, plus the classifier that maps an admin request to its action.

use crate::core::error::GatewayError;
use crate::core::string_enum::string_enum;

string_enum! {
    #[serde_by_name]
    /// A member's role in one organization, by the name stored in D1 and shown by the API.
    /// Ordered: owner > admin > member.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Role {
        Member = "member",
        Admin = "admin",
        Owner = "owner",
    }
}

/// Every class of admin endpoint. A new endpoint picks one of these (see [`action_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the organization, its plan and its member list.
    ReadOrganization,
    /// Rename the organization.
    UpdateOrganization,
    /// Change the plan: no role may; only the instance admin (`AUTH_TOKEN`), who acts outside
    /// the roles, sets it.
    ChangePlan,
    /// Delete the organization with everything in it.
    DeleteOrganization,
    /// Hand the owner role to another member.
    TransferOwnership,
    /// Change roles of and remove non-owner members.
    ManageMembers,
    /// Create, list and cancel invitations.
    ManageInvitations,
    /// Read stations, accounts and jobs.
    ReadStations,
    /// Create, edit, sync and delete stations, accounts, jobs.
    ManageStations,
    /// Read the route table (channels, keys hints, cooldowns).
    ReadRoutes,
    /// Edit routes, aliases, rebuild, clear cooldowns.
    ManageRoutes,
    /// The list of client-facing models.
    ReadModels,
    /// The organization's usage logs and dashboard.
    ReadOrganizationLogs,
    /// Create / edit / delete one's own gateway keys.
    ManageOwnKeys,
    /// See and manage every member's gateway keys.
    ManageAllKeys,
    /// Alert channels.
    ManageAlerts,
    /// Chat with the assistant, run templates, upload templates (one's own conversations).
    UseAssistant,
    /// Add and remove ComfyUI servers; switch the assistant on or off.
    ManageAssistant,
}

/// Whether `role` may perform `action`. Owner: everything but the plan (the instance admin's or
/// the billing system's); admin: everything except the organization's ownership, name and
/// deletion; member: own keys, the org and its models.
pub fn can(role: Role, action: Action) -> bool {
    use Action::*;
    match action {
        ChangePlan => false,
        UpdateOrganization | DeleteOrganization | TransferOwnership => role == Role::Owner,
        ManageMembers | ManageInvitations | ReadStations | ManageStations | ReadRoutes
        | ManageRoutes | ReadOrganizationLogs | ManageAllKeys | ManageAlerts | ManageAssistant => {
            role >= Role::Admin
        }
        ReadOrganization | ReadModels | ManageOwnKeys | UseAssistant => true,
    }
}

/// `Ok` when allowed, else a 403 naming the role and what it lacks.
pub fn require(role: Role, action: Action) -> Result<(), GatewayError> {
    if can(role, action) {
        Ok(())
    } else {
        Err(GatewayError::Forbidden(format!(
            "the {} role may not {}",
            role.as_str(),
            describe(action)
        )))
    }
}

fn describe(action: Action) -> &'static str {
    use Action::*;
    match action {
        ReadOrganization => "read this organization",
        UpdateOrganization => "rename this organization",
        ChangePlan => "change the plan (the instance admin sets plans)",
        DeleteOrganization => "delete this organization",
        TransferOwnership => "transfer ownership",
        ManageMembers => "manage members",
        ManageInvitations => "manage invitations",
        ReadStations => "read stations",
        ManageStations => "manage stations",
        ReadRoutes => "read routes",
        ManageRoutes => "manage routes",
        ReadModels => "read models",
        ReadOrganizationLogs => "read the organization's logs",
        ManageOwnKeys => "manage gateway keys",
        ManageAllKeys => "manage other members' gateway keys",
        ManageAlerts => "manage alerts",
        UseAssistant => "use the assistant",
        ManageAssistant => "manage the assistant's servers and settings",
    }
}

/// The action an org-scoped admin request needs, from its method and the path segments after
/// `/api/`. Unknown resources need the owner (deny by default), so a new endpoint is never
/// opened to members by accident.
pub fn action_for(method: &str, segments: &[&str]) -> Action {
    let read = method == "GET";
    match segments {
        ["route", "models"] => Action::ReadModels,
        ["route", ..] if read => Action::ReadRoutes,
        ["route", ..] => Action::ManageRoutes,
        ["provider" | "station" | "account" | "job" | "jobs", ..] if read => Action::ReadStations,
        ["provider" | "station" | "account" | "job" | "jobs", ..] => Action::ManageStations,
        // A user's own keys' calls (with a session; a key holder reads them without one).
        ["log", "self"] => Action::ManageOwnKeys,
        ["log" | "dashboard", ..] => Action::ReadOrganizationLogs,
        ["agg-token" | "user-api-keys", ..] => Action::ManageOwnKeys,
        ["alert" | "alerts", ..] => Action::ManageAlerts,
        ["assistant", "servers" | "settings", ..] if !read => Action::ManageAssistant,
        ["assistant", ..] => Action::UseAssistant,
        _ => Action::DeleteOrganization,
    }
}

/// Whether `actor` may change a member whose role is `target` to `new_role` (`None`: remove).
/// The owner role never moves this way (only by an explicit transfer); admins touch no owner.
pub fn check_member_change(
    actor: Role,
    target: Role,
    new_role: Option<Role>,
) -> Result<(), GatewayError> {
    require(actor, Action::ManageMembers)?;
    if target == Role::Owner {
        return Err(GatewayError::Forbidden(
            "the owner cannot be changed or removed: transfer ownership first".into(),
        ));
    }
    if new_role == Some(Role::Owner) {
        return Err(GatewayError::InvalidRequest(
            "ownership moves only by POST /api/organizations/:id/transfer".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_can_everything_member_little() {
        use Action::*;
        // (action, admin may, member may); the owner may everything but the plan.
        let matrix = [
            (ReadOrganization, true, true),
            (UpdateOrganization, false, false),
            (ChangePlan, false, false),
            (DeleteOrganization, false, false),
            (TransferOwnership, false, false),
            (ManageMembers, true, false),
            (ManageInvitations, true, false),
            (ReadStations, true, false),
            (ManageStations, true, false),
            (ReadRoutes, true, false),
            (ManageRoutes, true, false),
            (ReadModels, true, true),
            (ReadOrganizationLogs, true, false),
            (ManageOwnKeys, true, true),
            (ManageAllKeys, true, false),
            (ManageAlerts, true, false),
        ];
        for (action, admin, member) in matrix {
            assert_eq!(can(Role::Owner, action), action != ChangePlan, "{action:?}");
            assert_eq!(can(Role::Admin, action), admin, "{action:?}");
            assert_eq!(can(Role::Member, action), member, "{action:?}");
        }
    }

    #[test]
    fn classifier_covers_existing_endpoints_and_denies_unknown() {
        assert_eq!(action_for("GET", &["provider"]), Action::ReadStations);
        assert_eq!(
            action_for("POST", &["provider", "3", "sync"]),
            Action::ManageStations
        );
        assert_eq!(action_for("GET", &["route"]), Action::ReadRoutes);
        assert_eq!(action_for("GET", &["route", "models"]), Action::ReadModels);
        assert_eq!(
            action_for("POST", &["route", "1", "cooldown", "clear"]),
            Action::ManageRoutes
        );
        assert_eq!(action_for("GET", &["log"]), Action::ReadOrganizationLogs);
        assert_eq!(action_for("GET", &["log", "self"]), Action::ManageOwnKeys);
        assert_eq!(
            action_for("GET", &["dashboard"]),
            Action::ReadOrganizationLogs
        );
        assert_eq!(
            action_for("DELETE", &["agg-token", "4"]),
            Action::ManageOwnKeys
        );
        assert_eq!(
            action_for("GET", &["something-new"]),
            Action::DeleteOrganization
        );
        assert!(require(Role::Member, action_for("GET", &["something-new"])).is_err());
    }

    #[test]
    fn member_changes_never_touch_the_owner() {
        assert!(check_member_change(Role::Admin, Role::Member, Some(Role::Admin)).is_ok());
        assert!(check_member_change(Role::Admin, Role::Admin, None).is_ok());
        assert!(check_member_change(Role::Admin, Role::Owner, None).is_err());
        assert!(check_member_change(Role::Owner, Role::Member, Some(Role::Owner)).is_err());
        assert!(check_member_change(Role::Member, Role::Member, None).is_err());
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}

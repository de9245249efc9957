//! Plan enforcement in the shell: the organization's limits from D1.

use super::db::{self, num};
use crate::core::error::GatewayError;
use crate::core::plans::{Plan, PlanLimits};
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct PlanRow {
    plan: String,
}

/// The limits of the organization's plan (404 for an unknown organization).
pub async fn org_limits(d1: &D1Database, org: i64) -> Result<PlanLimits, GatewayError> {
    let row: Option<PlanRow> = db::first(
        d1,
        "SELECT plan FROM organizations WHERE id = ?1",
        &[num(org)],
    )
    .await?;
    let row = row.ok_or_else(|| GatewayError::NotFound("organization not found".into()))?;
    Plan::parse(&row.plan)
        .map(Plan::limits)
        .ok_or_else(|| GatewayError::Internal(format!("unknown plan `{}` in D1", row.plan)))
}

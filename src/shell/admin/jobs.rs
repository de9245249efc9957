//! Job runs (`/api/jobs…`): the organization's recent runs, and a job run on demand.

use super::stations::HISTORY_LIMIT;
use crate::core::error::GatewayError;
use crate::core::schedule::JobKind;
use crate::shell::app::App;
use crate::shell::db::{self, num};
use crate::shell::http::{nonempty, ok, unknown_endpoint};
use crate::shell::jobs::run_job;
use serde::{Deserialize, Serialize};
use worker::{Method, Response};

/// `/api/jobs…`: `GET /api/jobs` (runs), `POST /api/jobs/:kind/run`.
pub async fn dispatch(
    method: Method,
    app: &App,
    org: i64,
    rest: &[&str],
) -> Result<Response, GatewayError> {
    let rest = nonempty(rest);
    match (&method, rest.as_slice()) {
        (Method::Get, []) => list_job_runs(app, org).await,
        (Method::Post, [kind, "run"]) => {
            let kind = JobKind::parse(kind).ok_or_else(|| {
                GatewayError::InvalidRequest(format!(
                    "unknown job `{kind}`; one of sync, balance, checkin"
                ))
            })?;
            ok(run_job(&app.env, kind, Some(org)).await?)
        }
        _ => Err(unknown_endpoint(&method, "jobs/", &rest)),
    }
}

#[derive(Serialize, Deserialize)]
struct JobRunView {
    id: i64,
    job: String,
    trigger: String,
    started_at: i64,
    finished_at: Option<i64>,
    status: String,
    processed: i64,
    failed: i64,
    error: Option<String>,
}

async fn list_job_runs(app: &App, org: i64) -> Result<Response, GatewayError> {
    let runs: Vec<JobRunView> = db::all(
        &app.db()?,
        "SELECT id, job, trigger, started_at, finished_at, status, processed, failed, error FROM job_runs \
         WHERE organization_id = ?1 ORDER BY id DESC LIMIT ?2",
        &[num(org), num(HISTORY_LIMIT)],
    )
    .await?;
    ok(runs)
}

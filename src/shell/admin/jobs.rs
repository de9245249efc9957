//! Job runs (`/api/jobs…`): the organization's recent runs, and a job run on demand.

use crate::core::error::GatewayError;
use crate::core::schedule::JobKind;
use crate::shell::app::App;
use crate::shell::http::{nonempty, ok, unknown_endpoint};
use crate::shell::jobs::run_job;
use crate::shell::repo::history;
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

async fn list_job_runs(app: &App, org: i64) -> Result<Response, GatewayError> {
    ok(history::runs(&app.db()?, org).await?)
}

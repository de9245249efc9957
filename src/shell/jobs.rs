//! Scheduled work: one handler dispatches on the cron expression (wrangler.toml [triggers]).

use super::app::now_ms;
use super::db::{self, num};
use super::sync::sync_station;
use crate::core::error::GatewayError;
use serde::Deserialize;
use worker::Env;

/// Must equal the sync expression in wrangler.toml.
pub const SYNC_CRON: &str = "*/5 * * * *";
/// Stations synced per run: each sync makes ~6 + (new keys) subrequests, so 25 stations stay
/// far below the 1,000-subrequest limit; the least recently synced go first (the cursor).
const SYNC_BATCH: i64 = 25;

pub async fn run_scheduled(cron: &str, env: Env) {
    let result = match cron {
        SYNC_CRON => run_sync(&env).await,
        other => {
            worker::console_warn!("no job is bound to cron `{other}` yet");
            Ok(())
        }
    };
    if let Err(e) = result {
        worker::console_error!("scheduled job for `{cron}` failed: {e:?}");
    }
}

#[derive(Deserialize)]
struct Due {
    id: i64,
    organization_id: i64,
}

async fn run_sync(env: &Env) -> Result<(), GatewayError> {
    let d1 = env.d1("DB")?;
    let started = now_ms();
    let run: Option<db::IdRow> = db::first(
        &d1,
        "INSERT INTO job_runs (job, trigger, started_at) VALUES ('sync', 'cron', ?1) RETURNING id",
        &[num(started)],
    )
    .await?;
    let due: Vec<Due> = db::all(
        &d1,
        "SELECT id, organization_id FROM stations WHERE enabled = 1 ORDER BY COALESCE(last_synced_at, 0), id LIMIT ?1",
        &[num(SYNC_BATCH)],
    )
    .await?;
    let (mut processed, mut failed, mut errors) = (0i64, 0i64, Vec::new());
    for station in &due {
        processed += 1;
        if let Err(e) = sync_station(env, station.organization_id, station.id).await {
            failed += 1;
            errors.push(format!("station {}: {}", station.id, e.message()));
        }
    }
    let status = match (failed, processed) {
        (0, _) => "ok",
        (f, p) if f == p => "failed",
        _ => "partial",
    };
    if let Some(run) = run {
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        db::run(
            &d1,
            "UPDATE job_runs SET finished_at = ?1, status = ?2, processed = ?3, failed = ?4, error = ?5 WHERE id = ?6",
            &[num(now_ms()), status.into(), num(processed), num(failed), error.map_or(wasm_bindgen::JsValue::NULL, Into::into), num(run.id)],
        )
        .await?;
    }
    Ok(())
}

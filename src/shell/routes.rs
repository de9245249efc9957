//! The organization's route table: built from D1, published to KV, cached in the isolate.

use super::app::{now_ms, App};
use super::{cache, db};
use crate::core::error::GatewayError;
use crate::core::learned::{self, Feature};
use crate::core::routing::RouteTable;
use std::rc::Rc;
use worker::Env;

fn kv_key(org: i64) -> String {
    format!("routes:{org}")
}

/// Rebuilds the table from D1 and publishes it to KV and this isolate.
pub async fn publish(env: &Env, org: i64) -> Result<Rc<RouteTable>, GatewayError> {
    let now = now_ms();
    let rows = db::route_rows(&env.d1("DB")?, org).await?;
    let table = Rc::new(RouteTable::from_rows(rows, now));
    let json =
        serde_json::to_string(table.as_ref()).map_err(|e| GatewayError::Internal(e.to_string()))?;
    env.kv("CACHE")?.put(&kv_key(org), json)?.execute().await?;
    cache::put_routes(org, table.clone(), now);
    Ok(table)
}

/// Publishes after a D1 change has committed: a failure is logged, not answered (the change is
/// stored, and the next publish or the isolate caches' expiry carries it), so no admin call
/// answers 500 for work that is done.
pub async fn publish_after_commit(env: &Env, org: i64) {
    if let Err(e) = publish(env, org).await {
        worker::console_error!("publishing the route table of organization {org} failed: {e:?}");
    }
}

/// The hot-path read: isolate cache → KV → (first use only) D1.
pub async fn load(app: &App, org: i64) -> Result<Rc<RouteTable>, GatewayError> {
    let now = now_ms();
    if let Some(table) = cache::get_routes(org, now) {
        return Ok(table);
    }
    match app.kv()?.get(&kv_key(org)).text().await {
        Ok(Some(json)) => {
            if let Ok(table) = serde_json::from_str::<RouteTable>(&json) {
                let table = Rc::new(table);
                cache::put_routes(org, table.clone(), now);
                return Ok(table);
            }
        }
        Ok(None) => {}
        Err(e) => {
            // KV is a cache of D1: a failed read falls back to the source, without writing.
            worker::console_error!("route table KV read failed for organization {org}: {e:?}");
            let rows = db::route_rows(&app.db()?, org).await?;
            let table = Rc::new(RouteTable::from_rows(rows, now));
            cache::put_routes(org, table.clone(), now);
            return Ok(table);
        }
    }
    publish(&app.env, org).await
}

/// Marks upstream keys that failed their verification probe as invalid and republishes the
/// table without their channels. Sync re-probes them and restores those that pass; an admin
/// can re-enable one too.
pub async fn invalidate_keys(
    env: &Env,
    org: i64,
    rejected: &[(i64, String)],
) -> Result<(), GatewayError> {
    let d1 = env.d1("DB")?;
    let now = now_ms();
    let mut statements = Vec::new();
    for (key_id, message) in rejected {
        let reason: String = message.chars().take(300).collect();
        statements.push(db::stmt(
            &d1,
            "UPDATE upstream_keys SET status = 'invalid', status_reason = ?1, updated_at = ?2 \
             WHERE organization_id = ?3 AND id = ?4 AND status = 'active'",
            &[reason.into(), db::num(now), db::num(org), db::num(*key_id)],
        )?);
    }
    db::batch(&d1, statements).await?;
    publish(env, org).await.map(|_| ())
}

/// Remembers that a station lacks `feature` (its answer as evidence) until the re-check, and
/// republishes the table so later calls convert at once.
pub async fn learn_gap(
    env: &Env,
    org: i64,
    station_id: i64,
    feature: Feature,
    evidence: &str,
) -> Result<(), GatewayError> {
    let now = now_ms();
    let evidence: String = evidence.chars().take(300).collect();
    db::run(
        &env.d1("DB")?,
        "INSERT INTO station_dialect_gaps (organization_id, station_id, feature, learned_at, until_ms, evidence) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (organization_id, station_id, feature) DO UPDATE SET learned_at = excluded.learned_at, \
         until_ms = excluded.until_ms, evidence = excluded.evidence",
        &[db::num(org), db::num(station_id), feature.name().into(), db::num(now),
          db::num(now + learned::RECHECK_MS), evidence.into()],
    )
    .await?;
    publish(env, org).await.map(|_| ())
}

/// Drops learned gaps the station no longer has (its native route answered again).
pub async fn forget_gaps(env: &Env, org: i64, gaps: &[(i64, Feature)]) -> Result<(), GatewayError> {
    let d1 = env.d1("DB")?;
    let mut statements = Vec::new();
    for (station_id, feature) in gaps {
        statements.push(db::stmt(
            &d1,
            "DELETE FROM station_dialect_gaps WHERE organization_id = ?1 AND station_id = ?2 AND feature = ?3",
            &[db::num(org), db::num(*station_id), feature.name().into()],
        )?);
    }
    db::batch(&d1, statements).await?;
    publish(env, org).await.map(|_| ())
}

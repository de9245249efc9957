//! The organization's route table: built from D1, published to KV, cached in the isolate.

use super::app::{now_ms, App};
use super::cache;
use super::repo::{route_entries, upstream_keys};
use crate::core::error::GatewayError;
use crate::core::routing::RouteTable;
use std::rc::Rc;
use worker::Env;

fn kv_key(org: i64) -> String {
    format!("routes:{org}")
}

/// Drops a deleted organization's published table from KV.
pub async fn forget(env: &Env, org: i64) -> Result<(), GatewayError> {
    env.kv("CACHE")?.delete(&kv_key(org)).await?;
    Ok(())
}

/// Rebuilds the table from D1 and publishes it to KV and this isolate.
pub async fn publish(env: &Env, org: i64) -> Result<Rc<RouteTable>, GatewayError> {
    let now = now_ms();
    let rows = route_entries::table_rows(&env.d1("DB")?, org).await?;
    let table = Rc::new(RouteTable::from_rows(rows, now));
    let json =
        serde_json::to_string(table.as_ref()).map_err(|e| GatewayError::Internal(e.to_string()))?;
    env.kv("CACHE")?.put(&kv_key(org), json)?.execute().await?;
    cache::put_routes(org, table.clone(), now);
    Ok(table)
}

/// The hot-path read: isolate cache → KV → (first use only) D1.
pub async fn load(app: &App, org: i64) -> Result<Rc<RouteTable>, GatewayError> {
    let now = now_ms();
    if let Some(table) = cache::get_routes(org, now) {
        return Ok(table);
    }
    if let Some(json) = app.kv()?.get(&kv_key(org)).text().await? {
        if let Ok(table) = serde_json::from_str::<RouteTable>(&json) {
            let table = Rc::new(table);
            cache::put_routes(org, table.clone(), now);
            return Ok(table);
        }
    }
    publish(&app.env, org).await
}

/// Marks upstream keys that their station rejected (HTTP 401) as invalid and republishes the
/// table without their channels. Sync leaves an invalid key invalid; an admin re-enables it.
pub async fn invalidate_keys(
    env: &Env,
    org: i64,
    rejected: &[(i64, String)],
) -> Result<(), GatewayError> {
    let reasons: Vec<(i64, String)> = rejected
        .iter()
        .map(|(key_id, message)| {
            let reason = format!("rejected by the station: {message}");
            (*key_id, reason.chars().take(300).collect())
        })
        .collect();
    upstream_keys::invalidate(&env.d1("DB")?, org, &reasons, now_ms()).await?;
    publish(env, org).await.map(|_| ())
}

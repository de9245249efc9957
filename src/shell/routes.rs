//! The organization's route table: built from D1, published to KV, cached in the isolate.

use super::app::{now_ms, App};
use super::cache;
use super::repo::{dialect_gaps, route_entries, upstream_keys};
use crate::core::error::GatewayError;
use crate::core::learned::{self, Feature};
use crate::core::routing::RouteTable;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use worker::{Delay, Env};

fn kv_key(org: i64) -> String {
    format!("routes:{org}")
}

fn kv_built_at_key(org: i64) -> String {
    format!("routes-built-at:{org}")
}

/// At most one KV write of an organization's table per this interval (KV allows one write per
/// second per key); changes in between are carried by the next write.
const KV_WRITE_INTERVAL_MS: i64 = 1000;

/// Per organization, this isolate's publishing: the last KV write, and whether a publish is
/// waiting for the next write slot.
#[derive(Default)]
struct Slot {
    last_write_ms: i64,
    waiting: bool,
}

thread_local! {
    static SLOTS: RefCell<HashMap<i64, Slot>> = RefCell::new(HashMap::new());
}

/// Clears the waiting mark however the waiting publish ends (also when it fails).
struct Waiting(i64);

impl Drop for Waiting {
    fn drop(&mut self) {
        SLOTS.with(|s| {
            if let Some(slot) = s.borrow_mut().get_mut(&self.0) {
                slot.waiting = false;
            }
        });
    }
}

/// Drops a deleted organization's published table from KV.
pub async fn forget(env: &Env, org: i64) -> Result<(), GatewayError> {
    let kv = env.kv("CACHE")?;
    kv.delete(&kv_key(org)).await?;
    kv.delete(&kv_built_at_key(org)).await?;
    Ok(())
}

/// Rebuilds the table from D1 into this isolate, then publishes it to KV, coalesced: a publish
/// while another one of this isolate waits for the next write slot returns at once (the waiting
/// one rebuilds after its wait, so it carries every change committed before), and a table never
/// replaces a newer one another isolate wrote. KV failures are logged, not returned: KV is a
/// cache of D1, and the change is already committed.
pub async fn publish(env: &Env, org: i64) -> Result<Rc<RouteTable>, GatewayError> {
    let table = rebuild(env, org).await?;
    let now = now_ms();
    let wait = SLOTS.with(|s| {
        let mut slots = s.borrow_mut();
        let slot = slots.entry(org).or_default();
        if slot.waiting {
            return None;
        }
        slot.waiting = true;
        Some((slot.last_write_ms + KV_WRITE_INTERVAL_MS - now).max(0))
    });
    let Some(wait) = wait else {
        return Ok(table);
    };
    let waiting = Waiting(org);
    let table = if wait > 0 {
        Delay::from(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
        drop(waiting);
        rebuild(env, org).await?
    } else {
        drop(waiting);
        table
    };
    SLOTS.with(|s| s.borrow_mut().entry(org).or_default().last_write_ms = now_ms());
    if let Err(e) = write_kv(env, org, &table).await {
        worker::console_error!(
            "publishing the route table of organization {org} to KV failed: {e:?}"
        );
    }
    Ok(table)
}

/// The table from D1, into this isolate's cache.
async fn rebuild(env: &Env, org: i64) -> Result<Rc<RouteTable>, GatewayError> {
    let now = now_ms();
    let rows = route_entries::table_rows(&env.d1("DB")?, org).await?;
    let table = Rc::new(RouteTable::from_rows(rows, now));
    cache::put_routes(org, table.clone(), now);
    Ok(table)
}

/// Writes the table unless KV already holds a newer one.
async fn write_kv(env: &Env, org: i64, table: &RouteTable) -> Result<(), GatewayError> {
    let kv = env.kv("CACHE")?;
    let stored: Option<i64> = kv
        .get(&kv_built_at_key(org))
        .text()
        .await?
        .and_then(|t| t.parse().ok());
    if stored.is_some_and(|at| at > table.built_at) {
        return Ok(());
    }
    let json = serde_json::to_string(table).map_err(|e| GatewayError::Internal(e.to_string()))?;
    kv.put(&kv_key(org), json)?.execute().await?;
    kv.put(&kv_built_at_key(org), table.built_at.to_string())?
        .execute()
        .await?;
    Ok(())
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
            let rows = route_entries::table_rows(&app.db()?, org).await?;
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
    let reasons: Vec<(i64, String)> = rejected
        .iter()
        .map(|(key_id, reason)| (*key_id, reason.chars().take(300).collect()))
        .collect();
    upstream_keys::invalidate(&env.d1("DB")?, org, &reasons, now_ms()).await?;
    publish(env, org).await.map(|_| ())
}

/// Remembers that a station lacks `feature` (its answer as evidence) until the re-check, and
/// rebuilds this isolate's table so its next calls convert at once; the caller publishes to KV
/// off the request path.
pub async fn learn_gap(
    env: &Env,
    org: i64,
    station_id: i64,
    feature: Feature,
    evidence: &str,
) -> Result<(), GatewayError> {
    let now = now_ms();
    let evidence: String = evidence.chars().take(300).collect();
    let span = (now, now + learned::RECHECK_MS);
    dialect_gaps::upsert(&env.d1("DB")?, org, station_id, feature, span, &evidence).await?;
    rebuild(env, org).await.map(|_| ())
}

/// Drops learned gaps the station no longer has (its native route answered again).
pub async fn forget_gaps(env: &Env, org: i64, gaps: &[(i64, Feature)]) -> Result<(), GatewayError> {
    dialect_gaps::remove(&env.d1("DB")?, org, gaps).await?;
    publish(env, org).await.map(|_| ())
}

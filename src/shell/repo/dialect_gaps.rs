//! Learned dialect gaps per station (table `station_dialect_gaps`, migration 0006): what a
//! station turned out not to serve, until when, and the answer that showed it.

use crate::core::error::GatewayError;
use crate::core::learned::Feature;
use crate::shell::db::{all, batch, num, run, stmt};
use serde::{Deserialize, Serialize};
use worker::D1Database;

/// Remembers (or renews) that `station_id` lacks `feature` until `until_ms`.
pub async fn upsert(
    db: &D1Database,
    org: i64,
    station_id: i64,
    feature: Feature,
    (learned_at, until_ms): (i64, i64),
    evidence: &str,
) -> Result<(), GatewayError> {
    run(
        db,
        "INSERT INTO station_dialect_gaps (organization_id, station_id, feature, learned_at, until_ms, evidence) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (organization_id, station_id, feature) DO UPDATE SET learned_at = excluded.learned_at, \
         until_ms = excluded.until_ms, evidence = excluded.evidence",
        &[num(org), num(station_id), feature.name().into(), num(learned_at), num(until_ms), evidence.into()],
    )
    .await
}

/// Drops the given (station, feature) facts.
pub async fn remove(
    db: &D1Database,
    org: i64,
    gaps: &[(i64, Feature)],
) -> Result<(), GatewayError> {
    let statements = gaps
        .iter()
        .map(|(station_id, feature)| {
            stmt(
                db,
                "DELETE FROM station_dialect_gaps WHERE organization_id = ?1 AND station_id = ?2 AND feature = ?3",
                &[num(org), num(*station_id), feature.name().into()],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    batch(db, statements).await
}

/// Drops every fact about a station.
pub async fn clear(db: &D1Database, org: i64, station_id: i64) -> Result<(), GatewayError> {
    run(
        db,
        "DELETE FROM station_dialect_gaps WHERE organization_id = ?1 AND station_id = ?2",
        &[num(org), num(station_id)],
    )
    .await
}

/// One learned fact as the admin API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct GapRow {
    pub feature: String,
    pub learned_at: i64,
    pub until_ms: i64,
    pub evidence: String,
}

pub async fn of_station(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<GapRow>, GatewayError> {
    all(
        db,
        "SELECT feature, learned_at, until_ms, evidence FROM station_dialect_gaps \
         WHERE organization_id = ?1 AND station_id = ?2 ORDER BY feature",
        &[num(org), num(station_id)],
    )
    .await
}

//! Upstream keys (`upstream_keys`): the relay keys sync found on panels (sealed), their status,
//! and the admin's view of them (hint only).

use crate::core::error::GatewayError;
use crate::core::panels::relay_paths::{deserialize_override, DialectRoute};
use crate::shell::db::{all, batch, first, num, opt_str, stmt, IdRow};
use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement};

/// An upstream key as the admin API shows it: hint only, and whether it is routable now.
#[derive(Serialize, Deserialize)]
pub struct KeyView {
    id: i64,
    account_id: i64,
    remote_id: Option<String>,
    name: String,
    key_hint: String,
    status: String,
    status_reason: Option<String>,
    group_name: String,
    source: String,
    account_enabled: i64,
    routes: i64,
}

/// The keys of a station with how many route entries use each.
pub async fn views(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<KeyView>, GatewayError> {
    all(
        db,
        "SELECT k.id, k.account_id, k.remote_id, k.name, k.key_hint, k.status, k.status_reason, k.group_name, k.source, a.enabled AS account_enabled, \
                (SELECT COUNT(*) FROM route_entries r WHERE r.organization_id = ?1 AND r.upstream_key_id = k.id) AS routes \
         FROM upstream_keys k JOIN accounts a ON a.id = k.account_id AND a.organization_id = k.organization_id \
         WHERE k.organization_id = ?1 AND k.station_id = ?2 ORDER BY k.id",
        &[num(org), num(station_id)],
    )
    .await
}

/// Whether the organization has this key.
pub async fn exists(db: &D1Database, org: i64, id: i64) -> Result<bool, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "SELECT id FROM upstream_keys WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )
    .await?;
    Ok(row.is_some())
}

/// Puts a key of the station back into service (clearing its reason); false when the
/// organization has no such key on that station.
pub async fn enable(
    db: &D1Database,
    org: i64,
    station_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "UPDATE upstream_keys SET status = 'active', status_reason = NULL, updated_at = ?1 \
         WHERE organization_id = ?2 AND station_id = ?3 AND id = ?4 RETURNING id",
        &[num(now), num(org), num(station_id), num(id)],
    )
    .await?;
    Ok(row.is_some())
}

/// A key sync stored before: its panel id, hint, status and sealed key (for re-probing).
#[derive(Deserialize)]
pub struct KnownKey {
    pub id: i64,
    pub remote_id: String,
    pub key_hint: String,
    pub status: String,
    pub key_ciphertext: String,
}

/// The keys sync stored for the account.
pub async fn synced(
    db: &D1Database,
    org: i64,
    account_id: i64,
) -> Result<Vec<KnownKey>, GatewayError> {
    all(
        db,
        "SELECT id, remote_id, key_hint, status, key_ciphertext FROM upstream_keys WHERE organization_id = ?1 AND account_id = ?2 AND source = 'sync'",
        &[num(org), num(account_id)],
    )
    .await
}

/// An active key of an account: its group picks the models it is routed to, its own dialects
/// (if any) which models list to read.
#[derive(Deserialize)]
pub struct ActiveKey {
    pub id: i64,
    pub group_name: String,
    pub key_ciphertext: String,
    #[serde(default, deserialize_with = "deserialize_override")]
    pub dialects: Option<Vec<DialectRoute>>,
}

/// The account's active keys.
pub async fn active(
    db: &D1Database,
    org: i64,
    account_id: i64,
) -> Result<Vec<ActiveKey>, GatewayError> {
    all(
        db,
        "SELECT id, group_name, key_ciphertext, dialects FROM upstream_keys WHERE organization_id = ?1 AND account_id = ?2 AND status = 'active' ORDER BY id",
        &[num(org), num(account_id)],
    )
    .await
}

/// A listed token's fields as sync stores them.
pub struct ListedKey<'a> {
    pub remote_id: &'a str,
    pub name: &'a str,
    pub group: &'a str,
    /// The dialects the key serves when not its station's table (JSON; None: the table).
    pub dialects: Option<String>,
}

/// Refreshes a known key from the panel's list with the status sync decided (an invalid key
/// stays invalid unless its new verification probe passed); a changed status drops the reason.
pub fn refresh_statement(
    db: &D1Database,
    org: i64,
    id: i64,
    status: &str,
    key: &ListedKey<'_>,
    now: i64,
) -> Result<D1PreparedStatement, GatewayError> {
    stmt(
        db,
        "UPDATE upstream_keys SET status = ?1, status_reason = CASE WHEN ?1 = status THEN status_reason END, \
         name = ?2, group_name = ?3, dialects = ?7, updated_at = ?4 WHERE organization_id = ?5 AND id = ?6",
        &[status.into(), key.name.into(), key.group.into(), num(now), num(org), num(id), opt_str(key.dialects.as_deref())],
    )
}

/// Stores a new active key (sealed) of an account, or replaces the one with its panel id.
pub fn upsert_statement(
    db: &D1Database,
    (org, station_id, account_id): (i64, i64, i64),
    key: &ListedKey<'_>,
    (sealed, hint): (String, String),
    now: i64,
) -> Result<D1PreparedStatement, GatewayError> {
    stmt(
        db,
        "INSERT INTO upstream_keys (organization_id, station_id, account_id, remote_id, name, key_ciphertext, key_hint, status, group_name, dialects, source, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?10, 'sync', ?9, ?9) \
         ON CONFLICT (account_id, remote_id) DO UPDATE SET key_ciphertext = excluded.key_ciphertext, key_hint = excluded.key_hint, \
         status = 'active', name = excluded.name, group_name = excluded.group_name, dialects = excluded.dialects, updated_at = excluded.updated_at",
        &[num(org), num(station_id), num(account_id), key.remote_id.into(), key.name.into(), sealed.into(),
          hint.into(), key.group.into(), num(now), opt_str(key.dialects.as_deref())],
    )
}

/// Disables a key the panel no longer lists.
pub fn unlisted_statement(
    db: &D1Database,
    org: i64,
    id: i64,
    now: i64,
) -> Result<D1PreparedStatement, GatewayError> {
    stmt(
        db,
        "UPDATE upstream_keys SET status = 'disabled', status_reason = 'no longer listed by the panel', updated_at = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[num(now), num(org), num(id)],
    )
}

/// Marks keys their station rejected as invalid (`reasons`: key id and reason).
pub async fn invalidate(
    db: &D1Database,
    org: i64,
    reasons: &[(i64, String)],
    now: i64,
) -> Result<(), GatewayError> {
    let statements = reasons
        .iter()
        .map(|(key_id, reason)| {
            stmt(
                db,
                "UPDATE upstream_keys SET status = 'invalid', status_reason = ?1, updated_at = ?2 \
                 WHERE organization_id = ?3 AND id = ?4 AND status = 'active'",
                &[reason.as_str().into(), num(now), num(org), num(*key_id)],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    batch(db, statements).await
}

//! Accounts on stations (`accounts`): their sealed credentials and sessions, health, balance
//! figures and panel groups, and the cascade that deletes what hangs off them.

use crate::core::error::GatewayError;
use crate::core::panels::{BalanceKind, PanelBalance};
use crate::core::plans::{Limit, PlanLimits};
use crate::shell::db::{all, batch, first, num, opt_f64, opt_num, run, stmt, IdRow};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// The message a claimed, not yet finished check-in carries.
pub const CHECKIN_IN_PROGRESS: &str = "in progress";
/// Check-in attempts per account and day by the cron (the first and its retries).
pub const CHECKIN_ATTEMPTS: i64 = 3;
/// A failed check-in is retried by a later cron run at least this long after the failure.
pub const CHECKIN_RETRY_GAP_MS: i64 = 60 * 60 * 1000;

/// An account to insert; the credential is sealed JSON of `core::panels::credential::Credential`.
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    /// Seals the credential for the new row's id (known only after the insert).
    pub seal: &'a dyn Fn(i64) -> Result<String, GatewayError>,
    pub panel_user_id: &'a str,
    pub checkin_enabled: bool,
}

/// Inserts an account under a station within the plan's account limit (counted in the insert);
/// returns its id. The credential is sealed for the row once its id exists.
pub async fn insert(
    db: &D1Database,
    org: i64,
    station_id: i64,
    a: &NewAccount<'_>,
    now: i64,
    limits: PlanLimits,
) -> Result<i64, GatewayError> {
    let row: Option<IdRow> = first(
        db,
        "INSERT INTO accounts (organization_id, station_id, name, credential_kind, credential_ciphertext, panel_user_id, checkin_enabled, created_at, updated_at) \
         SELECT ?1, ?2, ?3, ?4, '', ?5, ?6, ?7, ?7 WHERE (SELECT COUNT(*) FROM accounts WHERE organization_id = ?1) < ?8 RETURNING id",
        &[num(org), num(station_id), a.name.into(), a.kind.into(), a.panel_user_id.into(), num(i64::from(a.checkin_enabled)), num(now), num(limits.accounts)],
    )
    .await?;
    let id = row.ok_or_else(|| limits.exceeded(Limit::Accounts))?.id;
    run(
        db,
        "UPDATE accounts SET credential_ciphertext = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[(a.seal)(id)?.into(), num(org), num(id)],
    )
    .await?;
    Ok(id)
}

/// An account with its credential (and login session) still sealed.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountRow {
    pub id: i64,
    pub organization_id: i64,
    pub station_id: i64,
    pub credential_kind: String,
    pub credential_ciphertext: String,
    pub session_ciphertext: Option<String>,
    pub panel_user_id: Option<String>,
    pub enabled: i64,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub balance_updated_at: Option<i64>,
}

const ACCOUNT_ROW_COLUMNS: &str =
    "a.id, a.organization_id, a.station_id, a.credential_kind, a.credential_ciphertext, \
     a.session_ciphertext, a.panel_user_id, a.enabled, a.balance_usd, a.used_usd, a.balance_updated_at";

/// Every account of a station, enabled or not.
pub async fn of_station(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<AccountRow>, GatewayError> {
    all(
        db,
        &format!("SELECT {ACCOUNT_ROW_COLUMNS} FROM accounts a WHERE a.organization_id = ?1 AND a.station_id = ?2 ORDER BY a.id"),
        &[num(org), num(station_id)],
    )
    .await
}

/// Which accounts a job picks, and in which order.
pub enum Due {
    /// Accounts with check-in on (and their station's) not yet checked in on the day.
    Checkin,
    /// Every account, least recently balance-checked first.
    Balance,
}

/// Accounts a job may pick (enabled, on an enabled station), least recently processed first.
pub async fn due(
    db: &D1Database,
    org: Option<i64>,
    due: Due,
    day: &str,
    limit: i64,
) -> Result<Vec<AccountRow>, GatewayError> {
    let (filter_sql, cursor_sql) = match due {
        // Due: no record today, or a failed one old enough and not out of retries.
        Due::Checkin => (
            format!(
                "a.checkin_enabled = 1 AND s.checkin_enabled = 1 AND NOT EXISTS \
                 (SELECT 1 FROM checkin_records c WHERE c.account_id = a.id AND c.day = ?2 \
                  AND NOT (c.outcome = 'failed' AND c.message <> '{CHECKIN_IN_PROGRESS}' AND c.attempts < {CHECKIN_ATTEMPTS} \
                           AND c.created_at < CAST(unixepoch('subsec') * 1000 AS INTEGER) - {CHECKIN_RETRY_GAP_MS}))"
            ),
            "COALESCE((SELECT MAX(c.created_at) FROM checkin_records c WHERE c.account_id = a.id), 0)",
        ),
        Due::Balance => ("1 = 1".to_string(), "COALESCE(a.balance_checked_at, 0)"),
    };
    all(
        db,
        // Organizations take turns, each one's least recently processed account first.
        &format!(
            "SELECT * FROM (SELECT {ACCOUNT_ROW_COLUMNS}, {cursor_sql} AS cursor, \
               ROW_NUMBER() OVER (PARTITION BY a.organization_id ORDER BY {cursor_sql}, a.id) AS turn \
             FROM accounts a JOIN stations s ON s.id = a.station_id AND s.organization_id = a.organization_id \
             WHERE a.enabled = 1 AND s.enabled = 1 AND (?1 IS NULL OR a.organization_id = ?1) AND ({filter_sql})) \
             ORDER BY turn, cursor, id LIMIT ?3"
        ),
        &[opt_num(org), day.into(), num(limit)],
    )
    .await
}

/// An account as the admin API shows it: never a credential, only its kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountView {
    pub id: i64,
    pub station_id: i64,
    pub name: String,
    pub credential_kind: String,
    pub panel_user_id: Option<String>,
    pub health: String,
    pub health_reason: Option<String>,
    pub health_changed_at: Option<i64>,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub balance_updated_at: Option<i64>,
    pub panel_group: String,
    pub groups_json: String,
    /// What the balance is: null for a wallet; Sub2API subscriptions with their limits and
    /// resets (`{"kind":"subscription",…}`) or `{"kind":"unlimited",…}` (then no balance).
    #[serde(default, deserialize_with = "json_text")]
    pub subscription: Option<serde_json::Value>,
    pub checkin_enabled: i64,
    pub enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A JSON column read as JSON (text that does not parse reads as none).
fn json_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.and_then(|t| serde_json::from_str(&t).ok()))
}

/// The accounts of a station for the admin API.
pub async fn views(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<AccountView>, GatewayError> {
    all(
        db,
        "SELECT id, station_id, name, credential_kind, panel_user_id, health, health_reason, health_changed_at, balance_usd, used_usd, \
                balance_updated_at, panel_group, groups_json, subscription_json AS subscription, checkin_enabled, enabled, created_at, updated_at \
         FROM accounts WHERE organization_id = ?1 AND station_id = ?2 ORDER BY id",
        &[num(org), num(station_id)],
    )
    .await
}

/// One account of a station for the admin API, or a 404.
pub async fn view(
    db: &D1Database,
    org: i64,
    station_id: i64,
    id: i64,
) -> Result<AccountView, GatewayError> {
    views(db, org, station_id)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| {
            GatewayError::NotFound(format!("account {id} not found on station {station_id}"))
        })
}

/// A new credential for an account: sealed, with its kind and panel user id.
pub struct SealedCredential<'a> {
    pub kind: &'static str,
    pub sealed: String,
    pub panel_user_id: &'a str,
}

/// Stores an admin's edit. A new credential replaces any login session and gets a fresh
/// health check at the next sync.
pub async fn update(
    db: &D1Database,
    org: i64,
    id: i64,
    (name, checkin_enabled): (&str, i64),
    credential: Option<SealedCredential<'_>>,
    now: i64,
) -> Result<(), GatewayError> {
    let mut statements = vec![stmt(
        db,
        "UPDATE accounts SET name = ?1, checkin_enabled = ?2, updated_at = ?3 WHERE organization_id = ?4 AND id = ?5",
        &[name.into(), num(checkin_enabled), num(now), num(org), num(id)],
    )?];
    if let Some(c) = credential {
        statements.push(stmt(
            db,
            "UPDATE accounts SET credential_kind = ?1, credential_ciphertext = ?2, panel_user_id = ?3, session_ciphertext = NULL, \
             health = CASE WHEN enabled = 1 THEN 'healthy' ELSE health END, health_reason = NULL WHERE organization_id = ?4 AND id = ?5",
            &[c.kind.into(), c.sealed.into(), c.panel_user_id.into(), num(org), num(id)],
        )?);
    }
    batch(db, statements).await
}

/// Statements that delete everything hanging off the accounts matched by `scope` (a constant
/// condition on `account_id` with ?1 = organization and ?2 = the station or account id).
pub fn delete_data(
    db: &D1Database,
    org: i64,
    id: i64,
    scope: &str,
) -> Result<Vec<D1PreparedStatement>, GatewayError> {
    let args = [num(org), num(id)];
    [
        "DELETE FROM route_entries WHERE organization_id = ?1 AND upstream_key_id IN (SELECT id FROM upstream_keys WHERE organization_id = ?1 AND {scope})",
        "DELETE FROM upstream_keys WHERE organization_id = ?1 AND {scope}",
        "DELETE FROM balance_snapshots WHERE organization_id = ?1 AND {scope}",
        "DELETE FROM checkin_records WHERE organization_id = ?1 AND {scope}",
    ]
    .iter()
    .map(|sql| stmt(db, &sql.replace("{scope}", scope), &args))
    .collect()
}

/// Deletes the account and everything hanging off it, in one batch.
pub async fn delete(db: &D1Database, org: i64, id: i64) -> Result<(), GatewayError> {
    let mut statements = delete_data(db, org, id, "account_id = ?2")?;
    statements.push(stmt(
        db,
        "DELETE FROM accounts WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(id)],
    )?);
    batch(db, statements).await
}

/// An admin's switch: enabled accounts are healthy until proven otherwise, disabled ones say so.
pub async fn set_enabled(
    db: &D1Database,
    org: i64,
    id: i64,
    enabled: bool,
    now: i64,
) -> Result<(), GatewayError> {
    let (health, reason) = if enabled {
        ("healthy", JsValue::NULL)
    } else {
        ("disabled", "disabled by an admin".into())
    };
    run(
        db,
        "UPDATE accounts SET enabled = ?1, health = ?2, health_reason = ?3, health_changed_at = ?4, updated_at = ?4 \
         WHERE organization_id = ?5 AND id = ?6 AND enabled <> ?1",
        &[num(i64::from(enabled)), health.into(), reason, num(now), num(org), num(id)],
    )
    .await
}

/// Sets an account's health; the change time moves only when the health itself changes.
pub async fn set_health(
    db: &D1Database,
    org: i64,
    account_id: i64,
    health: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE accounts SET health = ?1, health_reason = ?2, health_changed_at = CASE WHEN health = ?1 THEN health_changed_at ELSE ?3 END, updated_at = ?3 \
         WHERE organization_id = ?4 AND id = ?5",
        &[health.into(), reason.map_or(JsValue::NULL, Into::into), num(now), num(org), num(account_id)],
    )
    .await
}

/// The statement storing an account's measured balance and spend.
pub fn balance_statement(
    db: &D1Database,
    org: i64,
    id: i64,
    balance: &PanelBalance,
    now: i64,
) -> Result<D1PreparedStatement, GatewayError> {
    // What the balance is: NULL for a wallet, else the subscriptions (limits, resets) as JSON.
    let kind = match balance.kind {
        BalanceKind::Wallet => JsValue::NULL,
        ref kind => serde_json::to_string(kind)
            .map_err(|e| GatewayError::Internal(format!("subscription encoding: {e}")))?
            .into(),
    };
    stmt(
        db,
        "UPDATE accounts SET balance_usd = ?1, used_usd = ?2, balance_updated_at = ?3, subscription_json = ?6 WHERE organization_id = ?4 AND id = ?5",
        &[opt_f64(balance.stored_usd()), opt_f64(Some(balance.used_usd)), num(now), num(org), num(id), kind],
    )
}

/// Stores an account's measured balance and spend.
pub async fn set_balance(
    db: &D1Database,
    org: i64,
    id: i64,
    balance: &PanelBalance,
    now: i64,
) -> Result<(), GatewayError> {
    balance_statement(db, org, id, balance, now)?.run().await?;
    Ok(())
}

/// The balance job's cursor: this account was looked at now.
pub async fn mark_balance_checked(
    db: &D1Database,
    org: i64,
    id: i64,
    now: i64,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE accounts SET balance_checked_at = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[num(now), num(org), num(id)],
    )
    .await
}

/// A login session (sealed) that replaced the stored one.
pub async fn set_session(
    db: &D1Database,
    org: i64,
    id: i64,
    sealed_session: String,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE accounts SET session_ciphertext = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[sealed_session.into(), num(org), num(id)],
    )
    .await
}

/// The panel groups the account may use (JSON) and the one it is in.
pub async fn set_groups(
    db: &D1Database,
    org: i64,
    id: i64,
    groups_json: String,
    group: &str,
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE accounts SET groups_json = ?1, panel_group = ?2 WHERE organization_id = ?3 AND id = ?4",
        &[groups_json.into(), group.into(), num(org), num(id)],
    )
    .await
}

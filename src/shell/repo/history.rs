//! What the jobs did (`job_runs`, `checkin_records`, `balance_snapshots`): their runs, the
//! day's check-in of each account, and balance snapshots for trends.

use super::accounts::{CHECKIN_ATTEMPTS, CHECKIN_RETRY_GAP_MS};
use crate::core::error::GatewayError;
use crate::shell::db::{all, first, num, opt_f64, opt_num, run, stmt, IdRow};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// Rows the history reads return at most.
const HISTORY_LIMIT: i64 = 500;

/// Starts a run (`org` None: a cron run over every organization); returns its id.
pub async fn start_run(
    db: &D1Database,
    org: Option<i64>,
    job: &str,
    trigger: &str,
    started: i64,
) -> Result<Option<i64>, GatewayError> {
    let run: Option<IdRow> = first(
        db,
        "INSERT INTO job_runs (organization_id, job, trigger, started_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        &[opt_num(org), job.into(), trigger.into(), num(started)],
    )
    .await?;
    Ok(run.map(|r| r.id))
}

/// A run's end figures.
pub struct RunEnd<'a> {
    pub finished: i64,
    pub status: &'a str,
    pub processed: i64,
    pub failed: i64,
    pub error: Option<String>,
}

/// The statement that finishes run `id`.
pub fn finish_statement(
    db: &D1Database,
    id: i64,
    end: RunEnd<'_>,
) -> Result<D1PreparedStatement, GatewayError> {
    stmt(
        db,
        "UPDATE job_runs SET finished_at = ?1, status = ?2, processed = ?3, failed = ?4, error = ?5 WHERE id = ?6",
        &[num(end.finished), end.status.into(), num(end.processed), num(end.failed), end.error.map_or(JsValue::NULL, Into::into), num(id)],
    )
}

/// The statement recording one organization's part of a cron run.
pub fn org_run_statement(
    db: &D1Database,
    org: i64,
    job: &str,
    started: i64,
    end: RunEnd<'_>,
) -> Result<D1PreparedStatement, GatewayError> {
    stmt(
        db,
        "INSERT INTO job_runs (organization_id, job, trigger, started_at, finished_at, status, processed, failed, error) \
         VALUES (?1, ?2, 'cron', ?3, ?4, ?5, ?6, ?7, ?8)",
        &[num(org), job.into(), num(started), num(end.finished), end.status.into(),
          num(end.processed), num(end.failed), end.error.map_or(JsValue::NULL, Into::into)],
    )
}

/// A job run as the admin API shows it.
#[derive(Serialize, Deserialize)]
pub struct JobRunView {
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

/// The organization's latest runs.
pub async fn runs(db: &D1Database, org: i64) -> Result<Vec<JobRunView>, GatewayError> {
    all(
        db,
        "SELECT id, job, trigger, started_at, finished_at, status, processed, failed, error FROM job_runs \
         WHERE organization_id = ?1 ORDER BY id DESC LIMIT ?2",
        &[num(org), num(HISTORY_LIMIT)],
    )
    .await
}

/// One check-in record as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckinRecord {
    pub account_id: i64,
    pub day: String,
    pub outcome: String,
    pub reward_usd: Option<f64>,
    pub message: String,
    pub created_at: i64,
}

/// Claims the account's check-in of `day` (UNIQUE per account and day), so a check-in never
/// runs twice. `retry` takes over a failed record whose message differs from `message` or that
/// is older than `stale_before`. Returns the record's id, None when the day is taken.
pub async fn claim_checkin(
    db: &D1Database,
    (org, account_id): (i64, i64),
    day: &str,
    message: &str,
    (retry, stale_before): (bool, i64),
    now: i64,
) -> Result<Option<i64>, GatewayError> {
    let claim: Option<IdRow> = first(
        db,
        "INSERT INTO checkin_records (organization_id, account_id, day, outcome, message, created_at) VALUES (?1, ?2, ?3, 'failed', ?4, ?5) \
         ON CONFLICT (account_id, day) DO UPDATE SET message = excluded.message, created_at = excluded.created_at, attempts = checkin_records.attempts + 1 \
         WHERE checkin_records.outcome = 'failed' AND ( \
           (?6 = 1 AND (checkin_records.message <> excluded.message OR checkin_records.created_at < ?7)) \
           OR (checkin_records.message <> excluded.message AND checkin_records.attempts < ?8 AND checkin_records.created_at < ?9)) RETURNING id",
        &[num(org), num(account_id), day.into(), message.into(), num(now), num(i64::from(retry)), num(stale_before),
          num(CHECKIN_ATTEMPTS), num(now - CHECKIN_RETRY_GAP_MS)],
    )
    .await?;
    Ok(claim.map(|c| c.id))
}

/// The claimed record's outcome.
pub async fn finish_checkin(
    db: &D1Database,
    org: i64,
    id: i64,
    (outcome, reward, message): (&str, Option<f64>, &str),
) -> Result<(), GatewayError> {
    run(
        db,
        "UPDATE checkin_records SET outcome = ?1, reward_usd = ?2, message = ?3 WHERE organization_id = ?4 AND id = ?5",
        &[outcome.into(), opt_f64(reward), message.into(), num(org), num(id)],
    )
    .await
}

/// The account's record of `day`.
pub async fn checkin_of_day(
    db: &D1Database,
    org: i64,
    account_id: i64,
    day: &str,
) -> Result<Option<CheckinRecord>, GatewayError> {
    first(
        db,
        "SELECT account_id, day, outcome, reward_usd, message, created_at FROM checkin_records WHERE organization_id = ?1 AND account_id = ?2 AND day = ?3",
        &[num(org), num(account_id), day.into()],
    )
    .await
}

/// The station's latest check-in records.
pub async fn station_checkins(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<CheckinRecord>, GatewayError> {
    all(
        db,
        "SELECT c.account_id, c.day, c.outcome, c.reward_usd, c.message, c.created_at FROM checkin_records c \
         JOIN accounts a ON a.id = c.account_id AND a.organization_id = c.organization_id \
         WHERE c.organization_id = ?1 AND a.station_id = ?2 ORDER BY c.day DESC, c.account_id LIMIT ?3",
        &[num(org), num(station_id), num(HISTORY_LIMIT)],
    )
    .await
}

/// The statement appending a balance snapshot.
pub fn snapshot_statement(
    db: &D1Database,
    (org, account_id): (i64, i64),
    (balance, used): (Option<f64>, Option<f64>),
    estimated: bool,
    now: i64,
) -> Result<D1PreparedStatement, GatewayError> {
    stmt(
        db,
        "INSERT INTO balance_snapshots (organization_id, account_id, balance_usd, used_usd, estimated, taken_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[num(org), num(account_id), opt_f64(balance), opt_f64(used), num(i64::from(estimated)), num(now)],
    )
}

/// One stored snapshot.
#[derive(Deserialize)]
pub struct SnapshotRow {
    pub account_id: i64,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub estimated: i64,
    pub taken_at: i64,
}

/// The station's latest snapshots, newest first.
pub async fn station_snapshots(
    db: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<Vec<SnapshotRow>, GatewayError> {
    all(
        db,
        "SELECT b.account_id, b.balance_usd, b.used_usd, b.estimated, b.taken_at FROM balance_snapshots b \
         JOIN accounts a ON a.id = b.account_id AND a.organization_id = b.organization_id \
         WHERE b.organization_id = ?1 AND a.station_id = ?2 ORDER BY b.taken_at DESC, b.id DESC LIMIT ?3",
        &[num(org), num(station_id), num(HISTORY_LIMIT)],
    )
    .await
}

#[derive(Deserialize)]
struct Spent {
    spent: Option<f64>,
}

/// What the gateway spent through the account's keys after `since` (from its usage logs).
pub async fn spent_since(
    db: &D1Database,
    org: i64,
    account_id: i64,
    since: i64,
) -> Result<f64, GatewayError> {
    let spent: Option<Spent> = first(
        db,
        "SELECT SUM(u.cost_usd) AS spent FROM usage_logs u \
         JOIN route_entries r ON r.id = u.route_entry_id AND r.organization_id = u.organization_id \
         JOIN upstream_keys k ON k.id = r.upstream_key_id AND k.organization_id = u.organization_id \
         WHERE u.organization_id = ?1 AND k.account_id = ?2 AND u.created_at > ?3",
        &[num(org), num(account_id), num(since)],
    )
    .await?;
    Ok(spent.and_then(|s| s.spent).unwrap_or(0.0))
}

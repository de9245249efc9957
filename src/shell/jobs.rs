//! Scheduled work: one handler dispatches on the cron expression (wrangler.toml [triggers]) to
//! sync, balance or check-in; the admin API runs the same jobs on demand for one organization.
//! Each run takes the least recently processed items first (the cursor), stops before its
//! subrequest budget (outbound fetches + D1 statements) is spent, and is recorded in `job_runs`.

use super::app::{now_ms, secret, secret_box};
use super::db::{self, num, opt_f64, AccountRow, StationView};
use super::panel_session::{account_session, PanelClient};
use super::sync::{fetch_status, save_session, station_platform, sync_station, BALANCE_UPDATE};
use super::upstream::panel_fetches;

/// Outbound fetches plus D1 statements made by this isolate so far.
fn subrequests() -> u32 {
    panel_fetches().saturating_add(db::d1_statements())
}
use crate::core::crypto::SecretBox;
use crate::core::error::GatewayError;
use crate::core::panels::{CheckinOutcome, PanelAdapter, PanelError};
use crate::core::schedule::{
    estimate_balance, fits, health_after, utc_day, JobKind, DEFAULT_SUBREQUEST_BUDGET,
    MAX_ITEMS_PER_RUN, SYNC_STATION_SUBREQUESTS,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

/// The `#[event(scheduled)]` body: the job bound to `cron`, for every organization.
pub async fn run_scheduled(cron: &str, env: Env) {
    let Some(kind) = JobKind::from_cron(cron) else {
        worker::console_warn!("no job is bound to cron `{cron}`");
        return;
    };
    if let Err(e) = run_job(&env, kind, None).await {
        worker::console_error!(
            "scheduled {} job failed: {}",
            kind.as_str(),
            crate::core::redact::redact_secrets(&format!("{e:?}"))
        );
    }
}

/// Counts of one run (per organization, and in total).
#[derive(Debug, Default, Clone, Serialize)]
pub struct RunCounts {
    pub processed: i64,
    pub failed: i64,
    pub errors: Vec<String>,
}

impl RunCounts {
    fn add(&mut self, outcome: Result<(), String>) {
        self.processed += 1;
        if let Err(e) = outcome {
            self.failed += 1;
            self.errors.push(e);
        }
    }

    fn status(&self) -> &'static str {
        match (self.failed, self.processed) {
            (0, _) => "ok",
            (f, p) if f == p => "failed",
            _ => "partial",
        }
    }
}

/// What `POST /api/jobs/:kind/run` answers.
#[derive(Debug, Serialize)]
pub struct JobSummary {
    pub job: JobKind,
    pub run_id: Option<i64>,
    pub processed: i64,
    pub failed: i64,
    /// Subrequests (outbound fetches + D1 statements) the run made, against its budget.
    pub subrequests: u32,
    pub budget: u32,
    pub errors: Vec<String>,
}

/// Runs one job: for one organization (on demand) or for all of them (cron, org None).
pub async fn run_job(
    env: &Env,
    kind: JobKind,
    org: Option<i64>,
) -> Result<JobSummary, GatewayError> {
    let d1 = env.d1("DB")?;
    let started = now_ms();
    let trigger = if org.is_some() { "manual" } else { "cron" };
    let run: Option<db::IdRow> = db::first(
        &d1,
        "INSERT INTO job_runs (organization_id, job, trigger, started_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        &[db::opt_num(org), kind.as_str().into(), trigger.into(), num(started)],
    )
    .await?;
    let budget = secret(env, "JOB_SUBREQUEST_BUDGET")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_SUBREQUEST_BUDGET);
    let mut run_state = Run {
        env,
        d1: &d1,
        budget,
        first_count: subrequests(),
        per_org: BTreeMap::new(),
    };
    let outcome = match kind {
        JobKind::Sync => run_state.sync(org).await,
        JobKind::Balance => run_state.accounts(kind, org, started).await,
        JobKind::Checkin => run_state.accounts(kind, org, started).await,
    };
    let mut total = RunCounts::default();
    for counts in run_state.per_org.values() {
        total.processed += counts.processed;
        total.failed += counts.failed;
        total.errors.extend(counts.errors.iter().cloned());
    }
    if let Err(e) = &outcome {
        total.failed += 1;
        total.errors.push(e.message());
    }
    let finished = now_ms();
    let mut statements = Vec::new();
    if let Some(run) = &run {
        // The instance-wide row of a cron run carries totals only: its details belong to the
        // organizations' own rows below.
        let error = match org {
            Some(_) => joined(&total.errors),
            None => (!total.errors.is_empty()).then(|| {
                format!(
                    "{} failures; see the organizations' runs",
                    total.errors.len()
                )
            }),
        };
        statements.push(finish_statement(&d1, run.id, finished, &total, error)?);
    }
    if org.is_none() {
        for (org_id, counts) in &run_state.per_org {
            statements.push(db::stmt(
                &d1,
                "INSERT INTO job_runs (organization_id, job, trigger, started_at, finished_at, status, processed, failed, error) \
                 VALUES (?1, ?2, 'cron', ?3, ?4, ?5, ?6, ?7, ?8)",
                &[num(*org_id), kind.as_str().into(), num(started), num(finished), counts.status().into(),
                  num(counts.processed), num(counts.failed), joined(&counts.errors).map_or(JsValue::NULL, Into::into)],
            )?);
        }
    }
    db::batch(&d1, statements).await?;
    outcome?;
    Ok(JobSummary {
        job: kind,
        run_id: run.map(|r| r.id),
        processed: total.processed,
        failed: total.failed,
        subrequests: subrequests().saturating_sub(run_state.first_count),
        budget,
        errors: total.errors,
    })
}

fn joined(errors: &[String]) -> Option<String> {
    (!errors.is_empty()).then(|| errors.join("; ").chars().take(2000).collect())
}

fn finish_statement(
    d1: &D1Database,
    id: i64,
    finished: i64,
    counts: &RunCounts,
    error: Option<String>,
) -> Result<worker::D1PreparedStatement, GatewayError> {
    db::stmt(
        d1,
        "UPDATE job_runs SET finished_at = ?1, status = ?2, processed = ?3, failed = ?4, error = ?5 WHERE id = ?6",
        &[num(finished), counts.status().into(), num(counts.processed), num(counts.failed), error.map_or(JsValue::NULL, Into::into), num(id)],
    )
}

/// One run in progress: its budget and its counts per organization.
struct Run<'a> {
    env: &'a Env,
    d1: &'a D1Database,
    budget: u32,
    first_count: u32,
    per_org: BTreeMap<i64, RunCounts>,
}

#[derive(Deserialize)]
struct DueStation {
    id: i64,
    organization_id: i64,
    accounts: i64,
}

impl Run<'_> {
    fn spent(&self) -> u32 {
        subrequests().saturating_sub(self.first_count)
    }

    fn processed(&self) -> usize {
        self.per_org.values().map(|c| c.processed as usize).sum()
    }

    async fn sync(&mut self, org: Option<i64>) -> Result<(), GatewayError> {
        // Organizations take turns (each one's least recently synced station first), so one
        // tenant's hundred stations cannot starve another's one.
        let due: Vec<DueStation> = db::all(
            self.d1,
            "SELECT id, organization_id, accounts FROM (\
               SELECT s.id, s.organization_id, COALESCE(s.last_synced_at, 0) AS cursor, \
                 (SELECT COUNT(*) FROM accounts a WHERE a.station_id = s.id AND a.enabled = 1) AS accounts, \
                 ROW_NUMBER() OVER (PARTITION BY s.organization_id ORDER BY COALESCE(s.last_synced_at, 0), s.id) AS turn \
               FROM stations s WHERE s.enabled = 1 AND (?1 IS NULL OR s.organization_id = ?1)) \
             ORDER BY turn, cursor, id LIMIT ?2",
            &[db::opt_num(org), num(MAX_ITEMS_PER_RUN)],
        )
        .await?;
        for station in due {
            let cost = SYNC_STATION_SUBREQUESTS
                + JobKind::Sync.subrequests_per_account() * station.accounts.max(0) as u32;
            if !fits(self.spent(), cost, self.budget, self.processed()) {
                break;
            }
            // Claimed before the panel is called: a station that hangs or fails goes to the back
            // of the line instead of staying first for every run.
            db::run(
                self.d1,
                "UPDATE stations SET last_synced_at = ?1 WHERE organization_id = ?2 AND id = ?3",
                &[num(now_ms()), num(station.organization_id), num(station.id)],
            )
            .await?;
            let outcome = sync_station(self.env, station.organization_id, station.id)
                .await
                .map(|_| ())
                .map_err(|e| format!("station {}: {}", station.id, e.message()));
            self.per_org
                .entry(station.organization_id)
                .or_default()
                .add(outcome);
        }
        Ok(())
    }

    async fn accounts(
        &mut self,
        kind: JobKind,
        org: Option<i64>,
        now: i64,
    ) -> Result<(), GatewayError> {
        let day = utc_day(now);
        let due = match kind {
            JobKind::Checkin => {
                db::due_accounts(
                    self.d1,
                    org,
                    // Due: no record today, or a failed one old enough and not out of retries.
                    &format!(
                        "a.checkin_enabled = 1 AND s.checkin_enabled = 1 AND NOT EXISTS \
                         (SELECT 1 FROM checkin_records c WHERE c.account_id = a.id AND c.day = ?2 \
                          AND NOT (c.outcome = 'failed' AND c.message <> '{IN_PROGRESS}' AND c.attempts < {CHECKIN_ATTEMPTS} \
                                   AND c.created_at < CAST(unixepoch('subsec') * 1000 AS INTEGER) - {CHECKIN_RETRY_GAP_MS}))"
                    ),
                    "COALESCE((SELECT MAX(c.created_at) FROM checkin_records c WHERE c.account_id = a.id), 0)",
                    &day,
                    MAX_ITEMS_PER_RUN,
                )
                .await?
            }
            _ => {
                db::due_accounts(
                    self.d1,
                    org,
                    "1 = 1",
                    "COALESCE(a.balance_checked_at, 0)",
                    &day,
                    MAX_ITEMS_PER_RUN,
                )
                .await?
            }
        };
        let sb = secret_box(self.env)?;
        let mut stations = StationCache::default();
        for account in due {
            if !fits(
                self.spent(),
                kind.subrequests_per_account(),
                self.budget,
                self.processed(),
            ) {
                break;
            }
            let station = stations.get(self.d1, &account).await?;
            let outcome = match kind {
                JobKind::Checkin => {
                    checkin_account(self.d1, &sb, station, &account, &day, false, now)
                        .await?
                        .map_or(Ok(()), |record| record.as_result(account.id))
                }
                _ => balance_account(self.d1, &sb, station, &account, now).await?,
            };
            self.per_org
                .entry(account.organization_id)
                .or_default()
                .add(outcome);
        }
        Ok(())
    }
}

/// Stations met during one run, with the WAF cookies learned on them.
#[derive(Default)]
struct StationCache {
    stations: HashMap<i64, StationState>,
}

/// A station, the client its accounts share, and its quota unit once known.
pub struct StationState {
    pub view: StationView,
    pub client: PanelClient,
    pub adapter: PanelAdapter,
}

impl StationCache {
    async fn get(
        &mut self,
        d1: &D1Database,
        account: &AccountRow,
    ) -> Result<&mut StationState, GatewayError> {
        use std::collections::hash_map::Entry;
        Ok(match self.stations.entry(account.station_id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                entry.insert(station_state(d1, account.organization_id, account.station_id).await?)
            }
        })
    }
}

/// Loads a station for a job or an admin call on its accounts.
pub async fn station_state(
    d1: &D1Database,
    org: i64,
    station_id: i64,
) -> Result<StationState, GatewayError> {
    let view = db::get_station(d1, org, station_id)
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("station {station_id} not found")))?;
    let adapter = PanelAdapter::for_platform(station_platform(&view)?);
    Ok(StationState {
        client: PanelClient::new(&view.base_url),
        adapter,
        view,
    })
}

impl StationState {
    /// The quota unit: stored by the last sync, else read from the panel's status now.
    async fn quota_per_unit(&mut self) -> Result<f64, PanelError> {
        if let Some(q) = self.view.quota_per_unit.filter(|q| *q > 0.0) {
            return Ok(q);
        }
        let status = fetch_status(&mut self.client, self.adapter, None).await?;
        self.view.quota_per_unit = Some(status.quota_per_unit);
        Ok(status.quota_per_unit)
    }
}

/// Refreshes one account's balance (a snapshot each time). When the panel cannot be reached
/// the snapshot is an estimate from the gateway's own usage logs, marked `estimated`.
/// Generic providers report no balance: they are only moved along the cursor.
async fn balance_account(
    d1: &D1Database,
    sb: &SecretBox,
    station: &mut StationState,
    account: &AccountRow,
    now: i64,
) -> Result<Result<(), String>, GatewayError> {
    let (org, id) = (account.organization_id, account.id);
    db::run(
        d1,
        "UPDATE accounts SET balance_checked_at = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[num(now), num(org), num(id)],
    )
    .await?;
    if matches!(station.adapter, PanelAdapter::Generic(_)) {
        return Ok(Ok(()));
    }
    let measured = match station.quota_per_unit().await {
        Ok(qpu) => {
            let mut session =
                account_session(sb, account, station.adapter, station.client.clone())?;
            let result = session
                .call(&|a, c| a.self_request(c), |a, s, b| {
                    a.parse_balance(s, b, qpu)
                })
                .await;
            save_session(d1, sb, org, id, &session).await?;
            station.client = session.client;
            result
        }
        Err(e) => Err(e),
    };
    match measured {
        Ok(b) => {
            let measured = (Some(b.balance_usd), Some(b.used_usd));
            store_balance(d1, account, measured, false, now).await?;
            db::set_account_health(d1, org, id, "healthy", None, now).await?;
            Ok(Ok(()))
        }
        Err(e) => {
            let reason = e.to_string();
            db::set_account_health(d1, org, id, health_after(&e), Some(&reason), now).await?;
            if !e.is_account_error() {
                let estimated = estimate(d1, account).await?;
                store_balance(d1, account, estimated, true, now).await?;
            }
            Ok(Err(format!("account {id}: {reason}")))
        }
    }
}

#[derive(Deserialize)]
struct Spent {
    spent: Option<f64>,
}

/// Appends a snapshot (history for trends); a measured one also updates the account's figures.
async fn store_balance(
    d1: &D1Database,
    account: &AccountRow,
    (balance, used): (Option<f64>, Option<f64>),
    estimated: bool,
    now: i64,
) -> Result<(), GatewayError> {
    let (org, id) = (account.organization_id, account.id);
    let mut statements = vec![db::stmt(
        d1,
        "INSERT INTO balance_snapshots (organization_id, account_id, balance_usd, used_usd, estimated, taken_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[num(org), num(id), opt_f64(balance), opt_f64(used), num(i64::from(estimated)), num(now)],
    )?];
    if !estimated {
        statements.push(db::stmt(
            d1,
            BALANCE_UPDATE,
            &[opt_f64(balance), opt_f64(used), num(now), num(org), num(id)],
        )?);
    }
    db::batch(d1, statements).await
}

/// The last measured balance (by sync or this job) minus what the gateway spent through the
/// account's keys since.
async fn estimate(
    d1: &D1Database,
    account: &AccountRow,
) -> Result<(Option<f64>, Option<f64>), GatewayError> {
    let (org, id) = (account.organization_id, account.id);
    let (balance, used, since) = (
        account.balance_usd,
        account.used_usd,
        account.balance_updated_at.unwrap_or(0),
    );
    let spent: Option<Spent> = db::first(
        d1,
        "SELECT SUM(u.cost_usd) AS spent FROM usage_logs u \
         JOIN route_entries r ON r.id = u.route_entry_id AND r.organization_id = u.organization_id \
         JOIN upstream_keys k ON k.id = r.upstream_key_id AND k.organization_id = u.organization_id \
         WHERE u.organization_id = ?1 AND k.account_id = ?2 AND u.created_at > ?3",
        &[num(org), num(id), num(since)],
    )
    .await?;
    Ok(estimate_balance(
        balance,
        used,
        spent.and_then(|s| s.spent).unwrap_or(0.0),
    ))
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

impl CheckinRecord {
    fn as_result(&self, account_id: i64) -> Result<(), String> {
        match self.outcome.as_str() {
            "failed" => Err(format!("account {account_id}: {}", self.message)),
            _ => Ok(()),
        }
    }
}

/// The message a claimed, not yet finished check-in carries.
const IN_PROGRESS: &str = "in progress";
/// A claim this old was left by a run that died: an admin's retry may take it over.
const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;
/// Check-in attempts per account and day by the cron (the first and its retries).
const CHECKIN_ATTEMPTS: i64 = 3;
/// A failed check-in is retried by a later cron run at least this long after the failure.
const CHECKIN_RETRY_GAP_MS: i64 = 60 * 60 * 1000;

/// Checks one account in for `day`. The day's record is claimed first (UNIQUE per account and
/// day), so a check-in never runs twice; `retry` lets an admin re-run a failed one (or one whose
/// run died mid-way). None: the day was already handled.
pub async fn checkin_account(
    d1: &D1Database,
    sb: &SecretBox,
    station: &mut StationState,
    account: &AccountRow,
    day: &str,
    retry: bool,
    now: i64,
) -> Result<Option<CheckinRecord>, GatewayError> {
    let (org, id) = (account.organization_id, account.id);
    let claim: Option<db::IdRow> = db::first(
        d1,
        "INSERT INTO checkin_records (organization_id, account_id, day, outcome, message, created_at) VALUES (?1, ?2, ?3, 'failed', ?4, ?5) \
         ON CONFLICT (account_id, day) DO UPDATE SET message = excluded.message, created_at = excluded.created_at, attempts = checkin_records.attempts + 1 \
         WHERE checkin_records.outcome = 'failed' AND ( \
           (?6 = 1 AND (checkin_records.message <> excluded.message OR checkin_records.created_at < ?7)) \
           OR (checkin_records.message <> excluded.message AND checkin_records.attempts < ?8 AND checkin_records.created_at < ?9)) RETURNING id",
        &[num(org), num(id), day.into(), IN_PROGRESS.into(), num(now), num(i64::from(retry)), num(now - STALE_CLAIM_MS),
          num(CHECKIN_ATTEMPTS), num(now - CHECKIN_RETRY_GAP_MS)],
    )
    .await?;
    let Some(claim) = claim else {
        return Ok(None);
    };
    let supported = matches!(station.adapter, PanelAdapter::Family(p) if p.checkin.is_some());
    let result = if supported {
        match station.quota_per_unit().await {
            Ok(qpu) => {
                let mut session =
                    account_session(sb, account, station.adapter, station.client.clone())?;
                let result = session
                    .call(&|a, c| a.checkin_request(c), |a, s, b| {
                        a.parse_checkin(s, b, qpu)
                    })
                    .await;
                save_session(d1, sb, org, id, &session).await?;
                station.client = session.client;
                result
            }
            Err(e) => Err(e),
        }
    } else {
        Err(PanelError::NotSupported(format!(
            "{} has no check-in",
            station.view.platform
        )))
    };
    let (outcome, reward, message) = match &result {
        Ok(CheckinOutcome::Rewarded { usd }) => ("rewarded", Some(*usd), String::new()),
        Ok(CheckinOutcome::AlreadyDone) => {
            ("already_done", None, "already checked in today".into())
        }
        Err(PanelError::NotSupported(m)) => ("unsupported", None, m.clone()),
        Err(e) => ("failed", None, e.to_string()),
    };
    if let Err(e) = &result {
        if e.is_account_error() {
            db::set_account_health(d1, org, id, health_after(e), Some(&e.to_string()), now).await?;
        }
    }
    db::run(
        d1,
        "UPDATE checkin_records SET outcome = ?1, reward_usd = ?2, message = ?3 WHERE organization_id = ?4 AND id = ?5",
        &[outcome.into(), opt_f64(reward), message.as_str().into(), num(org), num(claim.id)],
    )
    .await?;
    Ok(Some(CheckinRecord {
        account_id: id,
        day: day.to_string(),
        outcome: outcome.into(),
        reward_usd: reward,
        message,
        created_at: now,
    }))
}

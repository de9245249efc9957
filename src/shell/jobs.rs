//! Scheduled work: one handler dispatches on the cron expression (wrangler.toml [triggers]) to
//! sync, balance or check-in; the admin API runs the same jobs on demand for one organization.
//! Each run takes the least recently processed items first (the cursor), stops before its
//! subrequest budget (outbound fetches + D1 statements) is spent, and is recorded in `job_runs`.

use super::app::{config, now_ms, secret_box};
use super::db::{self, num};
use super::panel_session::{account_session, PanelClient};
use super::repo::accounts::{self, AccountRow, Due, CHECKIN_IN_PROGRESS};
use super::repo::history::{self, CheckinRecord, RunEnd};
use super::repo::stations::{self, StationView};
use super::sync::{fetch_balance, fetch_status, save_session, station_platform, sync_station};
use super::upstream::panel_fetches;
use crate::core::crypto::SecretBox;
use crate::core::error::GatewayError;
use crate::core::panels::{CheckinOutcome, PanelAdapter, PanelBalance, PanelError};
use crate::core::schedule::{
    estimate_balance, fits, health_after, utc_day, JobKind, MAX_ITEMS_PER_RUN,
    SYNC_STATION_SUBREQUESTS,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use worker::{D1Database, Env};

/// Outbound fetches plus D1 statements made by this isolate so far.
fn subrequests() -> u32 {
    panel_fetches().saturating_add(db::d1_statements())
}

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
    // The daily trigger also prunes the tables that grow with every sign-in and run.
    if cron == JobKind::Checkin.cron() {
        if let Err(e) = prune(&env, now_ms()).await {
            worker::console_error!("pruning failed: {e:?}");
        }
    }
}

/// Job runs are kept this long.
const JOB_RUN_RETENTION_MS: i64 = 90 * 86_400_000;
const DAY_MS: i64 = 86_400_000;

/// Deletes throttle counters that are neither locked nor within a day's window, sessions that
/// expired or were revoked over a day ago, and job runs past their retention.
async fn prune(env: &Env, now: i64) -> Result<(), GatewayError> {
    let d1 = env.d1("DB")?;
    db::batch_sql(
        &d1,
        &[
            (
                "DELETE FROM login_attempts WHERE locked_until < ?1 AND window_start < ?2",
                &[num(now), num(now - DAY_MS)],
            ),
            (
                "DELETE FROM sessions WHERE expires_at < ?1 OR revoked_at < ?2",
                &[num(now), num(now - DAY_MS)],
            ),
            (
                "DELETE FROM job_runs WHERE started_at < ?1",
                &[num(now - JOB_RUN_RETENTION_MS)],
            ),
        ],
    )
    .await
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

    /// The run's end figures for its `job_runs` row.
    fn end(&self, finished: i64, error: Option<String>) -> RunEnd<'static> {
        RunEnd {
            finished,
            status: self.status(),
            processed: self.processed,
            failed: self.failed,
            error,
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
    let run = history::start_run(&d1, org, kind.as_str(), trigger, started).await?;
    let budget = u32::try_from(config(env).job_subrequest_budget).unwrap_or(u32::MAX);
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
    if let Some(run) = run {
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
        statements.push(history::finish_statement(
            &d1,
            run,
            total.end(finished, error),
        )?);
    }
    if org.is_none() {
        for (org_id, counts) in &run_state.per_org {
            let end = counts.end(finished, joined(&counts.errors));
            statements.push(history::org_run_statement(
                &d1,
                *org_id,
                kind.as_str(),
                started,
                end,
            )?);
        }
    }
    db::batch(&d1, statements).await?;
    outcome?;
    Ok(JobSummary {
        job: kind,
        run_id: run,
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

/// One run in progress: its budget and its counts per organization.
struct Run<'a> {
    env: &'a Env,
    d1: &'a D1Database,
    budget: u32,
    first_count: u32,
    per_org: BTreeMap<i64, RunCounts>,
}

impl Run<'_> {
    fn spent(&self) -> u32 {
        subrequests().saturating_sub(self.first_count)
    }

    fn processed(&self) -> usize {
        self.per_org.values().map(|c| c.processed as usize).sum()
    }

    async fn sync(&mut self, org: Option<i64>) -> Result<(), GatewayError> {
        let due = stations::due_for_sync(self.d1, org, MAX_ITEMS_PER_RUN).await?;
        for station in due {
            let cost = SYNC_STATION_SUBREQUESTS
                + JobKind::Sync.subrequests_per_account() * station.accounts.max(0) as u32;
            if !fits(self.spent(), cost, self.budget, self.processed()) {
                break;
            }
            stations::claim_for_sync(self.d1, station.organization_id, station.id, now_ms())
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
            JobKind::Checkin => Due::Checkin,
            _ => Due::Balance,
        };
        let due = accounts::due(self.d1, org, due, &day, MAX_ITEMS_PER_RUN).await?;
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
    let view = stations::require(d1, org, station_id).await?;
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
    accounts::mark_balance_checked(d1, org, id, now).await?;
    if matches!(station.adapter, PanelAdapter::Generic(_)) {
        return Ok(Ok(()));
    }
    let measured = match station.quota_per_unit().await {
        Ok(qpu) => {
            let mut session =
                account_session(sb, account, station.adapter, station.client.clone())?;
            let result = fetch_balance(&mut session, qpu).await;
            save_session(d1, sb, org, id, &session).await?;
            station.client = session.client;
            result
        }
        Err(e) => Err(e),
    };
    match measured {
        Ok(b) => {
            let snapshot = (b.stored_usd(), Some(b.used_usd));
            store_balance(d1, account, snapshot, Some(&b), now).await?;
            accounts::set_health(d1, org, id, "healthy", None, now).await?;
            Ok(Ok(()))
        }
        Err(e) => {
            let reason = e.to_string();
            accounts::set_health(d1, org, id, health_after(&e), Some(&reason), now).await?;
            if !e.is_account_error() {
                let estimated = estimate(d1, account).await?;
                store_balance(d1, account, estimated, None, now).await?;
            }
            Ok(Err(format!("account {id}: {reason}")))
        }
    }
}

/// Appends a snapshot (history for trends); a `measured` one also updates the account's figures.
async fn store_balance(
    d1: &D1Database,
    account: &AccountRow,
    figures: (Option<f64>, Option<f64>),
    measured: Option<&PanelBalance>,
    now: i64,
) -> Result<(), GatewayError> {
    let (org, id) = (account.organization_id, account.id);
    let mut statements = vec![history::snapshot_statement(
        d1,
        (org, id),
        figures,
        measured.is_none(),
        now,
    )?];
    if let Some(measured) = measured {
        statements.push(accounts::balance_statement(d1, org, id, measured, now)?);
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
    let spent = history::spent_since(d1, org, id, since).await?;
    Ok(estimate_balance(balance, used, spent))
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
const IN_PROGRESS: &str = CHECKIN_IN_PROGRESS;
/// A claim this old was left by a run that died: an admin's retry may take it over.
const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;

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
    let retry = (retry, now - STALE_CLAIM_MS);
    let claim = history::claim_checkin(d1, (org, id), day, IN_PROGRESS, retry, now).await?;
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
            accounts::set_health(d1, org, id, health_after(e), Some(&e.to_string()), now).await?;
        }
    }
    history::finish_checkin(d1, org, claim, (outcome, reward, &message)).await?;
    Ok(Some(CheckinRecord {
        account_id: id,
        day: day.to_string(),
        outcome: outcome.into(),
        reward_usd: reward,
        message,
        created_at: now,
    }))
}

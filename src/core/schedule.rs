//! Scheduled jobs, the pure part: which job a cron expression means, the subrequest budget a run
//! may spend, account health from a panel error, the UTC day of a check-in, and balance trends.

use crate::core::panels::PanelError;
use crate::core::string_enum::string_enum;
use serde::Serialize;

string_enum! {
    #[serde_by_name]
    /// The three jobs, by the name in `job_runs.job` and in `/api/jobs/:kind/run`; each runs
    /// on its cron trigger or on demand from the admin API.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum JobKind {
        Sync = "sync",
        Balance = "balance",
        Checkin = "checkin",
    }
}

/// A second check-in trigger: failed check-ins of the day are retried (bounded) by it.
pub const CHECKIN_RETRY_CRON: &str = "45 */4 * * *";

impl JobKind {
    /// The cron expression in wrangler.toml `[triggers]` that runs this job (UTC).
    pub fn cron(self) -> &'static str {
        match self {
            JobKind::Sync => "*/5 * * * *",
            JobKind::Balance => "0 * * * *",
            JobKind::Checkin => "30 0 * * *",
        }
    }

    pub fn from_cron(cron: &str) -> Option<JobKind> {
        if cron == CHECKIN_RETRY_CRON {
            return Some(JobKind::Checkin);
        }
        JobKind::ALL.into_iter().find(|k| k.cron() == cron)
    }

    /// Upper estimate of the subrequests (outbound fetches + D1 statements) one account costs,
    /// so a run stops before it would cross its budget. Sync: login, self, groups, token
    /// pages, models, pricing and a WAF retry (8 fetches) plus ~12 D1 statements; balance and
    /// check-in: login, the call, status when unknown (3 fetches) plus ~4 D1 statements.
    pub fn subrequests_per_account(self) -> u32 {
        match self {
            JobKind::Sync => 20,
            JobKind::Balance => 7,
            JobKind::Checkin => 7,
        }
    }
}

/// A station's own sync cost besides its accounts: status, reads and the route table rebuild.
pub const SYNC_STATION_SUBREQUESTS: u32 = 8;

/// The most items a run looks at (its cursor page), whatever the budget.
pub const MAX_ITEMS_PER_RUN: i64 = 100;

/// Whether an item of `cost` subrequests still fits after `spent` of `budget`. The first item always
/// runs, so a station larger than the budget is still synced (once per run, at the front).
pub fn fits(spent: u32, cost: u32, budget: u32, processed: usize) -> bool {
    processed == 0 || spent.saturating_add(cost) <= budget
}

/// Account health after a failed panel call: credential trouble is the account's (unhealthy),
/// anything else (station down, 5xx, unreadable answers) only degrades it.
pub fn health_after(error: &PanelError) -> &'static str {
    if error.is_account_error() {
        "unhealthy"
    } else {
        "degraded"
    }
}

/// The UTC calendar day (`YYYY-MM-DD`) of a Unix-millisecond time: one check-in per account per day.
pub fn utc_day(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Howard Hinnant's civil-from-days algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// One balance snapshot as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub taken_at: i64,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub estimated: bool,
}

/// A point of the balance history with what changed since the previous snapshot of the account:
/// `spend` is the growth of the used amount, `income` what came in besides (check-in rewards,
/// top-ups): Δbalance + spend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    pub taken_at: i64,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub estimated: bool,
    pub spend_usd: Option<f64>,
    pub income_usd: Option<f64>,
}

/// Trend points of one account's snapshots, oldest first.
pub fn balance_trend(snapshots: &[Snapshot]) -> Vec<TrendPoint> {
    let mut points = Vec::with_capacity(snapshots.len());
    let mut previous: Option<&Snapshot> = None;
    for s in snapshots {
        let spend = previous
            .and_then(|p| Some((s.used_usd? - p.used_usd?).max(0.0)))
            .map(round6);
        let income = previous
            .and_then(|p| Some(s.balance_usd? - p.balance_usd? + spend?))
            .map(|v| round6(v.max(0.0)));
        points.push(TrendPoint {
            taken_at: s.taken_at,
            balance_usd: s.balance_usd,
            used_usd: s.used_usd,
            estimated: s.estimated,
            spend_usd: spend,
            income_usd: income,
        });
        previous = Some(s);
    }
    points
}

/// The estimate when a panel cannot be reached: the last measured balance minus what the
/// gateway itself spent through the account's keys since then (from usage logs).
pub fn estimate_balance(
    last_balance: Option<f64>,
    last_used: Option<f64>,
    spent_since: f64,
) -> (Option<f64>, Option<f64>) {
    (
        last_balance.map(|b| round6(b - spent_since)),
        last_used.map(|u| round6(u + spent_since)),
    )
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions_map_to_jobs_and_back() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::from_cron(kind.cron()), Some(kind));
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(JobKind::from_cron("* * * * *"), None);
        assert_eq!(
            JobKind::from_cron(CHECKIN_RETRY_CRON),
            Some(JobKind::Checkin)
        );
        assert_eq!(JobKind::parse("backup"), None);
    }

    #[test]
    fn utc_days_follow_the_calendar() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_767_225_599_999), "2025-12-31");
        assert_eq!(utc_day(1_767_225_600_000), "2026-01-01");
        assert_eq!(utc_day(-1), "1969-12-31");
    }

    #[test]
    fn the_budget_admits_the_first_item_then_only_what_fits() {
        assert!(fits(0, 500, 40, 0));
        assert!(fits(32, 8, 40, 4));
        assert!(!fits(33, 8, 40, 4));
    }

    #[test]
    fn account_errors_make_accounts_unhealthy_others_degrade_them() {
        assert_eq!(health_after(&PanelError::Auth("x".into())), "unhealthy");
        assert_eq!(
            health_after(&PanelError::Blocked("waf".into())),
            "unhealthy"
        );
        assert_eq!(health_after(&PanelError::Http(502)), "degraded");
        assert_eq!(health_after(&PanelError::Malformed("{".into())), "degraded");
    }

    #[test]
    fn trends_split_income_from_spend() {
        let snap = |t, b, u, e| Snapshot {
            taken_at: t,
            balance_usd: Some(b),
            used_usd: Some(u),
            estimated: e,
        };
        let points = balance_trend(&[
            snap(1, 5.0, 1.0, false),
            snap(2, 4.5, 1.5, false),
            snap(3, 5.0, 1.5, false),
            snap(4, 4.8, 1.7, true),
        ]);
        assert_eq!(points[0].spend_usd, None);
        assert_eq!(
            (points[1].spend_usd, points[1].income_usd),
            (Some(0.5), Some(0.0))
        );
        assert_eq!(
            (points[2].spend_usd, points[2].income_usd),
            (Some(0.0), Some(0.5))
        );
        assert_eq!(
            (points[3].spend_usd, points[3].income_usd),
            (Some(0.2), Some(0.0))
        );
        assert!(points[3].estimated);
    }

    #[test]
    fn estimates_subtract_the_gateways_own_spend() {
        assert_eq!(
            estimate_balance(Some(5.0), Some(1.0), 0.25),
            (Some(4.75), Some(1.25))
        );
        assert_eq!(estimate_balance(None, None, 1.0), (None, None));
    }
}

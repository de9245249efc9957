//! Plans and their limits (the one table; README repeats it), and the 403s that name a limit.

use crate::core::error::GatewayError;
use crate::core::string_enum::string_enum;
use serde::Serialize;

string_enum! {
    #[serde_by_name]
    /// An organization's plan, by its stored / requested name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Plan {
        Free = "free",
        Pro = "pro",
        Enterprise = "enterprise",
    }
}

/// What a plan allows. Counts are per organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanLimits {
    pub plan: Plan,
    /// Members including the owner.
    pub members: i64,
    /// Gateway (`ag-…`) keys in existence.
    pub gateway_keys: i64,
    /// Relayed requests per UTC day.
    pub daily_requests: i64,
    /// Stations (upstream deployments) in existence.
    pub stations: i64,
    /// Accounts (logins on stations) in existence, over all stations.
    pub accounts: i64,
}

/// The plans table. README's "Plans" section shows the same numbers.
pub const PLANS: [PlanLimits; 3] = [
    PlanLimits {
        plan: Plan::Free,
        members: 3,
        gateway_keys: 5,
        daily_requests: 1_000,
        stations: 3,
        accounts: 10,
    },
    PlanLimits {
        plan: Plan::Pro,
        members: 10,
        gateway_keys: 50,
        daily_requests: 50_000,
        stations: 25,
        accounts: 100,
    },
    PlanLimits {
        plan: Plan::Enterprise,
        members: 100,
        gateway_keys: 1_000,
        daily_requests: 1_000_000,
        stations: 250,
        accounts: 2_500,
    },
];

impl Plan {
    pub fn limits(self) -> PlanLimits {
        match self {
            Plan::Free => PLANS[0],
            Plan::Pro => PLANS[1],
            Plan::Enterprise => PLANS[2],
        }
    }
}

/// A limit of the plan, for the 403 that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Members,
    GatewayKeys,
    DailyRequests,
    Stations,
    Accounts,
}

impl PlanLimits {
    pub fn of(self, limit: Limit) -> i64 {
        match limit {
            Limit::Members => self.members,
            Limit::GatewayKeys => self.gateway_keys,
            Limit::DailyRequests => self.daily_requests,
            Limit::Stations => self.stations,
            Limit::Accounts => self.accounts,
        }
    }

    /// `Ok` when one more would still fit (`current + 1 <= limit`), else the 403.
    pub fn check(self, limit: Limit, current: i64) -> Result<(), GatewayError> {
        if current < self.of(limit) {
            Ok(())
        } else {
            Err(self.exceeded(limit))
        }
    }

    /// The 403 that names the limit, the plan and its number.
    pub fn exceeded(self, limit: Limit) -> GatewayError {
        let (what, name) = match limit {
            Limit::Members => ("members", "plan_limit_members"),
            Limit::GatewayKeys => ("gateway keys", "plan_limit_gateway_keys"),
            Limit::DailyRequests => ("requests per UTC day", "plan_limit_daily_requests"),
            Limit::Stations => ("stations", "plan_limit_stations"),
            Limit::Accounts => ("accounts", "plan_limit_accounts"),
        };
        GatewayError::Forbidden(format!(
            "{name}: the {} plan allows {} {what}; upgrade the plan to go beyond",
            self.plan.as_str(),
            self.of(limit)
        ))
    }
}

/// The most daily-request slots the counter hands one isolate in one batch.
pub const DAILY_BATCH_MAX: i64 = 32;
/// Far from the limit a batch is this fraction of what is left (see [`daily_grant`]).
const DAILY_BATCH_SHARE: i64 = 32;

/// How many of today's requests the daily counter grants to one call of an isolate when `used`
/// of `limit` are granted already: one slot for the call itself, or, for the isolate's one
/// `batch` call in flight, a 1/32 share of what is left (at most [`DAILY_BATCH_MAX`]) so that
/// far from the limit most calls skip the round trip — never more than what is left, so the
/// grants of all isolates together never pass the limit. Near it a batch is one slot.
pub fn daily_grant(limit: i64, used: i64, batch: bool) -> i64 {
    let left = (limit - used).max(0);
    let share = if batch {
        (left / DAILY_BATCH_SHARE).min(DAILY_BATCH_MAX)
    } else {
        0
    };
    share.max(1).min(left)
}

const DAY_MS: i64 = 86_400_000;

/// The UTC day number of `now_ms` (days since 1970-01-01): the daily counter's key.
pub fn utc_day_number(now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS)
}

/// Milliseconds until the next UTC midnight, when the daily counter starts over.
pub fn ms_until_utc_midnight(now_ms: i64) -> i64 {
    DAY_MS - now_ms.rem_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_and_members_match_the_issue() {
        assert_eq!(
            PLANS.map(|p| p.members),
            [3, 10, 100],
            "Free 3 / Pro 10 / Enterprise 100"
        );
        for pair in PLANS.windows(2) {
            assert!(pair[0].gateway_keys < pair[1].gateway_keys);
            assert!(pair[0].daily_requests < pair[1].daily_requests);
            assert!(pair[0].stations < pair[1].stations);
            assert!(pair[0].accounts < pair[1].accounts);
        }
        assert_eq!(Plan::parse("pro").map(Plan::limits), Some(PLANS[1]));
        assert_eq!(Plan::parse("gold"), None);
    }

    #[test]
    fn check_is_exact_at_the_boundary_and_names_the_limit() {
        let free = Plan::Free.limits();
        assert!(free.check(Limit::Members, 2).is_ok());
        let err = free.check(Limit::Members, 3).unwrap_err();
        assert_eq!(err.status(), 403);
        assert!(err.message().contains("plan_limit_members"));
        assert!(err.message().contains("free plan allows 3 members"));
        assert!(free
            .check(Limit::DailyRequests, 1_000)
            .unwrap_err()
            .message()
            .contains("plan_limit_daily_requests"));
    }

    #[test]
    fn daily_grants_never_pass_the_limit_and_shrink_to_one_near_it() {
        assert_eq!(
            daily_grant(1_000, 0, true),
            31,
            "a batch far from the limit"
        );
        assert_eq!(daily_grant(1_000_000, 0, true), DAILY_BATCH_MAX);
        assert_eq!(daily_grant(1_000, 0, false), 1, "a single call");
        assert_eq!(
            daily_grant(1_000, 990, true),
            1,
            "one slot per call near the limit"
        );
        assert_eq!(daily_grant(1_000, 999, false), 1);
        assert_eq!(daily_grant(1_000, 1_000, true), 0);
        assert_eq!(daily_grant(1_000, 1_200, false), 0, "after a downgrade");
        // Calls taking turns receive exactly the limit in total.
        let (mut used, mut turns) = (0, 0);
        while let g @ 1.. = daily_grant(1_000, used, turns % 3 == 0) {
            used += g;
            turns += 1;
        }
        assert_eq!(used, 1_000);
    }

    #[test]
    fn day_arithmetic_resets_at_utc_midnight() {
        let midnight = 19_000 * DAY_MS;
        assert_eq!(utc_day_number(midnight - 1), 18_999);
        assert_eq!(utc_day_number(midnight), 19_000);
        assert_eq!(ms_until_utc_midnight(midnight - 1), 1);
        assert_eq!(ms_until_utc_midnight(midnight), DAY_MS);
    }
}

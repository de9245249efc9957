//! The daily-request ledger an isolate keeps per organization: slots the organization's
//! counter object granted it, whether the counter said the day is used up, and the calls
//! still waiting for a grant. Pure: the shell holds one `Ledger` per isolate, asks it what a
//! call does next, and does the I/O (D1 for the limits, the counter for grants).
//!
//! The rules: a call spends a held slot if there is one; otherwise it asks the counter, and
//! only one waiting call at a time asks for a batch, so an isolate never hoards. A call is
//! refused only when the counter said the day is used up, no slot is held and no grant of this
//! isolate is still on its way (that grant may bring slots: the call looks again).

use crate::core::durable::Grant;
use crate::core::plans::PlanLimits;
use std::collections::HashMap;

/// A plan change reaches the relay's check within this time (at once on the isolate that
/// changed it, see [`Ledger::forget_limits`]).
pub const LIMITS_TTL_MS: i64 = 60_000;

/// What an isolate holds of an organization's day.
#[derive(Debug, Clone, PartialEq)]
struct DayState {
    day: i64,
    limits: PlanLimits,
    limits_at: i64,
    /// Slots granted to this isolate and not used yet.
    slots: i64,
    /// The counter reached the limit: refuse from memory until the day or the limit changes.
    exhausted: bool,
    /// Calls of this isolate waiting for the counter (a grant still on its way may bring slots).
    in_flight: i64,
    /// Whether one of them asked for a batch (one at a time, so an isolate never hoards).
    batch_in_flight: bool,
    /// Calls let through this day without the counter, whose object failed.
    unconfirmed: i64,
}

/// Calls per organization, day and isolate let through while the counter's object errors:
/// a fault of the platform degrades the limit's precision, not the relay.
pub const UNCONFIRMED_ALLOWANCE: i64 = 50;

/// What a call does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A held slot was spent: the call goes ahead.
    Go,
    /// The day is used up.
    Refuse,
    /// The day is used up but grants of this isolate are still on their way: look again soon.
    Recheck,
    /// Ask the counter for slots (a batch or one); [`Ledger::end_take`] must follow.
    Take { batch: bool },
    /// UTC midnight passed while this call waited: start over on the new day.
    NewDay,
}

/// The days of every organization this isolate served.
#[derive(Debug, Default)]
pub struct Ledger {
    days: HashMap<i64, DayState>,
}

impl Ledger {
    /// The limits of `org` for `day` when they were read less than [`LIMITS_TTL_MS`] ago.
    pub fn fresh_limits(&self, org: i64, day: i64, now: i64) -> Option<PlanLimits> {
        self.days
            .get(&org)
            .filter(|s| s.day == day && now.saturating_sub(s.limits_at) < LIMITS_TTL_MS)
            .map(|s| s.limits)
    }

    /// Limits just read for `day`: a new day starts empty; a higher limit may have room again;
    /// slots granted under a higher limit than today's would overshoot the new one.
    pub fn set_limits(&mut self, org: i64, day: i64, limits: PlanLimits, now: i64) {
        match self.days.get_mut(&org).filter(|s| s.day == day) {
            Some(s) => {
                let (before, after) = (s.limits.daily_requests, limits.daily_requests);
                s.exhausted &= after == before;
                if after < before {
                    s.slots = 0;
                }
                s.limits = limits;
                s.limits_at = now;
            }
            None => {
                self.days.insert(
                    org,
                    DayState {
                        day,
                        limits,
                        limits_at: now,
                        slots: 0,
                        exhausted: false,
                        in_flight: 0,
                        batch_in_flight: false,
                        unconfirmed: 0,
                    },
                );
            }
        }
    }

    /// Makes the next call of `org` read the plan again.
    pub fn forget_limits(&mut self, org: i64) {
        if let Some(s) = self.days.get_mut(&org) {
            s.limits_at = i64::MIN;
        }
    }

    /// The next step of a call of `org` on `day` that has looked `rechecks` times already
    /// (giving up after `max_rechecks`). `Take` counts the call as waiting.
    pub fn next(&mut self, org: i64, day: i64, rechecks: u32, max_rechecks: u32) -> Next {
        let Some(s) = self.days.get_mut(&org).filter(|s| s.day == day) else {
            return Next::NewDay;
        };
        if s.slots > 0 {
            s.slots -= 1;
            Next::Go
        } else if !s.exhausted {
            let batch = !s.batch_in_flight;
            s.batch_in_flight |= batch;
            s.in_flight += 1;
            Next::Take { batch }
        } else if s.in_flight > 0 && rechecks < max_rechecks {
            Next::Recheck
        } else {
            Next::Refuse
        }
    }

    /// The counter failed: whether this call may still go, within the isolate's bounded
    /// allowance of [`UNCONFIRMED_ALLOWANCE`] calls per organization and day.
    pub fn allow_unconfirmed(&mut self, org: i64, day: i64) -> bool {
        let Some(s) = self.days.get_mut(&org).filter(|s| s.day == day) else {
            return false;
        };
        let allowed = s.unconfirmed < UNCONFIRMED_ALLOWANCE;
        s.unconfirmed += i64::from(allowed);
        allowed
    }

    /// A call's wait for the counter is over (answered, failed, or the client went away).
    pub fn end_take(&mut self, org: i64, day: i64, batch: bool) {
        if let Some(s) = self.days.get_mut(&org).filter(|s| s.day == day) {
            s.in_flight -= 1;
            s.batch_in_flight &= !batch;
        }
    }

    /// Books a grant asked for under `limit`; true when the call may go ahead (it spends one
    /// granted slot, the rest are held). Slots granted under a limit higher than the one now
    /// known are dropped; the day is used up when the counter reached the current limit.
    pub fn apply_grant(&mut self, org: i64, day: i64, limit: i64, grant: Grant) -> bool {
        let Some(s) = self.days.get_mut(&org).filter(|s| s.day == day) else {
            return false;
        };
        if s.limits.daily_requests >= limit {
            s.slots += (grant.granted - 1).max(0);
        }
        s.exhausted |= grant.count >= limit && s.limits.daily_requests == limit;
        grant.granted > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plans::Plan;

    const ORG: i64 = 7;
    const DAY: i64 = 20_000;

    fn limits(daily: i64) -> PlanLimits {
        PlanLimits {
            daily_requests: daily,
            ..Plan::Free.limits()
        }
    }

    fn ledger(daily: i64) -> Ledger {
        let mut l = Ledger::default();
        l.set_limits(ORG, DAY, limits(daily), 0);
        l
    }

    fn grant(granted: i64, count: i64) -> Grant {
        Grant { granted, count }
    }

    #[test]
    fn a_failed_counter_lets_a_bounded_number_of_calls_through() {
        let mut l = ledger(100);
        let allowed = (0..UNCONFIRMED_ALLOWANCE + 10)
            .filter(|_| l.allow_unconfirmed(ORG, DAY))
            .count();
        assert_eq!(i64::try_from(allowed).unwrap(), UNCONFIRMED_ALLOWANCE);
        assert!(!l.allow_unconfirmed(ORG, DAY + 1), "unknown day: nothing");
        // A new day starts with a fresh allowance.
        l.set_limits(ORG, DAY + 1, limits(100), 0);
        assert!(l.allow_unconfirmed(ORG, DAY + 1));
    }

    #[test]
    fn one_waiting_call_asks_for_a_batch_the_others_for_one_slot() {
        let mut l = ledger(100);
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: true });
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: false });
        l.end_take(ORG, DAY, true);
        assert_eq!(
            l.next(ORG, DAY, 0, 200),
            Next::Take { batch: true },
            "the batch is free again once its call is answered"
        );
    }

    #[test]
    fn a_batch_grant_is_spent_from_memory_one_slot_per_call() {
        let mut l = ledger(100);
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: true });
        l.end_take(ORG, DAY, true);
        assert!(l.apply_grant(ORG, DAY, 100, grant(3, 3)));
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Go);
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Go);
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: true });
    }

    #[test]
    fn refused_only_when_used_up_with_nothing_on_its_way() {
        let mut l = ledger(2);
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: true });
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: false });
        // The first answer uses the day up; the second call's grant is still on its way.
        l.end_take(ORG, DAY, true);
        assert!(l.apply_grant(ORG, DAY, 2, grant(1, 2)));
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Recheck);
        assert_eq!(l.next(ORG, DAY, 200, 200), Next::Refuse, "gives up at last");
        l.end_take(ORG, DAY, false);
        assert!(!l.apply_grant(ORG, DAY, 2, grant(0, 2)));
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Refuse);
    }

    #[test]
    fn a_new_day_starts_over_and_a_stale_day_is_not_booked() {
        let mut l = ledger(10);
        assert_eq!(l.next(ORG, DAY + 1, 0, 200), Next::NewDay);
        assert!(!l.apply_grant(ORG, DAY + 1, 10, grant(5, 5)));
        l.set_limits(ORG, DAY + 1, limits(10), 1);
        assert_eq!(l.next(ORG, DAY + 1, 0, 200), Next::Take { batch: true });
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::NewDay);
    }

    #[test]
    fn plan_changes_drop_or_reopen_what_the_old_limit_gave() {
        let mut l = ledger(10);
        let _ = l.next(ORG, DAY, 0, 200);
        l.end_take(ORG, DAY, true);
        assert!(l.apply_grant(ORG, DAY, 10, grant(10, 10)));
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Go);
        // A lower limit drops the held slots; the counter is asked again and says no.
        l.set_limits(ORG, DAY, limits(5), 1);
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: true });
        l.end_take(ORG, DAY, true);
        assert!(!l.apply_grant(ORG, DAY, 5, grant(0, 10)));
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Refuse);
        // A higher limit lets the counter be asked again.
        l.set_limits(ORG, DAY, limits(50), 2);
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: true });
        // A grant asked for under a higher limit than the one now known is not held.
        l.end_take(ORG, DAY, true);
        l.set_limits(ORG, DAY, limits(20), 3);
        assert!(l.apply_grant(ORG, DAY, 50, grant(4, 14)));
        assert_eq!(l.next(ORG, DAY, 0, 200), Next::Take { batch: true });
    }

    #[test]
    fn limits_stay_fresh_for_a_minute_unless_forgotten() {
        let mut l = ledger(10);
        assert_eq!(
            l.fresh_limits(ORG, DAY, LIMITS_TTL_MS - 1),
            Some(limits(10))
        );
        assert_eq!(l.fresh_limits(ORG, DAY, LIMITS_TTL_MS), None);
        assert_eq!(l.fresh_limits(ORG, DAY + 1, 0), None);
        l.forget_limits(ORG);
        assert_eq!(l.fresh_limits(ORG, DAY, 1), None);
    }
}

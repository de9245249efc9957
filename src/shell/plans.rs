//! Plan enforcement in the shell: the organization's limits from D1, and the daily request
//! counter (a Durable Object per organization) with the relay's check in front of it.

use super::app::{now_ms, App};
use super::db::{self, num};
use crate::core::error::GatewayError;
use crate::core::plans::{daily_grant, utc_day_number, Limit, Plan, PlanLimits};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use worker::{
    durable_object, D1Database, Delay, DurableObject, Env, Method, Request, Response,
    SqlStorageValue, State,
};

#[derive(Deserialize)]
struct PlanRow {
    plan: String,
}

/// The limits of the organization's plan (404 for an unknown organization).
pub async fn org_limits(d1: &D1Database, org: i64) -> Result<PlanLimits, GatewayError> {
    let row: Option<PlanRow> = db::first(
        d1,
        "SELECT plan FROM organizations WHERE id = ?1",
        &[num(org)],
    )
    .await?;
    let row = row.ok_or_else(|| GatewayError::NotFound("organization not found".into()))?;
    Plan::parse(&row.plan)
        .map(Plan::limits)
        .ok_or_else(|| GatewayError::Internal(format!("unknown plan `{}` in D1", row.plan)))
}

/// The daily request counter of one organization (one object per org): the single writer of
/// today's count, so every isolate draws from one consistent number. It hands out slots
/// (`core::plans::daily_grant`), never more in total than the limit. Days are UTC day
/// numbers; older days are dropped, which is the reset at UTC midnight.
#[durable_object]
pub struct DailyRequestCounter {
    state: State,
}

/// The counter's answer: slots granted to the asking isolate, and today's count after it.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct Grant {
    granted: i64,
    count: i64,
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

impl DurableObject for DailyRequestCounter {
    fn new(state: State, _env: Env) -> Self {
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS counts (day INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
            None,
        );
        Self { state }
    }

    /// `POST /take?day=D&limit=L&batch=0|1`: grants `daily_grant(L, count, batch)` slots of
    /// day `D` and counts them. The object handles one request at a time, so the read and the
    /// write below are one step.
    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let url = req.url()?;
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let (day, limit, batch) = (param("day"), param("limit"), param("batch") == 1);
        let sql = self.state.storage().sql();
        sql.exec(
            "DELETE FROM counts WHERE day < ?",
            vec![SqlStorageValue::Integer(day)],
        )?;
        let rows: Vec<CountRow> = sql
            .exec(
                "SELECT n FROM counts WHERE day = ?",
                vec![SqlStorageValue::Integer(day)],
            )?
            .to_array()?;
        let n = rows.first().map_or(0, |r| r.n);
        let granted = daily_grant(limit, n, batch);
        if granted > 0 {
            sql.exec(
                "INSERT OR REPLACE INTO counts (day, n) VALUES (?, ?)",
                vec![
                    SqlStorageValue::Integer(day),
                    SqlStorageValue::Integer(n + granted),
                ],
            )?;
        }
        Response::from_json(&Grant {
            granted,
            count: n + granted,
        })
    }
}

/// What an isolate holds of an organization's day.
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
    /// Calls let through without the counter (its object failed) this day, in this isolate.
    unconfirmed: i64,
}

/// Calls per organization, day and isolate let through while the counter's object errors:
/// a fault of the platform degrades the limit's precision, not the relay.
const UNCONFIRMED_ALLOWANCE: i64 = 50;

thread_local! {
    static DAYS: RefCell<HashMap<i64, DayState>> = RefCell::new(HashMap::new());
}

/// A plan change reaches the relay's check within this time (at once on the isolate that
/// changed it, see [`forget_limits`]).
const LIMITS_TTL_MS: i64 = 60_000;

/// Makes the next relayed call of `org` on this isolate read the plan from D1 again.
pub fn forget_limits(org: i64) {
    DAYS.with(|d| {
        if let Some(s) = d.borrow_mut().get_mut(&org) {
            s.limits_at = i64::MIN;
        }
    });
}

/// Today's state of `org` in this isolate with fresh limits: a new day starts empty; a
/// changed limit lets the counter be asked again.
async fn day_state(app: &App, org: i64, now: i64) -> Result<(i64, PlanLimits), GatewayError> {
    let day = utc_day_number(now);
    let fresh = DAYS.with(|d| {
        d.borrow()
            .get(&org)
            .filter(|s| s.day == day && now.saturating_sub(s.limits_at) < LIMITS_TTL_MS)
            .map(|s| s.limits)
    });
    if let Some(limits) = fresh {
        return Ok((day, limits));
    }
    let limits = org_limits(&app.db()?, org).await?;
    DAYS.with(|d| {
        let mut days = d.borrow_mut();
        match days.get_mut(&org).filter(|s| s.day == day) {
            Some(s) => {
                let (before, after) = (s.limits.daily_requests, limits.daily_requests);
                // A higher limit may have room again; slots granted under a higher limit
                // than today's would overshoot the new one.
                s.exhausted &= after == before;
                if after < before {
                    s.slots = 0;
                }
                s.limits = limits;
                s.limits_at = now;
            }
            None => {
                days.insert(
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
    });
    Ok((day, limits))
}

/// Asks the counter for slots of `day`: one, or a batch.
async fn take(env: &Env, org: i64, day: i64, limit: i64, batch: bool) -> worker::Result<Grant> {
    let stub = env
        .durable_object("DAILY_REQUESTS")?
        .id_from_name(&format!("org:{org}"))?
        .get_stub()?;
    let url = format!(
        "https://daily/take?day={day}&limit={limit}&batch={}",
        i64::from(batch)
    );
    let mut resp = stub
        .fetch_with_request(Request::new(&url, Method::Post)?)
        .await?;
    resp.json::<Grant>().await
}

/// A call of this isolate waiting for the counter; dropping it (also when the client goes
/// away mid-wait) takes it off the day's `in_flight`.
struct InFlight {
    org: i64,
    day: i64,
    batch: bool,
}

impl InFlight {
    fn start(org: i64, s: &mut DayState) -> Self {
        let batch = !s.batch_in_flight;
        s.batch_in_flight |= batch;
        s.in_flight += 1;
        Self {
            org,
            day: s.day,
            batch,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        DAYS.with(|d| {
            if let Some(s) = d
                .borrow_mut()
                .get_mut(&self.org)
                .filter(|s| s.day == self.day)
            {
                s.in_flight -= 1;
                s.batch_in_flight &= !self.batch;
            }
        });
    }
}

enum Next {
    Go,
    Refuse,
    /// The day is used up but grants of this isolate are still on their way: look again soon.
    Recheck,
    Take(InFlight),
    /// UTC midnight passed while this call waited: start over on the new day.
    NewDay,
}

/// How often a call looks again for slots a grant on its way may bring, before it gives up.
const RECHECKS: u32 = 200;

/// The relay's daily-request check for `org` (once per relayed call, right after the key is
/// authorized). The organization's Durable Object grants slots (`core::plans::daily_grant`):
/// each call of an isolate that holds no slot asks for one, and one of them at a time for a
/// batch, which far from the limit lets the next calls spend slots from memory. A call is
/// refused only when the counter said the day is used up, this isolate holds no slot and no
/// grant of it is still on its way: no overshoot anywhere (grants never pass the limit), and in
/// one isolate the boundary is exact. Across isolates, a batch granted to an isolate that then
/// stops receiving calls stays unused (at most 32 slots, 1/32 of what was left).
///
/// Calls do not await one another's round trip: workerd ties every promise to the request that
/// made it, so a future shared across requests would resume them in the wrong context.
pub async fn check_daily_request(app: &App, org: i64) -> Result<(), GatewayError> {
    let (mut day, mut limits) = day_state(app, org, now_ms()).await?;
    let mut rechecks = 0;
    loop {
        let next = DAYS.with(|d| {
            let mut days = d.borrow_mut();
            let Some(s) = days.get_mut(&org).filter(|s| s.day == day) else {
                return Next::NewDay;
            };
            if s.slots > 0 {
                s.slots -= 1;
                Next::Go
            } else if !s.exhausted {
                Next::Take(InFlight::start(org, s))
            } else if s.in_flight > 0 && rechecks < RECHECKS {
                Next::Recheck
            } else {
                Next::Refuse
            }
        });
        match next {
            Next::Go => return Ok(()),
            Next::Refuse => return Err(limits.exceeded(Limit::DailyRequests)),
            Next::Recheck => {
                rechecks += 1;
                Delay::from(Duration::from_millis(1)).await;
            }
            Next::NewDay => (day, limits) = day_state(app, org, now_ms()).await?,
            Next::Take(in_flight) => {
                let limit = limits.daily_requests;
                let grant = take(&app.env, org, day, limit, in_flight.batch).await;
                drop(in_flight);
                let grant = match grant {
                    Ok(grant) => grant,
                    Err(e) => {
                        worker::console_error!(
                            "daily request counter of organization {org} failed: {e}; \
                             using the isolate's bounded allowance"
                        );
                        let allowed = DAYS.with(|d| {
                            let mut days = d.borrow_mut();
                            let s = days.get_mut(&org).filter(|s| s.day == day)?;
                            (s.unconfirmed < UNCONFIRMED_ALLOWANCE).then(|| s.unconfirmed += 1)
                        });
                        return match allowed {
                            Some(()) => Ok(()),
                            None => Err(GatewayError::Internal(format!(
                                "daily request counter: {e}"
                            ))),
                        };
                    }
                };
                let own = DAYS.with(|d| {
                    let mut days = d.borrow_mut();
                    let s = days.get_mut(&org).filter(|s| s.day == day)?;
                    // The plan may have changed while the grant travelled (see `day_state`).
                    if s.limits.daily_requests >= limit {
                        s.slots += (grant.granted - 1).max(0);
                    }
                    s.exhausted |= grant.count >= limit && s.limits.daily_requests == limit;
                    Some(())
                });
                if grant.granted > 0 && own.is_some() {
                    return Ok(());
                }
            }
        }
    }
}

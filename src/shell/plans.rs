//! Plan enforcement in the shell: the organization's limits from D1, and the daily request
//! counter (a Durable Object per organization) with the relay's check in front of it.

use super::app::{now_ms, App};
use super::durable;
use super::repo::organizations;
use crate::core::durable::{DoCall, Grant};
use crate::core::error::GatewayError;
use crate::core::plans::{daily_grant, utc_day_number, Limit, Plan, PlanLimits};
use crate::core::quota::{Ledger, Next};
use serde::Deserialize;
use std::cell::RefCell;
use std::time::Duration;
use worker::{
    durable_object, D1Database, Delay, DurableObject, Env, Request, Response, SqlStorageValue,
    State,
};

/// The limits of the organization's plan (404 for an unknown organization).
pub async fn org_limits(d1: &D1Database, org: i64) -> Result<PlanLimits, GatewayError> {
    let plan = organizations::plan(d1, org)
        .await?
        .ok_or_else(|| GatewayError::NotFound("organization not found".into()))?;
    Plan::parse(&plan)
        .map(Plan::limits)
        .ok_or_else(|| GatewayError::Internal(format!("unknown plan `{plan}` in D1")))
}

/// The daily request counter of one organization (one object per org): the single writer of
/// today's count, so every isolate draws from one consistent number. It hands out slots
/// (`core::plans::daily_grant`), never more in total than the limit. Days are UTC day
/// numbers; older days are dropped, which is the reset at UTC midnight.
#[durable_object]
pub struct DailyRequestCounter {
    state: State,
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

    /// [`DoCall::DailyTake`]: grants `daily_grant(limit, count, batch)` slots of the day and
    /// counts them. The object handles one request at a time, so the read and the write below
    /// are one step.
    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let url = req.url()?;
        let Some(DoCall::DailyTake { day, limit, batch }) =
            DoCall::parse(req.method().as_ref(), url.path(), url.query())
        else {
            return Response::error("not found", 404);
        };
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

thread_local! {
    /// This isolate's daily-request ledger of every organization it served.
    static LEDGER: RefCell<Ledger> = RefCell::new(Ledger::default());
}

/// Makes the next relayed call of `org` on this isolate read the plan from D1 again.
pub fn forget_limits(org: i64) {
    LEDGER.with(|l| l.borrow_mut().forget_limits(org));
}

/// Today's state of `org` in this isolate with fresh limits: a new day starts empty; a
/// changed limit lets the counter be asked again.
async fn day_state(app: &App, org: i64, now: i64) -> Result<(i64, PlanLimits), GatewayError> {
    let day = utc_day_number(now);
    if let Some(limits) = LEDGER.with(|l| l.borrow().fresh_limits(org, day, now)) {
        return Ok((day, limits));
    }
    let limits = org_limits(&app.db()?, org).await?;
    LEDGER.with(|l| l.borrow_mut().set_limits(org, day, limits, now));
    Ok((day, limits))
}

/// Asks the counter for slots of `day`: one, or a batch.
async fn take(env: &Env, org: i64, day: i64, limit: i64, batch: bool) -> worker::Result<Grant> {
    let call = DoCall::DailyTake { day, limit, batch };
    durable::call(env, org, call, None)
        .await?
        .json::<Grant>()
        .await
}

/// A call of this isolate waiting for the counter; dropping it (also when the client goes
/// away mid-wait) ends its wait in the ledger.
struct InFlight {
    org: i64,
    day: i64,
    batch: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        LEDGER.with(|l| l.borrow_mut().end_take(self.org, self.day, self.batch));
    }
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
        let next = LEDGER.with(|l| l.borrow_mut().next(org, day, rechecks, RECHECKS));
        match next {
            Next::Go => return Ok(()),
            Next::Refuse => return Err(limits.exceeded(Limit::DailyRequests)),
            Next::Recheck => {
                rechecks += 1;
                Delay::from(Duration::from_millis(1)).await;
            }
            Next::NewDay => (day, limits) = day_state(app, org, now_ms()).await?,
            Next::Take { batch } => {
                let in_flight = InFlight { org, day, batch };
                let limit = limits.daily_requests;
                let grant = take(&app.env, org, day, limit, batch).await;
                drop(in_flight);
                let grant = match grant {
                    Ok(grant) => grant,
                    // A fault of the counter's object degrades to the isolate's bounded
                    // allowance (logged) instead of failing every call.
                    Err(e) => {
                        worker::console_error!(
                            "daily request counter of organization {org} failed: {e}"
                        );
                        return if LEDGER.with(|l| l.borrow_mut().allow_unconfirmed(org, day)) {
                            Ok(())
                        } else {
                            Err(GatewayError::Internal(format!(
                                "daily request counter: {e}"
                            )))
                        };
                    }
                };
                if LEDGER.with(|l| l.borrow_mut().apply_grant(org, day, limit, grant)) {
                    return Ok(());
                }
            }
        }
    }
}

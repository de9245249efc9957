//! Plan enforcement in the shell: the organization's limits from D1, and the daily request
//! counter (a Durable Object per organization) with the relay's check in front of it.

use super::app::{now_ms, App};
use super::db::{self, num};
use crate::core::error::GatewayError;
use crate::core::plans::{daily_grant, utc_day_number, Limit, Plan, PlanLimits};
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::{
    durable_object, D1Database, DurableObject, Env, Method, Request, Response, SqlStorageValue,
    State,
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

    /// `POST /take?day=D&limit=L&want=W`: grants up to `daily_grant(L, count, W)` slots of day
    /// `D` and counts them. The object handles one request at a time, so the read and the
    /// write below are one step.
    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let url = req.url()?;
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let (day, limit, want) = (param("day"), param("limit"), param("want"));
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
        let granted = daily_grant(limit, n, want);
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

/// A round trip to the counter, shared by every request of the isolate waiting for slots.
type PendingGrant = Shared<LocalBoxFuture<'static, Result<(), String>>>;

/// What an isolate holds of an organization's day.
struct DayState {
    day: i64,
    limits: PlanLimits,
    limits_at: i64,
    /// Slots granted to this isolate and not used yet.
    slots: i64,
    /// The counter reached the limit: refuse from memory until the day or the limit changes.
    exhausted: bool,
    /// Requests waiting for `pending` (how many slots the next round trip asks for).
    waiting: i64,
    pending: Option<PendingGrant>,
}

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
            .filter(|s| s.day == day && now - s.limits_at < LIMITS_TTL_MS)
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
                s.exhausted &= s.limits.daily_requests == limits.daily_requests;
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
                        waiting: 0,
                        pending: None,
                    },
                );
            }
        }
    });
    Ok((day, limits))
}

/// Asks the counter for `want` slots and adds the grant to the isolate's state.
async fn take(env: Env, org: i64, day: i64, limit: i64, want: i64) -> Result<(), String> {
    let asked = async {
        let stub = env
            .durable_object("DAILY_REQUESTS")?
            .id_from_name(&format!("org:{org}"))?
            .get_stub()?;
        let url = format!("https://daily/take?day={day}&limit={limit}&want={want}");
        let mut resp = stub
            .fetch_with_request(Request::new(&url, Method::Post)?)
            .await?;
        resp.json::<Grant>().await
    };
    let grant = asked.await.map_err(|e| e.to_string());
    DAYS.with(|d| {
        if let Some(s) = d.borrow_mut().get_mut(&org).filter(|s| s.day == day) {
            s.pending = None;
            if let Ok(g) = grant {
                s.slots += g.granted;
                s.exhausted = g.count >= limit && s.limits.daily_requests == limit;
            }
        }
    });
    grant.map(|_| ())
}

enum Next {
    Go,
    Refuse,
    Wait(PendingGrant),
    /// UTC midnight passed while this request waited: start over on the new day.
    NewDay,
}

/// The relay's daily-request check for `org` (once per relayed call, right after the key is
/// authorized). The organization's Durable Object grants slots in batches
/// (`core::plans::daily_grant`): far from the limit an isolate spends slots from memory and
/// pays one round trip per batch; near it, one slot per waiting request. An isolate has at
/// most one round trip in flight per organization and its waiting requests share it, so a
/// request is refused only when the counter said the day is used up and this isolate holds
/// no slot: no overshoot anywhere (grants never pass the limit), and in one isolate the
/// boundary is exact. Across isolates, slots granted to an isolate that then stops receiving
/// calls stay unused (at most 1/32 of what was left when granted, and ≤ 32).
pub async fn check_daily_request(app: &App, org: i64) -> Result<(), GatewayError> {
    let (mut day, mut limits) = day_state(app, org, now_ms()).await?;
    loop {
        let next = DAYS.with(|d| {
            let mut days = d.borrow_mut();
            let Some(s) = days.get_mut(&org).filter(|s| s.day == day) else {
                return Next::NewDay;
            };
            if s.slots > 0 {
                s.slots -= 1;
                return Next::Go;
            }
            if s.exhausted {
                return Next::Refuse;
            }
            let want = s.waiting + 1;
            let pending = s.pending.get_or_insert_with(|| {
                take(app.env.clone(), org, day, limits.daily_requests, want)
                    .boxed_local()
                    .shared()
            });
            s.waiting = want;
            Next::Wait(pending.clone())
        });
        let pending = match next {
            Next::Go => return Ok(()),
            Next::Refuse => return Err(limits.exceeded(Limit::DailyRequests)),
            Next::Wait(pending) => pending,
            Next::NewDay => {
                (day, limits) = day_state(app, org, now_ms()).await?;
                continue;
            }
        };
        let taken = pending.await;
        DAYS.with(|d| {
            if let Some(s) = d.borrow_mut().get_mut(&org) {
                s.waiting = (s.waiting - 1).max(0);
            }
        });
        taken.map_err(|e| GatewayError::Internal(format!("daily request counter: {e}")))?;
    }
}

//! The Durable Object protocol: every call the shell makes to its objects (the cooldown
//! registry and the daily request counter) as one enum, with the one URL mapping the client
//! builds and the object parses, and the bodies both sides exchange. No string routes elsewhere.

use crate::core::cooldown::ChannelOutcome;
use serde::{Deserialize, Serialize};

/// One call to a Durable Object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoCall {
    /// Cooldown registry: is it reachable (`pong`).
    CooldownPing,
    /// Cooldown registry: every channel with failures since its last success.
    CooldownSnapshot,
    /// Cooldown registry: apply a [`CooldownReport`] (the body).
    CooldownReport,
    /// Cooldown registry: forget one channel's failures, or (None) every channel's.
    CooldownClear { channel: Option<i64> },
    /// Daily request counter: grant slots of `day` under `limit`, one or a batch ([`Grant`]).
    DailyTake { day: i64, limit: i64, batch: bool },
}

impl DoCall {
    /// The binding (`wrangler.toml` `[durable_objects]`) of the object class that serves it.
    pub fn binding(&self) -> &'static str {
        match self {
            DoCall::DailyTake { .. } => "DAILY_REQUESTS",
            _ => "COOLDOWN",
        }
    }

    /// The HTTP method of the call.
    pub fn method(&self) -> &'static str {
        match self {
            DoCall::CooldownPing | DoCall::CooldownSnapshot => "GET",
            _ => "POST",
        }
    }

    /// The URL the client fetches (the host is never looked at).
    pub fn to_url(&self) -> String {
        match self {
            DoCall::CooldownPing => "https://cooldown/ping".into(),
            DoCall::CooldownSnapshot => "https://cooldown/snapshot".into(),
            DoCall::CooldownReport => "https://cooldown/report".into(),
            DoCall::CooldownClear { channel: None } => "https://cooldown/clear".into(),
            DoCall::CooldownClear { channel: Some(id) } => {
                format!("https://cooldown/clear?channel={id}")
            }
            DoCall::DailyTake { day, limit, batch } => format!(
                "https://daily/take?day={day}&limit={limit}&batch={}",
                i64::from(*batch)
            ),
        }
    }

    /// The call an object received, from its method, path and query string; None for any
    /// other request.
    pub fn parse(method: &str, path: &str, query: Option<&str>) -> Option<DoCall> {
        let param = |name: &str| {
            query?
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
        };
        match (method, path) {
            ("GET", "/ping") => Some(DoCall::CooldownPing),
            ("GET", "/snapshot") => Some(DoCall::CooldownSnapshot),
            ("POST", "/report") => Some(DoCall::CooldownReport),
            ("POST", "/clear") => Some(DoCall::CooldownClear {
                channel: param("channel"),
            }),
            ("POST", "/take") => Some(DoCall::DailyTake {
                day: param("day")?,
                limit: param("limit")?,
                batch: param("batch")? == 1,
            }),
            _ => None,
        }
    }
}

/// The body of [`DoCall::CooldownReport`]: a relayed call's channel outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CooldownReport {
    /// The first cooldown of a failing channel.
    pub base_ms: i64,
    pub outcomes: Vec<ChannelOutcome>,
}

/// The daily counter's answer: slots granted to the asking isolate, and the day's count after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub granted: i64,
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_round_trips_through_its_url() {
        let calls = [
            DoCall::CooldownPing,
            DoCall::CooldownSnapshot,
            DoCall::CooldownReport,
            DoCall::CooldownClear { channel: None },
            DoCall::CooldownClear { channel: Some(42) },
            DoCall::DailyTake {
                day: 20_000,
                limit: 1_000,
                batch: true,
            },
            DoCall::DailyTake {
                day: 20_001,
                limit: 5,
                batch: false,
            },
        ];
        for call in calls {
            let url = call.to_url();
            let rest = url.split_once("://").unwrap().1;
            let path_and_query = &rest[rest.find('/').unwrap()..];
            let (path, query) = match path_and_query.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (path_and_query, None),
            };
            assert_eq!(
                DoCall::parse(call.method(), path, query),
                Some(call),
                "{url}"
            );
        }
    }

    #[test]
    fn other_requests_are_not_calls() {
        assert_eq!(DoCall::parse("POST", "/ping", None), None);
        assert_eq!(DoCall::parse("GET", "/report", None), None);
        assert_eq!(DoCall::parse("POST", "/take", Some("day=1&limit=2")), None);
        assert_eq!(
            DoCall::parse("POST", "/take", Some("day=x&limit=2&batch=1")),
            None
        );
        assert_eq!(DoCall::parse("GET", "/", None), None);
    }
}

//! Cooldown arithmetic for failed channels: how long, growing with repeated failures.
//! The Durable Object stores the state; this module decides the numbers.

use serde::{Deserialize, Serialize};

/// The longest any cooldown lasts, whatever the failure count or Retry-After says.
pub const MAX_COOLDOWN_MS: i64 = 24 * 3600 * 1000;

/// What the registry remembers of one channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelCooldown {
    pub channel_id: i64,
    /// Failures since the last success.
    pub failures: u32,
    /// Cooling down until this time (ms); 0 = not cooling.
    pub until_ms: i64,
    pub last_error: String,
}

/// An outcome the relay reports for a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelOutcome {
    pub channel_id: i64,
    pub success: bool,
    /// Upstream's Retry-After, in seconds, when it sent one.
    pub retry_after_s: Option<u64>,
    pub error: String,
}

impl ChannelCooldown {
    /// Applies an outcome at `now_ms`: success clears, failure extends (base × 2^(n-1), or
    /// exactly what Retry-After asked for when the upstream said so).
    pub fn apply(&mut self, outcome: &ChannelOutcome, now_ms: i64, base_ms: i64) {
        if outcome.success {
            *self = ChannelCooldown {
                channel_id: self.channel_id,
                ..Default::default()
            };
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let backoff = match outcome.retry_after_s {
            Some(seconds) => i64::try_from(seconds.saturating_mul(1000))
                .unwrap_or(MAX_COOLDOWN_MS)
                .max(1000),
            None => base_ms
                .max(1000)
                .saturating_mul(1i64 << (self.failures - 1).min(20)),
        };
        self.until_ms = now_ms.saturating_add(backoff.min(MAX_COOLDOWN_MS));
        self.last_error = outcome.error.chars().take(300).collect();
    }

    pub fn is_cooling(&self, now_ms: i64) -> bool {
        self.until_ms > now_ms
    }
}

/// Parses a `Retry-After` header given in delta-seconds (the form LLM APIs use).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let v = value.trim();
    if let Ok(seconds) = v.parse::<u64>() {
        return Some(seconds);
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(retry: Option<u64>) -> ChannelOutcome {
        ChannelOutcome {
            channel_id: 7,
            success: false,
            retry_after_s: retry,
            error: "HTTP 500".into(),
        }
    }

    #[test]
    fn backoff_doubles_and_success_clears() {
        let mut c = ChannelCooldown {
            channel_id: 7,
            ..Default::default()
        };
        c.apply(&fail(None), 1_000, 600_000);
        assert_eq!((c.failures, c.until_ms), (1, 601_000));
        c.apply(&fail(None), 2_000, 600_000);
        assert_eq!(c.until_ms, 2_000 + 1_200_000);
        assert!(c.is_cooling(2_000));
        c.apply(
            &ChannelOutcome {
                channel_id: 7,
                success: true,
                retry_after_s: None,
                error: String::new(),
            },
            3_000,
            600_000,
        );
        assert_eq!(
            c,
            ChannelCooldown {
                channel_id: 7,
                ..Default::default()
            }
        );
        assert!(!c.is_cooling(3_000));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let mut c = ChannelCooldown::default();
        c.apply(&fail(Some(7)), 0, 600_000);
        assert_eq!(c.until_ms, 7_000);
        c.apply(&fail(Some(u64::MAX)), 0, 600_000);
        assert_eq!(c.until_ms, MAX_COOLDOWN_MS);
        for _ in 0..100 {
            c.apply(&fail(None), 0, 600_000);
        }
        assert_eq!(c.until_ms, MAX_COOLDOWN_MS);
    }

    #[test]
    fn parses_retry_after_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(7));
        assert_eq!(parse_retry_after("1.2"), Some(2));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
    }
}

//! What goes to a panel and what comes back: the request an adapter builds, the errors a
//! panel call can end in, and the figures its answers carry. A leaf the adapters share.

use crate::core::dialect::Dialect;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An HTTP call to make against a panel, built without touching the network.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelRequest {
    pub method: &'static str,
    /// Path and query, appended to the station's base URL.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl PanelRequest {
    /// Adds one cookie, merging with an existing `Cookie` header (WAF cookies ride along the session).
    pub fn add_cookie(&mut self, name: &str, value: &str) {
        let pair = format!("{name}={value}");
        match self.headers.iter_mut().find(|(h, _)| *h == "Cookie") {
            Some((_, cookie)) => {
                cookie.push_str("; ");
                cookie.push_str(&pair);
            }
            None => self.headers.push(("Cookie", pair)),
        }
    }
}

/// Why a panel call failed, as reported on the account (never containing credentials).
#[derive(Debug, Clone, PartialEq)]
pub enum PanelError {
    /// Credentials rejected (HTTP 401/403 or an auth `success:false`).
    Auth(String),
    /// The panel answered `success:false` for another reason.
    Refused(String),
    /// The endpoint does not exist on this panel (HTTP 404 `Invalid URL`, or known absent).
    NotSupported(String),
    /// Unexpected HTTP status.
    Http(u16),
    /// No HTTP answer at all (connection refused, DNS, reset).
    Unreachable(String),
    /// A body we cannot read.
    Malformed(String),
    /// An anti-bot (WAF) challenge page instead of JSON: the account's cookies need refreshing.
    Blocked(String),
    /// The account's credential does not fit the platform (wrong kind or a missing field).
    Credential(String),
}

impl PanelError {
    /// The panel's rate limiter said no (HTTP 429): New API answers its `CriticalRateLimit`
    /// (20 calls per 20 minutes per IP, shared by login and key reveals) with a bare 429.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, PanelError::Http(429))
    }

    /// True when the account itself needs attention (mark it unhealthy), not the station.
    pub fn is_account_error(&self) -> bool {
        matches!(
            self,
            PanelError::Auth(_) | PanelError::Blocked(_) | PanelError::Credential(_)
        )
    }
}

impl fmt::Display for PanelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PanelError::Auth(m) => write!(f, "authentication failed: {m}"),
            PanelError::Refused(m) => write!(f, "panel refused: {m}"),
            PanelError::NotSupported(m) => write!(f, "not supported by this panel: {m}"),
            PanelError::Http(s) => write!(f, "unexpected HTTP status {s}"),
            PanelError::Unreachable(m) => write!(f, "unreachable: {m}"),
            PanelError::Malformed(m) => write!(f, "unreadable response: {m}"),
            PanelError::Blocked(m) => write!(f, "blocked by the station's anti-bot check: {m}"),
            PanelError::Credential(m) => write!(f, "credential problem: {m}"),
        }
    }
}

impl std::error::Error for PanelError {}

/// The first characters of a body, for error messages (bodies never carry our credentials).
pub(crate) fn excerpt(body: &str) -> String {
    body.chars().take(200).collect()
}

/// What a panel's public status tells us.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelStatus {
    /// Quota units per USD; 1.0 for panels and providers that already count in USD.
    pub quota_per_unit: f64,
    pub checkin_enabled: bool,
    pub turnstile_check: bool,
    pub system_name: String,
    /// Dialects the panel's admin switched off (DoneHub `GeminiAPIEnabled`/`ClaudeAPIEnabled`:
    /// its `/gemini` and `/claude` routes then answer 403, done-hub `middleware/api-enabled.go`).
    pub switched_off: Vec<Dialect>,
}

impl PanelStatus {
    /// The status of a platform without a status endpoint: balances are plain USD.
    pub fn usd() -> PanelStatus {
        PanelStatus {
            quota_per_unit: 1.0,
            checkin_enabled: false,
            turnstile_check: false,
            system_name: String::new(),
            switched_off: Vec::new(),
        }
    }
}

/// The account's balance in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelBalance {
    pub user_id: i64,
    pub group: String,
    /// `quota` is what remains (not quota − used).
    pub balance_usd: f64,
    /// Spent so far; 0 where the panel does not report it (Sub2API).
    pub used_usd: f64,
    /// A wallet, or Sub2API subscriptions (then `balance_usd` is the smallest remaining limit).
    pub kind: BalanceKind,
}

impl PanelBalance {
    /// The balance to store: none for an unlimited subscription (never "low", never $-1).
    pub fn stored_usd(&self) -> Option<f64> {
        (!matches!(self.kind, BalanceKind::Unlimited { .. })).then_some(self.balance_usd)
    }
}

/// What an account's balance is (stored as `accounts.subscription_json`, shown by the admin API).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BalanceKind {
    /// A wallet: `balance_usd` is what remains.
    #[default]
    Wallet,
    /// Subscriptions with limits; spending stops at the first exhausted window.
    Subscription {
        subscriptions: Vec<SubscriptionPlan>,
        /// The wallet beside them, when known (a login sees it; a relay key does not).
        wallet_usd: Option<f64>,
    },
    /// Subscriptions without any limit.
    Unlimited {
        subscriptions: Vec<SubscriptionPlan>,
        wallet_usd: Option<f64>,
    },
}

/// One active subscription: its group, expiry, and its usage windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionPlan {
    pub group: String,
    pub expires_at: Option<String>,
    /// Daily, weekly and monthly limits that are set (none: unlimited).
    pub windows: Vec<LimitWindow>,
    /// The smallest remaining limit where only that is known (a relay key's `/v1/usage`).
    pub remaining_usd: Option<f64>,
}

/// A usage window of a subscription: its limit, use, and when it resets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitWindow {
    pub period: String,
    pub limit_usd: f64,
    pub used_usd: f64,
    pub remaining_usd: f64,
    pub resets_at: Option<String>,
}

/// One token (upstream key) as listed; `key` may be masked (contains `*`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PanelToken {
    pub id: i64,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    /// 1 = enabled (New-API family numbering; other panels are mapped onto it).
    #[serde(default = "enabled_status")]
    pub status: i64,
    #[serde(default)]
    pub group: String,
    /// The platform of the key's group where the panel has one (Sub2API: `anthropic`, `openai`,
    /// `gemini`, …): it decides which dialects the key serves.
    #[serde(default)]
    pub platform: String,
}

fn enabled_status() -> i64 {
    1
}

impl PanelToken {
    pub fn is_enabled(&self) -> bool {
        self.status == 1
    }

    pub fn is_masked(&self) -> bool {
        self.key.contains('*')
    }

    /// The relay key as clients send it (`sk-` + the stored key).
    pub fn relay_key(key: &str) -> String {
        if key.starts_with("sk-") {
            key.to_string()
        } else {
            format!("sk-{key}")
        }
    }
}

/// One page of tokens and the page index to ask for next (None: the list is complete).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    pub tokens: Vec<PanelToken>,
    pub next_page: Option<usize>,
}

/// A model's price in USD at the account's group ratio.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelPrice {
    Tokens {
        input_usd_per_mtok: f64,
        output_usd_per_mtok: f64,
        cache_read_usd_per_mtok: Option<f64>,
    },
    PerCall {
        usd: f64,
    },
}

/// What a station's prices are computed from: the panel charges (prompt + completion ×
/// completion ratio) × model ratio × group ratio quota units, and a dollar is `quota_per_unit`
/// units (New API `relay/helper/price.go`, OneHub `relay/relay_util/quota.go`).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceBasis {
    /// The group the account's keys bill to (the user's group: keys with no group of their own).
    pub group: String,
    /// That group's ratio as the authenticated account sees it; None: unknown (the pricing
    /// answer's public `group_ratio` is used, else 1).
    pub group_ratio: Option<f64>,
    pub quota_per_unit: f64,
}

impl PriceBasis {
    /// USD per million tokens at a price ratio (quota units per token), this group's ratio applied.
    pub fn usd_per_mtok(&self, ratio: f64, group_ratio: f64) -> f64 {
        ratio * group_ratio * 1_000_000.0 / self.quota_per_unit
    }
}

/// A user group the account may use, with its price multiplier when numeric.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfo {
    pub name: String,
    /// None for non-numeric ratios such as New API's `auto` group (`"自动"`).
    pub ratio: Option<f64>,
    pub description: String,
}

/// The result of a check-in attempt; failures are `PanelError`s with the panel's reason.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckinOutcome {
    Rewarded { usd: f64 },
    AlreadyDone,
}

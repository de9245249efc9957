//! What goes to a panel and what comes back: the request an adapter builds, the errors a
//! panel call can end in, and the figures its answers carry. A leaf the adapters share.

use serde::Deserialize;
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
}

impl PanelStatus {
    /// The status of a platform without a status endpoint: balances are plain USD.
    pub fn usd() -> PanelStatus {
        PanelStatus {
            quota_per_unit: 1.0,
            checkin_enabled: false,
            turnstile_check: false,
            system_name: String::new(),
        }
    }
}

/// The account's balance in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelBalance {
    pub user_id: i64,
    pub group: String,
    /// `quota` is what remains (not quota − used: upstream-panels.md §9 #3).
    pub balance_usd: f64,
    /// Spent so far; 0 where the panel does not report it (Sub2API).
    pub used_usd: f64,
}

/// One token (upstream key) as listed; `key` may be masked (contains `*`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

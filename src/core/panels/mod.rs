//! Relay-panel and provider adapters: pure request builders and response parsers, one module per
//! panel family, behind one [`PanelAdapter`] that the shell drives without matching on platforms.
//!
//! # How the shell uses this
//!
//! ```text
//! let adapter = PanelAdapter::for_platform(station.platform);
//! credential.check_for(platform)?;                          // clear "missing credential" errors
//! let cred = match adapter.login_request(&credential) {     // username/password → session
//!     Some(req) => { send(req?) → adapter.parse_login(s, &b, &set_cookie_headers)? }
//!     None => credential,
//! };
//! let status = match adapter.status_request() {           // the quota unit, never hard-coded
//!     Some(req) => { send(req) → adapter.parse_status(s, &b)? }
//!     None => PanelStatus::usd(),
//! };
//! adapter.self_request(&cred)?            → adapter.parse_balance(s, &b, status.quota_per_unit)?
//! adapter.models_request(&cred)?          → adapter.parse_models(s, &b)?
//! adapter.pricing_request(&cred)?         → adapter.parse_pricing(s, &b, &balance.group)?
//! adapter.groups_request(&cred)?          → adapter.parse_groups(s, &b)?
//! let mut page = adapter.first_token_page();             // keys, 25+ per account
//! loop { adapter.tokens_request(&cred, page)? → adapter.parse_tokens(s, &b, page, seen)?
//!        (masked keys: adapter.token_key_request(&cred, id)? → adapter.parse_token_key(s, &b)?)
//!        follow batch.next_page }
//! none enabled → adapter.create_token_request(&cred, name)? → adapter.parse_created_token(s, &b)?
//!                (None: list again)
//! adapter.checkin_request(&cred)?         → adapter.parse_checkin(s, &b, status.quota_per_unit)
//! ```
//!
//! A WAF challenge page parses as `PanelError::Blocked`: retry once with
//! `anyrouter::challenge_cookies(body, set_cookie)` added via `PanelRequest::add_cookie`, and
//! mark the account unhealthy if it persists (`PanelError::is_account_error`).
//! Every builder returns `Err(PanelError::NotSupported)` when the platform has no such endpoint
//! (the shell skips that step) and `Err(PanelError::Credential)` when the credential cannot make
//! the call. Every parser takes the raw HTTP status and body, so envelopes, auth failures, WAF
//! challenges and malformed bodies are classified in one place per family. Generic providers have
//! no key list: the account's API key is the channel key. Sub2API lists models per relay key:
//! call `models_request` with `Credential::ApiKey`. Detection lives in [`detect`]; which dialects
//! a platform serves on which paths in [`relay_paths`].

/// A recorded-shape body from `tests/fixtures/panels/`.
#[cfg(test)]
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/panels/",
            $name
        ))
    };
}

pub mod anyrouter;
pub mod credential;
pub mod detect;
pub mod family;
pub mod generic;
pub mod new_api;
pub mod one_api;
pub mod onehub;
pub mod relay_paths;
pub mod sub2api;
pub mod veloera;

use crate::core::station::Platform;
use credential::Credential;
use family::FamilyProfile;
use generic::GenericApi;
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

/// One adapter per platform; the shell calls its methods instead of matching on the platform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PanelAdapter {
    /// New API, One API, OneHub, DoneHub, Veloera, AnyRouter: one envelope, profiled differences.
    Family(&'static FamilyProfile),
    Sub2Api,
    /// OpenAI-, Anthropic- or Gemini-compatible endpoints, official vendors included.
    Generic(GenericApi),
}

impl PanelAdapter {
    pub fn for_platform(platform: Platform) -> PanelAdapter {
        match platform {
            Platform::NewApi => PanelAdapter::Family(&new_api::PROFILE),
            Platform::OneApi => PanelAdapter::Family(&one_api::PROFILE),
            Platform::OneHub => PanelAdapter::Family(&onehub::ONEHUB),
            Platform::DoneHub => PanelAdapter::Family(&onehub::DONEHUB),
            Platform::Veloera => PanelAdapter::Family(&veloera::PROFILE),
            Platform::AnyRouter => PanelAdapter::Family(&anyrouter::PROFILE),
            Platform::Sub2Api => PanelAdapter::Sub2Api,
            other => PanelAdapter::Generic(GenericApi::for_platform(other)),
        }
    }

    /// The public status request (quota unit, check-in, Turnstile); None when there is none.
    pub fn status_request(&self) -> Option<PanelRequest> {
        match self {
            PanelAdapter::Family(_) => Some(family::status_request()),
            PanelAdapter::Sub2Api => Some(sub2api::settings_request()),
            PanelAdapter::Generic(_) => None,
        }
    }

    pub fn parse_status(&self, status: u16, body: &str) -> Result<PanelStatus, PanelError> {
        match self {
            PanelAdapter::Family(_) => family::parse_status_body(status, body),
            PanelAdapter::Sub2Api => sub2api::parse_settings(status, body),
            PanelAdapter::Generic(_) => Ok(PanelStatus::usd()),
        }
    }

    /// Exchanges a username/password credential for a session; None for other credentials.
    pub fn login_request(
        &self,
        credential: &Credential,
    ) -> Option<Result<PanelRequest, PanelError>> {
        let Credential::Password { username, password } = credential else {
            return None;
        };
        Some(match self {
            PanelAdapter::Family(p) => family::login_request(p, username, password),
            PanelAdapter::Sub2Api => Ok(sub2api::login_request(username, password)),
            PanelAdapter::Generic(_) => Err(PanelError::Credential(
                "API providers take an API key, not a password".into(),
            )),
        })
    }

    /// The session credential a login answer grants (`set_cookie`: the response's Set-Cookie values).
    pub fn parse_login(
        &self,
        status: u16,
        body: &str,
        set_cookie: &[&str],
    ) -> Result<Credential, PanelError> {
        match self {
            PanelAdapter::Family(_) => family::parse_login(status, body, set_cookie),
            PanelAdapter::Sub2Api => sub2api::parse_login(status, body),
            PanelAdapter::Generic(_) => Err(PanelError::NotSupported("login".into())),
        }
    }

    pub fn self_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::get(p, cred, "/api/user/self"),
            PanelAdapter::Sub2Api => sub2api::balance_request(cred),
            PanelAdapter::Generic(_) => Err(PanelError::NotSupported(
                "balance of an API provider".into(),
            )),
        }
    }

    pub fn parse_balance(
        &self,
        status: u16,
        body: &str,
        quota_per_unit: f64,
    ) -> Result<PanelBalance, PanelError> {
        match self {
            PanelAdapter::Family(_) => {
                family::parse_self(&family::parse_envelope(status, body)?, quota_per_unit)
            }
            PanelAdapter::Sub2Api => sub2api::parse_balance(status, body),
            PanelAdapter::Generic(_) => Err(PanelError::NotSupported("balance".into())),
        }
    }

    pub fn models_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::get(p, cred, p.models_path),
            PanelAdapter::Sub2Api => sub2api::models_request(cred),
            PanelAdapter::Generic(api) => api.models_request(cred),
        }
    }

    /// Model names, sorted and deduplicated.
    pub fn parse_models(&self, status: u16, body: &str) -> Result<Vec<String>, PanelError> {
        match self {
            PanelAdapter::Family(_) => family::parse_models(&family::parse_envelope(status, body)?),
            PanelAdapter::Sub2Api => sub2api::parse_models(status, body),
            PanelAdapter::Generic(api) => api.parse_models(status, body),
        }
    }

    pub fn pricing_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => match p.pricing {
                family::Pricing::NewApi => family::get(p, cred, "/api/pricing"),
                family::Pricing::AvailableModel => family::get(p, cred, p.models_path),
                family::Pricing::None => Err(not_on(p.platform, "per-model pricing")),
            },
            _ => Err(PanelError::NotSupported("per-model pricing".into())),
        }
    }

    /// Prices at the account's `group` ratio (OneHub prices are base prices: ratio 1).
    pub fn parse_pricing(
        &self,
        status: u16,
        body: &str,
        group: &str,
    ) -> Result<Vec<(String, ModelPrice)>, PanelError> {
        let PanelAdapter::Family(p) = self else {
            return Err(PanelError::NotSupported("per-model pricing".into()));
        };
        let envelope = family::parse_envelope(status, body)?;
        Ok(match p.pricing {
            family::Pricing::NewApi => family::parse_pricing(&envelope, group),
            family::Pricing::AvailableModel => onehub::parse_pricing(&envelope),
            family::Pricing::None => vec![],
        })
    }

    pub fn groups_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => match p.groups_path {
                Some(path) => family::get(p, cred, path),
                None => Err(not_on(p.platform, "user groups")),
            },
            PanelAdapter::Sub2Api => sub2api::groups_request(cred),
            PanelAdapter::Generic(_) => Err(PanelError::NotSupported("user groups".into())),
        }
    }

    pub fn parse_groups(&self, status: u16, body: &str) -> Result<Vec<GroupInfo>, PanelError> {
        match self {
            PanelAdapter::Family(_) => family::parse_groups(&family::parse_envelope(status, body)?),
            PanelAdapter::Sub2Api => sub2api::parse_groups(status, body),
            PanelAdapter::Generic(_) => Err(PanelError::NotSupported("user groups".into())),
        }
    }

    /// The page index of the first token page (panels count from 0 or 1).
    pub fn first_token_page(&self) -> usize {
        match self {
            PanelAdapter::Family(p) => p.token_list.first_page(),
            _ => 1,
        }
    }

    pub fn tokens_request(
        &self,
        cred: &Credential,
        page: usize,
    ) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::tokens_request(p, cred, page),
            PanelAdapter::Sub2Api => sub2api::keys_request(cred, page),
            PanelAdapter::Generic(_) => Err(generic_has_no_key_list()),
        }
    }

    /// One page of tokens; `seen` counts the tokens collected before this page.
    pub fn parse_tokens(
        &self,
        status: u16,
        body: &str,
        page: usize,
        seen: usize,
    ) -> Result<TokenBatch, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::parse_token_batch(p, status, body, page, seen),
            PanelAdapter::Sub2Api => sub2api::parse_keys(status, body),
            PanelAdapter::Generic(_) => Err(generic_has_no_key_list()),
        }
    }

    /// The full key of a masked token (New API since 2026-03).
    pub fn token_key_request(
        &self,
        cred: &Credential,
        token_id: i64,
    ) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) if p.token_list == family::TokenList::NewApi => {
                family::authed(p, cred, "POST", family::token_key_path(token_id), None)
            }
            _ => Err(PanelError::NotSupported(
                "keys are listed in full here".into(),
            )),
        }
    }

    pub fn parse_token_key(&self, status: u16, body: &str) -> Result<String, PanelError> {
        family::parse_token_key(&family::parse_envelope(status, body)?)
    }

    pub fn create_token_request(
        &self,
        cred: &Credential,
        name: &str,
    ) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::create_token_request(p, cred, name),
            PanelAdapter::Sub2Api => sub2api::create_key_request(cred, name),
            PanelAdapter::Generic(_) => Err(generic_has_no_key_list()),
        }
    }

    /// The created token when the panel returns it (One API, Sub2API); None: list again.
    pub fn parse_created_token(
        &self,
        status: u16,
        body: &str,
    ) -> Result<Option<PanelToken>, PanelError> {
        match self {
            PanelAdapter::Family(_) => {
                family::parse_created_token(&family::parse_envelope(status, body)?)
            }
            PanelAdapter::Sub2Api => sub2api::parse_created_key(status, body).map(Some),
            PanelAdapter::Generic(_) => Err(generic_has_no_key_list()),
        }
    }

    pub fn checkin_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::checkin_request(p, cred),
            PanelAdapter::Sub2Api => Err(not_on(Platform::Sub2Api, "check-in")),
            PanelAdapter::Generic(_) => Err(PanelError::NotSupported("check-in".into())),
        }
    }

    /// A reward or "already checked in today" as success; anything else as the panel's reason.
    pub fn parse_checkin(
        &self,
        status: u16,
        body: &str,
        quota_per_unit: f64,
    ) -> Result<CheckinOutcome, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::parse_checkin(p, status, body, quota_per_unit),
            _ => Err(PanelError::NotSupported("check-in".into())),
        }
    }
}

fn not_on(platform: Platform, what: &str) -> PanelError {
    PanelError::NotSupported(format!("{} has no {what}", platform.as_str()))
}

fn generic_has_no_key_list() -> PanelError {
    PanelError::NotSupported(
        "API providers have no key list: the account's API key is the channel key".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::credential::Credential;
    use super::PanelAdapter;
    use crate::core::station::Platform;

    #[test]
    fn token_lists_start_at_each_panels_first_page() {
        for (platform, first, path) in [
            (Platform::NewApi, 0, "/api/token/?p=0&size=100"),
            (Platform::OneApi, 0, "/api/token/?p=0"),
            (Platform::OneHub, 1, "/api/token/?page=1&size=100"),
            (Platform::DoneHub, 1, "/api/token/?page=1&size=100"),
            (Platform::Sub2Api, 1, "/api/v1/keys?page=1&page_size=100"),
        ] {
            let a = PanelAdapter::for_platform(platform);
            assert_eq!(a.first_token_page(), first, "{platform:?}");
            let request = a
                .tokens_request(&Credential::access_token("tok", "42"), first)
                .unwrap();
            assert_eq!(request.path, path, "{platform:?}");
        }
    }
}

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
//! adapter.groups_request(&cred)?          → adapter.parse_groups(s, &b)?   (the group's ratio)
//! adapter.pricing_request(&cred)?         → adapter.parse_pricing(s, &b, &PriceBasis{..})?
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
//! `waf::challenge_cookies(body, set_cookie)` added via `PanelRequest::add_cookie`, and
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

pub mod accepted;
pub mod anyrouter;
pub mod credential;
pub mod detect;
pub mod exchange;
pub mod family;
pub mod generic;
pub mod new_api;
pub mod one_api;
pub mod onehub;
pub mod relay_paths;
pub mod sub2api;
pub mod veloera;
pub mod waf;

use crate::core::dialect::Dialect;
use crate::core::platform::Platform;
use credential::Credential;
pub use exchange::{
    BalanceKind, CheckinOutcome, GroupInfo, LimitWindow, ModelPrice, PanelBalance, PanelError,
    PanelRequest, PanelStatus, PanelToken, PriceBasis, SubscriptionPlan, TokenBatch,
};
use family::FamilyProfile;
use generic::GenericApi;

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

    /// The account's subscriptions beside its wallet (Sub2API with a login); NotSupported elsewhere.
    pub fn subscriptions_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        match (self, cred) {
            (PanelAdapter::Sub2Api, Credential::AccessToken { .. }) => {
                sub2api::subscriptions_request(cred)
            }
            _ => Err(PanelError::NotSupported("subscriptions".into())),
        }
    }

    /// `balance` with the subscriptions read: their limits and resets, or unlimited.
    pub fn parse_subscriptions(
        &self,
        status: u16,
        body: &str,
        balance: PanelBalance,
    ) -> Result<PanelBalance, PanelError> {
        Ok(sub2api::with_subscriptions(
            balance,
            sub2api::parse_subscriptions(status, body)?,
        ))
    }

    pub fn models_request(&self, cred: &Credential) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) => family::get(p, cred, p.models_path),
            PanelAdapter::Sub2Api => sub2api::models_request(cred),
            PanelAdapter::Generic(api) => api.models_request(cred),
        }
    }

    /// The models one relay key may call: the relay's own `/v1/models`, which every panel answers
    /// for the key's group (New API `controller/model.go` ListModels and OneHub `relay/model.go`
    /// ListModelsByToken: the token's group, else the user's; Sub2API a static list per group
    /// platform), where the management list is the union over all the user's groups.
    /// `primary`: the key's first dialect when it has its own ([`relay_paths::key_dialects`]): a
    /// Sub2API Gemini-group key lists `/v1beta/models` (its `/v1/models` is the Claude list).
    pub fn key_models_request(
        &self,
        key: &str,
        primary: Option<Dialect>,
    ) -> Result<PanelRequest, PanelError> {
        let cred = Credential::ApiKey {
            key: key.to_string(),
        };
        self.key_models_api(primary).models_request(&cred)
    }

    pub fn parse_key_models(
        &self,
        status: u16,
        body: &str,
        primary: Option<Dialect>,
    ) -> Result<Vec<String>, PanelError> {
        self.key_models_api(primary).parse_models(status, body)
    }

    fn key_models_api(&self, primary: Option<Dialect>) -> GenericApi {
        match self {
            PanelAdapter::Sub2Api if primary == Some(Dialect::Gemini) => GenericApi::GEMINI_V1BETA,
            PanelAdapter::Family(_) | PanelAdapter::Sub2Api => GenericApi::OPENAI_V1,
            PanelAdapter::Generic(api) => *api,
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
                family::PriceSource::NewApi => family::get(p, cred, "/api/pricing"),
                family::PriceSource::AvailableModel => family::get(p, cred, p.models_path),
                family::PriceSource::None => Err(not_on(p.platform, "per-model pricing")),
            },
            _ => Err(PanelError::NotSupported("per-model pricing".into())),
        }
    }

    /// Prices in USD at the account's group ratio and the station's quota unit.
    pub fn parse_pricing(
        &self,
        status: u16,
        body: &str,
        basis: &PriceBasis,
    ) -> Result<Vec<(String, ModelPrice)>, PanelError> {
        let PanelAdapter::Family(p) = self else {
            return Err(PanelError::NotSupported("per-model pricing".into()));
        };
        let envelope = family::parse_envelope(status, body)?;
        Ok(match p.pricing {
            family::PriceSource::NewApi => family::parse_pricing(&envelope, basis),
            family::PriceSource::AvailableModel => onehub::parse_pricing(&envelope, basis),
            family::PriceSource::None => vec![],
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

    /// The full keys of up to [`family::MAX_KEYS_PER_REVEAL`] masked tokens in one call (New API
    /// `POST /api/token/batch/keys`); builds without it answer 404 (`NotSupported`).
    pub fn token_keys_request(
        &self,
        cred: &Credential,
        token_ids: &[i64],
    ) -> Result<PanelRequest, PanelError> {
        match self {
            PanelAdapter::Family(p) if p.token_list == family::TokenList::NewApi => {
                family::token_keys_request(p, cred, token_ids)
            }
            _ => Err(PanelError::NotSupported(
                "keys are listed in full here".into(),
            )),
        }
    }

    /// `(token id, full key)` pairs of a batch reveal.
    pub fn parse_token_keys(
        &self,
        status: u16,
        body: &str,
    ) -> Result<Vec<(i64, String)>, PanelError> {
        family::parse_token_keys(&family::parse_envelope(status, body)?)
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

    /// The created token when the panel returns it (One API, DoneHub, Sub2API); None: list again.
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
    use crate::core::platform::Platform;

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

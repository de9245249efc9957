//! Station sync for every platform kind, through `PanelAdapter`: status (quota unit), per
//! account balance, groups, keys (paginated, masked keys fetched, one created when none),
//! models and pricing; then the organization's route table is rebuilt and republished.
//! Idempotent: running it twice changes nothing.

use super::app::{now_ms, seal_json, secret_box, session_aad, upstream_key_aad};
use super::panel_session::{account_session, PanelClient, PanelSession};
use super::repo::accounts::{self, AccountRow};
use super::repo::route_entries::{self, StationDefaults};
use super::repo::stations::{self, StationView};
use super::repo::upstream_keys::{self, ListedKey};
use super::{db, routes};
use crate::core::crypto::{secret_hint, SecretBox};
use crate::core::error::GatewayError;
use crate::core::panels::credential::Credential;
use crate::core::panels::family::DEFAULT_QUOTA_PER_UNIT;
use crate::core::panels::{ModelPrice, PanelAdapter, PanelError, PanelStatus, PanelToken};
use crate::core::platform::Platform;
use crate::core::schedule::health_after;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use worker::{D1Database, Env};

/// What one sync found, as the admin API reports it.
#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub station_id: i64,
    pub models: usize,
    pub keys: usize,
    pub keys_created: usize,
    pub balance_usd: Option<f64>,
    pub used_usd: Option<f64>,
    pub route_entries: usize,
    /// Account failures (the account's health says the same).
    pub errors: Vec<String>,
    /// Optional steps that failed without failing the account (pricing, groups).
    pub warnings: Vec<String>,
}

/// Limits the key-list walk: 30 pages (3,000 keys on 100-key pages, 300 on One API's 10).
const MAX_TOKEN_PAGES: usize = 30;
/// The name of the key sync creates on a panel when the account has none.
const CREATED_KEY_NAME: &str = "ai-gateway";

/// Why one account's sync stopped: its panel answered so (the account's health says it), or
/// the gateway's own storage failed, which is never the account's fault and fails the sync.
#[derive(Debug)]
enum AccountSyncError {
    Panel(PanelError),
    Storage(GatewayError),
}

impl From<PanelError> for AccountSyncError {
    fn from(e: PanelError) -> Self {
        AccountSyncError::Panel(e)
    }
}

impl From<GatewayError> for AccountSyncError {
    fn from(e: GatewayError) -> Self {
        AccountSyncError::Storage(e)
    }
}

impl std::fmt::Display for AccountSyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountSyncError::Panel(e) => e.fmt(f),
            AccountSyncError::Storage(e) => write!(f, "storage: {}", e.message()),
        }
    }
}

impl std::error::Error for AccountSyncError {}

/// The station's platform, or an internal error for a row written by hand.
pub fn station_platform(station: &StationView) -> Result<Platform, GatewayError> {
    Platform::parse(&station.platform).ok_or_else(|| {
        GatewayError::Internal(format!("station {} has unknown platform", station.id))
    })
}

/// The panel's public status; None when the station is unusable (the error is returned).
pub async fn fetch_status(
    client: &mut PanelClient,
    adapter: PanelAdapter,
    known_quota_per_unit: Option<f64>,
) -> Result<PanelStatus, PanelError> {
    let Some(req) = adapter.status_request() else {
        return Ok(PanelStatus::usd());
    };
    let resp = client.send(req).await?;
    match adapter.parse_status(resp.status, &resp.body) {
        // Older Sub2API builds lack public settings; they count in USD anyway.
        Err(PanelError::NotSupported(_)) if adapter == PanelAdapter::Sub2Api => {
            Ok(PanelStatus::usd())
        }
        // Behind a WAF that will not let us through, every account call fails the same way and
        // is reported on the account; the stored unit (or the panels' default) stands in.
        Err(PanelError::Blocked(_)) => Ok(PanelStatus {
            quota_per_unit: known_quota_per_unit.unwrap_or(DEFAULT_QUOTA_PER_UNIT),
            ..PanelStatus::usd()
        }),
        other => other,
    }
}

/// Syncs one station of `org` now (the sync job and `POST /api/provider/:id/sync`).
pub async fn sync_station(
    env: &Env,
    org: i64,
    station_id: i64,
) -> Result<SyncReport, GatewayError> {
    let d1 = env.d1("DB")?;
    let station = stations::require(&d1, org, station_id).await?;
    let adapter = PanelAdapter::for_platform(station_platform(&station)?);
    let sb = secret_box(env)?;
    let mut report = SyncReport {
        station_id,
        ..Default::default()
    };
    let now = now_ms();
    let mut client = PanelClient::new(&station.base_url);
    let status = match fetch_status(&mut client, adapter, station.quota_per_unit).await {
        Ok(status) => status,
        Err(e) => return record_failure(&d1, org, station_id, &format!("status: {e}")).await,
    };
    stations::set_quota_per_unit(&d1, org, station_id, status.quota_per_unit).await?;

    let mut models = BTreeSet::new();
    let mut prices = HashMap::new();
    let mut all_ok = true;
    let accounts = accounts::of_station(&d1, org, station_id).await?;
    for account in accounts.iter().filter(|a| a.enabled != 0) {
        let mut session = account_session(&sb, account, adapter, client.clone())?;
        let ctx = AccountSync {
            d1: &d1,
            sb: &sb,
            org,
            station: &station,
            account,
            quota_per_unit: status.quota_per_unit,
            now,
        };
        match ctx.run(&mut session, &mut report).await {
            Ok(found) => {
                accounts::set_health(&d1, org, account.id, "healthy", None, now).await?;
                models.extend(found.models);
                for (model, price) in found.prices {
                    prices.entry(model).or_insert(price);
                }
            }
            Err(AccountSyncError::Storage(e)) => return Err(e),
            Err(AccountSyncError::Panel(e)) => {
                all_ok = false;
                let reason = e.to_string();
                accounts::set_health(&d1, org, account.id, health_after(&e), Some(&reason), now)
                    .await?;
                report
                    .errors
                    .push(format!("account {}: {reason}", account.id));
            }
        }
        save_session(&d1, &sb, org, account.id, &session).await?;
        // WAF cookies learned by one account serve the next.
        client = session.client;
    }
    report.models = models.len();
    stations::store_models(&d1, org, station_id, &models, &prices, all_ok, now).await?;
    route_entries::prune_synced(&d1, org, station_id, all_ok).await?;
    let table = routes::publish(env, org).await?;
    report.route_entries = table
        .models
        .values()
        .flatten()
        .filter(|c| c.station_id == station_id)
        .count();
    let error = (!report.errors.is_empty()).then(|| report.errors.join("; "));
    stations::record_sync(&d1, org, station_id, error, now).await?;
    Ok(report)
}

/// Saves a session that a login replaced during this run (sealed like the credential).
pub async fn save_session(
    d1: &D1Database,
    sb: &SecretBox,
    org: i64,
    account_id: i64,
    session: &PanelSession,
) -> Result<(), GatewayError> {
    let Some(new_session) = session.new_session() else {
        return Ok(());
    };
    accounts::set_session(
        d1,
        org,
        account_id,
        seal_json(sb, new_session, &session_aad(org, account_id))?,
    )
    .await
}

async fn record_failure(
    d1: &D1Database,
    org: i64,
    station_id: i64,
    message: &str,
) -> Result<SyncReport, GatewayError> {
    stations::record_unreachable(d1, org, station_id, message, now_ms()).await?;
    Err(GatewayError::Upstream {
        status: 502,
        message: format!("sync of station {station_id} failed: {message}"),
        retry_after_s: None,
    })
}

/// What one account offers.
struct Found {
    models: Vec<String>,
    prices: Vec<(String, ModelPrice)>,
}

/// One account's sync: its context, and the steps in `run`.
struct AccountSync<'a> {
    d1: &'a D1Database,
    sb: &'a SecretBox,
    org: i64,
    station: &'a StationView,
    account: &'a AccountRow,
    quota_per_unit: f64,
    now: i64,
}

impl AccountSync<'_> {
    async fn run(
        &self,
        session: &mut PanelSession,
        report: &mut SyncReport,
    ) -> Result<Found, AccountSyncError> {
        let qpu = self.quota_per_unit;
        let group = match session
            .call(&|a, c| a.self_request(c), |a, s, b| {
                a.parse_balance(s, b, qpu)
            })
            .await
        {
            Ok(balance) => {
                report.balance_usd = Some(balance.balance_usd);
                report.used_usd = Some(balance.used_usd);
                // Snapshots are the balance job's (hourly); sync only keeps the figures fresh.
                let figures = (Some(balance.balance_usd), Some(balance.used_usd));
                accounts::set_balance(self.d1, self.org, self.account.id, figures, self.now)
                    .await?;
                balance.group
            }
            Err(PanelError::NotSupported(_)) => String::new(),
            Err(e) => return Err(e.into()),
        };
        self.sync_groups(session, &group, report).await?;

        // A relay key (generic providers, a bare Sub2API key) is the channel key itself.
        let single_key = match session.credential() {
            Credential::ApiKey { key } => Some(key.clone()),
            _ => None,
        };
        let tokens = match &single_key {
            Some(key) => vec![PanelToken {
                id: 0,
                key: key.clone(),
                name: "account API key".into(),
                status: 1,
                group: String::new(),
            }],
            None => self.list_or_create_tokens(session, report).await?,
        };
        let prefix_sk = !matches!(session.adapter, PanelAdapter::Generic(_));
        let active = self.store_keys(session, &tokens, prefix_sk).await?;
        report.keys += active.len();

        let models = match (&single_key, session.adapter) {
            (None, PanelAdapter::Sub2Api) => {
                // Sub2API lists models per relay key, never for the JWT.
                let key = self.first_active_key().await?.ok_or_else(|| {
                    PanelError::Refused("the account has no active key to list models with".into())
                })?;
                let req = session
                    .adapter
                    .models_request(&Credential::ApiKey { key })?;
                session
                    .send_parsed(req, |a, s, b| a.parse_models(s, b))
                    .await?
            }
            _ => {
                session
                    .call(&|a, c| a.models_request(c), |a, s, b| a.parse_models(s, b))
                    .await?
            }
        };
        let prices = match session
            .call(&|a, c| a.pricing_request(c), |a, s, b| {
                a.parse_pricing(s, b, &group)
            })
            .await
        {
            Ok(prices) => prices,
            Err(PanelError::NotSupported(_)) => Vec::new(),
            Err(e) => {
                // Models without a price are still routed; the station's prices stay unknown.
                report
                    .warnings
                    .push(format!("account {}: pricing: {e}", self.account.id));
                Vec::new()
            }
        };
        self.insert_routes(&active, &models).await?;
        Ok(Found { models, prices })
    }

    async fn sync_groups(
        &self,
        session: &mut PanelSession,
        group: &str,
        report: &mut SyncReport,
    ) -> Result<(), AccountSyncError> {
        let groups = match session
            .call(&|a, c| a.groups_request(c), |a, s, b| a.parse_groups(s, b))
            .await
        {
            Ok(groups) => groups,
            Err(PanelError::NotSupported(_)) => Vec::new(),
            Err(e) if e.is_account_error() => return Err(e.into()),
            Err(e) => {
                report
                    .warnings
                    .push(format!("account {}: groups: {e}", self.account.id));
                return Ok(());
            }
        };
        let json = serde_json::Value::Array(
            groups
                .iter()
                .map(|g| serde_json::json!({"name": g.name, "ratio": g.ratio, "description": g.description}))
                .collect(),
        )
        .to_string();
        accounts::set_groups(self.d1, self.org, self.account.id, json, group).await?;
        Ok(())
    }

    /// Every token of the account; when none is enabled, one is created (where the panel allows).
    async fn list_or_create_tokens(
        &self,
        session: &mut PanelSession,
        report: &mut SyncReport,
    ) -> Result<Vec<PanelToken>, AccountSyncError> {
        let mut tokens = list_tokens(session).await?;
        if tokens.iter().any(PanelToken::is_enabled) {
            return Ok(tokens);
        }
        let created = session
            .call(
                &|a, c| a.create_token_request(c, CREATED_KEY_NAME),
                |a, s, b| a.parse_created_token(s, b),
            )
            .await;
        match created {
            Ok(Some(token)) => {
                report.keys_created += 1;
                tokens.push(token);
            }
            Ok(None) => {
                report.keys_created += 1;
                tokens = list_tokens(session).await?;
            }
            Err(PanelError::NotSupported(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(tokens)
    }

    async fn first_active_key(&self) -> Result<Option<String>, GatewayError> {
        let sealed = upstream_keys::first_active_sealed(self.d1, self.org, self.account.id).await?;
        let aad = upstream_key_aad(self.org, self.station.id);
        Ok(sealed.map(|key| self.sb.open(&key, &aad)).transpose()?)
    }

    /// Stores the account's tokens (sealed), fetching full keys only for masked tokens we do not
    /// already hold; keys no longer listed are disabled. Returns the active key ids.
    async fn store_keys(
        &self,
        session: &mut PanelSession,
        tokens: &[PanelToken],
        prefix_sk: bool,
    ) -> Result<Vec<i64>, AccountSyncError> {
        let (d1, org, account_id, now) = (self.d1, self.org, self.account.id, self.now);
        let known = upstream_keys::synced(d1, org, account_id).await?;
        let mut statements = Vec::new();
        let mut listed = Vec::new();
        for token in tokens {
            let remote_id = token.id.to_string();
            listed.push(remote_id.clone());
            let listed_key = ListedKey {
                remote_id: &remote_id,
                name: &token.name,
                group: &token.group,
            };
            let status = if token.is_enabled() {
                "active"
            } else {
                "disabled"
            };
            let tail: String = token
                .key
                .chars()
                .skip(token.key.chars().count().saturating_sub(4))
                .collect();
            if let Some(k) = known
                .iter()
                .find(|k| k.remote_id == remote_id && k.key_hint.ends_with(&tail))
            {
                statements.push(upstream_keys::refresh_statement(
                    d1,
                    org,
                    k.id,
                    status,
                    &listed_key,
                    now,
                )?);
                continue;
            }
            if !token.is_enabled() {
                continue;
            }
            let key = if token.is_masked() {
                let id = token.id;
                session
                    .call(&|a, c| a.token_key_request(c, id), |a, s, b| {
                        a.parse_token_key(s, b)
                    })
                    .await?
            } else {
                token.key.clone()
            };
            let relay_key = if prefix_sk {
                PanelToken::relay_key(&key)
            } else {
                key
            };
            let sealed = self
                .sb
                .seal(&relay_key, &upstream_key_aad(org, self.station.id))
                .map_err(GatewayError::from)?;
            let owner = (org, self.station.id, account_id);
            let stored = (sealed, secret_hint(&relay_key, 3));
            statements.push(upstream_keys::upsert_statement(
                d1,
                owner,
                &listed_key,
                stored,
                now,
            )?);
        }
        for k in known.iter().filter(|k| !listed.contains(&k.remote_id)) {
            statements.push(upstream_keys::unlisted_statement(d1, org, k.id, now)?);
        }
        db::batch(d1, statements).await?;
        Ok(upstream_keys::active_ids(d1, org, account_id).await?)
    }

    /// One route entry per (model, active key); existing entries keep their settings, new ones
    /// take the station's default priority and weight.
    async fn insert_routes(&self, keys: &[i64], models: &[String]) -> Result<(), GatewayError> {
        let s = self.station;
        let defaults = StationDefaults {
            station_id: s.id,
            priority: s.priority,
            weight: s.weight,
        };
        route_entries::insert_synced(self.d1, self.org, &defaults, keys, models, self.now).await
    }
}

/// Walks the token list page by page (25+ keys span pages on every panel).
async fn list_tokens(session: &mut PanelSession) -> Result<Vec<PanelToken>, PanelError> {
    let mut tokens: Vec<PanelToken> = Vec::new();
    let mut page = session.adapter.first_token_page();
    for _ in 0..MAX_TOKEN_PAGES {
        let seen = tokens.len();
        let batch = session
            .call(&|a, c| a.tokens_request(c, page), |a, s, b| {
                a.parse_tokens(s, b, page, seen)
            })
            .await?;
        tokens.extend(batch.tokens);
        match batch.next_page {
            Some(next) => page = next,
            None => break,
        }
    }
    Ok(tokens)
}

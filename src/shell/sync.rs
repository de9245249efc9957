//! Station sync for every platform kind, through `PanelAdapter`: status (quota unit), per
//! account balance, groups, keys (paginated, masked keys fetched, one created when none),
//! models and pricing; then the organization's route table is rebuilt and republished.
//! Idempotent: running it twice changes nothing.

use super::app::{now_ms, seal_json, secret_box, session_aad, upstream_key_aad};
use super::panel_session::{account_session, PanelClient, PanelSession};
use super::repo::accounts::{self, AccountRow};
use super::repo::route_entries::{self, StationDefaults};
use super::repo::stations::{self, StationView};
use super::repo::upstream_keys::{self, ActiveKey, ListedKey};
use super::{db, probe, routes};
use crate::core::crypto::{secret_hint, SecretBox};
use crate::core::dialect::Dialect;
use crate::core::error::GatewayError;
use crate::core::failover::ProbeResult;
use crate::core::panels::credential::Credential;
use crate::core::panels::family::{DEFAULT_QUOTA_PER_UNIT, MAX_KEYS_PER_REVEAL};
use crate::core::panels::relay_paths::{key_dialects, stored_override};
use crate::core::panels::{
    GroupInfo, ModelPrice, PanelAdapter, PanelBalance, PanelError, PanelStatus, PanelToken,
    PriceBasis,
};
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
    let platform = station_platform(&station)?;
    let adapter = PanelAdapter::for_platform(platform);
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
            env,
            d1: &d1,
            sb: &sb,
            org,
            station: &station,
            platform,
            account,
            quota_per_unit: status.quota_per_unit,
            switched_off: &status.switched_off,
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
    env: &'a Env,
    d1: &'a D1Database,
    sb: &'a SecretBox,
    org: i64,
    station: &'a StationView,
    platform: Platform,
    account: &'a AccountRow,
    quota_per_unit: f64,
    /// Dialects the panel's admin switched off: no key serves them.
    switched_off: &'a [Dialect],
    now: i64,
}

impl AccountSync<'_> {
    async fn run(
        &self,
        session: &mut PanelSession,
        report: &mut SyncReport,
    ) -> Result<Found, AccountSyncError> {
        let qpu = self.quota_per_unit;
        let group = match fetch_balance(session, qpu).await {
            Ok(balance) => {
                report.balance_usd = balance.stored_usd();
                report.used_usd = Some(balance.used_usd);
                // Snapshots are the balance job's (hourly); sync only keeps the figures fresh.
                accounts::set_balance(self.d1, self.org, self.account.id, &balance, self.now)
                    .await?;
                balance.group
            }
            Err(PanelError::NotSupported(_)) => String::new(),
            Err(e) => return Err(e.into()),
        };
        let groups = self.sync_groups(session, &group, report).await?;
        let group_ratio = groups
            .iter()
            .find(|g| g.name == group)
            .and_then(|g| g.ratio);
        if group_ratio.is_none() && !group.is_empty() && !groups.is_empty() {
            // OneHub shows a private group's ratio to a session only (TrySetUserBySession).
            report.warnings.push(format!(
                "account {}: the ratio of its group `{group}` is not visible to this credential (a password login shows it); prices assume the panel's public ratio or 1",
                self.account.id
            ));
        }
        let basis = PriceBasis {
            group: group.clone(),
            group_ratio,
            quota_per_unit: qpu,
        };

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
                ..PanelToken::default()
            }],
            None => self.list_or_create_tokens(session, report).await?,
        };
        // The New-API family stores keys bare and relays `sk-` + key; Sub2API lists them exactly as
        // its relay compares them (prefix configurable, custom keys any `[A-Za-z0-9_-]{16,}`).
        let prefix_sk = matches!(session.adapter, PanelAdapter::Family(_));
        let active = self.store_keys(session, &tokens, prefix_sk, report).await?;
        report.keys += active.len();

        // The management list is the union over the user's groups; a key is routed only to its
        // own group's models, listed with one key of each group. Sub2API lists per key only.
        let listed = match (&single_key, session.adapter) {
            (None, PanelAdapter::Sub2Api) => None,
            _ => Some(
                session
                    .call(&|a, c| a.models_request(c), |a, s, b| a.parse_models(s, b))
                    .await?,
            ),
        };
        let by_group = match &single_key {
            Some(_) => HashMap::new(),
            None => self.group_models(session, &active, &listed, report).await?,
        };
        let mut models: BTreeSet<String> = listed.iter().flatten().cloned().collect();
        models.extend(by_group.values().flatten().cloned());
        let key_models: Vec<(i64, &[String])> = active
            .iter()
            .filter_map(|k| {
                let list = by_group.get(&k.group_name).or(listed.as_ref())?;
                Some((k.id, list.as_slice()))
            })
            .collect();
        let prices = match session
            .call(&|a, c| a.pricing_request(c), |a, s, b| {
                a.parse_pricing(s, b, &basis)
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
        self.insert_routes(&key_models).await?;
        Ok(Found {
            models: models.into_iter().collect(),
            prices,
        })
    }

    /// Stores the groups the account may use (with their ratios, as the account sees them).
    async fn sync_groups(
        &self,
        session: &mut PanelSession,
        group: &str,
        report: &mut SyncReport,
    ) -> Result<Vec<GroupInfo>, AccountSyncError> {
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
                return Ok(Vec::new());
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
        Ok(groups)
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
            Ok(Some(mut token)) => {
                report.keys_created += 1;
                if token.name.is_empty() {
                    // DoneHub answers only the id and the key.
                    token.name = CREATED_KEY_NAME.into();
                }
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

    /// The models of each key group, listed with the group's first active key. A group whose
    /// list fails is routed to the management list (a warning); without one (Sub2API) it fails
    /// the account, as does an account with no active key to list with.
    async fn group_models(
        &self,
        session: &mut PanelSession,
        active: &[ActiveKey],
        listed: &Option<Vec<String>>,
        report: &mut SyncReport,
    ) -> Result<HashMap<String, Vec<String>>, AccountSyncError> {
        if active.is_empty() && listed.is_none() {
            return Err(PanelError::Refused(
                "the account has no active key to list models with".into(),
            )
            .into());
        }
        let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
        for key in active {
            if by_group.contains_key(&key.group_name) {
                continue;
            }
            let plain = self
                .sb
                .open(
                    &key.key_ciphertext,
                    &upstream_key_aad(self.org, self.station.id),
                )
                .map_err(GatewayError::from)?;
            let primary = key
                .dialects
                .as_ref()
                .and_then(|d| d.first())
                .map(|r| r.dialect);
            let req = session.adapter.key_models_request(&plain, primary)?;
            match session
                .send_parsed(req, |a, s, b| a.parse_key_models(s, b, primary))
                .await
            {
                Ok(models) => {
                    by_group.insert(key.group_name.clone(), models);
                }
                Err(e) if listed.is_none() => return Err(e.into()),
                Err(e) => {
                    let group = if key.group_name.is_empty() {
                        "the user's group"
                    } else {
                        key.group_name.as_str()
                    };
                    report.warnings.push(format!(
                        "account {}: models of {group}: {e}; its keys take every listed model",
                        self.account.id
                    ));
                }
            }
        }
        Ok(by_group)
    }

    /// Stores the account's tokens (sealed), revealing full keys only for masked tokens we do
    /// not already hold; keys no longer listed are disabled. Returns the active keys. A rate
    /// limit on the reveals ends them for this run (a warning): what was revealed is kept.
    async fn store_keys(
        &self,
        session: &mut PanelSession,
        tokens: &[PanelToken],
        prefix_sk: bool,
        report: &mut SyncReport,
    ) -> Result<Vec<ActiveKey>, AccountSyncError> {
        let (d1, org, account_id, now) = (self.d1, self.org, self.account.id, self.now);
        let known = upstream_keys::synced(d1, org, account_id).await?;
        let mut statements = Vec::new();
        let mut listed = Vec::new();
        let mut masked = Vec::new();
        for token in tokens {
            let remote_id = token.id.to_string();
            listed.push(remote_id.clone());
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
                let listed_key = self.listed_key(token, &remote_id)?;
                // A key that failed its verification probe comes back only when a new probe
                // passes (the panel listing it as enabled is not proof the station takes it).
                let status = if k.status == "invalid" && status == "active" {
                    let at = probe::KeyAt {
                        base_url: &self.station.base_url,
                        platform: &self.station.platform,
                        dialects: self.station.dialects.as_deref(),
                        key_ciphertext: &k.key_ciphertext,
                        aad: upstream_key_aad(self.org, self.station.id),
                    };
                    match probe::verify(self.env, &at).await.0 {
                        ProbeResult::Valid => "active",
                        ProbeResult::Rejected | ProbeResult::Inconclusive => "invalid",
                    }
                } else {
                    status
                };
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
            if token.is_masked() {
                masked.push(token);
            } else {
                statements.push(self.insert_key(token, &token.key, prefix_sk)?);
            }
        }
        for k in known.iter().filter(|k| !listed.contains(&k.remote_id)) {
            statements.push(upstream_keys::unlisted_statement(d1, org, k.id, now)?);
        }
        db::batch(d1, statements).await?;
        let mut revealed = 0;
        match self
            .reveal_keys(session, &masked, prefix_sk, &mut revealed)
            .await
        {
            Ok(()) => {}
            Err(AccountSyncError::Panel(e)) if e.is_rate_limited() => {
                report.warnings.push(format!(
                    "account {account_id}: key reveal rate-limited by the panel ({e}): {revealed} of {} masked keys revealed, the rest on the next sync",
                    masked.len()
                ))
            }
            Err(e) => return Err(e),
        }
        Ok(upstream_keys::active(d1, org, account_id).await?)
    }

    /// Reveals masked keys a hundred at a time (`POST /api/token/batch/keys`), or one by one on
    /// builds without the batch route; each answer is stored as it comes (`revealed` counts
    /// them), so an error part-way (New API's 429 after 20 reveals) loses nothing revealed.
    async fn reveal_keys(
        &self,
        session: &mut PanelSession,
        masked: &[&PanelToken],
        prefix_sk: bool,
        revealed: &mut usize,
    ) -> Result<(), AccountSyncError> {
        let mut batch_route = true;
        for chunk in masked.chunks(MAX_KEYS_PER_REVEAL) {
            if batch_route {
                let ids: Vec<i64> = chunk.iter().map(|t| t.id).collect();
                match session
                    .call(&|a, c| a.token_keys_request(c, &ids), |a, s, b| {
                        a.parse_token_keys(s, b)
                    })
                    .await
                {
                    Ok(keys) => {
                        let mut statements = Vec::new();
                        for (id, key) in &keys {
                            if let Some(token) = chunk.iter().find(|t| t.id == *id) {
                                statements.push(self.insert_key(token, key, prefix_sk)?);
                            }
                        }
                        *revealed += statements.len();
                        db::batch(self.d1, statements).await?;
                        continue;
                    }
                    // Builds before the batch route (404) or refusing it: one by one.
                    Err(PanelError::NotSupported(_) | PanelError::Refused(_)) => {
                        batch_route = false;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            for token in chunk {
                let id = token.id;
                let key = session
                    .call(&|a, c| a.token_key_request(c, id), |a, s, b| {
                        a.parse_token_key(s, b)
                    })
                    .await?;
                db::batch(self.d1, vec![self.insert_key(token, &key, prefix_sk)?]).await?;
                *revealed += 1;
            }
        }
        Ok(())
    }

    /// A listed token's fields, with the dialects it serves when not its station's table.
    fn listed_key<'t>(
        &self,
        token: &'t PanelToken,
        remote_id: &'t str,
    ) -> Result<ListedKey<'t>, GatewayError> {
        let dialects = key_dialects(self.platform, &token.platform, self.switched_off);
        Ok(ListedKey {
            remote_id,
            name: &token.name,
            group: &token.group,
            dialects: stored_override(dialects.as_deref())?,
        })
    }

    /// The statement storing one full key (sealed) of a listed token.
    fn insert_key(
        &self,
        token: &PanelToken,
        key: &str,
        prefix_sk: bool,
    ) -> Result<worker::D1PreparedStatement, GatewayError> {
        let relay_key = if prefix_sk {
            PanelToken::relay_key(key)
        } else {
            key.to_string()
        };
        let sealed = self
            .sb
            .seal(&relay_key, &upstream_key_aad(self.org, self.station.id))?;
        let owner = (self.org, self.station.id, self.account.id);
        let stored = (sealed, secret_hint(&relay_key, 3));
        let remote_id = token.id.to_string();
        let listed_key = self.listed_key(token, &remote_id)?;
        upstream_keys::upsert_statement(self.d1, owner, &listed_key, stored, self.now)
    }

    /// One route entry per (active key, model of its group).
    async fn insert_routes(&self, keys: &[(i64, &[String])]) -> Result<(), GatewayError> {
        let s = self.station;
        let defaults = StationDefaults {
            station_id: s.id,
            priority: s.priority,
            weight: s.weight,
        };
        route_entries::insert_synced(self.d1, self.org, &defaults, keys, self.now).await
    }
}

/// The account's balance: its own answer joined with its subscriptions where the panel keeps
/// them apart (Sub2API with a login; builds without the route keep the wallet).
pub async fn fetch_balance(
    session: &mut PanelSession,
    quota_per_unit: f64,
) -> Result<PanelBalance, PanelError> {
    let balance = session
        .call(&|a, c| a.self_request(c), |a, s, b| {
            a.parse_balance(s, b, quota_per_unit)
        })
        .await?;
    match session
        .call(&|a, c| a.subscriptions_request(c), |a, s, b| {
            a.parse_subscriptions(s, b, balance.clone())
        })
        .await
    {
        Err(PanelError::NotSupported(_)) => Ok(balance),
        other => other,
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

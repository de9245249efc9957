//! Station sync for every platform kind, through `PanelAdapter`: status (quota unit), per
//! account balance, groups, keys (paginated, masked keys fetched, one created when none),
//! models and pricing; then the organization's route table is rebuilt and republished.
//! Idempotent: running it twice changes nothing.

use super::app::{now_ms, secret_box};
use super::app::{session_aad, upstream_key_aad};
use super::db::{self, num, opt_f64, AccountRow, StationView};
use super::panel_session::{account_session, PanelClient, PanelSession};
use super::routes;
use crate::core::crypto::{secret_hint, SecretBox};
use crate::core::error::GatewayError;
use crate::core::panels::credential::Credential;
use crate::core::panels::family::DEFAULT_QUOTA_PER_UNIT;
use crate::core::panels::{ModelPrice, PanelAdapter, PanelError, PanelStatus, PanelToken};
use crate::core::schedule::health_after;
use crate::core::station::Platform;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use wasm_bindgen::JsValue;
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

/// A storage fault met while talking to a panel, reported like any other account error.
fn storage_error(e: GatewayError) -> PanelError {
    PanelError::Unreachable(format!("storage: {}", e.message()))
}

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
    let station = db::get_station(&d1, org, station_id)
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("station {station_id} not found")))?;
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
    db::run(
        &d1,
        "UPDATE stations SET quota_per_unit = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[
            opt_f64(Some(status.quota_per_unit)),
            num(org),
            num(station_id),
        ],
    )
    .await?;

    let mut models = BTreeSet::new();
    let mut prices = HashMap::new();
    let mut all_ok = true;
    let accounts = db::station_accounts(&d1, org, station_id).await?;
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
                db::set_account_health(&d1, org, account.id, "healthy", None, now).await?;
                models.extend(found.models);
                for (model, price) in found.prices {
                    prices.entry(model).or_insert(price);
                }
            }
            Err(e) => {
                all_ok = false;
                let reason = e.to_string();
                db::set_account_health(&d1, org, account.id, health_after(&e), Some(&reason), now)
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
    store_models(&d1, org, station_id, &models, &prices, all_ok, now).await?;
    prune_routes(&d1, org, station_id, all_ok).await?;
    let table = routes::publish(env, org).await?;
    report.route_entries = table
        .models
        .values()
        .flatten()
        .filter(|c| c.station_id == station_id)
        .count();
    let error = (!report.errors.is_empty()).then(|| report.errors.join("; "));
    db::run(
        &d1,
        "UPDATE stations SET last_synced_at = ?1, last_sync_error = ?2, updated_at = ?1 WHERE organization_id = ?3 AND id = ?4",
        &[num(now), error.map_or(JsValue::NULL, Into::into), num(org), num(station_id)],
    )
    .await?;
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
    let json = serde_json::to_string(new_session)
        .map_err(|e| GatewayError::Internal(format!("session encoding: {e}")))?;
    db::run(
        d1,
        "UPDATE accounts SET session_ciphertext = ?1 WHERE organization_id = ?2 AND id = ?3",
        &[
            sb.seal(&json, &session_aad(org, account_id))?.into(),
            num(org),
            num(account_id),
        ],
    )
    .await
}

async fn record_failure(
    d1: &D1Database,
    org: i64,
    station_id: i64,
    message: &str,
) -> Result<SyncReport, GatewayError> {
    let now = now_ms();
    db::batch(
        d1,
        vec![
            db::stmt(
                d1,
                // last_synced_at is the last attempt: the sync cursor moves past a failing station.
                "UPDATE stations SET last_sync_error = ?1, last_synced_at = ?2, updated_at = ?2 WHERE organization_id = ?3 AND id = ?4",
                &[message.into(), num(now), num(org), num(station_id)],
            )?,
            // The station, not the accounts, is at fault: they are degraded, not unhealthy.
            db::stmt(
                d1,
                "UPDATE accounts SET health = 'degraded', health_reason = ?1, health_changed_at = CASE WHEN health = 'degraded' THEN health_changed_at ELSE ?2 END \
                 WHERE organization_id = ?3 AND station_id = ?4 AND enabled = 1",
                &[format!("station unreachable: {message}").into(), num(now), num(org), num(station_id)],
            )?,
        ],
    )
    .await?;
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
    ) -> Result<Found, PanelError> {
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
                db::stmt(
                    self.d1,
                    BALANCE_UPDATE,
                    &[
                        opt_f64(Some(balance.balance_usd)),
                        opt_f64(Some(balance.used_usd)),
                        num(self.now),
                        num(self.org),
                        num(self.account.id),
                    ],
                )
                .map_err(storage_error)?
                .run()
                .await
                .map_err(|e| storage_error(e.into()))?;
                balance.group
            }
            Err(PanelError::NotSupported(_)) => String::new(),
            Err(e) => return Err(e),
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
        self.insert_routes(&active, &models)
            .await
            .map_err(storage_error)?;
        Ok(Found { models, prices })
    }

    async fn sync_groups(
        &self,
        session: &mut PanelSession,
        group: &str,
        report: &mut SyncReport,
    ) -> Result<(), PanelError> {
        let groups = match session
            .call(&|a, c| a.groups_request(c), |a, s, b| a.parse_groups(s, b))
            .await
        {
            Ok(groups) => groups,
            Err(PanelError::NotSupported(_)) => Vec::new(),
            Err(e) if e.is_account_error() => return Err(e),
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
        db::run(
            self.d1,
            "UPDATE accounts SET groups_json = ?1, panel_group = ?2 WHERE organization_id = ?3 AND id = ?4",
            &[json.into(), group.into(), num(self.org), num(self.account.id)],
        )
        .await
        .map_err(storage_error)
    }

    /// Every token of the account; when none is enabled, one is created (where the panel allows).
    async fn list_or_create_tokens(
        &self,
        session: &mut PanelSession,
        report: &mut SyncReport,
    ) -> Result<Vec<PanelToken>, PanelError> {
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
            Err(e) => return Err(e),
        }
        Ok(tokens)
    }

    async fn first_active_key(&self) -> Result<Option<String>, PanelError> {
        #[derive(Deserialize)]
        struct Sealed {
            key_ciphertext: String,
        }
        let row: Option<Sealed> = db::first(
            self.d1,
            "SELECT key_ciphertext FROM upstream_keys WHERE organization_id = ?1 AND account_id = ?2 AND status = 'active' ORDER BY id LIMIT 1",
            &[num(self.org), num(self.account.id)],
        )
        .await
        .map_err(storage_error)?;
        let aad = upstream_key_aad(self.org, self.station.id);
        row.map(|r| self.sb.open(&r.key_ciphertext, &aad))
            .transpose()
            .map_err(|e| storage_error(e.into()))
    }

    /// Stores the account's tokens (sealed), fetching full keys only for masked tokens we do not
    /// already hold; keys no longer listed are disabled. Returns the active key ids.
    async fn store_keys(
        &self,
        session: &mut PanelSession,
        tokens: &[PanelToken],
        prefix_sk: bool,
    ) -> Result<Vec<i64>, PanelError> {
        #[derive(Deserialize)]
        struct KnownKey {
            id: i64,
            remote_id: String,
            key_hint: String,
        }
        let (d1, org, account_id, now) = (self.d1, self.org, self.account.id, self.now);
        let known: Vec<KnownKey> = db::all(
            d1,
            "SELECT id, remote_id, key_hint FROM upstream_keys WHERE organization_id = ?1 AND account_id = ?2 AND source = 'sync'",
            &[num(org), num(account_id)],
        )
        .await
        .map_err(storage_error)?;
        let mut statements = Vec::new();
        let mut listed = Vec::new();
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
                // A key the station rejected stays invalid although the panel still lists it;
                // an admin re-enables it.
                statements.push(db::stmt(d1, "UPDATE upstream_keys SET status = CASE WHEN status = 'invalid' AND ?1 = 'active' THEN 'invalid' ELSE ?1 END, \
                     name = ?2, group_name = ?3, updated_at = ?4 WHERE organization_id = ?5 AND id = ?6",
                    &[status.into(), token.name.as_str().into(), token.group.as_str().into(), num(now), num(org), num(k.id)]).map_err(storage_error)?);
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
                .map_err(|e| storage_error(e.into()))?;
            statements.push(db::stmt(
                d1,
                "INSERT INTO upstream_keys (organization_id, station_id, account_id, remote_id, name, key_ciphertext, key_hint, status, group_name, source, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, 'sync', ?9, ?9) \
                 ON CONFLICT (account_id, remote_id) DO UPDATE SET key_ciphertext = excluded.key_ciphertext, key_hint = excluded.key_hint, \
                 status = 'active', name = excluded.name, group_name = excluded.group_name, updated_at = excluded.updated_at",
                &[num(org), num(self.station.id), num(account_id), remote_id.as_str().into(), token.name.as_str().into(), sealed.into(),
                  secret_hint(&relay_key, 3).into(), token.group.as_str().into(), num(now)],
            ).map_err(storage_error)?);
        }
        for k in known.iter().filter(|k| !listed.contains(&k.remote_id)) {
            statements.push(db::stmt(d1, "UPDATE upstream_keys SET status = 'disabled', status_reason = 'no longer listed by the panel', updated_at = ?1 WHERE organization_id = ?2 AND id = ?3",
                &[num(now), num(org), num(k.id)]).map_err(storage_error)?);
        }
        db::batch(d1, statements).await.map_err(storage_error)?;
        let active: Vec<db::IdRow> = db::all(d1, "SELECT id FROM upstream_keys WHERE organization_id = ?1 AND account_id = ?2 AND status = 'active' ORDER BY id", &[num(org), num(account_id)])
            .await
            .map_err(storage_error)?;
        Ok(active.into_iter().map(|i| i.id).collect())
    }

    /// One route entry per (model, active key); existing entries keep their settings, new ones
    /// take the station's default priority and weight.
    async fn insert_routes(&self, keys: &[i64], models: &[String]) -> Result<(), GatewayError> {
        let (d1, org, s) = (self.d1, self.org, self.station);
        let mut inserts = Vec::new();
        for key_id in keys {
            for model in models {
                inserts.push(db::stmt(
                    d1,
                    "INSERT INTO route_entries (organization_id, model, upstream_model, station_id, upstream_key_id, priority, weight, created_at, updated_at) \
                     VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (organization_id, model, upstream_key_id) DO NOTHING",
                    &[num(org), model.as_str().into(), num(s.id), num(*key_id), num(s.priority), num(s.weight), num(self.now)],
                )?);
            }
        }
        db::batch(d1, inserts).await
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

/// The measured balance of an account (?1 balance, ?2 used, ?3 time, ?4 organization, ?5 account).
pub const BALANCE_UPDATE: &str = "UPDATE accounts SET balance_usd = ?1, used_usd = ?2, balance_updated_at = ?3 WHERE organization_id = ?4 AND id = ?5";

/// Replaces the station's models when every account answered; otherwise only adds what was
/// found, so one failing account does not take the others' models out of the route table.
async fn store_models(
    d1: &D1Database,
    org: i64,
    station_id: i64,
    models: &BTreeSet<String>,
    prices: &HashMap<String, ModelPrice>,
    replace: bool,
    now: i64,
) -> Result<(), GatewayError> {
    let mut statements = Vec::new();
    if replace {
        statements.push(db::stmt(
            d1,
            "DELETE FROM station_models WHERE organization_id = ?1 AND station_id = ?2",
            &[num(org), num(station_id)],
        )?);
    }
    for model in models {
        let (billing, input, output, cache_read, per_call) = match prices.get(model) {
            Some(ModelPrice::Tokens {
                input_usd_per_mtok,
                output_usd_per_mtok,
                cache_read_usd_per_mtok,
            }) => (
                "tokens",
                Some(*input_usd_per_mtok),
                Some(*output_usd_per_mtok),
                *cache_read_usd_per_mtok,
                None,
            ),
            Some(ModelPrice::PerCall { usd }) => ("per_call", None, None, None, Some(*usd)),
            None => ("unknown", None, None, None, None),
        };
        statements.push(db::stmt(
            d1,
            "INSERT INTO station_models (organization_id, station_id, model, billing, input_usd_per_mtok, output_usd_per_mtok, cache_read_usd_per_mtok, usd_per_call, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (station_id, model) DO UPDATE SET billing = excluded.billing, \
             input_usd_per_mtok = excluded.input_usd_per_mtok, output_usd_per_mtok = excluded.output_usd_per_mtok, \
             cache_read_usd_per_mtok = excluded.cache_read_usd_per_mtok, usd_per_call = excluded.usd_per_call, updated_at = excluded.updated_at",
            &[num(org), num(station_id), model.as_str().into(), billing.into(), opt_f64(input), opt_f64(output), opt_f64(cache_read), opt_f64(per_call), num(now)],
        )?);
    }
    db::batch(d1, statements).await
}

/// Drops sync-made route entries whose key is no longer active and, when the model list is
/// complete (every enabled account answered), those of enabled accounts whose model vanished
/// upstream. A disabled account's entries stay (the route query skips them) so that
/// re-enabling it restores its channels at once.
async fn prune_routes(
    d1: &D1Database,
    org: i64,
    station_id: i64,
    models_complete: bool,
) -> Result<(), GatewayError> {
    db::run(
        d1,
        "DELETE FROM route_entries WHERE organization_id = ?1 AND station_id = ?2 AND manual = 0 AND ( \
           (?3 = 1 AND model NOT IN (SELECT model FROM station_models WHERE organization_id = ?1 AND station_id = ?2) \
             AND upstream_key_id IN (SELECT k.id FROM upstream_keys k JOIN accounts a ON a.id = k.account_id \
                                     WHERE k.organization_id = ?1 AND k.station_id = ?2 AND a.enabled = 1)) \
           OR upstream_key_id NOT IN (SELECT id FROM upstream_keys WHERE organization_id = ?1 AND station_id = ?2 AND status = 'active'))",
        &[num(org), num(station_id), num(i64::from(models_complete))],
    )
    .await
}

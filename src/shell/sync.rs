//! Station sync: pulls status, balance, models, pricing and keys from a panel, stores them,
//! and republishes the organization's route table. Idempotent: running it twice changes nothing.

use super::app::{now_ms, secret_box};
use super::db::{self, num, opt_f64};
use super::routes;
use super::upstream::send_panel;
use crate::core::crypto::secret_hint;
use crate::core::error::GatewayError;
use crate::core::panels::new_api::{self, Credentials, ModelPrice, PanelToken};
use crate::core::panels::{PanelError, PanelRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use worker::Env;

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
    pub errors: Vec<String>,
}

/// Limits the key-list walk: 20 pages × 100 keys.
const MAX_TOKEN_PAGES: usize = 20;

async fn call(base_url: &str, req: &PanelRequest) -> Result<Value, PanelError> {
    let (status, body) = send_panel(base_url, req).await?;
    new_api::parse_envelope(status, &body)
}

pub async fn sync_station(
    env: &Env,
    org: i64,
    station_id: i64,
) -> Result<SyncReport, GatewayError> {
    let d1 = env.d1("DB")?;
    let station = db::get_station(&d1, org, station_id)
        .await?
        .ok_or_else(|| GatewayError::NotFound(format!("station {station_id} not found")))?;
    let sb = secret_box(env)?;
    let mut report = SyncReport {
        station_id,
        ..Default::default()
    };
    let now = now_ms();

    let status = match call(&station.base_url, &new_api::status_request()).await {
        Ok(v) => new_api::parse_status(&v),
        Err(e) => return record_failure(env, org, station_id, &format!("status: {e}")).await,
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

    let mut all_models: Vec<String> = Vec::new();
    for account in db::station_accounts(&d1, org, station_id)
        .await?
        .into_iter()
        .filter(|a| a.enabled != 0)
    {
        let creds = Credentials {
            access_token: sb.open(&account.credential_ciphertext)?,
            user_id: account.panel_user_id.clone().unwrap_or_default(),
        };
        match sync_account(
            env,
            org,
            station_id,
            &station.base_url,
            account.id,
            &creds,
            status.quota_per_unit,
            now,
            &mut report,
        )
        .await
        {
            Ok(models) => {
                set_account_health(env, org, account.id, "healthy", None, now).await?;
                all_models.extend(models);
            }
            Err(e) => {
                let health = if matches!(e, PanelError::Auth(_)) {
                    "unhealthy"
                } else {
                    "degraded"
                };
                set_account_health(env, org, account.id, health, Some(&e.to_string()), now).await?;
                report.errors.push(format!("account {}: {e}", account.id));
            }
        }
    }
    all_models.sort();
    all_models.dedup();
    report.models = all_models.len();

    if report.errors.is_empty() || !all_models.is_empty() {
        prune_routes(env, org, station_id).await?;
    }
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
        &[num(now), error.map_or(wasm_bindgen::JsValue::NULL, |e| e.into()), num(org), num(station_id)],
    )
    .await?;
    Ok(report)
}

async fn record_failure(
    env: &Env,
    org: i64,
    station_id: i64,
    message: &str,
) -> Result<SyncReport, GatewayError> {
    db::run(
        &env.d1("DB")?,
        "UPDATE stations SET last_sync_error = ?1, updated_at = ?2 WHERE organization_id = ?3 AND id = ?4",
        &[message.into(), num(now_ms()), num(org), num(station_id)],
    )
    .await?;
    Err(GatewayError::Upstream {
        status: 502,
        message: format!("sync of station {station_id} failed: {message}"),
        retry_after_s: None,
    })
}

async fn set_account_health(
    env: &Env,
    org: i64,
    account_id: i64,
    health: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<(), GatewayError> {
    db::run(
        &env.d1("DB")?,
        "UPDATE accounts SET health = ?1, health_reason = ?2, health_changed_at = CASE WHEN health = ?1 THEN health_changed_at ELSE ?3 END, updated_at = ?3 \
         WHERE organization_id = ?4 AND id = ?5",
        &[health.into(), reason.map_or(wasm_bindgen::JsValue::NULL, Into::into), num(now), num(org), num(account_id)],
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn sync_account(
    env: &Env,
    org: i64,
    station_id: i64,
    base_url: &str,
    account_id: i64,
    creds: &Credentials,
    quota_per_unit: f64,
    now: i64,
    report: &mut SyncReport,
) -> Result<Vec<String>, PanelError> {
    let d1 = env
        .d1("DB")
        .map_err(|e| PanelError::Unreachable(e.to_string()))?;

    let balance = new_api::parse_self(
        &call(base_url, &new_api::self_request(creds)).await?,
        quota_per_unit,
    )?;
    report.balance_usd = Some(balance.balance_usd);
    report.used_usd = Some(balance.used_usd);
    db::batch(
        &d1,
        vec![
            db::stmt(&d1, "UPDATE accounts SET balance_usd = ?1, used_usd = ?2, balance_updated_at = ?3 WHERE organization_id = ?4 AND id = ?5",
                &[opt_f64(Some(balance.balance_usd)), opt_f64(Some(balance.used_usd)), num(now), num(org), num(account_id)]).map_err(storage_error)?,
            db::stmt(&d1, "INSERT INTO balance_snapshots (organization_id, account_id, balance_usd, used_usd, estimated, taken_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
                &[num(org), num(account_id), opt_f64(Some(balance.balance_usd)), opt_f64(Some(balance.used_usd)), num(now)]).map_err(storage_error)?,
        ],
    )
    .await
    .map_err(storage_error)?;

    let models = new_api::parse_models(&call(base_url, &new_api::models_request(creds)).await?)?;
    // Pricing is optional (legacy panels may lack it): models without a price are still routed.
    let prices: HashMap<String, ModelPrice> =
        match call(base_url, &new_api::pricing_request(creds)).await {
            Ok(v) => new_api::parse_pricing(&v, &balance.group)
                .into_iter()
                .collect(),
            Err(e) => {
                report.errors.push(format!("pricing: {e}"));
                HashMap::new()
            }
        };
    store_models(&d1, org, station_id, &models, &prices, now)
        .await
        .map_err(storage_error)?;

    let mut tokens = list_tokens(base_url, creds).await?;
    if !tokens.iter().any(PanelToken::is_enabled) {
        call(
            base_url,
            &new_api::create_token_request(creds, "ai-gateway"),
        )
        .await?;
        report.keys_created += 1;
        tokens = list_tokens(base_url, creds).await?;
    }
    let active = store_keys(
        env, org, station_id, account_id, base_url, creds, &tokens, now,
    )
    .await?;
    report.keys += active.len();

    let station_defaults: Option<Defaults> = db::first(
        &d1,
        "SELECT weight, priority FROM stations WHERE organization_id = ?1 AND id = ?2",
        &[num(org), num(station_id)],
    )
    .await
    .map_err(storage_error)?;
    let defaults = station_defaults.unwrap_or(Defaults {
        weight: 10,
        priority: 0,
    });
    let mut inserts = Vec::new();
    for key_id in &active {
        for model in &models {
            inserts.push(
                db::stmt(
                    &d1,
                    "INSERT INTO route_entries (organization_id, model, upstream_model, station_id, upstream_key_id, priority, weight, created_at, updated_at) \
                     VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (organization_id, model, upstream_key_id) DO NOTHING",
                    &[num(org), model.as_str().into(), num(station_id), num(*key_id), num(defaults.priority), num(defaults.weight), num(now)],
                )
                .map_err(storage_error)?,
            );
        }
    }
    db::batch(&d1, inserts).await.map_err(storage_error)?;
    Ok(models)
}

#[derive(Deserialize)]
struct Defaults {
    weight: i64,
    priority: i64,
}

/// A storage fault met while talking to a panel, reported like any other account error.
fn storage_error(e: GatewayError) -> PanelError {
    PanelError::Unreachable(format!("storage: {e:?}"))
}

async fn list_tokens(base_url: &str, creds: &Credentials) -> Result<Vec<PanelToken>, PanelError> {
    let mut tokens = Vec::new();
    let mut p = 0;
    for _ in 0..MAX_TOKEN_PAGES {
        let page =
            new_api::parse_tokens(&call(base_url, &new_api::tokens_request(creds, p)).await?)?;
        tokens.extend(page.tokens.iter().cloned());
        match new_api::next_token_page(&page, p, tokens.len()) {
            Some(next) => p = next,
            None => break,
        }
    }
    Ok(tokens)
}

#[derive(Deserialize)]
struct KnownKey {
    id: i64,
    remote_id: String,
    key_hint: String,
}

/// Stores the account's enabled tokens (sealed), fetching full keys only for masked tokens we
/// do not already hold; keys no longer listed are disabled. Returns the active key ids.
#[allow(clippy::too_many_arguments)]
async fn store_keys(
    env: &Env,
    org: i64,
    station_id: i64,
    account_id: i64,
    base_url: &str,
    creds: &Credentials,
    tokens: &[PanelToken],
    now: i64,
) -> Result<Vec<i64>, PanelError> {
    let d1 = env
        .d1("DB")
        .map_err(|e| PanelError::Unreachable(e.to_string()))?;
    let sb = secret_box(env).map_err(storage_error)?;
    let known: Vec<KnownKey> = db::all(
        &d1,
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
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let already = known
            .iter()
            .find(|k| k.remote_id == remote_id && k.key_hint.ends_with(&tail));
        if let Some(k) = already {
            // A key the station rejected stays invalid although the panel still lists it
            // (it lists revoked-by-quota keys too); an admin re-enables it.
            statements.push(db::stmt(&d1, "UPDATE upstream_keys SET status = CASE WHEN status = 'invalid' AND ?1 = 'active' THEN 'invalid' ELSE ?1 END, \
             name = ?2, group_name = ?3, updated_at = ?4 WHERE organization_id = ?5 AND id = ?6",
                &[status.into(), token.name.as_str().into(), token.group.as_str().into(), num(now), num(org), num(k.id)]).map_err(storage_error)?);
            continue;
        }
        if !token.is_enabled() {
            continue;
        }
        let key = if token.is_masked() {
            new_api::parse_token_key(
                &call(base_url, &new_api::token_key_request(creds, token.id)).await?,
            )?
        } else {
            token.key.clone()
        };
        let relay_key = PanelToken::relay_key(&key);
        let sealed = sb
            .seal(&relay_key)
            .map_err(|e| PanelError::Unreachable(e.to_string()))?;
        statements.push(db::stmt(
            &d1,
            "INSERT INTO upstream_keys (organization_id, station_id, account_id, remote_id, name, key_ciphertext, key_hint, status, group_name, source, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, 'sync', ?9, ?9) \
             ON CONFLICT (account_id, remote_id) DO UPDATE SET key_ciphertext = excluded.key_ciphertext, key_hint = excluded.key_hint, \
             status = 'active', name = excluded.name, group_name = excluded.group_name, updated_at = excluded.updated_at",
            &[num(org), num(station_id), num(account_id), remote_id.as_str().into(), token.name.as_str().into(), sealed.into(), secret_hint(&relay_key, 3).into(), token.group.as_str().into(), num(now)],
        ).map_err(storage_error)?);
    }
    for k in known.iter().filter(|k| !listed.contains(&k.remote_id)) {
        statements.push(db::stmt(&d1, "UPDATE upstream_keys SET status = 'disabled', status_reason = 'no longer listed by the panel', updated_at = ?1 WHERE organization_id = ?2 AND id = ?3",
            &[num(now), num(org), num(k.id)]).map_err(storage_error)?);
    }
    db::batch(&d1, statements).await.map_err(storage_error)?;
    let active: Vec<db::IdRow> = db::all(&d1, "SELECT id FROM upstream_keys WHERE organization_id = ?1 AND account_id = ?2 AND status = 'active' ORDER BY id", &[num(org), num(account_id)])
        .await
        .map_err(storage_error)?;
    Ok(active.into_iter().map(|i| i.id).collect())
}

async fn store_models(
    d1: &worker::D1Database,
    org: i64,
    station_id: i64,
    models: &[String],
    prices: &HashMap<String, ModelPrice>,
    now: i64,
) -> Result<(), GatewayError> {
    let mut statements = vec![db::stmt(
        d1,
        "DELETE FROM station_models WHERE organization_id = ?1 AND station_id = ?2",
        &[num(org), num(station_id)],
    )?];
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[num(org), num(station_id), model.as_str().into(), billing.into(), opt_f64(input), opt_f64(output), opt_f64(cache_read), opt_f64(per_call), num(now)],
        )?);
    }
    db::batch(d1, statements).await
}

/// Drops sync-made route entries whose model vanished or whose key is no longer active.
async fn prune_routes(env: &Env, org: i64, station_id: i64) -> Result<(), GatewayError> {
    db::run(
        &env.d1("DB")?,
        "DELETE FROM route_entries WHERE organization_id = ?1 AND station_id = ?2 AND manual = 0 AND ( \
           model NOT IN (SELECT model FROM station_models WHERE organization_id = ?1 AND station_id = ?2) \
           OR upstream_key_id NOT IN (SELECT id FROM upstream_keys WHERE organization_id = ?1 AND station_id = ?2 AND status = 'active'))",
        &[num(org), num(station_id)],
    )
    .await
}

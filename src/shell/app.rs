//! Per-request context: bindings, secrets, time, and conversions of platform errors.

use crate::core::config::Config;
use crate::core::crypto::{secret_weakness, Aad, SecretBox};
use crate::core::error::GatewayError;
use crate::core::outbound::OutboundPolicy;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Context, D1Database, Env, Response, ResponseBody};

/// The organization a single-owner deployment acts in (created by the first migration).
pub const DEFAULT_ORGANIZATION_ID: i64 = 1;

pub struct App {
    pub env: Env,
    pub ctx: Context,
}

impl App {
    pub fn new(env: Env, ctx: Context) -> Self {
        remember_outbound_policy(&env);
        Self { env, ctx }
    }

    pub fn db(&self) -> Result<D1Database, GatewayError> {
        Ok(self.env.d1("DB")?)
    }

    pub fn kv(&self) -> Result<worker::KvStore, GatewayError> {
        Ok(self.env.kv("CACHE")?)
    }

    /// A secret, `None` when unset or empty.
    pub fn secret(&self, name: &str) -> Option<String> {
        secret(&self.env, name)
    }

    /// The typed settings (`[vars]`), read once per isolate.
    pub fn config(&self) -> Config {
        config(&self.env)
    }

    /// The credential cipher, built once per isolate from `ENCRYPTION_KEY`.
    pub fn secret_box(&self) -> Result<Rc<SecretBox>, GatewayError> {
        secret_box(&self.env)
    }
}

/// Secrets are fixed for an isolate's life (a change deploys new isolates), so each is read
/// from the environment once: the lookup crosses into JS and builds an error when unset.
pub fn secret(env: &Env, name: &str) -> Option<String> {
    if let Some(known) = SECRETS.with(|v| v.borrow().get(name).cloned()) {
        return known;
    }
    let value = env
        .secret(name)
        .map(|s| s.to_string())
        .ok()
        .filter(|s| !s.is_empty());
    SECRETS.with(|v| v.borrow_mut().insert(name.to_string(), value.clone()));
    value
}

/// The settings, built from the vars on first use (vars, like secrets, live as long as the
/// isolate).
pub fn config(env: &Env) -> Config {
    if let Some(config) = CONFIG.with(Cell::get) {
        return config;
    }
    let config = Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string()));
    CONFIG.with(|c| c.set(Some(config)));
    config
}

/// A text var (`[vars]`, e.g. `ADMIN_ORIGINS`), read once per isolate; `None` when unset or empty.
pub fn var_text(env: &Env, name: &str) -> Option<String> {
    if let Some(known) = VARS.with(|v| v.borrow().get(name).cloned()) {
        return known;
    }
    let value = env
        .var(name)
        .map(|v| v.to_string())
        .ok()
        .filter(|s| !s.trim().is_empty());
    VARS.with(|v| v.borrow_mut().insert(name.to_string(), value.clone()));
    value
}

/// The secrets the gateway refuses to run without (strong, not placeholders).
const REQUIRED_SECRETS: [&str; 3] = ["AUTH_TOKEN", "JWT_SECRET", "ENCRYPTION_KEY"];

/// The first required secret that is missing or weak, as a sentence naming it and why (never
/// its value); checked once per isolate, since secrets change only with a new deployment.
pub fn weak_secret(env: &Env) -> Option<String> {
    if let Some(known) = WEAK_SECRET.with(|w| w.borrow().clone()) {
        return known;
    }
    let found = REQUIRED_SECRETS.iter().find_map(|name| {
        secret_weakness(secret(env, name).as_deref()).map(|why| {
            format!("{name} {why}: set a random value of at least 32 characters (e.g. `openssl rand -base64 32`)")
        })
    });
    WEAK_SECRET.with(|w| *w.borrow_mut() = Some(found.clone()));
    found
}

/// Reads `ALLOW_PRIVATE_UPSTREAMS` once per isolate (fetch and scheduled entries call this), so
/// every outbound call site can check URLs without the environment at hand.
pub fn remember_outbound_policy(env: &Env) {
    if OUTBOUND.with(|o| o.get()).is_none() {
        let allow = var_text(env, "ALLOW_PRIVATE_UPSTREAMS")
            .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        OUTBOUND.with(|o| o.set(Some(allow)));
        let seconds = u32::try_from(config(env).panel_timeout_seconds).unwrap_or(15);
        PANEL_TIMEOUT_S.with(|t| t.set(seconds));
    }
}

/// The panel-call timeout of this isolate, in milliseconds.
pub fn panel_timeout_ms() -> u32 {
    PANEL_TIMEOUT_S.with(|t| t.get()).saturating_mul(1000)
}

/// The outbound-URL policy of this isolate; strict until the environment was read.
pub fn outbound_policy() -> OutboundPolicy {
    OutboundPolicy::new(OUTBOUND.with(|o| o.get()).unwrap_or(false))
}

/// Decrypted upstream keys kept per isolate, so a relayed call pays no AES-GCM opening; bounded
/// (cleared when full) so rotated keys do not pile up.
const OPENED_KEYS_MAX: usize = 4096;

thread_local! {
    static SECRET_BOX: RefCell<Option<Rc<SecretBox>>> = const { RefCell::new(None) };
    static SECRETS: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
    static CONFIG: Cell<Option<Config>> = const { Cell::new(None) };
    static VARS: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
    static OUTBOUND: Cell<Option<bool>> = const { Cell::new(None) };
    static PANEL_TIMEOUT_S: Cell<u32> = const { Cell::new(15) };
    static WEAK_SECRET: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
    static OPENED_KEYS: RefCell<HashMap<String, Rc<str>>> = RefCell::new(HashMap::new());
}

/// An upstream key's plaintext from its stored ciphertext, opened for the row it belongs to
/// (the cache is keyed by the row too, so a moved ciphertext never skips the check).
pub fn open_key(env: &Env, ciphertext: &str, aad: &Aad) -> Result<Rc<str>, GatewayError> {
    let cache_key = format!("{}:{}:{ciphertext}", aad.org, aad.row);
    if let Some(key) = OPENED_KEYS.with(|k| k.borrow().get(&cache_key).cloned()) {
        return Ok(key);
    }
    let key: Rc<str> = secret_box(env)?.open(ciphertext, aad)?.into();
    OPENED_KEYS.with(|k| {
        let mut keys = k.borrow_mut();
        if keys.len() >= OPENED_KEYS_MAX {
            keys.clear();
        }
        keys.insert(cache_key, Rc::clone(&key));
    });
    Ok(key)
}

/// The row binding of an upstream key's ciphertext: its organization and station.
pub fn upstream_key_aad(org: i64, station_id: i64) -> Aad<'static> {
    Aad {
        org,
        table: "upstream_keys.key",
        row: station_id,
    }
}

/// The row binding of an account's sealed credential.
pub fn credential_aad(org: i64, account_id: i64) -> Aad<'static> {
    Aad {
        org,
        table: "accounts.credential",
        row: account_id,
    }
}

/// The binding of a ComfyUI server's sealed auth header: its organization (the row id does not
/// exist yet when it is sealed).
pub fn assistant_auth_aad(org: i64) -> Aad<'static> {
    Aad {
        org,
        table: "assistant_servers.auth",
        row: 0,
    }
}

/// The row binding of an account's sealed login session.
pub fn session_aad(org: i64, account_id: i64) -> Aad<'static> {
    Aad {
        org,
        table: "accounts.session",
        row: account_id,
    }
}

/// A whole body in one promise: `worker::Response::bytes` reads a stream chunk by chunk, each
/// chunk a promise and a copy across the wasm boundary.
pub async fn body_bytes(resp: &Response) -> Result<Vec<u8>, worker::Error> {
    match resp.body() {
        ResponseBody::Stream(stream) => {
            let whole = web_sys::Response::new_with_opt_readable_stream(Some(stream))?;
            let buffer = JsFuture::from(whole.array_buffer()?).await?;
            Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        }
        ResponseBody::Body(bytes) => Ok(bytes.clone()),
        ResponseBody::Empty => Ok(Vec::new()),
    }
}

/// A value as sealed JSON (credentials, login sessions), bound to its row.
pub fn seal_json<T: Serialize>(
    sb: &SecretBox,
    value: &T,
    aad: &Aad,
) -> Result<String, GatewayError> {
    let json = serde_json::to_string(value)
        .map_err(|e| GatewayError::Internal(format!("encoding for sealing: {e}")))?;
    Ok(sb.seal(&json, aad)?)
}

pub fn secret_box(env: &Env) -> Result<Rc<SecretBox>, GatewayError> {
    if let Some(sb) = SECRET_BOX.with(|c| c.borrow().clone()) {
        return Ok(sb);
    }
    let key = secret(env, "ENCRYPTION_KEY")
        .ok_or_else(|| GatewayError::Internal("ENCRYPTION_KEY is not configured".into()))?;
    let previous = secret(env, "ENCRYPTION_KEY_PREVIOUS");
    let sb = Rc::new(SecretBox::new(&key, previous.as_deref()));
    SECRET_BOX.with(|c| *c.borrow_mut() = Some(sb.clone()));
    Ok(sb)
}

/// Milliseconds since the epoch (`Date.now()`: no Date object per call).
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

impl From<worker::Error> for GatewayError {
    fn from(e: worker::Error) -> Self {
        GatewayError::Internal(e.to_string())
    }
}

impl From<worker::kv::KvError> for GatewayError {
    fn from(e: worker::kv::KvError) -> Self {
        GatewayError::Internal(format!("KV: {e}"))
    }
}

impl From<crate::core::crypto::CryptoError> for GatewayError {
    fn from(e: crate::core::crypto::CryptoError) -> Self {
        GatewayError::Internal(e.to_string())
    }
}

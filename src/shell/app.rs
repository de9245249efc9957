//! Per-request context: bindings, secrets, time, and conversions of platform errors.

use crate::core::crypto::{secret_weakness, Aad, SecretBox};
use crate::core::error::GatewayError;
use crate::core::outbound::OutboundPolicy;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Context, D1Database, Env, Headers, Response, ResponseBody};

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

    /// A secret or var, `None` when unset or empty.
    pub fn secret(&self, name: &str) -> Option<String> {
        secret(&self.env, name)
    }

    pub fn var_i64(&self, name: &str, default: i64) -> i64 {
        self.secret(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// The credential cipher, built once per isolate from `ENCRYPTION_KEY`.
    pub fn secret_box(&self) -> Result<Rc<SecretBox>, GatewayError> {
        secret_box(&self.env)
    }
}

/// Secrets and vars are fixed for an isolate's life (a change deploys new isolates), so each is
/// read from the environment once: the lookup crosses into JS and builds an error for a var.
pub fn secret(env: &Env, name: &str) -> Option<String> {
    if let Some(known) = ENV_VALUES.with(|v| v.borrow().get(name).cloned()) {
        return known;
    }
    let value = env
        .secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty());
    ENV_VALUES.with(|v| v.borrow_mut().insert(name.to_string(), value.clone()));
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
        let allow = secret(env, "ALLOW_PRIVATE_UPSTREAMS")
            .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        OUTBOUND.with(|o| o.set(Some(allow)));
        let seconds = secret(env, "PANEL_TIMEOUT_SECONDS")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map_or(DEFAULT_PANEL_TIMEOUT_S, |s| s.clamp(1, 120));
        PANEL_TIMEOUT_S.with(|t| t.set(seconds));
    }
}

/// A panel call's whole answer must arrive within this (`PANEL_TIMEOUT_SECONDS`, 1–120).
const DEFAULT_PANEL_TIMEOUT_S: u32 = 15;

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
    static OUTBOUND: Cell<Option<bool>> = const { Cell::new(None) };
    static PANEL_TIMEOUT_S: Cell<u32> = const { Cell::new(DEFAULT_PANEL_TIMEOUT_S) };
    static WEAK_SECRET: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
    static ENV_VALUES: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
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

pub fn json_response<T: Serialize + ?Sized>(body: &T, status: u16) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(text.into_bytes())
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

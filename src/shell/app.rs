//! Per-request context: bindings, secrets, time, and conversions of platform errors.

use crate::core::config::Config;
use crate::core::crypto::SecretBox;
use crate::core::error::GatewayError;
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

/// Decrypted upstream keys kept per isolate, so a relayed call pays no AES-GCM opening; bounded
/// (cleared when full) so rotated keys do not pile up.
const OPENED_KEYS_MAX: usize = 4096;

thread_local! {
    static SECRET_BOX: RefCell<Option<Rc<SecretBox>>> = const { RefCell::new(None) };
    static SECRETS: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
    static CONFIG: Cell<Option<Config>> = const { Cell::new(None) };
    static OPENED_KEYS: RefCell<HashMap<String, Rc<str>>> = RefCell::new(HashMap::new());
}

/// An upstream key's plaintext from its stored ciphertext.
pub fn open_key(env: &Env, ciphertext: &str) -> Result<Rc<str>, GatewayError> {
    if let Some(key) = OPENED_KEYS.with(|k| k.borrow().get(ciphertext).cloned()) {
        return Ok(key);
    }
    let key: Rc<str> = secret_box(env)?.open(ciphertext)?.into();
    OPENED_KEYS.with(|k| {
        let mut keys = k.borrow_mut();
        if keys.len() >= OPENED_KEYS_MAX {
            keys.clear();
        }
        keys.insert(ciphertext.to_string(), Rc::clone(&key));
    });
    Ok(key)
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

/// A value as sealed JSON (credentials, login sessions).
pub fn seal_json<T: Serialize>(sb: &SecretBox, value: &T) -> Result<String, GatewayError> {
    let json = serde_json::to_string(value)
        .map_err(|e| GatewayError::Internal(format!("encoding for sealing: {e}")))?;
    Ok(sb.seal(&json)?)
}

pub fn secret_box(env: &Env) -> Result<Rc<SecretBox>, GatewayError> {
    if let Some(sb) = SECRET_BOX.with(|c| c.borrow().clone()) {
        return Ok(sb);
    }
    let key = secret(env, "ENCRYPTION_KEY")
        .ok_or_else(|| GatewayError::Internal("ENCRYPTION_KEY is not configured".into()))?;
    let sb = Rc::new(SecretBox::new(&key));
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

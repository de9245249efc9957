//! Per-request context: bindings, secrets, time, and conversions of platform errors.

use crate::core::crypto::SecretBox;
use crate::core::error::GatewayError;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Context, D1Database, Env, Headers, Response};

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

pub fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

thread_local! {
    static SECRET_BOX: RefCell<Option<Rc<SecretBox>>> = const { RefCell::new(None) };
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

pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
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

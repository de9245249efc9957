//! Key authorization, the relay's first phase: the presented gateway key (Bearer, `x-api-key`,
//! `x-goog-api-key` or `?key=`) → a usable record: known, enabled, unexpired, within its
//! limits, from an allowed IP.

use crate::core::crypto::constant_time_eq;
use crate::core::error::GatewayError;
use crate::core::gateway_key::{hash_key, GatewayKeyRecord};
use crate::shell::app::{App, DEFAULT_ORGANIZATION_ID};
use crate::shell::cache;
use crate::shell::repo::gateway_keys;
use std::rc::Rc;
use worker::Request;

/// Presented key → usable record: present, enabled, unexpired, within limits, allowed IP.
pub async fn authorize(
    req: &Request,
    app: &App,
    now: i64,
) -> Result<Rc<GatewayKeyRecord>, GatewayError> {
    let presented = presented_key(req).ok_or_else(|| {
        GatewayError::Unauthorized("Missing API key: send `Authorization: Bearer ag-…`".into())
    })?;
    let key = authenticate(app, &presented, now).await?;
    key.check_usable(now)?;
    key.check_limits()?;
    key.check_ip(req.headers().get("CF-Connecting-IP")?.as_deref())?;
    Ok(key)
}

fn presented_key(req: &Request) -> Option<String> {
    let headers = req.headers();
    let bearer = headers.get("Authorization").ok().flatten().and_then(|v| {
        let v = v.trim();
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(|k| k.trim().to_string())
    });
    bearer
        .or_else(|| headers.get("x-api-key").ok().flatten())
        .or_else(|| headers.get("x-goog-api-key").ok().flatten())
        .or_else(|| {
            req.url()
                .ok()?
                .query_pairs()
                .find(|(k, _)| k == "key")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|k| !k.is_empty())
}

/// Gateway key → record: isolate cache (seconds) → D1. `PROXY_TOKEN` is an instance-wide key.
async fn authenticate(
    app: &App,
    presented: &str,
    now: i64,
) -> Result<Rc<GatewayKeyRecord>, GatewayError> {
    let invalid = || GatewayError::Unauthorized("Invalid API key".into());
    if let Some(proxy) = app.secret("PROXY_TOKEN") {
        if constant_time_eq(proxy.as_bytes(), presented.as_bytes()) {
            return Ok(Rc::new(GatewayKeyRecord::unrestricted(
                DEFAULT_ORGANIZATION_ID,
            )));
        }
    }
    // Lookup is by SHA-256, so the stored value is never compared byte by byte with the secret.
    let hash = hash_key(presented);
    if let Some(cached) = cache::get_key(&hash, now) {
        return cached.ok_or_else(invalid);
    }
    let record = gateway_keys::find(&app.db()?, &hash).await?.map(Rc::new);
    cache::put_key(&hash, record.clone(), now);
    record.ok_or_else(invalid)
}

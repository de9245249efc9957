//! CORS at the edge of `fetch`: preflights are answered before any authentication, and allowed
//! origins get their headers on every answer (see `core::cors` for the policy).

use super::app::{var_text, App};
use crate::core::cors::{CorsPolicy, Surface};
use crate::core::endpoint::is_relay_path;
use worker::{Headers, Method, Request, Response};

fn policy(app: &App) -> CorsPolicy {
    CorsPolicy::new(
        var_text(&app.env, "ADMIN_ORIGINS").as_deref(),
        var_text(&app.env, "RELAY_ORIGINS").as_deref(),
    )
}

fn surface(path: &str) -> Surface {
    if is_relay_path(path) {
        Surface::Relay
    } else {
        Surface::Admin
    }
}

/// The request's `Origin` (browsers send it on cross-origin calls).
pub fn origin(req: &Request) -> Option<String> {
    req.headers().get("Origin").ok().flatten()
}

/// The answer to a CORS preflight (`OPTIONS` with an `Origin`): 204 with exactly the surface's
/// methods and headers for an allowed origin, a bare 403 otherwise. `None` for other requests.
pub fn preflight(req: &Request, app: &App, path: &str) -> Option<Response> {
    if req.method() != Method::Options {
        return None;
    }
    let origin = origin(req)?;
    let header = |name: &str| req.headers().get(name).ok().flatten().unwrap_or_default();
    let answer = policy(app).preflight(
        surface(path),
        &origin,
        &header("Access-Control-Request-Method"),
        &header("Access-Control-Request-Headers"),
    );
    let headers = Headers::new();
    let status = match answer {
        Ok(list) => {
            for (name, value) in list {
                let _ = headers.set(name, &value);
            }
            204
        }
        Err(refusal) => {
            let _ = headers.set("Content-Type", "text/plain");
            let _ = headers.set("Vary", "Origin");
            return Some(
                Response::builder()
                    .with_status(403)
                    .with_headers(headers)
                    .fixed(format!("CORS preflight refused: {}", refusal.reason()).into_bytes()),
            );
        }
    };
    Some(
        Response::builder()
            .with_status(status)
            .with_headers(headers)
            .empty(),
    )
}

/// Adds the CORS headers for the request's origin when it is allowed; otherwise the answer is
/// unchanged. Headers of a fetched upstream answer are immutable, so they are copied first.
pub fn decorate(origin: Option<String>, app: &App, path: &str, resp: Response) -> Response {
    let Some(origin) = origin else {
        return resp;
    };
    let list = policy(app).answer(surface(path), &origin);
    if list.is_empty() {
        return resp;
    }
    let headers = Headers::new();
    for (name, value) in resp.headers().entries() {
        let _ = headers.append(&name, &value);
    }
    for (name, value) in list {
        let _ = headers.set(name, &value);
    }
    resp.with_headers(headers)
}

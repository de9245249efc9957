//! The client side of the Durable Object protocol (`core::durable`): a call goes to the
//! organization's object of the class that serves it.

use crate::core::durable::DoCall;
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request, RequestInit, Response};

/// Sends `call` (with its JSON `body`, if any) to `org`'s object.
pub async fn call(
    env: &Env,
    org: i64,
    call: DoCall,
    body: Option<String>,
) -> worker::Result<Response> {
    let stub = env
        .durable_object(call.binding())?
        .id_from_name(&format!("org:{org}"))?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(match call.method() {
        "GET" => Method::Get,
        _ => Method::Post,
    });
    if let Some(body) = body {
        init.with_body(Some(JsValue::from_str(&body)));
    }
    stub.fetch_with_request(Request::new_with_init(&call.to_url(), &init)?)
        .await
}

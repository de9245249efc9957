//! The benchmark's Rust floor: forwards the request to `UPSTREAM_URL` and returns the upstream's
//! response as it is — what the bare JS pass-through does, in Rust through workers-rs.

use worker::{event, Context, Env, Fetch, Request, RequestInit, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    let target = format!("{}{}", env.var("UPSTREAM_URL")?, url.path());
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(req.headers().clone());
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    Fetch::Request(Request::new_with_init(&target, &init)?)
        .send()
        .await
}

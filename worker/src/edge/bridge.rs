//! HTTP calls to the broker bridge (Workers `fetch` with an abort timeout).
//! Every call goes through [`send`], so every call carries the same headers
//! ([`crate::http::proxy::bridge_headers`]).

use wasm_bindgen::JsValue;
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit};

use crate::bridge::BridgeFailure;
use crate::config::Config;
use crate::http::proxy::bridge_headers;

pub use crate::bridge::BridgeAnswer;

/// `GET {BRIDGE_URL}{path_and_query}`, with the bearer token when `authenticated`,
/// bounded by `timeout_ms` including reading the body.
pub async fn get(
    cfg: &Config,
    path_and_query: &str,
    authenticated: bool,
    timeout_ms: u32,
) -> Result<BridgeAnswer, BridgeFailure> {
    send(
        cfg,
        Method::Get,
        path_and_query,
        None,
        authenticated,
        timeout_ms,
    )
    .await
}

/// `POST {BRIDGE_URL}{path}` with a JSON `body` (sent byte for byte),
/// authenticated, bounded by `timeout_ms` including reading the answer.
pub async fn post_json(
    cfg: &Config,
    path: &str,
    body: &str,
    timeout_ms: u32,
) -> Result<BridgeAnswer, BridgeFailure> {
    send(cfg, Method::Post, path, Some(body), true, timeout_ms).await
}

async fn send(
    cfg: &Config,
    method: Method,
    path_and_query: &str,
    body: Option<&str>,
    authenticated: bool,
    timeout_ms: u32,
) -> Result<BridgeAnswer, BridgeFailure> {
    let url = format!("{}{}", cfg.bridge_url, path_and_query);
    let headers = Headers::new();
    for (name, value) in bridge_headers(cfg, authenticated, body.is_some()) {
        headers
            .set(name, &value)
            .map_err(|e| BridgeFailure::Unreachable(format!("bad header {name}: {e}")))?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(JsValue::from_str(b)));
    }
    let request = Request::new_with_init(&url, &init)
        .map_err(|e| BridgeFailure::Unreachable(format!("bad request: {e}")))?;
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(timeout_ms));
    let classify = |e: worker::Error, signal: &AbortSignal| {
        if signal.aborted() {
            BridgeFailure::Timeout {
                after_ms: timeout_ms,
            }
        } else {
            BridgeFailure::Unreachable(crate::config::truncate(&e.to_string(), 160))
        }
    };
    let mut response = Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(|e| classify(e, &signal))?;
    let status = response.status_code();
    let body = response.text().await.map_err(|e| classify(e, &signal))?;
    Ok(BridgeAnswer { status, body })
}

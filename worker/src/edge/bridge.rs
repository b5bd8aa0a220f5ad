//! HTTP calls to the broker bridge (Workers `fetch` with an abort timeout).

use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit};

use crate::config::Config;
use crate::proxy::BridgeFailure;

/// A bridge answer.
pub struct BridgeAnswer {
    pub status: u16,
    pub body: String,
}

/// `GET {BRIDGE_URL}{path_and_query}`, with the bearer token when `authenticated`,
/// bounded by `timeout_ms` including reading the body.
pub async fn get(
    cfg: &Config,
    path_and_query: &str,
    authenticated: bool,
    timeout_ms: u32,
) -> Result<BridgeAnswer, BridgeFailure> {
    let url = format!("{}{}", cfg.bridge_url, path_and_query);
    let headers = Headers::new();
    let mut header_result = headers.set("Accept", "application/json");
    if authenticated {
        header_result = header_result
            .and(headers.set("Authorization", &format!("Bearer {}", cfg.bridge_token)));
    }
    header_result.map_err(|e| BridgeFailure::Unreachable(format!("bad header: {e}")))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(&url, &init)
        .map_err(|e| BridgeFailure::Unreachable(format!("bad request: {e}")))?;
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(timeout_ms));
    let classify = |e: worker::Error, signal: &AbortSignal| {
        if signal.aborted() {
            BridgeFailure::Timeout {
                after_ms: timeout_ms,
            }
        } else {
            BridgeFailure::Unreachable(crate::api::truncate(&e.to_string(), 160))
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

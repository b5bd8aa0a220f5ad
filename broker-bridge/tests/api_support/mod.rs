//! Shared set-up of the in-process HTTP tests (`api`, `api_safety`,
//! `sim_clock`, `sim_state`): the bridge's configuration, a simulated broker
//! behind the router, and one request through it with `oneshot`.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use broker_bridge::api::{router, AppState};
use broker_bridge::clock::ManualClock;
use broker_bridge::config::{BridgeConfig, Cli};
use broker_bridge::metrics::Metrics;
use broker_bridge::sim::{SimBroker, SimBrokerConfig};
use broker_bridge::startup::sim_universe;
use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-0123456789-abcdefghijklmnop";

/// The bridge's configuration with no flags, parsed like the CLI.
pub fn bridge_config() -> BridgeConfig {
    let cli = Cli::try_parse_from(["broker-bridge"]).unwrap();
    BridgeConfig::from_cli(&cli, Some(TOKEN)).unwrap()
}

/// Friday 2026-11-20 15:00 UTC: inside the simulated session.
pub fn session_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

/// A manual clock at [`session_start`].
pub fn session_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(session_start()))
}

/// The simulated broker over the default watchlist: 100 000 cash, account
/// `SIM-TEST`, `start` as `--sim-start`.
pub fn sim_config(seed: u64, start: Option<DateTime<Utc>>) -> SimBrokerConfig {
    SimBrokerConfig {
        seed,
        universe: sim_universe(&bridge_config().watchlist),
        starting_cash: 100_000.0,
        account_id: "SIM-TEST".into(),
        start,
    }
}

/// The router over `broker`, with the configuration's token and timeout.
pub fn app(broker: SimBroker) -> Router {
    let cfg = bridge_config();
    router(AppState::new(
        Arc::new(broker),
        &cfg.token,
        Metrics::new(),
        cfg.request_timeout,
    ))
}

/// The router over a simulated broker (seed 42, no `--sim-start`) on `clock`.
pub fn sim_app(clock: &Arc<ManualClock>) -> Router {
    app(SimBroker::new(sim_config(42, None), clock.clone()).unwrap())
}

/// A fresh directory `sas-{suite}-{pid}-{name}-{random}` under the temp dir.
pub fn temp_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sas-{suite}-{}-{name}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A request with `auth` as the bearer token, `content_type` and `body` as given.
pub fn request(
    method: Method,
    uri: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: Option<&str>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(token) = auth {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap()
}

/// `req` through the router. The reply's body is its JSON, or its text as a
/// JSON string when it is not JSON.
pub async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value, HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value, headers)
}

/// A request through the router, its body (if any) sent as `application/json`.
pub async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value, HeaderMap) {
    let content_type = body.map(|_| "application/json");
    call(app, request(method, uri, auth, content_type, body)).await
}

/// An authorised GET.
pub async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (s, v, _) = send(app, Method::GET, uri, Some(TOKEN), None).await;
    (s, v)
}

/// An authorised GET that must answer 200; its body.
pub async fn get_ok(app: &Router, uri: &str) -> Value {
    let (s, v) = get(app, uri).await;
    assert_eq!(s, StatusCode::OK, "{uri}: {v}");
    v
}

/// An authorised POST of a JSON body.
pub async fn post(app: &Router, uri: &str, body: &str) -> (StatusCode, Value) {
    let (s, v, _) = send(app, Method::POST, uri, Some(TOKEN), Some(body)).await;
    (s, v)
}

/// The first call among an expiry's `contracts`.
pub fn first_call(contracts: &Value) -> Value {
    contracts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["right"] == "C")
        .unwrap()
        .clone()
}

/// The reply is the error `code` with `want` and a message.
pub fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

//! Issue 8, bridge side, with the real `ibapi` client against the fake
//! gateway: keys seen at IB always block a second send, open orders of every
//! client count, a client id in use or an ambiguous account stops the start,
//! a placement runs to completion when its request goes away, orders are
//! found by key, and the paced chain selections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ib_support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use broker_bridge::api::{router, AppState};
use broker_bridge::broker::Broker;
use broker_bridge::config::{BridgeConfig, Cli};
use broker_bridge::halt::Halt;
use broker_bridge::ib::IbBroker;
use broker_bridge::metrics::Metrics;
use broker_bridge::startup::build_broker;
use clap::Parser;
use fake_ib_gateway::{FakeConfig, FakeGateway};
use http_body_util::BodyExt;
use ib_support::*;
use serde_json::Value;
use tower::ServiceExt;

fn config_with(gw: &FakeGateway, client_id: i32, extra: &[&str]) -> BridgeConfig {
    let port = gw.addr.port().to_string();
    let id = client_id.to_string();
    let mut args = vec![
        "broker-bridge",
        "--broker",
        "ib",
        "--ib-host",
        "127.0.0.1",
        "--ib-port",
        port.as_str(),
        "--ib-client-id",
        id.as_str(),
        "--ib-reset-window-et",
        "off",
    ];
    args.extend_from_slice(extra);
    let cli = Cli::try_parse_from(args).expect("cli parses");
    BridgeConfig::from_cli(&cli, Some(TOKEN)).expect("config valid")
}

async fn http_get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn app_over(b: Arc<IbBroker>) -> Router {
    router(
        AppState::new(
            b,
            &config_with_token(),
            Metrics::new(),
            Duration::from_secs(30),
        )
        .with_chain_timeout(Duration::from_secs(60)),
    )
}

fn config_with_token() -> broker_bridge::config::BridgeToken {
    let cli = Cli::try_parse_from(["broker-bridge"]).unwrap();
    BridgeConfig::from_cli(&cli, Some(TOKEN)).unwrap().token
}

#[tokio::test]
async fn unrebuildable_key_at_ib_blocks_a_second_send() {
    let gw = gateway().await;
    let b = broker(&gw, 51).await;
    let req = put_spread(&b, "unrebuildable-1", 1, Pricing::Resting).await;
    let first = b.place_order(req.clone()).await.unwrap();
    assert!(!first.duplicate);
    b.shutdown().await;
    drop(b);

    // After a restart the combo's legs cannot be looked up by contract id.
    gw.controls.fail_contract_lookup_by_id(true);
    let b2 = broker(&gw, 51).await;
    let again = b2.place_order(req.clone()).await.unwrap();
    assert_eq!(
        gw.controls.place_order_requests(),
        1,
        "a key seen at IB was sent a second time"
    );
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.order.status.as_str(), "unknown", "{again:?}");
    assert_eq!(again.order.idempotency_key, "unrebuildable-1");

    // Once the legs can be read back, the entry becomes the real order.
    gw.controls.fail_contract_lookup_by_id(false);
    let resolved = b2.place_order(req.clone()).await.unwrap();
    assert!(resolved.duplicate);
    assert_eq!(resolved.order.status.as_str(), "submitted", "{resolved:?}");
    assert_eq!(resolved.order.legs, req.legs);
    assert_eq!(gw.controls.place_order_requests(), 1);
    b2.shutdown().await;
}

#[tokio::test]
async fn open_orders_of_another_client_id_block_a_second_send() {
    let gw = gateway().await;
    let b = broker(&gw, 52).await;
    let req = resting_stock_order("other-client-1");
    let first = b.place_order(req.clone()).await.unwrap();
    b.shutdown().await;
    drop(b);

    // IB_CLIENT_ID changed between runs.
    let b2 = broker(&gw, 53).await;
    let again = b2.place_order(req.clone()).await.unwrap();
    assert_eq!(
        gw.controls.place_order_requests(),
        1,
        "the working order of client 52 was not seen by client 53"
    );
    assert!(again.duplicate);
    assert_eq!(again.order.id, first.order.id);
    b2.shutdown().await;
}

#[tokio::test]
async fn second_bridge_with_a_client_id_in_use_refuses_to_start() {
    let gw = gateway().await;
    let b = broker(&gw, 54).await;
    let started = tokio::time::timeout(
        Duration::from_secs(20),
        build_broker(&config_with(&gw, 54, &[]), &Metrics::new()),
    )
    .await
    .expect("the start must end, not retry forever");
    let err = match started {
        Ok(_) => panic!("a second bridge with client id 54 started"),
        Err(e) => e,
    };
    assert!(err.contains("326") && err.contains("54"), "{err}");
    assert_eq!(gw.controls.live_sessions(), 1, "the first session is kept");
    b.shutdown().await;
}

#[tokio::test]
async fn placement_runs_to_completion_when_the_request_is_dropped() {
    let gw = gateway().await;
    // One message per second: the placement waits at the rate limiter, where
    // a dropped request used to cancel it after the key was booked.
    let mut cfg = ib_config(&gw, 55);
    cfg.messages_per_second = 1;
    let b = broker_with(cfg, &Metrics::new()).await;
    tokio::time::sleep(Duration::from_secs(5)).await; // resync after connect
    let req = resting_stock_order("dropped-1");
    let base = gw.controls.messages_received();
    {
        let place = b.place_order(req.clone());
        tokio::pin!(place);
        tokio::select! {
            r = &mut place => panic!("placement finished before the drop: {r:?}"),
            () = async {
                while gw.controls.messages_received() < base + 2 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            } => {}
        }
        // The request goes away here (the Worker's timeout).
    }
    let again = tokio::time::timeout(Duration::from_secs(20), b.place_order(req.clone()))
        .await
        .expect("retry answers")
        .unwrap();
    let at_ib: Vec<_> = gw
        .controls
        .orders()
        .into_iter()
        .filter(|o| o.order_ref == "dropped-1")
        .collect();
    assert_eq!(
        at_ib.len(),
        1,
        "retry answered {again:?} though IB has {at_ib:?}"
    );
    assert!(again.duplicate);
    assert_eq!(again.order.id, at_ib[0].order_id.to_string());
    assert_eq!(gw.controls.place_order_requests(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn several_ib_accounts_need_ib_account_and_every_call_uses_it() {
    let gw = FakeGateway::start(FakeConfig {
        tick_interval: Duration::from_millis(50),
        extra_accounts: vec!["DU7654321".into()],
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let started = tokio::time::timeout(
        Duration::from_secs(20),
        build_broker(&config_with(&gw, 56, &[]), &Metrics::new()),
    )
    .await
    .expect("the start must end");
    let err = match started {
        Ok(_) => panic!("started with two managed accounts and no IB_ACCOUNT"),
        Err(e) => e,
    };
    assert!(
        err.contains("DU1234567") && err.contains("DU7654321") && err.contains("IB_ACCOUNT"),
        "{err}"
    );

    let b = build_broker(
        &config_with(&gw, 57, &["--ib-account", "DU7654321"]),
        &Metrics::new(),
    )
    .await
    .expect("starts with IB_ACCOUNT");
    let account = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(a) = b.account().await {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(account.account_id, "DU7654321");
    assert!(
        (account.net_liquidation - 1234.0).abs() < 1e-9,
        "{account:?}"
    );

    let unknown = build_broker(
        &config_with(&gw, 58, &["--ib-account", "DU0000000"]),
        &Metrics::new(),
    )
    .await;
    assert!(
        unknown.as_ref().is_err_and(|e| e.contains("DU0000000")),
        "an account the login does not manage must stop the start"
    );
}

#[tokio::test]
async fn order_by_key_asks_ib_for_orders_of_all_clients() {
    let gw = gateway().await;
    let b = broker(&gw, 59).await;
    let placed = b
        .place_order(resting_stock_order("by-key-ib"))
        .await
        .unwrap();
    b.shutdown().await;
    drop(b);
    let b2 = Arc::new(broker(&gw, 60).await);
    let app = app_over(b2.clone());
    let (s, body) = http_get(&app, "/orders/by-key/by-key-ib").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["id"], placed.order.id.as_str());
    assert_eq!(body["status"], "submitted");
    let (s, body) = http_get(&app, "/orders/by-key/never-placed").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "order_not_found");
    b2.shutdown().await;
    let (s, body) = http_get(&app, "/orders/by-key/never-placed").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "cannot ask IB: {body}");
}

#[tokio::test]
async fn chain_selections_through_ib_ask_only_for_what_is_named() {
    let gw = gateway().await;
    let b = Arc::new(broker(&gw, 61).await);
    let app = app_over(b.clone());
    let (s, listing) = http_get(&app, "/chain/expiries?symbol=SPY").await;
    assert_eq!(s, StatusCode::OK, "{listing}");
    let expiries: Vec<String> = listing["expiries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert!(expiries.len() > 3, "{listing}");

    let before = gw.controls.market_data_requests();
    let (s, chain) = http_get(
        &app,
        &format!(
            "/chain?symbol=SPY&expiries={},{}&strikes=2",
            expiries[1], expiries[2]
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{chain}");
    assert_eq!(chain["expiries"].as_array().unwrap().len(), 2, "{chain}");
    // 2 expiries x 2 strikes x C/P snapshots (+ at most the spot stream).
    let asked = gw.controls.market_data_requests() - before;
    assert!(asked <= 9, "{asked} market-data requests");

    let k = chain["expiries"][0]["contracts"][0]["strike"]
        .as_f64()
        .unwrap();
    let before = gw.controls.market_data_requests();
    let (s, chain) = http_get(
        &app,
        &format!(
            "/chain?symbol=SPY&contracts={e}:{k}:P,{e}:{k}:C",
            e = expiries[1]
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{chain}");
    let c = chain["expiries"][0]["contracts"].as_array().unwrap();
    assert_eq!(c.len(), 2, "{chain}");
    assert!(chain["spot"].as_f64().unwrap() > 0.0);
    assert!(gw.controls.market_data_requests() - before <= 3);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_binary_exits_nonzero_when_ib_says_client_id_in_use() {
    let gw = gateway().await;
    let b = broker(&gw, 62).await;
    let port = gw.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_broker-bridge"))
            .args([
                "--broker",
                "ib",
                "--ib-port",
                port.as_str(),
                "--ib-client-id",
                "62",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("BRIDGE_TOKEN", TOKEN)
            .env_remove("BRIDGE_HALT_FILE")
            .env_remove("IB_ACCOUNT")
            .output()
            .expect("run broker-bridge")
    });
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("the bridge must exit, not retry forever")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("326") && stderr.contains("client id 62"),
        "{stderr}"
    );
    b.shutdown().await;
}

async fn http_post(app: &Router, uri: &str, body: &Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn halt_stops_an_order_queued_behind_an_in_flight_placement() {
    let gw = gateway().await;
    // One message per second: the first placement holds the placement lock
    // for seconds (it re-reads IB's orders, then sends), the second waits.
    let mut cfg = ib_config(&gw, 56);
    cfg.messages_per_second = 1;
    let b = Arc::new(broker_with(cfg, &Metrics::new()).await);
    let halt = Arc::new(Halt::in_memory());
    b.set_order_gate(halt.clone());
    tokio::time::sleep(Duration::from_secs(5)).await; // resync after connect
    let app = router(
        AppState::new(
            b.clone(),
            &config_with_token(),
            Metrics::new(),
            Duration::from_secs(60),
        )
        .with_halt(halt),
    );
    let order = |key: &str| serde_json::to_value(resting_stock_order(key)).unwrap();

    let first = tokio::spawn({
        let (app, body) = (app.clone(), order("halt-first"));
        async move { http_post(&app, "/orders", &body).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Passes the handler's halt check (not halted yet), then queues.
    let queued = tokio::spawn({
        let (app, body) = (app.clone(), order("halt-queued"));
        async move { http_post(&app, "/orders", &body).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!first.is_finished(), "the first placement ended too soon");
    let (status, body) = http_post(
        &app,
        "/halt",
        &serde_json::json!({"halted": true, "reason": "kill switch on"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = tokio::time::timeout(Duration::from_secs(50), queued)
        .await
        .expect("the queued order answers")
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "trading_halted", "{body}");
    assert_eq!(
        body["message"], "trading is halted at the bridge: kill switch on",
        "{body}"
    );
    let _ = tokio::time::timeout(Duration::from_secs(50), first).await;
    assert!(
        gw.controls
            .orders()
            .iter()
            .all(|o| o.order_ref != "halt-queued"),
        "an order queued before the halt reached IB after it"
    );
    b.shutdown().await;
}

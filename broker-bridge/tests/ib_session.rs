//! IB session health, notices, gateway restarts and order refusal while
//! disconnected: the real `ibapi` client against the fake gateway over TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ib_support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use broker_bridge::api::{router, AppState};
use broker_bridge::broker::{Broker, BrokerError};
use broker_bridge::metrics::Metrics;
use http_body_util::BodyExt;
use ib_support::*;
use sas_bridge_api::health::ConnectionState;
use sas_bridge_api::orders::{Instrument, OrderAction, OrderLeg, OrderRequest, TimeInForce};
use sas_core::market::{DataType, Symbol};
use tower::ServiceExt;

fn stock_order(key: &str, limit: f64) -> OrderRequest {
    OrderRequest {
        idempotency_key: key.into(),
        legs: vec![OrderLeg {
            instrument: Instrument::Stock {
                symbol: Symbol::parse("AAPL").unwrap(),
            },
            action: OrderAction::Buy,
            ratio: 1,
        }],
        quantity: 1,
        limit_price: limit,
        tif: TimeInForce::Day,
    }
}

#[tokio::test]
async fn connects_and_reports_health() {
    let gw = gateway().await;
    let b = broker(&gw, 11).await;
    wait_state(&b, ConnectionState::Connected, Duration::from_secs(5)).await;
    let s = b.status().await;
    assert_eq!(s.server_version, Some(222));
    assert_eq!(s.market_data_type, DataType::Delayed);
    assert!(s.reason.is_none());
    assert_eq!(gw.controls.live_sessions(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn farm_and_connectivity_notices_move_health() {
    let gw = gateway().await;
    let metrics = Metrics::new();
    let b = broker_with(ib_config(&gw, 12), &metrics).await;
    wait_state(&b, ConnectionState::Connected, Duration::from_secs(5)).await;

    gw.controls
        .send_notice(2103, "Market data farm connection is broken:usfarm");
    wait_state(&b, ConnectionState::Degraded, Duration::from_secs(5)).await;
    assert!(b.status().await.reason.unwrap().contains("market data"));
    gw.controls
        .send_notice(2104, "Market data farm connection is OK:usfarm");
    wait_state(&b, ConnectionState::Connected, Duration::from_secs(5)).await;

    gw.controls.send_notice(
        1100,
        "Connectivity between IB and Trader Workstation has been lost.",
    );
    wait_state(&b, ConnectionState::Disconnected, Duration::from_secs(5)).await;
    let err = b
        .place_order(stock_order("while-1100", 1.0))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Disconnected { .. }), "{err:?}");
    assert_eq!(gw.controls.place_order_requests(), 0, "nothing reached IB");

    gw.controls.send_notice(
        1102,
        "Connectivity between IB and TWS has been restored - data maintained.",
    );
    wait_state(&b, ConnectionState::Connected, Duration::from_secs(5)).await;

    let text = metrics.render();
    assert!(
        text.contains(r#"bridge_ib_notices_total{code="1100"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"bridge_ib_notices_total{code="2103"} 1"#),
        "{text}"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn dropped_socket_reconnects_at_once() {
    let gw = gateway().await;
    let b = broker(&gw, 15).await;
    let before = gw.controls.connections_accepted();
    gw.controls.drop_all_connections();
    wait_state(&b, ConnectionState::Disconnected, Duration::from_secs(3)).await;
    let waited = wait_state(&b, ConnectionState::Connected, Duration::from_secs(5)).await;
    assert!(waited < Duration::from_secs(3), "took {waited:?}");
    assert_eq!(gw.controls.connections_accepted(), before + 1);
    b.shutdown().await;
}

#[tokio::test]
async fn gateway_restart_reconnects_and_streams_resume() {
    let gw = gateway().await;
    let metrics = Metrics::new();
    let b = broker_with(ib_config(&gw, 13), &metrics).await;
    let spy = Symbol::parse("SPY").unwrap();
    let first = b
        .quotes(std::slice::from_ref(&spy))
        .await
        .remove(0)
        .unwrap();
    assert!(first.bid > 0.0 && first.ask > first.bid);
    assert_eq!(first.data_type, DataType::Delayed);
    assert_eq!(gw.controls.market_data_lines(), 1);

    let downtime = Duration::from_secs(2);
    gw.controls.restart(downtime);
    wait_state(&b, ConnectionState::Disconnected, Duration::from_secs(3)).await;
    let refused = b
        .place_order(stock_order("during-restart", 1.0))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, BrokerError::Disconnected { .. }),
        "{refused:?}"
    );
    let q = b.quotes(std::slice::from_ref(&spy)).await.remove(0);
    assert!(
        matches!(q, Err(BrokerError::Disconnected { .. })),
        "stale quote served: {q:?}"
    );

    // Back within 10 s of the gateway's return.
    let waited = wait_state(
        &b,
        ConnectionState::Connected,
        Duration::from_secs(10) + downtime,
    )
    .await;
    assert!(
        waited < downtime + Duration::from_secs(10),
        "took {waited:?}"
    );
    // Asked before the new session's ticks arrive (the gateway answers the
    // resubscription late), the bridge waits for them: it never serves the
    // quote it held before the gap as the quote of now.
    gw.controls.set_response_delay(Duration::from_millis(300));
    let fresh = b
        .quotes(std::slice::from_ref(&spy))
        .await
        .remove(0)
        .unwrap();
    assert!(
        fresh.timestamp > first.timestamp,
        "served the pre-restart quote: {fresh:?}"
    );
    gw.controls.set_response_delay(Duration::ZERO);
    // The stream resubscribes by itself (no new quote request needed).
    tokio::time::timeout(Duration::from_secs(5), async {
        while gw.controls.market_data_lines() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("quote stream did not resubscribe");
    let after = b
        .quotes(std::slice::from_ref(&spy))
        .await
        .remove(0)
        .unwrap();
    assert!(after.timestamp > first.timestamp);
    assert!(metrics.render().contains("bridge_ib_reconnects_total 1"));
    assert_eq!(gw.controls.place_order_requests(), 0);
    b.shutdown().await;
}

#[tokio::test]
async fn http_refuses_orders_with_clear_json_while_gateway_is_down() {
    let gw = gateway().await;
    let cfg = bridge_config(&gw, 14);
    let mut ib = ib_support::ib_config(&gw, 14);
    ib.max_backoff = Duration::from_millis(500);
    let b = Arc::new(broker_with(ib, &Metrics::new()).await);
    gw.shutdown();
    wait_state(&b, ConnectionState::Disconnected, Duration::from_secs(3)).await;
    let app = router(AppState::new(
        b.clone(),
        &cfg.token,
        Metrics::new(),
        cfg.request_timeout,
    ));
    let body = serde_json::to_string(&serde_json::json!({
        "idempotency_key": "http-down-1",
        "legs": [{"instrument": {"type": "stock", "symbol": "AAPL"}, "action": "buy"}],
        "quantity": 1,
        "limit_price": 1.0
    }))
    .unwrap();
    let resp = app
        .clone()
        .oneshot(
            Request::post("/orders")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(json["error"], "broker_disconnected", "{json}");
    assert!(json["message"].as_str().unwrap().contains("IB"), "{json}");

    let health = app
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: serde_json::Value =
        serde_json::from_slice(&health.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(health["state"], "disconnected", "{health}");
    assert!(
        health["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "health must say why it is down: {health}"
    );
    b.shutdown().await;
}

//! In-process tests of every route through `tower::ServiceExt::oneshot`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use broker_bridge::api::{router, AppState};
use broker_bridge::broker::{Broker, BrokerError, BrokerStatus};
use broker_bridge::clock::ManualClock;
use broker_bridge::metrics::Metrics;
use broker_bridge::sim::{SimBroker, SimBrokerConfig};
use chrono::{TimeDelta, TimeZone, Utc};
use sas_bridge_api::account::Position;
use sas_bridge_api::health::{BrokerMode, ConnectionState};
use sas_bridge_api::orders::{Execution, Order, OrderRequest, PlaceOrderOutcome};
use sas_core::market::{Account, ChainWindow, DailyBar, DataType, OptionChain, Quote, Symbol};
use serde_json::{json, Value};
use tower::ServiceExt;

mod api_support;

use api_support::{
    assert_error, bridge_config, first_call, get, post, send, session_clock, sim_app, TOKEN,
};

struct Harness {
    app: Router,
    clock: Arc<ManualClock>,
}

fn harness() -> Harness {
    // Friday 2026-11-20 15:00 UTC: inside the simulated session.
    let clock = session_clock();
    Harness {
        app: sim_app(&clock),
        clock,
    }
}

#[tokio::test]
async fn health_is_open_and_minimal() {
    let h = harness();
    let (status, body, headers) = send(&h.app, Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["broker"], "sim");
    assert_eq!(body["connected"], true);
    assert_eq!(body["state"], "connected");
    assert_eq!(body["market_data_type"], "simulated");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    assert!(body["since"].is_string());
    assert!(headers.contains_key("x-request-id"));
    // The sim has no gateway: no failure reason and no server version.
    assert!(body["reason"].is_null(), "{body}");
    assert!(body["server_version"].is_null(), "{body}");
    assert!(body
        .as_object()
        .unwrap()
        .contains_key("last_tick_age_seconds"));
    assert_eq!(body.as_object().unwrap().len(), 11, "{body}");
}

#[tokio::test]
async fn every_protected_route_refuses_without_valid_token() {
    let h = harness();
    let routes = [
        (Method::GET, "/account"),
        (Method::GET, "/positions"),
        (Method::GET, "/quote?symbol=AAPL"),
        (Method::GET, "/quotes?symbols=AAPL"),
        (Method::GET, "/chain?symbol=AAPL"),
        (Method::GET, "/history/daily?symbol=AAPL&days=5"),
        (Method::GET, "/history/iv?symbol=AAPL&days=5"),
        (Method::POST, "/orders"),
        (Method::GET, "/orders"),
        (Method::GET, "/orders/1"),
        (Method::POST, "/orders/1/cancel"),
        (Method::GET, "/executions"),
        (Method::GET, "/metrics"),
    ];
    let wrong_same_len: String = TOKEN.chars().rev().collect();
    for (method, uri) in routes {
        for auth in [None, Some("nope"), Some(wrong_same_len.as_str())] {
            let (status, body, _) = send(&h.app, method.clone(), uri, auth, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {auth:?}");
            assert_eq!(
                body,
                json!({"error":"unauthorized","message":"missing or invalid bearer token"})
            );
        }
    }
    // Basic or lowercase scheme or token without scheme are refused too.
    for raw in [
        format!("Basic {TOKEN}"),
        TOKEN.to_string(),
        format!("Bearer {TOKEN} "),
    ] {
        let req = Request::builder()
            .uri("/account")
            .header(header::AUTHORIZATION, raw)
            .body(Body::empty())
            .unwrap();
        let resp = h.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn account_and_empty_positions() {
    let h = harness();
    let (status, body) = get(&h.app, "/account").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account_id"], "SIM-TEST");
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["net_liquidation"], 100_000.0);
    assert_eq!(body["cash"], 100_000.0);
    assert_eq!(body["buying_power"], 200_000.0);
    let (status, body) = get(&h.app, "/positions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"positions": []}));
}

#[tokio::test]
async fn quote_ok_and_bad_inputs() {
    let h = harness();
    let (status, q) = get(&h.app, "/quote?symbol=aapl").await;
    assert_eq!(status, StatusCode::OK, "{q}");
    let quote: Quote = serde_json::from_value(q).unwrap();
    assert_eq!(quote.symbol.as_str(), "AAPL");
    assert!(quote.bid > 0.0 && quote.bid < quote.ask);
    assert_eq!(quote.data_type, DataType::Simulated);

    let (s, b) = get(&h.app, "/quote?symbol=ZZZZ").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "unknown_symbol");
    assert!(b["message"].as_str().unwrap().contains("ZZZZ"));
    let (s, b) = get(&h.app, "/quote?symbol=1BAD").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_symbol");
    let (s, b) = get(&h.app, "/quote").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "missing_parameter");
    let (s, b) = get(&h.app, "/quote?symbol=A&symbol=B").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
    let (s, b) = get(&h.app, "/quote?symbol=%FF").await;
    assert!(s.is_client_error(), "{s} {b}");
}

#[tokio::test]
async fn quotes_partial_errors_and_list_validation() {
    let h = harness();
    let (status, body) = get(&h.app, "/quotes?symbols=AAPL,ZZZZ,spy").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let quotes = body["quotes"].as_array().unwrap();
    assert_eq!(quotes.len(), 2);
    assert_eq!(quotes[0]["symbol"], "AAPL");
    assert_eq!(quotes[1]["symbol"], "SPY");
    assert_eq!(body["errors"][0]["symbol"], "ZZZZ");
    assert_eq!(body["errors"][0]["error"], "unknown_symbol");

    let ten = sas_core::market::DEFAULT_WATCHLIST.join(",");
    let (status, body) = get(&h.app, &format!("/quotes?symbols={ten}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["quotes"].as_array().unwrap().len(), 10);
    assert_eq!(body["errors"], json!([]));

    let (s, b) = get(&h.app, "/quotes?symbols=").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "empty_symbol_list");
    let (s, b) = get(&h.app, "/quotes").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "missing_parameter");
    let (s, b) = get(&h.app, "/quotes?symbols=AAPL,MSFT,aapl").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "duplicate_symbol");
    assert!(b["message"].as_str().unwrap().contains("AAPL"));
    let (s, b) = get(&h.app, "/quotes?symbols=AAPL,$$$").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_symbol");
    let many: Vec<String> = (0..51).map(|i| format!("S{i}")).collect();
    let (s, b) = get(&h.app, &format!("/quotes?symbols={}", many.join(","))).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "too_many_symbols");
    assert!(b["message"].as_str().unwrap().contains("51"));
}

#[tokio::test]
async fn quotes_move_with_the_clock() {
    let h = harness();
    let (_, a) = get(&h.app, "/quote?symbol=TSLA").await;
    h.clock.advance(TimeDelta::minutes(30));
    let (_, b) = get(&h.app, "/quote?symbol=TSLA").await;
    assert_ne!(a["bid"], b["bid"]);
    assert!(b["volume"].as_u64().unwrap() > a["volume"].as_u64().unwrap());
}

#[tokio::test]
async fn chain_defaults_and_validation() {
    let h = harness();
    let (status, body) = get(&h.app, "/chain?symbol=SPY").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let chain: OptionChain = serde_json::from_value(body).unwrap();
    assert!(!chain.expiries.is_empty());
    for e in &chain.expiries {
        assert!((7..=60).contains(&e.dte));
        assert_eq!(e.contracts.len(), 40);
    }
    let (status, body) = get(&h.app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=4").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["expiries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["contracts"].as_array().unwrap().len() == 8));

    for (uri, code) in [
        ("/chain", "missing_parameter"),
        (
            "/chain?symbol=SPY&min_dte=30&max_dte=10",
            "invalid_parameter",
        ),
        ("/chain?symbol=SPY&strikes=0", "invalid_parameter"),
        ("/chain?symbol=SPY&strikes=101", "invalid_parameter"),
        ("/chain?symbol=SPY&max_dte=9999", "invalid_parameter"),
        ("/chain?symbol=SPY&min_dte=-1", "invalid_parameter"),
        ("/chain?symbol=SPY&strikes=ten", "invalid_parameter"),
        ("/chain?symbol=ZZZZ", "unknown_symbol"),
    ] {
        let (s, b) = get(&h.app, uri).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn daily_history_and_validation() {
    let h = harness();
    let (status, body) = get(&h.app, "/history/daily?symbol=NVDA&days=30").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["symbol"], "NVDA");
    let bars: Vec<DailyBar> = serde_json::from_value(body["bars"].clone()).unwrap();
    assert_eq!(bars.len(), 30);
    assert_eq!(bars.last().unwrap().date.to_string(), "2026-11-19");
    let (status, body) = get(&h.app, "/history/daily?symbol=NVDA&days=730").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["bars"].as_array().unwrap().len(), 730);
    for (uri, code) in [
        ("/history/daily?symbol=NVDA", "missing_parameter"),
        ("/history/daily?days=5", "missing_parameter"),
        ("/history/daily?symbol=NVDA&days=0", "invalid_parameter"),
        ("/history/daily?symbol=NVDA&days=731", "invalid_parameter"),
        ("/history/daily?symbol=NVDA&days=x", "invalid_parameter"),
        ("/history/daily?symbol=ZZZZ&days=5", "unknown_symbol"),
    ] {
        let (s, b) = get(&h.app, uri).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn iv_history_from_the_sim_and_validation() {
    let h = harness();
    let (status, body) = get(&h.app, "/history/iv?symbol=SPY&days=365").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["symbol"], "SPY");
    assert_eq!(body["source"], "sim");
    let parsed: sas_bridge_api::market::IvHistoryBody = serde_json::from_value(body).unwrap();
    // A year of sessions, oldest first, ending the session before today.
    assert!(
        (245..=256).contains(&parsed.bars.len()),
        "{}",
        parsed.bars.len()
    );
    assert!(parsed.bars.windows(2).all(|w| w[0].date < w[1].date));
    assert_eq!(parsed.bars.last().unwrap().date.to_string(), "2026-11-19");
    assert!(parsed.bars.iter().all(|b| (0.05..2.0).contains(&b.iv)));
    // A shorter request is the tail of the longer one.
    let (_, body) = get(&h.app, "/history/iv?symbol=SPY&days=30").await;
    let short: sas_bridge_api::market::IvHistoryBody = serde_json::from_value(body).unwrap();
    assert_eq!(
        short.bars[..],
        parsed.bars[parsed.bars.len() - short.bars.len()..]
    );
    for (uri, code) in [
        ("/history/iv?symbol=SPY", "missing_parameter"),
        ("/history/iv?days=5", "missing_parameter"),
        ("/history/iv?symbol=SPY&days=0", "invalid_parameter"),
        ("/history/iv?symbol=SPY&days=366", "invalid_parameter"),
        ("/history/iv?symbol=ZZZZ&days=5", "unknown_symbol"),
    ] {
        let (s, b) = get(&h.app, uri).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, code);
    }
}

fn stock_order(key: &str, action: &str, qty: u32, limit: f64) -> String {
    json!({
        "idempotency_key": key,
        "legs": [{"instrument": {"type": "stock", "symbol": "AAPL"}, "action": action}],
        "quantity": qty,
        "limit_price": limit,
    })
    .to_string()
}

#[tokio::test]
async fn marketable_stock_order_fills_and_updates_account() {
    let h = harness();
    let (_, q) = get(&h.app, "/quote?symbol=AAPL").await;
    let ask = q["ask"].as_f64().unwrap();
    let limit = ((ask + 1.0) * 100.0).round() / 100.0;
    let (status, body) = post(
        &h.app,
        "/orders",
        &stock_order("buy-aapl-1", "buy", 10, limit),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["duplicate"], false);
    let order = &body["order"];
    assert_eq!(order["status"], "filled");
    // Buy fills at min(limit, ask) = ask.
    assert!(
        (order["avg_fill_price"].as_f64().unwrap() - ask).abs() < 1e-9,
        "{order}"
    );
    let id = order["id"].as_str().unwrap().to_string();

    let (_, pos) = get(&h.app, "/positions").await;
    assert_eq!(pos["positions"][0]["quantity"], 10.0);
    assert_eq!(pos["positions"][0]["instrument"]["symbol"], "AAPL");
    let (_, acct) = get(&h.app, "/account").await;
    let cash = acct["cash"].as_f64().unwrap();
    assert!(
        (cash - (100_000.0 - 10.0 * ask - 1.0)).abs() < 0.011,
        "{acct}"
    );
    let (_, ex) = get(&h.app, "/executions").await;
    assert_eq!(ex["executions"][0]["order_id"], id.as_str());
    assert_eq!(ex["executions"][0]["quantity"], 10);
    let (s, o) = get(&h.app, &format!("/orders/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["status"], "filled");
    // A filled order cannot be cancelled.
    let (s, b) = post(&h.app, &format!("/orders/{id}/cancel"), "").await;
    assert_error(s, &b, StatusCode::CONFLICT, "order_not_cancellable");
}

#[tokio::test]
async fn idempotent_placement_and_key_conflict() {
    let h = harness();
    let (_, q) = get(&h.app, "/quote?symbol=AAPL").await;
    let low = ((q["bid"].as_f64().unwrap() * 0.8) * 100.0).round() / 100.0;
    let body = stock_order("rest-1", "buy", 5, low);
    let (s1, first) = post(&h.app, "/orders", &body).await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    assert_eq!(first["order"]["status"], "submitted");
    let (s2, second) = post(&h.app, "/orders", &body).await;
    assert_eq!(s2, StatusCode::OK, "{second}");
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["order"]["id"], first["order"]["id"]);
    let (_, open) = get(&h.app, "/orders").await;
    assert_eq!(
        open["orders"].as_array().unwrap().len(),
        1,
        "one order, not two"
    );
    // Same key, different order: refused, nothing placed.
    let (s3, third) = post(&h.app, "/orders", &stock_order("rest-1", "buy", 6, low)).await;
    assert_error(s3, &third, StatusCode::CONFLICT, "idempotency_key_conflict");
    let (_, open) = get(&h.app, "/orders").await;
    assert_eq!(open["orders"].as_array().unwrap().len(), 1);
    // Cancel it; it leaves the open list; cancelling again conflicts.
    let id = first["order"]["id"].as_str().unwrap();
    let (s, c) = post(&h.app, &format!("/orders/{id}/cancel"), "").await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "cancelled");
    let (_, open) = get(&h.app, "/orders").await;
    assert_eq!(open["orders"], json!([]));
    let (s, b) = post(&h.app, &format!("/orders/{id}/cancel"), "").await;
    assert_error(s, &b, StatusCode::CONFLICT, "order_not_cancellable");
}

#[tokio::test]
async fn resting_order_fills_when_market_crosses_or_expires_at_close() {
    let h = harness();
    let (_, q) = get(&h.app, "/quote?symbol=TSLA").await;
    // A sell limit 0.3 % above the bid rests, then fills once the bid rises
    // to it, or expires at the 21:00 UTC close.
    let limit = ((q["bid"].as_f64().unwrap() * 1.003) * 100.0).round() / 100.0;
    let body = json!({
        "idempotency_key": "tsla-sell",
        "legs": [{"instrument": {"type": "stock", "symbol": "TSLA"}, "action": "sell"}],
        "quantity": 1, "limit_price": limit, "tif": "day"
    })
    .to_string();
    let (s, placed) = post(&h.app, "/orders", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    let mut final_status = String::new();
    for _ in 0..(7 * 60) {
        h.clock.advance(TimeDelta::minutes(1));
        let (_, o) = get(&h.app, &format!("/orders/{id}")).await;
        let st = o["status"].as_str().unwrap().to_string();
        if st != "submitted" {
            if st == "filled" {
                assert!(o["avg_fill_price"].as_f64().unwrap() >= limit, "{o}");
            }
            final_status = st;
            break;
        }
    }
    assert!(
        final_status == "filled" || final_status == "expired",
        "{final_status}"
    );
}

#[tokio::test]
async fn option_credit_spread_fills_at_net_mid() {
    let h = harness();
    let (_, chain) = get(&h.app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=10").await;
    let expiry = &chain["expiries"][0];
    let puts: Vec<&Value> = expiry["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["right"] == "P")
        .collect();
    let (short, long) = (puts[3], puts[1]);
    let mid = |c: &Value| 0.5 * (c["bid"].as_f64().unwrap() + c["ask"].as_f64().unwrap());
    let net_mid = mid(long) - mid(short); // negative: a credit
    let limit = ((net_mid + 0.10) * 100.0).round() / 100.0; // accept a bit less credit
    let leg = |c: &Value, action: &str| json!({"instrument": {"type": "option", "symbol": "SPY", "expiry": expiry["expiry"], "strike": c["strike"], "right": "P"}, "action": action, "ratio": 1});
    let body = json!({
        "idempotency_key": "spy-pcs-1",
        "legs": [leg(short, "sell"), leg(long, "buy")],
        "quantity": 2, "limit_price": limit
    })
    .to_string();
    let (s, placed) = post(&h.app, "/orders", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["order"]["status"], "filled", "{placed}");
    let fill = placed["order"]["avg_fill_price"].as_f64().unwrap();
    assert!(
        (fill - (net_mid * 100.0).round() / 100.0).abs() < 0.011,
        "{fill} vs {net_mid}"
    );
    let (_, pos) = get(&h.app, "/positions").await;
    let qtys: Vec<f64> = pos["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["quantity"].as_f64().unwrap())
        .collect();
    assert_eq!(qtys.len(), 2);
    assert!(qtys.contains(&-2.0) && qtys.contains(&2.0), "{pos}");
    let (_, ex) = get(&h.app, "/executions").await;
    assert_eq!(ex["executions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn order_bad_inputs() {
    let h = harness();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "invalid_body"),
        (r#"{"idempotency_key":"a"}"#.into(), StatusCode::BAD_REQUEST, "invalid_body"),
        (stock_order("k", "hold", 1, 1.0), StatusCode::BAD_REQUEST, "invalid_body"),
        (stock_order("k", "buy", 0, 1.0), StatusCode::BAD_REQUEST, "invalid_order"),
        (stock_order("k", "buy", 1, -1.0), StatusCode::BAD_REQUEST, "invalid_order"),
        (stock_order("k", "buy", 1, 1.005), StatusCode::BAD_REQUEST, "invalid_order"),
        (stock_order("bad key", "buy", 1, 1.0), StatusCode::BAD_REQUEST, "invalid_order"),
        (stock_order("k", "buy", 5000, 1.0), StatusCode::BAD_REQUEST, "invalid_order"),
        (
            json!({"idempotency_key":"k","legs":[{"instrument":{"type":"stock","symbol":"ZZZZ"},"action":"buy"}],"quantity":1,"limit_price":1.0}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown_symbol",
        ),
        (
            json!({"idempotency_key":"k","legs":[{"instrument":{"type":"option","symbol":"SPY","expiry":"2026-12-17","strike":600,"right":"P"},"action":"buy"}],"quantity":1,"limit_price":1.0}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown_contract",
        ),
        (stock_order("k", "buy", 1000, 999.0), StatusCode::UNPROCESSABLE_ENTITY, "order_rejected"),
        (
            json!({"idempotency_key":"k","legs":[],"quantity":1,"limit_price":1.0,"extra":1}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let (s, b) = post(&h.app, "/orders", &body).await;
        assert_error(s, &b, status, code);
    }
    // Wrong content type.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/orders")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(stock_order("k", "buy", 1, 1.0)))
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Oversized body.
    let huge = format!("{{\"idempotency_key\":\"{}\"}}", "x".repeat(100_000));
    let (s, b) = post(&h.app, "/orders", &huge).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    // Nothing was placed by any of the above.
    let (_, open) = get(&h.app, "/orders").await;
    assert_eq!(open["orders"], json!([]));
    let (_, ex) = get(&h.app, "/executions").await;
    assert_eq!(ex["executions"], json!([]));
}

#[tokio::test]
async fn order_lookup_errors() {
    let h = harness();
    let (s, b) = get(&h.app, "/orders/999").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "order_not_found");
    let (s, b) = post(&h.app, "/orders/999/cancel", "").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "order_not_found");
    let (s, b) = get(&h.app, "/orders/bad%20id").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_order_id");
    let (s, b) = get(&h.app, "/orders/%FF%FE").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_path");
}

#[tokio::test]
async fn unknown_route_and_method_are_json() {
    let h = harness();
    let (s, b, _) = send(&h.app, Method::GET, "/nope", Some(TOKEN), None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b, _) = send(&h.app, Method::GET, "/nope", None, None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b, _) = send(&h.app, Method::DELETE, "/quotes", Some(TOKEN), None).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let h = harness();
    get(&h.app, "/quotes?symbols=AAPL").await;
    get(&h.app, "/quotes?symbols=AAPL").await;
    get(&h.app, "/quote?symbol=ZZZZ").await;
    let (s, text, headers) = send(&h.app, Method::GET, "/metrics", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = text.as_str().unwrap();
    assert!(
        text.contains(r#"bridge_http_requests_total{method="GET",route="/quotes",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"bridge_http_requests_total{method="GET",route="/quote",status="400"} 1"#),
        "{text}"
    );
    assert!(text.contains("bridge_http_request_duration_seconds_bucket{route=\"/quotes\""));
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let h = harness();
    let req = Request::builder()
        .uri("/health")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let (_, _, h1) = send(&h.app, Method::GET, "/health", None, None).await;
    let (_, _, h2) = send(&h.app, Method::GET, "/health", None, None).await;
    assert_ne!(h1["x-request-id"], h2["x-request-id"]);
}

/// A broker that never answers, to prove every call is bounded.
struct StuckBroker;

#[async_trait]
impl Broker for StuckBroker {
    fn mode(&self) -> BrokerMode {
        BrokerMode::Ib
    }
    async fn status(&self) -> BrokerStatus {
        BrokerStatus {
            state: ConnectionState::Disconnected,
            since: Utc::now(),
            reason: Some("gateway unreachable".into()),
            server_version: None,
            market_data_type: DataType::Delayed,
            last_tick_age: None,
        }
    }
    async fn account(&self) -> Result<Account, BrokerError> {
        std::future::pending().await
    }
    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        Err(BrokerError::Disconnected {
            reason: "gateway unreachable".into(),
        })
    }
    async fn quotes(&self, symbols: &[Symbol]) -> Vec<Result<Quote, BrokerError>> {
        symbols
            .iter()
            .map(|_| {
                Err(BrokerError::Disconnected {
                    reason: "gateway unreachable".into(),
                })
            })
            .collect()
    }
    async fn option_chain(&self, _: &Symbol, _: ChainWindow) -> Result<OptionChain, BrokerError> {
        std::future::pending().await
    }
    async fn option_chain_for_expiries(
        &self,
        _: &Symbol,
        _: &[chrono::NaiveDate],
        _: u32,
    ) -> Result<OptionChain, BrokerError> {
        std::future::pending().await
    }
    async fn option_chain_for_contracts(
        &self,
        _: &Symbol,
        _: &[sas_bridge_api::chain::ChainContract],
    ) -> Result<OptionChain, BrokerError> {
        std::future::pending().await
    }
    async fn chain_expiries(&self, _: &Symbol) -> Result<Vec<chrono::NaiveDate>, BrokerError> {
        Err(BrokerError::Timeout)
    }
    async fn daily_history(&self, _: &Symbol, _: u32) -> Result<Vec<DailyBar>, BrokerError> {
        Err(BrokerError::Pacing {
            code: Some(162),
            message: "historical data pacing violation".into(),
            retry_after: None,
        })
    }
    async fn place_order(&self, _: OrderRequest) -> Result<PlaceOrderOutcome, BrokerError> {
        Err(BrokerError::OrderWindowClosed {
            reason: "IB daily reset".into(),
        })
    }
    async fn cancel_order(&self, _: &str) -> Result<Order, BrokerError> {
        Err(BrokerError::Internal("secret socket detail".into()))
    }
    async fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        Err(BrokerError::NoMarketDataPermission {
            symbol: None,
            code: Some(354),
            message: "not subscribed".into(),
        })
    }
    async fn order(&self, _: &str) -> Result<Order, BrokerError> {
        Err(BrokerError::Rejected {
            code: Some(201),
            message: "margin".into(),
        })
    }
    async fn order_by_key(&self, _: &str) -> Result<Order, BrokerError> {
        Err(BrokerError::Timeout)
    }
    async fn executions(&self) -> Result<Vec<Execution>, BrokerError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn broker_errors_map_to_status_codes_and_timeouts() {
    let cfg = bridge_config();
    let state = AppState::new(
        Arc::new(StuckBroker),
        &cfg.token,
        Metrics::new(),
        Duration::from_millis(50),
    );
    let app = router(state);
    let (s, b, _) = send(&app, Method::GET, "/health", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b["status"], "down");
    assert_eq!(b["connected"], false);
    assert_eq!(b["broker"], "ib");
    assert_eq!(b["market_data_type"], "delayed");
    for (uri, status, code) in [
        ("/account", StatusCode::GATEWAY_TIMEOUT, "timeout"),
        ("/chain?symbol=SPY", StatusCode::GATEWAY_TIMEOUT, "timeout"),
        ("/executions", StatusCode::GATEWAY_TIMEOUT, "timeout"),
        (
            "/positions",
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_disconnected",
        ),
        (
            "/quotes?symbols=AAPL,MSFT",
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_disconnected",
        ),
        (
            "/quote?symbol=AAPL",
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_disconnected",
        ),
        (
            "/history/daily?symbol=SPY&days=5",
            StatusCode::TOO_MANY_REQUESTS,
            "pacing",
        ),
        (
            "/orders",
            StatusCode::FORBIDDEN,
            "no_market_data_permission",
        ),
        (
            "/orders/7",
            StatusCode::UNPROCESSABLE_ENTITY,
            "order_rejected",
        ),
    ] {
        let (s, b) = get(&app, uri).await;
        assert_error(s, &b, status, code);
    }
    let (s, b) = get(&app, "/history/daily?symbol=SPY&days=5").await;
    assert!(b["message"].as_str().unwrap().contains("162"), "{s} {b}");
    let (s, b) = post(&app, "/orders", &stock_order("k1", "buy", 1, 1.0)).await;
    assert_error(s, &b, StatusCode::CONFLICT, "order_window_closed");
    let (s, b) = post(&app, "/orders/7/cancel", "").await;
    assert_error(s, &b, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert!(
        !b.to_string().contains("secret"),
        "internal detail leaked: {b}"
    );
}

fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b',' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// Whatever arrives in a query, path or body, the answer is a JSON 2xx/4xx,
    /// never a 5xx or a panic.
    #[test]
    fn arbitrary_inputs_never_cause_server_errors(
        raw in "\\PC{0,40}",
        route in 0usize..7,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let h = harness();
            let enc = percent_encode(&raw);
            let (method, uri, body) = match route {
                0 => (Method::GET, format!("/quote?symbol={enc}"), None),
                1 => (Method::GET, format!("/quotes?symbols={enc}"), None),
                2 => (Method::GET, format!("/chain?symbol=SPY&max_dte={enc}&strikes={enc}"), None),
                3 => (Method::GET, format!("/history/daily?symbol={enc}&days={enc}"), None),
                4 => (Method::GET, format!("/orders/{enc}"), None),
                5 => (Method::POST, format!("/orders/{enc}/cancel"), None),
                _ => (Method::POST, "/orders".to_string(), Some(raw.clone())),
            };
            let (status, value, _) = send(&h.app, method, &uri, Some(TOKEN), body.as_deref()).await;
            assert!(status.is_success() || status.is_client_error(), "{uri}: {status} {value}");
            if status.is_client_error() {
                assert!(value["error"].is_string(), "{uri}: non-JSON error {value}");
            }
        });
    }
}

#[tokio::test]
async fn day_orders_expire_at_the_close_and_gtc_orders_keep_working() {
    let h = harness();
    let (_, q) = get(&h.app, "/quote?symbol=AAPL").await;
    let far = ((q["bid"].as_f64().unwrap() * 0.5) * 100.0).round() / 100.0;
    let day = stock_order("day-1", "buy", 1, far);
    let mut gtc: Value = serde_json::from_str(&stock_order("gtc-1", "buy", 1, far)).unwrap();
    gtc["tif"] = json!("gtc");
    let (_, d) = post(&h.app, "/orders", &day).await;
    let (_, g) = post(&h.app, "/orders", &gtc.to_string()).await;
    // 15:00 -> 21:01 UTC: past the simulated 16:00 ET close.
    h.clock.advance(TimeDelta::minutes(361));
    let (_, d) = get(
        &h.app,
        &format!("/orders/{}", d["order"]["id"].as_str().unwrap()),
    )
    .await;
    let (_, g) = get(
        &h.app,
        &format!("/orders/{}", g["order"]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(d["status"], "expired", "{d}");
    assert!(d["status_message"].as_str().unwrap().contains("expired"));
    assert_eq!(g["status"], "submitted", "{g}");
    let (_, open) = get(&h.app, "/orders").await;
    assert_eq!(open["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expiring_options_cash_settle_at_intrinsic() {
    let h = harness();
    // Today's (2026-11-20) monthly expiry, deep in-the-money call.
    let (_, chain) = get(&h.app, "/chain?symbol=SPY&min_dte=0&max_dte=0&strikes=30").await;
    let expiry = &chain["expiries"][0];
    assert_eq!(expiry["expiry"], "2026-11-20");
    let call = first_call(&expiry["contracts"]);
    let strike = call["strike"].as_f64().unwrap();
    let ask = call["ask"].as_f64().unwrap();
    let body = json!({
        "idempotency_key": "itm-call",
        "legs": [{"instrument": {"type": "option", "symbol": "SPY", "expiry": "2026-11-20", "strike": strike, "right": "C"}, "action": "buy"}],
        "quantity": 1, "limit_price": ask
    })
    .to_string();
    let (s, placed) = post(&h.app, "/orders", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["order"]["status"], "filled", "{placed}");
    let (_, before) = get(&h.app, "/account").await;
    let cash_before = before["cash"].as_f64().unwrap();
    // Exactly the 21:00 UTC close: settlement uses this step's price, which
    // the quote below shows.
    h.clock.advance(TimeDelta::minutes(360));
    let (_, pos) = get(&h.app, "/positions").await;
    assert_eq!(pos["positions"], json!([]), "expired option still held");
    let (_, after) = get(&h.app, "/account").await;
    let (_, spot) = get(&h.app, "/quote?symbol=SPY").await;
    assert_eq!(spot["timestamp"], "2026-11-20T21:00:00Z");
    let mid = 0.5 * (spot["bid"].as_f64().unwrap() + spot["ask"].as_f64().unwrap());
    let intrinsic = (mid - strike).max(0.0) * 100.0;
    let credited = after["cash"].as_f64().unwrap() - cash_before;
    assert!(
        credited > 0.0 && (credited - intrinsic).abs() < 3.0,
        "{credited} vs {intrinsic}"
    );
    // Later requests do not settle it twice.
    h.clock.advance(TimeDelta::minutes(5));
    let (_, later) = get(&h.app, "/account").await;
    assert_eq!(later["cash"], after["cash"]);
}

#[tokio::test]
async fn resting_order_fills_at_the_step_it_became_marketable_even_without_requests() {
    let h = harness();
    let (_, q) = get(&h.app, "/quote?symbol=TSLA").await;
    let limit = ((q["bid"].as_f64().unwrap() * 1.001) * 100.0).round() / 100.0;
    let body = json!({
        "idempotency_key": "tsla-idle",
        "legs": [{"instrument": {"type": "stock", "symbol": "TSLA"}, "action": "sell"}],
        "quantity": 3, "limit_price": limit, "tif": "gtc"
    })
    .to_string();
    let (_, placed) = post(&h.app, "/orders", &body).await;
    assert_eq!(placed["order"]["status"], "submitted", "{placed}");
    // No request for five hours of (simulated) time, then one look.
    h.clock.advance(TimeDelta::hours(5));
    let (_, ex) = get(&h.app, "/executions").await;
    let fill = &ex["executions"][0];
    assert_eq!(fill["quantity"], 3, "{ex}");
    assert!(fill["price"].as_f64().unwrap() >= limit, "{fill}");
    let filled_at: chrono::DateTime<Utc> = serde_json::from_value(fill["time"].clone()).unwrap();
    let placed_at = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
    assert!(
        filled_at > placed_at && filled_at < placed_at + TimeDelta::hours(5),
        "filled at {filled_at}, not at an intermediate step"
    );
    let (_, pos) = get(&h.app, "/positions").await;
    assert_eq!(pos["positions"][0]["quantity"], -3.0, "{pos}");
}

#[tokio::test]
async fn option_premium_cannot_be_bought_on_margin() {
    let h = harness();
    // 100k cash: 300 contracts at $4.00 = $120k of premium exceeds the
    // account even though Reg-T stock buying power is $200k.
    let (_, chain) = get(&h.app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=2").await;
    let expiry = chain["expiries"][0]["expiry"].clone();
    let strike = chain["expiries"][0]["contracts"][0]["strike"].clone();
    let order = |qty: u32, key: &str| {
        json!({
            "idempotency_key": key,
            "legs": [{"instrument": {"type": "option", "symbol": "SPY", "expiry": expiry, "strike": strike, "right": "P"}, "action": "buy"}],
            "quantity": qty, "limit_price": 4.0
        })
        .to_string()
    };
    let (s, b) = post(&h.app, "/orders", &order(300, "too-big")).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "order_rejected");
    assert!(
        b["message"].as_str().unwrap().contains("buying power"),
        "{b}"
    );
    let (s, b) = post(&h.app, "/orders", &order(200, "fits")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn ticker_keeps_the_market_current_and_stops_with_the_broker() {
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let broker = Arc::new(
        SimBroker::new(
            SimBrokerConfig {
                seed: 42,
                universe: vec![Symbol::parse("TSLA").unwrap()],
                starting_cash: 100_000.0,
                account_id: "SIM-TICK".into(),
                start: None,
            },
            clock.clone(),
        )
        .unwrap(),
    );
    let ticker = broker_bridge::sim::spawn_ticker(&broker, Duration::from_millis(5));
    clock.advance(TimeDelta::hours(2));
    // No request is made: only the ticker can move the simulated clock.
    let mut caught_up = false;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if broker.simulated_time() == start + TimeDelta::hours(2) {
            caught_up = true;
            break;
        }
    }
    assert!(caught_up, "market at {}", broker.simulated_time());
    drop(broker);
    tokio::time::timeout(Duration::from_secs(2), ticker)
        .await
        .expect("ticker stops once the broker is dropped")
        .unwrap();
}

/// A marketable SPY put credit spread of `quantity` under `key`.
async fn marketable_spread(app: &Router, key: &str, quantity: u32) -> String {
    let (_, chain) = get(app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=10").await;
    let expiry = &chain["expiries"][0];
    let puts: Vec<&Value> = expiry["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["right"] == "P")
        .collect();
    let (short, long) = (puts[3], puts[1]);
    let mid = |c: &Value| 0.5 * (c["bid"].as_f64().unwrap() + c["ask"].as_f64().unwrap());
    let limit = ((mid(long) - mid(short) + 0.10) * 100.0).round() / 100.0;
    let leg = |c: &Value, action: &str| json!({"instrument": {"type": "option", "symbol": "SPY", "expiry": expiry["expiry"], "strike": c["strike"], "right": "P"}, "action": action});
    json!({
        "idempotency_key": key,
        "legs": [leg(short, "sell"), leg(long, "buy")],
        "quantity": quantity, "limit_price": limit
    })
    .to_string()
}

#[tokio::test]
async fn seeded_partial_fills_are_deterministic_and_the_rest_fills_in_full_mode() {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let h = harness();
        let (s, c) = post(&h.app, "/sim/control", r#"{"fill":"partial"}"#).await;
        assert_eq!((s, &c["fill"]), (StatusCode::OK, &json!("partial")), "{c}");
        // Five spreads: the sim asks 20 % of spot per short put as margin, and
        // SPY stands near 780 here (the daily path's close, not its 670
        // start price), so seven would need more than the 100,000 account.
        let body = marketable_spread(&h.app, "pcs-partial", 5).await;
        let (s, placed) = post(&h.app, "/orders", &body).await;
        assert_eq!(s, StatusCode::CREATED, "{placed}");
        let order = &placed["order"];
        assert_eq!(order["status"], "partially_filled", "{order}");
        let filled = order["filled_quantity"].as_u64().unwrap();
        assert!((1..5).contains(&filled), "{order}");
        // A combo fills at or inside its limit (a credit: at least the limit's).
        let avg = order["avg_fill_price"].as_f64().unwrap();
        assert!(
            avg <= order["limit_price"].as_f64().unwrap() + 1e-9,
            "{order}"
        );
        // Partial mode fills each order once; time passing adds nothing.
        h.clock.advance(TimeDelta::seconds(30));
        let id = order["id"].as_str().unwrap().to_string();
        let (_, again) = get(&h.app, &format!("/orders/{id}")).await;
        assert_eq!(again["filled_quantity"], filled);
        // Executions by key: one per leg, the filled units, key and contract id.
        let (_, ex) = get(&h.app, "/executions?key=pcs-partial").await;
        let ex = ex["executions"].as_array().unwrap().clone();
        assert_eq!(ex.len(), 2);
        for e in &ex {
            assert_eq!(e["quantity"], filled);
            assert_eq!(e["idempotency_key"], "pcs-partial");
            assert!(e["con_id"].as_i64().unwrap() > 0);
            assert!((e["commission"].as_f64().unwrap() - 0.65 * filled as f64).abs() < 1e-9);
        }
        let (_, other) = get(&h.app, "/executions?key=someone-else").await;
        assert_eq!(other["executions"], json!([]));
        // Positions carry the same contract ids, sized by the partial fill.
        let (_, pos) = get(&h.app, "/positions").await;
        for p in pos["positions"].as_array().unwrap() {
            let e = ex.iter().find(|e| e["con_id"] == p["con_id"]).unwrap();
            let sign = if e["action"] == "sell" { -1.0 } else { 1.0 };
            assert_eq!(p["quantity"].as_f64().unwrap(), sign * filled as f64, "{p}");
        }
        // Full mode again: the rest fills at once.
        let (_, c) = post(&h.app, "/sim/control", r#"{"fill":"full"}"#).await;
        assert_eq!(c["fill"], "full");
        let (_, done) = get(&h.app, &format!("/orders/{id}")).await;
        assert_eq!(
            (&done["status"], &done["filled_quantity"]),
            (&json!("filled"), &json!(5))
        );
        let (_, ex) = get(&h.app, "/executions?key=pcs-partial").await;
        let units: u64 = ex["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["quantity"].as_u64().unwrap())
            .sum();
        assert_eq!(units, 10, "5 of each leg, nothing counted twice");
        seen.push((filled, ex));
    }
    assert_eq!(seen[0], seen[1], "same seed, same fills");
}

#[tokio::test]
async fn cancel_of_a_partially_filled_sim_order_keeps_the_filled_part() {
    let h = harness();
    post(&h.app, "/sim/control", r#"{"fill":"partial"}"#).await;
    let (_, placed) = post(
        &h.app,
        "/orders",
        &marketable_spread(&h.app, "pcs-c", 5).await,
    )
    .await;
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    let filled = placed["order"]["filled_quantity"].as_u64().unwrap();
    assert!(filled > 0 && filled < 5, "{placed}");
    let (s, cancelled) = post(&h.app, &format!("/orders/{id}/cancel"), "").await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["filled_quantity"], filled);
    // Full mode later does not revive it.
    post(&h.app, "/sim/control", r#"{"fill":"full"}"#).await;
    let (_, pos) = get(&h.app, "/positions").await;
    for p in pos["positions"].as_array().unwrap() {
        assert_eq!(p["quantity"].as_f64().unwrap().abs(), filled as f64, "{p}");
    }
    // With fill none a marketable order rests untouched.
    post(&h.app, "/sim/control", r#"{"fill":"none"}"#).await;
    let (_, rest) = post(
        &h.app,
        "/orders",
        &marketable_spread(&h.app, "pcs-n", 1).await,
    )
    .await;
    assert_eq!(rest["order"]["status"], "submitted", "{rest}");
    let (_, ex) = get(&h.app, "/executions?key=pcs-n").await;
    assert_eq!(ex["executions"], json!([]));
}

#[tokio::test]
async fn control_route_moves_the_underlying_and_widens_spreads_so_a_resting_exit_fills() {
    let h = harness();
    let (_, q0) = get(&h.app, "/quote?symbol=AAPL").await;
    let (bid0, ask0) = (q0["bid"].as_f64().unwrap(), q0["ask"].as_f64().unwrap());
    // Buy 10 AAPL, then rest a sell 2% above the bid: it cannot fill...
    let (_, bought) = post(&h.app, "/orders", &stock_order("buy-aapl", "buy", 10, ask0)).await;
    assert_eq!(bought["order"]["status"], "filled", "{bought}");
    let target = ((bid0 * 1.02) * 100.0).round() / 100.0;
    let (_, exit) = post(
        &h.app,
        "/orders",
        &stock_order("tp-aapl", "sell", 10, target),
    )
    .await;
    assert_eq!(exit["order"]["status"], "submitted", "{exit}");
    // ...until the control moves AAPL up 3%: the take-profit fills at once.
    let (s, c) = post(
        &h.app,
        "/sim/control",
        r#"{"symbol":"AAPL","move_pct":3.0}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert!(c["quote"]["bid"].as_f64().unwrap() > bid0 * 1.025, "{c}");
    let id = exit["order"]["id"].as_str().unwrap();
    let (_, o) = get(&h.app, &format!("/orders/{id}")).await;
    assert_eq!(o["status"], "filled", "{o}");
    assert!(o["avg_fill_price"].as_f64().unwrap() >= target);
    // Spreads widen on request, on the stock and its options.
    let (_, before) = get(&h.app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=2").await;
    let (_, c) = post(
        &h.app,
        "/sim/control",
        r#"{"symbol":"SPY","spread_multiplier":4.0}"#,
    )
    .await;
    let (_, after) = get(&h.app, "/chain?symbol=SPY&min_dte=20&max_dte=40&strikes=2").await;
    let spread = |c: &Value| c["ask"].as_f64().unwrap() - c["bid"].as_f64().unwrap();
    let (_, spy) = get(&h.app, "/quote?symbol=SPY").await;
    assert_eq!(spread(&c["quote"]), spread(&spy));
    let b = &before["expiries"][0]["contracts"][0];
    let a = &after["expiries"][0]["contracts"][0];
    assert!(spread(a) > 2.0 * spread(b), "{a} vs {b}");
    // Bad requests change nothing and say why; JSON and the token required.
    for (body, status, code) in [
        (
            r#"{"move_pct":1.0}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (r#"{}"#, StatusCode::BAD_REQUEST, "invalid_request"),
        (
            r#"{"symbol":"ZZZZ","move_pct":1.0}"#,
            StatusCode::BAD_REQUEST,
            "unknown_symbol",
        ),
        (
            r#"{"symbol":"SPY","spread_multiplier":0.1}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            r#"{"symbol":"SPY","move_pct":1.0,"spread_multiplier":0.1}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            r#"{"fill":"sometimes"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"fill":"full","extra":1}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let (s, b) = post(&h.app, "/sim/control", body).await;
        assert_error(s, &b, status, code);
    }
    let (_, spy_after) = get(&h.app, "/quote?symbol=SPY").await;
    assert!(
        (spy_after["bid"].as_f64().unwrap() / spy["bid"].as_f64().unwrap() - 1.0).abs() < 0.005
    );
    let (s, b, _) = send(
        &h.app,
        Method::POST,
        "/sim/control",
        None,
        Some(r#"{"fill":"none"}"#),
    )
    .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, _) = get(&h.app, "/executions?key=has%20space").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A misspelt filter is refused, never answered with every fill.
    let (s, _) = get(&h.app, "/executions?keys=buy-aapl").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, ex) = get(&h.app, "/executions?key=buy-aapl").await;
    assert_eq!(ex["executions"].as_array().unwrap().len(), 1, "{ex}");
}

#[tokio::test]
async fn control_and_clock_routes_are_absent_in_ib_mode() {
    let cfg = bridge_config();
    let app = router(AppState::new(
        Arc::new(StuckBroker),
        &cfg.token,
        Metrics::new(),
        Duration::from_millis(50),
    ));
    let (s, b) = post(&app, "/sim/control", r#"{"symbol":"SPY","move_pct":-3.0}"#).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = post(&app, "/sim/clock", r#"{"at":"2030-01-02T15:00:00Z"}"#).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    // In sim mode the same request is served.
    let h = harness();
    let (s, _) = post(
        &h.app,
        "/sim/control",
        r#"{"symbol":"SPY","move_pct":-3.0}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

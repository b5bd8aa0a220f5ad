//! Quotes, option chains with greeks, daily history and IB market-data
//! errors through the IB broker against the fake gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ib_support;

use std::time::Duration;

use broker_bridge::broker::{Broker, BrokerError};
use broker_bridge::metrics::Metrics;
use ib_support::*;
use sas_core::market::{ChainWindow, DataType, OptionRight, Symbol};

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

#[tokio::test]
async fn quotes_one_bad_name_does_not_block_the_others() {
    let gw = gateway().await;
    let b = broker(&gw, 21).await;
    let out = b.quotes(&[sym("AAPL"), sym("ZZZZ"), sym("MSFT")]).await;
    let aapl = out[0].as_ref().unwrap();
    assert!(aapl.bid > 0.0 && aapl.ask >= aapl.bid && aapl.last > 0.0);
    assert_eq!(aapl.data_type, DataType::Delayed);
    assert!(
        matches!(
            &out[1],
            Err(BrokerError::UnknownSymbol {
                code: Some(200),
                ..
            })
        ),
        "{:?}",
        out[1]
    );
    assert!(out[2].is_ok());
    // Lines are reused: a second request opens no new market-data line.
    let before = gw.controls.market_data_requests();
    let again = b.quotes(&[sym("AAPL")]).await;
    assert!(again[0].is_ok());
    assert_eq!(gw.controls.market_data_requests(), before);
    assert_eq!(gw.controls.market_data_lines(), 2);
    b.shutdown().await;
}

#[tokio::test]
async fn idle_streams_expire_and_free_their_lines() {
    let gw = gateway().await;
    let mut cfg = ib_config(&gw, 22);
    cfg.quote_ttl = Duration::from_millis(300);
    let metrics = Metrics::new();
    let b = broker_with(cfg, &metrics).await;
    assert!(b.quotes(&[sym("QQQ")]).await[0].is_ok());
    assert_eq!(gw.controls.market_data_lines(), 1);
    tokio::time::timeout(Duration::from_secs(8), async {
        while gw.controls.market_data_lines() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("idle stream never expired");
    assert!(metrics.render().contains("bridge_ib_market_data_lines 0"));
    b.shutdown().await;
}

#[tokio::test]
async fn slow_gateway_answers_time_out_then_recover() {
    let gw = gateway().await;
    let mut cfg = ib_config(&gw, 27);
    cfg.quote_timeout = Duration::from_millis(300);
    let b = broker_with(cfg, &Metrics::new()).await;
    gw.controls.set_response_delay(Duration::from_millis(1500));
    let out = b.quotes(&[sym("TSLA")]).await;
    assert!(matches!(out[0], Err(BrokerError::Timeout)), "{:?}", out[0]);
    gw.controls.set_response_delay(Duration::ZERO);
    // The stream opened by the first request delivers once the gateway answers.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let out = b.quotes(&[sym("TSLA")]).await;
    assert!(out[0].is_ok(), "{:?}", out[0]);
    b.shutdown().await;
}

#[tokio::test]
async fn no_market_data_permission_is_reported() {
    let gw = gateway().await;
    let mut cfg = ib_config(&gw, 23);
    cfg.market_data_type = DataType::Live;
    let b = broker_with(cfg, &Metrics::new()).await;
    gw.controls.deny_market_data("NVDA", 354);
    let out = b.quotes(&[sym("NVDA")]).await;
    match &out[0] {
        Err(BrokerError::NoMarketDataPermission { code, symbol, .. }) => {
            assert_eq!(*code, Some(354));
            assert_eq!(symbol.as_deref(), Some("NVDA"));
        }
        other => panic!("expected permission error, got {other:?}"),
    }
    b.shutdown().await;
}

#[tokio::test]
async fn chain_has_greeks_for_every_contract() {
    let gw = gateway().await;
    let b = broker(&gw, 24).await;
    let window = ChainWindow {
        min_dte: 0,
        max_dte: 30,
        strikes: 6,
    };
    let chain = b.option_chain(&sym("SPY"), window).await.unwrap();
    assert_eq!(chain.data_type, DataType::Delayed);
    assert!(!chain.expiries.is_empty());
    for e in &chain.expiries {
        assert!(e.dte <= 30);
        assert_eq!(
            e.contracts.len(),
            12,
            "6 strikes x call/put at {}",
            e.expiry
        );
        for c in &e.contracts {
            let d = c.greeks.delta.expect("delta");
            match c.right {
                OptionRight::Call => assert!(d > 0.0 && d < 1.0),
                OptionRight::Put => assert!(d < 0.0 && d > -1.0),
            }
            assert!(c.greeks.iv.unwrap() > 0.0);
            // IB sends no bid for a near-worthless option (a far
            // out-of-the-money contract close to expiry): then the ask is a
            // tick or two. Otherwise both sides are there and not crossed.
            let ask = c.ask.expect("ask");
            match c.bid {
                Some(bid) => assert!(bid <= ask, "{} {c:?}", e.expiry),
                None => assert!(ask <= 0.05, "no bid on a priced option: {} {c:?}", e.expiry),
            }
        }
        let strikes: Vec<f64> = e.contracts.iter().map(|c| c.strike).collect();
        let lo = strikes.first().unwrap();
        let hi = strikes.last().unwrap();
        assert!(
            *lo < chain.spot && *hi > chain.spot,
            "strikes {lo}..{hi} around {}",
            chain.spot
        );
    }
    // Every snapshot line was returned.
    assert_eq!(
        gw.controls.market_data_lines(),
        1,
        "only the SPY quote stream stays"
    );
    assert!(gw.controls.max_messages_per_second() <= 50);
    b.shutdown().await;
}

#[tokio::test]
async fn oversized_chain_window_is_refused_before_any_snapshot() {
    let gw = gateway().await;
    let b = broker(&gw, 26).await;
    let window = ChainWindow {
        min_dte: 0,
        max_dte: 400,
        strikes: 100,
    };
    let err = b.option_chain(&sym("SPY"), window).await.unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::InvalidRequest {
                field: "window",
                ..
            }
        ),
        "{err:?}"
    );
    // Only the underlying's quote stream was requested.
    assert_eq!(gw.controls.market_data_requests(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn daily_history_and_pacing_violation() {
    let gw = gateway().await;
    let b = broker(&gw, 25).await;
    let bars = b.daily_history(&sym("IWM"), 30).await.unwrap();
    assert_eq!(bars.len(), 30);
    assert!(bars.windows(2).all(|w| w[0].date < w[1].date));
    gw.controls.pace_next_historical();
    // 31, not 30 again: an identical request would wait 15 s for its turn.
    let err = b.daily_history(&sym("IWM"), 31).await.unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::Pacing {
                code: Some(162),
                ..
            }
        ),
        "{err:?}"
    );
    let err = b.daily_history(&sym("ZZZZ"), 5).await.unwrap_err();
    assert!(matches!(err, BrokerError::UnknownSymbol { .. }), "{err:?}");
    b.shutdown().await;
}

#[tokio::test]
async fn ib_errors_reach_http_as_json_with_the_ib_code() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use broker_bridge::api::{router, AppState};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let gw = gateway().await;
    let cfg = bridge_config(&gw, 28);
    let mut ib = ib_config(&gw, 28);
    ib.market_data_type = DataType::Live;
    let b = std::sync::Arc::new(broker_with(ib, &Metrics::new()).await);
    gw.controls.deny_market_data("META", 10089);
    let app = router(AppState::new(
        b.clone(),
        &cfg.token,
        Metrics::new(),
        cfg.request_timeout,
    ));
    let get = |uri: &str| {
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    for (uri, status, code, ib_code) in [
        (
            "/quote?symbol=ZZZZ",
            StatusCode::BAD_REQUEST,
            "unknown_symbol",
            "200",
        ),
        (
            "/quote?symbol=META",
            StatusCode::FORBIDDEN,
            "no_market_data_permission",
            "10089",
        ),
    ] {
        let resp = app.clone().oneshot(get(uri)).await.unwrap();
        assert_eq!(resp.status(), status, "{uri}");
        let json: serde_json::Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(json["error"], code, "{json}");
        assert!(
            json["message"].as_str().unwrap().contains(ib_code),
            "{json}"
        );
    }
    gw.controls.pace_next_historical();
    let resp = app
        .clone()
        .oneshot(get("/history/daily?symbol=SPY&days=5"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    b.shutdown().await;
}

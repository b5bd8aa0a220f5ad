//! IV history (`OPTION_IMPLIED_VOLATILITY` daily bars) through the real
//! `ibapi` client against the fake gateway, under IB's historical-data
//! pacing, which the fake enforces (error 162) and counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ib_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_bridge::broker::{Broker, BrokerError};
use broker_bridge::ib::pacing::PacingRules;
use broker_bridge::ib::IbBroker;
use broker_bridge::metrics::Metrics;
use fake_ib_gateway::{FakeConfig, FakeGateway, HistoricalPacing};
use ib_support::*;
use sas_core::market::Symbol;

const TEN: [&str; 10] = [
    "SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM",
];

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

async fn gateway_with(pacing: HistoricalPacing) -> FakeGateway {
    FakeGateway::start(FakeConfig {
        tick_interval: Duration::from_millis(50),
        historical_pacing: Some(pacing),
        ..FakeConfig::default()
    })
    .await
    .unwrap()
}

/// Backfills one year of IV for every symbol at once (the pacer orders
/// them) and returns the wall time.
async fn backfill(b: &Arc<IbBroker>) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = TEN
        .iter()
        .map(|s| {
            let b = b.clone();
            tokio::spawn(async move { (s, b.iv_history(&sym(s), 365).await) })
        })
        .collect();
    for t in tasks {
        let (s, bars) = t.await.unwrap();
        let bars = bars.unwrap_or_else(|e| panic!("{s}: {e:?}"));
        assert!(
            (245..=256).contains(&bars.len()),
            "{s}: {} bars",
            bars.len()
        );
        assert!(bars.windows(2).all(|w| w[0].date < w[1].date));
        assert!(bars.iter().all(|b| (0.05..3.0).contains(&b.iv)));
    }
    start.elapsed()
}

#[tokio::test]
async fn iv_backfill_of_ten_symbols_with_ib_rules_has_zero_violations_and_no_wait() {
    // IB's real numbers in the fake and the bridge. Ten distinct contracts,
    // one request each: no rule binds (10 < 60 per 10 min, 1 < 6 per
    // contract per 2 s, nothing identical), so the floor is 0 s of waiting.
    let gw = gateway_with(HistoricalPacing::IB).await;
    let b = Arc::new(broker(&gw, 61).await);
    let took = backfill(&b).await;
    println!(
        "IB rules: 10 x one-year IV backfill took {:.3} s; pacing floor 0 s",
        took.as_secs_f64()
    );
    assert_eq!(gw.controls.historical_pacing_violations(), 0);
    assert_eq!(gw.controls.historical_requests(), 10);
    assert!(
        took < Duration::from_secs(3),
        "waited {took:?} with no rule binding"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn iv_backfill_under_shortened_rules_waits_exactly_what_the_rules_force() {
    // Test-only shortened pacing, the same in the fake and the bridge: at
    // most 4 requests in any 1 s (IB: 60 in 600 s), identical 150 ms (IB:
    // 15 s), 6 per contract in 20 ms (IB: 2 s); bridge margin 20 ms.
    let fake_rules = HistoricalPacing {
        identical_gap: Duration::from_millis(150),
        window: Duration::from_secs(1),
        window_max: 4,
        per_contract_window: Duration::from_millis(20),
        per_contract_max: 6,
    };
    let bridge_rules = PacingRules {
        identical_gap: fake_rules.identical_gap,
        window: fake_rules.window,
        window_max: fake_rules.window_max,
        per_contract_window: fake_rules.per_contract_window,
        per_contract_max: fake_rules.per_contract_max,
        margin: Duration::from_millis(20),
    };
    let gw = gateway_with(fake_rules).await;
    let mut cfg = ib_config(&gw, 62);
    cfg.historical_pacing = bridge_rules;
    let b = Arc::new(broker_with(cfg, &Metrics::new()).await);
    let took = backfill(&b).await;
    // Floor: requests 1-4 at 0, 5-8 one window after 1-4, 9-10 one window
    // after 5-6: two full windows (plus the bridge's margin each time).
    let rules_floor = 2 * fake_rules.window;
    let with_margin = rules_floor + 2 * bridge_rules.margin;
    println!(
        "shortened rules: 10 x IV backfill took {:.3} s; rules force {:.3} s ({:.3} s with margin)",
        took.as_secs_f64(),
        rules_floor.as_secs_f64(),
        with_margin.as_secs_f64()
    );
    assert_eq!(gw.controls.historical_pacing_violations(), 0);
    assert!(
        took >= rules_floor,
        "{took:?} is faster than the rules allow"
    );
    assert!(
        took <= with_margin + Duration::from_millis(400),
        "{took:?}: waited longer than the rules force"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn fake_reports_a_pacing_violation_as_162_when_a_client_does_not_pace() {
    // The bridge's pacer is opened wide (no identical gap): the fake must
    // catch the identical request itself.
    let gw = gateway_with(HistoricalPacing::IB).await;
    let mut cfg = ib_config(&gw, 63);
    cfg.historical_pacing = PacingRules {
        identical_gap: Duration::ZERO,
        ..PacingRules::IB
    };
    let b = broker_with(cfg, &Metrics::new()).await;
    b.iv_history(&sym("SPY"), 365).await.unwrap();
    let err = b.iv_history(&sym("SPY"), 365).await.unwrap_err();
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
    assert_eq!(gw.controls.historical_pacing_violations(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn identical_request_waits_its_turn_or_gets_429_with_retry_after() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use broker_bridge::api::{router, AppState};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let gw = gateway_with(HistoricalPacing::IB).await;
    let mut cfg = ib_config(&gw, 64);
    // Cannot wait: the identical request's turn is 15 s away.
    cfg.historical_max_wait = Duration::from_secs(1);
    let b = Arc::new(broker_with(cfg, &Metrics::new()).await);
    gw.controls.list_without_options("DIA");
    gw.controls.deny_market_data("NFLX", 10089);
    let bridge = bridge_config(&gw, 64);
    let app = router(AppState::new(
        b.clone(),
        &bridge.token,
        Metrics::new(),
        bridge.request_timeout,
    ));
    let get = |uri: &str| {
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    let resp = app
        .clone()
        .oneshot(get("/history/iv?symbol=AAPL&days=365"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let json: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(json["source"], "ib");
    let resp = app
        .clone()
        .oneshot(get("/history/iv?symbol=AAPL&days=365"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((14..=16).contains(&retry), "Retry-After {retry}");
    // Nothing was sent: the fake saw one request, no violation.
    assert_eq!(gw.controls.historical_requests(), 1);
    for (uri, status, code) in [
        (
            "/history/iv?symbol=DIA&days=365",
            StatusCode::NOT_FOUND,
            "no_options",
        ),
        (
            "/history/iv?symbol=NFLX&days=365",
            StatusCode::FORBIDDEN,
            "no_market_data_permission",
        ),
        (
            "/history/iv?symbol=ZZZZ&days=365",
            StatusCode::BAD_REQUEST,
            "unknown_symbol",
        ),
    ] {
        let resp = app.clone().oneshot(get(uri)).await.unwrap();
        assert_eq!(resp.status(), status, "{uri}");
        let json: serde_json::Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(json["error"], code, "{json}");
    }
    assert_eq!(gw.controls.historical_pacing_violations(), 0);
    b.shutdown().await;
}

//! Dividends ("IB dividends", generic tick 456 -> tick 59) through the real
//! `ibapi` client against the fake gateway, which serves the simulated
//! market's seeded schedule in IB's text form, refuses generic ticks on a
//! snapshot (321) and caps market-data lines (101) as IB does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ib_support;

use std::sync::Arc;
use std::time::Duration;

use broker_bridge::broker::{Broker, BrokerError};
use broker_bridge::metrics::Metrics;
use chrono::Utc;
use fake_ib_gateway::{FakeConfig, FakeGateway};
use ib_support::*;
use sas_bridge_api::market::DividendSource;
use sas_core::market::Symbol;
use sas_sim_market::{SimConfig, SimMarket};

const PAYERS: [&str; 6] = ["SPY", "QQQ", "IWM", "AAPL", "MSFT", "JPM"];
const NON_PAYERS: [&str; 3] = ["TSLA", "AMZN", "AMD"];

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

async fn gateway_with_lines(lines: usize) -> FakeGateway {
    FakeGateway::start(FakeConfig {
        tick_interval: Duration::from_millis(50),
        max_market_data_lines: lines,
        ..FakeConfig::default()
    })
    .await
    .unwrap()
}

/// The schedule the fake serves: the simulated market of the same seed.
fn expected(seed: u64, symbol: &str) -> sas_sim_market::DividendInfo {
    let m = SimMarket::new(SimConfig::new(seed, vec![sym(symbol)], Utc::now())).unwrap();
    m.dividends(&sym(symbol), Utc::now().date_naive()).unwrap()
}

async fn lines_released(gw: &FakeGateway) -> bool {
    for _ in 0..100 {
        if gw.controls.market_data_lines() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn dividends_of_payers_and_non_payers_match_the_seeded_schedule() {
    let gw = gateway().await;
    let b = broker(&gw, 71).await;
    let today = Utc::now().date_naive();
    for s in PAYERS {
        let d = b.dividends(&sym(s)).await.unwrap();
        let want = expected(FakeConfig::default().seed, s);
        let (date, amount) = want.next.unwrap();
        assert_eq!(d.symbol, sym(s));
        assert_eq!(d.source, DividendSource::Ib);
        assert_eq!(d.next_ex_date, Some(date), "{s}");
        assert!(date >= today, "{s}: {date}");
        assert!((d.next_amount.unwrap() - amount).abs() < 0.005, "{s}");
        assert!((d.next_12m - want.next_12m).abs() < 0.005, "{s}");
        assert!((d.past_12m - want.past_12m).abs() < 0.005, "{s}");
        assert!(d.next_12m >= d.next_amount.unwrap());
    }
    for s in NON_PAYERS {
        let d = b.dividends(&sym(s)).await.unwrap();
        assert_eq!((d.next_ex_date, d.next_amount), (None, None), "{s}");
        assert_eq!((d.past_12m, d.next_12m), (0.0, 0.0), "{s}");
    }
    assert_eq!(
        gw.controls.dividend_requests(),
        (PAYERS.len() + NON_PAYERS.len()) as u64
    );
    // Every request's line was cancelled once its tick arrived.
    assert!(lines_released(&gw).await, "market-data lines left open");
}

#[tokio::test]
async fn concurrent_dividend_requests_stay_within_the_line_budget() {
    // The fake allows 3 lines (101 beyond); the bridge's budget is 2, so
    // nine requests at once queue for lines and none is refused.
    let gw = gateway_with_lines(3).await;
    let mut cfg = ib_config(&gw, 72);
    cfg.max_lines = 2;
    let b = Arc::new(broker_with(cfg, &Metrics::new()).await);
    let tasks: Vec<_> = PAYERS
        .iter()
        .chain(&NON_PAYERS)
        .map(|s| {
            let b = b.clone();
            tokio::spawn(async move { (*s, b.dividends(&sym(s)).await) })
        })
        .collect();
    for t in tasks {
        let (s, r) = t.await.unwrap();
        let d = r.unwrap_or_else(|e| panic!("{s}: {e:?}"));
        assert_eq!(d.next_ex_date.is_some(), PAYERS.contains(&s), "{s}");
    }
    assert_eq!(gw.controls.dividend_requests(), 9);
    assert!(lines_released(&gw).await, "market-data lines left open");
}

#[tokio::test]
async fn unknown_symbol_and_missing_permission_are_reported() {
    let gw = gateway().await;
    let b = broker(&gw, 73).await;
    match b.dividends(&sym("ZZZZ")).await {
        Err(BrokerError::UnknownSymbol { code, .. }) => assert_eq!(code, Some(200)),
        other => panic!("unexpected {other:?}"),
    }
    gw.controls.deny_market_data("JPM", 354);
    match b.dividends(&sym("JPM")).await {
        Err(BrokerError::NoMarketDataPermission { code, .. }) => assert_eq!(code, Some(354)),
        // Delayed data (the tests' market-data type) is served anyway by the
        // fake; then the dividends come through.
        Ok(d) => assert!(d.next_ex_date.is_some()),
        other => panic!("unexpected {other:?}"),
    }
    assert!(lines_released(&gw).await, "market-data lines left open");
}

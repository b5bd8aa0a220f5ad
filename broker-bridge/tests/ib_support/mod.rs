//! Shared set-up of the IB tests: a fake gateway on a free port and an
//! `IbBroker` (the real `ibapi` client) connected to it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use broker_bridge::broker::Broker;
use broker_bridge::config::{BridgeConfig, Cli};
use broker_bridge::ib::{IbBroker, IbBrokerConfig};
use broker_bridge::metrics::Metrics;
use clap::Parser;
use fake_ib_gateway::{FakeConfig, FakeGateway};
use sas_bridge_api::health::ConnectionState;
use sas_bridge_api::orders::{Instrument, OrderAction, OrderLeg, OrderRequest, TimeInForce};
use sas_core::market::{ChainWindow, OptionRight, Symbol};

pub const TOKEN: &str = "test-token-0123456789abcdef0123456789";

/// Starts a fake gateway (fast ticks, pacing enforced like IB).
pub async fn gateway() -> FakeGateway {
    FakeGateway::start(FakeConfig {
        tick_interval: Duration::from_millis(50),
        ..FakeConfig::default()
    })
    .await
    .expect("fake gateway starts")
}

/// Bridge configuration for `--broker ib` against `gw`, parsed like the CLI.
pub fn bridge_config(gw: &FakeGateway, client_id: i32) -> BridgeConfig {
    let port = gw.addr.port().to_string();
    let id = client_id.to_string();
    let cli = Cli::try_parse_from([
        "broker-bridge",
        "--broker",
        "ib",
        "--ib-host",
        "127.0.0.1",
        "--ib-port",
        port.as_str(),
        "--ib-client-id",
        id.as_str(),
        "--ib-market-data-type",
        "delayed",
    ])
    .expect("cli parses");
    BridgeConfig::from_cli(&cli, Some(TOKEN)).expect("config valid")
}

/// IB broker settings for tests: no reset window (tests run at any hour).
pub fn ib_config(gw: &FakeGateway, client_id: i32) -> IbBrokerConfig {
    let mut cfg = IbBrokerConfig::from_settings(&bridge_config(gw, client_id).ib);
    cfg.reset_window_et = None;
    cfg
}

/// An IB broker connected to `gw`.
pub async fn broker(gw: &FakeGateway, client_id: i32) -> IbBroker {
    broker_with(ib_config(gw, client_id), &Metrics::new()).await
}

pub async fn broker_with(cfg: IbBrokerConfig, metrics: &Metrics) -> IbBroker {
    let b = IbBroker::start(cfg, metrics).expect("valid config");
    assert!(
        b.wait_connected(Duration::from_secs(10)).await,
        "bridge never connected"
    );
    b
}

/// Polls `status()` until `state`, returning how long it took.
pub async fn wait_state(b: &IbBroker, state: ConnectionState, within: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        if b.status().await.state == state {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "state {state:?} not reached within {within:?}; status {:?}",
            b.status().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn spy() -> Symbol {
    Symbol::parse("SPY").unwrap()
}

/// A GTC buy of 5 AAPL at $1.00: it rests.
pub fn resting_stock_order(key: &str) -> OrderRequest {
    OrderRequest {
        idempotency_key: key.into(),
        legs: vec![OrderLeg {
            instrument: Instrument::Stock {
                symbol: Symbol::parse("AAPL").unwrap(),
            },
            action: OrderAction::Buy,
            ratio: 1,
        }],
        quantity: 5,
        limit_price: 1.00,
        tif: TimeInForce::Gtc,
    }
}

/// How a test put spread is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pricing {
    /// Day order 0.50 above the current net ask: fills now.
    Marketable,
    /// GTC order at 0.01, far below the market: rests.
    Resting,
}

/// A SPY put debit spread of `quantity` units on the nearest expiry of a
/// 5-40 DTE window: buy the highest of 4 strikes, sell the lowest.
pub async fn put_spread(b: &IbBroker, key: &str, quantity: u32, pricing: Pricing) -> OrderRequest {
    let chain = b
        .option_chain(
            &spy(),
            ChainWindow {
                min_dte: 5,
                max_dte: 40,
                strikes: 4,
            },
        )
        .await
        .unwrap();
    let e = &chain.expiries[0];
    let puts: Vec<_> = e
        .contracts
        .iter()
        .filter(|c| c.right == OptionRight::Put)
        .collect();
    let (lo, hi) = (puts[0], puts[puts.len() - 1]);
    let (limit_price, tif) = match pricing {
        Pricing::Marketable => {
            let debit = hi.ask.unwrap() - lo.bid.unwrap();
            (((debit + 0.50) * 100.0).round() / 100.0, TimeInForce::Day)
        }
        Pricing::Resting => (0.01, TimeInForce::Gtc),
    };
    let leg = |strike: f64, action| OrderLeg {
        instrument: Instrument::Option {
            symbol: spy(),
            expiry: e.expiry,
            strike,
            right: OptionRight::Put,
        },
        action,
        ratio: 1,
    };
    OrderRequest {
        idempotency_key: key.into(),
        legs: vec![
            leg(hi.strike, OrderAction::Buy),
            leg(lo.strike, OrderAction::Sell),
        ],
        quantity,
        limit_price,
        tif,
    }
}

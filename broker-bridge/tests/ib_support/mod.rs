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

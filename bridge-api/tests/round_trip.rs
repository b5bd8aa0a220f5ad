//! One recorded example of every body of the bridge's HTTP API (recorded from
//! the bridge with the simulated broker, `tests/fixtures/*.json`) parses into
//! its `sas-bridge-api` type and serializes back to the same JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use sas_bridge_api::account::{Account, PositionsBody};
use sas_bridge_api::error::ErrorBody;
use sas_bridge_api::halt::{HaltRequest, HaltState};
use sas_bridge_api::health::HealthBody;
use sas_bridge_api::market::{
    DividendsBody, ExpiriesBody, HistoryBody, IvHistoryBody, OptionChain, Quote, QuotesBody,
};
use sas_bridge_api::orders::{ExecutionsBody, Order, OrderRequest, OrdersBody, PlaceOrderOutcome};
use sas_bridge_api::sim::{SimClockOutcome, SimClockRequest, SimControlOutcome, SimControlRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Parses `name` into `T`, serializes it back and compares the JSON values.
fn round_trip<T: Serialize + DeserializeOwned>(name: &str) {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let recorded: Value = serde_json::from_str(&text).unwrap();
    let typed: T = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{name} does not parse into {}: {e}",
            std::any::type_name::<T>()
        )
    });
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(again, recorded, "{name} changed in a round trip");
}

/// A round trip through one type.
type Check = fn(&str);

/// Every fixture, with the type of its body.
const BODIES: &[(&str, Check)] = &[
    // GET /health
    ("health.json", round_trip::<HealthBody>),
    // GET /health of a simulated broker whose clock was set (`simulated_time`)
    ("health_sim_clock.json", round_trip::<HealthBody>),
    // GET /account
    ("account.json", round_trip::<Account>),
    // GET /positions
    ("positions.json", round_trip::<PositionsBody>),
    // GET /quote
    ("quote.json", round_trip::<Quote>),
    // GET /quotes (with a per-symbol error)
    ("quotes.json", round_trip::<QuotesBody>),
    // GET /chain
    ("chain.json", round_trip::<OptionChain>),
    // GET /chain/expiries
    ("chain_expiries.json", round_trip::<ExpiriesBody>),
    // GET /history/daily
    ("history_daily.json", round_trip::<HistoryBody>),
    // GET /history/iv
    ("history_iv.json", round_trip::<IvHistoryBody>),
    // GET /events/dividends (a payer, and a symbol without dividends)
    ("events_dividends.json", round_trip::<DividendsBody>),
    ("events_dividends_none.json", round_trip::<DividendsBody>),
    // POST /orders request and answer
    ("order_request.json", round_trip::<OrderRequest>),
    ("place_order_outcome.json", round_trip::<PlaceOrderOutcome>),
    // GET /orders
    ("orders.json", round_trip::<OrdersBody>),
    // GET /orders/{id}, GET /orders/by-key/{key}, POST /orders/{id}/cancel
    ("order.json", round_trip::<Order>),
    ("order_by_key.json", round_trip::<Order>),
    ("order_cancelled.json", round_trip::<Order>),
    // GET /executions
    ("executions.json", round_trip::<ExecutionsBody>),
    // GET /halt, POST /halt request and answer
    ("halt_state.json", round_trip::<HaltState>),
    ("halt_request.json", round_trip::<HaltRequest>),
    ("halt_set.json", round_trip::<HaltState>),
    // POST /sim/control request and answer (simulated broker only)
    ("sim_control_request.json", round_trip::<SimControlRequest>),
    ("sim_control.json", round_trip::<SimControlOutcome>),
    // POST /sim/clock request and answer (simulated broker only)
    ("sim_clock_request.json", round_trip::<SimClockRequest>),
    ("sim_clock.json", round_trip::<SimClockOutcome>),
    // Error bodies
    ("error_trading_halted.json", round_trip::<ErrorBody>),
    ("error_order_not_found.json", round_trip::<ErrorBody>),
    ("error_sim_clock_refused.json", round_trip::<ErrorBody>),
];

#[test]
fn every_recorded_body_round_trips() {
    for (name, check) in BODIES {
        check(name);
    }
}

#[test]
fn every_fixture_is_checked() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let listed: BTreeSet<String> = BODIES.iter().map(|(n, _)| (*n).to_string()).collect();
    assert_eq!(on_disk, listed);
}

#[test]
fn recorded_order_request_is_valid_and_statuses_are_read() {
    let text = std::fs::read_to_string(fixtures().join("order_request.json")).unwrap();
    let request: OrderRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(request.validate(), Ok(()));
    let text = std::fs::read_to_string(fixtures().join("order_cancelled.json")).unwrap();
    let order: Order = serde_json::from_str(&text).unwrap();
    assert_eq!(order.status.as_str(), "cancelled");
    assert!(!order.status.is_open());
    // Every recorded execution names its order's key and contract id, and
    // each position its contract id: what positions and reconciliation join on.
    let text = std::fs::read_to_string(fixtures().join("executions.json")).unwrap();
    let body: ExecutionsBody = serde_json::from_str(&text).unwrap();
    let placed: Order =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("order.json")).unwrap())
            .unwrap();
    for e in &body.executions {
        assert_eq!(
            e.idempotency_key.as_deref(),
            Some(placed.idempotency_key.as_str())
        );
        assert!(e.con_id.is_some_and(|c| c > 0));
    }
    let text = std::fs::read_to_string(fixtures().join("positions.json")).unwrap();
    let positions: sas_bridge_api::account::PositionsBody = serde_json::from_str(&text).unwrap();
    for p in &positions.positions {
        assert!(body.executions.iter().any(|e| e.con_id == p.con_id));
    }
}

//! Native tests of proposal generation over an in-memory store and a fake
//! bridge: one batch with its audit rows, a held symbol, the daily limit,
//! duplicate keys (a concurrent run), store and bridge failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use futures_executor::block_on;
use sas_core::market::{OptionChain, Symbol};
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};

use super::generate::{generate, GenerationStore, NewProposal};
use super::{ExistingRow, GenerateError, GenerationSummary, MetricsRow, ProposalStatus};
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::config::Config;
use crate::opportunities::LatestMetricsRow;
use crate::store::{SnapshotRow, StoreError};

/// 10:00 New York on a Tuesday.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap()
}

fn config() -> Config {
    let vars: BTreeMap<&str, &str> = [
        ("API_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("BRIDGE_TOKEN", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("ENVIRONMENT", "development"),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap()
}

/// (key, symbol, trade date, total max loss, contracts) of a stored proposal.
type StoredProposal = (String, String, NaiveDate, f64, u32);

#[derive(Default)]
struct Store {
    /// (key, symbol, trade date, total max loss, contracts) of stored proposals.
    stored: RefCell<Vec<StoredProposal>>,
    audit: RefCell<Vec<serde_json::Value>>,
    snapshots: Vec<SnapshotRow>,
    regime: Vec<MetricsRow>,
    /// Extra rows `existing_trades` answers (e.g. today's proposals).
    extra: Vec<ExistingRow>,
    /// Answer no stored proposals (as a run racing another one would see).
    hide_stored: Cell<bool>,
    fail_reads: Cell<bool>,
}

impl GenerationStore for Store {
    async fn existing_trades(
        &self,
        _today: NaiveDate,
        _since: NaiveDate,
    ) -> Result<Vec<ExistingRow>, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError("injected".into()));
        }
        let mut rows = self.extra.clone();
        if !self.hide_stored.get() {
            for (i, (key, symbol, date, max_loss, contracts)) in
                self.stored.borrow().iter().enumerate()
            {
                rows.push(ExistingRow {
                    live: 1,
                    id: i as i64 + 1,
                    symbol: symbol.clone(),
                    idempotency_key: key.clone(),
                    status: ProposalStatus::Pending,
                    trade_date: date.to_string(),
                    total_max_loss: *max_loss,
                    approved_contracts: None,
                    contracts: i64::from(*contracts),
                });
            }
        }
        Ok(rows)
    }

    async fn snapshots(&self, _w: &[Symbol], _since: i64) -> Result<Vec<SnapshotRow>, StoreError> {
        Ok(self.snapshots.clone())
    }

    async fn latest_metrics(
        &self,
        _w: &[Symbol],
        _since: i64,
    ) -> Result<Vec<LatestMetricsRow>, StoreError> {
        Ok(Vec::new())
    }

    async fn regime_metrics(
        &self,
        _s: &[Symbol],
        _since: i64,
    ) -> Result<Vec<MetricsRow>, StoreError> {
        Ok(self.regime.clone())
    }

    /// `INSERT_PROPOSAL` (the unique idempotency key: a stored key changes
    /// nothing) + `INSERT_CREATED_AUDIT` (`WHERE changes() = 1`).
    async fn insert_proposals(
        &self,
        new: &[NewProposal],
        _at_ms: i64,
        _actor: &str,
    ) -> Result<usize, StoreError> {
        let mut created = 0;
        for n in new {
            let r = &n.record;
            if self
                .stored
                .borrow()
                .iter()
                .any(|s| s.0 == r.idempotency_key)
            {
                continue;
            }
            self.stored.borrow_mut().push((
                r.idempotency_key.clone(),
                r.symbol.clone(),
                r.trade_date.parse().unwrap(),
                r.total_max_loss,
                r.contracts,
            ));
            self.audit.borrow_mut().push(n.details.clone());
            created += 1;
        }
        Ok(created)
    }
}

struct FakeBridge {
    chain: OptionChain,
    account_down: bool,
    calls: RefCell<Vec<String>>,
}

impl FakeBridge {
    fn answer(body: impl serde::Serialize) -> Result<BridgeAnswer, BridgeFailure> {
        Ok(BridgeAnswer {
            status: 200,
            body: serde_json::to_string(&body).unwrap(),
        })
    }

    fn calls_to(&self, prefix: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }
}

impl Bridge for FakeBridge {
    async fn get(&self, path: &str, timeout_ms: u32) -> Result<BridgeAnswer, BridgeFailure> {
        self.calls.borrow_mut().push(path.to_owned());
        if path == "/account" {
            if self.account_down {
                return Err(BridgeFailure::Timeout {
                    after_ms: timeout_ms,
                });
            }
            return Self::answer(
                serde_json::json!({ "account_id": "DU1234567", "net_liquidation": 100000.0,
                    "cash": 100000.0, "buying_power": 200000.0, "currency": "USD",
                    "as_of": "2026-11-17T15:00:00Z" }),
            );
        }
        if path.starts_with("/chain/expiries?") {
            let expiries: Vec<NaiveDate> = self.chain.expiries.iter().map(|e| e.expiry).collect();
            return Self::answer(
                serde_json::json!({ "symbol": self.chain.symbol, "expiries": expiries }),
            );
        }
        if path.starts_with("/chain?") {
            return Self::answer(&self.chain);
        }
        Ok(BridgeAnswer {
            status: 404,
            body: r#"{"error":"not_found","message":"x"}"#.into(),
        })
    }

    async fn post_json(
        &self,
        path: &str,
        _b: &str,
        _t: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        panic!("generation never posts (asked {path})");
    }
}

/// AAPL with a day of quote snapshots (so it ranks) and fresh stored
/// analytics that favour a bull put spread.
fn world() -> (Store, FakeBridge) {
    let snapshots = (0..12)
        .map(|i| SnapshotRow {
            symbol: "AAPL".into(),
            ts: (t0() - Duration::minutes(15 * (12 - i))).timestamp_millis(),
            last: Some(199.0 + f64::from(i as i32) * 0.1),
            volume: Some(1_000_000 + i64::from(i as i32) * 50_000),
        })
        .collect();
    let regime = vec![MetricsRow {
        symbol: "AAPL".into(),
        metrics_json: serde_json::json!({ "iv_rank": { "iv_rank": 80.0 }, "iv_rv_spread": 0.06,
            "momentum": { "trend_20d_pct_per_day": 0.125 } })
        .to_string(),
    }];
    let store = Store {
        snapshots,
        regime,
        ..Store::default()
    };
    let chain = synthetic_chain(&SyntheticChainSpec::liquid(
        Symbol::parse("AAPL").unwrap(),
        200.0,
        t0(),
    ));
    let bridge = FakeBridge {
        chain,
        account_down: false,
        calls: RefCell::default(),
    };
    (store, bridge)
}

fn run(store: &Store, bridge: &FakeBridge) -> (Result<(), GenerateError>, GenerationSummary) {
    let mut summary = GenerationSummary {
        considered: 0,
        created: 0,
        duplicates: 0,
        skipped: Vec::new(),
        expired: 0,
        orders_retried: 0,
        ms: 0,
    };
    let cfg = config();
    let r = block_on(generate(
        store,
        bridge,
        &cfg,
        t0(),
        "cron",
        &sas_core::strategy::StrategyKind::ALL,
        &mut summary,
    ));
    (r, summary)
}

#[test]
fn generation_stores_proposals_with_their_audit_rows_in_one_batch() {
    let (store, bridge) = world();
    let (r, s) = run(&store, &bridge);
    r.unwrap();
    assert_eq!(s.considered, 1, "{s:?}");
    assert!(s.created >= 1, "{s:?}");
    assert_eq!(s.duplicates, 0);
    assert_eq!(store.stored.borrow().len(), s.created);
    assert_eq!(store.audit.borrow().len(), s.created);
    let audit = &store.audit.borrow()[0];
    assert_eq!(audit["symbol"], "AAPL");
    assert_eq!(
        audit["idempotency_key"],
        store.stored.borrow()[0].0.as_str()
    );
    assert_eq!(bridge.calls_to("/account"), 1);
    // Fresh stored analytics: no history asked.
    assert_eq!(bridge.calls_to("/history/daily"), 0);
}

#[test]
fn a_pending_proposal_holds_its_symbol() {
    let (store, bridge) = world();
    run(&store, &bridge).0.unwrap();
    let chains = bridge.calls_to("/chain");
    let (r, s) = run(&store, &bridge);
    r.unwrap();
    assert_eq!(s.created, 0);
    assert_eq!(
        s.skipped,
        vec![serde_json::json!({ "all": "no ranked underlying without a trade" })]
    );
    assert_eq!(bridge.calls_to("/chain"), chains, "nothing fetched");
}

#[test]
fn the_daily_limit_stops_generation_before_any_bridge_call() {
    let (mut store, bridge) = world();
    let today = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
    store.extra = (0..5)
        .map(|i| ExistingRow {
            live: 1,
            id: 100 + i,
            symbol: "SPY".into(),
            idempotency_key: format!("k{i}"),
            status: ProposalStatus::Rejected,
            trade_date: today.to_string(),
            total_max_loss: 100.0,
            approved_contracts: None,
            contracts: 1,
        })
        .collect();
    let (r, s) = run(&store, &bridge);
    r.unwrap();
    assert_eq!(
        s.skipped,
        vec![serde_json::json!({ "all": "daily limit reached (5)" })]
    );
    assert!(bridge.calls.borrow().is_empty());
}

#[test]
fn a_racing_run_counts_duplicates_and_writes_no_second_audit_row() {
    let (store, bridge) = world();
    let (_, first) = run(&store, &bridge);
    store.hide_stored.set(true);
    let (r, second) = run(&store, &bridge);
    r.unwrap();
    assert_eq!(second.created, 0);
    assert_eq!(second.duplicates, first.created);
    assert_eq!(store.audit.borrow().len(), first.created);
}

#[test]
fn store_and_bridge_failures_stop_the_step_with_nothing_written() {
    let (store, bridge) = world();
    store.fail_reads.set(true);
    assert!(matches!(
        run(&store, &bridge).0,
        Err(GenerateError::Store(_))
    ));
    assert!(bridge.calls.borrow().is_empty());
    let (store, mut bridge) = world();
    bridge.account_down = true;
    assert!(matches!(
        run(&store, &bridge).0,
        Err(GenerateError::Bridge(_))
    ));
    assert!(store.stored.borrow().is_empty());
}

#[test]
fn a_symbol_with_delayed_or_failing_data_proposes_nothing() {
    use sas_core::market::DataType;
    for (data_type, as_of, state) in [
        (DataType::Delayed, t0(), "delayed"),
        (DataType::Frozen, t0(), "delayed"),
        (DataType::Simulated, t0() - Duration::minutes(20), "failing"),
    ] {
        let (store, mut bridge) = world();
        bridge.chain.data_type = data_type;
        bridge.chain.as_of = as_of;
        let (r, s) = run(&store, &bridge);
        r.unwrap();
        assert_eq!(s.created, 0, "{data_type:?}: {s:?}");
        assert!(store.stored.borrow().is_empty());
        let skip = &s.skipped[0];
        assert_eq!(skip["symbol"], "AAPL");
        assert_eq!(skip["reason"], format!("data quality: {state}"));
        assert!(!skip["quality"].as_array().unwrap().is_empty(), "{skip}");
    }
}

#[test]
fn contracts_the_gate_drops_never_become_legs() {
    // The legs generation picks from a clean chain...
    let (store, bridge) = world();
    run(&store, &bridge).0.unwrap();
    let first = store.audit.borrow()[0].clone();
    let legs: Vec<(String, f64, String)> = first["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["right"].as_str().unwrap().to_owned(),
                l["strike"].as_f64().unwrap(),
                l["expiry"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // ... are crossed in the next chain: the gate drops them, and the trade
    // is built from other contracts.
    let (store, mut bridge) = world();
    for e in &mut bridge.chain.expiries {
        for c in &mut e.contracts {
            let right = serde_json::to_value(c.right).unwrap();
            let hit = legs.iter().any(|(r, k, x)| {
                right == r.as_str() && *k == c.strike && *x == e.expiry.to_string()
            });
            if hit {
                let (b, a) = (c.bid.unwrap(), c.ask.unwrap());
                c.bid = Some(a + 0.05);
                c.ask = Some(b);
            }
        }
    }
    let (r, s) = run(&store, &bridge);
    r.unwrap();
    assert!(s.created > 0, "{s:?}");
    for audit in store.audit.borrow().iter() {
        for leg in audit["legs"].as_array().unwrap() {
            let used = (
                leg["right"].as_str().unwrap().to_owned(),
                leg["strike"].as_f64().unwrap(),
                leg["expiry"].as_str().unwrap().to_owned(),
            );
            assert!(!legs.contains(&used), "crossed contract used: {used:?}");
            assert!(leg["bid"].as_f64().unwrap() < leg["ask"].as_f64().unwrap());
        }
    }
}

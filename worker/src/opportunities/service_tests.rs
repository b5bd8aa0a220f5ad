//! Native tests of the opportunity reads over an in-memory store: unknown
//! symbol vs known without data, no snapshot yet, a failed spot read, a
//! store failure, and the ranking's retention window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_executor::block_on;
use sas_core::market::Symbol;

use super::model::{ChainExpiryRow, LatestMetricsRow, MetricsInterval, MetricsRow};
use super::service::{ranked, symbol_chain, symbol_metrics, OpportunityStore, ReadError};
use crate::config::Config;
use crate::store::{HistoryRow, LatestRow, SnapshotRow, StoreError};

fn config() -> Config {
    let vars: BTreeMap<&str, &str> = [
        ("API_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("BRIDGE_TOKEN", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("ENVIRONMENT", "development"),
        ("WATCHLIST", "AAPL,SPY"),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 16, 0, 0).unwrap()
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

#[derive(Default)]
struct Store {
    /// Symbols with stored daily metrics (`SELECT_SYMBOL_KNOWN`).
    known: Vec<String>,
    chain: Vec<ChainExpiryRow>,
    snapshots: Vec<SnapshotRow>,
    metrics: Vec<LatestMetricsRow>,
    fail_all: bool,
    fail_spot: bool,
    since_asked: Cell<Option<i64>>,
    calls: RefCell<Vec<&'static str>>,
}

impl Store {
    fn call(&self, name: &'static str) -> Result<(), StoreError> {
        self.calls.borrow_mut().push(name);
        if self.fail_all {
            Err(StoreError("D1 unavailable".into()))
        } else {
            Ok(())
        }
    }
}

impl OpportunityStore for Store {
    async fn latest(&self, _s: &str) -> Result<Vec<LatestRow>, StoreError> {
        self.call("latest").map(|()| Vec::new())
    }
    async fn history(&self, _s: &Symbol, _since: i64) -> Result<Vec<HistoryRow>, StoreError> {
        self.call("history").map(|()| Vec::new())
    }
    async fn snapshots(&self, _s: &str, since: i64) -> Result<Vec<SnapshotRow>, StoreError> {
        self.call("snapshots")?;
        self.since_asked.set(Some(since));
        Ok(self
            .snapshots
            .iter()
            .filter(|r| r.ts >= since)
            .cloned()
            .collect())
    }
    async fn latest_metrics(
        &self,
        _s: &str,
        since: i64,
    ) -> Result<Vec<LatestMetricsRow>, StoreError> {
        self.call("latest_metrics")?;
        Ok(self
            .metrics
            .iter()
            .filter(|r| r.ts >= since)
            .cloned()
            .collect())
    }
    async fn metrics_daily(&self, _s: &Symbol, _from: &str) -> Result<Vec<MetricsRow>, StoreError> {
        self.call("metrics_daily").map(|()| Vec::new())
    }
    async fn metrics_intraday(
        &self,
        _s: &Symbol,
        _since: i64,
    ) -> Result<Vec<MetricsRow>, StoreError> {
        self.call("metrics_intraday").map(|()| Vec::new())
    }
    async fn symbol_known(&self, s: &Symbol) -> Result<bool, StoreError> {
        self.call("symbol_known")?;
        Ok(self.known.iter().any(|k| k == s.as_str()))
    }
    async fn latest_chain(&self, _s: &Symbol) -> Result<Vec<ChainExpiryRow>, StoreError> {
        self.call("latest_chain")?;
        Ok(self.chain.clone())
    }
    async fn spot_at(&self, _s: &Symbol, _ts: i64) -> Result<Option<f64>, StoreError> {
        self.call("spot_at")?;
        if self.fail_spot {
            return Err(StoreError("spot read failed".into()));
        }
        Ok(Some(101.5))
    }
}

#[test]
fn metrics_of_an_unknown_symbol_are_404_but_a_known_one_without_rows_is_empty() {
    let cfg = config();
    let store = Store {
        known: vec!["MSFT".into()],
        ..Store::default()
    };
    let read = |s: &str| {
        block_on(symbol_metrics(
            &store,
            &cfg,
            &sym(s),
            30,
            MetricsInterval::Daily,
            now(),
        ))
    };
    assert_eq!(
        read("ZZZZ").unwrap_err(),
        ReadError::UnknownSymbol(sym("ZZZZ"))
    );
    assert!(read("MSFT").unwrap().metrics.is_empty());
    // On the watchlist: known without asking the store.
    store.calls.borrow_mut().clear();
    assert!(read("AAPL").unwrap().metrics.is_empty());
    assert_eq!(*store.calls.borrow(), vec!["metrics_daily"]);
}

#[test]
fn a_chain_read_tells_no_snapshot_from_unknown_and_survives_a_failed_spot_read() {
    let cfg = config();
    let store = Store::default();
    assert_eq!(
        block_on(symbol_chain(&store, &cfg, &sym("SPY"))).unwrap_err(),
        ReadError::NoSnapshot(sym("SPY"))
    );
    assert_eq!(
        block_on(symbol_chain(&store, &cfg, &sym("ZZZZ"))).unwrap_err(),
        ReadError::UnknownSymbol(sym("ZZZZ"))
    );
    let row = ChainExpiryRow {
        ts: now().timestamp_millis(),
        expiry: "2026-12-18".into(),
        dte: 28,
        forward: Some(100.0),
        atm_iv: Some(0.3),
        skew_25d: None,
        contracts_json: "[]".into(),
    };
    let store = Store {
        chain: vec![row.clone()],
        ..Store::default()
    };
    let view = block_on(symbol_chain(&store, &cfg, &sym("SPY"))).unwrap();
    assert_eq!(view.spot, Some(101.5));
    assert_eq!(view.expiries.len(), 1);
    let store = Store {
        chain: vec![row],
        fail_spot: true,
        ..Store::default()
    };
    let view = block_on(symbol_chain(&store, &cfg, &sym("SPY"))).unwrap();
    assert_eq!(view.spot, None);
}

#[test]
fn a_store_failure_is_a_store_error_with_its_context() {
    let cfg = config();
    let store = Store {
        fail_all: true,
        ..Store::default()
    };
    match block_on(ranked(&store, &cfg, 10, now())).unwrap_err() {
        ReadError::Store { context, .. } => assert_eq!(context, "opportunities"),
        other => panic!("{other:?}"),
    }
    match block_on(symbol_chain(&store, &cfg, &sym("SPY"))).unwrap_err() {
        ReadError::Store { context, .. } => assert_eq!(context, "symbol chain"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_ranking_reads_within_the_retention_and_ranks_the_watchlist() {
    let cfg = config();
    let ts = |age: Duration| (now() - age).timestamp_millis();
    let snap = |s: &str, t: i64, last: f64| SnapshotRow {
        symbol: s.into(),
        ts: t,
        last: Some(last),
        volume: Some(1000),
    };
    let retention = Duration::days(i64::from(cfg.retention_days));
    let store = Store {
        snapshots: vec![
            snap("AAPL", ts(retention + Duration::hours(1)), 50.0),
            snap("AAPL", ts(Duration::hours(2)), 100.0),
            snap("AAPL", ts(Duration::hours(1)), 101.0),
        ],
        ..Store::default()
    };
    let body = block_on(ranked(&store, &cfg, 10, now())).unwrap();
    assert_eq!(store.since_asked.get(), Some(ts(retention)));
    assert_eq!(body.opportunities.len(), 1, "SPY has nothing stored");
    let aapl = &body.opportunities[0];
    assert_eq!((aapl.rank, aapl.symbol.as_str()), (1, "AAPL"));
    assert_eq!(aapl.observations, 2);
    assert_eq!(aapl.last, Some(101.0));
}

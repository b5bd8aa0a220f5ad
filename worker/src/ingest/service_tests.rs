//! Native tests of one ingestion run over an in-memory store and a fake
//! bridge: market closed, bridge down / erroring / garbage, a partial
//! answer, and a failed batch (nothing of the run is stored).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use futures_executor::block_on;

use super::service::{run, IngestStore, RunWrite};
use super::{IngestRun, RunStatus, Trigger};
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::config::Config;
use crate::store::StoreError;

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

/// Tuesday 10:00 New York (open) and Saturday (closed).
fn open() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap()
}
fn saturday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 15, 0, 0).unwrap()
}

#[derive(Default)]
struct Store {
    runs: RefCell<Vec<IngestRun>>,
    quotes_stored: Cell<usize>,
    fail: Cell<bool>,
}

impl IngestStore for Store {
    async fn record_run(&self, w: &RunWrite) -> Result<IngestRun, StoreError> {
        if self.fail.get() {
            // A failed D1 batch: none of its statements took effect.
            return Err(StoreError("injected batch failure".into()));
        }
        let (run, rows_written) = match w {
            RunWrite::RecordOnly(r) => (r, 0),
            RunWrite::WithQuotes { quotes, run, .. } => {
                self.quotes_stored.set(self.quotes_stored.get() + quotes);
                (run, i64::try_from(*quotes).unwrap())
            }
        };
        let stored = IngestRun {
            id: i64::try_from(self.runs.borrow().len()).unwrap() + 1,
            trigger: run.trigger.as_str().into(),
            started_at: run.started_at.clone(),
            finished_at: Some(run.finished_at.clone()),
            status: run.status,
            symbols_ok: run.symbols_ok,
            symbols_failed: run.symbols_failed,
            rows_written,
            error: run.error.clone(),
        };
        self.runs.borrow_mut().push(stored.clone());
        Ok(stored)
    }
}

struct FakeBridge {
    answer: Result<(u16, String), BridgeFailure>,
    calls: Cell<usize>,
}

impl FakeBridge {
    fn new(answer: Result<(u16, String), BridgeFailure>) -> Self {
        Self {
            answer,
            calls: Cell::new(0),
        }
    }
}

impl Bridge for FakeBridge {
    async fn get(&self, path: &str, _t: u32) -> Result<BridgeAnswer, BridgeFailure> {
        assert_eq!(path, "/quotes?symbols=AAPL,SPY");
        self.calls.set(self.calls.get() + 1);
        self.answer
            .clone()
            .map(|(status, body)| BridgeAnswer { status, body })
    }

    async fn post_json(
        &self,
        path: &str,
        _b: &str,
        _t: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        panic!("ingestion never posts (asked {path})");
    }
}

fn quote(symbol: &str, last: f64) -> serde_json::Value {
    serde_json::json!({ "symbol": symbol, "bid": last - 0.01, "ask": last + 0.01, "last": last,
        "volume": 1000, "timestamp": "2026-11-17T14:59:00Z", "data_type": "simulated" })
}

fn ingest(store: &Store, bridge: &FakeBridge, at: DateTime<Utc>) -> Result<IngestRun, StoreError> {
    let cfg = config();
    block_on(run(store, bridge, &cfg, Trigger::Cron, at, &|| at))
}

#[test]
fn market_closed_is_a_skipped_run_without_asking_the_bridge() {
    let (store, bridge) = (Store::default(), FakeBridge::new(Ok((200, String::new()))));
    let r = ingest(&store, &bridge, saturday()).unwrap();
    assert_eq!(r.status, RunStatus::Skipped);
    assert!(r.error.unwrap().starts_with("market closed (weekend)"));
    assert_eq!(bridge.calls.get(), 0);
}

#[test]
fn a_full_answer_stores_every_quote_with_the_run() {
    let body = serde_json::json!({ "quotes": [quote("AAPL", 190.0), quote("SPY", 600.0)],
        "errors": [] })
    .to_string();
    let (store, bridge) = (Store::default(), FakeBridge::new(Ok((200, body))));
    let r = ingest(&store, &bridge, open()).unwrap();
    assert_eq!(
        (r.status, r.symbols_ok, r.rows_written),
        (RunStatus::Ok, 2, 2)
    );
    assert_eq!(store.quotes_stored.get(), 2);
}

#[test]
fn an_unknown_symbol_fails_only_itself() {
    let body = serde_json::json!({ "quotes": [quote("AAPL", 190.0)],
        "errors": [{ "symbol": "SPY", "error": "unknown_symbol", "message": "x" }] })
    .to_string();
    let (store, bridge) = (Store::default(), FakeBridge::new(Ok((200, body))));
    let r = ingest(&store, &bridge, open()).unwrap();
    assert_eq!(
        (r.status, r.symbols_ok, r.symbols_failed),
        (RunStatus::Partial, 1, 1)
    );
    assert!(r.error.unwrap().contains("SPY: unknown_symbol"));
}

#[test]
fn a_bridge_that_is_down_erroring_or_garbled_fails_the_run_with_no_rows() {
    for (answer, reason) in [
        (
            Err(BridgeFailure::Timeout { after_ms: 5000 }),
            "bridge did not answer within 5000 ms",
        ),
        (Ok((503, "{}".to_owned())), "bridge answered HTTP 503"),
        (
            Ok((200, "<html>".to_owned())),
            "bridge answered with malformed quotes JSON",
        ),
    ] {
        let (store, bridge) = (Store::default(), FakeBridge::new(answer));
        let r = ingest(&store, &bridge, open()).unwrap();
        assert_eq!((r.status, r.rows_written), (RunStatus::Failed, 0));
        assert_eq!(r.symbols_failed, 2);
        assert!(r.error.as_deref().unwrap().starts_with(reason), "{r:?}");
        assert_eq!(store.quotes_stored.get(), 0);
    }
}

#[test]
fn a_failed_batch_stores_nothing_of_the_run() {
    let body = serde_json::json!({ "quotes": [quote("AAPL", 190.0)], "errors": [] }).to_string();
    let (store, bridge) = (Store::default(), FakeBridge::new(Ok((200, body))));
    store.fail.set(true);
    assert!(ingest(&store, &bridge, open()).is_err());
    assert!(store.runs.borrow().is_empty());
    assert_eq!(store.quotes_stored.get(), 0);
}

#[test]
fn a_quote_older_than_the_archive_settle_window_is_refused_not_written() {
    // 14:59 is fresh at 15:00; 14:00 is an hour old: the archive's export has
    // already moved past it, so it would never be archived and then pruned.
    let mut stale = quote("SPY", 600.0);
    stale["timestamp"] = "2026-11-17T14:00:00Z".into();
    let body =
        serde_json::json!({ "quotes": [quote("AAPL", 190.0), stale], "errors": [] }).to_string();
    let (store, bridge) = (Store::default(), FakeBridge::new(Ok((200, body))));
    let r = ingest(&store, &bridge, open()).unwrap();
    assert_eq!(
        (r.status, r.symbols_ok, r.symbols_failed, r.rows_written),
        (RunStatus::Partial, 1, 1, 1)
    );
    assert_eq!(store.quotes_stored.get(), 1);
    let error = r.error.unwrap();
    assert!(
        error.contains("SPY: stale quote from 2026-11-17T14:00:00Z (older than 25 minutes)"),
        "{error}"
    );
}

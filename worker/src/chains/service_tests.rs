//! Native tests of the chain step over an in-memory store and a fake
//! bridge: a normal run (one batch per symbol), a symbol whose chain fetch
//! fails (recorded; the others go on), a failed batch (nothing of that
//! symbol written, its prunes rolled back too), retention, and a quote step
//! that ends the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use futures_executor::block_on;
use sas_core::market::{
    ChainExpiry, DailyBar, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks, Symbol,
};

use super::model::{
    ChainRunUpdate, IvHistoryRow, SqlStatement, SqlValue, StatementMeta, StoredBarsRow,
    INSERT_CHAIN_SNAPSHOTS, INSERT_METRICS_INTRADAY, PRUNE_CHAIN_SNAPSHOTS, PRUNE_METRICS_DAILY,
    PRUNE_METRICS_INTRADAY, UPSERT_DAILY_BARS, UPSERT_METRICS_DAILY, UPSERT_SYMBOL_QUALITY,
};
use super::service::{enrich, ChainStore, StepOutcome};
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::config::Config;
use crate::ingest::{IngestRun, RunStatus};
use crate::store::StoreError;

fn config() -> Config {
    let vars: BTreeMap<&str, &str> = [
        ("API_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("BRIDGE_TOKEN", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("ENVIRONMENT", "development"),
        ("WATCHLIST", "AAPL,SPY,QQQ"),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap()
}

/// Friday 2026-11-20, 11:00 New York.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 16, 0, 0).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The tables the chain step writes, with the semantics of their SQL.
#[derive(Debug, Clone, Default, PartialEq)]
struct Tables {
    /// `chain_snapshots` keys `(symbol, ts, expiry)`.
    snapshots: BTreeSet<(String, i64, String)>,
    /// `underlying_metrics_intraday` keys `(symbol, ts)`.
    intraday: BTreeSet<(String, i64)>,
    /// `underlying_metrics_daily`: `(symbol, date)` -> `(ts, atm_iv_30d)`.
    daily: BTreeMap<(String, String), (i64, Option<f64>)>,
    /// `daily_bars`: symbol -> `bars_json`.
    bars: BTreeMap<String, String>,
    /// `symbol_quality`: symbol -> `(state, since_ms, checked_ms, reasons_json)`.
    quality: BTreeMap<String, (String, i64, i64, String)>,
}

fn text(v: &SqlValue) -> String {
    match v {
        SqlValue::Text(t) => t.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn int(v: &SqlValue) -> i64 {
    match v {
        SqlValue::Int(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

impl Tables {
    /// Applies one statement as its SQL constant says; returns `changes()`.
    fn apply(&mut self, s: &SqlStatement) -> u64 {
        let p = &s.params;
        let sym = text(&p[0]);
        let before = self.len();
        match s.sql {
            PRUNE_CHAIN_SNAPSHOTS => {
                let keep = int(&p[1]);
                self.snapshots
                    .retain(|(s, ts, _)| !(*s == sym && *ts < keep));
                return (before - self.len()) as u64;
            }
            PRUNE_METRICS_INTRADAY => {
                let keep = int(&p[1]);
                self.intraday.retain(|(s, ts)| !(*s == sym && *ts < keep));
                return (before - self.len()) as u64;
            }
            PRUNE_METRICS_DAILY => {
                let keep = text(&p[1]);
                self.daily.retain(|(s, d), _| !(*s == sym && *d < keep));
                return (before - self.len()) as u64;
            }
            INSERT_CHAIN_SNAPSHOTS => {
                let ts = int(&p[1]);
                let list: Vec<serde_json::Value> = serde_json::from_str(&text(&p[2])).unwrap();
                for e in list {
                    let expiry = e["e"].as_str().unwrap().to_owned();
                    self.snapshots.insert((sym.clone(), ts, expiry));
                }
            }
            INSERT_METRICS_INTRADAY => {
                self.intraday.insert((sym, int(&p[1])));
            }
            UPSERT_METRICS_DAILY => {
                let ts = int(&p[1]);
                let iv = match p[3] {
                    SqlValue::Real(x) => Some(x),
                    _ => None,
                };
                let row = self.daily.entry((sym, text(&p[15]))).or_insert((ts, iv));
                if ts >= row.0 {
                    *row = (ts, iv);
                }
                return 1;
            }
            UPSERT_DAILY_BARS => {
                self.bars.insert(sym, text(&p[4]));
                return 1;
            }
            UPSERT_SYMBOL_QUALITY => {
                let (state, at) = (text(&p[1]), int(&p[2]));
                let since = match self.quality.get(&sym) {
                    Some((old, since, _, _)) if *old == state => *since,
                    _ => at,
                };
                self.quality.insert(sym, (state, since, at, text(&p[3])));
                return 1;
            }
            other => panic!("unexpected statement {other}"),
        }
        (self.len() - before) as u64
    }

    fn len(&self) -> usize {
        self.snapshots.len() + self.intraday.len() + self.daily.len() + self.bars.len()
    }

    fn rows_of(&self, symbol: &str) -> usize {
        self.snapshots.iter().filter(|r| r.0 == symbol).count()
            + self.intraday.iter().filter(|r| r.0 == symbol).count()
            + self.daily.keys().filter(|r| r.0 == symbol).count()
            + usize::from(self.bars.contains_key(symbol))
    }
}

#[derive(Default)]
struct Store {
    tables: RefCell<Tables>,
    /// Symbol of each batch written (or attempted), with its statement count.
    batches: RefCell<Vec<(String, usize)>>,
    /// A batch for this symbol fails at its 4th statement (after its prunes).
    fail_batch_of: Option<String>,
    updates: RefCell<Vec<ChainRunUpdate>>,
}

impl ChainStore for Store {
    async fn stored_bars(&self, _symbols: &str) -> Result<Vec<StoredBarsRow>, StoreError> {
        let t = self.tables.borrow();
        Ok(t.bars
            .iter()
            .map(|(symbol, bars_json)| StoredBarsRow {
                symbol: symbol.clone(),
                bars_json: bars_json.clone(),
            })
            .collect())
    }

    async fn iv_history(
        &self,
        _symbols: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<IvHistoryRow>, StoreError> {
        let t = self.tables.borrow();
        Ok(t.daily
            .iter()
            .filter(|((_, d), (_, iv))| d.as_str() >= from && d.as_str() < to && iv.is_some())
            .map(|((symbol, d), (_, iv))| IvHistoryRow {
                symbol: symbol.clone(),
                date: d.clone(),
                atm_iv_30d: *iv,
            })
            .collect())
    }

    async fn write_batch(
        &self,
        statements: &[SqlStatement],
    ) -> Result<Vec<StatementMeta>, StoreError> {
        let symbol = text(&statements[0].params[0]);
        assert!(
            statements.iter().all(|s| text(&s.params[0]) == symbol),
            "one batch holds one symbol"
        );
        self.batches
            .borrow_mut()
            .push((symbol.clone(), statements.len()));
        // One transaction: applied to a copy, kept only if every statement ran.
        let mut copy = self.tables.borrow().clone();
        let mut metas = Vec::new();
        for (i, s) in statements.iter().enumerate() {
            if i == 3 && self.fail_batch_of.as_deref() == Some(symbol.as_str()) {
                return Err(StoreError("injected D1 batch failure".into()));
            }
            let n = copy.apply(s);
            metas.push(StatementMeta {
                rows_written: Some(n),
                changes: Some(n),
            });
        }
        *self.tables.borrow_mut() = copy;
        Ok(metas)
    }

    async fn record_step(&self, u: &ChainRunUpdate) -> Result<IngestRun, StoreError> {
        self.updates.borrow_mut().push(u.clone());
        let mut run = quote_run(RunStatus::Ok);
        run.rows_written += u.chain_rows + 1;
        run.status = u.status;
        run.error = u.error.clone();
        run.finished_at = Some(u.finished_at.clone());
        run.symbols_ok = u.symbols_ok;
        run.symbols_failed = u.symbols_failed;
        Ok(run)
    }
}

/// What the bridge answers for one symbol's chain.
#[derive(Clone)]
enum ChainAnswer {
    Ok,
    Fails(BridgeFailure),
    Status(u16),
}

#[derive(Default)]
struct FakeBridge {
    chains: BTreeMap<String, ChainAnswer>,
    calls: RefCell<Vec<String>>,
}

fn quote(strike: f64, right: OptionRight, bid: f64, ask: f64) -> OptionQuote {
    OptionQuote {
        strike,
        right,
        bid: Some(bid),
        ask: Some(ask),
        last: None,
        volume: Some(120),
        open_interest: Some(900),
        greeks: SourceGreeks::default(),
    }
}

/// Two expiries, four contracts each, near 30% vol.
fn chain_of(symbol: &str) -> OptionChain {
    let expiry = |d: &str, dte: u32, scale: f64| ChainExpiry {
        expiry: date(d),
        dte,
        contracts: vec![
            quote(95.0, OptionRight::Put, 1.30 * scale, 1.40 * scale),
            quote(100.0, OptionRight::Put, 3.20 * scale, 3.30 * scale),
            quote(100.0, OptionRight::Call, 3.50 * scale, 3.60 * scale),
            quote(105.0, OptionRight::Call, 1.40 * scale, 1.50 * scale),
        ],
    };
    OptionChain {
        symbol: Symbol::parse(symbol).unwrap(),
        spot: 100.0,
        as_of: now(),
        data_type: DataType::Simulated,
        dividend_yield: Some(0.0),
        expiries: vec![expiry("2026-12-11", 21, 1.0), expiry("2027-01-15", 56, 1.6)],
    }
}

/// `n` weekday bars ending the day before [`now`].
fn bars(n: usize) -> Vec<DailyBar> {
    let mut out = Vec::new();
    let mut d = date("2026-11-19");
    while out.len() < n {
        if !matches!(
            chrono::Datelike::weekday(&d),
            chrono::Weekday::Sat | chrono::Weekday::Sun
        ) {
            let close = 100.0 + (out.len() % 7) as f64;
            out.push(DailyBar {
                date: d,
                open: close * 0.99,
                high: close * 1.01,
                low: close * 0.98,
                close,
                volume: 1_000_000,
            });
        }
        d -= Duration::days(1);
    }
    out.reverse();
    out
}

fn param<'a>(path: &'a str, key: &str) -> &'a str {
    path.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap()
}

impl Bridge for FakeBridge {
    async fn get(&self, path: &str, _t: u32) -> Result<BridgeAnswer, BridgeFailure> {
        self.calls.borrow_mut().push(path.to_owned());
        let symbol = param(path, "symbol");
        let ok = |body: String| Ok(BridgeAnswer { status: 200, body });
        if path.starts_with("/chain?") {
            match self.chains.get(symbol).cloned().unwrap_or(ChainAnswer::Ok) {
                ChainAnswer::Ok => ok(serde_json::to_string(&chain_of(symbol)).unwrap()),
                ChainAnswer::Fails(f) => Err(f),
                ChainAnswer::Status(status) => Ok(BridgeAnswer {
                    status,
                    body: "{}".into(),
                }),
            }
        } else if path.starts_with("/history/daily?") {
            let days: usize = param(path, "days").parse().unwrap();
            ok(serde_json::json!({ "symbol": symbol, "bars": bars(days.min(300)) }).to_string())
        } else {
            panic!("the chain step never asks {path}");
        }
    }

    async fn post_json(
        &self,
        path: &str,
        _b: &str,
        _t: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        panic!("the chain step never posts (asked {path})");
    }
}

/// The run record of a quote step that stored all three symbols.
fn quote_run(status: RunStatus) -> IngestRun {
    IngestRun {
        id: 7,
        trigger: "cron".into(),
        started_at: "2026-11-20T16:00:00.000Z".into(),
        finished_at: Some("2026-11-20T16:00:00.100Z".into()),
        status,
        symbols_ok: 3,
        symbols_failed: 0,
        rows_written: 3,
        error: None,
    }
}

struct Ran {
    outcome: Option<StepOutcome>,
    errors: Vec<serde_json::Value>,
}

fn step(store: &Store, bridge: &FakeBridge, quote_status: RunStatus) -> Ran {
    let errors = RefCell::new(Vec::new());
    let cfg = config();
    let log = |line: serde_json::Value| errors.borrow_mut().push(line);
    let outcome = block_on(enrich(
        store,
        bridge,
        &cfg,
        now(),
        &quote_run(quote_status),
        &now,
        &log,
    ))
    .unwrap();
    Ran {
        outcome,
        errors: errors.into_inner(),
    }
}

fn snapshot_ts() -> i64 {
    now().timestamp_millis()
}

#[test]
fn a_normal_run_writes_each_symbol_as_one_batch() {
    let (store, bridge) = (Store::default(), FakeBridge::default());
    let ran = step(&store, &bridge, RunStatus::Ok);
    let out = ran.outcome.unwrap();
    assert!(ran.errors.is_empty());

    // One batch per symbol: 3 prunes, the snapshot, intraday, daily, bars,
    // the gate's verdict.
    let mut batches = store.batches.borrow().clone();
    batches.sort();
    assert_eq!(
        batches,
        vec![("AAPL".into(), 8), ("QQQ".into(), 8), ("SPY".into(), 8)]
    );
    let t = store.tables.borrow();
    for s in ["AAPL", "QQQ", "SPY"] {
        assert!(t
            .snapshots
            .contains(&(s.into(), snapshot_ts(), "2026-12-11".into())));
        assert!(t
            .snapshots
            .contains(&(s.into(), snapshot_ts(), "2027-01-15".into())));
        assert!(t.intraday.contains(&(s.into(), snapshot_ts())));
        assert!(t.daily.contains_key(&(s.into(), "2026-11-20".into())));
        assert_eq!(
            super::unpack_bars(&t.bars[s]).len(),
            super::BOOTSTRAP_HISTORY_DAYS as usize
        );
        assert_eq!(t.rows_of(s), 5);
        let (state, since, checked, reasons) = &t.quality[s];
        assert_eq!(
            (state.as_str(), *since, *checked, reasons.as_str()),
            ("live", snapshot_ts(), snapshot_ts(), "[]")
        );
    }

    // The bootstrap fetched the full history once per symbol, with its chain.
    let calls = bridge.calls.borrow();
    assert_eq!(calls.len(), 6);
    assert!(calls.contains(&"/history/daily?symbol=SPY&days=300".to_owned()));

    let u = &store.updates.borrow()[0];
    assert_eq!(u.run_id, 7);
    assert_eq!(u.status, RunStatus::Ok);
    assert_eq!((u.chain_symbols_ok, u.chain_symbols_failed), (3, 0));
    assert_eq!(u.chain_rows, 18);
    assert_eq!(u.chain_failures, None);
    assert_eq!(u.contract_skips, "{}", "a clean chain drops nothing");
    let by_table: serde_json::Value = serde_json::from_str(&u.rows_by_table).unwrap();
    assert_eq!(by_table["tables"]["chain_snapshots"], 6);
    assert_eq!(by_table["tables"]["daily_bars"], 3);
    assert_eq!(by_table["tables"]["symbol_quality"], 3);
    assert_eq!(by_table["chain_total"], 18);
    assert_eq!(by_table["source"], "d1_meta");
    assert_eq!(out.run.rows_written, 3 + 18 + 1);
    assert_eq!((out.run.symbols_ok, out.run.symbols_failed), (3, 0));
}

#[test]
fn a_failed_chain_fetch_is_recorded_and_the_other_symbols_go_on() {
    let store = Store::default();
    let bridge = FakeBridge {
        chains: [
            (
                "SPY".to_owned(),
                ChainAnswer::Fails(BridgeFailure::Timeout { after_ms: 8000 }),
            ),
            ("QQQ".to_owned(), ChainAnswer::Status(503)),
        ]
        .into_iter()
        .collect(),
        ..FakeBridge::default()
    };
    let out = step(&store, &bridge, RunStatus::Ok).outcome.unwrap();

    let t = store.tables.borrow();
    assert_eq!(t.rows_of("AAPL"), 5);
    assert_eq!(t.rows_of("SPY"), 0);
    assert_eq!(t.rows_of("QQQ"), 0);
    let mut batches = store.batches.borrow().clone();
    batches.sort();
    assert_eq!(
        batches,
        vec![("AAPL".into(), 8), ("QQQ".into(), 1), ("SPY".into(), 1)],
        "a failed symbol writes only its `failing` verdict"
    );
    assert_eq!(t.quality["SPY"].0, "failing");
    assert!(
        t.quality["SPY"].3.contains("fetch_failed"),
        "{:?}",
        t.quality["SPY"]
    );
    assert!(t.quality["QQQ"].3.contains("HTTP 503"));
    assert_eq!(t.quality["AAPL"].0, "live");

    let u = &store.updates.borrow()[0];
    assert_eq!(u.status, RunStatus::Partial);
    assert_eq!((u.chain_symbols_ok, u.chain_symbols_failed), (1, 2));
    let failures: BTreeMap<String, String> =
        serde_json::from_str(u.chain_failures.as_deref().unwrap()).unwrap();
    assert_eq!(failures["SPY"], "bridge did not answer within 8000 ms");
    assert_eq!(failures["QQQ"], "bridge answered HTTP 503 to /chain");
    assert_eq!(
        u.error.as_deref(),
        Some(
            "chains failed: SPY: bridge did not answer within 8000 ms, \
             QQQ: bridge answered HTTP 503 to /chain"
        )
    );
    assert_eq!((out.run.symbols_ok, out.run.symbols_failed), (1, 2));
}

/// Rows of `symbol` dated `age` before [`now`] in every table.
fn seed(t: &mut Tables, symbol: &str, age: Duration) {
    let at = now() - age;
    let ts = at.timestamp_millis();
    t.snapshots.insert((symbol.into(), ts, "2026-12-18".into()));
    t.intraday.insert((symbol.into(), ts));
    let day = super::trading_date(at).format("%Y-%m-%d").to_string();
    t.daily.insert((symbol.into(), day), (ts, Some(0.3)));
}

#[test]
fn a_failed_batch_leaves_nothing_half_written_for_its_symbol() {
    let mut store = Store {
        fail_batch_of: Some("SPY".into()),
        ..Store::default()
    };
    // An old row of SPY that its prune would delete: the rollback keeps it.
    let retention = i64::from(config().chains.retention_days);
    seed(store.tables.get_mut(), "SPY", Duration::days(retention + 1));
    let before = store.tables.borrow().clone();
    let bridge = FakeBridge::default();
    let ran = step(&store, &bridge, RunStatus::Ok);
    let out = ran.outcome.unwrap();

    let t = store.tables.borrow();
    assert_eq!(t.rows_of("SPY"), before.rows_of("SPY"));
    assert_eq!(t.snapshots.iter().filter(|r| r.0 == "SPY").count(), 1);
    assert!(!t.intraday.contains(&("SPY".into(), snapshot_ts())));
    assert!(!t.bars.contains_key("SPY"));
    assert_eq!(t.rows_of("AAPL"), 5);
    assert_eq!(t.rows_of("QQQ"), 5);

    let u = &store.updates.borrow()[0];
    assert_eq!(u.status, RunStatus::Partial);
    assert_eq!(
        u.chain_failures.as_deref(),
        Some(r#"{"SPY":"D1 write failed"}"#)
    );
    assert_eq!(
        u.chain_rows,
        10 + 2 + 1,
        "the written symbols and SPY's verdict"
    );
    assert_eq!(t.quality["SPY"].0, "failing");
    assert_eq!(out.run.symbols_failed, 1);
    assert_eq!(ran.errors.len(), 1);
    assert_eq!(ran.errors[0]["event"], "chain_write");
    assert_eq!(ran.errors[0]["symbol"], "SPY");
}

#[test]
fn retention_deletes_only_what_is_past_retention() {
    let mut store = Store::default();
    let retention = i64::from(config().chains.retention_days);
    let t = store.tables.get_mut();
    seed(t, "AAPL", Duration::days(retention) + Duration::minutes(1));
    seed(t, "AAPL", Duration::days(retention) - Duration::minutes(1));
    seed(t, "AAPL", Duration::days(1));
    // Daily metrics are kept 800 days, not the chain retention.
    let old_day = (date("2026-11-20") - Duration::days(super::DAILY_METRICS_RETENTION_DAYS + 1))
        .format("%Y-%m-%d")
        .to_string();
    let kept_day = (date("2026-11-20") - Duration::days(super::DAILY_METRICS_RETENTION_DAYS))
        .format("%Y-%m-%d")
        .to_string();
    t.daily
        .insert(("AAPL".into(), old_day.clone()), (0, Some(0.2)));
    t.daily
        .insert(("AAPL".into(), kept_day.clone()), (0, Some(0.2)));
    // Another symbol's rows are not this run's to prune.
    seed(t, "MSFT", Duration::days(retention + 30));

    let bridge = FakeBridge::default();
    let out = step(&store, &bridge, RunStatus::Ok).outcome.unwrap();

    let t = store.tables.borrow();
    let cutoff = (now() - Duration::days(retention)).timestamp_millis();
    let aapl_ts: Vec<i64> = t
        .intraday
        .iter()
        .filter(|r| r.0 == "AAPL")
        .map(|r| r.1)
        .collect();
    assert_eq!(aapl_ts.len(), 3, "two kept seeds and this run's row");
    assert!(aapl_ts.iter().all(|ts| *ts >= cutoff));
    assert!(t
        .snapshots
        .iter()
        .filter(|r| r.0 == "AAPL")
        .all(|r| r.1 >= cutoff));
    assert_eq!(t.snapshots.iter().filter(|r| r.0 == "AAPL").count(), 4);
    assert!(!t.daily.contains_key(&("AAPL".into(), old_day)));
    assert!(t.daily.contains_key(&("AAPL".into(), kept_day)));
    assert_eq!(t.rows_of("MSFT"), 3);

    // The deletes are counted with the rows written.
    let u = &store.updates.borrow()[0];
    let by_table: serde_json::Value = serde_json::from_str(&u.rows_by_table).unwrap();
    assert_eq!(by_table["tables"]["chain_snapshots"], 6 + 1);
    assert_eq!(by_table["tables"]["underlying_metrics_intraday"], 3 + 1);
    assert_eq!(by_table["tables"]["underlying_metrics_daily"], 3 + 1);
    assert_eq!(out.run.status, RunStatus::Ok);
}

#[test]
fn a_skipped_or_failed_quote_step_fetches_and_writes_nothing() {
    for status in [RunStatus::Skipped, RunStatus::Failed] {
        let (store, bridge) = (Store::default(), FakeBridge::default());
        let ran = step(&store, &bridge, status);
        assert!(ran.outcome.is_none());
        assert!(bridge.calls.borrow().is_empty());
        assert!(store.batches.borrow().is_empty());
        assert!(store.updates.borrow().is_empty());
    }
}

/// A chain of `symbol` where the 95 put is crossed and the 105 call has no
/// bid (both dropped by the gate), served as `data_type`.
fn flawed_chain(symbol: &str, data_type: DataType) -> OptionChain {
    let mut c = chain_of(symbol);
    c.data_type = data_type;
    c.expiries[0].contracts[0].bid = Some(1.50); // crossed: 1.50 x 1.40
    c.expiries[0].contracts[3].bid = Some(0.0); // zero bid
    c
}

struct GateBridge {
    inner: FakeBridge,
    data_type: std::cell::Cell<DataType>,
    as_of: std::cell::Cell<DateTime<Utc>>,
}

impl Bridge for GateBridge {
    async fn get(&self, path: &str, t: u32) -> Result<BridgeAnswer, BridgeFailure> {
        if path.starts_with("/chain?") {
            let symbol = param(path, "symbol");
            let mut chain = flawed_chain(symbol, self.data_type.get());
            chain.as_of = self.as_of.get();
            let body = serde_json::to_string(&chain).unwrap();
            return Ok(BridgeAnswer { status: 200, body });
        }
        self.inner.get(path, t).await
    }

    async fn post_json(&self, path: &str, b: &str, t: u32) -> Result<BridgeAnswer, BridgeFailure> {
        self.inner.post_json(path, b, t).await
    }
}

#[test]
fn the_gate_drops_bad_contracts_before_the_analytics_and_stores_each_verdict() {
    let store = Store::default();
    let bridge = GateBridge {
        inner: FakeBridge::default(),
        data_type: std::cell::Cell::new(DataType::Simulated),
        as_of: std::cell::Cell::new(now()),
    };
    let cfg = config();
    let log = |_line: serde_json::Value| {};
    let at = std::cell::Cell::new(now());
    let clock = || at.get();
    let run = |status| {
        block_on(enrich(
            &store,
            &bridge,
            &cfg,
            at.get(),
            &quote_run(status),
            &clock,
            &log,
        ))
        .unwrap()
        .unwrap()
    };
    let out = run(RunStatus::Ok);

    // Two of eight contracts dropped per symbol, counted by reason on the run.
    let u = store.updates.borrow()[0].clone();
    let skips: BTreeMap<String, u64> = serde_json::from_str(&u.contract_skips).unwrap();
    assert_eq!(skips.get("gate_crossed"), Some(&3));
    assert_eq!(skips.get("gate_zero_bid"), Some(&3));
    assert_eq!(
        skips.get("crossed_quote"),
        None,
        "the analytics never saw them"
    );
    assert_eq!(out.summary.quality["AAPL"].kept, 6);
    assert_eq!(out.summary.quality["AAPL"].input, 8);
    assert!(
        out.summary.held().is_empty(),
        "25 % dropped is under the 50 % hold"
    );
    {
        let t = store.tables.borrow();
        assert_eq!(t.quality["AAPL"].0, "live");
    }

    // Delayed data: the contracts still feed the analytics, the symbol is held.
    bridge.data_type.set(DataType::Delayed);
    let first_delayed = now() + Duration::minutes(15);
    at.set(first_delayed);
    bridge.as_of.set(first_delayed);
    let out = run(RunStatus::Ok);
    assert_eq!(out.summary.held().get("SPY"), Some(&"delayed"));
    at.set(now() + Duration::minutes(30));
    bridge.as_of.set(now() + Duration::minutes(30));
    run(RunStatus::Ok);
    let t = store.tables.borrow();
    let (state, since, checked, reasons) = &t.quality["SPY"];
    assert_eq!(state, "delayed");
    assert_eq!(
        *since,
        first_delayed.timestamp_millis(),
        "since: when it became delayed"
    );
    assert_eq!(*checked, (now() + Duration::minutes(30)).timestamp_millis());
    assert!(reasons.contains("not_live"), "{reasons}");
}

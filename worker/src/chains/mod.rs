//! The option-chain step, a feature in three parts: [`model`] (the D1
//! statements of one symbol as plain data, the reads of stored history, the
//! run-record update, the rows-written ledger), [`service`] (the workflow
//! over a [`service::ChainStore`] and the [`crate::bridge::Bridge`], with the
//! clock passed in) and [`view`] (the run's JSON columns and log line). This
//! file holds the pure parts they share: bridge paths and answers (`/chain`,
//! `/history/daily`), the packed daily-bar store, the analytics of one symbol
//! (with `sas_core`) and a small bounded-concurrency runner. `edge::chains`
//! implements the store over D1.
//!
//! Write budget: see `docs/d1-write-budget.md`. Every statement built here
//! says how many rows it is expected to write ([`SqlStatement::expected_rows`]);
//! the edge prefers D1's own `meta.rows_written` and falls back to that count.

pub mod model;
pub mod service;
#[cfg(test)]
mod service_tests;
pub mod view;

pub use model::*;

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::analytics::chain::{analyze, ChainHistory, SkipCounts};
use sas_core::analytics::rows::{build_chain_rows, ChainRows};
use sas_core::calendar::utc_to_eastern;
use sas_core::market::{ChainWindow, DailyBar, OptionChain, Symbol};
use sas_core::score::FactorInputs;

use crate::config::truncate;
use sas_bridge_api::market::HistoryBody;

/// Daily bars fetched for a symbol with no usable stored history.
pub const BOOTSTRAP_HISTORY_DAYS: u32 = 300;
/// Daily bars fetched per run once history is stored (covers a long weekend
/// plus a missed day or two and overlaps the stored bars for a consistency check).
pub const INCREMENTAL_HISTORY_DAYS: u32 = 10;
/// Newest daily bars kept per symbol.
pub const KEPT_DAILY_BARS: usize = 300;
/// Fewest stored bars for which a run fetches only [`INCREMENTAL_HISTORY_DAYS`].
pub const MIN_STORED_BARS: usize = 60;
/// A stored history whose newest bar is older than this (calendar days) is
/// refetched in full.
pub const MAX_STALE_HISTORY_DAYS: i64 = 10;
/// Relative difference above which an overlapping bar counts as changed
/// (split/dividend adjustment or a re-based source): the full history is refetched.
pub const BAR_MISMATCH_TOLERANCE: f64 = 1e-4;
/// Calendar days of daily ATM-IV rows read for IV rank (252 trading days fit).
pub const IV_HISTORY_LOOKBACK_DAYS: i64 = 380;
/// Calendar days of daily metric rows kept.
pub const DAILY_METRICS_RETENTION_DAYS: i64 = 800;

pub use crate::config::chains::*;

/// Bridge path of one symbol's chain.
pub fn chain_path(symbol: &Symbol, window: &ChainWindow) -> String {
    format!(
        "/chain?symbol={symbol}&min_dte={}&max_dte={}&strikes={}",
        window.min_dte, window.max_dte, window.strikes
    )
}

/// Bridge path of one symbol's daily bars.
pub fn history_path(symbol: &Symbol, days: u32) -> String {
    format!("/history/daily?symbol={symbol}&days={days}")
}

/// Why one symbol of the chain step failed (stored in the run's
/// `chain_failures`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainReadError {
    #[error("malformed chain JSON: {0}")]
    MalformedChain(String),
    #[error("chain is for {0} instead")]
    ChainOfOtherSymbol(Symbol),
    #[error("chain has no valid spot price")]
    NoSpot,
    #[error("chain has no expiries")]
    NoExpiries,
    #[error("malformed daily history JSON: {0}")]
    MalformedHistory(String),
    #[error("daily history is for {0} instead")]
    HistoryOfOtherSymbol(Symbol),
    #[error("daily history is inconsistent")]
    InconsistentHistory,
    #[error("{0}")]
    Bridge(crate::bridge::BridgeFailure),
    #[error("bridge answered HTTP {status} to {path}")]
    BridgeStatus { status: u16, path: String },
    #[error("D1 write failed")]
    WriteFailed,
}

/// Interprets a bridge `/chain` body for `symbol`. Any shape problem fails the
/// symbol (individual bad contracts are counted later by the analytics).
pub fn parse_chain(body: &str, symbol: &Symbol) -> Result<OptionChain, ChainReadError> {
    let chain: OptionChain = serde_json::from_str(body)
        .map_err(|e| ChainReadError::MalformedChain(truncate(&e.to_string(), 120)))?;
    if &chain.symbol != symbol {
        return Err(ChainReadError::ChainOfOtherSymbol(chain.symbol));
    }
    if !(chain.spot.is_finite() && chain.spot > 0.0) {
        return Err(ChainReadError::NoSpot);
    }
    if chain.expiries.is_empty() {
        return Err(ChainReadError::NoExpiries);
    }
    Ok(chain)
}

/// Interprets a bridge `/history/daily` body for `symbol`: bars sorted by
/// date, duplicates dropped, bars with non-finite or non-positive prices or
/// inconsistent OHLC dropped.
pub fn parse_history(body: &str, symbol: &Symbol) -> Result<Vec<DailyBar>, ChainReadError> {
    let parsed: HistoryBody = serde_json::from_str(body)
        .map_err(|e| ChainReadError::MalformedHistory(truncate(&e.to_string(), 120)))?;
    if &parsed.symbol != symbol {
        return Err(ChainReadError::HistoryOfOtherSymbol(parsed.symbol));
    }
    Ok(clean_bars(parsed.bars))
}

fn bar_ok(b: &DailyBar) -> bool {
    let prices = [b.open, b.high, b.low, b.close];
    prices.iter().all(|p| p.is_finite() && *p > 0.0)
        && b.low <= b.high
        && b.low <= b.open.min(b.close)
        && b.high >= b.open.max(b.close)
}

fn clean_bars(mut bars: Vec<DailyBar>) -> Vec<DailyBar> {
    bars.retain(bar_ok);
    bars.sort_by_key(|b| b.date);
    bars.dedup_by_key(|b| b.date);
    bars
}

/// One packed bar: `[date, open, high, low, close, volume]`.
type PackedBar = (NaiveDate, f64, f64, f64, f64, u64);

/// The JSON stored in `daily_bars.bars_json`.
pub fn pack_bars(bars: &[DailyBar]) -> String {
    let packed: Vec<PackedBar> = bars
        .iter()
        .map(|b| (b.date, b.open, b.high, b.low, b.close, b.volume))
        .collect();
    serde_json::to_string(&packed).unwrap_or_else(|_| "[]".to_owned())
}

/// Reads `daily_bars.bars_json`; a damaged value reads as no bars (the next
/// run then bootstraps the history again).
pub fn unpack_bars(json: &str) -> Vec<DailyBar> {
    serde_json::from_str::<Vec<PackedBar>>(json)
        .map(|rows| {
            clean_bars(
                rows.into_iter()
                    .map(|(date, open, high, low, close, volume)| DailyBar {
                        date,
                        open,
                        high,
                        low,
                        close,
                        volume,
                    })
                    .collect(),
            )
        })
        .unwrap_or_default()
}

/// Daily bars to ask the bridge for, given the stored ones (oldest first).
pub fn history_days_to_fetch(stored: &[DailyBar], today: NaiveDate) -> u32 {
    match stored.last() {
        Some(last)
            if stored.len() >= MIN_STORED_BARS
                && (today - last.date).num_days() <= MAX_STALE_HISTORY_DAYS =>
        {
            INCREMENTAL_HISTORY_DAYS
        }
        _ => BOOTSTRAP_HISTORY_DAYS,
    }
}

/// Result of merging fetched bars into stored ones.
#[derive(Debug, Clone, PartialEq)]
pub enum BarMerge {
    /// The merged history (newest [`KEPT_DAILY_BARS`]) and whether it differs
    /// from the stored one (then it must be written).
    Merged { bars: Vec<DailyBar>, changed: bool },
    /// A fetched bar disagrees with a stored bar of the same date (adjusted
    /// or re-based history): fetch the full history and replace.
    Refetch,
}

fn differs(a: f64, b: f64) -> bool {
    (a - b).abs() > BAR_MISMATCH_TOLERANCE * a.abs().max(b.abs())
}

/// Merges `fetched` into `stored` (both oldest first). Fetched bars win for
/// dates not stored yet; an overlapping bar that disagrees asks for a refetch.
pub fn merge_bars(stored: &[DailyBar], fetched: &[DailyBar]) -> BarMerge {
    let mut by_date: BTreeMap<NaiveDate, DailyBar> =
        stored.iter().map(|b| (b.date, b.clone())).collect();
    let mut changed = false;
    for f in fetched {
        match by_date.get(&f.date) {
            Some(s) => {
                if differs(s.close, f.close) || differs(s.open, f.open) {
                    return BarMerge::Refetch;
                }
                if s.volume != f.volume || differs(s.high, f.high) || differs(s.low, f.low) {
                    // A late correction of the same session: take it.
                    by_date.insert(f.date, f.clone());
                    changed = true;
                }
            }
            None => {
                by_date.insert(f.date, f.clone());
                changed = true;
            }
        }
    }
    let mut bars: Vec<DailyBar> = by_date.into_values().collect();
    if bars.len() > KEPT_DAILY_BARS {
        bars.drain(..bars.len() - KEPT_DAILY_BARS);
        changed = true;
    }
    BarMerge::Merged { bars, changed }
}

/// The New York calendar date of an instant (the trading date of a snapshot).
pub fn trading_date(t: DateTime<Utc>) -> NaiveDate {
    utc_to_eastern(t).date()
}

/// Everything computed for one symbol in one run.
#[derive(Debug, Clone)]
pub struct SymbolAnalysis {
    /// Storage rows from core (`analytics::rows`).
    pub rows: ChainRows,
    /// Score inputs measured from the chain and the daily bars.
    pub factors: FactorInputs,
    /// Contracts skipped by reason.
    pub skips: SkipCounts,
    /// Snapshot time, Unix ms.
    pub ts: i64,
    /// New York trading date of the snapshot.
    pub date: NaiveDate,
}

/// Runs the core analytics over one chain with the stored history.
/// `iv_history` is the daily 30-day ATM IV of EARLIER dates, oldest first.
pub fn analyze_symbol(
    chain: &OptionChain,
    bars: &[DailyBar],
    iv_history: &[f64],
    rate: f64,
) -> SymbolAnalysis {
    let history = ChainHistory {
        daily_bars: bars,
        atm_iv_30d: iv_history,
    };
    let (analytics, skips) = analyze(chain, rate, &history);
    let factors = analytics.factor_inputs(bars);
    let rows = build_chain_rows(&analytics, &skips);
    SymbolAnalysis {
        rows,
        factors,
        skips,
        ts: chain.as_of.timestamp_millis(),
        date: trading_date(chain.as_of),
    }
}

/// Runs the futures produced by `tasks` with at most `limit` in flight,
/// returning their outputs in the order of `tasks` (`futures-util`'s
/// ordered buffer).
pub async fn run_bounded<T, F>(tasks: Vec<F>, limit: usize) -> Vec<T>
where
    F: Future<Output = T>,
{
    use futures_util::stream::{self, StreamExt};
    stream::iter(tasks).buffered(limit.max(1)).collect().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RunStatus;
    use chrono::Duration;
    use sas_core::market::{ChainExpiry, DataType, OptionQuote, OptionRight, SourceGreeks};
    use sas_core::score::ScoreWeights;
    use std::cell::Cell;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn bar(d: NaiveDate, close: f64) -> DailyBar {
        DailyBar {
            date: d,
            open: close * 0.99,
            high: close * 1.01,
            low: close * 0.98,
            close,
            volume: 1_000_000,
        }
    }

    fn weekdays_until(last: NaiveDate, n: usize) -> Vec<DailyBar> {
        let mut out = Vec::new();
        let mut d = last;
        let mut i = 0u32;
        while out.len() < n {
            if !matches!(
                chrono::Datelike::weekday(&d),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            ) {
                out.push(bar(d, 100.0 + f64::from(i % 7)));
                i += 1;
            }
            d -= Duration::days(1);
        }
        out.reverse();
        out
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn config_defaults_and_errors() {
        let mut errors = Vec::new();
        let cfg = ChainConfig::from_lookup(&lookup(&[]), &mut errors);
        assert!(errors.is_empty());
        assert_eq!(cfg, ChainConfig::default());
        assert_eq!(cfg.window, ChainWindow::default());

        let cfg = ChainConfig::from_lookup(
            &lookup(&[
                ("CHAIN_MIN_DTE", "70"),
                ("CHAIN_MAX_DTE", "60"),
                ("CHAIN_STRIKES", "0"),
                ("CHAIN_CONCURRENCY", "99"),
                ("RISK_FREE_RATE", "NaN"),
                ("SCORE_WEIGHTS", "iv_rank=-1"),
            ]),
            &mut errors,
        );
        let text = errors.join("; ");
        assert_eq!(errors.len(), 5, "{text}");
        for needle in [
            "CHAIN_STRIKES",
            "CHAIN_CONCURRENCY",
            "CHAIN_MIN_DTE must not be greater",
            "RISK_FREE_RATE",
            "SCORE_WEIGHTS",
        ] {
            assert!(text.contains(needle), "{needle} missing: {text}");
        }
        assert_eq!(cfg.score_weights, ScoreWeights::default());
    }

    #[test]
    fn score_weights_parse() {
        let w = parse_score_weights("iv_rank=4, momentum=0").unwrap();
        assert_eq!(w.iv_rank, 4.0);
        assert_eq!(w.momentum, 0.0);
        assert_eq!(w.realized_vol, ScoreWeights::default().realized_vol);
        assert!(parse_score_weights("vega=1")
            .unwrap_err()
            .to_string()
            .contains("unknown factor"));
        assert!(parse_score_weights("range")
            .unwrap_err()
            .to_string()
            .contains("name=weight"));
        assert!(parse_score_weights("range=x")
            .unwrap_err()
            .to_string()
            .contains("not a number"));
        assert!(
            parse_score_weights("realized_vol=0,range=0,iv_rank=0,volume=0,momentum=0").is_err()
        );
        assert!(parse_score_weights("range=inf").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(
            chain_path(&sym("SPY"), &ChainWindow::default()),
            "/chain?symbol=SPY&min_dte=7&max_dte=60&strikes=20"
        );
        assert_eq!(
            history_path(&sym("BRK.B"), 10),
            "/history/daily?symbol=BRK.B&days=10"
        );
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

    /// A small chain priced near 30% vol: two expiries, four contracts each.
    fn chain() -> OptionChain {
        let as_of = DateTime::parse_from_rfc3339("2026-11-20T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
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
            symbol: sym("AAPL"),
            spot: 100.0,
            as_of,
            data_type: DataType::Simulated,
            dividend_yield: Some(0.0),
            expiries: vec![expiry("2026-12-11", 21, 1.0), expiry("2027-01-15", 56, 1.6)],
        }
    }

    #[test]
    fn parse_chain_checks_shape_symbol_and_spot() {
        let body = serde_json::to_string(&chain()).unwrap();
        let parsed = parse_chain(&body, &sym("AAPL")).unwrap();
        assert_eq!(parsed.expiries.len(), 2);
        assert!(parse_chain(&body, &sym("MSFT"))
            .unwrap_err()
            .to_string()
            .contains("instead"));
        assert!(parse_chain("<html>", &sym("AAPL"))
            .unwrap_err()
            .to_string()
            .starts_with("malformed chain JSON"));
        let mut bad = chain();
        bad.spot = 0.0;
        let body = serde_json::to_string(&bad).unwrap();
        assert!(parse_chain(&body, &sym("AAPL"))
            .unwrap_err()
            .to_string()
            .contains("spot"));
        let mut empty = chain();
        empty.expiries.clear();
        let body = serde_json::to_string(&empty).unwrap();
        assert!(parse_chain(&body, &sym("AAPL"))
            .unwrap_err()
            .to_string()
            .contains("no expiries"));
    }

    #[test]
    fn parse_history_sorts_and_drops_bad_bars() {
        let body = r#"{"symbol":"SPY","bars":[
            {"date":"2026-11-19","open":10,"high":11,"low":9,"close":10.5,"volume":5},
            {"date":"2026-11-18","open":10,"high":11,"low":9,"close":10.2,"volume":4},
            {"date":"2026-11-17","open":10,"high":9,"low":11,"close":10.2,"volume":4},
            {"date":"2026-11-16","open":-1,"high":11,"low":9,"close":10.2,"volume":4},
            {"date":"2026-11-19","open":10,"high":11,"low":9,"close":10.5,"volume":5}
        ]}"#;
        let bars = parse_history(body, &sym("SPY")).unwrap();
        let dates: Vec<String> = bars.iter().map(|b| b.date.to_string()).collect();
        assert_eq!(dates, ["2026-11-18", "2026-11-19"]);
        assert!(parse_history(body, &sym("QQQ")).is_err());
        assert!(parse_history(r#"{"bars":[]}"#, &sym("SPY")).is_err());
    }

    #[test]
    fn packed_bars_round_trip_and_damage_reads_as_empty() {
        let bars = weekdays_until(date("2026-11-20"), 5);
        let json = pack_bars(&bars);
        assert!(json.starts_with("[[\"2026-11-16\","), "{json}");
        assert_eq!(unpack_bars(&json), bars);
        assert!(unpack_bars("not json").is_empty());
        assert!(unpack_bars("[[1,2]]").is_empty());
    }

    #[test]
    fn history_fetch_plan() {
        let today = date("2026-11-21");
        assert_eq!(history_days_to_fetch(&[], today), BOOTSTRAP_HISTORY_DAYS);
        let short = weekdays_until(date("2026-11-20"), MIN_STORED_BARS - 1);
        assert_eq!(history_days_to_fetch(&short, today), BOOTSTRAP_HISTORY_DAYS);
        let full = weekdays_until(date("2026-11-20"), 250);
        assert_eq!(
            history_days_to_fetch(&full, today),
            INCREMENTAL_HISTORY_DAYS
        );
        let stale = weekdays_until(date("2026-11-06"), 250);
        assert_eq!(history_days_to_fetch(&stale, today), BOOTSTRAP_HISTORY_DAYS);
    }

    #[test]
    fn merge_appends_new_bars_and_caps_the_length() {
        let stored = weekdays_until(date("2026-11-19"), KEPT_DAILY_BARS);
        let fetched = weekdays_until(date("2026-11-20"), 10);
        // Align the overlapping closes with the stored ones.
        let fetched: Vec<DailyBar> = fetched
            .into_iter()
            .map(|f| {
                stored
                    .iter()
                    .find(|s| s.date == f.date)
                    .cloned()
                    .unwrap_or(f)
            })
            .collect();
        match merge_bars(&stored, &fetched) {
            BarMerge::Merged { bars, changed } => {
                assert!(changed);
                assert_eq!(bars.len(), KEPT_DAILY_BARS);
                assert_eq!(bars.last().unwrap().date, date("2026-11-20"));
                assert_eq!(bars[0].date, stored[1].date);
            }
            BarMerge::Refetch => panic!("no refetch expected"),
        }
        // Nothing new: nothing to write.
        let overlap = stored[stored.len() - 5..].to_vec();
        assert_eq!(
            merge_bars(&stored, &overlap),
            BarMerge::Merged {
                bars: stored.clone(),
                changed: false
            }
        );
        // Empty store: bootstrap.
        match merge_bars(&[], &fetched) {
            BarMerge::Merged { bars, changed } => {
                assert!(changed);
                assert_eq!(bars.len(), 10);
            }
            BarMerge::Refetch => panic!(),
        }
    }

    #[test]
    fn merge_asks_for_refetch_when_history_was_rebased() {
        let stored = weekdays_until(date("2026-11-19"), 100);
        let mut fetched = stored[95..].to_vec();
        fetched[0].close *= 0.5; // e.g. a 2:1 split adjustment
        fetched[0].low *= 0.5;
        assert_eq!(merge_bars(&stored, &fetched), BarMerge::Refetch);
        // A volume correction alone is taken without a refetch.
        let mut corrected = stored[95..].to_vec();
        corrected[1].volume += 10;
        match merge_bars(&stored, &corrected) {
            BarMerge::Merged { bars, changed } => {
                assert!(changed);
                assert_eq!(bars[96].volume, stored[96].volume + 10);
            }
            BarMerge::Refetch => panic!(),
        }
    }

    #[test]
    fn trading_date_is_new_york() {
        let late = DateTime::parse_from_rfc3339("2026-11-21T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(trading_date(late), date("2026-11-20"));
        let day = DateTime::parse_from_rfc3339("2026-07-01T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(trading_date(day), date("2026-07-01"));
    }

    fn analysis(iv_history: &[f64]) -> SymbolAnalysis {
        let bars = weekdays_until(date("2026-11-19"), 60);
        analyze_symbol(&chain(), &bars, iv_history, 0.04)
    }

    #[test]
    fn analysis_carries_iv_history_days_and_factors() {
        let none = analysis(&[]);
        assert!(none.rows.underlying.atm_iv_30d.is_some());
        assert_eq!(none.rows.underlying.iv_history_days, None);
        assert_eq!(none.factors.iv_rank, None);
        assert!(none.factors.realized_vol.is_some());
        assert_eq!(none.date, date("2026-11-20"));
        assert_eq!(none.skips.total(), 0);

        let history: Vec<f64> = (0..30).map(|i| 0.10 + 0.01 * f64::from(i)).collect();
        let some = analysis(&history);
        assert_eq!(some.rows.underlying.iv_history_days, Some(31));
        let rank = some.factors.iv_rank.unwrap();
        assert!((0.0..=100.0).contains(&rank));
    }

    #[test]
    fn skipped_contracts_are_counted_not_stored() {
        let mut c = chain();
        c.expiries[0].contracts[0].bid = Some(2.0); // crossed: bid > ask
        c.expiries[0].contracts[1].ask = None;
        let bars = weekdays_until(date("2026-11-19"), 60);
        let a = analyze_symbol(&c, &bars, &[], 0.04);
        assert_eq!(a.skips.total(), 2);
        let mut summary = ChainStepSummary::default();
        summary.add_skips(&a.skips);
        summary.add_skips(&a.skips);
        assert_eq!(summary.skips.get("crossed_quote"), Some(&2));
        assert_eq!(summary.skips.get("missing_quote"), Some(&2));
        let (json, n) = expiries_json(&a.rows);
        assert_eq!(n, 2);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let first: serde_json::Value = serde_json::from_str(v[0]["c"].as_str().unwrap()).unwrap();
        assert_eq!(first.as_array().unwrap().len(), 2, "only valued contracts");
    }

    #[test]
    fn statements_of_one_symbol() {
        let a = analysis(&[0.2, 0.3]);
        let now = DateTime::parse_from_rfc3339("2026-11-20T16:00:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let bars = weekdays_until(date("2026-11-19"), 3);
        let st = symbol_statements(
            &sym("AAPL"),
            &a,
            Some(&bars),
            3,
            crate::config::archive::PruneGate::Retention,
            now,
        );
        let sqls: Vec<&str> = st.iter().map(|s| s.sql).collect();
        assert_eq!(
            sqls,
            [
                PRUNE_CHAIN_SNAPSHOTS,
                PRUNE_METRICS_INTRADAY,
                PRUNE_METRICS_DAILY,
                INSERT_CHAIN_SNAPSHOTS,
                INSERT_METRICS_INTRADAY,
                UPSERT_METRICS_DAILY,
                UPSERT_DAILY_BARS
            ]
        );
        for s in &st {
            let max_param = (1..=20)
                .rev()
                .find(|i| s.sql.contains(&format!("?{i}")))
                .unwrap_or(0);
            assert_eq!(max_param, s.params.len(), "{}", s.sql);
        }
        assert_eq!(
            st[0].params[1],
            SqlValue::Int(now.timestamp_millis() - 3 * 86_400_000)
        );
        assert_eq!(st[2].params[1], SqlValue::Text("2024-09-11".into()));
        assert_eq!(st[3].expected_rows, ExpectedRows::Exactly(2));
        assert_eq!(st[5].params[15], SqlValue::Text("2026-11-20".into()));
        assert_eq!(st[4].params[6], SqlValue::Int(3));
        let factors: FactorInputs = match &st[4].params[14] {
            SqlValue::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(factors, a.factors);
        // Without new bars the bar row is not rewritten.
        let st = symbol_statements(
            &sym("AAPL"),
            &a,
            None,
            3,
            crate::config::archive::PruneGate::Retention,
            now,
        );
        assert_eq!(st.len(), 6);
        // The deterministic count of a fresh symbol: 2 expiries + 2 metric rows + bars.
        let mut ledger = RowsLedger::default();
        for s in &symbol_statements(
            &sym("AAPL"),
            &a,
            Some(&bars),
            3,
            crate::config::archive::PruneGate::Retention,
            now,
        ) {
            ledger.record(s, StatementMeta::default());
        }
        assert_eq!(ledger.total(), 5);
        assert_eq!(ledger.source(), RowsSource::Counted);
    }

    #[test]
    fn non_finite_values_bind_as_null() {
        assert_eq!(SqlValue::real(Some(f64::NAN)), SqlValue::Null);
        assert_eq!(SqlValue::real(None), SqlValue::Null);
        assert_eq!(SqlValue::real(Some(1.5)), SqlValue::Real(1.5));
        let mut a = analysis(&[]);
        a.rows.expiries[1].forward = f64::NAN;
        assert_eq!(expiries_json(&a.rows).1, 1);
    }

    #[test]
    fn ledger_prefers_d1_meta() {
        let insert = SqlStatement {
            sql: INSERT_CHAIN_SNAPSHOTS,
            params: vec![],
            table: Table::ChainSnapshots,
            expected_rows: ExpectedRows::Exactly(9),
        };
        let delete = SqlStatement {
            sql: PRUNE_CHAIN_SNAPSHOTS,
            params: vec![],
            table: Table::ChainSnapshots,
            expected_rows: ExpectedRows::Changes,
        };
        let mut l = RowsLedger::default();
        l.record(
            &insert,
            StatementMeta {
                rows_written: Some(9),
                changes: Some(9),
            },
        );
        l.record(
            &delete,
            StatementMeta {
                rows_written: Some(4),
                changes: Some(4),
            },
        );
        assert_eq!(l.total(), 13);
        assert_eq!(l.source(), RowsSource::D1Meta);
        let mut other = RowsLedger::default();
        other.record(
            &delete,
            StatementMeta {
                rows_written: None,
                changes: Some(2),
            },
        );
        l.absorb(&other);
        assert_eq!(l.total(), 15);
        let v: serde_json::Value = serde_json::from_str(&l.to_json()).unwrap();
        assert_eq!(v["tables"]["chain_snapshots"], 15);
        assert_eq!(v["chain_total"], 15);
        assert_eq!(v["source"], "counted");
    }

    #[test]
    fn summary_status_and_error() {
        let mut s = ChainStepSummary::default();
        assert_eq!(s.final_status(RunStatus::Ok), RunStatus::Ok);
        assert_eq!(s.error_text(None), None);
        assert_eq!(s.failures_json(), None);
        s.failed
            .push(("NVDA".into(), "bridge did not answer within 5000 ms".into()));
        assert_eq!(s.final_status(RunStatus::Ok), RunStatus::Partial);
        assert_eq!(s.final_status(RunStatus::Partial), RunStatus::Partial);
        assert_eq!(s.final_status(RunStatus::Failed), RunStatus::Failed);
        assert_eq!(
            s.error_text(Some("QQQ: invalid price")).unwrap(),
            "QQQ: invalid price; chains failed: NVDA: bridge did not answer within 5000 ms"
        );
        let v: serde_json::Value = serde_json::from_str(&s.failures_json().unwrap()).unwrap();
        assert_eq!(v["NVDA"], "bridge did not answer within 5000 ms");
        // Symbols failing in either step are counted once.
        assert_eq!(s.symbol_counts(10, 0, None), (9, 1));
        assert_eq!(s.symbol_counts(10, 1, Some("QQQ: invalid price")), (8, 2));
        assert_eq!(
            s.symbol_counts(10, 2, Some("META: crossed quote, NVDA: no quote returned")),
            (8, 2),
            "NVDA already counted by the quote step"
        );
        s.failed.push(("A".into(), "x".into()));
        assert_eq!(
            s.symbol_counts(10, 1, Some("META: crossed quote")),
            (7, 3),
            "'A' is not matched inside 'META'"
        );
        assert_eq!(s.symbol_counts(2, 2, Some("X: y")), (0, 2), "bounded");
    }

    #[test]
    fn iv_history_and_stored_bars_by_symbol() {
        let rows = vec![
            IvHistoryRow {
                symbol: "AAPL".into(),
                date: "2026-11-18".into(),
                atm_iv_30d: Some(0.3),
            },
            IvHistoryRow {
                symbol: "SPY".into(),
                date: "2026-11-18".into(),
                atm_iv_30d: Some(0.15),
            },
            IvHistoryRow {
                symbol: "AAPL".into(),
                date: "2026-11-19".into(),
                atm_iv_30d: Some(f64::NAN),
            },
        ];
        assert_eq!(iv_history_of(&rows, &sym("AAPL")), [0.3]);
        assert!(iv_history_of(&rows, &sym("QQQ")).is_empty());
        let bars = weekdays_until(date("2026-11-19"), 2);
        let stored = vec![StoredBarsRow {
            symbol: "AAPL".into(),
            bars_json: pack_bars(&bars),
        }];
        assert_eq!(stored_bars_of(&stored, &sym("AAPL")), bars);
        assert!(stored_bars_of(&stored, &sym("SPY")).is_empty());
    }

    /// A future that is pending `n` times before completing, recording the
    /// highest number of tasks in flight.
    struct Steps {
        left: u32,
        started: bool,
        value: usize,
        in_flight: Rc<Cell<usize>>,
        peak: Rc<Cell<usize>>,
    }

    impl Future for Steps {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            if !self.started {
                self.started = true;
                self.in_flight.set(self.in_flight.get() + 1);
                self.peak.set(self.peak.get().max(self.in_flight.get()));
            }
            if self.left == 0 {
                self.in_flight.set(self.in_flight.get() - 1);
                Poll::Ready(self.value)
            } else {
                self.left -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = Box::pin(f);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn bounded_runner_limits_concurrency_and_keeps_order() {
        let in_flight = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let tasks: Vec<Steps> = (0..10)
            .map(|i| Steps {
                left: u32::try_from(10 - i).unwrap(),
                started: false,
                value: i,
                in_flight: in_flight.clone(),
                peak: peak.clone(),
            })
            .collect();
        let out = block_on(run_bounded(tasks, 3));
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert_eq!(peak.get(), 3);
        assert_eq!(in_flight.get(), 0);
        let (in_flight, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let step = |left: u32, value: usize| Steps {
            left,
            started: false,
            value,
            in_flight: in_flight.clone(),
            peak: peak.clone(),
        };
        assert_eq!(
            block_on(futures_util::future::join(step(5, 1), step(1, 2))),
            (1, 2)
        );
        assert_eq!(peak.get(), 2, "both ran at the same time");
        let empty: Vec<Steps> = Vec::new();
        assert!(block_on(run_bounded(empty, 3)).is_empty());
    }
}

//! Option-chain ingestion, pure part: configuration of the chain step,
//! bridge paths and answers (`/chain`, `/history/daily`), the packed daily-bar
//! store, the analytics of one symbol (with `sas_core`), the D1 statements of
//! one symbol as plain data, the rows-written accounting of a run, and a small
//! bounded-concurrency runner. `edge::chains` does the I/O around these.
//!
//! Write budget: see `docs/d1-write-budget.md`. Every statement built here
//! says how many rows it is expected to write ([`SqlStatement::expected_rows`]);
//! the edge prefers D1's own `meta.rows_written` and falls back to that count.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sas_core::analytics::chain::{analyze, ChainHistory, SkipCounts};
use sas_core::analytics::rows::{build_chain_rows, ChainRows};
use sas_core::calendar::utc_to_eastern;
use sas_core::market::{ChainWindow, DailyBar, OptionChain, Symbol};
use sas_core::score::FactorInputs;
use serde::{Deserialize, Serialize};

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

/// A value bound to a D1 statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Real(f64),
    Int(i64),
    Null,
}

impl SqlValue {
    /// A real, or NULL when absent or not finite (D1 cannot store NaN).
    pub fn real(v: Option<f64>) -> Self {
        match v {
            Some(x) if x.is_finite() => SqlValue::Real(x),
            _ => SqlValue::Null,
        }
    }
}

/// Tables written by the chain step (keys of `ingest_runs.rows_by_table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    ChainSnapshots,
    UnderlyingMetricsIntraday,
    UnderlyingMetricsDaily,
    DailyBars,
}

impl Table {
    /// Table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::ChainSnapshots => "chain_snapshots",
            Table::UnderlyingMetricsIntraday => "underlying_metrics_intraday",
            Table::UnderlyingMetricsDaily => "underlying_metrics_daily",
            Table::DailyBars => "daily_bars",
        }
    }
}

/// Rows a statement is expected to write (for the deterministic count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRows {
    /// Exactly this many (inserts and upserts).
    Exactly(u64),
    /// Not known in advance (deletes): D1's `changes` tells.
    Changes,
}

/// One D1 statement as data.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
    pub table: Table,
    pub expected_rows: ExpectedRows,
}

/// Inserts all expiries of one snapshot from the JSON array `?3`
/// (see [`expiries_json`]).
pub const INSERT_CHAIN_SNAPSHOTS: &str = "INSERT INTO chain_snapshots \
(symbol, ts, expiry, dte, forward, atm_iv, skew_25d, contracts_json) \
SELECT ?1, ?2, json_extract(value, '$.e'), json_extract(value, '$.d'), json_extract(value, '$.f'), \
json_extract(value, '$.a'), json_extract(value, '$.s'), json_extract(value, '$.c') \
FROM json_each(?3) WHERE true \
ON CONFLICT (symbol, ts, expiry) DO NOTHING";

/// One intraday metrics row: `?1` symbol, `?2` ts, `?3..?15` the metric columns.
pub const INSERT_METRICS_INTRADAY: &str = "INSERT INTO underlying_metrics_intraday \
(symbol, ts, spot, atm_iv_30d, iv_rank, iv_percentile, iv_history_days, rv_20d, \
skew_25d_30d, gex_per_1pct, dex, contracts_valued, skips_json, metrics_json, factors_json) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
ON CONFLICT (symbol, ts) DO NOTHING";

/// Upserts the daily metrics row: `?1` symbol, `?2` ts, `?3..?15` metrics, `?16` date.
pub const UPSERT_METRICS_DAILY: &str = "INSERT INTO underlying_metrics_daily \
(symbol, ts, spot, atm_iv_30d, iv_rank, iv_percentile, iv_history_days, rv_20d, \
skew_25d_30d, gex_per_1pct, dex, contracts_valued, skips_json, metrics_json, factors_json, date) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
ON CONFLICT (symbol, date) DO UPDATE SET ts = excluded.ts, spot = excluded.spot, \
atm_iv_30d = excluded.atm_iv_30d, iv_rank = excluded.iv_rank, iv_percentile = excluded.iv_percentile, \
iv_history_days = excluded.iv_history_days, rv_20d = excluded.rv_20d, \
skew_25d_30d = excluded.skew_25d_30d, gex_per_1pct = excluded.gex_per_1pct, dex = excluded.dex, \
contracts_valued = excluded.contracts_valued, skips_json = excluded.skips_json, \
metrics_json = excluded.metrics_json, factors_json = excluded.factors_json \
WHERE excluded.ts >= underlying_metrics_daily.ts";

/// Upserts one symbol's packed daily bars.
pub const UPSERT_DAILY_BARS: &str = "INSERT INTO daily_bars \
(symbol, first_date, last_date, bar_count, bars_json, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
ON CONFLICT (symbol) DO UPDATE SET first_date = excluded.first_date, \
last_date = excluded.last_date, bar_count = excluded.bar_count, bars_json = excluded.bars_json, \
updated_at = excluded.updated_at";

/// Deletes one symbol's chain snapshots older than `?2` (Unix ms).
pub const PRUNE_CHAIN_SNAPSHOTS: &str = "DELETE FROM chain_snapshots WHERE symbol = ?1 AND ts < ?2";
/// Deletes one symbol's intraday metrics older than `?2` (Unix ms).
pub const PRUNE_METRICS_INTRADAY: &str =
    "DELETE FROM underlying_metrics_intraday WHERE symbol = ?1 AND ts < ?2";
/// Deletes one symbol's daily metrics before `?2` (`YYYY-MM-DD`).
pub const PRUNE_METRICS_DAILY: &str =
    "DELETE FROM underlying_metrics_daily WHERE symbol = ?1 AND date < ?2";

/// Stored daily bars of each symbol of the JSON array `?1`.
pub const SELECT_DAILY_BARS: &str = "SELECT symbol, bars_json FROM daily_bars \
WHERE symbol IN (SELECT value FROM json_each(?1))";

/// Daily ATM IVs of each symbol of `?1` with `?2 <= date < ?3`, oldest first.
pub const SELECT_IV_HISTORY: &str =
    "SELECT symbol, date, atm_iv_30d FROM underlying_metrics_daily \
WHERE symbol IN (SELECT value FROM json_each(?1)) AND date >= ?2 AND date < ?3 \
AND atm_iv_30d IS NOT NULL ORDER BY symbol, date";

/// Row of [`SELECT_DAILY_BARS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredBarsRow {
    pub symbol: String,
    pub bars_json: String,
}

/// Row of [`SELECT_IV_HISTORY`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IvHistoryRow {
    pub symbol: String,
    pub date: String,
    pub atm_iv_30d: Option<f64>,
}

/// The daily ATM IVs of `symbol` from [`SELECT_IV_HISTORY`] rows (oldest first).
pub fn iv_history_of(rows: &[IvHistoryRow], symbol: &Symbol) -> Vec<f64> {
    rows.iter()
        .filter(|r| r.symbol == symbol.as_str())
        .filter_map(|r| r.atm_iv_30d)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect()
}

/// The stored bars of `symbol` from [`SELECT_DAILY_BARS`] rows.
pub fn stored_bars_of(rows: &[StoredBarsRow], symbol: &Symbol) -> Vec<DailyBar> {
    rows.iter()
        .find(|r| r.symbol == symbol.as_str())
        .map(|r| unpack_bars(&r.bars_json))
        .unwrap_or_default()
}

#[derive(Serialize)]
struct ExpiryJson<'a> {
    e: &'a str,
    d: u32,
    f: Option<f64>,
    a: Option<f64>,
    s: Option<f64>,
    c: &'a str,
}

/// The JSON array bound to [`INSERT_CHAIN_SNAPSHOTS`]; expiries with a
/// non-finite forward are left out (there is nothing sound to store).
pub fn expiries_json(rows: &ChainRows) -> (String, u64) {
    let list: Vec<ExpiryJson<'_>> = rows
        .expiries
        .iter()
        .filter(|e| e.forward.is_finite() && e.forward > 0.0)
        .map(|e| ExpiryJson {
            e: &e.expiry,
            d: e.dte,
            f: Some(e.forward),
            a: e.atm_iv.filter(|v| v.is_finite()),
            s: e.skew_25d.filter(|v| v.is_finite()),
            c: &e.contracts_json,
        })
        .collect();
    let n = list.len() as u64;
    (
        serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned()),
        n,
    )
}

/// The D1 statements of one symbol, to run as ONE batch (all or nothing):
/// prunes past retention, then chain snapshot, intraday and daily metrics,
/// and the packed daily bars when they changed (`new_bars`).
pub fn symbol_statements(
    symbol: &Symbol,
    analysis: &SymbolAnalysis,
    new_bars: Option<&[DailyBar]>,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Vec<SqlStatement> {
    let sym = || SqlValue::Text(symbol.to_string());
    let keep_from = (now - Duration::days(i64::from(retention_days))).timestamp_millis();
    let daily_keep_from = (analysis.date - Duration::days(DAILY_METRICS_RETENTION_DAYS))
        .format("%Y-%m-%d")
        .to_string();
    let mut out = vec![
        SqlStatement {
            sql: PRUNE_CHAIN_SNAPSHOTS,
            params: vec![sym(), SqlValue::Int(keep_from)],
            table: Table::ChainSnapshots,
            expected_rows: ExpectedRows::Changes,
        },
        SqlStatement {
            sql: PRUNE_METRICS_INTRADAY,
            params: vec![sym(), SqlValue::Int(keep_from)],
            table: Table::UnderlyingMetricsIntraday,
            expected_rows: ExpectedRows::Changes,
        },
        SqlStatement {
            sql: PRUNE_METRICS_DAILY,
            params: vec![sym(), SqlValue::Text(daily_keep_from)],
            table: Table::UnderlyingMetricsDaily,
            expected_rows: ExpectedRows::Changes,
        },
    ];
    let (json, n_expiries) = expiries_json(&analysis.rows);
    if n_expiries > 0 {
        out.push(SqlStatement {
            sql: INSERT_CHAIN_SNAPSHOTS,
            params: vec![sym(), SqlValue::Int(analysis.ts), SqlValue::Text(json)],
            table: Table::ChainSnapshots,
            expected_rows: ExpectedRows::Exactly(n_expiries),
        });
    }
    let u = &analysis.rows.underlying;
    let factors_json = serde_json::to_string(&analysis.factors).unwrap_or_else(|_| "{}".to_owned());
    let metric_params = vec![
        sym(),
        SqlValue::Int(analysis.ts),
        SqlValue::real(Some(u.spot)),
        SqlValue::real(u.atm_iv_30d),
        SqlValue::real(u.iv_rank),
        SqlValue::real(u.iv_percentile),
        SqlValue::Int(i64::from(u.iv_history_days.unwrap_or(0))),
        SqlValue::real(u.rv_20d),
        SqlValue::real(u.skew_25d_30d),
        SqlValue::real(Some(u.gex_per_1pct)),
        SqlValue::real(Some(u.dex)),
        SqlValue::Int(i64::from(u.contracts_valued)),
        SqlValue::Text(u.skips_json.clone()),
        SqlValue::Text(u.metrics_json.clone()),
        SqlValue::Text(factors_json),
    ];
    let mut daily_params = metric_params.clone();
    daily_params.push(SqlValue::Text(analysis.date.format("%Y-%m-%d").to_string()));
    out.push(SqlStatement {
        sql: INSERT_METRICS_INTRADAY,
        params: metric_params,
        table: Table::UnderlyingMetricsIntraday,
        expected_rows: ExpectedRows::Exactly(1),
    });
    out.push(SqlStatement {
        sql: UPSERT_METRICS_DAILY,
        params: daily_params,
        table: Table::UnderlyingMetricsDaily,
        expected_rows: ExpectedRows::Exactly(1),
    });
    if let Some(bars) = new_bars {
        if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
            out.push(SqlStatement {
                sql: UPSERT_DAILY_BARS,
                params: vec![
                    sym(),
                    SqlValue::Text(first.date.format("%Y-%m-%d").to_string()),
                    SqlValue::Text(last.date.format("%Y-%m-%d").to_string()),
                    SqlValue::Int(i64::try_from(bars.len()).unwrap_or(i64::MAX)),
                    SqlValue::Text(pack_bars(bars)),
                    SqlValue::Int(now.timestamp_millis()),
                ],
                table: Table::DailyBars,
                expected_rows: ExpectedRows::Exactly(1),
            });
        }
    }
    out
}

/// How the rows-written figure of a run was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowsSource {
    /// Summed from D1's `meta.rows_written` of every statement.
    D1Meta,
    /// At least one result had no `rows_written`: counted from the statements
    /// (inserts/upserts as expected, deletes by `meta.changes`).
    Counted,
}

/// Rows written by the chain step of a run, per table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowsLedger {
    by_table: BTreeMap<Table, u64>,
    counted_only: bool,
}

/// What D1 reported for one executed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatementMeta {
    pub rows_written: Option<u64>,
    pub changes: Option<u64>,
}

impl RowsLedger {
    /// Adds the rows of one executed statement: D1's `rows_written` when
    /// reported, else the expected/changed count.
    pub fn record(&mut self, statement: &SqlStatement, meta: StatementMeta) {
        let rows = match meta.rows_written {
            Some(n) => n,
            None => {
                self.counted_only = true;
                match statement.expected_rows {
                    ExpectedRows::Exactly(n) => n,
                    ExpectedRows::Changes => meta.changes.unwrap_or(0),
                }
            }
        };
        *self.by_table.entry(statement.table).or_insert(0) += rows;
    }

    /// Adds another ledger (one symbol's) to this one.
    pub fn absorb(&mut self, other: &RowsLedger) {
        for (t, n) in &other.by_table {
            *self.by_table.entry(*t).or_insert(0) += n;
        }
        self.counted_only |= other.counted_only;
    }

    /// Total rows written.
    pub fn total(&self) -> u64 {
        self.by_table.values().sum()
    }

    /// How the figures were obtained.
    pub fn source(&self) -> RowsSource {
        if self.counted_only {
            RowsSource::Counted
        } else {
            RowsSource::D1Meta
        }
    }

    /// `ingest_runs.rows_by_table`: `{"tables": {...}, "chain_total": n, "source": ...}`.
    pub fn to_json(&self) -> String {
        let tables: BTreeMap<&str, u64> =
            self.by_table.iter().map(|(t, n)| (t.name(), *n)).collect();
        serde_json::json!({
            "tables": tables,
            "chain_total": self.total(),
            "source": self.source(),
        })
        .to_string()
    }
}

/// Outcome of the chain step over the watchlist.
#[derive(Debug, Clone, Default)]
pub struct ChainStepSummary {
    /// Symbols fully written.
    pub ok: Vec<String>,
    /// Symbols that failed, with the reason (nothing of them written).
    pub failed: Vec<(String, String)>,
    /// Rows written by the step.
    pub rows: RowsLedger,
    /// Contracts skipped by the analytics, by reason code, over all symbols.
    pub skips: BTreeMap<String, u64>,
}

impl ChainStepSummary {
    /// Adds the skip counts of one symbol (a JSON object `{code: count}`).
    pub fn add_skips(&mut self, skips: &SkipCounts) {
        let as_map: BTreeMap<String, u64> = serde_json::to_value(skips)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        for (k, v) in as_map {
            *self.skips.entry(k).or_insert(0) += v;
        }
    }

    /// `ingest_runs.chain_failures`: `{"SYMBOL": "reason"}`, or `None`.
    pub fn failures_json(&self) -> Option<String> {
        if self.failed.is_empty() {
            return None;
        }
        let map: BTreeMap<&str, &str> = self
            .failed
            .iter()
            .map(|(s, r)| (s.as_str(), r.as_str()))
            .collect();
        serde_json::to_string(&map).ok()
    }

    /// `ingest_runs.contract_skips`.
    pub fn skips_json(&self) -> String {
        serde_json::to_string(&self.skips).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The run's final status after the chain step, from the status of its
    /// quote step: any chain failure turns an `ok` run `partial`.
    pub fn final_status(&self, quote_status: &str) -> &'static str {
        match quote_status {
            "ok" if self.failed.is_empty() => "ok",
            "ok" | "partial" => "partial",
            "skipped" => "skipped",
            _ => "failed",
        }
    }

    /// The run's `(symbols_ok, symbols_failed)` over both steps: a symbol
    /// counts as failed when its quote or its chain failed. Quote failures
    /// are read from the quote step's error text (`SYM: reason, ...`, see
    /// [`crate::ingest::batch_outcome`]); `watchlist_len` bounds the result.
    pub fn symbol_counts(
        &self,
        watchlist_len: i64,
        quote_failed: i64,
        quote_error: Option<&str>,
    ) -> (i64, i64) {
        let quote_failed_names: Vec<&str> = quote_error
            .unwrap_or("")
            .split([',', ';'])
            .filter_map(|part| part.split_once(':').map(|(name, _)| name.trim()))
            .collect();
        let extra = self
            .failed
            .iter()
            .filter(|(s, _)| !quote_failed_names.contains(&s.as_str()))
            .count();
        let failed = (quote_failed + i64::try_from(extra).unwrap_or(0)).clamp(0, watchlist_len);
        (watchlist_len - failed, failed)
    }

    /// The run's error text: the quote step's, then the chain failures.
    pub fn error_text(&self, quote_error: Option<&str>) -> Option<String> {
        let chains = (!self.failed.is_empty()).then(|| {
            let list: Vec<String> = self
                .failed
                .iter()
                .map(|(s, r)| format!("{s}: {r}"))
                .collect();
            format!("chains failed: {}", list.join(", "))
        });
        let text = match (quote_error, chains) {
            (None, None) => return None,
            (Some(q), None) => q.to_owned(),
            (None, Some(c)) => c,
            (Some(q), Some(c)) => format!("{q}; {c}"),
        };
        Some(truncate(&text, crate::ingest::MAX_ERROR_LEN))
    }
}

/// Records the chain step on the run row `?1`: adds `?2` to `rows_written`
/// (plus 1 for this update itself) and stores the step's figures. Returns the
/// same columns as `store::SELECT_RUNS`.
pub const UPDATE_RUN_WITH_CHAINS: &str = "UPDATE ingest_runs SET \
rows_written = rows_written + ?2 + 1, status = ?3, error = ?4, chain_symbols_ok = ?5, \
chain_symbols_failed = ?6, chain_failures = ?7, rows_by_table = ?8, contract_skips = ?9, \
duration_ms = ?10, finished_at = ?11, symbols_ok = ?12, symbols_failed = ?13 WHERE id = ?1 \
RETURNING id, trigger, started_at, finished_at, status, symbols_ok, symbols_failed, rows_written, error";

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
        let st = symbol_statements(&sym("AAPL"), &a, Some(&bars), 3, now);
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
        let st = symbol_statements(&sym("AAPL"), &a, None, 3, now);
        assert_eq!(st.len(), 6);
        // The deterministic count of a fresh symbol: 2 expiries + 2 metric rows + bars.
        let mut ledger = RowsLedger::default();
        for s in &symbol_statements(&sym("AAPL"), &a, Some(&bars), 3, now) {
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
        assert_eq!(s.final_status("ok"), "ok");
        assert_eq!(s.error_text(None), None);
        assert_eq!(s.failures_json(), None);
        s.failed
            .push(("NVDA".into(), "bridge did not answer within 5000 ms".into()));
        assert_eq!(s.final_status("ok"), "partial");
        assert_eq!(s.final_status("partial"), "partial");
        assert_eq!(s.final_status("failed"), "failed");
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

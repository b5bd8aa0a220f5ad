//! The chain step's rows and SQL: the D1 statements of one symbol as plain
//! data ([`SqlStatement`]), the reads of stored history, the run-record
//! update, and the rows-written accounting ([`RowsLedger`]). Executed by
//! `edge::chains` (over D1) and by the in-memory fake of the native tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sas_core::analytics::chain::SkipCounts;
use sas_core::analytics::rows::ChainRows;
use sas_core::market::{DailyBar, Symbol};
use serde::{Deserialize, Serialize};

use super::{pack_bars, unpack_bars, SymbolAnalysis, DAILY_METRICS_RETENTION_DAYS};
use crate::config::archive::PruneGate;
use crate::config::truncate;
use crate::ingest::RunStatus;

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
    SymbolQuality,
}

impl Table {
    /// Table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::ChainSnapshots => "chain_snapshots",
            Table::UnderlyingMetricsIntraday => "underlying_metrics_intraday",
            Table::UnderlyingMetricsDaily => "underlying_metrics_daily",
            Table::DailyBars => "daily_bars",
            Table::SymbolQuality => "symbol_quality",
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

/// Deletes one symbol's chain snapshots older than `?2` (Unix ms); with the
/// archive gate `?3` = 1 only those at or before the acknowledged export
/// cursor ([`crate::config::archive::PruneGate`]).
pub const PRUNE_CHAIN_SNAPSHOTS: &str = "DELETE FROM chain_snapshots WHERE symbol = ?1 AND ts < ?2 \
AND (?3 = 0 OR (ts, symbol, expiry) <= (SELECT k1, k2, k3 FROM archive_acks WHERE table_name = 'chain_snapshots'))";
/// Deletes one symbol's intraday metrics older than `?2` (Unix ms); with the
/// archive gate `?3` = 1 only those at or before the acknowledged cursor.
pub const PRUNE_METRICS_INTRADAY: &str =
    "DELETE FROM underlying_metrics_intraday WHERE symbol = ?1 AND ts < ?2 \
AND (?3 = 0 OR (ts, symbol) <= (SELECT k1, k2 FROM archive_acks WHERE table_name = 'underlying_metrics_intraday'))";
/// Deletes one symbol's daily metrics before `?2` (`YYYY-MM-DD`).
pub const PRUNE_METRICS_DAILY: &str =
    "DELETE FROM underlying_metrics_daily WHERE symbol = ?1 AND date < ?2";

/// The data-quality gate's verdict of one symbol (`migrations/d1/0013`):
/// `?1` symbol, `?2` state (`live`/`delayed`/`failing`), `?3` checked at
/// (Unix ms), `?4` hold reasons JSON, `?5` dropped contracts by reason JSON,
/// `?6` contracts in, `?7` kept. `since_ms` moves only when the state
/// changes (SQLite's SET reads the old row).
pub const UPSERT_SYMBOL_QUALITY: &str = "INSERT INTO symbol_quality \
(symbol, state, since_ms, checked_ms, reasons_json, dropped_json, input_contracts, kept_contracts) \
VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7) \
ON CONFLICT (symbol) DO UPDATE SET \
since_ms = CASE WHEN symbol_quality.state = excluded.state THEN symbol_quality.since_ms ELSE excluded.since_ms END, \
state = excluded.state, checked_ms = excluded.checked_ms, reasons_json = excluded.reasons_json, \
dropped_json = excluded.dropped_json, input_contracts = excluded.input_contracts, \
kept_contracts = excluded.kept_contracts";

/// Every symbol's gate verdict (for `/health`), watchlist filtering by the caller.
pub const SELECT_SYMBOL_QUALITY: &str =
    "SELECT symbol, state, since_ms, checked_ms, reasons_json FROM symbol_quality ORDER BY symbol";

/// A row of [`SELECT_SYMBOL_QUALITY`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SymbolQualityRow {
    pub symbol: String,
    pub state: String,
    pub since_ms: i64,
    pub checked_ms: i64,
    pub reasons_json: String,
}

/// What the gate said about one symbol in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolGate {
    pub state: sas_core::quality::FeedState,
    /// Hold reasons (JSON array; a failed fetch: `[{"kind":"fetch_failed","error":…}]`).
    pub reasons: serde_json::Value,
    pub dropped: sas_core::quality::DropCounts,
    pub input: usize,
    pub kept: usize,
}

impl SymbolGate {
    /// The gate's result over one chain.
    pub fn of(q: &sas_core::quality::ChainQuality) -> Self {
        Self {
            state: q.verdict.feed_state(),
            reasons: serde_json::to_value(q.verdict.reasons()).unwrap_or_default(),
            dropped: q.dropped.clone(),
            input: q.input_contracts,
            kept: q.kept_contracts,
        }
    }

    /// A symbol whose chain could not be fetched or read.
    pub fn failed(error: &str) -> Self {
        Self {
            state: sas_core::quality::FeedState::Failing,
            reasons: serde_json::json!([{ "kind": "fetch_failed", "error": error }]),
            dropped: sas_core::quality::DropCounts::default(),
            input: 0,
            kept: 0,
        }
    }

    /// The [`UPSERT_SYMBOL_QUALITY`] statement of this verdict.
    pub fn statement(&self, symbol: &Symbol, now: DateTime<Utc>) -> SqlStatement {
        let count = |n: usize| SqlValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
        SqlStatement {
            sql: UPSERT_SYMBOL_QUALITY,
            params: vec![
                SqlValue::Text(symbol.to_string()),
                SqlValue::Text(self.state.as_str().to_owned()),
                SqlValue::Int(now.timestamp_millis()),
                SqlValue::Text(self.reasons.to_string()),
                SqlValue::Text(
                    serde_json::to_string(&self.dropped).unwrap_or_else(|_| "{}".into()),
                ),
                count(self.input),
                count(self.kept),
            ],
            table: Table::SymbolQuality,
            expected_rows: ExpectedRows::Exactly(1),
        }
    }
}

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
    gate: PruneGate,
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
            params: vec![
                sym(),
                SqlValue::Int(keep_from),
                SqlValue::Int(gate.sql_flag()),
            ],
            table: Table::ChainSnapshots,
            expected_rows: ExpectedRows::Changes,
        },
        SqlStatement {
            sql: PRUNE_METRICS_INTRADAY,
            params: vec![
                sym(),
                SqlValue::Int(keep_from),
                SqlValue::Int(gate.sql_flag()),
            ],
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
    pub(super) by_table: BTreeMap<Table, u64>,
    pub(super) counted_only: bool,
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
    /// Contracts skipped by the analytics, by reason code, over all symbols;
    /// contracts the data-quality gate dropped before the analytics are
    /// counted under `gate_<reason>` (e.g. `gate_crossed`).
    pub skips: BTreeMap<String, u64>,
    /// The gate's verdict per symbol (failed fetches included, as `failing`).
    pub quality: BTreeMap<String, SymbolGate>,
}

impl ChainStepSummary {
    /// Records the gate's verdict of one symbol and counts its drops.
    pub fn add_gate(&mut self, symbol: &Symbol, gate: SymbolGate) {
        for (reason, n) in gate.dropped.iter() {
            *self
                .skips
                .entry(format!("gate_{}", reason.code()))
                .or_insert(0) += n as u64;
        }
        self.quality.insert(symbol.to_string(), gate);
    }

    /// Symbols the gate held this run, by state (`delayed`/`failing`).
    pub fn held(&self) -> BTreeMap<&str, &'static str> {
        self.quality
            .iter()
            .filter(|(_, g)| g.state != sas_core::quality::FeedState::Live)
            .map(|(s, g)| (s.as_str(), g.state.as_str()))
            .collect()
    }

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

    /// The run's final status after the chain step, from the status of its
    /// quote step: any chain failure turns an `ok` run `partial`.
    pub fn final_status(&self, quote_status: RunStatus) -> RunStatus {
        match quote_status {
            RunStatus::Ok if self.failed.is_empty() => RunStatus::Ok,
            RunStatus::Ok | RunStatus::Partial => RunStatus::Partial,
            RunStatus::Skipped => RunStatus::Skipped,
            RunStatus::Failed => RunStatus::Failed,
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

/// The run record's columns set by [`UPDATE_RUN_WITH_CHAINS`], in order of
/// its parameters `?1..?13`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRunUpdate {
    pub run_id: i64,
    pub chain_rows: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    pub chain_symbols_ok: i64,
    pub chain_symbols_failed: i64,
    pub chain_failures: Option<String>,
    pub rows_by_table: String,
    pub contract_skips: String,
    pub duration_ms: i64,
    pub finished_at: String,
    pub symbols_ok: i64,
    pub symbols_failed: i64,
}

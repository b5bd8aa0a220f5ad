//! The chain step of one run over a [`ChainStore`] and a [`Bridge`], with
//! the clock passed in: the stored history is read once, then each symbol is
//! fetched, analyzed and written as ONE batch (at most `CHAIN_CONCURRENCY`
//! symbols in flight); a symbol that fails is recorded with its reason and
//! the others go on; the run record is updated last.

use chrono::{DateTime, Duration, Utc};
use sas_core::analytics::chain::SkipCounts;
use sas_core::market::{DailyBar, Symbol};
use sas_core::quality::gate_chain;

use super::model::{
    ChainRunUpdate, ChainStepSummary, IvHistoryRow, RowsLedger, SqlStatement, StatementMeta,
    StoredBarsRow, SymbolGate,
};
use super::{
    analyze_symbol, chain_path, history_days_to_fetch, history_path, iv_history_of, merge_bars,
    parse_chain, parse_history, run_bounded, stored_bars_of, trading_date, BarMerge,
    ChainReadError, BOOTSTRAP_HISTORY_DAYS, IV_HISTORY_LOOKBACK_DAYS,
};
use crate::bridge::Bridge;
use crate::config::Config;
use crate::ingest::{iso, IngestRun, RunStatus};
use crate::store::StoreError;

/// Where the chain step reads stored history and writes its rows.
#[allow(async_fn_in_trait)]
pub trait ChainStore {
    /// [`super::SELECT_DAILY_BARS`] for the JSON array of symbols `symbols_json`.
    async fn stored_bars(&self, symbols_json: &str) -> Result<Vec<StoredBarsRow>, StoreError>;
    /// [`super::SELECT_IV_HISTORY`]: `from <= date < to` (`YYYY-MM-DD`).
    async fn iv_history(
        &self,
        symbols_json: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<IvHistoryRow>, StoreError>;
    /// Runs `statements` as ONE batch (one transaction: all or nothing) and
    /// returns what D1 reported for each, in order.
    async fn write_batch(
        &self,
        statements: &[SqlStatement],
    ) -> Result<Vec<StatementMeta>, StoreError>;
    /// [`super::UPDATE_RUN_WITH_CHAINS`]; returns the updated run record.
    async fn record_step(&self, update: &ChainRunUpdate) -> Result<IngestRun, StoreError>;
}

/// A run record after the chain step, with the step's outcome.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub run: IngestRun,
    pub summary: ChainStepSummary,
    pub duration_ms: i64,
}

/// Runs the chain step after the quote step `run` of a run started at
/// `started` and returns the updated run record. A skipped or failed quote
/// step ends the run: nothing more is fetched or written (`Ok(None)`).
/// `log_error` receives one JSON line per store failure (the reason stored
/// in the run is the short one).
pub async fn enrich(
    store: &impl ChainStore,
    bridge: &impl Bridge,
    cfg: &Config,
    started: DateTime<Utc>,
    run: &IngestRun,
    now: &dyn Fn() -> DateTime<Utc>,
    log_error: &dyn Fn(serde_json::Value),
) -> Result<Option<StepOutcome>, StoreError> {
    if matches!(run.status, RunStatus::Skipped | RunStatus::Failed) {
        return Ok(None);
    }
    let summary = chain_step(store, bridge, cfg, now, log_error).await;
    let watchlist_len = i64::try_from(cfg.watchlist.len()).unwrap_or(i64::MAX);
    let (symbols_ok, symbols_failed) =
        summary.symbol_counts(watchlist_len, run.symbols_failed, run.error.as_deref());
    let finished = now();
    let duration_ms = (finished - started).num_milliseconds();
    let update = ChainRunUpdate {
        run_id: run.id,
        chain_rows: i64::try_from(summary.rows.total()).unwrap_or(i64::MAX),
        status: summary.final_status(run.status),
        error: summary.error_text(run.error.as_deref()),
        chain_symbols_ok: i64::try_from(summary.ok.len()).unwrap_or(0),
        chain_symbols_failed: i64::try_from(summary.failed.len()).unwrap_or(0),
        chain_failures: summary.failures_json(),
        rows_by_table: summary.rows.to_json(),
        contract_skips: summary.skips_json(),
        duration_ms,
        finished_at: iso(finished),
        symbols_ok,
        symbols_failed,
    };
    let run = store.record_step(&update).await?;
    Ok(Some(StepOutcome {
        run,
        summary,
        duration_ms,
    }))
}

/// The chain step over the watchlist: stored history read once, then each
/// symbol fetched, analyzed and written (one atomic batch per symbol).
pub async fn chain_step(
    store: &impl ChainStore,
    bridge: &impl Bridge,
    cfg: &Config,
    now: &dyn Fn() -> DateTime<Utc>,
    log_error: &dyn Fn(serde_json::Value),
) -> ChainStepSummary {
    let mut summary = ChainStepSummary::default();
    let today = trading_date(now());
    let names: Vec<&str> = cfg.watchlist.iter().map(|s| s.as_str()).collect();
    let list = serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned());
    let from = (today - Duration::days(IV_HISTORY_LOOKBACK_DAYS))
        .format("%Y-%m-%d")
        .to_string();
    let to = today.format("%Y-%m-%d").to_string();
    let history = futures_util::future::join(
        store.stored_bars(&list),
        store.iv_history(&list, &from, &to),
    )
    .await;
    let (stored_bars, iv_rows) = match history {
        (Ok(b), Ok(i)) => (b, i),
        (Err(e), _) | (_, Err(e)) => {
            log_error(serde_json::json!({ "event": "chain_step", "error": e.to_string() }));
            for s in &cfg.watchlist {
                summary
                    .failed
                    .push((s.to_string(), "stored history could not be read".into()));
            }
            return summary;
        }
    };
    let tasks: Vec<_> = cfg
        .watchlist
        .iter()
        .map(|symbol| {
            let bars = stored_bars_of(&stored_bars, symbol);
            let iv_history = iv_history_of(&iv_rows, symbol);
            async move {
                let outcome =
                    one_symbol(store, bridge, cfg, symbol, bars, iv_history, now, log_error).await;
                (symbol, outcome)
            }
        })
        .collect();
    let limit = usize::try_from(cfg.chains.concurrency).unwrap_or(1);
    let mut failed_symbols = Vec::new();
    for (symbol, outcome) in run_bounded(tasks, limit).await {
        match outcome {
            Ok((ledger, skips, gate)) => {
                summary.ok.push(symbol.to_string());
                summary.rows.absorb(&ledger);
                summary.add_skips(&skips);
                summary.add_gate(symbol, gate);
            }
            Err(reason) => {
                let text = reason.to_string();
                summary.add_gate(symbol, SymbolGate::failed(&text));
                summary.failed.push((symbol.to_string(), text));
                failed_symbols.push(symbol);
            }
        }
    }
    // A symbol that failed wrote nothing: its `failing` state is written
    // alone (one row each; a failure here is only logged).
    for symbol in failed_symbols {
        let Some(gate) = summary.quality.get(symbol.as_str()) else {
            continue;
        };
        let statement = gate.statement(symbol, now());
        match store.write_batch(std::slice::from_ref(&statement)).await {
            Ok(metas) => {
                let mut ledger = RowsLedger::default();
                for meta in metas {
                    ledger.record(&statement, meta);
                }
                summary.rows.absorb(&ledger);
            }
            Err(e) => log_error(serde_json::json!({
                "event": "symbol_quality_write", "symbol": symbol.as_str(), "error": e.to_string()
            })),
        }
    }
    summary
}

/// Fetches, analyzes and writes one symbol; on error nothing of it is written.
#[allow(clippy::too_many_arguments)]
async fn one_symbol(
    store: &impl ChainStore,
    bridge: &impl Bridge,
    cfg: &Config,
    symbol: &Symbol,
    stored: Vec<DailyBar>,
    iv_history: Vec<f64>,
    now: &dyn Fn() -> DateTime<Utc>,
    log_error: &dyn Fn(serde_json::Value),
) -> Result<(RowsLedger, SkipCounts, SymbolGate), ChainReadError> {
    let today = trading_date(now());
    let days = history_days_to_fetch(&stored, today);
    // The chain and the daily bars are fetched at the same time.
    let chain_path = chain_path(symbol, &cfg.chains.window);
    let (chain_body, fetched) = futures_util::future::join(
        bridge_body(bridge, cfg, &chain_path),
        fetch_history(bridge, cfg, symbol, days),
    )
    .await;
    let chain = parse_chain(&chain_body?, symbol)?;
    let fetched = fetched?;
    let (bars, changed) = match merge_bars(&stored, &fetched) {
        BarMerge::Merged { bars, changed } => (bars, changed),
        BarMerge::Refetch => {
            let full = fetch_history(bridge, cfg, symbol, BOOTSTRAP_HISTORY_DAYS).await?;
            match merge_bars(&[], &full) {
                BarMerge::Merged { bars, .. } => (bars, true),
                BarMerge::Refetch => return Err(ChainReadError::InconsistentHistory),
            }
        }
    };
    // The data-quality gate before the analytics: failing contracts are
    // dropped (counted by reason), the symbol's verdict is stored with it.
    let gated = gate_chain(&chain, None, cfg.chains.risk_free_rate, now(), &cfg.quality);
    let gate = SymbolGate::of(&gated);
    let analysis = analyze_symbol(&gated.chain, &bars, &iv_history, cfg.chains.risk_free_rate);
    let mut statements = super::symbol_statements(
        symbol,
        &analysis,
        changed.then_some(bars.as_slice()),
        cfg.chains.retention_days,
        cfg.archive.prune_gate(),
        now(),
    );
    statements.push(gate.statement(symbol, now()));
    let metas = store.write_batch(&statements).await.map_err(|e| {
        log_error(serde_json::json!({
            "event": "chain_write", "symbol": symbol.as_str(), "error": e.to_string()
        }));
        ChainReadError::WriteFailed
    })?;
    let mut ledger = RowsLedger::default();
    for (statement, meta) in statements.iter().zip(metas) {
        ledger.record(statement, meta);
    }
    Ok((ledger, analysis.skips, gate))
}

async fn fetch_history(
    bridge: &impl Bridge,
    cfg: &Config,
    symbol: &Symbol,
    days: u32,
) -> Result<Vec<DailyBar>, ChainReadError> {
    let body = bridge_body(bridge, cfg, &history_path(symbol, days)).await?;
    parse_history(&body, symbol)
}

/// GET on the bridge, bounded by `BRIDGE_TIMEOUT_MS`; non-2xx is an error.
async fn bridge_body(
    bridge: &impl Bridge,
    cfg: &Config,
    path: &str,
) -> Result<String, ChainReadError> {
    match bridge.get(path, cfg.bridge_timeout_ms).await {
        Err(failure) => Err(ChainReadError::Bridge(failure)),
        Ok(answer) if (200..=299).contains(&answer.status) => Ok(answer.body),
        Ok(answer) => Err(ChainReadError::BridgeStatus {
            status: answer.status,
            path: path.split('?').next().unwrap_or(path).to_owned(),
        }),
    }
}

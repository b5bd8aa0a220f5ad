//! Runtime adapter of the option-chain step and of the metrics routes: bridge
//! calls, D1 reads and batches around the pure [`crate::chains`] and
//! [`crate::metrics`]. Exercised by `tests/e2e/chains.test.mjs` under workerd.

use chrono::{DateTime, Duration, Utc};
use sas_core::market::{DailyBar, Symbol};
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, D1Database, Response, Result};

use crate::chains::{
    self, BarMerge, ChainReadError, ChainStepSummary, IvHistoryRow, RowsLedger, SqlStatement,
    SqlValue, StatementMeta, StoredBarsRow,
};
use crate::config::Config;
use crate::edge::{bridge, d1, error_response, internal, json_response, now};
use crate::http::error::ApiError;
use crate::ingest::{iso, IngestRun, RunStatus};
use crate::metrics::{
    self, ChainExpiryRow, LatestMetricsRow, MetricsInterval, MetricsRow, SpotRow,
};

/// Runs the chain step after the quote step of a run (unless that run was
/// skipped or failed: then nothing more is fetched or written) and returns
/// the run record as updated by the step.
pub async fn enrich(
    db: &D1Database,
    cfg: &Config,
    started: DateTime<Utc>,
    run: Result<IngestRun>,
) -> Result<IngestRun> {
    let run = run?;
    if matches!(run.status, RunStatus::Skipped | RunStatus::Failed) {
        return Ok(run);
    }
    let summary = chain_step(db, cfg).await;
    let status = summary.final_status(run.status.as_str());
    let error = summary.error_text(run.error.as_deref());
    let chain_rows = i64::try_from(summary.rows.total()).unwrap_or(i64::MAX);
    let watchlist_len = i64::try_from(cfg.watchlist.len()).unwrap_or(i64::MAX);
    let (symbols_ok, symbols_failed) =
        summary.symbol_counts(watchlist_len, run.symbols_failed, run.error.as_deref());
    let finished = now();
    let update = d1::statement(
        db,
        chains::UPDATE_RUN_WITH_CHAINS,
        &[
            d1::millis(run.id),
            d1::millis(chain_rows),
            d1::text(status),
            d1::opt_text(error.as_deref()),
            d1::millis(i64::try_from(summary.ok.len()).unwrap_or(0)),
            d1::millis(i64::try_from(summary.failed.len()).unwrap_or(0)),
            d1::opt_text(summary.failures_json().as_deref()),
            d1::text(&summary.rows.to_json()),
            d1::text(&summary.skips_json()),
            d1::millis((finished - started).num_milliseconds()),
            d1::text(&iso(finished)),
            d1::millis(symbols_ok),
            d1::millis(symbols_failed),
        ],
    )?;
    let mut rows: Vec<IngestRun> = update.all().await?.results()?;
    let updated = rows
        .pop()
        .ok_or_else(|| worker::Error::RustError("run record was not updated".into()))?;
    let line = serde_json::json!({
        "event": "chain_step",
        "run_id": updated.id,
        "status": updated.status,
        "symbols_ok": summary.ok.len(),
        "symbols_failed": summary.failed,
        "rows_written": updated.rows_written,
        "rows_by_table": serde_json::from_str::<serde_json::Value>(&summary.rows.to_json()).ok(),
        "contract_skips": summary.skips,
        "duration_ms": (finished - started).num_milliseconds(),
    })
    .to_string();
    if summary.failed.is_empty() {
        console_log!("{line}");
    } else {
        console_error!("{line}");
    }
    Ok(updated)
}

/// The chain step over the watchlist: stored history read once, then each
/// symbol fetched, analyzed and written (one atomic batch per symbol) with at
/// most `CHAIN_CONCURRENCY` symbols in flight.
async fn chain_step(db: &D1Database, cfg: &Config) -> ChainStepSummary {
    let mut summary = ChainStepSummary::default();
    let today = chains::trading_date(now());
    let names: Vec<&str> = cfg.watchlist.iter().map(|s| s.as_str()).collect();
    let list = d1::text(&serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned()));
    let from = (today - Duration::days(chains::IV_HISTORY_LOOKBACK_DAYS)).format("%Y-%m-%d");
    let history = futures_util::future::join(
        d1::rows::<StoredBarsRow>(db, chains::SELECT_DAILY_BARS, std::slice::from_ref(&list)),
        d1::rows::<IvHistoryRow>(
            db,
            chains::SELECT_IV_HISTORY,
            &[
                list.clone(),
                d1::text(&from.to_string()),
                d1::text(&today.format("%Y-%m-%d").to_string()),
            ],
        ),
    )
    .await;
    let (stored_bars, iv_rows) = match history {
        (Ok(b), Ok(i)) => (b, i),
        (Err(e), _) | (_, Err(e)) => {
            let line = serde_json::json!({ "event": "chain_step", "error": e.to_string() });
            console_error!("{line}");
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
            let bars = chains::stored_bars_of(&stored_bars, symbol);
            let iv_history = chains::iv_history_of(&iv_rows, symbol);
            async move { (symbol, one_symbol(db, cfg, symbol, bars, iv_history).await) }
        })
        .collect();
    let limit = usize::try_from(cfg.chains.concurrency).unwrap_or(1);
    for (symbol, outcome) in chains::run_bounded(tasks, limit).await {
        match outcome {
            Ok((ledger, skips)) => {
                summary.ok.push(symbol.to_string());
                summary.rows.absorb(&ledger);
                summary.add_skips(&skips);
            }
            Err(reason) => summary
                .failed
                .push((symbol.to_string(), reason.to_string())),
        }
    }
    summary
}

/// Fetches, analyzes and writes one symbol; on error nothing of it is written.
async fn one_symbol(
    db: &D1Database,
    cfg: &Config,
    symbol: &Symbol,
    stored: Vec<DailyBar>,
    iv_history: Vec<f64>,
) -> std::result::Result<(RowsLedger, sas_core::analytics::chain::SkipCounts), ChainReadError> {
    let today = chains::trading_date(now());
    let days = chains::history_days_to_fetch(&stored, today);
    // The chain and the daily bars are fetched at the same time.
    let chain_path = chains::chain_path(symbol, &cfg.chains.window);
    let (chain_body, fetched) = futures_util::future::join(
        bridge_json(cfg, &chain_path),
        fetch_history(cfg, symbol, days),
    )
    .await;
    let chain = chains::parse_chain(&chain_body?, symbol)?;
    let fetched = fetched?;
    let (bars, changed) = match chains::merge_bars(&stored, &fetched) {
        BarMerge::Merged { bars, changed } => (bars, changed),
        BarMerge::Refetch => {
            let full = fetch_history(cfg, symbol, chains::BOOTSTRAP_HISTORY_DAYS).await?;
            match chains::merge_bars(&[], &full) {
                BarMerge::Merged { bars, .. } => (bars, true),
                BarMerge::Refetch => return Err(ChainReadError::InconsistentHistory),
            }
        }
    };
    let analysis = chains::analyze_symbol(&chain, &bars, &iv_history, cfg.chains.risk_free_rate);
    let statements = chains::symbol_statements(
        symbol,
        &analysis,
        changed.then_some(bars.as_slice()),
        cfg.chains.retention_days,
        now(),
    );
    let ledger = write_batch(db, &statements).await.map_err(|e| {
        let line = serde_json::json!({ "event": "chain_write", "symbol": symbol.as_str(), "error": e.to_string() });
        console_error!("{line}");
        ChainReadError::WriteFailed
    })?;
    Ok((ledger, analysis.skips))
}

async fn fetch_history(
    cfg: &Config,
    symbol: &Symbol,
    days: u32,
) -> std::result::Result<Vec<DailyBar>, ChainReadError> {
    let body = bridge_json(cfg, &chains::history_path(symbol, days)).await?;
    chains::parse_history(&body, symbol)
}

/// GET on the bridge, bounded by `BRIDGE_TIMEOUT_MS`; non-2xx is an error.
async fn bridge_json(cfg: &Config, path: &str) -> std::result::Result<String, ChainReadError> {
    match bridge::get(cfg, path, true, cfg.bridge_timeout_ms).await {
        Err(failure) => Err(ChainReadError::Bridge(failure)),
        Ok(answer) if (200..=299).contains(&answer.status) => Ok(answer.body),
        Ok(answer) => Err(ChainReadError::BridgeStatus {
            status: answer.status,
            path: path.split('?').next().unwrap_or(path).to_owned(),
        }),
    }
}

fn js(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Text(t) => JsValue::from_str(t),
        SqlValue::Real(x) => JsValue::from_f64(*x),
        SqlValue::Int(n) => d1::millis(*n),
        SqlValue::Null => JsValue::NULL,
    }
}

/// Runs `statements` as one D1 batch (one transaction) and accounts the rows.
async fn write_batch(db: &D1Database, statements: &[SqlStatement]) -> Result<RowsLedger> {
    let prepared = statements
        .iter()
        .map(|s| {
            let params: Vec<JsValue> = s.params.iter().map(js).collect();
            d1::statement(db, s.sql, &params)
        })
        .collect::<Result<Vec<_>>>()?;
    let results = db.batch(prepared).await?;
    let mut ledger = RowsLedger::default();
    for (statement, result) in statements.iter().zip(results.iter()) {
        let meta = result.meta().ok().flatten();
        ledger.record(
            statement,
            StatementMeta {
                rows_written: meta.as_ref().and_then(|m| m.rows_written).map(|n| n as u64),
                changes: meta.as_ref().and_then(|m| m.changes).map(|n| n as u64),
            },
        );
    }
    Ok(ledger)
}

fn unknown_symbol(symbol: &Symbol) -> Response {
    error_response(&ApiError::new(
        404,
        "unknown_symbol",
        format!("{symbol} is not on the watchlist and has no stored analytics"),
    ))
}

async fn is_known(db: &D1Database, cfg: &Config, symbol: &Symbol) -> Result<bool> {
    if cfg.watchlist.contains(symbol) {
        return Ok(true);
    }
    let rows: Vec<serde_json::Value> = d1::rows(
        db,
        metrics::SELECT_SYMBOL_KNOWN,
        &[d1::text(symbol.as_str())],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// `GET /symbols/{symbol}/metrics`.
pub async fn symbol_metrics(
    db: &D1Database,
    cfg: &Config,
    symbol: &Symbol,
    days: u32,
    interval: MetricsInterval,
    started: DateTime<Utc>,
) -> Response {
    let since = started - Duration::days(i64::from(days));
    let rows: Result<Vec<MetricsRow>> = match interval {
        MetricsInterval::Daily => {
            let from = chains::trading_date(since).format("%Y-%m-%d").to_string();
            d1::rows(
                db,
                metrics::SELECT_METRICS_DAILY,
                &[d1::text(symbol.as_str()), d1::text(&from)],
            )
            .await
        }
        MetricsInterval::Intraday => {
            d1::rows(
                db,
                metrics::SELECT_METRICS_INTRADAY,
                &[
                    d1::text(symbol.as_str()),
                    d1::millis(since.timestamp_millis()),
                ],
            )
            .await
        }
    };
    match rows {
        Err(e) => internal("symbol metrics", &e),
        Ok(rows) if rows.is_empty() => match is_known(db, cfg, symbol).await {
            Ok(true) => json_response(200, &metrics::symbol_metrics(symbol, interval, days, &rows)),
            Ok(false) => unknown_symbol(symbol),
            Err(e) => internal("symbol metrics", &e),
        },
        Ok(rows) => json_response(200, &metrics::symbol_metrics(symbol, interval, days, &rows)),
    }
}

/// `GET /symbols/{symbol}/chain`.
pub async fn symbol_chain(db: &D1Database, cfg: &Config, symbol: &Symbol) -> Response {
    let rows: Result<Vec<ChainExpiryRow>> = d1::rows(
        db,
        metrics::SELECT_LATEST_CHAIN,
        &[d1::text(symbol.as_str())],
    )
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => return internal("symbol chain", &e),
    };
    let Some(ts) = rows.first().map(|r| r.ts) else {
        return match is_known(db, cfg, symbol).await {
            Ok(true) => error_response(&ApiError::new(
                404,
                "no_snapshot",
                format!("no option-chain snapshot is stored for {symbol} yet"),
            )),
            Ok(false) => unknown_symbol(symbol),
            Err(e) => internal("symbol chain", &e),
        };
    };
    let spot: Vec<SpotRow> = d1::rows(
        db,
        metrics::SELECT_SPOT_AT,
        &[d1::text(symbol.as_str()), d1::millis(ts)],
    )
    .await
    .unwrap_or_default();
    match metrics::chain_view(symbol, &rows, spot.first().map(|s| s.spot)) {
        Some(view) => json_response(200, &view),
        None => error_response(&ApiError::internal()),
    }
}

/// `GET /search/opportunities`: the multi-factor ranking.
pub async fn opportunities(
    db: &D1Database,
    cfg: &Config,
    limit: u32,
    started: DateTime<Utc>,
) -> Response {
    let names: Vec<&str> = cfg.watchlist.iter().map(|s| s.as_str()).collect();
    let list = d1::text(&serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned()));
    let since = started - Duration::days(i64::from(cfg.retention_days));
    let since = d1::millis(since.timestamp_millis());
    let (snapshots, latest) = futures_util::future::join(
        d1::snapshots(db, &[list.clone(), since.clone()]),
        d1::rows::<LatestMetricsRow>(db, metrics::SELECT_LATEST_METRICS, &[list, since]),
    )
    .await;
    match (snapshots, latest) {
        (Ok(snapshots), Ok(latest)) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            json_response(
                200,
                &metrics::opportunities(
                    &cfg.watchlist,
                    &latest,
                    &snapshots,
                    &cfg.chains.score_weights,
                    limit,
                ),
            )
        }
        (Err(e), _) | (_, Err(e)) => internal("opportunities", &e),
    }
}

//! Runtime adapter of the option-chain step and of the metrics routes: the
//! [`ChainStore`] over D1 that [`crate::chains::service`] runs through, and
//! the D1 reads of [`crate::metrics`]. Exercised by `tests/e2e/chains.test.mjs` under workerd.

use std::result::Result as StdResult;

use chrono::{DateTime, Duration, Utc};
use sas_core::market::Symbol;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, D1Database, Response, Result};

use super::proposals::FetchBridge;
use crate::chains::service::{self, ChainStore};
use crate::chains::{
    self, ChainRunUpdate, IvHistoryRow, SqlStatement, SqlValue, StatementMeta, StoredBarsRow,
};
use crate::config::Config;
use crate::edge::{d1, error_response, internal, json_response, now};
use crate::http::error::ApiError;
use crate::ingest::IngestRun;
use crate::metrics::{
    self, ChainExpiryRow, LatestMetricsRow, MetricsInterval, MetricsRow, SpotRow,
};
use crate::store::StoreError;

/// The chain step's store over D1: one batch per symbol.
pub struct D1Chains<'a>(pub &'a D1Database);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

impl ChainStore for D1Chains<'_> {
    async fn stored_bars(&self, symbols_json: &str) -> StdResult<Vec<StoredBarsRow>, StoreError> {
        d1::rows(self.0, chains::SELECT_DAILY_BARS, &[d1::text(symbols_json)])
            .await
            .map_err(d1_err)
    }

    async fn iv_history(
        &self,
        symbols_json: &str,
        from: &str,
        to: &str,
    ) -> StdResult<Vec<IvHistoryRow>, StoreError> {
        d1::rows(
            self.0,
            chains::SELECT_IV_HISTORY,
            &[d1::text(symbols_json), d1::text(from), d1::text(to)],
        )
        .await
        .map_err(d1_err)
    }

    async fn write_batch(
        &self,
        statements: &[SqlStatement],
    ) -> StdResult<Vec<StatementMeta>, StoreError> {
        let prepared = statements
            .iter()
            .map(|s| {
                let params: Vec<JsValue> = s.params.iter().map(js).collect();
                d1::statement(self.0, s.sql, &params)
            })
            .collect::<Result<Vec<_>>>()
            .map_err(d1_err)?;
        let results = self.0.batch(prepared).await.map_err(d1_err)?;
        Ok(results
            .iter()
            .map(|result| {
                let meta = result.meta().ok().flatten();
                StatementMeta {
                    rows_written: meta.as_ref().and_then(|m| m.rows_written).map(|n| n as u64),
                    changes: meta.as_ref().and_then(|m| m.changes).map(|n| n as u64),
                }
            })
            .collect())
    }

    async fn record_step(&self, u: &ChainRunUpdate) -> StdResult<IngestRun, StoreError> {
        let update = d1::statement(
            self.0,
            chains::UPDATE_RUN_WITH_CHAINS,
            &[
                d1::millis(u.run_id),
                d1::millis(u.chain_rows),
                d1::text(u.status.as_str()),
                d1::opt_text(u.error.as_deref()),
                d1::millis(u.chain_symbols_ok),
                d1::millis(u.chain_symbols_failed),
                d1::opt_text(u.chain_failures.as_deref()),
                d1::text(&u.rows_by_table),
                d1::text(&u.contract_skips),
                d1::millis(u.duration_ms),
                d1::text(&u.finished_at),
                d1::millis(u.symbols_ok),
                d1::millis(u.symbols_failed),
            ],
        )
        .map_err(d1_err)?;
        let mut rows: Vec<IngestRun> = update
            .all()
            .await
            .and_then(|r| r.results())
            .map_err(d1_err)?;
        rows.pop()
            .ok_or_else(|| StoreError("run record was not updated".into()))
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

fn log_error(line: serde_json::Value) {
    console_error!("{line}");
}

/// Runs the chain step after the quote step of a run (unless that run was
/// skipped or failed: then nothing more is fetched or written) and returns
/// the run record as updated by the step.
pub async fn enrich(
    db: &D1Database,
    cfg: &Config,
    started: DateTime<Utc>,
    run: StdResult<IngestRun, StoreError>,
) -> StdResult<IngestRun, StoreError> {
    let run = run?;
    let outcome = service::enrich(
        &D1Chains(db),
        &FetchBridge(cfg),
        cfg,
        started,
        &run,
        &now,
        &log_error,
    )
    .await?;
    let Some(outcome) = outcome else {
        return Ok(run);
    };
    let line = chains::view::step_line(&outcome.run, &outcome.summary, outcome.duration_ms);
    if outcome.summary.failed.is_empty() {
        console_log!("{line}");
    } else {
        console_error!("{line}");
    }
    Ok(outcome.run)
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

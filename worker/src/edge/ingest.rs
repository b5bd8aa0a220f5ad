//! One ingestion run: gate on market hours, fetch the watchlist's quotes from
//! the bridge in one request, store them and the run record in one D1 batch.

use chrono::{DateTime, Utc};
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, D1Database, Result};

use crate::config::Config;
use crate::edge::{bridge, d1, now};
use crate::ingest::{self, iso, IngestRun, RunStatus, Trigger};
use crate::store;

/// Runs one ingestion and returns the stored run record.
pub async fn run(
    db: &D1Database,
    cfg: &Config,
    trigger: Trigger,
    started: DateTime<Utc>,
) -> Result<IngestRun> {
    // Run records are pruned on every run; market data only by a run that
    // writes quotes (see `ingest::market_data_prune`).
    let prune_runs = |db: &D1Database| d1::statement(db, store::PRUNE_RUNS, &[]);

    if let Err(reason) = ingest::gate(cfg.market_hours_mode, started) {
        let mut statements = vec![prune_runs(db)?];
        statements.push(run_statement(
            db,
            store::INSERT_RUN_NO_WRITE,
            trigger,
            started,
            RunStatus::Skipped,
            (0, 0),
            Some(&reason.to_string()),
        )?);
        return finish(db, statements).await;
    }

    let symbols: Vec<&str> = cfg.watchlist.iter().map(|s| s.as_str()).collect();
    let path = format!("/quotes?symbols={}", symbols.join(","));
    let fetched = bridge::get(cfg, &path, true, cfg.bridge_timeout_ms).await;
    let outcome = match fetched {
        Err(failure) => Err(ingest::IngestError::Bridge(failure)),
        Ok(answer) if !(200..=299).contains(&answer.status) => {
            Err(ingest::IngestError::Status(answer.status))
        }
        Ok(answer) => ingest::parse_bridge_quotes(&answer.body, &cfg.watchlist)
            .map_err(ingest::IngestError::from),
    };
    let watchlist_len = i64::try_from(cfg.watchlist.len()).unwrap_or(i64::MAX);
    let mut statements = vec![prune_runs(db)?];
    match outcome {
        Err(reason) => {
            statements.push(run_statement(
                db,
                store::INSERT_RUN_NO_WRITE,
                trigger,
                started,
                RunStatus::Failed,
                (0, watchlist_len),
                Some(&reason.to_string()),
            )?);
        }
        Ok(batch) => {
            let (status, error) = ingest::batch_outcome(&batch);
            let ok = i64::try_from(batch.quotes.len()).unwrap_or(0);
            let failed = i64::try_from(batch.failures.len()).unwrap_or(0);
            if batch.quotes.is_empty() {
                statements.push(run_statement(
                    db,
                    store::INSERT_RUN_NO_WRITE,
                    trigger,
                    started,
                    status,
                    (ok, failed),
                    error.as_deref(),
                )?);
            } else {
                if let Some((cutoff_ms, keep_ms)) =
                    ingest::market_data_prune(batch.quotes.len(), started, cfg.retention_days)
                {
                    // Before the insert: "newest" is the newest row that existed.
                    statements.push(d1::statement(
                        db,
                        store::PRUNE_MARKET_DATA,
                        &[d1::millis(cutoff_ms), d1::millis(keep_ms)],
                    )?);
                }
                statements.push(d1::statement(
                    db,
                    store::INSERT_QUOTES,
                    &[d1::text(&ingest::rows_json(&batch.quotes))],
                )?);
                statements.push(run_statement(
                    db,
                    store::INSERT_RUN_AFTER_WRITE,
                    trigger,
                    started,
                    status,
                    (ok, failed),
                    error.as_deref(),
                )?);
            }
        }
    }
    finish(db, statements).await
}

fn run_statement(
    db: &D1Database,
    sql: &str,
    trigger: Trigger,
    started: DateTime<Utc>,
    status: RunStatus,
    (symbols_ok, symbols_failed): (i64, i64),
    error: Option<&str>,
) -> Result<worker::D1PreparedStatement> {
    d1::statement(
        db,
        sql,
        &[
            d1::text(trigger.as_str()),
            d1::text(&iso(started)),
            d1::text(&iso(now())),
            d1::text(status.as_str()),
            d1::millis(symbols_ok),
            d1::millis(symbols_failed),
            d1::opt_text(error),
        ],
    )
}

async fn finish(
    db: &D1Database,
    statements: Vec<worker::D1PreparedStatement>,
) -> Result<IngestRun> {
    let mut rows: Vec<IngestRun> = d1::batch_last_rows(db, statements).await?;
    let run = rows
        .pop()
        .ok_or_else(|| worker::Error::RustError("run record was not returned".into()))?;
    log_run(&run);
    Ok(run)
}

fn log_run(run: &IngestRun) {
    let line = serde_json::json!({ "event": "ingest_run", "run": run }).to_string();
    if run.status == RunStatus::Failed.as_str() {
        console_error!("{line}");
    } else {
        console_log!("{line}");
    }
}

/// Records a failed run without touching the bridge (e.g. invalid configuration).
pub async fn record_failure(
    db: &D1Database,
    trigger: Trigger,
    started: DateTime<Utc>,
    reason: &str,
) -> Result<IngestRun> {
    let statement = d1::statement(
        db,
        store::INSERT_RUN_NO_WRITE,
        &[
            d1::text(trigger.as_str()),
            d1::text(&iso(started)),
            d1::text(&iso(now())),
            d1::text(RunStatus::Failed.as_str()),
            JsValue::from_f64(0.0),
            JsValue::from_f64(0.0),
            d1::text(reason),
        ],
    )?;
    finish(db, vec![statement]).await
}

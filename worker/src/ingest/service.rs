//! One ingestion run over an [`IngestStore`] and a [`Bridge`], with the
//! clock passed in: gate on market hours, fetch the watchlist's quotes in
//! one request, then ONE batch that prunes, stores the quotes and the run
//! record (either everything of the run is stored or nothing is).

use chrono::{DateTime, Utc};

use super::{
    batch_outcome, gate, iso, market_data_prune, parse_bridge_quotes, refuse_stale, rows_json,
    IngestError, IngestRun, RunStatus, Trigger,
};
use crate::bridge::Bridge;
use crate::config::Config;
use crate::store::StoreError;

/// The run record's columns (`store::INSERT_RUN_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub trigger: Trigger,
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    pub symbols_ok: i64,
    pub symbols_failed: i64,
    pub error: Option<String>,
}

/// Everything one run writes, as one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunWrite {
    /// `PRUNE_RUNS` + `INSERT_RUN_NO_WRITE` (`rows_written` 0).
    RecordOnly(RunRecord),
    /// `PRUNE_RUNS` + `PRUNE_MARKET_DATA` (when `prune` is set, bound
    /// `(cutoff_ms, keep_ms)`) + `INSERT_QUOTES` (`rows_json`) +
    /// `INSERT_RUN_AFTER_WRITE` (`rows_written` = rows the insert changed).
    WithQuotes {
        prune: Option<(i64, i64)>,
        rows_json: String,
        quotes: usize,
        run: RunRecord,
    },
}

/// Where runs are stored.
#[allow(async_fn_in_trait)]
pub trait IngestStore {
    /// Writes `w` as ONE batch and returns the stored run record.
    async fn record_run(&self, w: &RunWrite) -> Result<IngestRun, StoreError>;
}

/// Runs one ingestion started at `started` and returns the stored run.
pub async fn run(
    store: &impl IngestStore,
    bridge: &impl Bridge,
    cfg: &Config,
    trigger: Trigger,
    started: DateTime<Utc>,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<IngestRun, StoreError> {
    let record = |status, (symbols_ok, symbols_failed), error: Option<String>| RunRecord {
        trigger,
        started_at: iso(started),
        finished_at: iso(now()),
        status,
        symbols_ok,
        symbols_failed,
        error,
    };
    if let Err(reason) = gate(cfg.market_hours_mode, started) {
        let w = RunWrite::RecordOnly(record(RunStatus::Skipped, (0, 0), Some(reason.to_string())));
        return store.record_run(&w).await;
    }
    let symbols: Vec<&str> = cfg.watchlist.iter().map(|s| s.as_str()).collect();
    let path = format!("/quotes?symbols={}", symbols.join(","));
    let outcome = match bridge.get(&path, cfg.bridge_timeout_ms).await {
        Err(failure) => Err(IngestError::Bridge(failure)),
        Ok(answer) if !(200..=299).contains(&answer.status) => {
            Err(IngestError::Status(answer.status))
        }
        Ok(answer) => parse_bridge_quotes(&answer.body, &cfg.watchlist)
            .map(|batch| refuse_stale(batch, now()))
            .map_err(IngestError::from),
    };
    let watchlist_len = i64::try_from(cfg.watchlist.len()).unwrap_or(i64::MAX);
    let w = match outcome {
        Err(reason) => RunWrite::RecordOnly(record(
            RunStatus::Failed,
            (0, watchlist_len),
            Some(reason.to_string()),
        )),
        Ok(batch) => {
            let (status, error) = batch_outcome(&batch);
            let ok = i64::try_from(batch.quotes.len()).unwrap_or(0);
            let failed = i64::try_from(batch.failures.len()).unwrap_or(0);
            if batch.quotes.is_empty() {
                RunWrite::RecordOnly(record(status, (ok, failed), error))
            } else {
                RunWrite::WithQuotes {
                    prune: market_data_prune(batch.quotes.len(), started, cfg.retention_days),
                    rows_json: rows_json(&batch.quotes),
                    quotes: batch.quotes.len(),
                    run: record(status, (ok, failed), error),
                }
            }
        }
    };
    store.record_run(&w).await
}

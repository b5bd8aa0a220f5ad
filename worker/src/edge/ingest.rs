//! Ingestion on the Workers runtime: the [`IngestStore`] over D1 (one batch
//! per run) that [`crate::ingest::service::run`] writes through.

use chrono::{DateTime, Utc};
use worker::{console_error, console_log, D1Database, D1PreparedStatement};

use super::proposals::FetchBridge;
use crate::config::archive::PruneGate;
use crate::config::Config;
use crate::edge::{d1, now};
use crate::ingest::service::{self, IngestStore, RunRecord, RunWrite};
use crate::ingest::{iso, IngestRun, RunStatus, Trigger};
use crate::store::{self, StoreError};

/// Runs are written to D1; `gate` says whether the prunes of the batch may
/// delete rows the archive has not acknowledged.
pub struct D1Runs<'a> {
    pub db: &'a D1Database,
    pub gate: PruneGate,
}

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

fn run_statement(db: &D1Database, sql: &str, r: &RunRecord) -> worker::Result<D1PreparedStatement> {
    d1::statement(
        db,
        sql,
        &[
            d1::text(r.trigger.as_str()),
            d1::text(&r.started_at),
            d1::text(&r.finished_at),
            d1::text(r.status.as_str()),
            d1::int(r.symbols_ok),
            d1::int(r.symbols_failed),
            d1::opt_text(r.error.as_deref()),
        ],
    )
}

impl IngestStore for D1Runs<'_> {
    async fn record_run(&self, w: &RunWrite) -> Result<IngestRun, StoreError> {
        let db = self.db;
        let gate = || d1::int(self.gate.sql_flag());
        // Run records are pruned on every run; market data only by a run
        // that writes quotes (see `ingest::market_data_prune`).
        let mut statements = vec![d1::statement(db, store::PRUNE_RUNS, &[gate()]).map_err(d1_err)?];
        match w {
            RunWrite::RecordOnly(r) => {
                statements.push(run_statement(db, store::INSERT_RUN_NO_WRITE, r).map_err(d1_err)?);
            }
            RunWrite::WithQuotes {
                prune,
                rows_json,
                run,
                ..
            } => {
                if let Some((cutoff_ms, keep_ms)) = prune {
                    // Before the insert: "newest" is the newest row that existed.
                    statements.push(
                        d1::statement(
                            db,
                            store::PRUNE_MARKET_DATA,
                            &[d1::millis(*cutoff_ms), d1::millis(*keep_ms), gate()],
                        )
                        .map_err(d1_err)?,
                    );
                }
                statements.push(
                    d1::statement(db, store::INSERT_QUOTES, &[d1::text(rows_json)])
                        .map_err(d1_err)?,
                );
                statements
                    .push(run_statement(db, store::INSERT_RUN_AFTER_WRITE, run).map_err(d1_err)?);
            }
        }
        let mut rows: Vec<IngestRun> = d1::batch_last_rows(db, statements).await.map_err(d1_err)?;
        let run = rows
            .pop()
            .ok_or_else(|| StoreError("run record was not returned".into()))?;
        log_run(&run);
        Ok(run)
    }
}

/// Runs one ingestion and returns the stored run record.
pub async fn run(
    db: &D1Database,
    cfg: &Config,
    trigger: Trigger,
    clock: super::RunClock,
) -> Result<IngestRun, StoreError> {
    let runs = D1Runs {
        db,
        gate: crate::export::prune_gate(cfg),
    };
    let now = move || clock.now();
    service::run(
        &runs,
        &FetchBridge(cfg),
        cfg,
        trigger,
        clock.started(),
        &now,
    )
    .await
}

fn log_run(run: &IngestRun) {
    let line = serde_json::json!({ "event": "ingest_run", "run": run }).to_string();
    if run.status == RunStatus::Failed {
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
) -> Result<IngestRun, StoreError> {
    let w = RunWrite::RecordOnly(RunRecord {
        trigger,
        started_at: iso(started),
        finished_at: iso(now()),
        status: RunStatus::Failed,
        symbols_ok: 0,
        symbols_failed: 0,
        error: Some(reason.to_owned()),
    });
    // Without a valid configuration it is unknown whether an archiver is
    // configured: prune as if one were (nothing unacknowledged goes).
    D1Runs {
        db,
        gate: PruneGate::AcknowledgedOnly,
    }
    .record_run(&w)
    .await
}

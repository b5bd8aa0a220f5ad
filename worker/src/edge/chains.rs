//! Runtime adapter of the option-chain step: the [`ChainStore`] over D1 that
//! [`crate::chains::service`] runs through. Exercised by `tests/e2e/chains.test.mjs` under workerd.

use std::result::Result as StdResult;

use worker::{console_error, console_log, D1Database, D1Type, Result};

use super::proposals::FetchBridge;
use crate::chains::service::{self, ChainStore};
use crate::chains::{
    self, ChainRunUpdate, IvHistoryRow, SqlStatement, SqlValue, StatementMeta, StoredBarsRow,
};
use crate::config::Config;
use crate::edge::d1;
use crate::ingest::IngestRun;
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
            // IB's daily IV closes where stored (iv_history), else SAS's own.
            crate::iv_history::model::SELECT_RANK_SERIES,
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
                let params: Vec<D1Type<'_>> = s.params.iter().map(typed).collect();
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
                d1::int(u.run_id),
                d1::int(u.chain_rows),
                d1::text(u.status.as_str()),
                d1::opt_text(u.error.as_deref()),
                d1::int(u.chain_symbols_ok),
                d1::int(u.chain_symbols_failed),
                d1::opt_text(u.chain_failures.as_deref()),
                d1::text(&u.rows_by_table),
                d1::text(&u.contract_skips),
                d1::millis(u.duration_ms),
                d1::text(&u.finished_at),
                d1::int(u.symbols_ok),
                d1::int(u.symbols_failed),
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

fn typed(value: &SqlValue) -> D1Type<'_> {
    match value {
        SqlValue::Text(t) => D1Type::Text(t),
        SqlValue::Real(x) => D1Type::Real(*x),
        SqlValue::Int(n) => d1::int(*n),
        SqlValue::Null => D1Type::Null,
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
    clock: super::RunClock,
    run: StdResult<IngestRun, StoreError>,
) -> StdResult<IngestRun, StoreError> {
    let run = run?;
    let now = move || clock.now();
    let outcome = service::enrich(
        &D1Chains(db),
        &FetchBridge(cfg),
        cfg,
        clock.started(),
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

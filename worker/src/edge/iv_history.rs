//! Runtime adapter of the IV history (issue 14): the [`IvHistoryStore`]
//! over D1, the cron step, and the `GET /symbols/{symbol}/quality` handler.
//! The workflows are [`crate::iv_history::service`], tested natively; this
//! file only binds their SQL and logs.
//!
//! Not yet called: the lead wires [`cron_step`] into the 15-minute cron and
//! [`quality`] into the route table (then the `dead_code` allowances go).

use std::result::Result as StdResult;

use worker::{console_error, D1Database, Response};

use super::proposals::FetchBridge;
use crate::config::iv_history::IvHistoryConfig;
use crate::config::Config;
use crate::edge::{d1, error_response, json_response, now};
use crate::http::iv_history::{quality_error, QualityRoute};
use crate::iv_history::model::{
    bars_json, source_code, BackfillWrite, CoverageRow, FetchKind, SeriesRow, StateWrite,
    StoredQualityRow, APPEND_OWN_IV, SELECT_COVERAGE, SELECT_SERIES, SELECT_STORED_QUALITY,
    UPSERT_IB_BARS, UPSERT_STATE_FAILURE, UPSERT_STATE_SUCCESS,
};
use crate::iv_history::service;
use crate::iv_history::store::IvHistoryStore;
use crate::iv_history::IvHistoryError;
use crate::store::{self, LatestRow, StoreError};

/// The IV-history store over D1.
pub struct D1IvHistory<'a>(pub &'a D1Database);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

impl IvHistoryStore for D1IvHistory<'_> {
    async fn coverage(
        &self,
        symbols_json: &str,
        from: &str,
    ) -> StdResult<Vec<CoverageRow>, StoreError> {
        d1::rows(
            self.0,
            SELECT_COVERAGE,
            &[d1::text(symbols_json), d1::text(from)],
        )
        .await
        .map_err(d1_err)
    }

    async fn save_fetch(&self, w: &BackfillWrite) -> StdResult<u64, StoreError> {
        let json = bars_json(&w.fetched.bars);
        let full = i64::from(w.kind == FetchKind::Backfill);
        let statements = vec![
            d1::statement(
                self.0,
                UPSERT_IB_BARS,
                &[
                    d1::text(w.symbol.as_str()),
                    d1::text(&json),
                    d1::text(source_code(w.fetched.source)),
                    d1::millis(w.now_ms),
                ],
            ),
            d1::statement(
                self.0,
                UPSERT_STATE_SUCCESS,
                &[
                    d1::text(w.symbol.as_str()),
                    d1::millis(w.now_ms),
                    d1::int(full),
                ],
            ),
        ]
        .into_iter()
        .collect::<worker::Result<Vec<_>>>()
        .map_err(d1_err)?;
        // One batch: one transaction, the bars and the state or nothing.
        let results = self.0.batch(statements).await.map_err(d1_err)?;
        Ok(results
            .first()
            .and_then(|r| r.meta().ok().flatten())
            .and_then(|m| m.changes)
            .map_or(0, |n| n as u64))
    }

    async fn record_failure(&self, w: &StateWrite) -> StdResult<(), StoreError> {
        d1::statement(
            self.0,
            UPSERT_STATE_FAILURE,
            &[
                d1::text(w.symbol.as_str()),
                d1::text(w.status),
                d1::millis(w.now_ms),
                d1::millis(w.next_attempt_at),
                d1::int(w.attempts),
                d1::text(&w.error),
            ],
        )
        .map_err(d1_err)?
        .run()
        .await
        .map_err(d1_err)?;
        Ok(())
    }

    async fn append_own(
        &self,
        symbols_json: &str,
        from: &str,
        before: &str,
        now_ms: i64,
    ) -> StdResult<u64, StoreError> {
        let result = d1::statement(
            self.0,
            APPEND_OWN_IV,
            &[
                d1::text(symbols_json),
                d1::text(from),
                d1::text(before),
                d1::millis(now_ms),
            ],
        )
        .map_err(d1_err)?
        .run()
        .await
        .map_err(d1_err)?;
        Ok(result
            .meta()
            .ok()
            .flatten()
            .and_then(|m| m.changes)
            .map_or(0, |n| n as u64))
    }

    async fn series(
        &self,
        symbol: &str,
        from: &str,
        to: &str,
    ) -> StdResult<Vec<SeriesRow>, StoreError> {
        d1::rows(
            self.0,
            SELECT_SERIES,
            &[d1::text(symbol), d1::text(from), d1::text(to)],
        )
        .await
        .map_err(d1_err)
    }

    async fn latest_quotes(&self, symbols_json: &str) -> StdResult<Vec<LatestRow>, StoreError> {
        d1::rows(self.0, store::SELECT_LATEST, &[d1::text(symbols_json)])
            .await
            .map_err(d1_err)
    }

    async fn stored_quality(
        &self,
        symbol: &str,
    ) -> StdResult<Option<StoredQualityRow>, StoreError> {
        let rows: Vec<StoredQualityRow> =
            d1::rows(self.0, SELECT_STORED_QUALITY, &[d1::text(symbol)])
                .await
                .map_err(d1_err)?;
        Ok(rows.into_iter().next())
    }
}

/// The IV-history step of the 15-minute cron: SAS's own closes copied, then
/// at most `IV_BACKFILL_PER_RUN` bridge requests. Logs one JSON line; never
/// fails the run.
pub async fn cron_step(
    db: &D1Database,
    cfg: &Config,
    iv_cfg: &IvHistoryConfig,
    clock: super::RunClock,
) {
    let started = now();
    let report = service::cron_step(
        &D1IvHistory(db),
        &FetchBridge(cfg),
        &cfg.watchlist,
        iv_cfg,
        cfg.bridge_timeout_ms,
        clock.now(),
    )
    .await;
    let ms = (now() - started).num_milliseconds();
    super::log_step("iv_history", ms, &report, |r| {
        r.fetches.iter().any(|f| f.error.is_some())
    });
}

/// `GET /symbols/{symbol}/quality`: 200 with the report, 404 for a symbol
/// off the watchlist, 500 (logged) when D1 fails.
pub async fn quality(
    db: &D1Database,
    cfg: &Config,
    iv_cfg: &IvHistoryConfig,
    route: &QualityRoute,
) -> Response {
    let result = service::quality(
        &D1IvHistory(db),
        &FetchBridge(cfg),
        cfg,
        iv_cfg,
        &route.symbol,
        now(),
    )
    .await;
    match result {
        Ok(report) => json_response(200, &report),
        Err(e) => {
            if matches!(e, IvHistoryError::Store(_)) {
                console_error!(
                    "{}",
                    serde_json::json!({
                        "event": "internal_error", "context": "symbol_quality", "error": e.to_string()
                    })
                );
            }
            error_response(&quality_error(&e))
        }
    }
}

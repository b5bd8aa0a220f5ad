//! The opportunity reads on the Workers runtime: the [`OpportunityStore`]
//! over D1 that [`crate::opportunities::service`] reads through.

use sas_core::market::Symbol;
use serde::Serialize;
use worker::{console_error, D1Database, Response};

use crate::edge::{d1, error_response, json_response};
use crate::http::reads::read_error;
use crate::opportunities::service::{OpportunityStore, ReadError};
use crate::opportunities::{self, ChainExpiryRow, LatestMetricsRow, MetricsRow, SpotRow};
use crate::store::{self, HistoryRow, LatestRow, SnapshotRow, StoreError};

/// The reads over D1.
pub struct D1Reads<'a>(pub &'a D1Database);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

impl OpportunityStore for D1Reads<'_> {
    async fn latest(&self, symbols_json: &str) -> Result<Vec<LatestRow>, StoreError> {
        d1::rows(self.0, store::SELECT_LATEST, &[d1::text(symbols_json)])
            .await
            .map_err(d1_err)
    }

    async fn history(&self, symbol: &Symbol, since_ms: i64) -> Result<Vec<HistoryRow>, StoreError> {
        d1::rows(
            self.0,
            store::SELECT_HISTORY,
            &[d1::text(symbol.as_str()), d1::millis(since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn snapshots(
        &self,
        symbols_json: &str,
        since_ms: i64,
    ) -> Result<Vec<SnapshotRow>, StoreError> {
        d1::snapshots(self.0, &[d1::text(symbols_json), d1::millis(since_ms)])
            .await
            .map_err(d1_err)
    }

    async fn latest_metrics(
        &self,
        symbols_json: &str,
        since_ms: i64,
    ) -> Result<Vec<LatestMetricsRow>, StoreError> {
        d1::rows(
            self.0,
            opportunities::SELECT_LATEST_METRICS,
            &[d1::text(symbols_json), d1::millis(since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn metrics_daily(
        &self,
        symbol: &Symbol,
        from: &str,
    ) -> Result<Vec<MetricsRow>, StoreError> {
        d1::rows(
            self.0,
            opportunities::SELECT_METRICS_DAILY,
            &[d1::text(symbol.as_str()), d1::text(from)],
        )
        .await
        .map_err(d1_err)
    }

    async fn metrics_intraday(
        &self,
        symbol: &Symbol,
        since_ms: i64,
    ) -> Result<Vec<MetricsRow>, StoreError> {
        d1::rows(
            self.0,
            opportunities::SELECT_METRICS_INTRADAY,
            &[d1::text(symbol.as_str()), d1::millis(since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn symbol_known(&self, symbol: &Symbol) -> Result<bool, StoreError> {
        let rows: Vec<serde_json::Value> = d1::rows(
            self.0,
            opportunities::SELECT_SYMBOL_KNOWN,
            &[d1::text(symbol.as_str())],
        )
        .await
        .map_err(d1_err)?;
        Ok(!rows.is_empty())
    }

    async fn latest_chain(&self, symbol: &Symbol) -> Result<Vec<ChainExpiryRow>, StoreError> {
        d1::rows(
            self.0,
            opportunities::SELECT_LATEST_CHAIN,
            &[d1::text(symbol.as_str())],
        )
        .await
        .map_err(d1_err)
    }

    async fn spot_at(&self, symbol: &Symbol, ts: i64) -> Result<Option<f64>, StoreError> {
        let rows: Vec<SpotRow> = d1::rows(
            self.0,
            opportunities::SELECT_SPOT_AT,
            &[d1::text(symbol.as_str()), d1::millis(ts)],
        )
        .await
        .map_err(d1_err)?;
        Ok(rows.first().map(|s| s.spot))
    }
}

/// A read's reply: 200 with its body, or the mapped error (store failures
/// logged as `internal_error`).
pub fn reply<T: Serialize>(result: Result<T, ReadError>) -> Response {
    match result {
        Ok(body) => json_response(200, &body),
        Err(e) => {
            if let ReadError::Store { context, source } = &e {
                let line = serde_json::json!({
                    "event": "internal_error", "context": context, "error": source.to_string()
                });
                console_error!("{line}");
            }
            error_response(&read_error(&e))
        }
    }
}

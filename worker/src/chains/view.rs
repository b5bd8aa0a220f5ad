//! The chain step as JSON: the run record's JSON columns
//! (`rows_by_table`, `chain_failures`, `contract_skips`) and the step's log
//! line.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{ChainStepSummary, RowsLedger, SymbolQualityRow};
use crate::ingest::IngestRun;

impl RowsLedger {
    /// `ingest_runs.rows_by_table`: `{"tables": {...}, "chain_total": n, "source": ...}`.
    pub fn to_json(&self) -> String {
        let tables: BTreeMap<&str, u64> =
            self.by_table.iter().map(|(t, n)| (t.name(), *n)).collect();
        serde_json::json!({
            "tables": tables,
            "chain_total": self.total(),
            "source": self.source(),
        })
        .to_string()
    }
}

impl ChainStepSummary {
    /// `ingest_runs.chain_failures`: `{"SYMBOL": "reason"}`, or `None`.
    pub fn failures_json(&self) -> Option<String> {
        if self.failed.is_empty() {
            return None;
        }
        let map: BTreeMap<&str, &str> = self
            .failed
            .iter()
            .map(|(s, r)| (s.as_str(), r.as_str()))
            .collect();
        serde_json::to_string(&map).ok()
    }

    /// `ingest_runs.contract_skips`.
    pub fn skips_json(&self) -> String {
        serde_json::to_string(&self.skips).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// `data_quality` part of the public `/health`: how many watchlist symbols
/// the data-quality gate found live, delayed or failing at the last chain
/// step (`unknown`: never checked), and since when the longest-standing
/// delayed / failing symbol has been so. No symbol names (the watchlist is
/// configuration): per symbol, `GET /symbols/{s}/quality` (authenticated).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct DataQualityHealth {
    pub live: usize,
    pub delayed: usize,
    pub failing: usize,
    pub unknown: usize,
    /// Earliest `since` of a delayed symbol (RFC 3339).
    pub delayed_since: Option<String>,
    /// Earliest `since` of a failing symbol (RFC 3339).
    pub failing_since: Option<String>,
    /// When the gate last checked any symbol (RFC 3339).
    pub checked_at: Option<String>,
}

fn iso_ms(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(crate::ingest::iso)
}

/// Summarizes the stored [`SymbolQualityRow`]s of the `watchlist` symbols.
pub fn data_quality_health(rows: &[SymbolQualityRow], watchlist: &[&str]) -> DataQualityHealth {
    let mut h = DataQualityHealth::default();
    let (mut delayed_since, mut failing_since, mut checked) =
        (None::<i64>, None::<i64>, None::<i64>);
    for symbol in watchlist {
        let Some(r) = rows.iter().find(|r| r.symbol == *symbol) else {
            h.unknown += 1;
            continue;
        };
        checked = Some(checked.map_or(r.checked_ms, |c| c.max(r.checked_ms)));
        let earliest = |e: Option<i64>| Some(e.map_or(r.since_ms, |x| x.min(r.since_ms)));
        match r.state.as_str() {
            "live" => h.live += 1,
            "delayed" => {
                h.delayed += 1;
                delayed_since = earliest(delayed_since);
            }
            _ => {
                h.failing += 1;
                failing_since = earliest(failing_since);
            }
        }
    }
    h.delayed_since = delayed_since.and_then(iso_ms);
    h.failing_since = failing_since.and_then(iso_ms);
    h.checked_at = checked.and_then(iso_ms);
    h
}

/// The `chain_step` log line of a run updated by the step.
pub fn step_line(updated: &IngestRun, summary: &ChainStepSummary, duration_ms: i64) -> String {
    serde_json::json!({
        "event": "chain_step",
        "run_id": updated.id,
        "status": updated.status,
        "symbols_ok": summary.ok.len(),
        "symbols_failed": summary.failed,
        "rows_written": updated.rows_written,
        "rows_by_table": serde_json::from_str::<serde_json::Value>(&summary.rows.to_json()).ok(),
        "contract_skips": summary.skips,
        "held": summary.held(),
        "duration_ms": duration_ms,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(symbol: &str, state: &str, since_ms: i64, checked_ms: i64) -> SymbolQualityRow {
        SymbolQualityRow {
            symbol: symbol.into(),
            state: state.into(),
            since_ms,
            checked_ms,
            reasons_json: "[]".into(),
        }
    }

    #[test]
    fn health_counts_states_of_the_watchlist_and_the_earliest_since() {
        const T: i64 = 1_795_186_800_000; // 2026-11-20T15:00:00Z
        let rows = vec![
            row("SPY", "live", T - 86_400_000, T),
            row("QQQ", "delayed", T - 900_000, T),
            row("IWM", "delayed", T - 1_800_000, T - 60_000),
            row("AAPL", "failing", T - 60_000, T),
            row("OLD", "failing", 0, T + 5),
        ];
        let h = data_quality_health(&rows, &["SPY", "QQQ", "IWM", "AAPL", "MSFT"]);
        assert_eq!((h.live, h.delayed, h.failing, h.unknown), (1, 2, 1, 1));
        assert_eq!(h.delayed_since.as_deref(), Some("2026-11-20T14:30:00.000Z"));
        assert_eq!(h.failing_since.as_deref(), Some("2026-11-20T14:59:00.000Z"));
        assert_eq!(
            h.checked_at.as_deref(),
            Some("2026-11-20T15:00:00.000Z"),
            "OLD is off the watchlist"
        );
        let none = data_quality_health(&[], &["SPY"]);
        assert_eq!((none.unknown, none.checked_at), (1, None));
    }
}

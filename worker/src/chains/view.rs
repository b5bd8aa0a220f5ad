//! The chain step as JSON: the run record's JSON columns
//! (`rows_by_table`, `chain_failures`, `contract_skips`) and the step's log
//! line.

use std::collections::BTreeMap;

use super::model::{ChainStepSummary, RowsLedger};
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
        "duration_ms": duration_ms,
    })
    .to_string()
}

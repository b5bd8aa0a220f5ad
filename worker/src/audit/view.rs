//! The audit log as `GET /audit` shows it.

use serde::Serialize;

use super::model::AuditRow;

/// Wire form of one audit row (`at` as RFC 3339, `details` as JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub details: serde_json::Value,
}

/// `GET /audit` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AuditLog {
    pub entries: Vec<AuditView>,
    /// `before` for the next (older) page, when this page is full.
    pub next_before: Option<i64>,
    /// Every action the log can hold (the kind filter's choices).
    pub actions: Vec<String>,
}

impl From<AuditRow> for AuditView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: iso_ms(r.at),
            actor: r.actor,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            from_state: r.from_state,
            to_state: r.to_state,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Unix ms as RFC 3339 UTC with milliseconds.
pub fn iso_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `GET /audit` from the rows read for `limit` (newest first).
pub fn log_view(rows: Vec<AuditRow>, limit: u32) -> AuditLog {
    let full = rows.len() >= limit as usize;
    let next_before = rows.last().filter(|_| full).map(|r| r.id);
    AuditLog {
        entries: rows.into_iter().map(AuditView::from).collect(),
        next_before,
        actions: super::AuditAction::ALL
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
    }
}

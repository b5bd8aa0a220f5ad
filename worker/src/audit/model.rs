//! The audit log's rows and SQL: the entry a change writes (always in the
//! same D1 batch as the change it describes) and the rows `GET /audit` reads.

use serde::{Deserialize, Serialize};

use super::AuditAction;

/// One audit entry to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Unix ms.
    pub at: i64,
    pub actor: String,
    pub action: AuditAction,
    /// `proposal` or `setting`.
    pub entity: &'static str,
    pub entity_id: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    /// JSON object: prices seen, reasons, order ids.
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// An entry about proposal `id`.
    pub fn proposal(
        at: i64,
        actor: &str,
        action: AuditAction,
        id: i64,
        from_state: Option<&str>,
        to_state: Option<&str>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action,
            entity: "proposal",
            entity_id: Some(id.to_string()),
            from_state: from_state.map(str::to_owned),
            to_state: to_state.map(str::to_owned),
            details,
        }
    }

    /// An entry about `entity` (`position`, `order`, `reconciliation`) `id`.
    #[allow(clippy::too_many_arguments)]
    pub fn about(
        entity: &'static str,
        id: impl ToString,
        at: i64,
        actor: &str,
        action: AuditAction,
        from_state: Option<&str>,
        to_state: Option<&str>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action,
            entity,
            entity_id: Some(id.to_string()),
            from_state: from_state.map(str::to_owned),
            to_state: to_state.map(str::to_owned),
            details,
        }
    }

    /// The `details` column text (always a JSON object).
    pub fn details_json(&self) -> String {
        if self.details.is_object() {
            self.details.to_string()
        } else {
            serde_json::json!({ "value": self.details }).to_string()
        }
    }
}

/// Appends one entry unconditionally: `?1 at, ?2 actor, ?3 action, ?4 entity,
/// ?5 entity_id, ?6 from_state, ?7 to_state, ?8 details`.
pub const INSERT_AUDIT: &str = "INSERT INTO audit_log \
(at, actor, action, entity, entity_id, from_state, to_state, details) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Appends one entry only when the statement just before it in the same
/// batch changed exactly one row (a conditional state transition that won).
/// Same parameters as [`INSERT_AUDIT`].
pub const INSERT_AUDIT_IF_CHANGED: &str = "INSERT INTO audit_log \
(at, actor, action, entity, entity_id, from_state, to_state, details) \
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE changes() = 1";

/// What `GET /audit` asks for: newest first, at most `limit`, only the
/// entries of a proposal and/or of a position and/or of one action, and
/// only those older than `before` (an entry id: the next page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    pub limit: u32,
    pub proposal: Option<i64>,
    /// A position's own entries, and every entry whose details name it
    /// (`position_id`: its orders and fills).
    pub position: Option<i64>,
    pub action: Option<super::AuditAction>,
    pub before: Option<i64>,
}

/// [`AuditQuery`] as SQL: `?1` limit, `?2` proposal id (text or NULL), `?3`
/// position id (text or NULL), `?4` action (or NULL), `?5` before (or NULL).
/// The audit log is one trader's (thousands of rows a year): a filter walks
/// the newest rows by id until it has `limit`.
pub const SELECT_AUDIT: &str = "SELECT id, at, actor, action, entity, entity_id, from_state, to_state, details FROM audit_log WHERE (?2 IS NULL OR (entity = 'proposal' AND entity_id = ?2)) AND (?3 IS NULL OR (entity = 'position' AND entity_id = ?3) OR (json_valid(details) AND CAST(json_extract(details, '$.position_id') AS TEXT) = ?3)) AND (?4 IS NULL OR action = ?4) AND (?5 IS NULL OR id < ?5) ORDER BY id DESC LIMIT ?1";

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub details: String,
}

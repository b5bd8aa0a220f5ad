//! The append-only audit log: who changed what, when, from which state to
//! which, and the prices seen. Pure: SQL text, row types and builders; the
//! edge binds and runs them (always in the same D1 batch as the change they
//! describe, so a change is never stored without its audit row).

use serde::{Deserialize, Serialize};

use crate::auth::Principal;

/// Most audit rows `GET /audit` returns.
pub const MAX_AUDIT_LIMIT: u32 = 500;
/// Default `limit` of `GET /audit`.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;

/// Actor recorded for changes made by the cron.
pub const CRON_ACTOR: &str = "system:cron";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A proposal was stored (pending).
    ProposalCreated,
    /// pending → approved.
    ProposalApproved,
    /// pending → rejected.
    ProposalRejected,
    /// pending → expired.
    ProposalExpired,
    /// An approval was refused at re-pricing (state unchanged).
    ApprovalRefused,
    /// The bridge accepted the order (new, or a duplicate of the same key).
    OrderSubmitted,
    /// The order was definitely not placed (bridge unreachable, broker
    /// disconnected, trading halted, account check failed): `submit_failed`.
    OrderSubmitFailed,
    /// The bridge's answer was lost (timeout, 5xx): `unknown`, resolved by key.
    OrderUnknown,
    /// The bridge or broker refused the order: `rejected` (final).
    OrderRejected,
    /// The order will never be (re)sent (window closed, re-pricing refused,
    /// kill switch on, attempts used up): `abandoned` (final).
    OrderAbandoned,
    /// The cron re-priced the order and claimed it for a resend.
    OrderRetry,
    /// The kill switch was turned on or off.
    KillSwitchChanged,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ProposalCreated => "proposal_created",
            AuditAction::ProposalApproved => "proposal_approved",
            AuditAction::ProposalRejected => "proposal_rejected",
            AuditAction::ProposalExpired => "proposal_expired",
            AuditAction::ApprovalRefused => "approval_refused",
            AuditAction::OrderSubmitted => "order_submitted",
            AuditAction::OrderSubmitFailed => "order_submit_failed",
            AuditAction::OrderUnknown => "order_unknown",
            AuditAction::OrderRejected => "order_rejected",
            AuditAction::OrderAbandoned => "order_abandoned",
            AuditAction::OrderRetry => "order_retry",
            AuditAction::KillSwitchChanged => "kill_switch_changed",
        }
    }
}

/// The label stored as `actor` for an authenticated caller.
pub fn actor_label(principal: &Principal) -> String {
    match principal {
        Principal::ApiToken => "api_token".to_owned(),
        Principal::AccessIdentity(id) => format!("access:{id}"),
    }
}

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

/// Newest entries first, `?1` = limit.
pub const SELECT_AUDIT: &str = "SELECT id, at, actor, action, entity, entity_id, from_state, \
to_state, details FROM audit_log ORDER BY id DESC LIMIT ?1";

/// Newest entries of one proposal first (`?1` = id as text, `?2` = limit).
pub const SELECT_AUDIT_OF_PROPOSAL: &str = "SELECT id, at, actor, action, entity, entity_id, \
from_state, to_state, details FROM audit_log WHERE entity = 'proposal' AND entity_id = ?1 \
ORDER BY id DESC LIMIT ?2";

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

/// Wire form of one audit row (`at` as RFC 3339, `details` as JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
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
pub struct AuditLog {
    pub entries: Vec<AuditView>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_labels_name_the_principal() {
        assert_eq!(actor_label(&Principal::ApiToken), "api_token");
        assert_eq!(
            actor_label(&Principal::AccessIdentity("me@example.com".into())),
            "access:me@example.com"
        );
    }

    #[test]
    fn details_are_always_an_object() {
        let e = AuditEntry::proposal(
            1,
            CRON_ACTOR,
            AuditAction::ProposalExpired,
            7,
            Some("pending"),
            Some("expired"),
            serde_json::json!([1, 2]),
        );
        assert_eq!(e.details_json(), r#"{"value":[1,2]}"#);
        assert_eq!(e.entity_id.as_deref(), Some("7"));
        let e = AuditEntry {
            details: serde_json::json!({"a": 1}),
            ..e
        };
        assert_eq!(e.details_json(), r#"{"a":1}"#);
    }

    #[test]
    fn conditional_insert_depends_on_the_previous_change() {
        assert!(INSERT_AUDIT_IF_CHANGED.contains("WHERE changes() = 1"));
        // Both inserts bind the same eight parameters.
        for sql in [INSERT_AUDIT, INSERT_AUDIT_IF_CHANGED] {
            assert!(sql.contains("?8") && !sql.contains("?9"), "{sql}");
        }
    }

    #[test]
    fn rows_render_with_parsed_details() {
        let v = AuditView::from(AuditRow {
            id: 3,
            at: 1_700_000_000_123,
            actor: "api_token".into(),
            action: "proposal_approved".into(),
            entity: "proposal".into(),
            entity_id: Some("9".into()),
            from_state: Some("pending".into()),
            to_state: Some("approved".into()),
            details: r#"{"limit_price":1.25}"#.into(),
        });
        assert_eq!(v.at, "2023-11-14T22:13:20.123Z");
        assert_eq!(v.details["limit_price"], 1.25);
        assert_eq!(
            AuditAction::OrderSubmitFailed.as_str(),
            "order_submit_failed"
        );
    }
}

//! The append-only audit log: who changed what, when, from which state to
//! which, and the prices seen. [`model`]: the entry and row types and SQL;
//! [`store`]: the [`store::AuditStore`] trait (append alone, read);
//! [`view`]: `GET /audit`. The edge binds and runs the SQL (an entry always
//! in the same D1 batch as the change it describes, so a change is never
//! stored without its audit row).

use serde::{Deserialize, Serialize};

pub mod model;
pub mod store;
pub mod view;

pub use model::*;
pub use view::*;

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
    /// The monitor began tracking an approved trade's position.
    PositionTracked,
    /// New fills (or late commissions) of a position were recorded.
    FillsRecorded,
    /// pending → open (first fill), open → closed (flat), pending → void.
    PositionStateChanged,
    /// An exit rule fired on a trustworthy mark.
    ExitTriggered,
    /// The trader asked to close a position.
    CloseRequested,
    /// A position's automated exits were paused or resumed by the trader.
    ExitsPauseChanged,
    /// A closing order was written (before it is sent).
    ExitOrderCreated,
    /// An order of the position engine changed state (broker report, send
    /// answer, cancel).
    OrderStateChanged,
    /// A cancel was sent for an order.
    OrderCancelRequested,
    /// The books and the broker's positions disagree (confirmed).
    DriftDetected,
    /// They agree again.
    DriftCleared,
    /// The trader acknowledged a drift.
    DriftAcknowledged,
    /// A cause of the trading state was raised or cleared (by a rule or the
    /// trader), or the trader set reducing.
    RiskStateChanged,
    /// A strategy was enabled or disabled.
    StrategySwitched,
    /// Earnings dates were added or removed by hand (`PUT /events`).
    EventsChanged,
}

impl AuditAction {
    /// Every action, in declaration order (the audit filter's kinds).
    pub const ALL: [AuditAction; 27] = [
        AuditAction::ProposalCreated,
        AuditAction::ProposalApproved,
        AuditAction::ProposalRejected,
        AuditAction::ProposalExpired,
        AuditAction::ApprovalRefused,
        AuditAction::OrderSubmitted,
        AuditAction::OrderSubmitFailed,
        AuditAction::OrderUnknown,
        AuditAction::OrderRejected,
        AuditAction::OrderAbandoned,
        AuditAction::OrderRetry,
        AuditAction::KillSwitchChanged,
        AuditAction::PositionTracked,
        AuditAction::FillsRecorded,
        AuditAction::PositionStateChanged,
        AuditAction::ExitTriggered,
        AuditAction::CloseRequested,
        AuditAction::ExitsPauseChanged,
        AuditAction::ExitOrderCreated,
        AuditAction::OrderStateChanged,
        AuditAction::OrderCancelRequested,
        AuditAction::DriftDetected,
        AuditAction::DriftCleared,
        AuditAction::DriftAcknowledged,
        AuditAction::RiskStateChanged,
        AuditAction::StrategySwitched,
        AuditAction::EventsChanged,
    ];

    /// The action stored as `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

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
            AuditAction::PositionTracked => "position_tracked",
            AuditAction::FillsRecorded => "fills_recorded",
            AuditAction::PositionStateChanged => "position_state_changed",
            AuditAction::ExitTriggered => "exit_triggered",
            AuditAction::CloseRequested => "close_requested",
            AuditAction::ExitsPauseChanged => "exits_pause_changed",
            AuditAction::ExitOrderCreated => "exit_order_created",
            AuditAction::OrderStateChanged => "order_state_changed",
            AuditAction::OrderCancelRequested => "order_cancel_requested",
            AuditAction::DriftDetected => "drift_detected",
            AuditAction::DriftCleared => "drift_cleared",
            AuditAction::DriftAcknowledged => "drift_acknowledged",
            AuditAction::RiskStateChanged => "risk_state_changed",
            AuditAction::StrategySwitched => "strategy_switched",
            AuditAction::EventsChanged => "events_changed",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_once_and_parses_back_from_its_stored_name() {
        // A new variant fails to compile here until it is given its place
        // in ALL (the exhaustive match), so the list cannot fall behind.
        fn position(a: AuditAction) -> usize {
            use AuditAction as A;
            match a {
                A::ProposalCreated => 0,
                A::ProposalApproved => 1,
                A::ProposalRejected => 2,
                A::ProposalExpired => 3,
                A::ApprovalRefused => 4,
                A::OrderSubmitted => 5,
                A::OrderSubmitFailed => 6,
                A::OrderUnknown => 7,
                A::OrderRejected => 8,
                A::OrderAbandoned => 9,
                A::OrderRetry => 10,
                A::KillSwitchChanged => 11,
                A::PositionTracked => 12,
                A::FillsRecorded => 13,
                A::PositionStateChanged => 14,
                A::ExitTriggered => 15,
                A::CloseRequested => 16,
                A::ExitsPauseChanged => 17,
                A::ExitOrderCreated => 18,
                A::OrderStateChanged => 19,
                A::OrderCancelRequested => 20,
                A::DriftDetected => 21,
                A::DriftCleared => 22,
                A::DriftAcknowledged => 23,
                A::RiskStateChanged => 24,
                A::StrategySwitched => 25,
                A::EventsChanged => 26,
            }
        }
        for (i, a) in AuditAction::ALL.into_iter().enumerate() {
            assert_eq!(position(a), i, "{a:?}");
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::Value::String(a.as_str().into())
            );
        }
        assert_eq!(AuditAction::parse("proposal_created "), None);
        assert_eq!(AuditAction::parse("nope"), None);
    }

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

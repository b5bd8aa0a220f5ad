//! What the approval workflows need from storage. Every method that changes
//! a proposal is ONE conditional statement written in the same batch as its
//! audit row (the audit row is inserted only when the statement changed the
//! row); the SQL of each is named on the method and is the source of truth.

use crate::approvals::{OrderState, ResolveRow};
use crate::audit::store::AuditStore;
use crate::audit::AuditEntry;
use crate::proposals::{ProposalRow, ProposalStatus};
use crate::settings::store::SettingsStore;

pub use crate::store::StoreError;

/// pending → approved with the order to send ([`super::APPROVE`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Approval<'a> {
    pub id: i64,
    pub at_ms: i64,
    pub actor: &'a str,
    pub note: Option<&'a str>,
    pub limit_price: f64,
    pub contracts: u32,
    pub order_json: &'a str,
    /// The risk engine's verdict (JSON), stored with the approval in the
    /// same batch (`risk_checks`).
    pub risk_report: &'a str,
    /// The "approved" alert ([`crate::alerts::service::event_statements`]
    /// with `after_change`), appended after the audit row: stored only when
    /// the approval won.
    pub alert: &'a [crate::alerts::Statement],
}

/// One order-state change, compare-and-set from `from`
/// ([`super::SET_ORDER_STATE`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderStateChange<'a> {
    pub id: i64,
    pub from: OrderState,
    pub to: OrderState,
    pub order_id: Option<&'a str>,
    pub broker_status: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// This change records a send (adds one attempt).
    pub sent: bool,
    pub at_ms: i64,
}

/// A cron resend claimed with the re-priced order ([`super::CLAIM_RESEND`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ResendClaim<'a> {
    pub id: i64,
    pub order_json: &'a str,
    pub limit_price: f64,
    pub contracts: u32,
    pub at_ms: i64,
    pub from: OrderState,
    pub order_updated_at: Option<i64>,
}

/// Storage of proposals, their orders, the kill switch and the audit log.
/// The futures are not `Send` (D1), hence `async fn` with static dispatch.
#[allow(async_fn_in_trait)]
pub trait ApprovalStore: SettingsStore + AuditStore {
    /// One proposal with its stored `Proposal` JSON (`select_proposal_sql`).
    async fn proposal(&self, id: i64) -> Result<Option<ProposalRow>, StoreError>;
    /// Newest first, optionally of one status (`select_proposals_sql`).
    async fn proposals(
        &self,
        status: Option<ProposalStatus>,
        limit: u32,
    ) -> Result<Vec<ProposalRow>, StoreError>;
    /// [`super::APPROVE`] + audit if changed, one batch; true when it won.
    async fn approve(&self, a: &Approval<'_>, audit: &AuditEntry) -> Result<bool, StoreError>;
    /// [`super::REJECT`] + audit if changed, one batch; true when it won.
    async fn reject(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        reason: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// [`super::EXPIRE_ONE`] + audit if changed, one batch.
    async fn expire_one(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// [`super::AUDIT_OVERDUE`] + [`super::EXPIRE_OVERDUE`], one batch; the
    /// number expired.
    async fn expire_overdue(&self, at_ms: i64, actor: &str) -> Result<usize, StoreError>;
    /// [`super::SET_ORDER_STATE`] + audit if changed, one batch.
    async fn set_order_state(
        &self,
        c: &OrderStateChange<'_>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// A resend the risk engine refused: [`super::SET_ORDER_STATE`] (to
    /// `abandoned`) + the verdict ([`crate::risk::model::INSERT_RISK_CHECK_IF_CHANGED`],
    /// not approved) + audit if changed, one batch; true when it won.
    async fn refuse_resend(
        &self,
        c: &OrderStateChange<'_>,
        risk_report: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// [`super::CLAIM_RESEND`] + audit if changed, one batch.
    async fn claim_resend(
        &self,
        c: &ResendClaim<'_>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// [`super::SELECT_RISK_CHECKS_OF_PROPOSAL`]: the stored pre-trade
    /// reports of one proposal, newest first.
    async fn risk_checks(
        &self,
        proposal_id: i64,
        limit: u32,
    ) -> Result<Vec<super::RiskCheckRow>, StoreError>;
    /// [`super::SELECT_ORDERS_TO_RESOLVE`].
    async fn orders_to_resolve(
        &self,
        at_ms: i64,
        stale_ms: i64,
        limit: u32,
    ) -> Result<Vec<ResolveRow>, StoreError>;
}

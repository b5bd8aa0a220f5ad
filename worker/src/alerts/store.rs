//! What the alert workflows need from storage. Every method names the SQL
//! constant(s) it runs; a method that writes several statements runs them
//! as ONE D1 batch (one transaction).

use sas_core::alerts::{Alert, ChannelKind, ConditionState};

use super::model::{AlertRow, ConditionRow, DueDelivery, RecentSend};
pub use crate::store::StoreError;

/// An alert to enqueue for `channels` at `now_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert<'a> {
    pub alert: &'a Alert,
    pub channels: &'a [ChannelKind],
    pub now_ms: i64,
}

/// A condition's next state, written if the row is still at
/// `expected_version`, with the alert it raises (if any) in the same batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionWrite<'a> {
    pub state: &'a ConditionState,
    pub expected_version: i64,
    pub alert: Option<NewAlert<'a>>,
}

/// The outcome of one send, recorded against the claim it was made under.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub now_ms: i64,
    /// Attempts after the claim (the compare-and-set value).
    pub attempts: i64,
    /// `delivered`, `retrying` or `failed`.
    pub state: super::DeliveryState,
    /// Retrying: the next attempt.
    pub next_attempt_at: Option<i64>,
    pub status: Option<u16>,
    /// Redacted error (no secret of the channel).
    pub error: Option<String>,
}

/// Storage of the outbox, the deliveries and the condition states. The
/// futures are not `Send` (D1), hence `async fn` with static dispatch.
#[allow(async_fn_in_trait)]
pub trait AlertStore {
    /// [`super::INSERT_ALERT`] + [`super::INSERT_DELIVERIES`], one batch;
    /// true when the alert is new (false: its key was already stored).
    async fn enqueue(&self, new: &NewAlert<'_>) -> Result<bool, StoreError>;
    /// [`super::SELECT_ALERT_EXISTS`]: whether `key` is stored.
    async fn has_alert(&self, key: &str) -> Result<bool, StoreError>;
    /// [`super::SELECT_CONDITION`].
    async fn condition(
        &self,
        kind: &str,
        subject: &str,
    ) -> Result<Option<ConditionRow>, StoreError>;
    /// [`super::SELECT_CONDITIONS`].
    async fn conditions(&self) -> Result<Vec<ConditionRow>, StoreError>;
    /// [`super::UPSERT_CONDITION`] then, if an alert is given,
    /// [`super::INSERT_ALERT_IF_CHANGED`] + [`super::INSERT_DELIVERIES`],
    /// one batch; true when the compare-and-set won.
    async fn write_condition(&self, w: &ConditionWrite<'_>) -> Result<bool, StoreError>;
    /// [`super::SELECT_DUE_DELIVERIES`].
    async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        only_key: Option<&str>,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// [`super::SELECT_RECENT_SENDS`] with `since_ms` = now - 60 s.
    async fn recent_sends(&self, since_ms: i64) -> Result<Vec<RecentSend>, StoreError>;
    /// [`super::CLAIM_DELIVERY`]; true when this run owns the send.
    async fn claim(
        &self,
        id: i64,
        now_ms: i64,
        lease_until_ms: i64,
        attempts_read: i64,
    ) -> Result<bool, StoreError>;
    /// [`super::DEFER_DELIVERY`]; true when moved.
    async fn defer(
        &self,
        id: i64,
        now_ms: i64,
        until_ms: i64,
        attempts_read: i64,
    ) -> Result<bool, StoreError>;
    /// [`super::RECORD_DELIVERY`]; true when recorded (false: another run
    /// took the delivery over after the lease ran out).
    async fn record(&self, r: &DeliveryRecord) -> Result<bool, StoreError>;
    /// [`super::SELECT_ALERTS`].
    async fn alerts(&self, limit: u32) -> Result<Vec<AlertRow>, StoreError>;
    /// [`super::PRUNE_DELIVERIES`] + [`super::PRUNE_ALERTS`], one batch.
    async fn prune(&self, before_ms: i64) -> Result<(), StoreError>;
}

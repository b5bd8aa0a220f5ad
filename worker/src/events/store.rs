//! Where the events workflows read and write: each method is one SQL
//! constant of [`super::model`] (or one batch of them), executed over D1 by
//! `edge::events` and by `super::memory` in the native tests.

use super::model::{DividendRow, EarningsDate, EarningsRow};
use crate::audit::AuditEntry;
use crate::store::StoreError;

/// A good dividend answer to store.
#[derive(Debug, Clone, PartialEq)]
pub struct DividendWrite {
    pub symbol: String,
    pub now_ms: i64,
    pub next_attempt_at: i64,
    pub next_ex_date: Option<String>,
    pub next_amount: Option<f64>,
    pub past_12m: f64,
    pub next_12m: f64,
    pub source: String,
}

/// A failed dividend read to record.
#[derive(Debug, Clone, PartialEq)]
pub struct DividendFailure {
    pub symbol: String,
    pub now_ms: i64,
    pub next_attempt_at: i64,
    pub error: String,
}

/// The events store.
#[allow(async_fn_in_trait)]
pub trait EventsStore {
    /// [`super::model::SELECT_EARNINGS`] from `from` (`YYYY-MM-DD`).
    async fn earnings(&self, from: &str) -> Result<Vec<EarningsRow>, StoreError>;
    /// [`super::model::SELECT_DIVIDENDS`].
    async fn dividends(&self) -> Result<Vec<DividendRow>, StoreError>;
    /// ONE batch (all or nothing): [`super::model::INSERT_EARNINGS`] per
    /// added date, [`super::model::DELETE_EARNINGS`] per removed one, and
    /// the audit entry ([`crate::audit::INSERT_AUDIT`]).
    async fn change_earnings(
        &self,
        add: &[EarningsDate],
        remove: &[EarningsDate],
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;
    /// [`super::model::UPSERT_DIVIDEND_SUCCESS`].
    async fn save_dividend(&self, w: &DividendWrite) -> Result<(), StoreError>;
    /// [`super::model::UPSERT_DIVIDEND_FAILURE`].
    async fn record_dividend_failure(&self, w: &DividendFailure) -> Result<(), StoreError>;
}

//! What the position workflows need from storage. Every change is written
//! with its audit rows in ONE batch (D1 in `edge::positions`, memory in the
//! tests); the SQL of each method is named on it and lives in
//! [`super::model`].

use super::model::{
    AdoptableRow, EquityRow, FillRow, MarkRow, MonitorRunRow, OrderRow, PositionRow,
    ReconciliationRow,
};
use crate::audit::AuditEntry;
pub use crate::store::StoreError;

/// A fill to record ([`super::model::INSERT_FILL`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewFill {
    pub exec_id: String,
    pub order_key: String,
    /// `ContractId` JSON.
    pub contract: String,
    pub quantity: i64,
    pub price_micros: i64,
    pub commission_micros: Option<i64>,
    pub time_ms: i64,
}

/// A compare-and-set of an order ([`super::model::UPDATE_ORDER`]), with the
/// audit row written only when it won.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderUpdate {
    pub id: i64,
    pub from: String,
    pub to: String,
    pub filled: i64,
    pub broker_status: Option<String>,
    pub last_seq: Option<i64>,
    pub broker_order_id: Option<String>,
    pub error: Option<String>,
    pub audit: AuditEntry,
}

/// The monitor's update of a position row ([`super::model::UPDATE_POSITION`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PositionUpdate {
    pub id: i64,
    pub from_status: String,
    pub status: String,
    pub summary: String,
    pub realized_micros: i64,
    pub exit_state: String,
    pub opened_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub exit_reason: Option<String>,
    pub exit_requested_at: Option<i64>,
}

/// A mark row to insert ([`super::model::INSERT_MARK`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMark {
    pub position_id: i64,
    pub at: i64,
    pub ok: bool,
    pub value_mid_micros: Option<i64>,
    pub value_natural_micros: Option<i64>,
    pub unrealized_mid_micros: Option<i64>,
    pub unrealized_natural_micros: Option<i64>,
    pub realized_micros: Option<i64>,
    pub pnl_per_unit_micros: Option<i64>,
    pub decision: String,
    pub greeks: Option<String>,
    pub dte: Option<i64>,
}

/// Everything one monitor run changes about one position: one batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PositionWrite {
    pub position_id: i64,
    pub fills: Vec<NewFill>,
    /// `(exec_id, micros)` of commissions reported after their fill.
    pub commissions: Vec<(String, i64)>,
    pub orders: Vec<OrderUpdate>,
    pub position: Option<PositionUpdate>,
    pub mark: Option<NewMark>,
    /// Compact the marks ([`super::model::COMPACT_MARKS`]): the position closed.
    pub compact_marks: bool,
    /// Audit rows of the fills, state changes and exit decisions.
    pub audit: Vec<AuditEntry>,
    /// Alerts (fills, exits) enqueued in the same batch as what they report.
    pub events: Vec<sas_core::alerts::AlertEvent>,
}

impl PositionWrite {
    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        self.fills.is_empty()
            && self.commissions.is_empty()
            && self.orders.is_empty()
            && self.position.is_none()
            && self.mark.is_none()
            && self.audit.is_empty()
            && self.events.is_empty()
    }
}

/// A new position with its entry order ([`super::model::INSERT_POSITION`] +
/// [`super::model::INSERT_ENTRY_ORDER`] + audit if inserted).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPosition {
    pub key: String,
    pub proposal_id: i64,
    pub symbol: String,
    pub strategy: String,
    pub spec: String,
    pub exit_plan: String,
    pub entry_expires_at: i64,
    pub quantity: i64,
    pub limit_micros: i64,
    pub broker_order_id: Option<String>,
    pub at: i64,
}

/// A closing order written before it is sent ([`super::model::INSERT_EXIT_ORDER`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewExitOrder {
    pub key: String,
    pub position_id: i64,
    pub attempt: i64,
    pub exit_reason: String,
    pub quantity: i64,
    pub limit_micros: i64,
    pub request: String,
    pub at: i64,
}

/// The end of a monitor run ([`super::model::FINISH_RUN`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOutcome {
    pub status: &'static str,
    pub positions: i64,
    pub marks_ok: i64,
    pub marks_rejected: i64,
    pub orders_placed: i64,
    pub cancels: i64,
    pub rows_written: i64,
    pub error: Option<String>,
}

/// Storage of positions, orders, fills, marks, equity, runs and the
/// reconciliation state. Writes return the rows D1 reports written (the
/// memory store counts statements that changed something).
#[allow(async_fn_in_trait)]
pub trait PositionStore {
    /// [`super::model::BEGIN_RUN`]: the run id, `None` when another run holds the lease.
    async fn begin_run(&self, at_ms: i64, lease_ms: i64) -> Result<Option<i64>, StoreError>;
    /// [`super::model::FINISH_RUN`] (+ [`super::model::PRUNE_RUNS`]).
    async fn finish_run(&self, id: i64, at_ms: i64, o: &RunOutcome) -> Result<(), StoreError>;
    /// [`super::model::SELECT_ADOPTABLE`].
    async fn adoptable(&self, limit: u32) -> Result<Vec<AdoptableRow>, StoreError>;
    /// Inserts a position, its entry order and audit row; whether it was new.
    async fn adopt(&self, p: &NewPosition, audit: &AuditEntry) -> Result<(bool, u64), StoreError>;
    /// Pending and open positions, oldest first.
    async fn active_positions(&self) -> Result<Vec<PositionRow>, StoreError>;
    /// Orders of the active positions.
    async fn active_orders(&self) -> Result<Vec<OrderRow>, StoreError>;
    /// Fills of the active positions.
    async fn active_fills(&self) -> Result<Vec<FillRow>, StoreError>;
    /// One batch: fills, commissions, orders (CAS + audit), position, mark, audit.
    async fn write_position(&self, w: &PositionWrite) -> Result<u64, StoreError>;
    /// The closing order + audit if inserted; whether it was.
    async fn insert_exit_order(
        &self,
        o: &NewExitOrder,
        audit: &AuditEntry,
    ) -> Result<(bool, u64), StoreError>;
    /// One order compare-and-set + its audit if it won; whether it won.
    async fn update_order(&self, u: &OrderUpdate) -> Result<(bool, u64), StoreError>;
    /// [`super::model::UPDATE_ORDER_BY_KEY`] + audit if it won.
    async fn update_order_by_key(
        &self,
        key: &str,
        u: &OrderUpdate,
    ) -> Result<(bool, u64), StoreError>;
    /// The reconciliation row.
    async fn reconciliation(&self) -> Result<ReconciliationRow, StoreError>;
    /// [`super::model::SET_RECONCILIATION`] + audit rows, one batch.
    async fn set_reconciliation(
        &self,
        at_ms: i64,
        drifts_json: &str,
        fingerprint: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<u64, StoreError>;
    /// [`super::model::INSERT_EQUITY`].
    async fn insert_equity(
        &self,
        at_ms: i64,
        net_liquidation: Option<f64>,
        unrealized_mid_micros: i64,
        open_positions: i64,
        unmarked: i64,
    ) -> Result<u64, StoreError>;

    // --- reads and changes of the API ---

    /// Positions of a status (all when `None`), newest first.
    async fn positions(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PositionRow>, StoreError>;
    async fn position(&self, id: i64) -> Result<Option<PositionRow>, StoreError>;
    async fn orders_of(&self, position_id: i64) -> Result<Vec<OrderRow>, StoreError>;
    async fn fills_of(&self, position_id: i64) -> Result<Vec<FillRow>, StoreError>;
    async fn marks_of(&self, position_id: i64, limit: u32) -> Result<Vec<MarkRow>, StoreError>;
    /// The newest mark of each of `ids`.
    async fn latest_marks(&self, ids: &[i64]) -> Result<Vec<MarkRow>, StoreError>;
    async fn orders(&self, limit: u32) -> Result<Vec<OrderRow>, StoreError>;
    async fn equity(&self, since_ms: i64, limit: u32) -> Result<Vec<EquityRow>, StoreError>;
    async fn runs(&self, limit: u32) -> Result<Vec<MonitorRunRow>, StoreError>;
    /// [`super::model::REQUEST_CLOSE`] + audit if changed; whether it won.
    async fn request_close(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// [`super::model::SET_EXITS_PAUSED`] + audit if changed.
    async fn set_exits_paused(
        &self,
        id: i64,
        paused: bool,
        at_ms: i64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// [`super::model::ACK_RECONCILIATION`] + audit if changed.
    async fn ack_reconciliation(
        &self,
        fingerprint: &str,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// The trader's pause of every automated exit (`POST /risk/exits`,
    /// [`crate::risk::model::SELECT_EXITS_PAUSED`]): exits are evaluated and
    /// shown, never sent. Stores without a trading state have none.
    async fn exits_paused_globally(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}

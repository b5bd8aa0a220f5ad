//! What the risk workflows need from storage (D1 in `edge::risk`, memory in
//! the tests). Every change is ONE batch with its audit rows; the SQL of
//! each method is named on it and lives in [`super::model`] (or the module
//! that owns the table).

use super::model::{
    ApprovedRow, ClosedTradeRow, DailyEquityRow, EquityPoints, OkMarkRow, OpenMarkRow,
    RiskStateRow, StopOutRow, StrategySwitchRow, TradeFillRow,
};
use crate::audit::AuditEntry;
use crate::chains::model::StoredBarsRow;
use crate::positions::model::{OrderRow, PositionRow, ReconciliationRow};
use crate::settings::KillSwitchRow;
pub use crate::store::StoreError;

/// A compare-and-set of the trading state ([`super::model::UPDATE_STATE`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StateWrite {
    pub expected_version: i64,
    pub state_json: String,
    pub mode: &'static str,
    pub at_ms: i64,
    pub actor: String,
    /// Set by an evaluation of the rules.
    pub evaluated_at: Option<i64>,
    /// The trader's halt also sets the kill switch
    /// ([`crate::settings::SET_KILL_SWITCH`]) in the same batch, so every
    /// existing kill-switch check (approval update, send, generation, bridge
    /// mirror) honours it: `Some(true)` on, `Some(false)` off.
    pub kill_switch: Option<bool>,
    /// One row per change, written only when the update won.
    pub audit: Vec<AuditEntry>,
}

/// A strategy switch ([`super::model::SET_SWITCH`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchWrite {
    pub strategy: String,
    pub enabled: bool,
    pub reason: String,
    pub at_ms: i64,
    pub actor: String,
    pub audit: AuditEntry,
}

/// Storage of the risk engine.
#[allow(async_fn_in_trait)]
pub trait RiskStore {
    /// [`super::model::SELECT_STATE`] (`None`: the row is missing).
    async fn risk_state(&self) -> Result<Option<RiskStateRow>, StoreError>;
    /// [`super::model::UPDATE_STATE`] + kill switch + audit rows, one batch;
    /// whether the compare-and-set won.
    async fn write_state(&self, w: &StateWrite) -> Result<bool, StoreError>;
    /// [`crate::settings::SELECT_KILL_SWITCH`].
    async fn kill_switch(&self) -> Result<Option<KillSwitchRow>, StoreError>;
    /// [`super::model::SELECT_EQUITY_POINTS`] with the New York day start.
    async fn equity_points(&self, day_start_ms: i64) -> Result<EquityPoints, StoreError>;
    /// [`super::model::SELECT_OPEN_MARK_AGES`].
    async fn open_mark_ages(&self) -> Result<Vec<OpenMarkRow>, StoreError>;
    /// [`crate::positions::model::SELECT_RECONCILIATION`].
    async fn reconciliation(&self) -> Result<Option<ReconciliationRow>, StoreError>;
    /// [`super::model::SELECT_LAST_OK_RUN`].
    async fn last_ok_run(&self) -> Result<Option<i64>, StoreError>;
    /// [`super::model::SELECT_STOP_OUTS`].
    async fn stop_outs(&self, since_ms: i64) -> Result<Vec<StopOutRow>, StoreError>;

    /// [`super::model::SELECT_SWITCHES`].
    async fn switches(&self) -> Result<Vec<StrategySwitchRow>, StoreError>;
    /// [`super::model::SET_SWITCH`] + audit if changed; whether it changed.
    async fn set_switch(&self, w: &SwitchWrite) -> Result<bool, StoreError>;

    /// [`super::model::SELECT_LIVE_APPROVED`].
    async fn live_approved(&self) -> Result<Vec<ApprovedRow>, StoreError>;
    /// [`crate::positions::model::select_active_positions_sql`].
    async fn active_positions(&self) -> Result<Vec<PositionRow>, StoreError>;
    /// [`crate::positions::model::select_active_orders_sql`].
    async fn active_orders(&self) -> Result<Vec<OrderRow>, StoreError>;
    /// [`super::model::SELECT_OPEN_OK_MARKS`].
    async fn open_ok_marks(&self) -> Result<Vec<OkMarkRow>, StoreError>;
    /// [`crate::chains::model::SELECT_DAILY_BARS`] for `symbols`.
    async fn daily_bars(&self, symbols: &[String]) -> Result<Vec<StoredBarsRow>, StoreError>;

    /// [`super::model::SELECT_CLOSED_TRADES`].
    async fn closed_trades(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClosedTradeRow>, StoreError>;
    /// [`super::model::SELECT_FILLS_OF`].
    async fn fills_of(&self, position_ids: &[i64]) -> Result<Vec<TradeFillRow>, StoreError>;
    /// [`super::model::SELECT_DAILY_EQUITY`].
    async fn daily_equity(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<DailyEquityRow>, StoreError>;
}

//! The position engine's rows and SQL (migration 0005), and the mapping
//! between the bridge's wire types ([`sas_bridge_api`]) and core's position
//! types ([`sas_core::portfolio`], [`sas_core::orders`],
//! [`sas_core::reconcile`]). Parsing only; no I/O.

use chrono::{DateTime, Utc};
use sas_bridge_api::account::Position as WirePosition;
use sas_bridge_api::orders::{
    Execution as WireExecution, Instrument, Order as WireOrder, OrderAction, OrderLeg,
    OrderRequest, OrderStatus as WireStatus, TimeInForce,
};
use sas_core::market::{OptionChain, Symbol};
use sas_core::money::Money;
use sas_core::orders::{BrokerReport, BrokerState, Order, OrderPurpose, OrderStatus};
use sas_core::portfolio::{
    ClosingOrder, ContractId, ContractKind, ContractQuote, Execution, PlannedLeg, PositionSpec,
};
use sas_core::reconcile::BrokerPosition;
use sas_core::strategy::LegAction;
use serde::{Deserialize, Serialize};

/// What SAS calls a position's state (stored in `positions.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionState {
    /// The entry was sent; nothing filled yet.
    Pending,
    Open,
    /// Flat again.
    Closed,
    /// The entry ended without any fill.
    Void,
}

impl PositionState {
    pub const ALL: [PositionState; 4] = [
        PositionState::Pending,
        PositionState::Open,
        PositionState::Closed,
        PositionState::Void,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PositionState::Pending => "pending",
            PositionState::Open => "open",
            PositionState::Closed => "closed",
            PositionState::Void => "void",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Still managed by the monitor.
    pub fn is_active(self) -> bool {
        matches!(self, PositionState::Pending | PositionState::Open)
    }
}

/// A row of `positions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionRow {
    pub id: i64,
    pub key: String,
    pub proposal_id: i64,
    pub symbol: String,
    pub strategy: String,
    pub spec: String,
    pub exit_plan: String,
    pub status: String,
    pub exit_reason: Option<String>,
    pub exit_requested_at: Option<i64>,
    pub exit_requested_by: Option<String>,
    pub exits_paused: i64,
    pub exit_state: String,
    pub summary: Option<String>,
    pub realized_micros: i64,
    pub entry_expires_at: i64,
    pub opened_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Columns of [`PositionRow`], in order.
pub const POSITION_COLUMNS: &str = "id, key, proposal_id, symbol, strategy, spec, exit_plan, \
status, exit_reason, exit_requested_at, exit_requested_by, exits_paused, exit_state, summary, \
realized_micros, entry_expires_at, opened_at, closed_at, created_at, updated_at";

/// A row of `orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: i64,
    pub key: String,
    pub position_id: i64,
    pub purpose: String,
    pub attempt: Option<i64>,
    pub exit_reason: Option<String>,
    pub quantity: i64,
    pub filled: i64,
    pub status: String,
    pub limit_micros: i64,
    pub request: Option<String>,
    pub broker_order_id: Option<String>,
    pub broker_status: Option<String>,
    pub last_seq: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Columns of [`OrderRow`], in order.
pub const ORDER_COLUMNS: &str = "id, key, position_id, purpose, attempt, exit_reason, quantity, \
filled, status, limit_micros, request, broker_order_id, broker_status, last_seq, error, \
created_at, updated_at";

/// A row of `fills`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillRow {
    pub id: i64,
    pub exec_id: String,
    pub position_id: i64,
    pub order_key: String,
    pub contract: String,
    pub quantity: i64,
    pub price_micros: i64,
    pub commission_micros: Option<i64>,
    pub time: i64,
}

/// Columns of [`FillRow`], in order.
pub const FILL_COLUMNS: &str =
    "id, exec_id, position_id, order_key, contract, quantity, price_micros, commission_micros, time";

/// A row of `marks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkRow {
    pub position_id: i64,
    pub at: i64,
    pub ok: i64,
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

/// Columns of [`MarkRow`], in order.
pub const MARK_COLUMNS: &str = "position_id, at, ok, value_mid_micros, value_natural_micros, \
unrealized_mid_micros, unrealized_natural_micros, realized_micros, pnl_per_unit_micros, decision, \
greeks, dte";

/// The reconciliation row.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReconciliationRow {
    pub checked_at: Option<i64>,
    pub drifts: String,
    pub fingerprint: Option<String>,
    pub confirmed: i64,
    pub since: Option<i64>,
    pub acknowledged_fingerprint: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
}

impl ReconciliationRow {
    /// A drift stands: seen on two consecutive runs and not acknowledged.
    pub fn standing(&self) -> bool {
        self.drifts != "[]"
            && !self.drifts.is_empty()
            && self.confirmed == 1
            && self.fingerprint.is_some()
            && self.acknowledged_fingerprint != self.fingerprint
    }

    pub fn drifts(&self) -> Vec<sas_core::reconcile::Drift> {
        serde_json::from_str(&self.drifts).unwrap_or_default()
    }
}

/// An equity snapshot row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquityRow {
    pub at: i64,
    pub net_liquidation: Option<f64>,
    pub realized_micros: i64,
    pub unrealized_mid_micros: i64,
    pub open_positions: i64,
    pub unmarked_positions: i64,
}

/// A `monitor_runs` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorRunRow {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: String,
    pub positions: i64,
    pub marks_ok: i64,
    pub marks_rejected: i64,
    pub orders_placed: i64,
    pub cancels: i64,
    pub rows_written: i64,
    pub error: Option<String>,
}

// ---------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------

/// Approved proposals whose entry the bridge accepted and that have no
/// position yet (`?1` limit).
pub const SELECT_ADOPTABLE: &str = "SELECT p.id, p.idempotency_key, p.symbol, p.strategy, \
p.exit_plan, p.order_request, p.order_id, p.expires_at, p.approved_limit_price \
FROM proposals p WHERE p.status = 'approved' AND p.order_status = 'submitted' \
AND NOT EXISTS (SELECT 1 FROM positions x WHERE x.proposal_id = p.id) ORDER BY p.id LIMIT ?1";

/// Row of [`SELECT_ADOPTABLE`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AdoptableRow {
    pub id: i64,
    pub idempotency_key: String,
    pub symbol: String,
    pub strategy: String,
    pub exit_plan: String,
    pub order_request: Option<String>,
    pub order_id: Option<String>,
    pub expires_at: i64,
    pub approved_limit_price: Option<f64>,
}

/// Inserts a position (`?1` key, `?2` proposal id, `?3` symbol, `?4`
/// strategy, `?5` spec, `?6` exit plan, `?7` entry expiry, `?8` now);
/// nothing when the proposal already has one.
pub const INSERT_POSITION: &str = "INSERT INTO positions (key, proposal_id, symbol, strategy, \
spec, exit_plan, status, exit_state, entry_expires_at, created_at, updated_at) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', '{}', ?7, ?8, ?8) ON CONFLICT DO NOTHING";

/// The entry order of the position just inserted (only when it was): `?1`
/// key, `?2` quantity, `?3` limit micros, `?4` broker order id, `?5` now.
pub const INSERT_ENTRY_ORDER: &str = "INSERT INTO orders (key, position_id, purpose, quantity, \
status, limit_micros, broker_order_id, created_at, updated_at) \
SELECT ?1, id, 'entry', ?2, 'submitted', ?3, ?4, ?5, ?5 FROM positions \
WHERE key = ?1 AND changes() = 1";

/// Positions the monitor manages (pending or open), oldest first.
pub fn select_active_positions_sql() -> String {
    format!(
        "SELECT {POSITION_COLUMNS} FROM positions WHERE status IN ('pending', 'open') ORDER BY id"
    )
}

/// Positions of one status (or all when `?1` is NULL), newest first, `?2` limit.
pub fn select_positions_sql() -> String {
    format!(
        "SELECT {POSITION_COLUMNS} FROM positions WHERE (?1 IS NULL OR status = ?1) \
ORDER BY id DESC LIMIT ?2"
    )
}

/// One position by id.
pub fn select_position_sql() -> String {
    format!("SELECT {POSITION_COLUMNS} FROM positions WHERE id = ?1")
}

/// Orders of the active positions.
pub fn select_active_orders_sql() -> String {
    format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE position_id IN \
(SELECT id FROM positions WHERE status IN ('pending', 'open')) ORDER BY id"
    )
}

/// Orders of one position (`?1`).
pub fn select_orders_of_sql() -> String {
    format!("SELECT {ORDER_COLUMNS} FROM orders WHERE position_id = ?1 ORDER BY id")
}

/// Newest orders first (`?1` limit).
pub fn select_orders_sql() -> String {
    format!("SELECT {ORDER_COLUMNS} FROM orders ORDER BY id DESC LIMIT ?1")
}

/// Fills of the active positions.
pub fn select_active_fills_sql() -> String {
    format!(
        "SELECT {FILL_COLUMNS} FROM fills WHERE position_id IN \
(SELECT id FROM positions WHERE status IN ('pending', 'open')) ORDER BY id"
    )
}

/// Fills of one position (`?1`).
pub fn select_fills_of_sql() -> String {
    format!("SELECT {FILL_COLUMNS} FROM fills WHERE position_id = ?1 ORDER BY id")
}

/// Newest marks of one position first (`?1` id, `?2` limit).
pub fn select_marks_of_sql() -> String {
    format!("SELECT {MARK_COLUMNS} FROM marks WHERE position_id = ?1 ORDER BY at DESC LIMIT ?2")
}

/// The newest mark of each position of the JSON array `?1` of ids.
pub fn select_latest_marks_sql() -> String {
    format!(
        "SELECT {MARK_COLUMNS} FROM marks WHERE (position_id, at) IN \
(SELECT m.position_id, MAX(m.at) FROM marks m JOIN json_each(?1) w ON m.position_id = w.value \
GROUP BY m.position_id)"
    )
}

/// Records a fill once (`?1` exec id, `?2` position, `?3` order key, `?4`
/// contract, `?5` signed quantity, `?6` price micros, `?7` commission micros
/// or NULL, `?8` time, `?9` now).
pub const INSERT_FILL: &str = "INSERT INTO fills (exec_id, position_id, order_key, contract, \
quantity, price_micros, commission_micros, time, recorded_at) \
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (exec_id) DO NOTHING";

/// A commission learned after its fill (`?1` exec id, `?2` micros).
pub const SET_FILL_COMMISSION: &str = "UPDATE fills SET commission_micros = ?2 \
WHERE exec_id = ?1 AND commission_micros IS NULL";

/// Compare-and-set of an order's broker state: `?1` id, `?2` expected
/// status, `?3` new status, `?4` filled, `?5` broker status, `?6` last seq,
/// `?7` broker order id (kept when NULL), `?8` error, `?9` now.
pub const UPDATE_ORDER: &str = "UPDATE orders SET status = ?3, filled = ?4, \
broker_status = COALESCE(?5, broker_status), last_seq = COALESCE(?6, last_seq), \
broker_order_id = COALESCE(?7, broker_order_id), error = ?8, updated_at = ?9 \
WHERE id = ?1 AND status = ?2";

/// [`UPDATE_ORDER`] by key instead of id (`?1` key; same other parameters):
/// the answer to the send of an order just written.
pub const UPDATE_ORDER_BY_KEY: &str = "UPDATE orders SET status = ?3, filled = ?4, \
broker_status = COALESCE(?5, broker_status), last_seq = COALESCE(?6, last_seq), \
broker_order_id = COALESCE(?7, broker_order_id), error = ?8, updated_at = ?9 \
WHERE key = ?1 AND status = ?2";

/// A closing order, written before it is sent, only when the position has
/// no live closing order: `?1` key, `?2` position, `?3` attempt, `?4` exit
/// reason, `?5` quantity, `?6` limit micros, `?7` request JSON, `?8` now.
pub const INSERT_EXIT_ORDER: &str = "INSERT INTO orders (key, position_id, purpose, attempt, \
exit_reason, quantity, status, limit_micros, request, created_at, updated_at) \
SELECT ?1, ?2, 'exit', ?3, ?4, ?5, 'submitting', ?6, ?7, ?8, ?8 \
WHERE NOT EXISTS (SELECT 1 FROM orders WHERE position_id = ?2 AND purpose = 'exit' \
AND status IN ('submitting', 'submitted', 'working', 'partially_filled', 'cancel_pending', 'unknown')) \
AND NOT EXISTS (SELECT 1 FROM orders WHERE key = ?1)";

/// The monitor's update of a position: `?1` id, `?2` status, `?3` summary,
/// `?4` realized micros, `?5` exit state, `?6` opened at, `?7` closed at,
/// `?8` exit reason (kept once set), `?9` exit requested at, `?10` now,
/// `?11` expected previous status.
pub const UPDATE_POSITION: &str = "UPDATE positions SET status = ?2, summary = ?3, \
realized_micros = ?4, exit_state = ?5, opened_at = COALESCE(opened_at, ?6), closed_at = ?7, \
exit_reason = COALESCE(exit_reason, ?8), \
exit_requested_at = COALESCE(exit_requested_at, ?9), \
exit_requested_by = COALESCE(exit_requested_by, CASE WHEN ?8 IS NULL THEN NULL ELSE 'system:monitor' END), \
updated_at = ?10 WHERE id = ?1 AND status = ?11";

/// The trader's close: `?1` id, `?2` now, `?3` actor. Only an open
/// position that is not already closing.
pub const REQUEST_CLOSE: &str = "UPDATE positions SET exit_reason = 'manual', \
exit_requested_at = ?2, exit_requested_by = ?3, updated_at = ?2 \
WHERE id = ?1 AND status = 'open' AND exit_reason IS NULL";

/// Pauses or resumes a position's automated exits: `?1` id, `?2` 0|1, `?3` now.
pub const SET_EXITS_PAUSED: &str =
    "UPDATE positions SET exits_paused = ?2, updated_at = ?3 WHERE id = ?1 AND exits_paused != ?2";

/// A mark (or a refused one): `?1` position, `?2` at, `?3` ok, `?4` value
/// mid, `?5` value natural, `?6` unrealized mid, `?7` unrealized natural,
/// `?8` realized, `?9` P&L per unit, `?10` decision, `?11` greeks, `?12` dte.
pub const INSERT_MARK: &str = "INSERT INTO marks (position_id, at, ok, value_mid_micros, \
value_natural_micros, unrealized_mid_micros, unrealized_natural_micros, realized_micros, \
pnl_per_unit_micros, decision, greeks, dte) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
ON CONFLICT DO NOTHING";

/// Compaction once a position closed: keeps the last mark of each New York
/// day (UTC−5; a DST hour off is irrelevant to daily compaction) (`?1` id).
/// With an archiver configured (`?2` = 1, [`crate::config::archive::PruneGate`])
/// only marks the archive acknowledged are deleted (docs/archive.md).
pub const COMPACT_MARKS: &str = "DELETE FROM marks WHERE position_id = ?1 \
AND (?2 = 0 OR (at, position_id) <= (SELECT k1, k2 FROM archive_acks WHERE table_name = 'marks')) \
AND at NOT IN \
(SELECT MAX(at) FROM marks WHERE position_id = ?1 \
GROUP BY strftime('%Y-%m-%d', at / 1000, 'unixepoch', '-5 hours'))";

/// An equity snapshot (`?1` at, `?2` net liquidation, `?3` unrealized mid,
/// `?4` open positions, `?5` unmarked); realized is summed over positions.
pub const INSERT_EQUITY: &str = "INSERT INTO equity_snapshots (at, net_liquidation, \
realized_micros, unrealized_mid_micros, open_positions, unmarked_positions) \
SELECT ?1, ?2, COALESCE((SELECT SUM(realized_micros) FROM positions), 0), ?3, ?4, ?5 \
ON CONFLICT DO NOTHING";

/// Equity snapshots since `?1`, oldest first, `?2` limit.
pub const SELECT_EQUITY: &str = "SELECT at, net_liquidation, realized_micros, \
unrealized_mid_micros, open_positions, unmarked_positions FROM equity_snapshots \
WHERE at >= ?1 ORDER BY at LIMIT ?2";

/// Starts a run unless another started within `?2` ms is still running
/// (`?1` now): the lease that keeps two monitors from overlapping.
pub const BEGIN_RUN: &str = "INSERT INTO monitor_runs (started_at, status) \
SELECT ?1, 'running' WHERE NOT EXISTS (SELECT 1 FROM monitor_runs \
WHERE id > (SELECT COALESCE(MAX(id), 0) FROM monitor_runs) - 5 \
AND status = 'running' AND started_at > ?1 - ?2) RETURNING id";

/// Finishes run `?1`: `?2` finished at, `?3` status, `?4` positions, `?5`
/// marks ok, `?6` marks refused, `?7` orders placed, `?8` cancels, `?9` rows
/// written, `?10` error.
pub const FINISH_RUN: &str = "UPDATE monitor_runs SET finished_at = ?2, status = ?3, \
positions = ?4, marks_ok = ?5, marks_rejected = ?6, orders_placed = ?7, cancels = ?8, \
rows_written = ?9, error = ?10 WHERE id = ?1";

/// Newest runs first (`?1` limit).
pub const SELECT_RUNS: &str = "SELECT id, started_at, finished_at, status, positions, marks_ok, \
marks_rejected, orders_placed, cancels, rows_written, error FROM monitor_runs \
ORDER BY id DESC LIMIT ?1";

/// Keeps a week of minute runs; with an archiver configured (`?1` = 1) only
/// runs the archive acknowledged are deleted.
pub const PRUNE_RUNS: &str = "DELETE FROM monitor_runs \
WHERE id <= (SELECT MAX(id) FROM monitor_runs) - 10080 \
AND (?1 = 0 OR id <= (SELECT k1 FROM archive_acks WHERE table_name = 'monitor_runs'))";

/// The reconciliation row.
pub const SELECT_RECONCILIATION: &str = "SELECT checked_at, drifts, fingerprint, confirmed, \
since, acknowledged_fingerprint, acknowledged_at, acknowledged_by FROM reconciliation WHERE id = 1";

/// Stores a comparison: `?1` checked at, `?2` drifts JSON, `?3` fingerprint
/// (NULL when the books agree). A fingerprint equal to the stored one
/// confirms the drift; `since` is when the current fingerprint was first seen.
pub const SET_RECONCILIATION: &str = "UPDATE reconciliation SET \
confirmed = CASE WHEN ?3 IS NOT NULL AND fingerprint = ?3 THEN 1 ELSE 0 END, \
since = CASE WHEN ?3 IS NULL THEN NULL WHEN fingerprint = ?3 THEN since ELSE ?1 END, \
checked_at = ?1, drifts = ?2, fingerprint = ?3 WHERE id = 1";

/// Acknowledges the drift with fingerprint `?1` (`?2` now, `?3` actor): only
/// when it is the current one.
pub const ACK_RECONCILIATION: &str = "UPDATE reconciliation SET acknowledged_fingerprint = ?1, \
acknowledged_at = ?2, acknowledged_by = ?3 WHERE id = 1 AND fingerprint = ?1 \
AND (acknowledged_fingerprint IS NULL OR acknowledged_fingerprint != ?1)";

/// Whether a standing drift blocks new entries (one row `blocked` 0|1).
pub const SELECT_DRIFT_BLOCKS_ENTRIES: &str = "SELECT COUNT(*) AS blocked FROM reconciliation \
WHERE id = 1 AND confirmed = 1 AND fingerprint IS NOT NULL AND drifts != '[]' \
AND (acknowledged_fingerprint IS NULL OR acknowledged_fingerprint != fingerprint)";

// ---------------------------------------------------------------------------
// Mapping between the wire and core
// ---------------------------------------------------------------------------

/// Why a wire value could not become a core value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(pub String);

/// The core contract of a wire instrument.
pub fn contract_of(instrument: &Instrument) -> Result<ContractId, MappingError> {
    match instrument {
        Instrument::Stock { symbol } => Ok(ContractId::stock(symbol.clone())),
        Instrument::Option {
            symbol,
            expiry,
            strike,
            right,
        } => ContractId::option(symbol.clone(), *right, *expiry, *strike)
            .ok_or_else(|| MappingError(format!("invalid strike {strike}"))),
    }
}

/// The wire instrument of a core contract.
pub fn instrument_of(contract: &ContractId) -> Instrument {
    match &contract.kind {
        ContractKind::Stock => Instrument::Stock {
            symbol: contract.symbol.clone(),
        },
        ContractKind::Option {
            right,
            expiry,
            strike,
        } => Instrument::Option {
            symbol: contract.symbol.clone(),
            expiry: *expiry,
            strike: strike.dollars(),
            right: *right,
        },
    }
}

/// The position an entry order opens: its legs with signed ratios (buy +,
/// sell −) and its units.
pub fn spec_of_entry(
    key: &str,
    symbol: Symbol,
    strategy: sas_core::strategy::StrategyKind,
    request: &OrderRequest,
) -> Result<PositionSpec, MappingError> {
    if request.idempotency_key != key {
        return Err(MappingError("the order request carries another key".into()));
    }
    let mut legs = Vec::with_capacity(request.legs.len());
    for leg in &request.legs {
        let ratio = i64::from(leg.ratio.max(1));
        legs.push(PlannedLeg {
            contract: contract_of(&leg.instrument)?,
            ratio: match leg.action {
                OrderAction::Buy => ratio,
                OrderAction::Sell => -ratio,
            },
        });
    }
    if legs.is_empty() || request.quantity == 0 {
        return Err(MappingError(
            "the order request has no legs or units".into(),
        ));
    }
    Ok(PositionSpec {
        key: key.to_owned(),
        symbol,
        strategy,
        legs,
        units: request.quantity,
    })
}

/// A wire execution as core's, when it carries an order reference.
pub fn execution_of(e: &WireExecution) -> Result<Execution, MappingError> {
    let order_ref = e
        .idempotency_key
        .clone()
        .ok_or_else(|| MappingError(format!("execution {} has no orderRef", e.exec_id)))?;
    let price = Money::from_dollars(e.price)
        .filter(|p| p.micros() >= 0)
        .ok_or_else(|| MappingError(format!("execution {} has price {}", e.exec_id, e.price)))?;
    if e.quantity == 0 {
        return Err(MappingError(format!("execution {} of 0", e.exec_id)));
    }
    let q = i64::from(e.quantity);
    Ok(Execution {
        exec_id: e.exec_id.clone(),
        order_ref,
        contract: contract_of(&e.instrument)?,
        quantity: match e.action {
            OrderAction::Buy => q,
            OrderAction::Sell => -q,
        },
        price,
        // Stored in Unix ms: the same precision whether read from the
        // broker or from D1, so a rebuilt position is byte-identical.
        time: millis_to_utc(e.time.timestamp_millis()),
    })
}

/// The commission of a wire execution, when reported.
pub fn commission_of(e: &WireExecution) -> Option<Money> {
    e.commission
        .and_then(Money::from_dollars)
        .filter(|c| c.micros() >= 0)
}

/// A wire order as a core broker report (`None`: the bridge itself does
/// not know the state; ask again later).
pub fn report_of(o: &WireOrder) -> Option<BrokerReport> {
    let state = match o.status {
        WireStatus::PendingSubmit => BrokerState::Accepted,
        WireStatus::Submitted | WireStatus::PartiallyFilled => BrokerState::Working,
        WireStatus::PendingCancel => BrokerState::PendingCancel,
        WireStatus::Filled => BrokerState::Filled,
        WireStatus::Cancelled => BrokerState::Cancelled,
        WireStatus::Rejected => BrokerState::Rejected,
        WireStatus::Expired => BrokerState::Inactive,
        WireStatus::Unknown => return None,
    };
    Some(BrokerReport {
        seq: u64::try_from(o.updated_at.timestamp_millis()).unwrap_or(0),
        state,
        filled: o.filled_quantity,
    })
}

/// The broker's positions as core's (rows of 0 dropped; a fractional
/// quantity is refused).
pub fn broker_positions_of(rows: &[WirePosition]) -> Result<Vec<BrokerPosition>, MappingError> {
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        if !p.quantity.is_finite() || p.quantity.fract() != 0.0 {
            return Err(MappingError(format!(
                "position {} has quantity {}",
                p.instrument, p.quantity
            )));
        }
        // Bounded by the finite check; positions are far below 2^53.
        #[allow(clippy::cast_possible_truncation)]
        let quantity = p.quantity as i64;
        if quantity != 0 {
            out.push(BrokerPosition {
                contract: contract_of(&p.instrument)?,
                quantity,
            });
        }
    }
    Ok(out)
}

/// Quotes of every contract in a chain answer.
pub fn quotes_of_chain(chain: &OptionChain) -> Vec<ContractQuote> {
    let mut out = Vec::new();
    for e in &chain.expiries {
        for c in &e.contracts {
            if let Some(contract) =
                ContractId::option(chain.symbol.clone(), c.right, e.expiry, c.strike)
            {
                out.push(ContractQuote {
                    contract,
                    bid: c.bid,
                    ask: c.ask,
                    as_of: chain.as_of,
                    greeks: c.greeks,
                });
            }
        }
    }
    out
}

/// `GET /chain` paths asking for exactly `contracts` (options of `symbol`),
/// at most [`sas_bridge_api::chain::MAX_SELECTED`] per request.
pub fn quote_paths(symbol: &Symbol, contracts: &[&ContractId]) -> Vec<String> {
    let items: Vec<String> = contracts
        .iter()
        .filter_map(|c| match &c.kind {
            ContractKind::Option {
                right,
                expiry,
                strike,
            } => {
                let r = match right {
                    sas_core::market::OptionRight::Call => "C",
                    sas_core::market::OptionRight::Put => "P",
                };
                Some(format!("{expiry}:{}:{r}", strike.dollars()))
            }
            ContractKind::Stock => None,
        })
        .collect();
    items
        .chunks(sas_bridge_api::chain::MAX_SELECTED)
        .map(|chunk| format!("/chain?symbol={symbol}&contracts={}", chunk.join(",")))
        .collect()
}

/// The `POST /orders` body of a closing order. Combos carry the signed net
/// limit (positive debit, negative credit); a single leg carries its price
/// with the leg's side.
pub fn closing_request(order: &ClosingOrder) -> OrderRequest {
    let combo = order.legs.len() > 1;
    let limit = if combo {
        order.limit.dollars()
    } else {
        order.limit.abs().dollars()
    };
    OrderRequest {
        idempotency_key: order.key.clone(),
        legs: order
            .legs
            .iter()
            .map(|l| OrderLeg {
                instrument: instrument_of(&l.contract),
                action: match l.action {
                    LegAction::Buy => OrderAction::Buy,
                    LegAction::Sell => OrderAction::Sell,
                },
                ratio: if combo { l.ratio.max(1) } else { 1 },
            })
            .collect(),
        quantity: order.quantity,
        limit_price: limit,
        tif: TimeInForce::Day,
    }
}

/// A stored order as core's.
pub fn order_of_row(row: &OrderRow) -> Result<Order, MappingError> {
    let status = OrderStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == row.status)
        .ok_or_else(|| MappingError(format!("order {} has status {}", row.id, row.status)))?;
    let purpose = match row.purpose.as_str() {
        "entry" => OrderPurpose::Entry,
        "exit" => OrderPurpose::Exit,
        other => return Err(MappingError(format!("order purpose {other}"))),
    };
    let quantity = u32::try_from(row.quantity)
        .map_err(|_| MappingError(format!("order {} quantity", row.id)))?;
    let filled =
        u32::try_from(row.filled).map_err(|_| MappingError(format!("order {} filled", row.id)))?;
    Ok(Order {
        key: row.key.clone(),
        purpose,
        quantity,
        filled,
        status,
        last_seq: row.last_seq.and_then(|s| u64::try_from(s).ok()),
        created_at: millis_to_utc(row.created_at),
    })
}

/// A stored fill as core's execution.
pub fn execution_of_row(row: &FillRow) -> Result<Execution, MappingError> {
    let contract: ContractId = serde_json::from_str(&row.contract)
        .map_err(|_| MappingError(format!("fill {} contract", row.exec_id)))?;
    Ok(Execution {
        exec_id: row.exec_id.clone(),
        order_ref: row.order_key.clone(),
        contract,
        quantity: row.quantity,
        price: Money::from_micros(row.price_micros),
        time: millis_to_utc(row.time),
    })
}

/// Unix ms as UTC (out of range: the epoch).
pub fn millis_to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A short stable fingerprint of a set of drifts (FNV-1a of their JSON).
pub fn drift_fingerprint(drifts: &[sas_core::reconcile::Drift]) -> Option<String> {
    if drifts.is_empty() {
        return None;
    }
    let key: Vec<(String, &str, i64, i64)> = drifts
        .iter()
        .map(|d| {
            let kind = match d.kind {
                sas_core::reconcile::DriftKind::MissingLeg => "missing_leg",
                sas_core::reconcile::DriftKind::ExtraLeg => "extra_leg",
                sas_core::reconcile::DriftKind::WrongSize => "wrong_size",
                sas_core::reconcile::DriftKind::StockPosition => "stock_position",
            };
            (d.contract.to_string(), kind, d.ours, d.broker)
        })
        .collect();
    let text = serde_json::to_string(&key).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Some(format!("{h:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use sas_core::market::OptionRight;

    fn spy() -> Symbol {
        Symbol::parse("SPY").unwrap()
    }

    fn opt(strike: f64, right: OptionRight) -> Instrument {
        Instrument::Option {
            symbol: spy(),
            expiry: NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(),
            strike,
            right,
        }
    }

    #[test]
    fn an_entry_request_becomes_a_spec_with_signed_ratios() {
        let req = OrderRequest {
            idempotency_key: "k1".into(),
            legs: vec![
                OrderLeg {
                    instrument: opt(600.0, OptionRight::Call),
                    action: OrderAction::Buy,
                    ratio: 1,
                },
                OrderLeg {
                    instrument: opt(610.0, OptionRight::Call),
                    action: OrderAction::Sell,
                    ratio: 1,
                },
            ],
            quantity: 3,
            limit_price: 4.2,
            tif: TimeInForce::Day,
        };
        let spec = spec_of_entry(
            "k1",
            spy(),
            sas_core::strategy::StrategyKind::BullCallDebitSpread,
            &req,
        )
        .unwrap();
        assert_eq!(spec.units, 3);
        assert_eq!(
            spec.legs.iter().map(|l| l.ratio).collect::<Vec<_>>(),
            [1, -1]
        );
        assert!(spec_of_entry(
            "other",
            spy(),
            sas_core::strategy::StrategyKind::BullCallDebitSpread,
            &req
        )
        .is_err());
    }

    #[test]
    fn quote_paths_ask_at_most_eight_contracts_each() {
        let contracts: Vec<ContractId> = (0..10)
            .map(|i| {
                ContractId::option(
                    spy(),
                    OptionRight::Put,
                    NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(),
                    500.0 + f64::from(i),
                )
                .unwrap()
            })
            .collect();
        let refs: Vec<&ContractId> = contracts.iter().collect();
        let paths = quote_paths(&spy(), &refs);
        assert_eq!(paths.len(), 2);
        assert!(paths[0].starts_with("/chain?symbol=SPY&contracts=2027-01-15:500:P,"));
        assert_eq!(paths[1].matches(',').count(), 1);
    }

    #[test]
    fn a_single_leg_closing_order_carries_a_positive_price() {
        let contract = contract_of(&opt(600.0, OptionRight::Call)).unwrap();
        let order = ClosingOrder {
            position_key: "k".into(),
            attempt: 0,
            key: "k:x0".into(),
            legs: vec![sas_core::portfolio::ClosingLeg {
                contract,
                action: LegAction::Sell,
                ratio: 1,
            }],
            quantity: 2,
            limit: Money::from_cents(-250),
            mid: Money::from_cents(-250),
            natural: Money::from_cents(-240),
        };
        let req = closing_request(&order);
        assert!((req.limit_price - 2.5).abs() < 1e-9);
        assert_eq!(req.legs[0].action, OrderAction::Sell);
        assert!(req.validate().is_ok());
    }

    #[test]
    fn fingerprints_follow_the_drifts() {
        use sas_core::reconcile::{Drift, DriftKind};
        let d = |q: i64| Drift {
            contract: contract_of(&opt(600.0, OptionRight::Call)).unwrap(),
            kind: DriftKind::WrongSize,
            ours: 1,
            broker: q,
            positions: vec!["k".into()],
        };
        assert_eq!(drift_fingerprint(&[]), None);
        assert_eq!(drift_fingerprint(&[d(2)]), drift_fingerprint(&[d(2)]));
        assert_ne!(drift_fingerprint(&[d(2)]), drift_fingerprint(&[d(3)]));
    }

    #[test]
    fn reconciliation_stands_only_when_confirmed_and_unacknowledged() {
        let mut r = ReconciliationRow {
            drifts: "[{}]".into(),
            fingerprint: Some("f".into()),
            confirmed: 0,
            ..Default::default()
        };
        assert!(!r.standing());
        r.confirmed = 1;
        assert!(r.standing());
        r.acknowledged_fingerprint = Some("f".into());
        assert!(!r.standing());
        r.fingerprint = Some("g".into());
        assert!(r.standing());
    }
}

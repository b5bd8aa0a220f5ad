//! JSON views of positions, orders, marks, P&L and the reconciliation
//! state (docs/worker-api.md). Money is shown in dollars rounded to the
//! cent; the exact micro-dollar sums are what the monitor computes with.

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::money::Money;
use sas_core::portfolio::{ContractId, ExitState, Position};
use sas_core::strategy::ExitPlan;
use serde::Serialize;

use super::model::{
    millis_to_utc, EquityRow, FillRow, MarkRow, MonitorRunRow, OrderRow, PositionRow,
    ReconciliationRow,
};

/// Micro-dollars as dollars rounded to the cent.
pub fn dollars(micros: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let cents = Money::from_micros(micros).cents() as f64;
    cents / 100.0
}

fn time(ms: i64) -> String {
    millis_to_utc(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// The newest mark of a position.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MarkView {
    pub at: String,
    /// Whether the mark was trustworthy (a refused one carries its reason in
    /// `decision.rejected`).
    pub ok: bool,
    pub value_mid: Option<f64>,
    pub value_natural: Option<f64>,
    pub unrealized_mid: Option<f64>,
    pub unrealized_natural: Option<f64>,
    pub realized: Option<f64>,
    pub pnl_per_unit: Option<f64>,
    pub decision: serde_json::Value,
    pub greeks: serde_json::Value,
    pub dte: Option<i64>,
}

impl From<&MarkRow> for MarkView {
    fn from(m: &MarkRow) -> Self {
        MarkView {
            at: time(m.at),
            ok: m.ok == 1,
            value_mid: m.value_mid_micros.map(dollars),
            value_natural: m.value_natural_micros.map(dollars),
            unrealized_mid: m.unrealized_mid_micros.map(dollars),
            unrealized_natural: m.unrealized_natural_micros.map(dollars),
            realized: m.realized_micros.map(dollars),
            pnl_per_unit: m.pnl_per_unit_micros.map(dollars),
            decision: json(&m.decision),
            greeks: m.greeks.as_deref().map_or(serde_json::Value::Null, json),
            dte: m.dte,
        }
    }
}

/// A position in lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PositionView {
    pub id: i64,
    pub key: String,
    pub proposal_id: i64,
    pub symbol: String,
    pub strategy: String,
    /// pending, open, closing (an exit fired or was asked for), closed, void.
    pub status: String,
    pub exit_reason: Option<String>,
    pub exit_requested_by: Option<String>,
    pub exits_paused: bool,
    pub planned_units: u32,
    pub entry_filled_units: u32,
    pub open_units: u32,
    pub realized: f64,
    pub commissions: f64,
    /// Fills whose commission the broker has not reported yet.
    pub commissions_pending: u32,
    pub mark: Option<MarkView>,
    pub opened_at: Option<String>,
    pub closed_at: Option<String>,
    pub updated_at: String,
}

impl PositionView {
    pub fn new(row: &PositionRow, mark: Option<&MarkRow>) -> Self {
        let summary: Option<Position> = row
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let status = if row.status == "open" && row.exit_reason.is_some() {
            "closing".to_owned()
        } else {
            row.status.clone()
        };
        PositionView {
            id: row.id,
            key: row.key.clone(),
            proposal_id: row.proposal_id,
            symbol: row.symbol.clone(),
            strategy: row.strategy.clone(),
            status,
            exit_reason: row.exit_reason.clone(),
            exit_requested_by: row.exit_requested_by.clone(),
            exits_paused: row.exits_paused != 0,
            planned_units: summary.as_ref().map_or(0, |p| p.planned_units),
            entry_filled_units: summary.as_ref().map_or(0, |p| p.entry_filled_units),
            open_units: summary.as_ref().map_or(0, Position::open_units),
            realized: dollars(row.realized_micros),
            commissions: summary
                .as_ref()
                .map_or(0.0, |p| dollars(p.commissions.micros())),
            commissions_pending: summary.as_ref().map_or(0, |p| p.commissions_pending),
            mark: mark.map(MarkView::from),
            opened_at: row.opened_at.map(time),
            closed_at: row.closed_at.map(time),
            updated_at: time(row.updated_at),
        }
    }
}

/// One leg of a position.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LegView {
    pub contract: ContractId,
    pub description: String,
    pub ratio: i64,
    pub quantity: i64,
    pub average_price: f64,
    pub commissions: f64,
}

/// One fill.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FillView {
    pub exec_id: String,
    pub order_key: String,
    #[cfg_attr(feature = "ts", ts(as = "ContractId"))]
    pub contract: serde_json::Value,
    pub quantity: i64,
    pub price: f64,
    pub commission: Option<f64>,
    pub time: String,
}

impl From<&FillRow> for FillView {
    fn from(f: &FillRow) -> Self {
        FillView {
            exec_id: f.exec_id.clone(),
            order_key: f.order_key.clone(),
            contract: json(&f.contract),
            quantity: f.quantity,
            // Fill prices keep their sub-cent precision (per share).
            #[allow(clippy::cast_precision_loss)]
            price: f.price_micros as f64 / 1_000_000.0,
            commission: f.commission_micros.map(dollars),
            time: time(f.time),
        }
    }
}

/// One order of the position engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OrderView {
    pub id: i64,
    pub key: String,
    pub position_id: i64,
    pub purpose: String,
    pub attempt: Option<i64>,
    pub exit_reason: Option<String>,
    pub quantity: i64,
    pub filled: i64,
    pub status: String,
    /// Signed per share of one unit: positive debit, negative credit.
    pub limit: f64,
    pub broker_order_id: Option<String>,
    pub broker_status: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&OrderRow> for OrderView {
    fn from(o: &OrderRow) -> Self {
        OrderView {
            id: o.id,
            key: o.key.clone(),
            position_id: o.position_id,
            purpose: o.purpose.clone(),
            attempt: o.attempt,
            exit_reason: o.exit_reason.clone(),
            quantity: o.quantity,
            filled: o.filled,
            status: o.status.clone(),
            limit: dollars(o.limit_micros),
            broker_order_id: o.broker_order_id.clone(),
            broker_status: o.broker_status.clone(),
            error: o.error.clone(),
            created_at: time(o.created_at),
            updated_at: time(o.updated_at),
        }
    }
}

/// Where the position stands against its exit plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ExitProgress {
    pub pnl_per_unit: Option<f64>,
    pub take_profit_pnl: f64,
    pub stop_loss_pnl: f64,
    /// P&L per unit as a fraction of the way to take profit (1 = reached).
    pub toward_take_profit: Option<f64>,
    /// Loss per unit as a fraction of the way to the stop (1 = reached).
    pub toward_stop_loss: Option<f64>,
    pub time_exit_date: NaiveDate,
    pub days_to_time_exit: i64,
    pub trailing_stop_fraction: Option<f64>,
    pub peak_pnl_per_unit: Option<f64>,
    pub stop_breaches: u32,
    pub stop_confirmations: u32,
}

impl ExitProgress {
    pub fn new(
        plan: &ExitPlan,
        state: &ExitState,
        pnl_per_unit: Option<f64>,
        today: NaiveDate,
        stop_confirmations: u32,
    ) -> Self {
        let frac = |pnl: f64, level: f64| (level.abs() > 1e-9).then(|| pnl / level);
        ExitProgress {
            pnl_per_unit,
            take_profit_pnl: plan.take_profit.pnl,
            stop_loss_pnl: plan.stop_loss.pnl,
            toward_take_profit: pnl_per_unit.and_then(|p| frac(p, plan.take_profit.pnl)),
            toward_stop_loss: pnl_per_unit.and_then(|p| frac(p, plan.stop_loss.pnl)),
            time_exit_date: plan.time_exit_date,
            days_to_time_exit: (plan.time_exit_date - today).num_days(),
            trailing_stop_fraction: plan.trailing_stop_fraction,
            peak_pnl_per_unit: state.peak_pnl_per_unit.map(|m| dollars(m.micros())),
            stop_breaches: state.stop_breaches,
            stop_confirmations,
        }
    }
}

/// `GET /positions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PositionDetail {
    pub position: PositionView,
    pub legs: Vec<LegView>,
    pub exit_plan: serde_json::Value,
    pub progress: Option<ExitProgress>,
    /// Exits paused by a standing reconciliation drift.
    pub paused_by_drift: bool,
    pub orders: Vec<OrderView>,
    pub fills: Vec<FillView>,
    /// Newest first.
    pub marks: Vec<MarkView>,
}

/// One day of realized P&L (positions closed that New York day).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PnlDay {
    pub date: NaiveDate,
    pub realized: f64,
    pub positions_closed: u32,
}

/// One equity snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EquityPoint {
    pub at: String,
    pub net_liquidation: Option<f64>,
    pub realized: f64,
    pub unrealized_mid: f64,
    pub open_positions: i64,
    pub unmarked_positions: i64,
}

impl From<&EquityRow> for EquityPoint {
    fn from(e: &EquityRow) -> Self {
        EquityPoint {
            at: time(e.at),
            net_liquidation: e.net_liquidation,
            realized: dollars(e.realized_micros),
            unrealized_mid: dollars(e.unrealized_mid_micros),
            open_positions: e.open_positions,
            unmarked_positions: e.unmarked_positions,
        }
    }
}

/// `GET /pnl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PnlView {
    pub realized: f64,
    pub unrealized_mid: f64,
    pub unrealized_natural: f64,
    pub total_mid: f64,
    pub commissions: f64,
    pub open_positions: u32,
    /// Open positions without a trustworthy newest mark (not in the sums).
    pub unmarked_positions: u32,
    pub by_day: Vec<PnlDay>,
    pub equity: Vec<EquityPoint>,
}

/// `GET /reconciliation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ReconciliationView {
    pub checked_at: Option<String>,
    pub agrees: bool,
    /// A confirmed, unacknowledged drift: entries stop, affected exits pause.
    pub standing: bool,
    pub fingerprint: Option<String>,
    pub since: Option<String>,
    pub drifts: serde_json::Value,
    pub acknowledged_fingerprint: Option<String>,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
}

impl From<&ReconciliationRow> for ReconciliationView {
    fn from(r: &ReconciliationRow) -> Self {
        ReconciliationView {
            checked_at: r.checked_at.map(time),
            agrees: r.fingerprint.is_none(),
            standing: r.standing(),
            fingerprint: r.fingerprint.clone(),
            since: r.since.map(time),
            drifts: json(&r.drifts),
            acknowledged_fingerprint: r.acknowledged_fingerprint.clone(),
            acknowledged_at: r.acknowledged_at.map(time),
            acknowledged_by: r.acknowledged_by.clone(),
        }
    }
}

/// One monitor run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MonitorRunView {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub positions: i64,
    pub marks_ok: i64,
    pub marks_rejected: i64,
    pub orders_placed: i64,
    pub cancels: i64,
    pub rows_written: i64,
    pub error: Option<String>,
    pub ms: Option<i64>,
}

impl From<&MonitorRunRow> for MonitorRunView {
    fn from(r: &MonitorRunRow) -> Self {
        MonitorRunView {
            id: r.id,
            started_at: time(r.started_at),
            finished_at: r.finished_at.map(time),
            status: r.status.clone(),
            positions: r.positions,
            marks_ok: r.marks_ok,
            marks_rejected: r.marks_rejected,
            orders_placed: r.orders_placed,
            cancels: r.cancels,
            rows_written: r.rows_written,
            error: r.error.clone(),
            ms: r.finished_at.map(|f| f - r.started_at),
        }
    }
}

/// The New York date of `at`.
pub fn ny_date(at: DateTime<Utc>) -> NaiveDate {
    sas_core::calendar::utc_to_eastern(at).date()
}

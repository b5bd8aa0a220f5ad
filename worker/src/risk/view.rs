//! The JSON of the risk API and of the pre-trade verdict stored with an
//! approval.

use std::collections::BTreeMap;

use sas_core::performance::{EquityFigures, TradeStats};
use sas_core::risk::{Change, CheckInput, TradingMode, TradingState, Verdict};
use serde::{Deserialize, Serialize};

/// The trading state as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StateView {
    pub mode: TradingMode,
    pub state: TradingState,
    pub version: i64,
    /// Last evaluation by the rules that changed the row.
    pub evaluated_at: Option<i64>,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A trader's change (`POST /risk/state`) or an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StateChange {
    pub state: StateView,
    /// Every change with who/why/when (empty: nothing changed).
    pub changes: Vec<Change>,
}

/// One limit with its current use.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LimitUse {
    pub name: &'static str,
    pub unit: &'static str,
    /// `None`: the limit depends on a missing input (net liquidation).
    pub limit: Option<f64>,
    /// `None`: unknown (which the checks treat as a refusal).
    pub used: Option<f64>,
    /// `Some(true)` when used ≥ limit; `None` when either is unknown.
    pub reached: Option<bool>,
}

impl LimitUse {
    /// A limit and its use.
    pub fn new(
        name: &'static str,
        unit: &'static str,
        limit: Option<f64>,
        used: Option<f64>,
    ) -> Self {
        let reached = match (limit, used) {
            (Some(l), Some(u)) if l.is_finite() && u.is_finite() => Some(u >= l),
            _ => None,
        };
        LimitUse {
            name,
            unit,
            limit,
            used,
            reached,
        }
    }
}

/// `GET /risk`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RiskOverview {
    /// As stored (what the approvals' SQL guard reads).
    pub stored: StateView,
    /// The rules applied to the data now (not stored: the monitor stores it
    /// on its next run; the pre-trade check uses this fresh evaluation).
    pub now: TradingState,
    pub now_mode: TradingMode,
    pub pending_changes: Vec<Change>,
    pub kill_switch_on: bool,
    /// The trader's pause of every automated exit (`POST /risk/exits`):
    /// who, why, when; `null` when exits run.
    pub exits_paused: Option<sas_core::risk::Stamp>,
    pub limits: Vec<LimitUse>,
}

/// One pre-trade check: inputs, limit, use with the trade, verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckLine {
    pub check: String,
    pub inputs: Vec<CheckInput>,
    pub limit: Option<f64>,
    pub used: Option<f64>,
    pub verdict: Verdict,
}

/// Every check of an approval; approved only when all passed. Stored with
/// the approval (`risk_checks.report`), read back by [`StoredRiskCheck`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskVerdict {
    pub approved: bool,
    /// Contracts checked (the re-priced size).
    pub contracts: u32,
    /// Mode of the freshly evaluated trading state.
    pub mode: Option<TradingMode>,
    pub checks: Vec<CheckLine>,
    /// `check: reason` of every refusal.
    pub refusals: Vec<String>,
}

/// One input of a stored check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StoredCheckInput {
    pub name: String,
    pub value: Option<f64>,
}

/// One check of a stored report ([`CheckLine`] as the API shows it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StoredCheckLine {
    /// The check (`max_loss_per_trade`, `buying_power`, ...).
    pub name: String,
    pub inputs: Vec<StoredCheckInput>,
    pub limit: Option<f64>,
    /// The use with the trade.
    pub used: Option<f64>,
    /// `pass` or `refuse`.
    pub verdict: String,
    /// Why it refused (`None` when it passed).
    pub reason: Option<String>,
}

/// One stored pre-trade report of a proposal (`risk_checks` row), as
/// `GET /proposals/{id}` lists them in `risk_checks`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StoredRiskCheck {
    /// When the checks ran (Unix ms).
    pub at: i64,
    pub actor: String,
    /// The approval (or resend) passed every check.
    pub approved: bool,
    /// The stored report does not parse: `checks` is empty.
    pub unreadable: bool,
    /// Contracts checked (the re-priced size); `None` when unreadable.
    pub contracts: Option<u32>,
    pub checks: Vec<StoredCheckLine>,
    /// `check: reason` of every refusal.
    pub refusals: Vec<String>,
}

impl StoredRiskCheck {
    /// A stored row (`report`: [`RiskVerdict`] JSON). A report that does not
    /// parse is kept, flagged `unreadable`, never an error.
    pub fn from_stored(at: i64, actor: &str, approved: bool, report: &str) -> Self {
        match serde_json::from_str::<RiskVerdict>(report) {
            Ok(v) => StoredRiskCheck {
                at,
                actor: actor.to_owned(),
                approved,
                unreadable: false,
                contracts: Some(v.contracts),
                checks: v
                    .checks
                    .into_iter()
                    .map(|c| {
                        let (verdict, reason) = match c.verdict {
                            Verdict::Pass => ("pass", None),
                            Verdict::Refuse(r) => ("refuse", Some(r)),
                        };
                        StoredCheckLine {
                            name: c.check,
                            inputs: c
                                .inputs
                                .into_iter()
                                .map(|i| StoredCheckInput {
                                    name: i.name,
                                    value: i.value,
                                })
                                .collect(),
                            limit: c.limit,
                            used: c.used,
                            verdict: verdict.to_owned(),
                            reason,
                        }
                    })
                    .collect(),
                refusals: v.refusals,
            },
            Err(_) => StoredRiskCheck {
                at,
                actor: actor.to_owned(),
                approved,
                unreadable: true,
                contracts: None,
                checks: Vec::new(),
                refusals: Vec::new(),
            },
        }
    }
}

/// `GET /proposals/{id}`: the proposal with the pre-trade checks stored
/// with its approval (and a refused resend), newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ProposalDetailView {
    #[serde(flatten)]
    pub proposal: crate::proposals::ProposalView,
    pub risk_checks: Vec<StoredRiskCheck>,
}

/// A strategy and its switch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StrategyView {
    pub strategy: &'static str,
    pub enabled: bool,
    pub reason: Option<String>,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

/// `PUT /strategies`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StrategyChange {
    pub strategy: StrategyView,
    pub changed: bool,
}

/// `GET /performance`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PerformanceView {
    pub from: i64,
    pub to: i64,
    pub equity: EquityFigures,
    pub trades: TradeStats,
    /// Dimension → group → figures.
    pub attribution: BTreeMap<&'static str, BTreeMap<String, TradeStats>>,
    /// Closed positions whose stored data could not be read (left out).
    pub unreadable: Vec<i64>,
    /// More trades closed in the range than one answer reads.
    pub truncated: bool,
    pub conventions: &'static str,
}

/// One shadow trade of `GET /performance/shadow` (money in dollars, values
/// of the whole trade signed like a position's: a credit trade is worth < 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ShadowTradeView {
    pub proposal_id: i64,
    pub key: String,
    pub symbol: String,
    pub strategy: String,
    /// `rejected` or `expired`.
    pub decision: String,
    /// The shadow entry time (Unix ms).
    pub decided_at: i64,
    pub units: i64,
    /// Net entry price per share at the legs' mid (+ debit, − credit).
    pub entry_mid: Option<f64>,
    /// `following`, `closed` (exit rules fired), `ended` (expired or no
    /// chains any more: the last mark stands), `invalid`.
    pub status: String,
    /// The current (or closing) trustworthy mark: time and value at mid and
    /// at natural.
    pub mark_at: Option<i64>,
    pub value_mid: Option<f64>,
    pub value_natural: Option<f64>,
    /// P&L at that mark, before commissions.
    pub pnl_mid: Option<f64>,
    pub pnl_natural: Option<f64>,
    /// The exit rule that closed it (`take_profit`, `stop_loss`, ...).
    pub exit_reason: Option<String>,
    pub marks_used: u32,
    pub marks_refused: u32,
    pub invalid_reason: Option<String>,
    pub updated_at: i64,
}

/// Totals of `GET /performance/shadow` over the trades with a P&L.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ShadowTotals {
    pub trades: u32,
    pub with_pnl: u32,
    pub following: u32,
    pub closed: u32,
    pub ended: u32,
    pub invalid: u32,
    /// What the trades not taken would have made at mid / natural: positive
    /// = passing them up cost this much, negative = it saved this much.
    pub pnl_mid: f64,
    pub pnl_natural: f64,
    pub rejected_pnl_mid: f64,
    pub expired_pnl_mid: f64,
}

/// `GET /performance/shadow`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ShadowView {
    pub from: i64,
    pub to: i64,
    pub trades: Vec<ShadowTradeView>,
    pub total: ShadowTotals,
    /// More trades decided in the range than one answer lists.
    pub truncated: bool,
    pub conventions: String,
}

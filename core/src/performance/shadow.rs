//! Shadow P&L of a rejected or expired proposal: the trade is followed as
//! if it had been filled at the proposal's per-leg mid when it was decided,
//! marked from stored chain snapshots (same trust rules as real positions,
//! [`crate::portfolio::mark_position`]) and closed when the real exit rules
//! ([`crate::portfolio::evaluate_exits`]) would have closed it. The shadow
//! P&L is the open P&L at that mark, at mid and at natural (closing at the
//! touch), before commissions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::market::Symbol;
use crate::money::Money;
use crate::portfolio::{
    evaluate_exits, mark_position, ContractId, ContractQuote, Execution, ExitConfig, ExitDecision,
    ExitReason, ExitState, Ledger, MarkPolicy, PlannedLeg, Position, PositionSpec, PositionStatus,
};
use crate::strategy::{ExitPlan, StrategyKind};

/// The proposal as it would have been traded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowProposal {
    pub key: String,
    pub symbol: Symbol,
    pub strategy: StrategyKind,
    pub legs: Vec<PlannedLeg>,
    pub units: u32,
    /// Per-share price of each leg assumed filled (the mid at the decision).
    pub entry_prices: Vec<(ContractId, Money)>,
    /// When it was rejected or expired: the shadow entry time.
    pub decided_at: DateTime<Utc>,
    pub exit_plan: ExitPlan,
}

/// Stored quotes of a chain at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainMarks {
    pub at: DateTime<Utc>,
    pub quotes: Vec<ContractQuote>,
}

/// Where the shadow trade ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ShadowOutcome {
    /// The exit rules would have closed it.
    Closed {
        at: DateTime<Utc>,
        reason: ExitReason,
        pnl_mid: Money,
        pnl_natural: Money,
        marks_used: u32,
        marks_refused: u32,
    },
    /// Still open at the last trustworthy mark.
    Open {
        at: DateTime<Utc>,
        pnl_mid: Money,
        pnl_natural: Money,
        marks_used: u32,
        marks_refused: u32,
    },
    /// No trustworthy mark after the decision.
    NeverMarked { marks_refused: u32 },
    /// A leg has no entry price, or nothing to trade.
    InvalidEntry { reason: String },
}

/// Follows `p` over `marks` (any order; those before the decision are
/// ignored) until its exit rules fire.
#[must_use]
pub fn shadow_pnl(
    p: &ShadowProposal,
    marks: &[ChainMarks],
    policy: &MarkPolicy,
    exit_cfg: &ExitConfig,
) -> ShadowOutcome {
    if p.units == 0 || p.legs.is_empty() {
        return ShadowOutcome::InvalidEntry {
            reason: "no legs or zero units".into(),
        };
    }
    let mut ledger = Ledger::new();
    for (i, leg) in p.legs.iter().enumerate() {
        let Some((_, price)) = p.entry_prices.iter().find(|(c, _)| *c == leg.contract) else {
            return ShadowOutcome::InvalidEntry {
                reason: format!("no entry price for leg {i}"),
            };
        };
        ledger.record_execution(Execution {
            exec_id: format!("shadow-{i}"),
            order_ref: p.key.clone(),
            contract: leg.contract.clone(),
            quantity: leg.ratio * i64::from(p.units),
            price: *price,
            time: p.decided_at,
        });
    }
    let spec = PositionSpec {
        key: p.key.clone(),
        symbol: p.symbol.clone(),
        strategy: p.strategy,
        legs: p.legs.clone(),
        units: p.units,
    };
    let pos = Position::build(&spec, &ledger);
    if pos.status != PositionStatus::Open {
        return ShadowOutcome::InvalidEntry {
            reason: "the entry does not open a position".into(),
        };
    }
    let mut ordered: Vec<&ChainMarks> = marks.iter().filter(|m| m.at >= p.decided_at).collect();
    ordered.sort_by_key(|m| m.at);
    let mut state = ExitState::default();
    let (mut used, mut refused) = (0u32, 0u32);
    let mut last = None;
    for m in ordered {
        let mark = mark_position(&pos, &m.quotes, m.at, policy);
        let eval = evaluate_exits(&p.exit_plan, &mark, &state, m.at, exit_cfg);
        state = eval.state;
        match mark {
            Ok(mk) => {
                used += 1;
                if let ExitDecision::Exit { reason, .. } = eval.decision {
                    return ShadowOutcome::Closed {
                        at: m.at,
                        reason,
                        pnl_mid: mk.unrealized_mid,
                        pnl_natural: mk.unrealized_natural,
                        marks_used: used,
                        marks_refused: refused,
                    };
                }
                last = Some((m.at, mk.unrealized_mid, mk.unrealized_natural));
            }
            Err(_) => refused += 1,
        }
    }
    match last {
        Some((at, pnl_mid, pnl_natural)) => ShadowOutcome::Open {
            at,
            pnl_mid,
            pnl_natural,
            marks_used: used,
            marks_refused: refused,
        },
        None => ShadowOutcome::NeverMarked {
            marks_refused: refused,
        },
    }
}

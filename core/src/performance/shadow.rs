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

/// A trustworthy mark of the shadow trade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShadowMark {
    pub at: DateTime<Utc>,
    /// Value of the whole trade at mid / at natural (closing at the touch);
    /// signed like a position's value (a credit trade is worth < 0).
    pub value_mid: Money,
    pub value_natural: Money,
    pub pnl_mid: Money,
    pub pnl_natural: Money,
}

/// What the follower keeps between runs: the exit rules' state, the marks
/// counted, the last trustworthy mark, the newest chain time consumed and,
/// once the exit rules fired, why. Following in pieces gives the same
/// result as following everything at once ([`shadow_follow`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowProgress {
    pub exit_state: ExitState,
    pub marks_used: u32,
    pub marks_refused: u32,
    pub last: Option<ShadowMark>,
    /// Newest chain time looked at: later calls skip marks at or before it.
    pub through: Option<DateTime<Utc>>,
    /// Set when the exit rules would have closed it (`last` is that mark).
    pub exit_reason: Option<ExitReason>,
}

impl ShadowProgress {
    /// The result so far.
    #[must_use]
    pub fn outcome(&self) -> ShadowOutcome {
        match (self.last, self.exit_reason) {
            (Some(m), Some(reason)) => ShadowOutcome::Closed {
                at: m.at,
                reason,
                pnl_mid: m.pnl_mid,
                pnl_natural: m.pnl_natural,
                marks_used: self.marks_used,
                marks_refused: self.marks_refused,
            },
            (Some(m), None) => ShadowOutcome::Open {
                at: m.at,
                pnl_mid: m.pnl_mid,
                pnl_natural: m.pnl_natural,
                marks_used: self.marks_used,
                marks_refused: self.marks_refused,
            },
            (None, _) => ShadowOutcome::NeverMarked {
                marks_refused: self.marks_refused,
            },
        }
    }

    /// The exit rules closed it: later marks change nothing.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.exit_reason.is_some()
    }
}

/// The synthetic position of `p` filled at its entry prices.
///
/// # Errors
/// Why it cannot be built (no legs, zero units, a leg without a price).
pub fn shadow_position(p: &ShadowProposal) -> Result<Position, String> {
    if p.units == 0 || p.legs.is_empty() {
        return Err("no legs or zero units".into());
    }
    let mut ledger = Ledger::new();
    for (i, leg) in p.legs.iter().enumerate() {
        let Some((_, price)) = p.entry_prices.iter().find(|(c, _)| *c == leg.contract) else {
            return Err(format!("no entry price for leg {i}"));
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
        return Err("the entry does not open a position".into());
    }
    Ok(pos)
}

/// Follows `p` from `progress` over `marks` (any order; those before the
/// decision or at/before `progress.through` are ignored) until its exit
/// rules fire; returns the new progress. Once closed nothing changes.
///
/// # Errors
/// The entry is invalid ([`shadow_position`]).
pub fn shadow_follow(
    p: &ShadowProposal,
    progress: &ShadowProgress,
    marks: &[ChainMarks],
    policy: &MarkPolicy,
    exit_cfg: &ExitConfig,
) -> Result<ShadowProgress, String> {
    let pos = shadow_position(p)?;
    let mut out = progress.clone();
    if out.is_closed() {
        return Ok(out);
    }
    let mut ordered: Vec<&ChainMarks> = marks
        .iter()
        .filter(|m| m.at >= p.decided_at && progress.through.is_none_or(|t| m.at > t))
        .collect();
    ordered.sort_by_key(|m| m.at);
    for m in ordered {
        out.through = Some(m.at);
        let mark = mark_position(&pos, &m.quotes, m.at, policy);
        let eval = evaluate_exits(&p.exit_plan, &mark, &out.exit_state, m.at, exit_cfg);
        out.exit_state = eval.state;
        match mark {
            Ok(mk) => {
                out.marks_used += 1;
                out.last = Some(ShadowMark {
                    at: m.at,
                    value_mid: mk.value_mid,
                    value_natural: mk.value_natural,
                    pnl_mid: mk.unrealized_mid,
                    pnl_natural: mk.unrealized_natural,
                });
                if let ExitDecision::Exit { reason, .. } = eval.decision {
                    out.exit_reason = Some(reason);
                    return Ok(out);
                }
            }
            Err(_) => out.marks_refused += 1,
        }
    }
    Ok(out)
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
    match shadow_follow(p, &ShadowProgress::default(), marks, policy, exit_cfg) {
        Ok(progress) => progress.outcome(),
        Err(reason) => ShadowOutcome::InvalidEntry { reason },
    }
}

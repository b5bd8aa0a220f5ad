//! Exit rules: the proposal's exit plan ([`crate::strategy::ExitPlan`])
//! applied to a position's marks.
//!
//! Rules, in priority order when several hold on the same mark:
//! 1. expiry day: at or after the front expiry's close minus
//!    `close_before_expiry_minutes` (default 60);
//! 2. stop loss: open P&L per contract set at mid <= `stop_loss.pnl`, on
//!    `stop_confirmations` consecutive trustworthy marks (default 2);
//! 3. take profit: open P&L per set >= `take_profit.pnl`;
//! 4. trailing stop (when the plan has a fraction `f`): once the peak open
//!    P&L per set reached `trailing_activation` × take profit (default 0.5),
//!    P&L <= peak × (1 − f), confirmed like the stop;
//! 5. time exit: the New York date is on or after `time_exit_date`.
//!
//! Open P&L is measured against the real fills (cost basis), before
//! commissions, per open contract set. Nothing is evaluated on a refused
//! mark: the decision is the refusal with its reason, the state is kept
//! (a refused mark neither confirms nor resets a stop).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::marks::{Mark, MarkRejection};
use crate::analytics::chain::expiry_close_utc;
use crate::calendar::utc_to_eastern;
use crate::money::Money;
use crate::strategy::ExitPlan;

/// Exit evaluation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExitConfig {
    /// Consecutive trustworthy marks beyond a stop before it fires (>= 1).
    pub stop_confirmations: u32,
    /// Close this many minutes before the front expiry's close.
    pub close_before_expiry_minutes: i64,
    /// The trailing stop arms once the peak open P&L reaches this fraction
    /// of the take-profit P&L.
    pub trailing_activation: f64,
}

impl Default for ExitConfig {
    fn default() -> Self {
        ExitConfig {
            stop_confirmations: 2,
            close_before_expiry_minutes: 60,
            trailing_activation: 0.5,
        }
    }
}

/// What the monitor keeps between marks of one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExitState {
    /// Consecutive trustworthy marks at or beyond the stop loss.
    pub stop_breaches: u32,
    /// Consecutive trustworthy marks at or beyond the trailing stop.
    pub trailing_breaches: u32,
    /// Highest open P&L per contract set seen on a trustworthy mark.
    pub peak_pnl_per_unit: Option<Money>,
}

/// Why a position is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    ExpiryDay,
    StopLoss,
    TakeProfit,
    TrailingStop,
    TimeExit,
    /// The trader asked (same closing machinery).
    Manual,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum ExitDecision {
    /// The mark was refused: no action.
    Rejected {
        reason: MarkRejection,
    },
    /// A stop is beyond its level but not yet confirmed.
    Confirming {
        reason: ExitReason,
        breaches: u32,
    },
    Hold,
    /// Close now; `also` lists the other rules that held.
    Exit {
        reason: ExitReason,
        also: Vec<ExitReason>,
    },
}

impl ExitDecision {
    #[must_use]
    pub fn is_exit(&self) -> bool {
        matches!(self, ExitDecision::Exit { .. })
    }
}

/// Decision, the state to keep, and the P&L it was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitEvaluation {
    pub decision: ExitDecision,
    pub state: ExitState,
    pub pnl_per_unit: Option<Money>,
}

fn at_or_above(pnl: Money, level: f64) -> bool {
    level.is_finite() && pnl.dollars() >= level
}

fn at_or_below(pnl: Money, level: f64) -> bool {
    level.is_finite() && pnl.dollars() <= level
}

/// Evaluates the exit plan on one mark (or its refusal).
#[must_use]
pub fn evaluate_exits(
    plan: &ExitPlan,
    mark: &Result<Mark, MarkRejection>,
    state: &ExitState,
    now: DateTime<Utc>,
    cfg: &ExitConfig,
) -> ExitEvaluation {
    let mark = match mark {
        Ok(m) => m,
        Err(reason) => {
            return ExitEvaluation {
                decision: ExitDecision::Rejected {
                    reason: reason.clone(),
                },
                state: *state,
                pnl_per_unit: None,
            }
        }
    };
    if mark.open_units == 0 {
        return ExitEvaluation {
            decision: ExitDecision::Rejected {
                reason: MarkRejection::NotOpen,
            },
            state: *state,
            pnl_per_unit: None,
        };
    }
    let pnl = mark.unrealized_mid.mul_div(1, i64::from(mark.open_units));
    let mut next = *state;
    next.peak_pnl_per_unit = Some(next.peak_pnl_per_unit.map_or(pnl, |p| p.max(pnl)));
    let confirmations = cfg.stop_confirmations.max(1);
    let mut fired = Vec::new();
    let mut confirming = None;

    let front = mark.legs.iter().filter_map(|l| l.contract.expiry()).min();
    if let Some(expiry) = front {
        let cutoff = expiry_close_utc(expiry) - Duration::minutes(cfg.close_before_expiry_minutes);
        if now >= cutoff {
            fired.push(ExitReason::ExpiryDay);
        }
    }

    if at_or_below(pnl, plan.stop_loss.pnl) {
        next.stop_breaches = state.stop_breaches.saturating_add(1);
        if next.stop_breaches >= confirmations {
            fired.push(ExitReason::StopLoss);
        } else {
            confirming = Some((ExitReason::StopLoss, next.stop_breaches));
        }
    } else {
        next.stop_breaches = 0;
    }

    if at_or_above(pnl, plan.take_profit.pnl) {
        fired.push(ExitReason::TakeProfit);
    }

    next.trailing_breaches = 0;
    if let (Some(f), Some(peak)) = (plan.trailing_stop_fraction, next.peak_pnl_per_unit) {
        let activation = cfg.trailing_activation * plan.take_profit.pnl;
        let armed = f.is_finite()
            && f > 0.0
            && peak.micros() > 0
            && activation.is_finite()
            && peak.dollars() >= activation;
        if armed && pnl.dollars() <= peak.dollars() * (1.0 - f) {
            next.trailing_breaches = state.trailing_breaches.saturating_add(1);
            if next.trailing_breaches >= confirmations {
                fired.push(ExitReason::TrailingStop);
            } else if confirming.is_none() {
                confirming = Some((ExitReason::TrailingStop, next.trailing_breaches));
            }
        }
    }

    if utc_to_eastern(now).date() >= plan.time_exit_date {
        fired.push(ExitReason::TimeExit);
    }

    let decision = if fired.is_empty() {
        match confirming {
            Some((reason, breaches)) => ExitDecision::Confirming { reason, breaches },
            None => ExitDecision::Hold,
        }
    } else {
        fired.sort();
        let reason = fired.remove(0);
        ExitDecision::Exit {
            reason,
            also: fired,
        }
    };
    ExitEvaluation {
        decision,
        state: next,
        pnl_per_unit: Some(pnl),
    }
}

//! Position sizing: contracts = floor(budget / max loss per contract), where
//! the budget is the smaller of the per-trade risk and the room left under
//! the portfolio heat cap. Never rounds up; zero contracts is a refusal.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::config::StrategyConfig;

/// The account's current risk: what sizing must fit into.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskBook {
    /// Net liquidation value of the account in dollars.
    pub net_liquidation: f64,
    /// Sum of the max loss (dollars) of open positions and of proposals that
    /// may still be approved (pending, and new ones made this run).
    pub committed_max_loss: f64,
    /// Open positions plus pending and new proposals.
    pub open_positions: u32,
}

/// Which limit set the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizingLimit {
    RiskPerTrade,
    PortfolioHeat,
    MaxContracts,
}

/// A accepted size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SizingDecision {
    pub contracts: u32,
    /// Max loss of one contract set in dollars (natural-price fill).
    pub max_loss_per_contract: f64,
    /// `contracts * max_loss_per_contract`.
    pub total_max_loss: f64,
    /// Per-trade risk budget in dollars (`risk_per_trade_fraction * net liq`).
    pub risk_budget: f64,
    /// Room left under the heat cap before this trade, dollars.
    pub heat_room: f64,
    pub limited_by: SizingLimit,
}

/// Why no contracts can be traded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum SizingRefusal {
    /// Net liquidation or committed risk is not a usable number.
    InvalidAccount,
    /// Max loss per contract is not a positive finite number.
    InvalidMaxLoss,
    MaxOpenPositions {
        open: u32,
        max: u32,
    },
    HeatExhausted {
        committed: f64,
        cap: f64,
    },
    /// Even one contract would exceed the budget.
    BelowOneContract {
        budget: f64,
        max_loss_per_contract: f64,
    },
}

impl fmt::Display for SizingRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizingRefusal::InvalidAccount => write!(f, "account value or open risk unavailable"),
            SizingRefusal::InvalidMaxLoss => write!(f, "max loss per contract unavailable"),
            SizingRefusal::MaxOpenPositions { open, max } => {
                write!(f, "{open} positions open or pending (max {max})")
            }
            SizingRefusal::HeatExhausted { committed, cap } => write!(
                f,
                "portfolio heat ${committed:.0} already at the ${cap:.0} cap"
            ),
            SizingRefusal::BelowOneContract {
                budget,
                max_loss_per_contract,
            } => write!(
                f,
                "one contract risks ${max_loss_per_contract:.0}, more than the ${budget:.0} budget"
            ),
        }
    }
}

/// Sizes a trade whose one contract set can lose `max_loss_per_contract`
/// dollars. Guarantees on success: `1 <= contracts <= max_contracts_per_trade`,
/// `total_max_loss <= risk_budget`, `total_max_loss <= heat_room` and
/// `open_positions < max_open_positions`.
pub fn size_trade(
    max_loss_per_contract: f64,
    book: &RiskBook,
    cfg: &StrategyConfig,
) -> Result<SizingDecision, SizingRefusal> {
    let nl = book.net_liquidation;
    let committed = book.committed_max_loss;
    if !(nl.is_finite() && nl > 0.0 && committed.is_finite() && committed >= 0.0) {
        return Err(SizingRefusal::InvalidAccount);
    }
    if !(max_loss_per_contract.is_finite() && max_loss_per_contract > 0.0) {
        return Err(SizingRefusal::InvalidMaxLoss);
    }
    if book.open_positions >= cfg.max_open_positions {
        return Err(SizingRefusal::MaxOpenPositions {
            open: book.open_positions,
            max: cfg.max_open_positions,
        });
    }
    let risk_budget = cfg.risk_per_trade_fraction * nl;
    let cap = cfg.max_portfolio_heat_fraction * nl;
    let heat_room = cap - committed;
    let has_room = heat_room > 0.0;
    if !has_room {
        return Err(SizingRefusal::HeatExhausted { committed, cap });
    }
    let (budget, mut limited_by) = if heat_room < risk_budget {
        (heat_room, SizingLimit::PortfolioHeat)
    } else {
        (risk_budget, SizingLimit::RiskPerTrade)
    };
    let raw = (budget / max_loss_per_contract).floor();
    let cap_contracts = cfg.max_contracts_per_trade;
    let at_least_one = raw >= 1.0;
    let mut contracts: u32 = if !at_least_one {
        0
    } else if raw >= f64::from(cap_contracts) {
        limited_by = SizingLimit::MaxContracts;
        cap_contracts
    } else {
        // 1 <= raw < cap_contracts <= u32::MAX: the cast is exact.
        raw as u32
    };
    // Floating-point guard: never exceed the budget.
    while contracts > 0 && f64::from(contracts) * max_loss_per_contract > budget {
        contracts -= 1;
    }
    if contracts == 0 {
        return Err(SizingRefusal::BelowOneContract {
            budget,
            max_loss_per_contract,
        });
    }
    Ok(SizingDecision {
        contracts,
        max_loss_per_contract,
        total_max_loss: f64::from(contracts) * max_loss_per_contract,
        risk_budget,
        heat_room,
        limited_by,
    })
}

//! Portfolio heat and open-trade count from real positions, working entry
//! orders and approved trades not yet filled: the input of
//! [`crate::strategy::sizing::size_trade`]'s [`RiskBook`].
//!
//! Per approved trade, the contract sets at risk are
//! `open units of its position + what its live entry order may still fill`
//! (all of the approved units while nothing was sent yet). A trade whose
//! entry is live in `unknown` counts its whole unfilled remainder. Nothing is
//! netted or capped, so the heat never undercounts; a position or order
//! without its trade's risk is reported, and then no book is given.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::position::{Position, PositionStatus};
use crate::orders::{Order, OrderPurpose};
use crate::strategy::RiskBook;

/// An approved trade and its risk (the sizing's natural-price max loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovedTrade {
    /// The idempotency key (entry order and position key).
    pub key: String,
    pub units: u32,
    /// Dollars per contract set (positive).
    pub max_loss_per_unit: f64,
}

/// Heat of the real book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heat {
    /// Dollars of max loss committed.
    pub committed_max_loss: f64,
    /// Trades with something open or still able to fill.
    pub open_positions: u32,
    /// Keys of positions or entry orders with no approved trade (their risk
    /// is unknown).
    pub unknown_risk: Vec<String>,
}

impl Heat {
    /// The sizing book, adding what the proposal engine counts on top
    /// (pending proposals and ones made this run). `None` while any risk is
    /// unknown: sizing must not run on an undercount.
    #[must_use]
    pub fn risk_book(
        &self,
        net_liquidation: f64,
        pending_max_loss: f64,
        pending_count: u32,
    ) -> Option<RiskBook> {
        self.unknown_risk.is_empty().then(|| RiskBook {
            net_liquidation,
            committed_max_loss: self.committed_max_loss + pending_max_loss,
            open_positions: self.open_positions.saturating_add(pending_count),
        })
    }
}

/// Contract sets of one trade at risk.
fn units_at_risk(trade: &ApprovedTrade, pos: Option<&Position>, entry: Option<&Order>) -> u64 {
    let open = pos
        .filter(|p| p.status == PositionStatus::Open)
        .map_or(0, |p| u64::from(p.open_units()));
    let may_fill = match entry {
        // Not sent, or its order record is missing: whatever the entry has
        // not filled may still fill.
        None => u64::from(
            trade
                .units
                .saturating_sub(pos.map_or(0, |p| p.entry_filled_units)),
        ),
        Some(o) if o.status.is_live() => u64::from(o.unfilled()),
        Some(_) => 0,
    };
    open + may_fill
}

/// Computes the heat of `trades` from their positions and entry orders.
#[must_use]
pub fn heat(trades: &[ApprovedTrade], positions: &[Position], orders: &[Order]) -> Heat {
    let entries: Vec<&Order> = orders
        .iter()
        .filter(|o| o.purpose == OrderPurpose::Entry)
        .collect();
    let mut committed = 0.0;
    let mut count = 0;
    let mut seen = BTreeSet::new();
    for t in trades {
        if !seen.insert(t.key.as_str()) {
            continue;
        }
        let pos = positions.iter().find(|p| p.key == t.key);
        let entry = entries.iter().copied().find(|o| o.key == t.key);
        let units = units_at_risk(t, pos, entry);
        if units > 0 {
            count += 1;
            let loss = if t.max_loss_per_unit.is_finite() {
                t.max_loss_per_unit.max(0.0)
            } else {
                f64::INFINITY
            };
            committed += units as f64 * loss;
        }
    }
    let mut unknown: Vec<String> = positions
        .iter()
        .filter(|p| p.status == PositionStatus::Open)
        .map(|p| p.key.clone())
        .chain(
            entries
                .iter()
                .filter(|o| o.status.is_live())
                .map(|o| o.key.clone()),
        )
        .filter(|k| !seen.contains(k.as_str()))
        .collect();
    unknown.sort();
    unknown.dedup();
    Heat {
        committed_max_loss: committed,
        open_positions: count,
        unknown_risk: unknown,
    }
}

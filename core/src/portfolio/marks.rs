//! Marks and P&L: a position valued from fresh leg quotes, at mid and at
//! natural (long legs at the bid, short legs at the ask: what closing at the
//! touch would give), only when every open leg's quote is trustworthy.
//!
//! P&L conventions (exact [`Money`], rounded to cents only for display):
//! - realized = Σ legs (cash + cost basis) − all commissions paid;
//! - unrealized = value of the open quantity at the mark − its cost basis;
//! - realized + unrealized = cash of every fill + value of what is open −
//!   commissions: the value change of the fills, to the micro-dollar.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::contract::ContractId;
use super::position::{Position, PositionStatus};
use crate::calendar::utc_to_eastern;
use crate::market::SourceGreeks;
use crate::money::Money;

/// A fresh quote of one contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractQuote {
    pub contract: ContractId,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    /// When the quote was taken (source time).
    pub as_of: DateTime<Utc>,
    /// Greeks of one long contract (options; ignored for stock).
    #[serde(default)]
    pub greeks: SourceGreeks,
}

/// When a mark is trustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MarkPolicy {
    /// Oldest usable quote, seconds (default 120).
    pub max_quote_age_secs: i64,
    /// Widest usable bid-ask spread as a fraction of mid (default 0.30) ...
    pub max_spread_fraction: f64,
    /// ... except that a spread up to this many dollars per share is always
    /// usable (default 0.05: a nickel-wide market on a cheap option).
    pub spread_always_ok: f64,
    /// Quotes stamped later than `now` by more than this are refused
    /// (default 5 s of clock skew).
    pub max_future_skew_secs: i64,
}

impl Default for MarkPolicy {
    fn default() -> Self {
        MarkPolicy {
            max_quote_age_secs: 120,
            max_spread_fraction: 0.30,
            spread_always_ok: 0.05,
            max_future_skew_secs: 5,
        }
    }
}

/// Why a mark was refused (recorded, never acted on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum MarkRejection {
    /// The position has no open legs.
    NotOpen,
    MissingQuote {
        contract: ContractId,
    },
    /// Bid or ask absent, not finite, negative, or ask 0.
    NoMarket {
        contract: ContractId,
    },
    Crossed {
        contract: ContractId,
        bid: f64,
        ask: f64,
    },
    /// A leg we would sell to close has no bid.
    NoBid {
        contract: ContractId,
    },
    Stale {
        contract: ContractId,
        age_secs: i64,
    },
    FromFuture {
        contract: ContractId,
        ahead_secs: i64,
    },
    WideSpread {
        contract: ContractId,
        spread: f64,
        mid: f64,
    },
}

/// One leg's part of a mark (prices per share).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegMark {
    pub contract: ContractId,
    pub quantity: i64,
    pub bid: Money,
    pub ask: Money,
    /// `(bid + ask) / 2`, exact to the micro-dollar.
    pub mid: Money,
}

impl LegMark {
    /// The price closing this leg at the touch: sell a long at the bid, buy
    /// a short back at the ask.
    #[must_use]
    pub fn natural(&self) -> Money {
        if self.quantity > 0 {
            self.bid
        } else {
            self.ask
        }
    }
}

/// Position greeks: delta and gamma in shares, theta in dollars per day,
/// vega in dollars per vol point.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MarkGreeks {
    pub delta: Option<f64>,
    pub gamma: Option<f64>,
    pub theta: Option<f64>,
    pub vega: Option<f64>,
}

/// A trustworthy valuation of one position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub position_key: String,
    pub at: DateTime<Utc>,
    pub legs: Vec<LegMark>,
    /// Value of the open quantity at mid.
    pub value_mid: Money,
    /// Value of the open quantity at natural (never above `value_mid`).
    pub value_natural: Money,
    pub cost_basis: Money,
    pub realized: Money,
    /// `value_mid − cost_basis`.
    pub unrealized_mid: Money,
    /// `value_natural − cost_basis`.
    pub unrealized_natural: Money,
    pub open_units: u32,
    pub greeks: MarkGreeks,
    /// Calendar days (New York) to the nearest expiry of an open option leg.
    pub dte: Option<i64>,
}

impl Mark {
    /// Realized + unrealized at mid.
    #[must_use]
    pub fn total_mid(&self) -> Money {
        self.realized + self.unrealized_mid
    }
}

fn checked_market(q: &ContractQuote) -> Option<(f64, f64)> {
    let (bid, ask) = (q.bid?, q.ask?);
    (bid.is_finite() && ask.is_finite() && bid >= 0.0 && ask > 0.0).then_some((bid, ask))
}

/// Marks `pos` from `quotes` at `now`; refuses with the first reason found.
pub fn mark_position(
    pos: &Position,
    quotes: &[ContractQuote],
    now: DateTime<Utc>,
    policy: &MarkPolicy,
) -> Result<Mark, MarkRejection> {
    if pos.status != PositionStatus::Open {
        return Err(MarkRejection::NotOpen);
    }
    let mut legs = Vec::new();
    let mut greeks = MarkGreeks {
        delta: Some(0.0),
        gamma: Some(0.0),
        theta: Some(0.0),
        vega: Some(0.0),
    };
    for leg in pos.open_legs() {
        let contract = leg.contract.clone();
        let Some(q) = quotes.iter().find(|q| q.contract == leg.contract) else {
            return Err(MarkRejection::MissingQuote { contract });
        };
        let Some((bid, ask)) = checked_market(q) else {
            return Err(MarkRejection::NoMarket { contract });
        };
        if bid > ask {
            return Err(MarkRejection::Crossed { contract, bid, ask });
        }
        if leg.quantity > 0 && bid <= 0.0 {
            return Err(MarkRejection::NoBid { contract });
        }
        let age = (now - q.as_of).num_seconds();
        if age > policy.max_quote_age_secs {
            return Err(MarkRejection::Stale {
                contract,
                age_secs: age,
            });
        }
        if -age > policy.max_future_skew_secs {
            return Err(MarkRejection::FromFuture {
                contract,
                ahead_secs: -age,
            });
        }
        let mid = 0.5 * (bid + ask);
        let spread = ask - bid;
        let spread_ok =
            spread <= policy.max_spread_fraction * mid || spread <= policy.spread_always_ok + 1e-9;
        if !spread_ok {
            return Err(MarkRejection::WideSpread {
                contract,
                spread,
                mid,
            });
        }
        let (Some(bid_m), Some(ask_m)) = (Money::from_dollars(bid), Money::from_dollars(ask))
        else {
            return Err(MarkRejection::NoMarket { contract });
        };
        let mid_m = Money::from_micros((bid_m.micros() + ask_m.micros()) / 2);
        let size = (leg.quantity * leg.contract.multiplier()) as f64;
        let g = if leg.contract.is_stock() {
            SourceGreeks {
                iv: None,
                delta: Some(1.0),
                gamma: Some(0.0),
                theta: Some(0.0),
                vega: Some(0.0),
            }
        } else {
            q.greeks
        };
        let add =
            |acc: Option<f64>, x: Option<f64>| Some(acc? + size * x.filter(|v| v.is_finite())?);
        greeks.delta = add(greeks.delta, g.delta);
        greeks.gamma = add(greeks.gamma, g.gamma);
        greeks.theta = add(greeks.theta, g.theta);
        greeks.vega = add(greeks.vega, g.vega);
        legs.push(LegMark {
            contract,
            quantity: leg.quantity,
            bid: bid_m,
            ask: ask_m,
            mid: mid_m,
        });
    }
    if legs.is_empty() {
        return Err(MarkRejection::NotOpen);
    }
    let value = |px: fn(&LegMark) -> Money| -> Money {
        legs.iter()
            .map(|l| px(l) * (l.quantity * l.contract.multiplier()))
            .sum()
    };
    let value_mid = value(|l| l.mid);
    let value_natural = value(LegMark::natural);
    let cost_basis = pos.cost_basis();
    let today = utc_to_eastern(now).date();
    let dte = legs
        .iter()
        .filter_map(|l| l.contract.expiry())
        .min()
        .map(|e| (e - today).num_days());
    Ok(Mark {
        position_key: pos.key.clone(),
        at: now,
        value_mid,
        value_natural,
        cost_basis,
        realized: pos.realized(),
        unrealized_mid: value_mid - cost_basis,
        unrealized_natural: value_natural - cost_basis,
        open_units: pos.open_units(),
        greeks,
        dte,
        legs,
    })
}

/// P&L over many positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PnlTotals {
    pub realized: Money,
    /// Over the positions that have a mark.
    pub unrealized_mid: Money,
    pub unrealized_natural: Money,
    /// Open positions without a trustworthy mark (their unrealized is not
    /// in the sums).
    pub unmarked: u32,
}

impl PnlTotals {
    #[must_use]
    pub fn total_mid(&self) -> Money {
        self.realized + self.unrealized_mid
    }
}

/// Sums realized P&L over every position and unrealized over the marked
/// open ones.
#[must_use]
pub fn pnl_totals(items: &[(&Position, Option<&Mark>)]) -> PnlTotals {
    let mut t = PnlTotals::default();
    for (pos, mark) in items {
        t.realized += pos.realized();
        match (pos.status, mark) {
            (PositionStatus::Open, Some(m)) => {
                t.unrealized_mid += m.unrealized_mid;
                t.unrealized_natural += m.unrealized_natural;
            }
            (PositionStatus::Open, None) => t.unmarked += 1,
            _ => {}
        }
    }
    t
}

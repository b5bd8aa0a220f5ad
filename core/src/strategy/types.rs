//! The trade model: strategy kinds, legs and the leg quote snapshot.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::market::{OptionQuote, OptionRight};

/// The option strategies the engine can propose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// Buy one call.
    LongCall,
    /// Buy one put.
    LongPut,
    /// Buy a call, sell a higher-strike call (same expiry). Net debit.
    BullCallDebitSpread,
    /// Buy a put, sell a lower-strike put (same expiry). Net debit.
    BearPutDebitSpread,
    /// Sell a put, buy a lower-strike put (same expiry). Net credit.
    BullPutCreditSpread,
    /// Sell a call, buy a higher-strike call (same expiry). Net credit.
    BearCallCreditSpread,
    /// Bull put credit spread plus bear call credit spread (same expiry). Net credit.
    IronCondor,
    /// Sell a front-month call, buy a later call at the same strike. Net debit.
    CallCalendar,
    /// Sell a front-month put, buy a later put at the same strike. Net debit.
    PutCalendar,
}

impl StrategyKind {
    /// Every kind, in declaration order.
    pub const ALL: [StrategyKind; 9] = [
        StrategyKind::LongCall,
        StrategyKind::LongPut,
        StrategyKind::BullCallDebitSpread,
        StrategyKind::BearPutDebitSpread,
        StrategyKind::BullPutCreditSpread,
        StrategyKind::BearCallCreditSpread,
        StrategyKind::IronCondor,
        StrategyKind::CallCalendar,
        StrategyKind::PutCalendar,
    ];

    /// The snake_case wire name (same as serde).
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::LongCall => "long_call",
            StrategyKind::LongPut => "long_put",
            StrategyKind::BullCallDebitSpread => "bull_call_debit_spread",
            StrategyKind::BearPutDebitSpread => "bear_put_debit_spread",
            StrategyKind::BullPutCreditSpread => "bull_put_credit_spread",
            StrategyKind::BearCallCreditSpread => "bear_call_credit_spread",
            StrategyKind::IronCondor => "iron_condor",
            StrategyKind::CallCalendar => "call_calendar",
            StrategyKind::PutCalendar => "put_calendar",
        }
    }

    /// A short human name for rationale text ("bull put spread").
    pub fn label(self) -> &'static str {
        match self {
            StrategyKind::LongCall => "long call",
            StrategyKind::LongPut => "long put",
            StrategyKind::BullCallDebitSpread => "bull call debit spread",
            StrategyKind::BearPutDebitSpread => "bear put debit spread",
            StrategyKind::BullPutCreditSpread => "bull put spread",
            StrategyKind::BearCallCreditSpread => "bear call spread",
            StrategyKind::IronCondor => "iron condor",
            StrategyKind::CallCalendar => "call calendar",
            StrategyKind::PutCalendar => "put calendar",
        }
    }

    /// True for the strategies opened for a net credit.
    pub fn is_credit(self) -> bool {
        matches!(
            self,
            StrategyKind::BullPutCreditSpread
                | StrategyKind::BearCallCreditSpread
                | StrategyKind::IronCondor
        )
    }

    /// True for the two calendars (legs in two expiries).
    pub fn is_calendar(self) -> bool {
        matches!(self, StrategyKind::CallCalendar | StrategyKind::PutCalendar)
    }

    /// Number of legs the strategy has.
    pub fn leg_count(self) -> usize {
        match self {
            StrategyKind::LongCall | StrategyKind::LongPut => 1,
            StrategyKind::IronCondor => 4,
            _ => 2,
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a leg is bought or sold to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegAction {
    Buy,
    Sell,
}

impl LegAction {
    /// +1 for a bought leg, -1 for a sold leg.
    pub fn sign(self) -> f64 {
        match self {
            LegAction::Buy => 1.0,
            LegAction::Sell => -1.0,
        }
    }

    /// "buy" or "sell".
    pub fn as_str(self) -> &'static str {
        match self {
            LegAction::Buy => "buy",
            LegAction::Sell => "sell",
        }
    }
}

/// The market of one leg when the proposal was built (per share, as quoted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LegQuote {
    pub bid: f64,
    pub ask: f64,
    /// `(bid + ask) / 2`.
    pub mid: f64,
    /// Implied volatility used for this leg (decimal), source or solved from mid.
    pub iv: Option<f64>,
    /// Delta of one long option (source greeks, or BSM from `iv`).
    pub delta: Option<f64>,
    pub open_interest: Option<u64>,
    pub volume: Option<u64>,
}

impl LegQuote {
    /// Checks the raw two-sided market of a chain quote and returns
    /// `(bid, ask, mid)`: finite, `bid >= 0`, `ask > 0`, `ask >= bid`.
    pub fn two_sided(q: &OptionQuote) -> Option<(f64, f64, f64)> {
        let bid = q.bid?;
        let ask = q.ask?;
        let ok = bid.is_finite() && ask.is_finite() && bid >= 0.0 && ask > 0.0 && ask >= bid;
        ok.then_some((bid, ask, 0.5 * (bid + ask)))
    }

    /// Bid-ask width as a fraction of mid (`inf` when mid is zero).
    pub fn spread_fraction(&self) -> f64 {
        if self.mid > 0.0 {
            (self.ask - self.bid) / self.mid
        } else {
            f64::INFINITY
        }
    }
}

/// One option leg of a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    pub right: OptionRight,
    pub strike: f64,
    pub expiry: NaiveDate,
    /// Calendar days to expiry at the chain snapshot.
    pub dte: u32,
    pub action: LegAction,
    /// Contracts of this leg per one unit of the strategy (1 for every
    /// strategy here).
    pub ratio: u32,
    pub quote: LegQuote,
}

impl Leg {
    /// `sign(action) * ratio`.
    pub fn signed_ratio(&self) -> f64 {
        self.action.sign() * f64::from(self.ratio)
    }

    /// The identity of the contract, without quote.
    pub fn key(&self) -> LegKey {
        LegKey {
            right: self.right,
            strike: self.strike,
            expiry: self.expiry,
        }
    }
}

/// Identifies one option contract of a leg (used to match fresh quotes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LegKey {
    pub right: OptionRight,
    pub strike: f64,
    pub expiry: NaiveDate,
}

impl LegKey {
    /// Same contract: same right and expiry, strikes equal within 1e-6.
    pub fn matches(&self, other: &LegKey) -> bool {
        self.right == other.right
            && self.expiry == other.expiry
            && (self.strike - other.strike).abs() < 1e-6
    }
}

/// Net price per share to open: positive = debit paid, negative = credit
/// received. Uses mid for every leg.
pub fn net_price_mid(legs: &[Leg]) -> f64 {
    legs.iter().map(|l| l.signed_ratio() * l.quote.mid).sum()
}

/// Net price per share at the natural market: buy at the ask, sell at the bid
/// (positive = debit). Always at least as expensive as [`net_price_mid`].
pub fn net_price_natural(legs: &[Leg]) -> f64 {
    legs.iter()
        .map(|l| {
            let px = match l.action {
                LegAction::Buy => l.quote.ask,
                LegAction::Sell => l.quote.bid,
            };
            l.signed_ratio() * px
        })
        .sum()
}

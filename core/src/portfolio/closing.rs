//! Closing orders: one combo limit order per exit, walking from mid toward
//! natural in bounded steps.
//!
//! - Attempt `n` (0-based) is priced at step `min(n, steps)` of the walk
//!   `mid + (natural − mid) × step / steps`, rounded to the tick away from
//!   natural, never past natural, and never less aggressive than the
//!   previous attempt (the price never widens back). Never a market order.
//! - A price of 0 or of one tick is refused (the ThetaGang min-tick hazard).
//! - The next attempt is only placed once every earlier attempt is terminal
//!   (its cancel confirmed): never two live closing orders. An attempt in
//!   `unknown` blocks until the broker has been read.
//! - Attempt `n`'s key is [`closing_key`]`(position, n)`: a resend after a
//!   restart reuses the key, and the bridge answers with the existing order.
//!
//! Prices are per share of one combo unit, signed like entries: positive =
//! debit paid (buying back a credit spread), negative = credit received.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::contract::ContractId;
use super::keys::closing_key;
use super::marks::{LegMark, Mark};
use super::position::{Position, PositionStatus};
use crate::money::Money;
use crate::orders::{Order, OrderStatus};
use crate::strategy::LegAction;

/// Price-walk settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WalkPolicy {
    /// Steps from mid (step 0) to natural (step `steps`), >= 1 (default 4).
    pub steps: u32,
    /// Combo price increment (default $0.01).
    pub tick: Money,
    /// A resting attempt is cancelled for the next price after this long
    /// (default 60 s).
    pub reprice_after_secs: i64,
    /// No attempt beyond this number (default 12): the trader is alerted.
    pub max_attempts: u32,
}

impl Default for WalkPolicy {
    fn default() -> Self {
        WalkPolicy {
            steps: 4,
            tick: Money::from_cents(1),
            reprice_after_secs: 60,
            max_attempts: 12,
        }
    }
}

/// Why no closing price exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum WalkRefusal {
    /// Zero or one tick: never sent.
    PriceTooSmall {
        price: Money,
    },
    /// Natural is better than mid: the quotes are not a market.
    InvertedMarket {
        mid: Money,
        natural: Money,
    },
    InvalidPolicy,
}

/// Price of walk step `step` (clamped to `steps`), given the previous
/// attempt's limit. Monotone in `step`, never past `natural`.
pub fn walk_price(
    mid: Money,
    natural: Money,
    step: u32,
    previous: Option<Money>,
    policy: &WalkPolicy,
) -> Result<Money, WalkRefusal> {
    if policy.steps == 0 || policy.tick.micros() <= 0 {
        return Err(WalkRefusal::InvalidPolicy);
    }
    if natural < mid {
        return Err(WalkRefusal::InvertedMarket { mid, natural });
    }
    let k = i64::from(step.min(policy.steps));
    let raw = mid + (natural - mid).mul_div(k, i64::from(policy.steps));
    let ceiling = natural.floor_to(policy.tick);
    let mut price = raw.floor_to(policy.tick).min(ceiling);
    if let Some(prev) = previous {
        price = price.max(prev).min(ceiling);
    }
    if price.abs() <= policy.tick {
        return Err(WalkRefusal::PriceTooSmall { price });
    }
    Ok(price)
}

/// One leg of a closing combo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingLeg {
    pub contract: ContractId,
    pub action: LegAction,
    /// Contracts of this leg per combo unit.
    pub ratio: u32,
}

/// The combo that flattens a position: legs, units, and its mid and
/// natural prices per unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingCombo {
    pub legs: Vec<ClosingLeg>,
    pub quantity: u32,
    pub mid: Money,
    pub natural: Money,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// The closing combo of a mark's open legs (ratios reduced by their gcd,
/// so a partially filled combo closes exactly what is open).
#[must_use]
pub fn closing_combo(mark: &Mark) -> Option<ClosingCombo> {
    let g = mark.legs.iter().map(|l| l.quantity).fold(0, gcd);
    if g == 0 {
        return None;
    }
    let mut legs = Vec::new();
    let (mut mid, mut natural) = (Money::ZERO, Money::ZERO);
    for l in &mark.legs {
        let close = -l.quantity / g;
        let action = if close > 0 {
            LegAction::Buy
        } else {
            LegAction::Sell
        };
        legs.push(ClosingLeg {
            contract: l.contract.clone(),
            action,
            ratio: u32::try_from(close.abs()).ok()?,
        });
        mid += l.mid * close;
        natural += LegMark::natural(l) * close;
    }
    Some(ClosingCombo {
        legs,
        quantity: u32::try_from(g).ok()?,
        mid,
        natural,
    })
}

/// An attempt already made (from the orders store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingAttempt {
    pub attempt: u32,
    pub order: Order,
    pub limit: Money,
    pub placed_at: DateTime<Utc>,
}

/// A closing order to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosingOrder {
    pub position_key: String,
    pub attempt: u32,
    /// Idempotency key (`orderRef`).
    pub key: String,
    pub legs: Vec<ClosingLeg>,
    pub quantity: u32,
    /// Limit per combo unit per share (positive = debit).
    pub limit: Money,
    pub mid: Money,
    pub natural: Money,
}

/// Why the closing machinery waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The live attempt is resting and not yet due for a new price.
    Resting,
    CancelPending,
    /// The attempt's state is unknown: read the broker first.
    Unresolved,
    NoTrustworthyMark,
}

/// The next step for a position that must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum ClosingAction {
    Place(ClosingOrder),
    /// Cancel this attempt; the next price follows its confirmation.
    Cancel {
        key: String,
    },
    Wait {
        key: Option<String>,
        reason: WaitReason,
    },
    Refused(WalkRefusal),
    /// Every attempt was used: alert the trader.
    Exhausted {
        attempts: u32,
    },
    /// Nothing open (closed or never filled).
    Done,
}

/// Decides the next closing step of `pos` from its earlier attempts and,
/// when one is needed to price, a trustworthy mark.
#[must_use]
pub fn next_closing_action(
    pos: &Position,
    attempts: &[ClosingAttempt],
    mark: Option<&Mark>,
    now: DateTime<Utc>,
    policy: &WalkPolicy,
) -> ClosingAction {
    let live = attempts
        .iter()
        .filter(|a| a.order.status.is_live())
        .max_by_key(|a| a.attempt);
    if let Some(a) = live {
        let key = Some(a.order.key.clone());
        return match a.order.status {
            OrderStatus::Submitting | OrderStatus::Unknown => ClosingAction::Wait {
                key,
                reason: WaitReason::Unresolved,
            },
            OrderStatus::CancelPending => ClosingAction::Wait {
                key,
                reason: WaitReason::CancelPending,
            },
            _ if pos.status != PositionStatus::Open
                || now - a.placed_at >= Duration::seconds(policy.reprice_after_secs) =>
            {
                ClosingAction::Cancel {
                    key: a.order.key.clone(),
                }
            }
            _ => ClosingAction::Wait {
                key,
                reason: WaitReason::Resting,
            },
        };
    }
    if pos.status != PositionStatus::Open {
        return ClosingAction::Done;
    }
    let last = attempts.iter().max_by_key(|a| a.attempt);
    let next = last
        .map(|a| a.attempt + 1)
        .into_iter()
        .chain(pos.last_closing_attempt.map(|a| a + 1))
        .max()
        .unwrap_or(0);
    if next >= policy.max_attempts {
        return ClosingAction::Exhausted { attempts: next };
    }
    let Some(mark) = mark else {
        return ClosingAction::Wait {
            key: None,
            reason: WaitReason::NoTrustworthyMark,
        };
    };
    let Some(combo) = closing_combo(mark) else {
        return ClosingAction::Done;
    };
    let previous = last.map(|a| a.limit);
    match walk_price(combo.mid, combo.natural, next, previous, policy) {
        Ok(limit) => ClosingAction::Place(ClosingOrder {
            position_key: pos.key.clone(),
            attempt: next,
            key: closing_key(&pos.key, next),
            legs: combo.legs,
            quantity: combo.quantity,
            limit,
            mid: combo.mid,
            natural: combo.natural,
        }),
        Err(r) => ClosingAction::Refused(r),
    }
}

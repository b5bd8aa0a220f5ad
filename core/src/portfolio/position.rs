//! Positions built from executions joined on the idempotency key.
//!
//! One position per approved trade, keyed by the entry's idempotency key
//! (IB `orderRef`); executions of its closing orders carry the derived
//! closing keys ([`super::keys`]). Executions are de-duplicated by execution
//! id in a [`Ledger`] (IB replays the day's fills after every reconnect), and
//! a commission report is attached to its execution whenever it arrives,
//! before or after it. The position is a pure function of the ledger: any
//! duplication or reordering of the same reports gives the same position.
//!
//! Accounting per leg (all exact, in [`Money`]):
//! - `cash` = −Σ signed quantity × price × multiplier (money received is +);
//! - `cost_basis` = signed cost of the open quantity (average cost: a fill
//!   that adds to the position adds its cost; a fill that reduces it removes
//!   the reduced share of the basis);
//! - realized (gross) = `cash + cost_basis`; unrealized at a price `m` =
//!   `quantity × m × multiplier − cost_basis`. Their sum is `cash + value`,
//!   the value change of the fills, whatever the rounding of the basis.
//!
//! Commissions are realized when paid and are kept apart from the legs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::contract::ContractId;
use super::keys::{belongs_to, closing_attempt_of};
use crate::market::Symbol;
use crate::money::Money;
use crate::strategy::StrategyKind;

/// One execution reported by the broker (one leg's fill).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// IB `execId`: unique per fill, stable across replays.
    pub exec_id: String,
    /// The idempotency key of the order (IB `orderRef`).
    pub order_ref: String,
    pub contract: ContractId,
    /// Signed: positive bought, negative sold (contracts or shares).
    pub quantity: i64,
    /// Price per share.
    pub price: Money,
    pub time: DateTime<Utc>,
}

/// IB's commission report for one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionReport {
    pub exec_id: String,
    /// Positive = paid.
    pub commission: Money,
}

/// What recording a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    New,
    /// Seen before with the same content: ignored (replay).
    Duplicate,
    /// Seen before with different content: the first is kept; record it as
    /// an anomaly.
    Conflict,
}

/// All executions and commissions known, de-duplicated by execution id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    executions: BTreeMap<String, Execution>,
    commissions: BTreeMap<String, Money>,
}

impl Ledger {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record_execution(&mut self, e: Execution) -> Recorded {
        match self.executions.get(&e.exec_id) {
            Some(known) if *known == e => Recorded::Duplicate,
            Some(_) => Recorded::Conflict,
            None => {
                self.executions.insert(e.exec_id.clone(), e);
                Recorded::New
            }
        }
    }

    /// Attaches a commission to its execution id (the execution may arrive
    /// later); a replayed report is not added twice.
    pub fn record_commission(&mut self, c: CommissionReport) -> Recorded {
        match self.commissions.get(&c.exec_id) {
            Some(known) if *known == c.commission => Recorded::Duplicate,
            Some(_) => Recorded::Conflict,
            None => {
                self.commissions.insert(c.exec_id, c.commission);
                Recorded::New
            }
        }
    }

    /// The commission of an execution, when its report has arrived.
    #[must_use]
    pub fn commission(&self, exec_id: &str) -> Option<Money> {
        self.commissions.get(exec_id).copied()
    }

    /// Executions whose `orderRef` belongs to the position keyed `key`, in
    /// time order (ties by execution id).
    #[must_use]
    pub fn executions_of(&self, key: &str) -> Vec<&Execution> {
        let mut v: Vec<&Execution> = self
            .executions
            .values()
            .filter(|e| belongs_to(key, &e.order_ref))
            .collect();
        v.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.exec_id.cmp(&b.exec_id)));
        v
    }

    /// Sum of signed quantities executed under one `orderRef` per contract.
    #[must_use]
    pub fn executed_by_order(&self, order_ref: &str) -> BTreeMap<ContractId, i64> {
        let mut m = BTreeMap::new();
        for e in self
            .executions
            .values()
            .filter(|e| e.order_ref == order_ref)
        {
            *m.entry(e.contract.clone()).or_insert(0) += e.quantity;
        }
        m
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.executions.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.executions.is_empty()
    }
}

/// One leg as approved: contract and signed contracts per contract set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedLeg {
    pub contract: ContractId,
    /// +ratio bought, −ratio sold per contract set (never 0).
    pub ratio: i64,
}

/// What was approved: the frame the executions fill in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionSpec {
    /// The entry's idempotency key: the position's id.
    pub key: String,
    pub symbol: Symbol,
    pub strategy: StrategyKind,
    pub legs: Vec<PlannedLeg>,
    /// Approved contract sets.
    pub units: u32,
}

/// Open, pending or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionStatus {
    /// Nothing filled yet.
    Pending,
    Open,
    /// Every leg back to zero.
    Closed,
}

/// One leg of a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionLeg {
    pub contract: ContractId,
    /// Signed contracts per set as approved (0 for a contract that was not
    /// planned but was executed under this position's keys).
    pub ratio: i64,
    /// Signed open quantity.
    pub quantity: i64,
    /// Signed cost of the open quantity (positive = paid for a long).
    pub cost_basis: Money,
    /// −Σ quantity × price × multiplier over every fill of the leg.
    pub cash: Money,
    /// Quantity opened by the entry (same sign as `ratio`).
    pub entry_quantity: i64,
    pub commissions: Money,
    pub executions: u32,
}

impl PositionLeg {
    fn new(contract: ContractId, ratio: i64) -> Self {
        PositionLeg {
            contract,
            ratio,
            quantity: 0,
            cost_basis: Money::ZERO,
            cash: Money::ZERO,
            entry_quantity: 0,
            commissions: Money::ZERO,
            executions: 0,
        }
    }

    /// Applies one fill (average-cost method).
    fn fill(&mut self, quantity: i64, price: Money) {
        let mult = self.contract.multiplier();
        self.cash -= price * (quantity * mult);
        let q = self.quantity;
        if q == 0 || q.signum() == quantity.signum() {
            self.cost_basis += price * (quantity * mult);
        } else if quantity.abs() <= q.abs() {
            let remaining = q + quantity;
            self.cost_basis = self.cost_basis.mul_div(remaining, q);
        } else {
            // Flips through zero: the rest opens at this price.
            let rest = q + quantity;
            self.cost_basis = price * (rest * mult);
        }
        self.quantity += quantity;
        self.executions += 1;
    }

    /// Average open price per share (0 when flat).
    #[must_use]
    pub fn average_price(&self) -> Money {
        if self.quantity == 0 {
            Money::ZERO
        } else {
            self.cost_basis
                .mul_div(1, self.quantity * self.contract.multiplier())
        }
    }

    /// Realized P&L of the leg before commissions.
    #[must_use]
    pub fn realized_gross(&self) -> Money {
        self.cash + self.cost_basis
    }

    /// Value of the open quantity at `price` per share.
    #[must_use]
    pub fn value_at(&self, price: Money) -> Money {
        price * (self.quantity * self.contract.multiplier())
    }
}

/// A position: legs, fills, commissions, times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub key: String,
    pub symbol: Symbol,
    pub strategy: StrategyKind,
    pub status: PositionStatus,
    /// Approved contract sets.
    pub planned_units: u32,
    /// Complete contract sets the entry filled (min over planned legs).
    pub entry_filled_units: u32,
    pub legs: Vec<PositionLeg>,
    /// Commissions of every execution whose report has arrived.
    pub commissions: Money,
    /// Executions still waiting for their commission report.
    pub commissions_pending: u32,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Highest closing attempt that executed anything.
    pub last_closing_attempt: Option<u32>,
    /// Contracts executed under this position's keys that were not planned.
    pub unplanned: Vec<ContractId>,
}

impl Position {
    /// Builds the position of `spec` from the ledger's executions.
    #[must_use]
    pub fn build(spec: &PositionSpec, ledger: &Ledger) -> Position {
        let mut legs: Vec<PositionLeg> = spec
            .legs
            .iter()
            .map(|l| PositionLeg::new(l.contract.clone(), l.ratio))
            .collect();
        let mut unplanned = Vec::new();
        let mut commissions = Money::ZERO;
        let mut pending = 0;
        let mut opened_at = None;
        let mut closed_at = None;
        let mut last_closing_attempt: Option<u32> = None;
        let execs = ledger.executions_of(&spec.key);
        for e in &execs {
            let idx = match legs.iter().position(|l| l.contract == e.contract) {
                Some(i) => i,
                None => {
                    unplanned.push(e.contract.clone());
                    legs.push(PositionLeg::new(e.contract.clone(), 0));
                    legs.len() - 1
                }
            };
            let leg = &mut legs[idx];
            leg.fill(e.quantity, e.price);
            if e.order_ref == spec.key {
                leg.entry_quantity += e.quantity;
            } else if let Some(a) = closing_attempt_of(&spec.key, &e.order_ref) {
                last_closing_attempt = Some(last_closing_attempt.map_or(a, |b| b.max(a)));
            }
            match ledger.commission(&e.exec_id) {
                Some(c) => {
                    leg.commissions += c;
                    commissions += c;
                }
                None => pending += 1,
            }
            opened_at.get_or_insert(e.time);
            let flat = legs.iter().all(|l| l.quantity == 0);
            closed_at = flat.then_some(e.time);
        }
        let status = if execs.is_empty() {
            PositionStatus::Pending
        } else if closed_at.is_some() {
            PositionStatus::Closed
        } else {
            PositionStatus::Open
        };
        let entry_filled_units = spec
            .legs
            .iter()
            .zip(&legs)
            .map(|(p, l)| {
                if l.entry_quantity.signum() == p.ratio.signum() {
                    l.entry_quantity.abs() / p.ratio.abs()
                } else {
                    0
                }
            })
            .min()
            .unwrap_or(0);
        unplanned.sort();
        unplanned.dedup();
        Position {
            key: spec.key.clone(),
            symbol: spec.symbol.clone(),
            strategy: spec.strategy,
            status,
            planned_units: spec.units,
            entry_filled_units: u32::try_from(entry_filled_units).unwrap_or(u32::MAX),
            legs,
            commissions,
            commissions_pending: pending,
            opened_at,
            closed_at,
            last_closing_attempt,
            unplanned,
        }
    }

    /// True while the entry filled fewer sets than approved.
    #[must_use]
    pub fn is_partial(&self) -> bool {
        self.entry_filled_units < self.planned_units
    }

    /// Open contract sets: the largest over planned legs of
    /// `ceil(|quantity| / |ratio|)` (legs of a partial combo fill may differ).
    #[must_use]
    pub fn open_units(&self) -> u32 {
        let units = self
            .legs
            .iter()
            .filter(|l| l.ratio != 0)
            .map(|l| {
                let r = l.ratio.abs();
                (l.quantity.abs() + r - 1) / r
            })
            .max()
            .unwrap_or(0);
        u32::try_from(units).unwrap_or(u32::MAX)
    }

    /// Legs with a non-zero open quantity.
    pub fn open_legs(&self) -> impl Iterator<Item = &PositionLeg> {
        self.legs.iter().filter(|l| l.quantity != 0)
    }

    /// Realized P&L after commissions.
    #[must_use]
    pub fn realized(&self) -> Money {
        self.legs
            .iter()
            .map(PositionLeg::realized_gross)
            .sum::<Money>()
            - self.commissions
    }

    /// Net cash of every fill (received positive), before commissions.
    #[must_use]
    pub fn cash(&self) -> Money {
        self.legs.iter().map(|l| l.cash).sum()
    }

    /// Signed cost of the open quantity (positive = net debit paid).
    #[must_use]
    pub fn cost_basis(&self) -> Money {
        self.legs.iter().map(|l| l.cost_basis).sum()
    }
}

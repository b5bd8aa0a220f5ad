//! Reconciliation: SAS's open legs against the broker's positions.
//!
//! Both books are reduced to signed quantity per contract (zero-quantity
//! broker rows, e.g. IB's expired options, count as absent). Every
//! difference is a drift with its kind; a drift pauses the exits of the
//! positions it touches (those holding the contract, or any position on the
//! same underlying for a contract SAS does not hold) and stops new entries.
//! The function is recomputed each run, so drifts clear when the books
//! agree again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::portfolio::{ContractId, Position};

/// One row of the broker's positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerPosition {
    pub contract: ContractId,
    /// Signed: positive long, negative short.
    pub quantity: i64,
}

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// SAS holds it, the broker does not.
    MissingLeg,
    /// The broker holds an option SAS does not.
    ExtraLeg,
    /// Both hold it, in different signed quantities.
    WrongSize,
    /// The broker holds stock SAS does not: assignment or exercise.
    StockPosition,
}

/// One unexplained difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub contract: ContractId,
    pub kind: DriftKind,
    pub ours: i64,
    pub broker: i64,
    /// Positions whose exits pause because of it.
    pub positions: Vec<String>,
}

/// The result of one comparison.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reconciliation {
    pub drifts: Vec<Drift>,
    /// Positions whose exits pause (sorted, unique).
    pub paused_positions: Vec<String>,
    /// New entries stop while any drift stands.
    pub entries_blocked: bool,
}

impl Reconciliation {
    #[must_use]
    pub fn agrees(&self) -> bool {
        self.drifts.is_empty()
    }

    #[must_use]
    pub fn is_paused(&self, position_key: &str) -> bool {
        self.paused_positions
            .binary_search_by(|k| k.as_str().cmp(position_key))
            .is_ok()
    }
}

/// Compares SAS's positions with the broker's.
#[must_use]
pub fn reconcile(ours: &[Position], broker: &[BrokerPosition]) -> Reconciliation {
    let mut mine: BTreeMap<&ContractId, (i64, BTreeSet<&str>)> = BTreeMap::new();
    for p in ours {
        for l in p.open_legs() {
            let e = mine.entry(&l.contract).or_default();
            e.0 += l.quantity;
            e.1.insert(p.key.as_str());
        }
    }
    let mut theirs: BTreeMap<&ContractId, i64> = BTreeMap::new();
    for b in broker {
        *theirs.entry(&b.contract).or_insert(0) += b.quantity;
    }
    let contracts: BTreeSet<&ContractId> = mine.keys().chain(theirs.keys()).copied().collect();
    let mut drifts = Vec::new();
    let mut paused = BTreeSet::new();
    for c in contracts {
        let (o, holders) = mine
            .get(c)
            .map_or((0, BTreeSet::new()), |(q, h)| (*q, h.clone()));
        let b = theirs.get(c).copied().unwrap_or(0);
        if o == b {
            continue;
        }
        let kind = if b == 0 {
            DriftKind::MissingLeg
        } else if o == 0 && c.is_stock() {
            DriftKind::StockPosition
        } else if o == 0 {
            DriftKind::ExtraLeg
        } else {
            DriftKind::WrongSize
        };
        let mut affected: BTreeSet<&str> = holders;
        if o == 0 {
            affected.extend(
                ours.iter()
                    .filter(|p| p.symbol == c.symbol && p.open_legs().next().is_some())
                    .map(|p| p.key.as_str()),
            );
        }
        paused.extend(affected.iter().map(|k| (*k).to_owned()));
        drifts.push(Drift {
            contract: c.clone(),
            kind,
            ours: o,
            broker: b,
            positions: affected.into_iter().map(str::to_owned).collect(),
        });
    }
    Reconciliation {
        entries_blocked: !drifts.is_empty(),
        drifts,
        paused_positions: paused.into_iter().collect(),
    }
}

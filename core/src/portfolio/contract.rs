//! Contract identity: what the broker and SAS must agree on, leg by leg.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::market::{OptionRight, Symbol};
use crate::money::Money;

/// Shares per standard US equity option contract.
pub const OPTION_MULTIPLIER: i64 = 100;

/// An option or a stock (the latter appears after assignment or exercise).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ContractKind {
    Option {
        right: OptionRight,
        expiry: NaiveDate,
        /// Exact strike (micro-dollars), so identity is exact.
        strike: Money,
    },
    Stock,
}

/// One tradable contract, identified by what IB reports for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContractId {
    pub symbol: Symbol,
    #[serde(flatten)]
    pub kind: ContractKind,
}

impl ContractId {
    /// A standard equity option; `None` when the strike is not a finite
    /// positive number.
    #[must_use]
    pub fn option(
        symbol: Symbol,
        right: OptionRight,
        expiry: NaiveDate,
        strike: f64,
    ) -> Option<Self> {
        let strike = Money::from_dollars(strike).filter(|s| s.micros() > 0)?;
        Some(ContractId {
            symbol,
            kind: ContractKind::Option {
                right,
                expiry,
                strike,
            },
        })
    }

    #[must_use]
    pub fn stock(symbol: Symbol) -> Self {
        ContractId {
            symbol,
            kind: ContractKind::Stock,
        }
    }

    /// Shares per unit of quantity: 100 for an option, 1 for stock.
    #[must_use]
    pub fn multiplier(&self) -> i64 {
        match self.kind {
            ContractKind::Option { .. } => OPTION_MULTIPLIER,
            ContractKind::Stock => 1,
        }
    }

    #[must_use]
    pub fn expiry(&self) -> Option<NaiveDate> {
        match self.kind {
            ContractKind::Option { expiry, .. } => Some(expiry),
            ContractKind::Stock => None,
        }
    }

    #[must_use]
    pub fn is_stock(&self) -> bool {
        matches!(self.kind, ContractKind::Stock)
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ContractKind::Option {
                right,
                expiry,
                strike,
            } => {
                let r = match right {
                    OptionRight::Call => "C",
                    OptionRight::Put => "P",
                };
                write!(f, "{} {expiry} {} {r}", self.symbol, strike.dollars())
            }
            ContractKind::Stock => write!(f, "{} stock", self.symbol),
        }
    }
}

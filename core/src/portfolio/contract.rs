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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_ids_round_trip_through_json() {
        let sym = Symbol::parse("SPY").unwrap();
        let expiry = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let put = ContractId::option(sym.clone(), OptionRight::Put, expiry, 97.5).unwrap();
        let json = serde_json::to_string(&put).unwrap();
        assert_eq!(
            json,
            r#"{"symbol":"SPY","type":"option","right":"P","expiry":"2027-01-15","strike":97500000}"#
        );
        assert_eq!(serde_json::from_str::<ContractId>(&json).unwrap(), put);
        let stock = ContractId::stock(sym);
        let json = serde_json::to_string(&stock).unwrap();
        assert_eq!(serde_json::from_str::<ContractId>(&json).unwrap(), stock);
        assert_eq!(put.to_string(), "SPY 2027-01-15 97.5 P");
    }
}

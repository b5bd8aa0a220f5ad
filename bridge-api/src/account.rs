//! `GET /account` and `GET /positions`, and the one paper-account rule.

use serde::{Deserialize, Serialize};

use crate::orders::Instrument;

/// `GET /account` body (declared in `sas-core`, used by the simulator too).
pub use sas_core::market::Account;

/// Whether `account` is a paper-trading account, the only kind SAS sends
/// orders to unless live trading is switched on explicitly on both sides.
///
/// - `DU…`: an IB paper account (individual paper accounts and the paper
///   client sub-accounts of an advisor).
/// - `SIM-…`: the bridge's simulated broker.
///
/// `DF…` is an IB *paper advisor master* account; it is not accepted: SAS
/// trades one trader's own account, and an order must name the `DU…` account
/// it is for. Everything else (`U…` live individual, `F…` live advisor, blank)
/// is live or unknown and refused.
#[must_use]
pub fn is_paper_account(account: &str) -> bool {
    let a = account.trim();
    let rest = a
        .strip_prefix("DU")
        .or_else(|| a.strip_prefix("SIM-"))
        .unwrap_or("");
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A holding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Instrument held.
    pub instrument: Instrument,
    /// Signed units (negative = short).
    pub quantity: f64,
    /// Average cost per unit (per share or per contract's price, not × 100).
    pub avg_cost: f64,
    /// Current mark per unit, when a market is available.
    pub market_price: Option<f64>,
    /// quantity × mark × multiplier.
    pub market_value: Option<f64>,
    /// market_value − quantity × avg_cost × multiplier.
    pub unrealized_pnl: Option<f64>,
    /// The broker's contract id (IB `conId`; the simulated broker gives a
    /// stable synthetic id), when known: the identity reconciliation joins on.
    #[serde(default)]
    pub con_id: Option<i64>,
}

/// `GET /positions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionsBody {
    /// Every holding of the account.
    pub positions: Vec<Position>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_accounts_are_du_and_the_simulator_only() {
        assert!(is_paper_account("DU1234567"));
        assert!(is_paper_account(" DU1234567 "));
        assert!(is_paper_account("SIM-PAPER"));
        for live_or_unknown in [
            "U1234567", "F123", "DF123456", "DU", "SIM-", "SIM", "", "du123", "DU12 34",
        ] {
            assert!(!is_paper_account(live_or_unknown), "{live_or_unknown:?}");
        }
    }
}

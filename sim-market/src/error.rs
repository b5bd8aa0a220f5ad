//! The one error enum of `sas-sim-market`.

use thiserror::Error;

/// Errors from the simulated market. Messages name the bad input only.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    /// The symbol is not part of this market's universe.
    #[error("unknown symbol {0}")]
    UnknownSymbol(String),
    /// No such option contract is listed (expiry or strike off the grid).
    #[error("no listed contract {0}")]
    UnknownContract(String),
    /// A caller-supplied argument is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The configuration cannot produce a market.
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
}

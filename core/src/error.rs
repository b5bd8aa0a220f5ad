//! The one error enum of `sas-core`.

use thiserror::Error;

/// Errors produced by pure domain logic. Messages are safe to show to a user:
/// they name the bad input, never internal state.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    #[error("invalid symbol {0:?}: expected 1-10 characters A-Z, 0-9, '.' or '-', starting with a letter")]
    InvalidSymbol(String),
    #[error("symbol list is empty")]
    EmptySymbolList,
    #[error("too many symbols: {got} (at most {max})")]
    TooManySymbols { got: usize, max: usize },
    #[error("duplicate symbol {0} in list")]
    DuplicateSymbol(String),
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
}

//! The risk engine at the edge (issue 11, docs/risk.md): the trading state
//! persisted in D1 and evaluated from real data every monitor run
//! ([`service::evaluate_and_store`]), the trader's halt and resume
//! ([`service::set_state`]), the pre-trade checks of an approval on the real
//! book ([`service::pre_trade`]), strategy switches
//! ([`service::enabled_strategies`], [`service::set_strategy`]) and the
//! performance figures ([`service::performance`]). The rules are
//! `sas_core::risk` and `sas_core::performance`; this feature reads what
//! they need ([`model`]) through [`store::RiskStore`] (D1 in `edge::risk`,
//! memory in the tests) and stores what they decide with its audit rows.

pub mod memory;
pub mod model;
pub mod service;
pub mod shadow;
pub mod store;
pub mod view;

#[cfg(test)]
mod shadow_tests;
#[cfg(test)]
mod sql_tests;
#[cfg(test)]
pub(crate) mod workflow_tests;

use crate::store::StoreError;

/// Actor of the rules' changes of the trading state.
pub const RISK_ACTOR: &str = "system:risk";
/// Most closed trades one `GET /performance` reads.
pub const MAX_PERFORMANCE_TRADES: u32 = 5_000;
/// Longest range of `GET /performance`, in days.
pub const MAX_PERFORMANCE_DAYS: i64 = 3_660;

/// Why a risk workflow did not answer (mapped to HTTP in `http::risk`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RiskError {
    /// Storage failed (500). For [`service::pre_trade`] the caller must
    /// refuse the approval.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The `risk_state` row is missing (migration 0008 not applied) (500).
    #[error("the trading state row is missing")]
    StateMissing,
    /// The stored state cannot be read (500): nothing is approved until it
    /// is repaired.
    #[error("the stored trading state cannot be read: {0}")]
    StateUnreadable(String),
    /// Another change won the compare-and-set (409; try again).
    #[error("the trading state changed meanwhile; read it and try again")]
    Conflict,
    /// A request the rules refuse (400): no reason, an unknown strategy, a
    /// cause that cannot be cleared this way.
    #[error("{0}")]
    Invalid(String),
}

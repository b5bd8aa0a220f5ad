//! IV history from the broker (issue 14), a feature in parts: [`model`]
//! (rows, SQL of `migrations/d1/0009_iv_history.sql`, the pure planning and
//! parsing), [`store`] (the [`store::IvHistoryStore`] trait), [`service`]
//! (the cron step: backfill a year from the bridge's `/history/iv` for a few
//! symbols per run and append each day's close beside SAS's own 30-day ATM
//! IV; IV rank and percentile from that history with the days they rest on;
//! the `/symbols/{symbol}/quality` report). `edge::iv_history` implements
//! the store over D1; [`memory`] is the in-memory fake of the native tests.

pub mod model;
pub mod service;
pub mod store;

#[cfg(test)]
pub mod memory;
#[cfg(test)]
mod workflow_tests;

use crate::bridge::BridgeFailure;
use crate::store::StoreError;

/// Everything that can go wrong in the IV-history workflows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IvHistoryError {
    /// D1 failed (details for the log only).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The bridge gave no answer.
    #[error("{0}")]
    Bridge(BridgeFailure),
    /// IB's historical-data pacing (bridge 429, IB error 162): wait.
    #[error("IV history pending: the bridge asked to wait (historical-data pacing)")]
    Paced,
    /// No market-data permission for the series (bridge 403).
    #[error("IV history pending: no market-data permission")]
    NoPermission,
    /// The underlying lists no options: it has no IV history.
    #[error("the symbol lists no options, so it has no IV history")]
    NoOptions,
    /// Another non-2xx answer.
    #[error("bridge /history/iv answered HTTP {status}")]
    BridgeStatus { status: u16 },
    /// A 200 that is not an IV history.
    #[error("bridge /history/iv answer is not an IV history: {0}")]
    BadBody(String),
    /// A 200 about another symbol.
    #[error("bridge /history/iv answered for another symbol")]
    OtherSymbol,
    /// The symbol is not on the watchlist.
    #[error("{0} is not on the watchlist")]
    UnknownSymbol(String),
}

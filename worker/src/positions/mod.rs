//! The position engine at the edge (issue 10, docs/positions.md): the
//! every-minute monitor ([`monitor`]) that follows each approved trade from
//! its entry order to a closed position — fills, marks, exits, closing
//! orders, reconciliation, equity — and the positions API ([`service`],
//! [`view`]). The money rules themselves are in `sas_core::portfolio`,
//! `sas_core::orders` and `sas_core::reconcile`; this feature maps the
//! bridge's answers onto them ([`model`]) and stores the results through
//! [`store::PositionStore`] (D1 in `edge::positions`, memory in the tests).

pub mod memory;
pub mod model;
pub mod monitor;
pub mod service;
pub mod store;
pub mod view;

#[cfg(test)]
mod monitor_tests;

pub use model::PositionState;

use crate::store::StoreError;
use view::{PositionView, ReconciliationView};

/// Most positions a list returns.
pub const MAX_POSITIONS_LIMIT: u32 = 500;
/// Default `limit` of `GET /positions`.
pub const DEFAULT_POSITIONS_LIMIT: u32 = 100;
/// Most orders `GET /orders` returns.
pub const MAX_ORDERS_LIMIT: u32 = 500;
/// Default `limit` of `GET /orders`.
pub const DEFAULT_ORDERS_LIMIT: u32 = 100;
/// Most days `GET /pnl` covers.
pub const MAX_PNL_DAYS: u32 = 366;
/// Default `days` of `GET /pnl`.
pub const DEFAULT_PNL_DAYS: u32 = 30;

/// What the positions API can answer besides its views.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PositionsError {
    #[error("no position {0}")]
    NotFound(i64),
    /// 409 with the position's current state.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        position: Box<PositionView>,
    },
    /// 409 with the current reconciliation state.
    #[error("{message}")]
    ReconciliationConflict {
        message: String,
        state: Box<ReconciliationView>,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
}

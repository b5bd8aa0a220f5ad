//! Approvals: deciding on a proposal (approve, reject, expire), sending its
//! order to the bridge exactly once per key, resolving orders whose outcome
//! is unknown by key, and the kill switch (docs/approval-workflow.md).
//!
//! - [`model`]: the SQL (the source of truth of every conditional update),
//!   order states and the pure decisions (answer classification, retry
//!   window, send gate, the order built from a re-priced proposal).
//! - [`store`]: the [`store::ApprovalStore`] trait the workflows write
//!   through (D1 in `edge::proposals`, [`memory`] in the tests).
//! - [`service`]: the workflows over a store, a [`crate::bridge::Bridge`]
//!   and a clock.
//!
//! Routes, request bodies and replies are `crate::http::approvals`.

mod model;
pub mod service;
pub mod store;

pub use model::*;

#[cfg(test)]
mod audit_sql_tests;
#[cfg(test)]
pub mod memory;
#[cfg(test)]
mod workflow_tests;

//! Alerts (issue 15, docs/alerts.md): events written to an outbox in the
//! same D1 batch as the change they report, delivered by the crons to ntfy,
//! Telegram, Discord, Slack and a generic webhook with retries, backoff and
//! a rate cap per channel — at least once, deduplicated by event key.
//!
//! - [`model`]: the SQL (outbox, deliveries, conditions) and rows, and
//!   [`model::enqueue_statements`] for features that enqueue an alert in
//!   their own batch.
//! - [`store`]: the [`store::AlertStore`] trait the workflows run against
//!   (D1 on the edge, [`memory`] in the tests).
//! - [`service`]: enqueue, condition observation, delivery through an
//!   [`service::AlertSender`], `GET /alerts` and `POST /alerts/test`.
//! - [`watch`]: the crons' watch steps (order rejected or stuck, IB
//!   degraded, the reset window, the weekly re-login, data delayed, the
//!   archive behind, the daily summary) over a [`watch::WatchSource`].
//!
//! The pure rules (events, keys, settings, conditions, channel requests,
//! backoff, rate cap) are `sas_core::alerts`; configuration is
//! [`crate::config::alerts`].

pub mod model;
pub mod service;
pub mod store;
pub mod watch;

pub use model::*;

/// One summary line of a proposal for alerts (`SPY put_credit_spread x2
/// (max loss $500): <rationale>`), with `contracts` as approved or proposed.
pub fn proposal_summary(row: &crate::proposals::ProposalRow, contracts: i64) -> String {
    format!(
        "{} {} x{} (max loss ${:.0}): {}",
        row.symbol,
        row.strategy,
        contracts,
        row.total_max_loss,
        crate::config::truncate(&row.rationale, 300)
    )
}

#[cfg(test)]
pub mod memory;
#[cfg(test)]
mod sql_tests;
#[cfg(test)]
mod watch_tests;
#[cfg(test)]
mod workflow_tests;

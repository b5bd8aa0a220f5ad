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

/// What an alert says of one proposal. Proposals and approvals build it from
/// their rows, so alerts never depend on them.
#[derive(Debug, Clone, Copy)]
pub struct ProposalDigest<'a> {
    pub symbol: &'a str,
    pub strategy: &'a str,
    /// As approved or proposed.
    pub contracts: i64,
    pub total_max_loss: f64,
    pub rationale: &'a str,
}

/// One summary line of a proposal for alerts (`SPY put_credit_spread x2
/// (max loss $500): <rationale>`).
pub fn proposal_summary(p: &ProposalDigest<'_>) -> String {
    format!(
        "{} {} x{} (max loss ${:.0}): {}",
        p.symbol,
        p.strategy,
        p.contracts,
        p.total_max_loss,
        crate::config::truncate(p.rationale, 300)
    )
}

/// A proposal a generation run stores, as the "new proposals" alert reads it.
#[derive(Debug, Clone, Copy)]
pub struct NewProposalDigest<'a> {
    pub digest: ProposalDigest<'a>,
    /// Lower is better: the alert names the best one.
    pub rank: u32,
    pub trade_date: &'a str,
    pub idempotency_key: &'a str,
    pub created_at: i64,
}

#[cfg(test)]
pub mod memory;
#[cfg(test)]
mod sql_tests;
#[cfg(test)]
mod watch_tests;
#[cfg(test)]
mod workflow_tests;

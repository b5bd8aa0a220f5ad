//! Events (issue 14): earnings dates the trader enters by hand
//! (`PUT /events`, audited in the same batch) and each underlying's next
//! ex-dividend date and amount from the broker (the bridge's
//! `GET /events/dividends`, refreshed at most daily by the 15-minute cron, a
//! few symbols a run). Generation reads them as core's
//! [`sas_core::strategy::EventCalendar`] so that no proposal spans an event
//! (docs/events.md).
//!
//! * [`model`]: rows, SQL, the `PUT` body's checks, the refresh plan, the
//!   calendars, the `GET` view (pure).
//! * [`store`]: [`store::EventsStore`], one SQL constant (or one batch) a
//!   method.
//! * [`service`]: the workflows (list, change, cron refresh, calendars).
//! * `memory` + `workflow_tests`: in-memory fakes and the native tests.

pub mod model;
pub mod service;
pub mod store;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod workflow_tests;

use crate::store::StoreError;

/// Why an events workflow failed (mapped to HTTP once, in
/// `http::events::events_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    /// The request is malformed (400, the message names the problem).
    #[error("{0}")]
    Invalid(String),
    /// D1 failed (500, logged).
    #[error("events store: {0}")]
    Store(#[from] StoreError),
}

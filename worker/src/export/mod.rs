//! The Worker's side of the Postgres archive (docs/archive.md, issue 13):
//! every exported table in a stable order by a monotonic export key, in
//! bounded pages, and the acknowledgements that let pruning delete only
//! archived rows when an archiver is configured (`ARCHIVE_TOKEN`).
//!
//! - [`model`]: the tables as data (name, key, columns, settling), cursors,
//!   and the SQL of pages, acks, health counts and the prune gate.
//! - [`store`]: the [`store::ExportStore`] executor (D1 in `edge::export`).
//! - [`service`]: a page, an ack (only of a row an export could have handed
//!   out, never moving backwards), the archive part of `/health`.
//!
//! Routes and their auth rule are `crate::http::export`.

pub mod model;
pub mod service;
pub mod store;

pub use crate::config::archive::PruneGate;
pub use model::*;

/// How the cron's prunes treat unacknowledged rows.
///
/// WIRING (lead): until `Config` carries the archive settings this is
/// [`PruneGate::Retention`], which is today's behaviour and consistent:
/// without the field `ARCHIVE_TOKEN` is not read, no archiver can
/// authenticate, nothing is acknowledged. Once `Config::archive` exists the
/// body becomes `cfg.archive.prune_gate()`; both prune call sites (ingest
/// and the chain step) already go through here.
pub fn prune_gate(cfg: &crate::config::Config) -> PruneGate {
    cfg.archive.prune_gate()
}

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod sqlite;

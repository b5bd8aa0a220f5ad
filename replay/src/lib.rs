//! SAS replay (issue 13 part 5): re-runs core's scoring, strategy selection,
//! sizing and exit rules over the Postgres archive (docs/replay.md).
//!
//! Pure modules (no I/O): `archive` (archived rows → core's chain and
//! inputs), `config`, `engine` (the simulation, scored and random-entry),
//! `report` (figures through `sas_core::performance`). Adapters: `pg`
//! (reads the archive), `chart` (SVG), `seed` (fills an archive from the
//! simulated market through the archiver's write path), `cli`.

pub mod archive;
pub mod chart;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod pg;
pub mod report;
pub mod seed;

pub use error::ReplayError;

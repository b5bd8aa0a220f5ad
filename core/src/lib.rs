//! SAS domain core: pure types and logic shared by the Worker (wasm32), the
//! broker bridge and the test gateway. Nothing in this crate performs I/O,
//! reads the clock or touches the environment: callers pass `now` and data in.
//! `quality` gates quotes and chains before anything else uses them.

pub mod alerts;
pub mod analytics;
pub mod calendar;
pub mod entry;
pub mod error;
pub mod market;
pub mod money;
pub mod orders;
pub mod performance;
pub mod portfolio;
pub mod quality;
pub mod reconcile;
pub mod risk;
pub mod score;
pub mod strategy;

pub use error::CoreError;

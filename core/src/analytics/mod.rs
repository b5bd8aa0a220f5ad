//! Options analytics: Black-Scholes-Merton pricing and greeks, implied
//! volatility, volatility statistics, IV rank from a dated IV history
//! (`iv_history`), chain-level metrics, the storage rows of
//! the cron pipeline, and the phase-1 score factors from quote snapshots. Pure
//! functions, no I/O; everything builds for wasm32. Conventions are documented
//! in `docs/analytics.md`.

pub mod bsm;
pub mod chain;
pub mod intraday;
pub mod iv;
pub mod iv_history;
pub mod rows;
pub mod vol;

//! Options analytics: Black-Scholes-Merton pricing and greeks, implied
//! volatility, volatility statistics, chain-level metrics, and the phase-1
//! score factors from quote snapshots. Pure functions, no I/O; everything
//! builds for wasm32. Conventions are documented in `docs/analytics.md`.

pub mod bsm;
pub mod intraday;

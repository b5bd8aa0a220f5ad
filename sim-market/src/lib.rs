//! Seeded simulated market for SAS.
//!
//! A pure library (no I/O, no clock, no async): callers pass `now` and step the
//! market explicitly. Everything is a deterministic function of the seed:
//!
//! - [`SimMarket`]: underlying prices follow a geometric Brownian motion with
//!   stochastic (mean-reverting log) volatility and a calm/stressed regime,
//!   stepped on a fixed simulated clock. The state after `n` steps depends only
//!   on `(seed, n)`. Quotes carry realistic cent spreads and a cumulative
//!   intraday volume with a U-shaped intraday profile.
//! - [`SimMarket::daily_history`]: seeded daily OHLCV bars on NYSE trading days.
//! - [`SimMarket::option_chain`]: monthly and weekly expiries, a strike grid by
//!   price level, prices from a volatility surface with skew and term structure
//!   through `sas_core::analytics::bsm`.
//! - [`matching`]: the paper matching rules the simulated broker uses.
//! - [`SimMarket::dividends`]: a seeded quarterly ex-dividend schedule (none
//!   for a zero-yield symbol), reported as IB's dividends tick reports it.

pub mod calendar;
pub mod chain;
mod daily;
pub mod dividends;
pub mod error;
pub mod history;
pub mod market;
pub mod matching;
mod model;
pub mod params;
mod seed;
mod vol;

pub use dividends::DividendInfo;
pub use error::SimError;
pub use history::IvClose;
pub use market::{SimConfig, SimMarket, SymbolOverride};
pub use params::SymbolParams;

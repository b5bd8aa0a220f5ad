//! Shared set-up of the simulator's integration tests (`one_path`,
//! `vol_model`): the default watchlist and a market started on a day.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use sas_core::market::{Symbol, DEFAULT_WATCHLIST};
use sas_sim_market::{SimConfig, SimMarket};

/// The default watchlist's symbols.
pub fn watchlist() -> Vec<Symbol> {
    DEFAULT_WATCHLIST
        .iter()
        .map(|s| Symbol::parse(s).unwrap())
        .collect()
}

/// The market of `seed` over the watchlist, started on `day` at `hour`:00 UTC.
pub fn market(seed: u64, day: NaiveDate, hour: u32) -> SimMarket {
    let start = Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap());
    SimMarket::new(SimConfig::new(seed, watchlist(), start)).unwrap()
}

//! `POST /sim/clock`: moving the simulated clock forward.
//!
//! The simulated clock is the wall clock plus an offset; a move sets the
//! offset so the clock reads `at` now, and it runs on from there. A move of
//! at most [`MAX_STEPPED_JUMP`] steps the market there second by second, as
//! [`SimState::sync`] does for the wall clock (working orders fill along the
//! way, options settle, day orders expire at the close). A longer move
//! rebuilds the market at `at` from the seed, like a bridge that was off
//! meanwhile: the daily model decides where the market stands, and the test
//! controls are put back on top. A rebuild cannot say what a working order
//! or an expiring option would have met on the way, so it is refused while
//! any order is working or any option is held; stock holdings stay.

use chrono::{DateTime, TimeDelta, Utc};
use sas_sim_market::{SimConfig, SimMarket};

use super::{sim_time_in_range, SimBroker, SimState, SIM_FIRST_YEAR, SIM_LAST_YEAR};
use crate::broker::SimClockError;
use sas_bridge_api::orders::Instrument;
use sas_bridge_api::sim::SimClockOutcome;

/// The longest move that steps the market; longer ones rebuild it.
pub const MAX_STEPPED_JUMP: TimeDelta = TimeDelta::hours(1);

impl SimBroker {
    /// Moves the simulated clock forward to `at` (see the module docs). `at`
    /// before the current simulated second is refused; `at` within it
    /// changes nothing. A refused move changes nothing. The state file is
    /// written after a move.
    pub fn set_clock(&self, at: DateTime<Utc>) -> Result<SimClockOutcome, SimClockError> {
        if !sim_time_in_range(at) {
            return Err(SimClockError::OutOfRange {
                at,
                first: SIM_FIRST_YEAR,
                last: SIM_LAST_YEAR,
            });
        }
        let (mut st, now) = self.synced();
        let current = st.market.now();
        if at < current {
            return Err(SimClockError::Backwards { at, now: current });
        }
        if at <= now || st.market.step_at(at) == st.market.step_index() {
            // The current simulated second: nothing to do.
            return Ok(SimClockOutcome {
                simulated_time: now,
                rebuilt: false,
            });
        }
        let wall = now.checked_sub_signed(st.clock_offset).unwrap_or(now);
        let jump = at - now;
        let rebuilt = jump > MAX_STEPPED_JUMP;
        if rebuilt {
            st.rebuild_at(at)?;
        }
        st.clock_offset = at - wall;
        st.changed = true;
        // Stepped: walks the market to `at` (orders fill, options settle,
        // day orders expire). Rebuilt: the market already stands at `at`.
        st.sync(at);
        st.save_if_changed();
        tracing::info!(
            from = %now,
            to = %at,
            jump_seconds = jump.num_seconds(),
            rebuilt,
            "simulated clock moved forward"
        );
        Ok(SimClockOutcome {
            simulated_time: at,
            rebuilt,
        })
    }
}

impl SimState {
    /// Replaces the market with one built at `at` from the seed, with the
    /// test controls restored; refused while an order works or an option is
    /// held (nothing changes then).
    fn rebuild_at(&mut self, at: DateTime<Utc>) -> Result<(), SimClockError> {
        let mut open: Vec<String> = Vec::new();
        let working: Vec<&str> = self
            .working
            .iter()
            .filter_map(|&i| self.orders.get(i))
            .filter(|o| o.order.status.is_open())
            .map(|o| o.order.id.as_str())
            .collect();
        if !working.is_empty() {
            open.push(format!("working orders {}", working.join(", ")));
        }
        let options: Vec<String> = self
            .holdings
            .values()
            .filter(|h| matches!(h.instrument, Instrument::Option { .. }))
            .map(|h| format!("{} x {}", h.instrument, h.quantity))
            .collect();
        if !options.is_empty() {
            open.push(format!("option positions {}", options.join(", ")));
        }
        if !open.is_empty() {
            return Err(SimClockError::BooksNotFlat {
                max_step_minutes: MAX_STEPPED_JUMP.num_minutes(),
                books: open.join("; "),
            });
        }
        let overrides = self.market.overrides();
        let universe = self.market.config().symbols.clone();
        let mut market = SimMarket::new(SimConfig::new(self.seed, universe, at))
            .map_err(|e| SimClockError::Internal(e.to_string()))?;
        market
            .restore_overrides(&overrides)
            .map_err(|e| SimClockError::Internal(e.to_string()))?;
        self.market = market;
        Ok(())
    }
}

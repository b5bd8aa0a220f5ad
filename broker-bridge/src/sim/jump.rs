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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use sas_core::market::Symbol;

    use super::*;
    use crate::broker::Broker;
    use crate::clock::ManualClock;
    use crate::sim::SimBrokerConfig;

    fn t(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
    }

    /// A broker whose simulated clock starts at Friday 2026-11-20 15:00 UTC
    /// while the wall clock reads 2026-11-30 09:00.
    fn broker() -> (SimBroker, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(t(30, 9, 0)));
        let broker = SimBroker::new(
            SimBrokerConfig {
                seed: 7,
                universe: vec![
                    Symbol::parse("SPY").unwrap(),
                    Symbol::parse("AAPL").unwrap(),
                ],
                starting_cash: 100_000.0,
                account_id: "SIM-UNIT".into(),
                start: Some(t(20, 15, 0)),
            },
            clock.clone(),
        )
        .unwrap();
        (broker, clock)
    }

    #[test]
    fn the_offset_follows_the_wall_clock_and_a_jump_resets_it() {
        let (broker, clock) = broker();
        assert_eq!(broker.simulated_time(), t(20, 15, 0));
        assert_eq!(Broker::simulated_time(&broker), Some(t(20, 15, 0)));
        clock.advance(TimeDelta::minutes(7));
        broker.tick();
        assert_eq!(broker.simulated_time(), t(20, 15, 7));
        // Stepped: the same market, 20 minutes on.
        let out = broker.set_clock(t(20, 15, 27)).unwrap();
        assert_eq!(
            out,
            SimClockOutcome {
                simulated_time: t(20, 15, 27),
                rebuilt: false
            }
        );
        let st = broker.state.lock().unwrap();
        assert_eq!(st.market.config().start, t(20, 15, 0));
        assert_eq!(st.market.step_index(), 27 * 60);
        assert_eq!(st.clock_offset, t(20, 15, 27) - t(30, 9, 7));
        drop(st);
        // Rebuilt: a new market whose step 0 is `at`.
        let out = broker.set_clock(t(23, 15, 0)).unwrap();
        assert!(out.rebuilt);
        let st = broker.state.lock().unwrap();
        assert_eq!(
            (st.market.config().start, st.market.step_index()),
            (t(23, 15, 0), 0)
        );
        drop(st);
        clock.advance(TimeDelta::seconds(5));
        broker.tick();
        assert_eq!(
            broker.simulated_time(),
            t(23, 15, 0) + TimeDelta::seconds(5)
        );
    }

    #[test]
    fn a_refused_jump_changes_nothing() {
        let (broker, _clock) = broker();
        let before = |b: &SimBroker| {
            let st = b.state.lock().unwrap();
            (
                st.market.config().start,
                st.market.step_index(),
                st.clock_offset,
            )
        };
        let was = before(&broker);
        assert!(matches!(
            broker.set_clock(t(20, 14, 59)),
            Err(SimClockError::Backwards { .. })
        ));
        assert!(matches!(
            broker.set_clock(Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap()),
            Err(SimClockError::OutOfRange { .. })
        ));
        // An option held: no rebuild.
        broker.state.lock().unwrap().holdings.insert(
            "opt".into(),
            super::super::Holding {
                instrument: Instrument::Option {
                    symbol: Symbol::parse("SPY").unwrap(),
                    expiry: chrono::NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
                    strike: 600.0,
                    right: sas_core::market::OptionRight::Put,
                },
                quantity: -1.0,
                avg_cost: 2.0,
            },
        );
        let err = broker.set_clock(t(21, 15, 0)).unwrap_err();
        assert!(
            err.to_string()
                .contains("option positions SPY 2026-12-18 600 P x -1"),
            "{err}"
        );
        assert_eq!(before(&broker), was);
    }
}

//! [`MarketSource`] over `sas-sim-market`, stepped with the wall clock.

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::market::{DailyBar, OptionRight, Symbol};
use sas_sim_market::chain::strike_step;
use sas_sim_market::{SimConfig, SimMarket, SymbolParams};

use crate::market::{MarketSource, OptionListing, OptionSnapshot, UnderlyingQuote};

/// Days ahead the fake lists expirations for.
const LISTING_HORIZON_DAYS: u32 = 400;
/// Strikes listed from this fraction of spot ...
const LISTING_LOW: f64 = 0.6;
/// ... to this one.
const LISTING_HIGH: f64 = 1.4;

/// The seeded simulated market (built-in universe), clocked by `advance_to`.
pub struct SimSource {
    market: Option<SimMarket>,
}

impl SimSource {
    /// A market seeded with `seed`, starting now.
    pub fn new(seed: u64) -> Self {
        let symbols: Vec<Symbol> = SymbolParams::builtin_symbols()
            .filter_map(|s| Symbol::parse(s).ok())
            .collect();
        let market = SimMarket::new(SimConfig::new(seed, symbols, Utc::now())).ok();
        Self { market }
    }

    fn now(&self) -> DateTime<Utc> {
        self.market.as_ref().map_or_else(Utc::now, SimMarket::now)
    }
}

impl MarketSource for SimSource {
    fn advance_to(&mut self, now: DateTime<Utc>) {
        if let Some(m) = self.market.as_mut() {
            m.sync_to(now);
        }
    }

    fn is_listed(&self, symbol: &Symbol) -> bool {
        self.market.as_ref().is_some_and(|m| m.has_symbol(symbol))
    }

    fn quote(&mut self, symbol: &Symbol) -> Option<UnderlyingQuote> {
        let m = self.market.as_ref()?;
        let q = m.quote(symbol).ok()?;
        // IB's close tick: the last session's close on the simulator's daily path.
        let prev_close = m.previous_close(symbol).ok()?;
        // The simulator has no book depth; sizes are a stable function of the step.
        let lot = 100 * (1 + m.step_index() % 7);
        Some(UnderlyingQuote {
            bid: q.bid,
            ask: q.ask,
            last: q.last,
            bid_size: lot,
            ask_size: lot + 100,
            last_size: 100,
            volume: q.volume,
            prev_close,
        })
    }

    fn option_listing(&mut self, symbol: &Symbol) -> Option<OptionListing> {
        let now = self.now();
        let m = self.market.as_ref()?;
        let spot = m.spot(symbol).ok()?;
        let expirations = m.expiries(symbol, 0, LISTING_HORIZON_DAYS, now).ok()?;
        let step = strike_step(spot);
        let lo = ((spot * LISTING_LOW) / step).ceil() as i64;
        let hi = ((spot * LISTING_HIGH) / step).floor() as i64;
        let strikes = (lo.max(1)..=hi).map(|i| i as f64 * step).collect();
        Some(OptionListing {
            expirations,
            strikes,
        })
    }

    fn option(
        &mut self,
        symbol: &Symbol,
        expiry: NaiveDate,
        strike: f64,
        right: OptionRight,
    ) -> Option<OptionSnapshot> {
        let now = self.now();
        let m = self.market.as_ref()?;
        let spot = m.spot(symbol).ok()?;
        let q = m.option_quote(symbol, expiry, strike, right, now).ok()?;
        let g = q.greeks;
        let (bid, ask) = (q.bid.unwrap_or(0.0), q.ask.unwrap_or(0.0));
        Some(OptionSnapshot {
            bid,
            ask,
            last: q.last.unwrap_or(0.0),
            volume: q.volume.unwrap_or(0),
            open_interest: q.open_interest.unwrap_or(0),
            implied_vol: g.iv.unwrap_or(-1.0),
            delta: g.delta.unwrap_or(-2.0),
            gamma: g.gamma.unwrap_or(-2.0),
            vega: g.vega.unwrap_or(-2.0),
            theta: g.theta.unwrap_or(-2.0),
            model_price: 0.5 * (bid + ask),
            underlying_price: spot,
        })
    }

    fn daily_bars(&mut self, symbol: &Symbol, days: u32) -> Vec<DailyBar> {
        let today = self.now().date_naive();
        self.market
            .as_ref()
            .and_then(|m| m.daily_history(symbol, days, today).ok())
            .unwrap_or_default()
    }

    fn iv_bars(&mut self, symbol: &Symbol, calendar_days: u32) -> Vec<(NaiveDate, f64)> {
        let today = self.now().date_naive();
        self.market
            .as_ref()
            .and_then(|m| m.iv_history(symbol, calendar_days.min(365), today).ok())
            .map(|v| v.into_iter().map(|c| (c.date, c.iv)).collect())
            .unwrap_or_default()
    }

    fn dividends(&mut self, symbol: &Symbol) -> Option<String> {
        let today = self.now().date_naive();
        let m = self.market.as_ref()?;
        m.dividends(symbol, today).ok().map(|d| d.ib_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_close_tick_is_the_last_sessions_close_on_the_daily_path() {
        let mut source = SimSource::new(1);
        let spy = Symbol::parse("SPY").unwrap();
        let quote = source.quote(&spy).unwrap();
        let bars = source.daily_bars(&spy, 5);
        let last = bars.last().unwrap();
        assert!(
            (quote.prev_close - last.close).abs() < 0.011,
            "close tick {} vs the last bar {last:?}",
            quote.prev_close
        );
        // The market starts there: the quote is near it, whatever start_price was.
        assert!((quote.last / quote.prev_close - 1.0).abs() < 0.05);
    }
}

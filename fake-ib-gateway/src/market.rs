//! What the fake gateway needs from a market, and the adapter onto the seeded
//! simulator (`sas-sim-market`) that `--broker sim` also uses.

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::market::{DailyBar, OptionRight, Symbol};

/// Top of book and day statistics of an underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingQuote {
    pub bid: f64,
    pub ask: f64,
    pub last: f64,
    pub bid_size: u64,
    pub ask_size: u64,
    pub last_size: u64,
    pub volume: u64,
    pub prev_close: f64,
}

/// One option's market and model values (greeks: theta per calendar day,
/// vega per vol point, as IB reports model greeks).
#[derive(Debug, Clone, PartialEq)]
pub struct OptionSnapshot {
    pub bid: f64,
    pub ask: f64,
    pub last: f64,
    pub volume: u64,
    pub open_interest: u64,
    pub implied_vol: f64,
    pub delta: f64,
    pub gamma: f64,
    pub vega: f64,
    pub theta: f64,
    pub model_price: f64,
    pub underlying_price: f64,
}

/// Listed expirations and strikes of an underlying's options.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionListing {
    pub expirations: Vec<NaiveDate>,
    pub strikes: Vec<f64>,
}

/// The market behind the fake gateway. Implementations must be
/// deterministic for a seed so that tests are repeatable.
pub trait MarketSource: Send {
    /// Moves the market forward to `now` (never backwards).
    fn advance_to(&mut self, now: DateTime<Utc>);
    /// Whether the symbol is a known underlying (unknown ones get IB error 200).
    fn is_listed(&self, symbol: &Symbol) -> bool;
    /// Current quote of an underlying.
    fn quote(&mut self, symbol: &Symbol) -> Option<UnderlyingQuote>;
    /// Expirations and strikes listed for the underlying.
    fn option_listing(&mut self, symbol: &Symbol) -> Option<OptionListing>;
    /// One option's snapshot; `None` when the contract is not listed.
    fn option(
        &mut self,
        symbol: &Symbol,
        expiry: NaiveDate,
        strike: f64,
        right: OptionRight,
    ) -> Option<OptionSnapshot>;
    /// The last `days` daily bars, oldest first.
    fn daily_bars(&mut self, symbol: &Symbol, days: u32) -> Vec<DailyBar>;
    /// Daily closes of the 30-day implied volatility over the last
    /// `calendar_days` days (at most 365), oldest first; empty when the
    /// market has none.
    fn iv_bars(&mut self, symbol: &Symbol, calendar_days: u32) -> Vec<(NaiveDate, f64)> {
        let _ = (symbol, calendar_days);
        Vec::new()
    }
    /// IB's dividends tick (59) text of an underlying,
    /// `past12m,next12m,nextDate(YYYYMMDD),nextAmount` (`0,0,,` for a
    /// non-payer); `None` when the market has no dividend data.
    fn dividends(&mut self, symbol: &Symbol) -> Option<String> {
        let _ = symbol;
        None
    }
}

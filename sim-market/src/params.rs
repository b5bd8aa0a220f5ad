//! Per-symbol simulation parameters: start price near the real-world level,
//! annual volatility, dividend yield, liquidity.

use sas_core::market::Symbol;

use crate::seed::{fnv1a, tag, unit};

/// How one underlying behaves in the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolParams {
    /// The symbol.
    pub symbol: Symbol,
    /// The level the daily path's log price reverts to (and its close on
    /// the session before the 2015 epoch); the market starts at the last
    /// session's close, which is anywhere in the band around it.
    pub start_price: f64,
    /// Long-run annualized volatility in the calm regime (0.15 = 15 %).
    pub annual_vol: f64,
    /// Continuous dividend yield.
    pub dividend_yield: f64,
    /// Average shares traded per day.
    pub avg_daily_volume: u64,
    /// Typical quoted spread in cents in calm markets.
    pub base_spread_cents: u32,
    /// Whether weekly (non-monthly Friday) option expiries are listed.
    pub weeklies: bool,
    /// Put skew strength: IV change per standard deviation of moneyness,
    /// relative to ATM IV (indices are steeper than single stocks).
    pub skew: f64,
}

/// Built-in table: (symbol, price, vol, dividend yield, ADV, spread cents,
/// 25-delta skew in vol points). Levels are rounded late-2025 figures; good
/// enough for a simulator. The last column is the 25-delta put-minus-call
/// skew at the symbol's mean implied volatility, as markets show it: about
/// 6 vol points for the index ETFs, about 3 for large single stocks
/// (TSLA's flatter, a bank's a little steeper); the surface's skew
/// parameter is derived from it ([`skew_for_points`]). In the surface the
/// skew in vol points scales with the ATM level, so it steepens when
/// volatility is high.
const TABLE: &[(&str, f64, f64, f64, u64, u32, f64)] = &[
    ("AAPL", 270.0, 0.25, 0.004, 50_000_000, 1, 3.0),
    ("MSFT", 510.0, 0.22, 0.007, 20_000_000, 2, 3.0),
    ("NVDA", 185.0, 0.45, 0.0003, 180_000_000, 1, 3.0),
    ("AMZN", 230.0, 0.30, 0.0, 40_000_000, 1, 3.0),
    ("GOOGL", 280.0, 0.28, 0.003, 30_000_000, 1, 3.0),
    ("META", 640.0, 0.35, 0.003, 12_000_000, 3, 3.0),
    ("TSLA", 430.0, 0.55, 0.0, 90_000_000, 2, 2.5),
    ("SPY", 670.0, 0.15, 0.012, 70_000_000, 1, 6.5),
    ("QQQ", 610.0, 0.19, 0.005, 45_000_000, 1, 6.0),
    ("IWM", 245.0, 0.21, 0.011, 30_000_000, 1, 5.5),
    ("DIA", 470.0, 0.15, 0.016, 4_000_000, 2, 6.0),
    ("AMD", 240.0, 0.50, 0.0, 60_000_000, 1, 3.0),
    ("NFLX", 1_100.0, 0.35, 0.0, 4_000_000, 5, 3.0),
    ("JPM", 300.0, 0.22, 0.019, 9_000_000, 2, 3.5),
];

/// The surface's skew parameter that gives a 25-delta put-minus-call skew
/// of `points` vol points at the mean 30-day ATM IV of a symbol with base
/// volatility `annual_vol` (the 25-delta strikes sit about ±0.67 standard
/// deviations from the forward, so the skew is `≈ 1.35 · skew · IV_atm`).
#[must_use]
pub fn skew_for_points(points: f64, annual_vol: f64) -> f64 {
    let mean_atm = crate::model::IMPLIED_PREMIUM * crate::model::mean_vol_multiplier() * annual_vol;
    let skew = points / 100.0 / (1.35 * mean_atm.max(1e-6));
    (skew * 1_000.0).round() / 1_000.0
}

impl SymbolParams {
    /// Parameters from the built-in table, or `None` for a symbol it lacks.
    #[must_use]
    pub fn builtin(symbol: &Symbol) -> Option<Self> {
        TABLE.iter().find(|row| row.0 == symbol.as_str()).map(
            |&(_, price, vol, q, adv, spread, skew_points)| Self {
                symbol: symbol.clone(),
                start_price: price,
                annual_vol: vol,
                dividend_yield: q,
                avg_daily_volume: adv,
                base_spread_cents: spread,
                weeklies: true,
                skew: skew_for_points(skew_points, vol),
            },
        )
    }

    /// Parameters for any symbol: the built-in row when there is one, else a
    /// plausible mid-cap profile derived from the symbol's name (stable, so
    /// the same name always behaves the same way).
    #[must_use]
    pub fn for_symbol(symbol: &Symbol) -> Self {
        if let Some(p) = Self::builtin(symbol) {
            return p;
        }
        let h = fnv1a(symbol.as_str());
        let u = |k: u64| unit(&[tag::PARAMS, h, k]);
        // Log-uniform price between $15 and $300.
        let start_price = (15.0_f64.ln() + u(1) * (300.0_f64 / 15.0).ln()).exp();
        let start_price = (start_price * 100.0).round() / 100.0;
        let annual_vol = 0.25 + 0.35 * u(2);
        Self {
            symbol: symbol.clone(),
            start_price,
            annual_vol,
            dividend_yield: if u(3) < 0.5 { 0.0 } else { 0.03 * u(4) },
            avg_daily_volume: 1_000_000 + (9_000_000.0 * u(5)) as u64,
            base_spread_cents: 2 + (u(6) * 4.0) as u32,
            weeklies: false,
            skew: skew_for_points(3.0, annual_vol),
        }
    }

    /// Standard deviation of `ln(close / start_price)` over the daily
    /// path's stationary distribution: the log price reverts to
    /// `ln(start_price)` with a one-year half-life, so the price stays
    /// within `start_price · e^(±3 sd)` 99.7 % of the time (SPY about
    /// ±0.48, TSLA about ±1.76; see `docs/sim-market.md`).
    #[must_use]
    pub fn log_price_sd(&self) -> f64 {
        crate::model::stationary_log_price_sd(self.annual_vol)
    }

    /// Symbols of the built-in table.
    pub fn builtin_symbols() -> impl Iterator<Item = &'static str> {
        TABLE.iter().map(|row| row.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_levels_are_realistic() {
        let spy = SymbolParams::builtin(&Symbol::parse("SPY").unwrap()).unwrap();
        let tsla = SymbolParams::builtin(&Symbol::parse("TSLA").unwrap()).unwrap();
        assert!((0.10..0.20).contains(&spy.annual_vol));
        assert!(tsla.annual_vol > 0.45);
        assert!(spy.dividend_yield > 0.0);
        // 6.5 vol points at SPY's mean IV, 2.5 at TSLA's: ≈ 1.35 · skew · IV.
        let mean_iv = |p: &SymbolParams| {
            crate::model::IMPLIED_PREMIUM * crate::model::mean_vol_multiplier() * p.annual_vol
        };
        assert!((1.35 * spy.skew * mean_iv(&spy) * 100.0 - 6.5).abs() < 0.05);
        assert!((1.35 * tsla.skew * mean_iv(&tsla) * 100.0 - 2.5).abs() < 0.05);
        assert!(spy.skew > 5.0 * tsla.skew);
        for s in sas_core::market::DEFAULT_WATCHLIST {
            assert!(
                SymbolParams::builtin(&Symbol::parse(s).unwrap()).is_some(),
                "{s} missing from the built-in table"
            );
        }
    }

    #[test]
    fn derived_params_are_stable_and_bounded() {
        let sym = Symbol::parse("ZZZQ").unwrap();
        let a = SymbolParams::for_symbol(&sym);
        let b = SymbolParams::for_symbol(&sym);
        assert_eq!(a, b);
        assert!((15.0..=300.0).contains(&a.start_price));
        assert!((0.25..=0.60).contains(&a.annual_vol));
        let other = SymbolParams::for_symbol(&Symbol::parse("ZZZR").unwrap());
        assert_ne!(a.start_price, other.start_price);
    }
}

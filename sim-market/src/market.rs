//! The stepped underlying market: prices, volatility regime, quotes.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sas_core::market::{DataType, Quote, Symbol};

use crate::calendar::{cumulative_volume_share, session_fraction};
use crate::params::SymbolParams;
use crate::seed::{fnv1a, rng_for, tag, unit};
use crate::SimError;

/// Seconds of trading time per year used to scale per-step volatility
/// (252 sessions of 6.5 hours). Simulated time runs around the clock, so a
/// simulated calendar day moves prices like roughly 3.7 trading days.
pub const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * 6.5 * 3600.0;

use crate::vol::{
    VolState, LOG_VOL_MAX, LOG_VOL_MIN, STRESS_ONSET_PER_YEAR, STRESS_RELIEF_PER_YEAR,
    VOL_MEAN_REVERSION, VOL_OF_VOL, VOL_PRICE_CORRELATION,
};
/// Volatility multiplier while stressed.
pub const STRESS_VOL_MULTIPLIER: f64 = crate::vol::STRESS_VOL_MULTIPLIER;

/// Configuration of a [`SimMarket`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every random stream in the market.
    pub seed: u64,
    /// Universe of the market. Built-in symbols get realistic parameters;
    /// others get a stable derived profile (see [`SymbolParams::for_symbol`]).
    pub symbols: Vec<Symbol>,
    /// Simulated time per step (for example one second).
    pub step: Duration,
    /// Simulated time of step 0.
    pub start: DateTime<Utc>,
    /// Continuously compounded risk-free rate used for drift and pricing.
    pub rate: f64,
}

impl SimConfig {
    /// One-second steps, a 4 % rate, starting at `start`.
    #[must_use]
    pub fn new(seed: u64, symbols: Vec<Symbol>, start: DateTime<Utc>) -> Self {
        Self {
            seed,
            symbols,
            step: Duration::from_secs(1),
            start,
            rate: 0.04,
        }
    }
}

/// Dynamic state of one underlying.
#[derive(Debug, Clone)]
struct SymbolState {
    params: SymbolParams,
    /// Stable hash of the symbol, used to seed per-symbol streams.
    key: u64,
    price: f64,
    /// log(vol / base vol), mean-reverting to 0.
    log_vol: f64,
    stressed: bool,
    rng: ChaCha8Rng,
}

impl SymbolState {
    fn new(config: &SimConfig, params: SymbolParams) -> Self {
        let seed = config.seed;
        let key = fnv1a(params.symbol.as_str());
        // The intraday path starts where the daily history ends: the close
        // and the volatility state of the last session before the start
        // (one model for history, path and surface; see
        // docs/sim-market.md).
        let (price, start) = crate::daily::last_session(seed, &params, config.start.date_naive())
            .map_or((params.start_price, VolState::default()), |d| {
                (d.bar.close, d.state)
            });
        let (log_vol, stressed) = (start.log_vol, start.stressed);
        Self {
            price,
            key,
            log_vol,
            stressed,
            rng: rng_for(&[tag::PATH, seed, key]),
            params,
        }
    }

    fn vol(&self) -> f64 {
        let regime = if self.stressed {
            STRESS_VOL_MULTIPLIER
        } else {
            1.0
        };
        self.params.annual_vol * self.log_vol.exp() * regime
    }

    fn step(&mut self, dt: f64, rate: f64) {
        let switch: f64 = self.rng.gen();
        let hazard = if self.stressed {
            STRESS_RELIEF_PER_YEAR
        } else {
            STRESS_ONSET_PER_YEAR
        };
        if switch < hazard * dt {
            self.stressed = !self.stressed;
        }
        let z_vol: f64 = self.rng.sample(StandardNormal);
        let z_ind: f64 = self.rng.sample(StandardNormal);
        let rho = VOL_PRICE_CORRELATION;
        let z_price = rho * z_vol + (1.0 - rho * rho).sqrt() * z_ind;
        let sigma = self.vol();
        let sqrt_dt = dt.sqrt();
        let drift = (rate - self.params.dividend_yield - 0.5 * sigma * sigma) * dt;
        self.price *= (drift + sigma * sqrt_dt * z_price).exp();
        self.log_vol += -VOL_MEAN_REVERSION * self.log_vol * dt + VOL_OF_VOL * sqrt_dt * z_vol;
        // Keep volatility within a sane band (0.3x .. 3x base before regime).
        self.log_vol = self.log_vol.clamp(LOG_VOL_MIN, LOG_VOL_MAX);
    }
}

/// A deterministic simulated market over a fixed universe.
///
/// The state after `n` steps is a pure function of `(config, n)`: every
/// symbol has its own seeded random stream, so adding a symbol to the universe
/// does not change the others' paths.
#[derive(Debug, Clone)]
pub struct SimMarket {
    config: SimConfig,
    /// Seconds of trading time per step, in years.
    dt_years: f64,
    step_index: u64,
    states: Vec<SymbolState>,
    index: HashMap<Symbol, usize>,
    /// Test controls per symbol: a price factor and a spread multiplier
    /// applied on top of the seeded path (see [`SimMarket::shift_price`]).
    overrides: HashMap<Symbol, Override>,
}

/// A test control's effect on one symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Override {
    price_factor: f64,
    spread_multiplier: f64,
}

/// One symbol's test controls, as [`SimMarket::overrides`] lists them and
/// [`SimMarket::restore_overrides`] takes them back (so a caller can keep
/// them across restarts).
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolOverride {
    /// The underlying.
    pub symbol: Symbol,
    /// Product of every [`SimMarket::shift_price`] factor (1 = the seeded path).
    pub price_factor: f64,
    /// The [`SimMarket::set_spread_multiplier`] value (1 = the seeded spreads).
    pub spread_multiplier: f64,
}

impl Default for Override {
    fn default() -> Self {
        Self {
            price_factor: 1.0,
            spread_multiplier: 1.0,
        }
    }
}

impl SimMarket {
    /// Builds the market at step 0. Fails when the step is zero, the rate is
    /// not finite, or the universe is empty.
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        let mut problems = Vec::new();
        if config.step.is_zero() {
            problems.push("step must be longer than zero".to_string());
        }
        if config.step > Duration::from_secs(86_400) {
            problems.push("step must be at most one day".to_string());
        }
        if !config.rate.is_finite() || config.rate.abs() > 0.5 {
            problems.push("rate must be a finite number between -0.5 and 0.5".to_string());
        }
        if config.symbols.is_empty() {
            problems.push("the symbol universe is empty".to_string());
        }
        if !problems.is_empty() {
            return Err(SimError::InvalidConfig(problems.join("; ")));
        }
        let mut index = HashMap::new();
        let mut states = Vec::new();
        for sym in &config.symbols {
            if index.contains_key(sym) {
                continue;
            }
            index.insert(sym.clone(), states.len());
            states.push(SymbolState::new(&config, SymbolParams::for_symbol(sym)));
        }
        Ok(Self {
            dt_years: config.step.as_secs_f64() / TRADING_SECONDS_PER_YEAR,
            config,
            step_index: 0,
            states,
            index,
            overrides: HashMap::new(),
        })
    }

    /// The configuration the market was built from.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Symbols of the universe, in configuration order without duplicates.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.states.iter().map(|s| &s.params.symbol)
    }

    /// Whether `symbol` is in the universe.
    #[must_use]
    pub fn has_symbol(&self, symbol: &Symbol) -> bool {
        self.index.contains_key(symbol)
    }

    /// Parameters of one symbol.
    pub fn params(&self, symbol: &Symbol) -> Result<&SymbolParams, SimError> {
        self.state(symbol).map(|s| &s.params)
    }

    fn state(&self, symbol: &Symbol) -> Result<&SymbolState, SimError> {
        self.index
            .get(symbol)
            .and_then(|&i| self.states.get(i))
            .ok_or_else(|| SimError::UnknownSymbol(symbol.to_string()))
    }

    /// The current step index.
    #[must_use]
    pub fn step_index(&self) -> u64 {
        self.step_index
    }

    /// Simulated time of a step.
    #[must_use]
    pub fn time_at(&self, step: u64) -> DateTime<Utc> {
        let nanos = self.config.step.as_nanos().saturating_mul(u128::from(step));
        let delta = i64::try_from(nanos)
            .map(TimeDelta::nanoseconds)
            .unwrap_or(TimeDelta::MAX);
        self.config
            .start
            .checked_add_signed(delta)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Simulated time of the current step.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.time_at(self.step_index)
    }

    /// The last step whose time is at or before `t` (0 before the start).
    #[must_use]
    pub fn step_at(&self, t: DateTime<Utc>) -> u64 {
        let Some(elapsed) = (t - self.config.start).num_nanoseconds() else {
            // Beyond ±292 years: clamp.
            return if t > self.config.start { u64::MAX } else { 0 };
        };
        if elapsed <= 0 {
            return 0;
        }
        let step = self.config.step.as_nanos().max(1);
        u64::try_from(elapsed.unsigned_abs() as u128 / step).unwrap_or(u64::MAX)
    }

    /// Moves the market to `step`. Moving backwards replays from step 0, so
    /// the state at a step never depends on how it was reached.
    pub fn advance_to(&mut self, step: u64) {
        if step < self.step_index {
            for st in &mut self.states {
                *st = SymbolState::new(&self.config, st.params.clone());
            }
            self.step_index = 0;
        }
        let n = step - self.step_index;
        let (dt, rate) = (self.dt_years, self.config.rate);
        for st in &mut self.states {
            for _ in 0..n {
                st.step(dt, rate);
            }
        }
        self.step_index = step;
    }

    /// Moves the market to the step of time `t` (never backwards).
    pub fn sync_to(&mut self, t: DateTime<Utc>) {
        let step = self.step_at(t);
        if step > self.step_index {
            self.advance_to(step);
        }
    }

    /// Current model (mid) price of the underlying (the seeded path times
    /// any price factor set by [`SimMarket::shift_price`]).
    pub fn spot(&self, symbol: &Symbol) -> Result<f64, SimError> {
        let factor = self.override_of(symbol).price_factor;
        self.state(symbol).map(|s| s.price * factor)
    }

    fn override_of(&self, symbol: &Symbol) -> Override {
        self.overrides.get(symbol).copied().unwrap_or_default()
    }

    /// Test control: moves the underlying by `pct` percent from here on (the
    /// seeded path continues, scaled). Deterministic: the same calls at the
    /// same steps give the same prices. Option prices follow the spot.
    pub fn shift_price(&mut self, symbol: &Symbol, pct: f64) -> Result<(), SimError> {
        self.state(symbol)?;
        if !pct.is_finite() || pct <= -90.0 || pct > 900.0 {
            return Err(SimError::InvalidInput {
                field: "move_pct",
                reason: "must be a finite percentage above -90 and at most 900".into(),
            });
        }
        let o = self.overrides.entry(symbol.clone()).or_default();
        o.price_factor *= 1.0 + pct / 100.0;
        Ok(())
    }

    /// Test control: multiplies the bid/ask spreads of the underlying and
    /// its options by `multiplier` (1 = the seeded spreads).
    pub fn set_spread_multiplier(
        &mut self,
        symbol: &Symbol,
        multiplier: f64,
    ) -> Result<(), SimError> {
        self.state(symbol)?;
        if !multiplier.is_finite() || !(1.0..=100.0).contains(&multiplier) {
            return Err(SimError::InvalidInput {
                field: "spread_multiplier",
                reason: "must be between 1 and 100".into(),
            });
        }
        self.overrides
            .entry(symbol.clone())
            .or_default()
            .spread_multiplier = multiplier;
        Ok(())
    }

    /// The spread multiplier set by [`SimMarket::set_spread_multiplier`].
    #[must_use]
    pub fn spread_multiplier(&self, symbol: &Symbol) -> f64 {
        self.override_of(symbol).spread_multiplier
    }

    /// Every symbol's test controls, sorted by symbol.
    #[must_use]
    pub fn overrides(&self) -> Vec<SymbolOverride> {
        let mut out: Vec<SymbolOverride> = self
            .overrides
            .iter()
            .map(|(symbol, o)| SymbolOverride {
                symbol: symbol.clone(),
                price_factor: o.price_factor,
                spread_multiplier: o.spread_multiplier,
            })
            .collect();
        out.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        out
    }

    /// Replaces every symbol's test controls with `overrides` (as listed by
    /// [`SimMarket::overrides`]). Checks all of them first: an unknown or
    /// repeated symbol, a price factor that is not a finite positive number
    /// or a spread multiplier outside 1..=100 is an error and changes nothing.
    pub fn restore_overrides(&mut self, overrides: &[SymbolOverride]) -> Result<(), SimError> {
        let mut restored = HashMap::with_capacity(overrides.len());
        for o in overrides {
            self.state(&o.symbol)?;
            if !o.price_factor.is_finite() || o.price_factor <= 0.0 {
                return Err(SimError::InvalidInput {
                    field: "price_factor",
                    reason: format!("{}: must be a finite number above 0", o.symbol),
                });
            }
            if !o.spread_multiplier.is_finite() || !(1.0..=100.0).contains(&o.spread_multiplier) {
                return Err(SimError::InvalidInput {
                    field: "spread_multiplier",
                    reason: format!("{}: must be between 1 and 100", o.symbol),
                });
            }
            let value = Override {
                price_factor: o.price_factor,
                spread_multiplier: o.spread_multiplier,
            };
            if restored.insert(o.symbol.clone(), value).is_some() {
                return Err(SimError::InvalidInput {
                    field: "symbol",
                    reason: format!("{} is listed twice", o.symbol),
                });
            }
        }
        self.overrides = restored;
        Ok(())
    }

    /// Close of the last session before the market's start date: where
    /// the intraday path started (the daily path's close; see
    /// [`SimMarket::daily_history`]). What a quote's "previous close" is.
    pub fn previous_close(&self, symbol: &Symbol) -> Result<f64, SimError> {
        let params = self.params(symbol)?;
        Ok(
            crate::daily::last_session(self.config.seed, params, self.config.start.date_naive())
                .map_or(params.start_price, |d| d.bar.close),
        )
    }

    /// Current annualized volatility of the underlying (base × stochastic
    /// factor × regime multiplier).
    pub fn current_vol(&self, symbol: &Symbol) -> Result<f64, SimError> {
        self.state(symbol).map(SymbolState::vol)
    }

    /// Whether the symbol is in the stressed regime.
    pub fn is_stressed(&self, symbol: &Symbol) -> Result<bool, SimError> {
        self.state(symbol).map(|s| s.stressed)
    }

    /// The risk-free rate of the market.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.config.rate
    }

    /// Top-of-book quote at the current step: cent bid/ask around the model
    /// price (wider when volatility is high), last inside the spread, and the
    /// day's cumulative volume at the simulated time.
    pub fn quote(&self, symbol: &Symbol) -> Result<Quote, SimError> {
        let st = self.state(symbol)?;
        let seed = self.config.seed;
        let step = self.step_index;
        let vol_ratio = (st.vol() / st.params.annual_vol).max(1.0);
        let jitter = unit(&[tag::SPREAD, seed, st.key, step]);
        let widen = if jitter < 0.15 { 1.0 } else { 0.0 };
        let o = self.override_of(symbol);
        let spread_cents = ((f64::from(st.params.base_spread_cents) * vol_ratio + widen)
            * o.spread_multiplier)
            .round()
            .max(1.0) as i64;
        let mid_cents = st.price * o.price_factor * 100.0;
        let bid_cents = ((mid_cents - spread_cents as f64 / 2.0).round() as i64).max(1);
        let ask_cents = bid_cents + spread_cents;
        let u = unit(&[tag::LAST, seed, st.key, step]);
        let last_cents = (bid_cents + (u * (spread_cents + 1) as f64) as i64).min(ask_cents);
        let timestamp = self.now();
        Ok(Quote {
            symbol: symbol.clone(),
            bid: bid_cents as f64 / 100.0,
            ask: ask_cents as f64 / 100.0,
            last: last_cents as f64 / 100.0,
            volume: self.cumulative_volume(st, timestamp),
            timestamp,
            data_type: DataType::Simulated,
        })
    }

    fn cumulative_volume(&self, st: &SymbolState, t: DateTime<Utc>) -> u64 {
        let Some(day) = crate::calendar::trading_date(t) else {
            return 0;
        };
        let day_key = u64::try_from(day.num_days_from_ce()).unwrap_or(0);
        let mut rng = rng_for(&[tag::DAY_VOLUME, self.config.seed, st.key, day_key]);
        let z: f64 = rng.sample(StandardNormal);
        let day_total = st.params.avg_daily_volume as f64 * (0.3 * z - 0.045).exp();
        let shares = day_total * cumulative_volume_share(session_fraction(t));
        (shares / 100.0).floor() as u64 * 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    fn market(seed: u64) -> SimMarket {
        let start = Utc.with_ymd_and_hms(2026, 11, 20, 14, 0, 0).unwrap();
        let symbols = sas_core::market::DEFAULT_WATCHLIST
            .iter()
            .map(|s| sym(s))
            .collect();
        SimMarket::new(SimConfig::new(seed, symbols, start)).unwrap()
    }

    #[test]
    fn controls_move_the_price_and_widen_spreads_deterministically() {
        let mut a = market(7);
        let mut b = market(7);
        a.advance_to(30);
        b.advance_to(30);
        let spy = sym("SPY");
        let before = a.spot(&spy).unwrap();
        let q0 = a.quote(&spy).unwrap();
        a.shift_price(&spy, -3.0).unwrap();
        assert!((a.spot(&spy).unwrap() / before - 0.97).abs() < 1e-12);
        a.set_spread_multiplier(&spy, 4.0).unwrap();
        let q1 = a.quote(&spy).unwrap();
        assert!(q1.ask - q1.bid >= 3.0 * (q0.ask - q0.bid) - 0.011);
        assert!(q1.bid < q0.bid * 0.98);
        // The seeded path continues under the factor; same calls, same prices.
        b.shift_price(&spy, -3.0).unwrap();
        b.set_spread_multiplier(&spy, 4.0).unwrap();
        a.advance_to(60);
        b.advance_to(60);
        assert_eq!(a.spot(&spy).unwrap(), b.spot(&spy).unwrap());
        assert!(a.shift_price(&spy, f64::NAN).is_err());
        assert!(a.set_spread_multiplier(&spy, 0.5).is_err());
        assert!(a.shift_price(&sym("ZZZZ"), 1.0).is_err());
    }

    #[test]
    fn overrides_are_listed_and_restored_exactly() {
        let mut a = market(7);
        let mut b = market(7);
        a.advance_to(30);
        b.advance_to(30);
        let (spy, qqq) = (sym("SPY"), sym("QQQ"));
        assert!(a.overrides().is_empty());
        a.shift_price(&spy, -3.0).unwrap();
        a.shift_price(&spy, 1.7).unwrap();
        a.set_spread_multiplier(&qqq, 2.5).unwrap();
        let listed = a.overrides();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].symbol, qqq);
        assert_eq!(listed[0].price_factor, 1.0);
        assert_eq!(listed[0].spread_multiplier, 2.5);
        assert_eq!(listed[1].symbol, spy);
        assert_eq!(
            listed[1].price_factor,
            (1.0 - 3.0 / 100.0) * (1.0 + 1.7 / 100.0)
        );
        b.restore_overrides(&listed).unwrap();
        assert_eq!(b.overrides(), listed);
        a.advance_to(90);
        b.advance_to(90);
        assert_eq!(a.quote(&spy).unwrap(), b.quote(&spy).unwrap());
        assert_eq!(a.quote(&qqq).unwrap(), b.quote(&qqq).unwrap());

        // A bad entry is refused and leaves the controls as they were.
        let mut bad = listed.clone();
        bad.push(SymbolOverride {
            symbol: sym("ZZZZ"),
            price_factor: 1.0,
            spread_multiplier: 1.0,
        });
        assert!(b.restore_overrides(&bad).is_err());
        let mut bad = listed.clone();
        bad[0].price_factor = 0.0;
        assert!(b.restore_overrides(&bad).is_err());
        let mut bad = listed.clone();
        bad[1].spread_multiplier = 0.5;
        assert!(b.restore_overrides(&bad).is_err());
        let twice = vec![listed[1].clone(), listed[1].clone()];
        assert!(b.restore_overrides(&twice).is_err());
        assert_eq!(b.overrides(), listed);
        b.restore_overrides(&[]).unwrap();
        assert!(b.overrides().is_empty());
    }

    #[test]
    fn same_seed_same_path_and_rewind_is_exact() {
        let mut a = market(7);
        let mut b = market(7);
        a.advance_to(5_000);
        b.advance_to(2_000);
        b.advance_to(5_000);
        assert_eq!(a.quote(&sym("TSLA")), b.quote(&sym("TSLA")));
        let q = a.quote(&sym("SPY")).unwrap();
        a.advance_to(10);
        a.advance_to(5_000);
        assert_eq!(a.quote(&sym("SPY")).unwrap(), q);
        let mut c = market(8);
        c.advance_to(5_000);
        assert_ne!(c.spot(&sym("SPY")), a.spot(&sym("SPY")));
    }

    #[test]
    fn universe_changes_do_not_move_other_paths() {
        let start = Utc.with_ymd_and_hms(2026, 11, 20, 14, 0, 0).unwrap();
        let mut small = SimMarket::new(SimConfig::new(3, vec![sym("AAPL")], start)).unwrap();
        let mut big =
            SimMarket::new(SimConfig::new(3, vec![sym("MSFT"), sym("AAPL")], start)).unwrap();
        small.advance_to(1_000);
        big.advance_to(1_000);
        assert_eq!(small.spot(&sym("AAPL")), big.spot(&sym("AAPL")));
    }

    #[test]
    fn quotes_have_cent_spreads_and_last_inside() {
        let mut m = market(11);
        for step in (0..20_000).step_by(997) {
            m.advance_to(step);
            for s in sas_core::market::DEFAULT_WATCHLIST {
                let q = m.quote(&sym(s)).unwrap();
                assert!(q.bid > 0.0 && q.bid < q.ask, "{q:?}");
                assert!(q.last >= q.bid && q.last <= q.ask, "{q:?}");
                let spread = q.ask - q.bid;
                assert!((0.0099..0.25).contains(&spread), "{s} spread {spread}");
                assert_eq!(q.data_type, DataType::Simulated);
            }
        }
    }

    #[test]
    fn liquid_names_quote_one_to_three_cents_in_calm_markets() {
        let mut checked = 0;
        for seed in 0..20 {
            let mut m = market(seed);
            for step in (0..2_000).step_by(97) {
                m.advance_to(step);
                for s in ["SPY", "QQQ", "AAPL", "NVDA", "MSFT"] {
                    let sym = sym(s);
                    let calm = !m.is_stressed(&sym).unwrap()
                        && m.current_vol(&sym).unwrap() <= m.params(&sym).unwrap().annual_vol;
                    if calm {
                        let q = m.quote(&sym).unwrap();
                        let cents = ((q.ask - q.bid) * 100.0).round() as i64;
                        assert!((1..=3).contains(&cents), "{s} seed {seed}: {q:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} calm quotes seen");
    }

    #[test]
    fn spreads_widen_when_volatility_is_high() {
        // Across seeds, stressed-regime quotes are wider on average than calm ones.
        let (mut calm, mut calm_n, mut stressed, mut stressed_n) = (0.0, 0, 0.0, 0);
        for seed in 0..200 {
            let m = market(seed);
            for s in sas_core::market::DEFAULT_WATCHLIST {
                let sym = sym(s);
                let q = m.quote(&sym).unwrap();
                let spread = (q.ask - q.bid) / f64::from(m.params(&sym).unwrap().base_spread_cents);
                if m.is_stressed(&sym).unwrap() {
                    stressed += spread;
                    stressed_n += 1;
                } else {
                    calm += spread;
                    calm_n += 1;
                }
            }
        }
        assert!(stressed_n > 10 && calm_n > 10, "{stressed_n} {calm_n}");
        assert!(stressed / f64::from(stressed_n) > 1.3 * calm / f64::from(calm_n));
    }

    #[test]
    fn volume_grows_through_the_session() {
        let mut m = market(5);
        // Start is 14:00 UTC, before the 14:30 open.
        assert_eq!(m.quote(&sym("AAPL")).unwrap().volume, 0);
        let mut prev = 0;
        for minutes in [45u64, 90, 180, 300, 390, 420] {
            m.advance_to(minutes * 60);
            let v = m.quote(&sym("AAPL")).unwrap().volume;
            assert!(v >= prev, "volume fell at {minutes} min");
            prev = v;
        }
        // After the close: a full day of AAPL-like volume.
        assert!((20_000_000..150_000_000).contains(&prev), "{prev}");
    }

    #[test]
    fn step_at_and_time_at_roundtrip() {
        let m = market(1);
        let t = m.time_at(1234);
        assert_eq!(m.step_at(t), 1234);
        assert_eq!(m.step_at(t + TimeDelta::milliseconds(999)), 1234);
        assert_eq!(m.step_at(m.config().start - TimeDelta::days(1)), 0);
    }

    #[test]
    fn unknown_symbol_and_bad_config_are_errors() {
        let m = market(1);
        assert_eq!(
            m.quote(&sym("ZZZZ")),
            Err(SimError::UnknownSymbol("ZZZZ".into()))
        );
        let mut cfg = m.config().clone();
        cfg.step = Duration::ZERO;
        cfg.symbols.clear();
        let err = SimMarket::new(cfg).unwrap_err().to_string();
        assert!(err.contains("step") && err.contains("empty"), "{err}");
    }

    #[test]
    fn realized_vol_matches_parameters_roughly() {
        // One-minute steps over ~2 trading years of simulated time for TSLA:
        // realized vol should land near its 55 % base (with regimes, 35-110 %).
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut cfg = SimConfig::new(42, vec![sym("TSLA")], start);
        cfg.step = Duration::from_secs(60);
        let mut m = SimMarket::new(cfg).unwrap();
        let mut prev = m.spot(&sym("TSLA")).unwrap();
        let mut sum_sq = 0.0;
        let n = 2 * 252 * 390;
        for i in 1..=n {
            m.advance_to(i);
            let p = m.spot(&sym("TSLA")).unwrap();
            sum_sq += (p / prev).ln().powi(2);
            prev = p;
        }
        let realized = (sum_sq / (n as f64 / (252.0 * 390.0))).sqrt();
        assert!((0.35..1.10).contains(&realized), "realized {realized}");
    }
}

//! Option chains priced from a volatility surface with Black-Scholes-Merton.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sas_core::analytics::bsm::{self, BsmInput};
use sas_core::market::{
    ChainExpiry, ChainWindow, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks, Symbol,
};

use crate::calendar::{
    cumulative_volume_share, friday_of_expiry, is_monthly_expiry, session_close, session_fraction,
};
use crate::market::SimMarket;
use crate::params::SymbolParams;
use crate::seed::{fnv1a, tag, unit};
use crate::SimError;

/// Weekly expiries are listed up to this many calendar days out.
pub const WEEKLY_HORIZON_DAYS: u32 = 63;
/// Every monthly expiry is listed up to this many days out; beyond it only
/// quarterly months (Mar, Jun, Sep, Dec) and January (LEAPS).
pub const MONTHLY_HORIZON_DAYS: u32 = 270;

/// Smile curvature (relative IV change per squared standard deviation).
const SMILE_CURVATURE: f64 = 0.03;
const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// Strike spacing by underlying price: $0.5 under $25, $1 under $100,
/// $2.5 under $250, $5 above.
#[must_use]
pub fn strike_step(spot: f64) -> f64 {
    if spot < 25.0 {
        0.5
    } else if spot < 100.0 {
        1.0
    } else if spot < 250.0 {
        2.5
    } else {
        5.0
    }
}

/// Expiry moment of an expiry date: that session's closing bell (16:00
/// New York, DST-aware; 13:00 on early-close days).
#[must_use]
pub fn expiry_close(expiry: NaiveDate) -> DateTime<Utc> {
    session_close(expiry)
}

/// Whether `date` is a listed expiry for a symbol as seen on `today`.
fn is_listed_expiry(params: &SymbolParams, date: NaiveDate, today: NaiveDate) -> bool {
    let Some(friday) = friday_of_expiry(date) else {
        return false;
    };
    if date < today {
        return false;
    }
    let dte = u32::try_from((date - today).num_days()).unwrap_or(u32::MAX);
    let monthly = is_monthly_expiry(date);
    if monthly {
        dte <= MONTHLY_HORIZON_DAYS || matches!(friday.month(), 1 | 3 | 6 | 9 | 12)
    } else {
        params.weeklies && dte <= WEEKLY_HORIZON_DAYS
    }
}

/// Calendar-time years from `now` to the expiry close, floored at one hour so
/// same-day expiries still price.
fn years_to_expiry(now: DateTime<Utc>, expiry: NaiveDate) -> f64 {
    let secs = (expiry_close(expiry) - now).num_seconds() as f64;
    secs.max(3_600.0) / SECONDS_PER_YEAR
}

impl SimMarket {
    /// Model implied volatility for `strike` and time `t_years`.
    ///
    /// ATM term structure: from the symbol's current volatility towards a
    /// long-run level 10 % above its base volatility (upward sloping when calm,
    /// inverted when stressed). Skew: IV rises as strikes fall
    /// (`1 - skew·m + 0.03·m²` with `m` the standardized log-moneyness), so
    /// out-of-the-money puts are richer than calls.
    pub fn model_iv(&self, symbol: &Symbol, strike: f64, t_years: f64) -> Result<f64, SimError> {
        let params = self.params(symbol)?;
        let spot = self.spot(symbol)?;
        let t = t_years.max(1e-6);
        let spot_vol = self.current_vol(symbol)?;
        let atm = crate::vol::atm_iv(params.annual_vol, spot_vol, t);
        let forward = spot * ((self.rate() - params.dividend_yield) * t).exp();
        let m = ((strike / forward).ln() / (atm * t.sqrt())).clamp(-4.0, 4.0);
        let factor = (1.0 - params.skew * m + SMILE_CURVATURE * m * m).clamp(0.5, 2.5);
        Ok(atm * factor)
    }

    /// Listed expiries of a symbol between `min_dte` and `max_dte` calendar
    /// days from `now` (monthlies on third Fridays, weeklies on other Fridays
    /// for symbols that list them), excluding any already expired.
    pub fn expiries(
        &self,
        symbol: &Symbol,
        min_dte: u32,
        max_dte: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<NaiveDate>, SimError> {
        let params = self.params(symbol)?;
        let today = now.date_naive();
        let mut out = Vec::new();
        for d in min_dte..=max_dte {
            let date = today + Duration::days(i64::from(d));
            if is_listed_expiry(params, date, today) && expiry_close(date) > now {
                out.push(date);
            }
        }
        Ok(out)
    }

    /// One contract's market at the current step. Fails for unlisted expiries
    /// and strikes off the $0.50 grid or far from spot.
    pub fn option_quote(
        &self,
        symbol: &Symbol,
        expiry: NaiveDate,
        strike: f64,
        right: OptionRight,
        now: DateTime<Utc>,
    ) -> Result<OptionQuote, SimError> {
        let params = self.params(symbol)?;
        let spot = self.spot(symbol)?;
        let today = now.date_naive();
        let listed = is_listed_expiry(params, expiry, today) && expiry_close(expiry) > now;
        let on_grid = strike.is_finite()
            && strike > 0.0
            && ((strike * 2.0).round() - strike * 2.0).abs() < 1e-9
            && strike >= spot * 0.25
            && strike <= spot * 4.0;
        if !listed || !on_grid {
            return Err(SimError::UnknownContract(format!(
                "{symbol} {expiry} {strike} {}",
                match right {
                    OptionRight::Call => "C",
                    OptionRight::Put => "P",
                }
            )));
        }
        Ok(self.price_contract(symbol, params, spot, expiry, strike, right, now))
    }

    /// An option-chain snapshot: expiries in the DTE window, the
    /// `window.strikes` strikes nearest spot per expiry, calls and puts.
    pub fn option_chain(
        &self,
        symbol: &Symbol,
        window: ChainWindow,
        now: DateTime<Utc>,
    ) -> Result<OptionChain, SimError> {
        window.validate().map_err(|e| SimError::InvalidInput {
            field: "window",
            reason: e.to_string(),
        })?;
        let params = self.params(symbol)?;
        let spot = self.spot(symbol)?;
        let today = now.date_naive();
        let strikes = nearest_strikes(spot, window.strikes as usize);
        let mut expiries = Vec::new();
        for expiry in self.expiries(symbol, window.min_dte, window.max_dte, now)? {
            let mut contracts = Vec::with_capacity(strikes.len() * 2);
            for &k in &strikes {
                for right in [OptionRight::Call, OptionRight::Put] {
                    contracts
                        .push(self.price_contract(symbol, params, spot, expiry, k, right, now));
                }
            }
            expiries.push(ChainExpiry {
                expiry,
                dte: u32::try_from((expiry - today).num_days()).unwrap_or(0),
                contracts,
            });
        }
        Ok(OptionChain {
            symbol: symbol.clone(),
            spot: (spot * 100.0).round() / 100.0,
            as_of: now,
            data_type: DataType::Simulated,
            dividend_yield: Some(params.dividend_yield),
            expiries,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn price_contract(
        &self,
        symbol: &Symbol,
        params: &SymbolParams,
        spot: f64,
        expiry: NaiveDate,
        strike: f64,
        right: OptionRight,
        now: DateTime<Utc>,
    ) -> OptionQuote {
        let t = years_to_expiry(now, expiry);
        let iv = self
            .model_iv(symbol, strike, t)
            .unwrap_or(params.annual_vol);
        let input = BsmInput {
            spot,
            strike,
            t_years: t,
            rate: self.rate(),
            div_yield: params.dividend_yield,
            vol: iv,
            right,
        };
        let (price, g) = bsm::price_and_greeks(&input);
        let dte = (expiry - now.date_naive()).num_days().max(0);
        let forward = input.forward();
        let m = ((strike / forward).ln() / (iv * t.sqrt())).abs();
        let intrinsic = match right {
            OptionRight::Call => (spot - strike).max(0.0),
            OptionRight::Put => (strike - spot).max(0.0),
        };
        let time_value = (price - intrinsic).max(0.0);

        // Spreads: liquid names trade in pennies, others in nickels above $3.
        let tick = if params.weeklies || price < 3.0 {
            0.01
        } else {
            0.05
        };
        let liquidity = if params.weeklies { 1.0 } else { 2.0 };
        let vol_ratio =
            (self.current_vol(symbol).unwrap_or(params.annual_vol) / params.annual_vol).max(1.0);
        let dated = if dte <= 7 {
            0.003
        } else if dte > 180 {
            0.004
        } else {
            0.0
        };
        let half = tick / 2.0
            + self.spread_multiplier(symbol)
                * liquidity
                * vol_ratio
                * (time_value * (0.004 + 0.006 * m.min(4.0)) + intrinsic * 0.001 + price * dated);
        let bid = (((price - half) / tick).floor() * tick).max(0.0);
        let ask = (((price + half) / tick).ceil() * tick).max(bid + tick);
        let (bid, ask) = (round_cents(bid), round_cents(ask));

        // Open interest and volume decay away from the money; monthlies hold
        // more open interest than weeklies.
        let key = fnv1a(symbol.as_str());
        let contract_key = [
            u64::try_from(expiry.num_days_from_ce()).unwrap_or(0),
            (strike * 100.0).round() as u64,
            u64::from(right == OptionRight::Call),
        ];
        let noise = |t: u64| {
            0.6 + 0.8
                * unit(&[
                    t,
                    self.config().seed,
                    key,
                    contract_key[0],
                    contract_key[1],
                    contract_key[2],
                ])
        };
        let base_oi = params.avg_daily_volume as f64 * 0.0005;
        let term = if is_monthly_expiry(expiry) { 1.0 } else { 0.45 };
        let oi = base_oi * term * (-0.5 * (m / 1.2).powi(2)).exp() * noise(tag::OPTION_OI);
        let session = cumulative_volume_share(session_fraction(now));
        let short_boost = if dte <= 14 { 1.5 } else { 1.0 };
        let volume = base_oi
            * 0.4
            * short_boost
            * (-0.5 * (m / 0.8).powi(2)).exp()
            * session
            * noise(tag::OPTION_VOL);
        let volume = volume.floor() as u64;
        let last = (volume > 0).then(|| round_cents(price).clamp(bid, ask));

        OptionQuote {
            strike,
            right,
            bid: Some(bid),
            ask: Some(ask),
            last,
            volume: Some(volume),
            open_interest: Some(oi.floor() as u64),
            greeks: SourceGreeks {
                iv: Some(iv),
                delta: Some(g.delta),
                gamma: Some(g.gamma),
                theta: Some(g.theta_per_day),
                vega: Some(g.vega_per_point),
            },
        }
    }
}

fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The `n` grid strikes nearest `spot`, ascending.
#[must_use]
pub fn nearest_strikes(spot: f64, n: usize) -> Vec<f64> {
    let step = strike_step(spot);
    let center = (spot / step).round() as i64;
    let half = n as i64 + 1;
    let mut ks: Vec<f64> = ((center - half)..=(center + half))
        .filter(|i| *i > 0)
        .map(|i| i as f64 * step)
        .collect();
    ks.sort_by(|a, b| (a - spot).abs().total_cmp(&(b - spot).abs()));
    ks.truncate(n);
    ks.sort_by(f64::total_cmp);
    ks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    fn market(seed: u64) -> SimMarket {
        let start = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
        let syms = sas_core::market::DEFAULT_WATCHLIST
            .iter()
            .map(|s| sym(s))
            .chain([sym("ZZZQ")])
            .collect();
        SimMarket::new(SimConfig::new(seed, syms, start)).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
    }

    #[test]
    fn expiries_are_fridays_with_monthlies_and_weeklies() {
        let m = market(1);
        let ex = m.expiries(&sym("SPY"), 0, 60, now()).unwrap();
        assert!(ex.iter().all(|d| friday_of_expiry(*d).is_some()));
        // Today's (monthly) expiry, then every Friday up to 60 days; the
        // Christmas and New Year's Fridays expire on the Thursdays before.
        assert_eq!(ex[0], NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        assert_eq!(ex.len(), 9);
        assert!(ex.contains(&NaiveDate::from_ymd_opt(2026, 12, 18).unwrap()));
        assert!(ex.contains(&NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()));
        assert!(ex.contains(&NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()));
        assert!(!ex.contains(&NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()));
        // A name without weeklies lists monthlies only.
        let mo = m.expiries(&sym("ZZZQ"), 0, 60, now()).unwrap();
        assert!(mo.iter().all(|d| is_monthly_expiry(*d)), "{mo:?}");
        assert_eq!(mo.len(), 3);
        // After the close the same-day expiry is gone.
        let late = Utc.with_ymd_and_hms(2026, 11, 20, 21, 30, 0).unwrap();
        let ex_late = m.expiries(&sym("SPY"), 0, 60, late).unwrap();
        assert_ne!(ex_late[0], ex[0]);
    }

    #[test]
    fn chain_window_and_strikes() {
        let m = market(2);
        let w = ChainWindow {
            min_dte: 7,
            max_dte: 60,
            strikes: 20,
        };
        let chain = m.option_chain(&sym("AAPL"), w, now()).unwrap();
        assert_eq!(chain.data_type, DataType::Simulated);
        assert!(!chain.expiries.is_empty());
        for e in &chain.expiries {
            assert!((7..=60).contains(&e.dte));
            assert_eq!(e.contracts.len(), 40);
            let strikes: Vec<f64> = e.contracts.iter().step_by(2).map(|c| c.strike).collect();
            let step = strike_step(chain.spot);
            assert!(strikes
                .windows(2)
                .all(|w| (w[1] - w[0] - step).abs() < 1e-9));
            assert!(strikes[0] < chain.spot && *strikes.last().unwrap() > chain.spot);
        }
        let bad = ChainWindow {
            min_dte: 9,
            max_dte: 3,
            strikes: 5,
        };
        assert!(matches!(
            m.option_chain(&sym("AAPL"), bad, now()),
            Err(SimError::InvalidInput { .. })
        ));
    }

    #[test]
    fn strike_grid_by_price_level() {
        assert_eq!(strike_step(12.0), 0.5);
        assert_eq!(strike_step(80.0), 1.0);
        assert_eq!(strike_step(185.0), 2.5);
        assert_eq!(strike_step(670.0), 5.0);
        assert_eq!(nearest_strikes(101.2, 3), vec![97.5, 100.0, 102.5]);
        assert_eq!(nearest_strikes(1.2, 4), vec![0.5, 1.0, 1.5, 2.0]);
    }

    #[test]
    fn skew_puts_richer_and_term_structure_up_when_calm() {
        let m = market(3);
        let s = sym("SPY");
        let spot = m.spot(&s).unwrap();
        let t = 30.0 / 365.0;
        let down = m.model_iv(&s, spot * 0.93, t).unwrap();
        let atm = m.model_iv(&s, spot, t).unwrap();
        let up = m.model_iv(&s, spot * 1.07, t).unwrap();
        assert!(down > atm && atm > up, "{down} {atm} {up}");
        let base = m.params(&s).unwrap().annual_vol;
        let spot_vol = m.current_vol(&s).unwrap();
        let short = m.model_iv(&s, spot, 7.0 / 365.0).unwrap();
        let long = m.model_iv(&s, spot, 1.0).unwrap();
        if spot_vol < base * crate::vol::mean_vol_multiplier() {
            assert!(long > short, "calm: {short} -> {long}");
        } else {
            assert!(long < short, "stressed: {short} -> {long}");
        }
    }

    #[test]
    fn greeks_signs_and_spreads_widen_away_from_money() {
        let m = market(4);
        let w = ChainWindow {
            min_dte: 20,
            max_dte: 40,
            strikes: 30,
        };
        let chain = m.option_chain(&sym("TSLA"), w, now()).unwrap();
        let e = &chain.expiries[0];
        let rel = |c: &OptionQuote| {
            let (b, a) = (c.bid.unwrap(), c.ask.unwrap());
            (a - b) / (0.5 * (a + b)).max(0.01)
        };
        let calls: Vec<&OptionQuote> = e
            .contracts
            .iter()
            .filter(|c| c.right == OptionRight::Call)
            .collect();
        let atm = calls
            .iter()
            .min_by(|a, b| {
                (a.strike - chain.spot)
                    .abs()
                    .total_cmp(&(b.strike - chain.spot).abs())
            })
            .unwrap();
        let far_otm = calls.last().unwrap();
        assert!(rel(far_otm) > rel(atm), "{far_otm:?} vs {atm:?}");
        assert!(far_otm.open_interest < atm.open_interest);
        for c in &e.contracts {
            let d = c.greeks.delta.unwrap();
            match c.right {
                OptionRight::Call => assert!((0.0..=1.0).contains(&d)),
                OptionRight::Put => assert!((-1.0..=0.0).contains(&d)),
            }
            assert!(c.greeks.gamma.unwrap() >= 0.0);
            assert!(c.greeks.vega.unwrap() >= 0.0);
            assert!(c.greeks.theta.unwrap() < 0.01);
            assert!(c.bid.unwrap() < c.ask.unwrap());
        }
    }

    #[test]
    fn short_and_long_dated_atm_spreads_are_wider_than_one_month() {
        let m = market(6);
        let s = sym("AAPL");
        let spot = m.spot(&s).unwrap();
        let k = nearest_strikes(spot, 1)[0];
        let rel = |days: i64| {
            // The first listed expiry on or after `days` from now.
            let mut d = now().date_naive() + Duration::days(days);
            while !m.expiries(&s, 0, 730, now()).unwrap().contains(&d) {
                d += Duration::days(1);
            }
            let q = m.option_quote(&s, d, k, OptionRight::Call, now()).unwrap();
            let (b, a) = (q.bid.unwrap(), q.ask.unwrap());
            (a - b) / (0.5 * (a + b))
        };
        let (short, month, long) = (rel(5), rel(28), rel(400));
        assert!(short > month, "short {short} vs month {month}");
        assert!(long > month, "long {long} vs month {month}");
    }

    #[test]
    fn option_quote_matches_chain_and_refuses_unlisted() {
        let m = market(5);
        let chain = m
            .option_chain(&sym("NVDA"), ChainWindow::default(), now())
            .unwrap();
        let e = &chain.expiries[1];
        let c = &e.contracts[7];
        let q = m
            .option_quote(&sym("NVDA"), e.expiry, c.strike, c.right, now())
            .unwrap();
        assert_eq!(&q, c);
        let thursday = e.expiry - Duration::days(1);
        assert!(matches!(
            m.option_quote(&sym("NVDA"), thursday, c.strike, c.right, now()),
            Err(SimError::UnknownContract(_))
        ));
        assert!(m
            .option_quote(&sym("NVDA"), e.expiry, c.strike + 0.3, c.right, now())
            .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn put_call_parity_on_mids_and_bid_le_ask(seed in any::<u64>(), steps in 0u64..50_000, which in 0usize..10) {
            let mut m = market(seed);
            m.advance_to(steps);
            let t_now = m.now();
            let s = sym(sas_core::market::DEFAULT_WATCHLIST[which]);
            let chain = m.option_chain(&s, ChainWindow { min_dte: 5, max_dte: 90, strikes: 10 }, t_now).unwrap();
            let q = chain.dividend_yield.unwrap();
            let spot = m.spot(&s).unwrap();
            for e in &chain.expiries {
                let t = years_to_expiry(t_now, e.expiry);
                for pair in e.contracts.chunks(2) {
                    let (c, p) = (&pair[0], &pair[1]);
                    prop_assert_eq!(c.right, OptionRight::Call);
                    prop_assert_eq!(p.right, OptionRight::Put);
                    for x in [c, p] {
                        prop_assert!(x.bid.unwrap() <= x.ask.unwrap());
                        prop_assert!(x.bid.unwrap() >= 0.0);
                    }
                    let mid = |x: &OptionQuote| 0.5 * (x.bid.unwrap() + x.ask.unwrap());
                    let lhs = mid(c) - mid(p);
                    let rhs = spot * (-q * t).exp() - c.strike * (-m.rate() * t).exp();
                    let tol = 0.5 * (c.ask.unwrap() - c.bid.unwrap() + p.ask.unwrap() - p.bid.unwrap()) + 0.011;
                    prop_assert!((lhs - rhs).abs() <= tol, "K={} lhs={} rhs={} tol={}", c.strike, lhs, rhs, tol);
                }
            }
        }
    }
}

//! Deterministic synthetic option chains (BSM prices with a linear skew and
//! a fixed quoted spread) for tests, benchmarks and dry runs. Not market data.

use chrono::{DateTime, Days, Utc};

use crate::analytics::bsm::{self, BsmInput, DAYS_PER_YEAR};
use crate::market::{
    ChainExpiry, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks, Symbol,
};

/// Shape of a synthetic chain.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticChainSpec {
    pub symbol: Symbol,
    pub spot: f64,
    pub as_of: DateTime<Utc>,
    /// ATM implied vol (decimal).
    pub atm_vol: f64,
    /// Skew: IV(K) = atm_vol + skew * -ln(K/S) + term, floored at 0.05
    /// (with 0.25, a strike 10% below spot gets about +2.6 vol points).
    pub skew: f64,
    /// IV (decimal) added per year of maturity (term slope).
    pub term_slope_per_year: f64,
    pub expiries_dte: Vec<u32>,
    /// Strikes per expiry, centred on spot.
    pub strikes: usize,
    pub strike_step: f64,
    pub rate: f64,
    pub div_yield: f64,
    /// Bid-ask width as a fraction of the option price (at least $0.02 wide).
    pub spread_fraction: f64,
    pub open_interest: u64,
    pub volume: u64,
}

impl SyntheticChainSpec {
    /// A liquid 20-strike × 4-expiry chain (14, 28, 42, 56 DTE) around `spot`.
    pub fn liquid(symbol: Symbol, spot: f64, as_of: DateTime<Utc>) -> Self {
        let step = if spot >= 300.0 {
            5.0
        } else if spot >= 100.0 {
            2.5
        } else {
            1.0
        };
        Self {
            symbol,
            spot,
            as_of,
            atm_vol: 0.28,
            skew: 0.25,
            term_slope_per_year: 0.0,
            expiries_dte: vec![14, 28, 42, 56],
            strikes: 20,
            strike_step: step,
            rate: 0.04,
            div_yield: 0.0,
            spread_fraction: 0.04,
            open_interest: 2_000,
            volume: 500,
        }
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Builds the chain: BSM mid at the skewed IV, bid/ask around it rounded to
/// cents, source IV and delta from the same BSM call.
pub fn synthetic_chain(spec: &SyntheticChainSpec) -> OptionChain {
    let step = if spec.strike_step > 0.0 {
        spec.strike_step
    } else {
        1.0
    };
    let centre = (spec.spot / step).round() * step;
    let half = i32::try_from(spec.strikes / 2).unwrap_or(0);
    let strikes: Vec<f64> = (0..i32::try_from(spec.strikes).unwrap_or(0))
        .map(|i| centre + f64::from(i - half) * step)
        .filter(|k| *k > 0.0)
        .collect();
    let expiries = spec
        .expiries_dte
        .iter()
        .map(|&dte| {
            let t = f64::from(dte) / DAYS_PER_YEAR;
            let mut contracts = Vec::with_capacity(strikes.len() * 2);
            for &k in &strikes {
                let vol = (spec.atm_vol
                    + spec.skew * -(k / spec.spot).ln()
                    + spec.term_slope_per_year * t)
                    .max(0.05);
                for right in [OptionRight::Call, OptionRight::Put] {
                    let (p, g) = bsm::price_and_greeks(&BsmInput {
                        spot: spec.spot,
                        strike: k,
                        t_years: t,
                        rate: spec.rate,
                        div_yield: spec.div_yield,
                        vol,
                        right,
                    });
                    let half_width = (0.5 * spec.spread_fraction * p).max(0.01);
                    let bid = cents((p - half_width).max(0.0));
                    let ask = cents(p + half_width).max(bid + 0.01);
                    contracts.push(OptionQuote {
                        strike: k,
                        right,
                        bid: Some(bid),
                        ask: Some(ask),
                        last: Some(cents(p)),
                        volume: Some(spec.volume),
                        open_interest: Some(spec.open_interest),
                        greeks: SourceGreeks {
                            iv: Some(vol),
                            delta: Some(g.delta),
                            gamma: Some(g.gamma),
                            theta: Some(g.theta_per_day),
                            vega: Some(g.vega_per_point),
                        },
                    });
                }
            }
            ChainExpiry {
                expiry: spec
                    .as_of
                    .date_naive()
                    .checked_add_days(Days::new(u64::from(dte)))
                    .unwrap_or(spec.as_of.date_naive()),
                dte,
                contracts,
            }
        })
        .collect();
    OptionChain {
        symbol: spec.symbol.clone(),
        spot: spec.spot,
        as_of: spec.as_of,
        data_type: DataType::Simulated,
        dividend_yield: Some(spec.div_yield),
        expiries,
    }
}

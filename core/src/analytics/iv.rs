//! Implied volatility from an option's present value, with a typed reason when
//! no volatility reproduces the price.
//!
//! The inversion is Peter Jäckel's "Let's Be Rational" as implemented by the
//! `implied-vol` crate (default hybrid solver), which works on the
//! *undiscounted* Black price of the forward. The BSM inputs map to it as
//! `F = S·e^((r-q)T)` and `undiscounted = price·e^(rT)`; the result is the same
//! σ that [`crate::analytics::bsm::price`] needs to reproduce `price`.

use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatilityNormalised};
use serde::{Deserialize, Serialize};

use crate::analytics::bsm::{price_and_greeks_prepared, BsmInput, ForwardFactors, Greeks, MAX_VOL};
use crate::market::OptionRight;

/// Inputs of an implied-volatility inversion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IvInput {
    /// Observed present value of the option (e.g. the quote mid).
    pub price: f64,
    pub spot: f64,
    pub strike: f64,
    /// Calendar time to expiry in years (ACT/365), `> 0`.
    pub t_years: f64,
    /// Continuously compounded risk-free rate.
    pub rate: f64,
    /// Continuously compounded dividend yield.
    pub div_yield: f64,
    pub right: OptionRight,
}

/// Why a price has no implied volatility. Never a NaN, never a clamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IvFailure {
    /// An input is NaN or infinite, or the forward / undiscounted price
    /// overflows.
    NonFinite,
    /// Price is negative, or spot or strike is zero or negative.
    NonPositiveInput,
    /// Time to expiry is zero or negative (expired).
    NonPositiveTime,
    /// An input, or the implied volatility found, lies outside the domain of
    /// [`BsmInput::validate`] (e.g. strike above 1e100, σ above 10,000 %), so
    /// no greeks could be computed at it.
    OutOfDomain,
    /// The price is below the (forward) intrinsic value: no volatility fits.
    BelowIntrinsic,
    /// The price equals the intrinsic value (or is too close to it to carry
    /// information): the implied volatility would be 0.
    ZeroTimeValue,
    /// The price is at or above the no-arbitrage upper bound (the discounted
    /// forward for a call, the discounted strike for a put).
    AboveUpperBound,
    /// The solver found no volatility although the price is inside the
    /// bounds (rounding at the extremes of the price range).
    NoSolution,
}

impl IvFailure {
    /// Every variant, for counting tables.
    pub const ALL: [IvFailure; 8] = [
        IvFailure::NonFinite,
        IvFailure::NonPositiveInput,
        IvFailure::NonPositiveTime,
        IvFailure::OutOfDomain,
        IvFailure::BelowIntrinsic,
        IvFailure::ZeroTimeValue,
        IvFailure::AboveUpperBound,
        IvFailure::NoSolution,
    ];

    /// Stable snake_case code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            IvFailure::NonFinite => "non_finite",
            IvFailure::NonPositiveInput => "non_positive_input",
            IvFailure::NonPositiveTime => "non_positive_time",
            IvFailure::OutOfDomain => "out_of_domain",
            IvFailure::BelowIntrinsic => "below_intrinsic",
            IvFailure::ZeroTimeValue => "zero_time_value",
            IvFailure::AboveUpperBound => "above_upper_bound",
            IvFailure::NoSolution => "no_solution",
        }
    }
}

impl std::fmt::Display for IvFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Implied volatility (annualized, decimal) of a European option price.
///
/// Order of checks: non-finite inputs, non-positive spot/strike/price,
/// non-positive time, the [`BsmInput::validate`] domain, overflow of the forward, upper bound, intrinsic value,
/// then the solver. A positive finite σ is returned only when the solver
/// converged; every other outcome is a typed [`IvFailure`].
pub fn implied_vol(input: &IvInput) -> Result<f64, IvFailure> {
    implied_vol_prepared(input).map(|(iv, _)| iv)
}

/// [`implied_vol`], also returning the exponentials it computed.
#[inline]
fn implied_vol_prepared(input: &IvInput) -> Result<(f64, ForwardFactors), IvFailure> {
    let IvInput {
        price,
        spot,
        strike,
        t_years,
        rate,
        div_yield,
        right,
    } = *input;
    if ![price, spot, strike, t_years, rate, div_yield]
        .iter()
        .all(|v| v.is_finite())
    {
        return Err(IvFailure::NonFinite);
    }
    if price < 0.0 || spot <= 0.0 || strike <= 0.0 {
        return Err(IvFailure::NonPositiveInput);
    }
    if t_years <= 0.0 {
        return Err(IvFailure::NonPositiveTime);
    }
    let domain = BsmInput {
        spot,
        strike,
        t_years,
        rate,
        div_yield,
        vol: 0.0,
        right,
    };
    if domain.validate().is_err() {
        return Err(IvFailure::OutOfDomain);
    }
    let factors = ForwardFactors::new(spot, strike, rate, div_yield, t_years);
    let forward = factors.forward;
    let undiscounted = price / factors.rate_df;
    if !(forward.is_finite() && forward > 0.0 && undiscounted.is_finite()) {
        return Err(IvFailure::NonFinite);
    }
    let is_call = right == OptionRight::Call;
    let (intrinsic, cap) = if is_call {
        ((forward - strike).max(0.0), forward)
    } else {
        ((strike - forward).max(0.0), strike)
    };
    if undiscounted >= cap {
        return Err(IvFailure::AboveUpperBound);
    }
    let time_value = undiscounted - intrinsic;
    if time_value < 0.0 {
        return Err(IvFailure::BelowIntrinsic);
    }
    if time_value == 0.0 {
        return Err(IvFailure::ZeroTimeValue);
    }
    // Let's Be Rational on the normalised problem: x = -|ln(F/K)| and the
    // out-of-the-money price β = time value / √(F·K); σ = total vol / √T.
    let beta = time_value / (forward.sqrt() * strike.sqrt());
    let Some(solver) = ImpliedBlackVolatilityNormalised::builder()
        .log_moneyness(-factors.log_moneyness.abs())
        .normalised_price(beta)
        .build()
    else {
        return Err(IvFailure::NonFinite);
    };
    let total_vol = solver.calculate::<DefaultSpecialFn>();
    match total_vol.map(|v| v / factors.sqrt_t) {
        Some(v) if v.is_finite() && v > MAX_VOL => Err(IvFailure::OutOfDomain),
        Some(v) if v.is_finite() && v > 0.0 => Ok((v, factors)),
        Some(0.0) => Err(IvFailure::ZeroTimeValue),
        Some(v) if v.is_infinite() => Err(IvFailure::AboveUpperBound),
        _ => Err(IvFailure::NoSolution),
    }
}

/// Implied volatility plus the five greeks evaluated at it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IvGreeks {
    pub iv: f64,
    pub greeks: Greeks,
}

/// [`implied_vol()`] followed by the greeks at the implied volatility (as
/// [`crate::analytics::bsm::price_and_greeks`] computes them, reusing the
/// inversion's forward and discount factor).
pub fn implied_vol_and_greeks(input: &IvInput) -> Result<IvGreeks, IvFailure> {
    let (iv, factors) = implied_vol_prepared(input)?;
    // The inversion checked the BsmInput domain, and iv <= MAX_VOL.
    let (_, greeks) = price_and_greeks_prepared(
        &BsmInput {
            spot: input.spot,
            strike: input.strike,
            t_years: input.t_years,
            rate: input.rate,
            div_yield: input.div_yield,
            vol: iv,
            right: input.right,
        },
        &factors,
    );
    Ok(IvGreeks { iv, greeks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::bsm::{price, price_and_greeks};

    fn bsm(vol: f64, right: OptionRight) -> BsmInput {
        BsmInput {
            spot: 100.0,
            strike: 110.0,
            t_years: 0.25,
            rate: 0.04,
            div_yield: 0.015,
            vol,
            right,
        }
    }

    fn iv_input(b: &BsmInput, price: f64) -> IvInput {
        IvInput {
            price,
            spot: b.spot,
            strike: b.strike,
            t_years: b.t_years,
            rate: b.rate,
            div_yield: b.div_yield,
            right: b.right,
        }
    }

    #[test]
    fn round_trips_calls_and_puts_with_dividends() {
        for right in [OptionRight::Call, OptionRight::Put] {
            for vol in [0.05, 0.2, 0.8, 2.0] {
                let b = bsm(vol, right);
                let iv = implied_vol(&iv_input(&b, price(&b))).unwrap();
                assert!((iv - vol).abs() < 1e-12, "{right:?} {vol} -> {iv}");
            }
        }
    }

    #[test]
    fn typed_failures() {
        let b = bsm(0.2, OptionRight::Put);
        let f = b.strike * (-b.rate * b.t_years).exp();
        let fwd_intrinsic = f - b.spot * (-b.div_yield * b.t_years).exp();
        let cases = [
            (f64::NAN, IvFailure::NonFinite),
            (-1.0, IvFailure::NonPositiveInput),
            (fwd_intrinsic - 0.01, IvFailure::BelowIntrinsic),
            (f * (1.0 + 1e-9), IvFailure::AboveUpperBound),
            (f + 1.0, IvFailure::AboveUpperBound),
        ];
        for (p, want) in cases {
            assert_eq!(implied_vol(&iv_input(&b, p)), Err(want), "price {p}");
        }
        let mut expired = iv_input(&b, 5.0);
        expired.t_years = 0.0;
        assert_eq!(implied_vol(&expired), Err(IvFailure::NonPositiveTime));
        let otm_call = iv_input(&bsm(0.2, OptionRight::Call), 0.0);
        assert_eq!(implied_vol(&otm_call), Err(IvFailure::ZeroTimeValue));
        let mut no_spot = iv_input(&b, 5.0);
        no_spot.spot = 0.0;
        assert_eq!(implied_vol(&no_spot), Err(IvFailure::NonPositiveInput));
    }

    #[test]
    fn greeks_at_the_implied_vol() {
        let b = bsm(0.3, OptionRight::Call);
        let got = implied_vol_and_greeks(&iv_input(&b, price(&b))).unwrap();
        let (_, want) = price_and_greeks(&b);
        assert!((got.iv - 0.3).abs() < 1e-12);
        assert!((got.greeks.delta - want.delta).abs() < 1e-12);
        assert!((got.greeks.vega_per_point - want.vega_per_point).abs() < 1e-12);
    }
}

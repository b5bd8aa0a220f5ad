//! Black-Scholes-Merton pricing and greeks for European options on an
//! underlying paying a continuous dividend yield.
//!
//! Conventions (also in `docs/analytics.md`):
//! - `t_years` is calendar time to expiry in years (ACT/365).
//! - `rate` and `div_yield` are continuously compounded annual rates (0.05 = 5 %).
//! - `vol` is annualized volatility as a decimal (0.20 = 20 %).
//! - `theta_per_day` is the change in value when one calendar day passes
//!   (`-dV/dT / 365`); it is usually negative for a long option.
//! - `vega_per_point` and `rho_per_point` are the value change for a 1-point
//!   (0.01) rise in volatility and in the rate respectively.
//!
//! Degenerate but valid inputs (`t_years == 0` or `vol == 0`, i.e. zero total
//! variance, or σ√T at most [`MIN_TOTAL_VOL`]) give the deterministic limit: the discounted intrinsic value of
//! the forward, delta 0 or ±e^(-qT), gamma 0 and vega 0. Inputs outside the
//! domain of [`BsmInput::validate`] (non-finite numbers, `spot <= 0`,
//! `vol < 0`, `t_years < 0`, or values so extreme that the forward would
//! overflow) give NaN from the raw functions instead of a panic; inside the
//! domain every output is finite.

use implied_vol::{DefaultSpecialFn, SpecialFn};
use serde::{Deserialize, Serialize};

use crate::market::OptionRight;

/// Calendar days per year used for `t_years` and for theta per day.
pub const DAYS_PER_YEAR: f64 = 365.0;

/// Total volatility σ√T at or below which the option is valued as with zero
/// variance (discounted forward intrinsic, gamma = vega = 0): below it the
/// time value is under 1e-12 of the underlying and gamma would overflow.
pub const MIN_TOTAL_VOL: f64 = 1e-12;
/// Smallest spot or strike accepted.
pub const MIN_PRICE: f64 = 1e-100;
/// Largest spot or strike accepted.
pub const MAX_PRICE: f64 = 1e100;
/// Longest time to expiry accepted, in years.
pub const MAX_T_YEARS: f64 = 100.0;
/// Largest volatility accepted (10,000 %).
pub const MAX_VOL: f64 = 100.0;
/// Largest absolute rate or dividend yield accepted (100 %).
pub const MAX_ABS_RATE: f64 = 1.0;

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Standard normal cumulative distribution function Φ(x).
///
/// Uses the erfc-based implementation of the `implied-vol` crate (W. J. Cody's
/// rational approximations, with an asymptotic expansion below -10), which is
/// accurate to a few ulps in relative terms over the whole real line, including
/// the far tails where `1 - Φ(-x)` would lose every digit.
#[inline]
#[must_use]
pub fn norm_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    <DefaultSpecialFn as SpecialFn>::norm_cdf(x)
}

/// Φ(x) given `gauss = e^(-x²/2)`, which the caller already has (it is
/// √(2π)·φ(x)). Beyond |x| > 0.66 this uses the scaled complementary error
/// function, `Φ(-|x|) = erfcx(|x|/√2)·e^(-x²/2)/2`, instead of `erfc`, which
/// would evaluate two more exponentials internally; near zero it is the
/// plain (exponential-free) erfc series. Relative error stays within a few
/// ×1e-15 in the tails (from rounding of the exponent x²/2).
#[inline]
fn norm_cdf_from_gauss(x: f64, gauss: f64) -> f64 {
    const ERFC_SERIES_LIMIT: f64 = 0.46875;
    let y = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    if y <= ERFC_SERIES_LIMIT || y.is_nan() {
        return norm_cdf(x);
    }
    let tail = 0.5 * <DefaultSpecialFn as SpecialFn>::erfcx(y) * gauss;
    if x < 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// Standard normal probability density function φ(x).
#[inline]
#[must_use]
pub fn norm_pdf(x: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Inputs of one Black-Scholes-Merton valuation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BsmInput {
    /// Spot price of the underlying, `> 0`.
    pub spot: f64,
    /// Strike, `> 0`.
    pub strike: f64,
    /// Calendar time to expiry in years, `>= 0`.
    pub t_years: f64,
    /// Continuously compounded risk-free rate (may be negative).
    pub rate: f64,
    /// Continuously compounded dividend yield (may be negative, e.g. borrow).
    pub div_yield: f64,
    /// Annualized volatility, `>= 0`.
    pub vol: f64,
    /// Call or put.
    pub right: OptionRight,
}

/// Why a [`BsmInput`] cannot be valued (see [`BsmInput::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BsmInputError {
    /// A field is NaN or infinite.
    #[error("{0} is not a finite number")]
    NonFinite(&'static str),
    /// A field is outside the accepted domain (e.g. spot <= 0, vol < 0).
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
}

impl BsmInput {
    /// Checks that every field is finite and inside the domain where every
    /// intermediate is representable: spot and strike in
    /// [`MIN_PRICE`]..=[`MAX_PRICE`], `0 <= t_years <= MAX_T_YEARS`,
    /// `0 <= vol <= MAX_VOL`, `|rate|` and `|div_yield|` at most
    /// [`MAX_ABS_RATE`]. Inside it, price and greeks are finite.
    pub fn validate(&self) -> Result<(), BsmInputError> {
        let fields = [
            ("spot", self.spot),
            ("strike", self.strike),
            ("t_years", self.t_years),
            ("rate", self.rate),
            ("div_yield", self.div_yield),
            ("vol", self.vol),
        ];
        for (name, v) in fields {
            if !v.is_finite() {
                return Err(BsmInputError::NonFinite(name));
            }
        }
        let positive = MIN_PRICE..=MAX_PRICE;
        if !positive.contains(&self.spot) {
            return Err(BsmInputError::OutOfRange("spot"));
        }
        if !positive.contains(&self.strike) {
            return Err(BsmInputError::OutOfRange("strike"));
        }
        if !(0.0..=MAX_T_YEARS).contains(&self.t_years) {
            return Err(BsmInputError::OutOfRange("t_years"));
        }
        if !(0.0..=MAX_VOL).contains(&self.vol) {
            return Err(BsmInputError::OutOfRange("vol"));
        }
        if self.rate.abs() > MAX_ABS_RATE {
            return Err(BsmInputError::OutOfRange("rate"));
        }
        if self.div_yield.abs() > MAX_ABS_RATE {
            return Err(BsmInputError::OutOfRange("div_yield"));
        }
        Ok(())
    }

    /// Forward price `S·e^((r-q)T)`.
    #[must_use]
    pub fn forward(&self) -> f64 {
        self.spot * ((self.rate - self.div_yield) * self.t_years).exp()
    }
}

/// Sensitivities of one option, in trader units (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Greeks {
    /// dV/dS.
    pub delta: f64,
    /// d²V/dS².
    pub gamma: f64,
    /// Value change over one calendar day (`-dV/dT / 365`).
    pub theta_per_day: f64,
    /// Value change for +0.01 volatility.
    pub vega_per_point: f64,
    /// Value change for +0.01 rate.
    pub rho_per_point: f64,
}

/// The forward-side quantities every valuation needs: two exponentials, the
/// log-moneyness and √T. The IV inversion computes them too and hands them
/// on, so "IV + greeks" evaluates each once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForwardFactors {
    /// e^(-rT)
    pub rate_df: f64,
    /// e^((r-q)T), so that F = S·growth
    pub growth: f64,
    /// F = S·e^((r-q)T)
    pub forward: f64,
    /// ln(F/K), accurate also when F and K are close
    pub log_moneyness: f64,
    /// √T
    pub sqrt_t: f64,
}

impl ForwardFactors {
    #[inline]
    pub(crate) fn new(spot: f64, strike: f64, rate: f64, div_yield: f64, t_years: f64) -> Self {
        let growth = ((rate - div_yield) * t_years).exp();
        let forward = spot * growth;
        Self {
            rate_df: (-rate * t_years).exp(),
            growth,
            forward,
            log_moneyness: log_ratio(forward, strike),
            sqrt_t: t_years.sqrt(),
        }
    }
}

/// ln(a/b) for positive a, b. When they are within a factor of two the
/// difference is exact (Sterbenz), so `ln_1p(|a-b|/min)` keeps the small log
/// accurate to the last bits instead of inheriting the rounding of `a/b`.
#[inline]
fn log_ratio(a: f64, b: f64) -> f64 {
    let (small, large) = if a < b { (a, b) } else { (b, a) };
    let magnitude = if small >= 0.5 * large {
        ((large - small) / small).ln_1p()
    } else {
        let ratio = large / small;
        if ratio.is_finite() {
            ratio.ln()
        } else {
            large.ln() - small.ln()
        }
    };
    if a < b {
        -magnitude
    } else {
        magnitude
    }
}

/// Shared intermediates of one valuation: computed once, used by the price and
/// all five greeks.
struct Intermediates {
    /// S·e^(-qT)
    spot_disc: f64,
    /// K·e^(-rT)
    strike_disc: f64,
    /// e^(-qT)
    div_df: f64,
    /// e^(-rT)
    rate_df: f64,
    /// σ√T
    total_vol: f64,
    /// 1/(σ√T)
    inv_total_vol: f64,
    /// Φ(ω·d1), Φ(ω·d2) for this option's side ω (+1 call, -1 put).
    cdf_d1: f64,
    cdf_d2: f64,
    /// φ(d1)
    pdf_d1: f64,
    /// ω: +1 call, -1 put
    sign: f64,
    /// Undiscounted Black value on the forward, `F·Φ(ωd1) - K·Φ(ωd2)` times ω,
    /// computed without cancellation (see [`intermediates`]).
    black: f64,
}

/// Computes the shared intermediates.
///
/// Precision: a deep in-the-money option's value `ω(F·Φ(ωd1) - K·Φ(ωd2))`
/// subtracts two large, rounded products and loses the last bits of its
/// small time value, which is exactly what an implied-volatility inversion
/// needs. So the CDFs are always evaluated on the OUT-of-the-money side
/// (small, accurate values), the out-of-the-money value is formed from them,
/// and the in-the-money value is `forward intrinsic + that time value` (put-call
/// parity); the in-the-money CDFs for the greeks are `1 - Φ(-ωd)`. Same
/// number of CDF evaluations either way. The forward and the discount factor
/// are formed exactly as the IV inversion forms them, so price → IV round
/// trips see the same rounding.
#[inline]
fn intermediates(i: &BsmInput, f: &ForwardFactors) -> Intermediates {
    let sign = match i.right {
        OptionRight::Call => 1.0,
        OptionRight::Put => -1.0,
    };
    let total_vol = i.vol * f.sqrt_t;
    let inv_total_vol = 1.0 / total_vol;
    let rate_df = f.rate_df;
    let forward = f.forward;
    // e^(-qT) = e^(-rT)·e^((r-q)T): one exponential fewer.
    let div_df = rate_df * f.growth;
    let spot_disc = i.spot * div_df;
    let strike_disc = i.strike * rate_df;
    let intrinsic = sign * (forward - i.strike);
    let (cdf_d1, cdf_d2, pdf_d1, black) = if total_vol > MIN_TOTAL_VOL {
        let log_moneyness = f.log_moneyness;
        let d1 = log_moneyness * inv_total_vol + 0.5 * total_vol;
        let d2 = d1 - total_vol;
        let gauss1 = (-0.5 * d1 * d1).exp();
        // e^(-d2²/2) = e^(-d1²/2)·F/K exactly; the product saves an
        // exponential while d1 is moderate (the exponent's rounding, d1²/2·ε,
        // then stays below 4e-15 relative).
        let gauss2 = if d1.abs() < 8.0 {
            gauss1 * (forward / i.strike)
        } else {
            (-0.5 * d2 * d2).exp()
        };
        let pdf_d1 = FRAC_1_SQRT_2PI * gauss1;
        if sign * log_moneyness > 0.0 {
            // In the money: the counterpart (side -ω) is out of the money.
            let n1 = norm_cdf_from_gauss(-sign * d1, gauss1);
            let n2 = norm_cdf_from_gauss(-sign * d2, gauss2);
            let time_value = (-sign * (forward * n1 - i.strike * n2)).max(0.0);
            (1.0 - n1, 1.0 - n2, pdf_d1, intrinsic.max(0.0) + time_value)
        } else {
            let n1 = norm_cdf_from_gauss(sign * d1, gauss1);
            let n2 = norm_cdf_from_gauss(sign * d2, gauss2);
            let value = (sign * (forward * n1 - i.strike * n2)).max(0.0);
            (n1, n2, pdf_d1, value)
        }
    } else {
        // Zero total variance: the option pays the discounted intrinsic value
        // of the forward. Φ(±d) is a step at F = K (0.5 exactly at the money).
        let step = if intrinsic > 0.0 {
            1.0
        } else if intrinsic < 0.0 {
            0.0
        } else if intrinsic == 0.0 {
            0.5
        } else {
            f64::NAN
        };
        (step, step, 0.0, intrinsic.max(0.0))
    };
    Intermediates {
        spot_disc,
        strike_disc,
        div_df,
        rate_df,
        total_vol,
        inv_total_vol,
        cdf_d1,
        cdf_d2,
        pdf_d1,
        sign,
        black,
    }
}

#[inline]
fn price_from(m: &Intermediates) -> f64 {
    m.rate_df * m.black
}

/// Present value of the option. NaN when the input is invalid (see module docs).
#[must_use]
pub fn price(input: &BsmInput) -> f64 {
    if input.validate().is_err() {
        return f64::NAN;
    }
    let f = ForwardFactors::new(
        input.spot,
        input.strike,
        input.rate,
        input.div_yield,
        input.t_years,
    );
    price_from(&intermediates(input, &f))
}

/// Present value and the five greeks, all computed from one shared set of
/// intermediates (d1, d2, both discount factors, φ(d1), Φ(±d1), Φ(±d2)).
/// Every output is NaN when the input is invalid (see module docs).
#[must_use]
pub fn price_and_greeks(input: &BsmInput) -> (f64, Greeks) {
    if input.validate().is_err() {
        let nan = f64::NAN;
        return (
            nan,
            Greeks {
                delta: nan,
                gamma: nan,
                theta_per_day: nan,
                vega_per_point: nan,
                rho_per_point: nan,
            },
        );
    }
    let f = ForwardFactors::new(
        input.spot,
        input.strike,
        input.rate,
        input.div_yield,
        input.t_years,
    );
    price_and_greeks_prepared(input, &f)
}

/// [`price_and_greeks`] without validation, with the exponentials already
/// computed. The caller guarantees `input` passes [`BsmInput::validate`].
#[inline]
pub(crate) fn price_and_greeks_prepared(input: &BsmInput, f: &ForwardFactors) -> (f64, Greeks) {
    let m = intermediates(input, f);
    let price = price_from(&m);
    let delta = m.sign * m.div_df * m.cdf_d1;
    // With σ√T above MIN_TOTAL_VOL: gamma = e^(-qT)φ(d1)/(Sσ√T),
    // vega = S e^(-qT)φ(d1)√T = S e^(-qT)φ(d1)·σT/(σ√T), and the decay term
    // S e^(-qT)φ(d1)σ/(2√T) = S e^(-qT)φ(d1)·σ²/(2σ√T): one shared reciprocal.
    let (gamma, vega, time_decay_per_year) = if m.total_vol > MIN_TOTAL_VOL {
        let spot_pdf = m.spot_disc * m.pdf_d1;
        (
            m.div_df * m.pdf_d1 * m.inv_total_vol / input.spot,
            spot_pdf * input.vol * input.t_years * m.inv_total_vol,
            0.5 * spot_pdf * input.vol * input.vol * m.inv_total_vol,
        )
    } else {
        (0.0, 0.0, 0.0)
    };
    // theta (per year of calendar time) is -dV/dT.
    let theta_per_year = -time_decay_per_year
        + m.sign
            * (input.div_yield * m.spot_disc * m.cdf_d1 - input.rate * m.strike_disc * m.cdf_d2);
    let rho = m.sign * input.t_years * m.strike_disc * m.cdf_d2;
    (
        price,
        Greeks {
            delta,
            gamma,
            theta_per_day: theta_per_year / DAYS_PER_YEAR,
            vega_per_point: vega * 0.01,
            rho_per_point: rho * 0.01,
        },
    )
}

/// The five greeks only (same computation as [`price_and_greeks`]).
#[must_use]
pub fn greeks(input: &BsmInput) -> Greeks {
    price_and_greeks(input).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(right: OptionRight) -> BsmInput {
        BsmInput {
            spot: 100.0,
            strike: 95.0,
            t_years: 0.5,
            rate: 0.05,
            div_yield: 0.02,
            vol: 0.25,
            right,
        }
    }

    #[test]
    fn norm_cdf_known_values_and_tails() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((norm_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-15);
        // Φ(-10) = 7.619853024160527e-24 (tail must keep relative precision)
        let tail = norm_cdf(-10.0);
        assert!(((tail - 7.619_853_024_160_527e-24) / tail).abs() < 1e-13);
        assert!(norm_cdf(f64::NAN).is_nan());
        assert_eq!(norm_cdf(f64::INFINITY), 1.0);
        assert_eq!(norm_cdf(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn textbook_call_values() {
        // S = K = 100, T = 1, r = 5 %, q = 0, σ = 20 %; expected values from an
        // independent closed-form evaluation with Python math.erfc.
        let (p, g) = price_and_greeks(&BsmInput {
            spot: 100.0,
            strike: 100.0,
            t_years: 1.0,
            rate: 0.05,
            div_yield: 0.0,
            vol: 0.2,
            right: OptionRight::Call,
        });
        assert!((p - 10.450_583_572_185_565).abs() < 1e-12, "{p}");
        assert!((g.delta - 0.636_830_651_175_619).abs() < 1e-12);
        assert!((g.gamma - 0.018_762_017_345_846_9).abs() < 1e-12);
        assert!((g.vega_per_point - 0.375_240_346_916_938).abs() < 1e-12);
        assert!((g.theta_per_day * 365.0 - -6.414_027_546_438_197).abs() < 1e-9);
        assert!((g.rho_per_point - 0.532_324_815_453_763).abs() < 1e-12);
    }

    #[test]
    fn log_ratio_keeps_digits_near_one_and_is_antisymmetric() {
        // For a = 100 + 1e-10, b = 100 the rounding of a/b costs ~1e-6 of the
        // relative accuracy of ln(a/b); log_ratio uses the exact difference.
        let (a, b): (f64, f64) = (100.0 + 1e-10, 100.0);
        let exact = ((a - b) / b).ln_1p();
        assert_eq!(log_ratio(a, b), exact);
        assert_eq!(log_ratio(b, a), -exact);
        assert_eq!(log_ratio(5.0, 5.0), 0.0);
        assert!((log_ratio(1e100, 1e-100) - 200.0 * std::f64::consts::LN_10).abs() < 1e-12);
        assert!((log_ratio(3.0, 7.0) - (3.0f64 / 7.0).ln()).abs() < 1e-15);
    }

    #[test]
    fn put_call_parity_holds() {
        let c = price(&input(OptionRight::Call));
        let p = price(&input(OptionRight::Put));
        let i = input(OptionRight::Call);
        let parity =
            i.spot * (-i.div_yield * i.t_years).exp() - i.strike * (-i.rate * i.t_years).exp();
        assert!((c - p - parity).abs() < 1e-12, "{c} {p} {parity}");
    }

    #[test]
    fn zero_vol_and_zero_time_give_intrinsic_limits() {
        let mut i = input(OptionRight::Call);
        i.vol = 0.0;
        let (p, g) = price_and_greeks(&i);
        let fwd_intrinsic =
            i.spot * (-i.div_yield * i.t_years).exp() - i.strike * (-i.rate * i.t_years).exp();
        assert!((p - fwd_intrinsic).abs() < 1e-12);
        assert_eq!(g.gamma, 0.0);
        assert_eq!(g.vega_per_point, 0.0);
        i.t_years = 0.0;
        i.right = OptionRight::Put;
        let (p, g) = price_and_greeks(&i);
        assert_eq!(p, 0.0);
        assert_eq!(g.delta, 0.0);
    }

    #[test]
    fn invalid_input_is_nan_not_panic() {
        let mut i = input(OptionRight::Put);
        i.spot = -1.0;
        assert!(price(&i).is_nan());
        assert_eq!(i.validate(), Err(BsmInputError::OutOfRange("spot")));
        i.spot = f64::NAN;
        assert_eq!(i.validate(), Err(BsmInputError::NonFinite("spot")));
        assert!(price_and_greeks(&i).1.delta.is_nan());
    }
}

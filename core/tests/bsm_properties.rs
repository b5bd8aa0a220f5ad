//! Property tests of the BSM pricer, greeks and implied volatility.

mod support;

use proptest::prelude::*;
use sas_core::analytics::bsm::{greeks, norm_cdf, price, price_and_greeks, BsmInput, Greeks};
use sas_core::analytics::iv::{implied_vol, implied_vol_and_greeks, IvFailure, IvInput};
use sas_core::market::OptionRight;

fn right() -> impl Strategy<Value = OptionRight> {
    prop_oneof![Just(OptionRight::Call), Just(OptionRight::Put)]
}

/// Realistic inputs: S 10-500, K/S 0.5-1.5, T 1 week-2 years, σ 5-150 %.
fn realistic() -> impl Strategy<Value = BsmInput> {
    (
        10.0..500.0f64,
        0.5..1.5f64,
        (7.0 / 365.0)..2.0f64,
        -0.01..0.08f64,
        0.0..0.05f64,
        0.05..1.5f64,
        right(),
    )
        .prop_map(|(spot, m, t_years, rate, div_yield, vol, right)| BsmInput {
            spot,
            strike: spot * m,
            t_years,
            rate,
            div_yield,
            vol,
            right,
        })
}

fn close(analytic: f64, numeric: f64, what: &str) -> Result<(), TestCaseError> {
    let tol = 1e-6 * analytic.abs().max(1.0);
    prop_assert!(
        (analytic - numeric).abs() <= tol,
        "{what}: analytic {analytic} vs finite difference {numeric}"
    );
    Ok(())
}

fn with(b: &BsmInput, f: impl FnOnce(&mut BsmInput)) -> BsmInput {
    let mut c = *b;
    f(&mut c);
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Each greek against a central finite difference of the price (gamma of
    /// the analytic delta). Bumps: spot 1e-5·S, vol 1e-5, time 1e-5 years,
    /// rate 1e-5: small enough for the O(h²) truncation and large enough that
    /// rounding (ε·V/h) stays far below the 1e-6 tolerance.
    #[test]
    fn greeks_match_central_differences(b in realistic()) {
        let (_, g) = price_and_greeks(&b);
        let hs = b.spot * 1e-5;
        let up = with(&b, |c| c.spot += hs);
        let dn = with(&b, |c| c.spot -= hs);
        close(g.delta, (price(&up) - price(&dn)) / (2.0 * hs), "delta")?;
        close(g.gamma, (greeks(&up).delta - greeks(&dn).delta) / (2.0 * hs), "gamma")?;
        let h = 1e-5;
        let vu = with(&b, |c| c.vol += h);
        let vd = with(&b, |c| c.vol -= h);
        close(g.vega_per_point, (price(&vu) - price(&vd)) / (2.0 * h) * 0.01, "vega")?;
        let tu = with(&b, |c| c.t_years += h);
        let td = with(&b, |c| c.t_years -= h);
        close(g.theta_per_day, -(price(&tu) - price(&td)) / (2.0 * h) / 365.0, "theta")?;
        let ru = with(&b, |c| c.rate += h);
        let rd = with(&b, |c| c.rate -= h);
        close(g.rho_per_point, (price(&ru) - price(&rd)) / (2.0 * h) * 0.01, "rho")?;
    }

    #[test]
    fn put_call_parity(b in realistic()) {
        let c = price(&with(&b, |x| x.right = OptionRight::Call));
        let p = price(&with(&b, |x| x.right = OptionRight::Put));
        let parity = b.spot * (-b.div_yield * b.t_years).exp()
            - b.strike * (-b.rate * b.t_years).exp();
        prop_assert!((c - p - parity).abs() <= 1e-12 * b.spot.max(b.strike) * 10.0,
            "C - P = {} vs {}", c - p, parity);
        // Greeks obey parity too: Δc - Δp = e^(-qT), Γ and vega equal.
        let gc = greeks(&with(&b, |x| x.right = OptionRight::Call));
        let gp = greeks(&with(&b, |x| x.right = OptionRight::Put));
        prop_assert!((gc.delta - gp.delta - (-b.div_yield * b.t_years).exp()).abs() < 1e-12);
        prop_assert!((gc.gamma - gp.gamma).abs() <= 1e-12 * gc.gamma.max(1.0));
        prop_assert!((gc.vega_per_point - gp.vega_per_point).abs() <= 1e-12 * gc.vega_per_point.max(1.0));
    }

    #[test]
    fn monotone_in_vol_strike_and_spot(b in realistic(), bump in 0.001..0.5f64) {
        let p0 = price(&b);
        prop_assert!(price(&with(&b, |x| x.vol += bump)) >= p0);
        let higher_k = price(&with(&b, |x| x.strike *= 1.0 + bump));
        let higher_s = price(&with(&b, |x| x.spot *= 1.0 + bump));
        match b.right {
            OptionRight::Call => {
                prop_assert!(higher_k <= p0);
                prop_assert!(higher_s >= p0);
            }
            OptionRight::Put => {
                prop_assert!(higher_k >= p0);
                prop_assert!(higher_s <= p0);
            }
        }
        let g = greeks(&b);
        prop_assert!(g.gamma >= 0.0 && g.vega_per_point >= 0.0);
        match b.right {
            OptionRight::Call => prop_assert!((0.0..=1.0).contains(&g.delta)),
            OptionRight::Put => prop_assert!((-1.0..=0.0).contains(&g.delta)),
        }
    }

    /// Price → IV → price round trip on realistic quotable inputs.
    #[test]
    fn iv_round_trip(b in realistic()) {
        let p = price(&b);
        let tv = p - support::iv_sample::intrinsic(&b);
        prop_assume!(p >= 0.01 && tv >= 0.005);
        let iv = implied_vol(&IvInput {
            price: p, spot: b.spot, strike: b.strike, t_years: b.t_years,
            rate: b.rate, div_yield: b.div_yield, right: b.right,
        });
        prop_assert!(iv.is_ok(), "{iv:?}");
        let iv = iv.unwrap_or(f64::NAN);
        prop_assert!((iv - b.vol).abs() <= 1e-11, "{iv} vs {}", b.vol);
    }

    /// Arbitrary f64s (NaN, ±inf, subnormals, negatives): nothing panics, the
    /// IV is either a positive finite number or a typed failure, and valid
    /// inputs give finite prices and greeks.
    #[test]
    fn arbitrary_inputs_never_panic(
        spot in any::<f64>(), strike in any::<f64>(), t_years in any::<f64>(),
        rate in any::<f64>(), div_yield in any::<f64>(), vol in any::<f64>(),
        p in any::<f64>(), right in right(),
    ) {
        let b = BsmInput { spot, strike, t_years, rate, div_yield, vol, right };
        let (pv, g) = price_and_greeks(&b);
        if b.validate().is_err() {
            prop_assert!(pv.is_nan());
        } else {
            prop_assert!(pv.is_finite() && pv >= 0.0, "{b:?} -> {pv}");
            let Greeks { delta, gamma, theta_per_day, vega_per_point, rho_per_point } = g;
            for v in [delta, gamma, theta_per_day, vega_per_point, rho_per_point] {
                prop_assert!(v.is_finite(), "{b:?} -> {g:?}");
            }
        }
        let input = IvInput { price: p, spot, strike, t_years, rate, div_yield, right };
        match implied_vol(&input) {
            Ok(v) => prop_assert!(v.is_finite() && v > 0.0),
            Err(f) => prop_assert!(IvFailure::ALL.contains(&f)),
        }
        if let Ok(ig) = implied_vol_and_greeks(&input) {
            let g = ig.greeks;
            for v in [ig.iv, g.delta, g.gamma, g.theta_per_day, g.vega_per_point, g.rho_per_point] {
                prop_assert!(v.is_finite(), "{input:?} -> {ig:?}");
            }
        }
        let c = norm_cdf(spot);
        prop_assert!(c.is_nan() == spot.is_nan());
        if !c.is_nan() { prop_assert!((0.0..=1.0).contains(&c)); }
    }

    /// Anywhere in the validated domain, down to its corners (spot and strike
    /// 1e-100..1e100, T and σ down to 1e-300, rates ±100 %): price and all
    /// greeks are finite, and an IV found is positive and finite.
    #[test]
    fn whole_domain_is_finite(
        spot_exp in -100.0..100.0f64, strike_exp in -100.0..100.0f64,
        t_exp in -300.0..2.0f64, vol_exp in -300.0..2.0f64,
        rate in -1.0..1.0f64, div_yield in -1.0..1.0f64, right in right(),
    ) {
        let b = BsmInput {
            spot: 10f64.powf(spot_exp),
            strike: 10f64.powf(strike_exp),
            t_years: 10f64.powf(t_exp).min(100.0),
            rate,
            div_yield,
            vol: 10f64.powf(vol_exp).min(100.0),
            right,
        };
        prop_assert!(b.validate().is_ok());
        let (p, g) = price_and_greeks(&b);
        for v in [p, g.delta, g.gamma, g.theta_per_day, g.vega_per_point, g.rho_per_point] {
            prop_assert!(v.is_finite(), "{b:?} -> {p} {g:?}");
        }
        if let Ok(ig) = implied_vol_and_greeks(&IvInput {
            price: p, spot: b.spot, strike: b.strike, t_years: b.t_years,
            rate, div_yield, right,
        }) {
            prop_assert!(ig.iv.is_finite() && ig.iv > 0.0);
            prop_assert!(ig.greeks.gamma.is_finite() && ig.greeks.theta_per_day.is_finite());
        }
    }

    /// Arbitrary but in-domain inputs (tiny/huge T and σ, far strikes): the
    /// price stays within its no-arbitrage bounds.
    #[test]
    fn price_within_bounds(
        spot in 1e-3..1e6f64, m in 1e-3..1e3f64, t_years in 0.0..50.0f64,
        rate in -0.1..0.3f64, div_yield in -0.1..0.3f64, vol in 0.0..10.0f64,
        right in right(),
    ) {
        let b = BsmInput { spot, strike: spot * m, t_years, rate, div_yield, vol, right };
        let pv = price(&b);
        let s = spot * (-div_yield * t_years).exp();
        let k = b.strike * (-rate * t_years).exp();
        let (lo, hi) = match right {
            OptionRight::Call => ((s - k).max(0.0), s),
            OptionRight::Put => ((k - s).max(0.0), k),
        };
        let slack = 1e-12 * (s + k);
        prop_assert!(pv >= lo - slack && pv <= hi + slack, "{pv} not in [{lo}, {hi}]");
        let g = greeks(&b);
        for v in [g.delta, g.gamma, g.theta_per_day, g.vega_per_point, g.rho_per_point] {
            prop_assert!(v.is_finite(), "{b:?} -> {g:?}");
        }
    }
}

/// The IV-recovery check on 20,000 seeded samples (the 1,000,000-sample
/// run is `cargo run --release -p sas-core --example iv_recovery`).
#[test]
fn iv_recovery_20k_seeded_samples() {
    let r = support::iv_sample::run(20_261_121, 20_000);
    assert!(r.quotable > 15_000, "only {} quotable", r.quotable);
    assert!(
        r.failures.is_empty(),
        "failures: {:?}",
        &r.failures[..r.failures.len().min(5)]
    );
    assert!(
        r.max_abs_error <= 1e-12,
        "max |IV error| {:e} at {:?}",
        r.max_abs_error,
        r.worst
    );
}

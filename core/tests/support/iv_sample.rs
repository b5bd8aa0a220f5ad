//! Seeded sample of option parameters for the IV-recovery checks, shared by
//! the `iv_recovery` test (20,000 samples) and the `iv_recovery` example
//! (1,000,000 samples, release build).
//!
//! Ranges (from the issue): σ 5-200 %, T 1 day-2 years, K/S 0.5-1.5, plus
//! spot 10-1000 (log-uniform), r 0-8 %, q 0-5 %, call or put. "Quotable":
//! price >= 0.01 and time value (price minus discounted forward intrinsic)
//! >= 0.005.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sas_core::analytics::bsm::{price, BsmInput};
use sas_core::analytics::iv::{implied_vol, IvFailure, IvInput};
use sas_core::market::OptionRight;

/// Outcome of an IV-recovery run. (Some fields are read only by the example.)
#[allow(dead_code)]
#[derive(Debug, Default)]
pub struct Recovery {
    pub samples: usize,
    pub quotable: usize,
    pub failures: Vec<(BsmInput, f64, IvFailure)>,
    pub max_abs_error: f64,
    pub worst: Option<(BsmInput, f64)>,
    /// Quotable samples with |IV error| above 1e-12.
    pub over_1e12: usize,
    /// Largest |IV error| among samples with spot and strike <= 200.
    pub max_abs_error_spot_le_200: f64,
    /// Largest |IV error| × vega / (ε · max(S, K)): the error in units of what
    /// the rounding of a price of that size alone can cause.
    pub max_conditioned_error: f64,
}

/// One seeded sample.
pub fn sample(rng: &mut ChaCha8Rng) -> BsmInput {
    let spot = 10.0_f64 * 100.0_f64.powf(rng.gen::<f64>());
    BsmInput {
        spot,
        strike: spot * rng.gen_range(0.5..=1.5),
        t_years: rng.gen_range(1.0..=730.0) / 365.0,
        rate: rng.gen_range(0.0..=0.08),
        div_yield: rng.gen_range(0.0..=0.05),
        vol: rng.gen_range(0.05..=2.0),
        right: if rng.gen::<bool>() {
            OptionRight::Call
        } else {
            OptionRight::Put
        },
    }
}

/// Discounted forward intrinsic value.
pub fn intrinsic(b: &BsmInput) -> f64 {
    let s = b.spot * (-b.div_yield * b.t_years).exp();
    let k = b.strike * (-b.rate * b.t_years).exp();
    match b.right {
        OptionRight::Call => (s - k).max(0.0),
        OptionRight::Put => (k - s).max(0.0),
    }
}

/// Prices `n` seeded samples and inverts the quotable ones.
pub fn run(seed: u64, n: usize) -> Recovery {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Recovery {
        samples: n,
        ..Recovery::default()
    };
    for _ in 0..n {
        let b = sample(&mut rng);
        let p = price(&b);
        if !(p >= 0.01 && p - intrinsic(&b) >= 0.005) {
            continue;
        }
        out.quotable += 1;
        let input = IvInput {
            price: p,
            spot: b.spot,
            strike: b.strike,
            t_years: b.t_years,
            rate: b.rate,
            div_yield: b.div_yield,
            right: b.right,
        };
        match implied_vol(&input) {
            Ok(iv) => {
                let err = (iv - b.vol).abs();
                if err > 1e-12 {
                    out.over_1e12 += 1;
                }
                if b.spot <= 200.0 && b.strike <= 200.0 {
                    out.max_abs_error_spot_le_200 = out.max_abs_error_spot_le_200.max(err);
                }
                let vega = sas_core::analytics::bsm::greeks(&b).vega_per_point * 100.0;
                let scale = f64::EPSILON * b.spot.max(b.strike);
                out.max_conditioned_error = out.max_conditioned_error.max(err * vega / scale);
                if err > out.max_abs_error {
                    out.max_abs_error = err;
                    out.worst = Some((b, iv));
                }
            }
            Err(f) => out.failures.push((b, p, f)),
        }
    }
    out
}

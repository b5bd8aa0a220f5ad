//! The volatility model's constants and its stationary moments: the leaf
//! that the symbol parameters, the volatility state and the daily path all
//! read (see `docs/sim-market.md`).

/// Volatility multiplier while stressed.
pub const STRESS_VOL_MULTIPLIER: f64 = 1.8;
/// Mean reversion speed of log volatility, per year of trading time
/// (half-life about 29 sessions).
pub(crate) const VOL_MEAN_REVERSION: f64 = 6.0;
/// Volatility of log volatility, per √year.
pub(crate) const VOL_OF_VOL: f64 = 0.9;
/// Correlation between volatility and price shocks (leverage effect).
pub(crate) const VOL_PRICE_CORRELATION: f64 = -0.6;
/// Calm → stressed regime switches per year of trading time.
pub(crate) const STRESS_ONSET_PER_YEAR: f64 = 3.0;
/// Stressed → calm regime switches per year (mean stress spell ≈ 17 sessions).
pub(crate) const STRESS_RELIEF_PER_YEAR: f64 = 15.0;
/// Band of the log-volatility factor (0.3x .. 3x base before the regime).
pub(crate) const LOG_VOL_MIN: f64 = -1.2;
/// See [`LOG_VOL_MIN`].
pub(crate) const LOG_VOL_MAX: f64 = 1.1;

/// Speed at which the term structure converges from spot vol to the long run.
pub(crate) const TERM_STRUCTURE_SPEED: f64 = 4.0;
/// Volatility risk premium: implied over the model's expected volatility
/// (option sellers are paid for bearing volatility risk).
pub(crate) const IMPLIED_PREMIUM: f64 = 1.10;
/// Tenor of the IV history (30 calendar days).
pub(crate) const IV_HISTORY_TENOR_YEARS: f64 = 30.0 / 365.0;
/// Half-life of the log price's reversion to `ln(start_price)`, in years of
/// sessions.
pub(crate) const PRICE_HALF_LIFE_YEARS: f64 = 1.0;

/// The process's mean volatility over the base: E[exp(log_vol)] of the
/// stationary factor times the regime mix (about 1.17).
pub(crate) fn mean_vol_multiplier() -> f64 {
    let sd = VOL_OF_VOL / (2.0 * VOL_MEAN_REVERSION).sqrt();
    let p = STRESS_ONSET_PER_YEAR / (STRESS_ONSET_PER_YEAR + STRESS_RELIEF_PER_YEAR);
    (0.5 * sd * sd).exp() * (p * STRESS_VOL_MULTIPLIER + (1.0 - p))
}

/// Root-mean-square volatility over the base, √E[multiplier²] of the
/// stationary process (about 1.25): what sets the spread of the daily
/// path's log price around its anchor.
pub(crate) fn rms_vol_multiplier() -> f64 {
    let sd = VOL_OF_VOL / (2.0 * VOL_MEAN_REVERSION).sqrt();
    let p = STRESS_ONSET_PER_YEAR / (STRESS_ONSET_PER_YEAR + STRESS_RELIEF_PER_YEAR);
    ((2.0 * sd * sd).exp() * (p * STRESS_VOL_MULTIPLIER.powi(2) + (1.0 - p))).sqrt()
}

/// Standard deviation of `ln(close / start_price)` in the path's
/// stationary distribution for a symbol of base volatility `annual_vol`:
/// the root-mean-square volatility of the model over √(2κ), κ the price's
/// reversion speed per year.
#[must_use]
pub(crate) fn stationary_log_price_sd(annual_vol: f64) -> f64 {
    let kappa = std::f64::consts::LN_2 / PRICE_HALF_LIFE_YEARS;
    annual_vol * rms_vol_multiplier() / (2.0 * kappa).sqrt()
}

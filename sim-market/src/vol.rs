//! The one volatility model of the simulator (see `docs/sim-market.md`): the
//! volatility state (a mean-reverting log-volatility factor and a
//! calm/stressed regime), its daily step, and the at-the-money implied
//! volatility term structure that the option surface and the IV history
//! both read from that state.

use crate::params::SymbolParams;

pub use crate::model::STRESS_VOL_MULTIPLIER;
pub(crate) use crate::model::{
    mean_vol_multiplier, IMPLIED_PREMIUM, IV_HISTORY_TENOR_YEARS, LOG_VOL_MAX, LOG_VOL_MIN,
    STRESS_ONSET_PER_YEAR, STRESS_RELIEF_PER_YEAR, TERM_STRUCTURE_SPEED, VOL_MEAN_REVERSION,
    VOL_OF_VOL, VOL_PRICE_CORRELATION,
};

/// Sessions per year.
const SESSIONS_PER_YEAR: f64 = 252.0;

/// Day-to-day relative noise of the IV close (± half this).
const IV_CLOSE_NOISE: f64 = 0.04;

/// The volatility state of one underlying.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct VolState {
    /// log(vol / base vol) before the regime multiplier.
    pub log_vol: f64,
    /// Stressed regime.
    pub stressed: bool,
}

impl VolState {
    /// A state drawn from the process's stationary distribution (`u`
    /// uniform picks the regime, `z` standard normal the factor), so the
    /// newest session of a history is anywhere in its range, stressed
    /// as often as the regime chain is.
    pub fn stationary(u: f64, z: f64) -> Self {
        let sd = VOL_OF_VOL / (2.0 * VOL_MEAN_REVERSION).sqrt();
        let p_stressed = STRESS_ONSET_PER_YEAR / (STRESS_ONSET_PER_YEAR + STRESS_RELIEF_PER_YEAR);
        Self {
            log_vol: (sd * z).clamp(LOG_VOL_MIN, LOG_VOL_MAX),
            stressed: u < p_stressed,
        }
    }

    /// Volatility over the base: stochastic factor times regime multiplier.
    pub fn multiplier(&self) -> f64 {
        self.log_vol.exp()
            * if self.stressed {
                STRESS_VOL_MULTIPLIER
            } else {
                1.0
            }
    }

    /// One trading day of the same process the intraday path steps in
    /// seconds (exact discretization of the log-volatility
    /// Ornstein-Uhlenbeck factor; regime hazards per session): `u` uniform
    /// decides a regime switch, `z` standard normal shocks the factor.
    pub fn daily_step(&mut self, u: f64, z: f64) {
        let dt = 1.0 / SESSIONS_PER_YEAR;
        let hazard = if self.stressed {
            STRESS_RELIEF_PER_YEAR
        } else {
            STRESS_ONSET_PER_YEAR
        } * dt;
        if u < hazard {
            self.stressed = !self.stressed;
        }
        let phi = (-VOL_MEAN_REVERSION * dt).exp();
        let shock = VOL_OF_VOL * ((1.0 - phi * phi) / (2.0 * VOL_MEAN_REVERSION)).sqrt();
        self.log_vol = (phi * self.log_vol + shock * z).clamp(LOG_VOL_MIN, LOG_VOL_MAX);
    }
}

/// At-the-money implied volatility for tenor `t_years` when the underlying's
/// instantaneous volatility is `spot_vol`: the expected volatility to expiry
/// of a factor mean-reverting at [`TERM_STRUCTURE_SPEED`] towards
/// the model's mean volatility (`annual_vol ×` [`mean_vol_multiplier`]),
/// times [`IMPLIED_PREMIUM`]. Upward
/// sloping when calm, inverted when stressed.
pub(crate) fn atm_iv(annual_vol: f64, spot_vol: f64, t_years: f64) -> f64 {
    let t = t_years.max(1e-6);
    let long_run = annual_vol * mean_vol_multiplier();
    let k = TERM_STRUCTURE_SPEED * t;
    let weight = (1.0 - (-k).exp()) / k;
    IMPLIED_PREMIUM * (long_run + (spot_vol - long_run) * weight)
}

/// The 30-day ATM IV close of a session in `state`, with a little
/// day-to-day noise (`noise` uniform in [0, 1)).
pub(crate) fn session_iv(params: &SymbolParams, state: &VolState, noise: f64) -> f64 {
    let spot_vol = params.annual_vol * state.multiplier();
    let iv = atm_iv(params.annual_vol, spot_vol, IV_HISTORY_TENOR_YEARS)
        * (1.0 + IV_CLOSE_NOISE * (noise - 0.5));
    (iv * 10_000.0).round() / 10_000.0
}

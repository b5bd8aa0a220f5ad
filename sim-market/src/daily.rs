//! The daily walk of the volatility model: sessions back from the last one
//! before a date, each with its bar, its volatility state and its 30-day IV
//! close. The daily history, the IV history and the intraday path's start
//! all read it.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use rand_distr::StandardNormal;
use sas_core::market::DailyBar;

use crate::calendar::previous_trading_day;
use crate::params::SymbolParams;
use crate::seed::{rng_for, tag, unit};
use crate::vol::{session_iv, VolState};

const TRADING_DAYS_PER_YEAR: f64 = 252.0;

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The volatility state of the last session before `today` in the daily
/// history: where the intraday path starts from.
pub(crate) fn last_session_state(
    seed: u64,
    params: &SymbolParams,
    rate: f64,
    today: NaiveDate,
) -> VolState {
    daily_walk(seed, params, rate, today, 1)
        .first()
        .map(|d| d.state)
        .unwrap_or_default()
}

/// One session of the daily walk, newest first.
pub(crate) struct PathDay {
    pub bar: DailyBar,
    pub iv: f64,
    pub state: VolState,
}

/// The daily walk: `total` sessions back from the last trading day before
/// `today`, newest first. The walk always draws the same numbers per
/// session, so a shorter walk is a prefix of a longer one.
pub(crate) fn daily_walk(
    seed: u64,
    params: &SymbolParams,
    rate: f64,
    today: NaiveDate,
    total: usize,
) -> Vec<PathDay> {
    let last_day = previous_trading_day(today);
    let day_key = u64::try_from(last_day.num_days_from_ce()).unwrap_or(0);
    let key = crate::seed::fnv1a(params.symbol.as_str());
    let mut rng = rng_for(&[tag::HISTORY, seed, key, day_key]);
    let base_daily = params.annual_vol / TRADING_DAYS_PER_YEAR.sqrt();
    let drift = (rate - params.dividend_yield) / TRADING_DAYS_PER_YEAR;

    // Walk backwards from the anchor close.
    let mut out: Vec<PathDay> = Vec::with_capacity(total);
    let mut close = params.start_price;
    let mut date = last_day;
    // The newest session's state comes from the stationary distribution
    // (its own stream, so the bars' draws are untouched); the walk back is
    // the same process reversed (both parts are reversible).
    let mut init = rng_for(&[tag::INIT, seed, key, day_key]);
    let (u0, z0): (f64, f64) = (init.gen(), init.sample(StandardNormal));
    let mut state = VolState::stationary(u0, z0);
    for _ in 0..total {
        let u: f64 = rng.gen();
        let zv: f64 = rng.sample(StandardNormal);
        state.daily_step(u, zv);
        let sigma = base_daily * state.multiplier();

        let z_ret: f64 = rng.sample(StandardNormal);
        let z_gap: f64 = rng.sample(StandardNormal);
        let z_hi: f64 = rng.sample(StandardNormal);
        let z_lo: f64 = rng.sample(StandardNormal);
        let z_volume: f64 = rng.sample(StandardNormal);

        let ret = drift - 0.5 * sigma * sigma + sigma * z_ret;
        // Close-to-close return splits into an overnight gap and the
        // open-to-close move.
        let gap = 0.3 * ret + 0.15 * sigma * z_gap;
        let open = close / (ret - gap).exp();
        let prev_close = close / ret.exp();
        let high = open.max(close) * (0.35 * sigma * z_hi.abs()).exp();
        let low = open.min(close) * (-0.35 * sigma * z_lo.abs()).exp();
        let activity = 1.0 + 0.6 * (ret.abs() / sigma.max(1e-9) - 0.8).max(0.0);
        let volume = params.avg_daily_volume as f64
            * activity
            * (0.25 * z_volume - 0.03).exp()
            * if state.stressed { 1.4 } else { 1.0 };
        let day_noise = unit(&[
            tag::IV_NOISE,
            seed,
            key,
            u64::try_from(date.num_days_from_ce()).unwrap_or(0),
        ]);
        let iv = session_iv(params, &state, day_noise);

        out.push(PathDay {
            bar: DailyBar {
                date,
                open: cents(open),
                high: cents(high),
                low: cents(low),
                close: cents(close),
                volume: (volume / 100.0).round() as u64 * 100,
            },
            iv,
            state,
        });
        close = prev_close;
        date = previous_trading_day(date);
    }
    out
}

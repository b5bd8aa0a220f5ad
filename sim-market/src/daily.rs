//! The daily walk of the volatility model: one path of sessions per (seed,
//! symbol), the same whatever day it is looked at from. Each session has
//! its bar, its volatility state and its 30-day IV close. The daily
//! history, the IV history and the intraday path's start all read it.
//!
//! The path is walked forward from [`epoch`] (the first session of 2015);
//! each session's draws come from a stream keyed by (seed, symbol, that
//! session's date), the volatility state is carried from session to
//! session, and the log price reverts slowly (half-life
//! [`PRICE_HALF_LIFE_YEARS`]) to the log of the symbol's start price.
//! Sessions before the epoch are walked backwards from it with the same
//! per-session streams (both the price and the volatility parts are
//! reversible processes), so they are part of the same path.
//!
//! A session's numbers depend only on the path up to it, never on the day
//! the path is asked from, so walked sessions are kept in a small
//! per-process cache (bounded; a cleared cache walks the same path again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chrono::{Datelike, Duration, NaiveDate};
use sas_core::market::DailyBar;

use crate::calendar::{previous_trading_day, trading_day_on_or_after};
use crate::params::SymbolParams;
use crate::seed::{fnv1a, tag, unit, SplitMix};
use crate::vol::{session_iv, VolState};

const TRADING_DAYS_PER_YEAR: f64 = 252.0;
use crate::model::PRICE_HALF_LIFE_YEARS;
/// Most (seed, symbol) paths the cache keeps before it starts over.
const CACHE_PATHS: usize = 64;

/// The first session of the path: the first session of 2015.
#[must_use]
pub(crate) fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2015, 1, 2).unwrap_or(NaiveDate::MIN)
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn day_key(d: NaiveDate) -> u64 {
    u64::try_from(d.num_days_from_ce()).unwrap_or(0)
}

/// One session of the daily walk.
#[derive(Debug, Clone)]
pub(crate) struct PathDay {
    pub bar: DailyBar,
    pub iv: f64,
    pub state: VolState,
}

/// The last session before `today`: its close is where the intraday path
/// starts, its volatility state the path's first state.
pub(crate) fn last_session(seed: u64, params: &SymbolParams, today: NaiveDate) -> Option<PathDay> {
    sessions_before(seed, params, today, 1).into_iter().next()
}

/// `total` sessions of the path ending at the last trading day before
/// `today`, newest first. Any two calls agree on every session they share.
pub(crate) fn sessions_before(
    seed: u64,
    params: &SymbolParams,
    today: NaiveDate,
    total: usize,
) -> Vec<PathDay> {
    if total == 0 {
        return Vec::new();
    }
    let last = previous_trading_day(today);
    let walk = walk_for(seed, params);
    let mut w = walk.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::with_capacity(total);
    if last >= epoch() {
        let dates = with_calendar(|c| {
            c.ensure_forward(last);
            let end = c.forward.partition_point(|d| *d <= last);
            c.forward
                .get(w.forward.len()..end)
                .map(<[NaiveDate]>::to_vec)
                .unwrap_or_default()
        });
        w.extend_forward(&dates);
        let end = w.forward.partition_point(|n| n.day.bar.date <= last);
        let back = total.saturating_sub(end);
        w.extend_backward_to(back);
        let fwd = w.forward[..end].iter().rev().take(total);
        out.extend(fwd.map(|n| n.day.clone()));
        out.extend(w.backward.iter().take(back).map(|n| n.day.clone()));
    } else {
        // Before the epoch: the backward walk, newest first already.
        let start = with_calendar(|c| {
            c.ensure_backward_to(last);
            c.backward.partition_point(|d| *d > last)
        });
        w.extend_backward_to(start + total);
        out.extend(
            w.backward
                .iter()
                .skip(start)
                .take(total)
                .map(|n| n.day.clone()),
        );
    }
    out
}

/// One walked session and what the next step needs.
#[derive(Debug, Clone)]
struct Node {
    day: PathDay,
    /// Close before rounding to cents.
    close: f64,
    /// Log return from the previous session's close to this one.
    ret: f64,
}

/// A session's random numbers, from its own stream.
struct Draws {
    u: f64,
    z_vol: f64,
    z_ret: f64,
    z_gap: f64,
    z_hi: f64,
    z_lo: f64,
    z_volume: f64,
    iv_noise: f64,
}

/// The (seed, symbol) path walked so far: `forward[0]` is the epoch,
/// `backward[0]` the session before it, then further back.
struct Walk {
    seed: u64,
    key: u64,
    params: SymbolParams,
    forward: Vec<Node>,
    backward: Vec<Node>,
}

impl Walk {
    fn new(seed: u64, params: &SymbolParams) -> Self {
        let key = fnv1a(params.symbol.as_str());
        let mut w = Self {
            seed,
            key,
            params: params.clone(),
            forward: Vec::new(),
            backward: Vec::new(),
        };
        // The session before the epoch closes at the start price in a
        // volatility state drawn from the stationary distribution.
        let before = with_calendar(|c| c.backward[0]);
        let mut init = SplitMix::new(&[tag::INIT, seed, key, day_key(epoch())]);
        let (u0, (z0, _)) = (init.uniform(), init.normal_pair());
        let state = VolState::stationary(u0, z0);
        let draws = w.draws(before);
        let first = w.backward_node(before, params.start_price, state, &draws);
        w.backward.push(first);
        w
    }

    fn draws(&self, date: NaiveDate) -> Draws {
        let mut r = SplitMix::new(&[tag::HISTORY, self.seed, self.key, day_key(date)]);
        let u = r.uniform();
        let (z_vol, z_ret) = r.normal_pair();
        let (z_gap, z_hi) = r.normal_pair();
        let (z_lo, z_volume) = r.normal_pair();
        let iv_noise = unit(&[tag::IV_NOISE, self.seed, self.key, day_key(date)]);
        Draws {
            u,
            z_vol,
            z_ret,
            z_gap,
            z_hi,
            z_lo,
            z_volume,
            iv_noise,
        }
    }

    fn daily_sigma(&self, state: &VolState) -> f64 {
        self.params.annual_vol / TRADING_DAYS_PER_YEAR.sqrt() * state.multiplier()
    }

    /// ln(close / start price).
    fn log_gap(&self, close: f64) -> f64 {
        (close / self.params.start_price).ln()
    }

    fn extend_forward(&mut self, dates: &[NaiveDate]) {
        let keep = price_keep();
        for &date in dates {
            let (prev_close, mut state) = match self.forward.last() {
                Some(n) => (n.close, n.day.state),
                None => (self.backward[0].close, self.backward[0].day.state),
            };
            let d = self.draws(date);
            state.daily_step(d.u, d.z_vol);
            let sigma = self.daily_sigma(&state);
            let ret = (keep - 1.0) * self.log_gap(prev_close) + sigma * d.z_ret;
            let close = prev_close * ret.exp();
            let node = self.node(date, close, ret, state, &d);
            self.forward.push(node);
        }
    }

    /// Walks back until `backward` holds at least `len` sessions.
    fn extend_backward_to(&mut self, len: usize) {
        if self.backward.len() >= len {
            return;
        }
        let dates = with_calendar(|c| {
            c.ensure_backward_len(len);
            c.backward[self.backward.len()..len].to_vec()
        });
        for date in dates {
            let Some(newer) = self.backward.last() else {
                return;
            };
            let close = newer.close / newer.ret.exp();
            let mut state = newer.day.state;
            let d = self.draws(date);
            state.daily_step(d.u, d.z_vol);
            let node = self.backward_node(date, close, state, &d);
            self.backward.push(node);
        }
    }

    /// A session walked backwards: its close and state are known, its
    /// return is the reversed process's step back to the previous close.
    fn backward_node(&self, date: NaiveDate, close: f64, state: VolState, d: &Draws) -> Node {
        let sigma = self.daily_sigma(&state);
        let x = self.log_gap(close);
        let ret = (1.0 - price_keep()) * x - sigma * d.z_ret;
        self.node(date, close, ret, state, d)
    }

    fn node(&self, date: NaiveDate, close: f64, ret: f64, state: VolState, d: &Draws) -> Node {
        let sigma = self.daily_sigma(&state);
        // Close-to-close return splits into an overnight gap and the
        // open-to-close move.
        let gap = 0.3 * ret + 0.15 * sigma * d.z_gap;
        let open = close / (ret - gap).exp();
        let high = open.max(close) * (0.35 * sigma * d.z_hi.abs()).exp();
        let low = open.min(close) * (-0.35 * sigma * d.z_lo.abs()).exp();
        let activity = 1.0 + 0.6 * (ret.abs() / sigma.max(1e-9) - 0.8).max(0.0);
        let volume = self.params.avg_daily_volume as f64
            * activity
            * (0.25 * d.z_volume - 0.03).exp()
            * if state.stressed { 1.4 } else { 1.0 };
        Node {
            day: PathDay {
                bar: DailyBar {
                    date,
                    open: cents(open),
                    high: cents(high),
                    low: cents(low),
                    close: cents(close),
                    volume: (volume / 100.0).round() as u64 * 100,
                },
                iv: session_iv(&self.params, &state, d.iv_noise),
                state,
            },
            close,
            ret,
        }
    }
}

/// Share of the log price's distance to `ln(start_price)` a session keeps
/// (exact Ornstein-Uhlenbeck discretization).
fn price_keep() -> f64 {
    (-std::f64::consts::LN_2 / (PRICE_HALF_LIFE_YEARS * TRADING_DAYS_PER_YEAR)).exp()
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WalkKey {
    seed: u64,
    symbol: String,
    start_price: u64,
    annual_vol: u64,
    avg_daily_volume: u64,
    skew: u64,
}

type WalkCache = HashMap<WalkKey, Arc<Mutex<Walk>>>;

fn walk_for(seed: u64, params: &SymbolParams) -> Arc<Mutex<Walk>> {
    static CACHE: OnceLock<Mutex<WalkCache>> = OnceLock::new();
    let key = WalkKey {
        seed,
        symbol: params.symbol.as_str().to_string(),
        start_price: params.start_price.to_bits(),
        annual_vol: params.annual_vol.to_bits(),
        avg_daily_volume: params.avg_daily_volume,
        skew: params.skew.to_bits(),
    };
    let mut cache = CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(w) = cache.get(&key) {
        return Arc::clone(w);
    }
    if cache.len() >= CACHE_PATHS {
        cache.clear();
    }
    let w = Arc::new(Mutex::new(Walk::new(seed, params)));
    cache.insert(key, Arc::clone(&w));
    w
}

/// The trading days around the epoch, shared by every path:
/// `forward[0]` is the epoch, `backward[0]` the session before it.
struct Calendar {
    forward: Vec<NaiveDate>,
    backward: Vec<NaiveDate>,
}

impl Calendar {
    fn ensure_forward(&mut self, upto: NaiveDate) {
        while let Some(&last) = self.forward.last() {
            if last >= upto {
                return;
            }
            self.forward
                .push(trading_day_on_or_after(last + Duration::days(1)));
        }
    }

    fn ensure_backward_len(&mut self, len: usize) {
        while self.backward.len() < len {
            let Some(&oldest) = self.backward.last() else {
                return;
            };
            self.backward.push(previous_trading_day(oldest));
        }
    }

    fn ensure_backward_to(&mut self, downto: NaiveDate) {
        while let Some(&oldest) = self.backward.last() {
            if oldest <= downto {
                return;
            }
            self.backward.push(previous_trading_day(oldest));
        }
    }
}

fn with_calendar<R>(f: impl FnOnce(&mut Calendar) -> R) -> R {
    static CALENDAR: OnceLock<Mutex<Calendar>> = OnceLock::new();
    let cal = CALENDAR.get_or_init(|| {
        let first = trading_day_on_or_after(epoch());
        Mutex::new(Calendar {
            forward: vec![first],
            backward: vec![previous_trading_day(first)],
        })
    });
    f(&mut cal.lock().unwrap_or_else(PoisonError::into_inner))
}

//! Chain-level analytics: implied volatility and greeks for every quotable
//! contract (from the bid/ask mid), then the per-underlying metrics (30-day
//! ATM IV, IV rank, realized vol, skew, term structure, flows, GEX/DEX).
//!
//! A contract that cannot be valued is skipped and COUNTED by reason in
//! [`SkipCounts`]; skipped contracts never reach an aggregate, and nothing
//! here panics or returns NaN for bad quotes.
//!
//! Overlap with the data-quality gate ([`crate::quality::gate_chain`]), meant
//! to run first (Worker wiring pending): it drops missing, non-finite,
//! crossed, zero-priced and expired contracts and chains without a spot, so
//! on a gated chain those skip counts here stay zero. They remain as a second line for ungated
//! callers; the gate's `DropCounts` are the data-quality figures to report.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::analytics::bsm::{price_and_greeks, BsmInput, Greeks, DAYS_PER_YEAR};
use crate::analytics::iv::{implied_vol, IvFailure, IvInput};
use crate::analytics::vol::{self, IvRankStats, Momentum};
use crate::market::{DailyBar, OptionChain, OptionRight, Symbol};
use crate::score::FactorInputs;

/// Calendar days of the constant-maturity ATM IV.
pub const ATM_IV_TARGET_DAYS: f64 = 30.0;
/// Delta of the wings used for the skew.
pub const SKEW_DELTA: f64 = 0.25;
/// A contract is "unusual" when its volume is at least this multiple of its
/// open interest ...
pub const UNUSUAL_VOLUME_OI_RATIO: f64 = 1.0;
/// ... and at least this many contracts traded.
pub const UNUSUAL_MIN_VOLUME: u64 = 100;
/// Most unusual contracts reported.
pub const UNUSUAL_MAX_REPORTED: usize = 10;
/// Shares per equity option contract.
pub const CONTRACT_MULTIPLIER: f64 = 100.0;

/// Why a contract was left out of the analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The chain's spot price is missing, non-finite or non-positive: every
    /// contract of the chain is skipped with this reason.
    InvalidSpot,
    /// Strike is non-finite or non-positive.
    InvalidStrike,
    /// Bid or ask is absent.
    MissingQuote,
    /// Bid or ask is NaN or infinite.
    NonFiniteQuote,
    /// Bid is above ask.
    CrossedQuote,
    /// Bid or ask is zero or negative (no two-sided market).
    ZeroPrice,
    /// The expiry's close is at or before `as_of`.
    Expired,
    /// The mid has no implied volatility.
    Iv(IvFailure),
}

const QUOTE_REASONS: [SkipReason; 7] = [
    SkipReason::InvalidSpot,
    SkipReason::InvalidStrike,
    SkipReason::MissingQuote,
    SkipReason::NonFiniteQuote,
    SkipReason::CrossedQuote,
    SkipReason::ZeroPrice,
    SkipReason::Expired,
];
const SKIP_KINDS: usize = QUOTE_REASONS.len() + IvFailure::ALL.len();

impl SkipReason {
    /// Every reason, in counting order.
    #[must_use]
    pub fn all() -> Vec<SkipReason> {
        QUOTE_REASONS
            .iter()
            .copied()
            .chain(IvFailure::ALL.iter().map(|f| SkipReason::Iv(*f)))
            .collect()
    }

    fn index(self) -> usize {
        match self {
            SkipReason::InvalidSpot => 0,
            SkipReason::InvalidStrike => 1,
            SkipReason::MissingQuote => 2,
            SkipReason::NonFiniteQuote => 3,
            SkipReason::CrossedQuote => 4,
            SkipReason::ZeroPrice => 5,
            SkipReason::Expired => 6,
            SkipReason::Iv(f) => {
                QUOTE_REASONS.len()
                    + match f {
                        IvFailure::NonFinite => 0,
                        IvFailure::NonPositiveInput => 1,
                        IvFailure::NonPositiveTime => 2,
                        IvFailure::OutOfDomain => 3,
                        IvFailure::BelowIntrinsic => 4,
                        IvFailure::ZeroTimeValue => 5,
                        IvFailure::AboveUpperBound => 6,
                        IvFailure::NoSolution => 7,
                    }
            }
        }
    }

    /// Stable snake_case code (IV failures are prefixed `iv_`).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::InvalidSpot => "invalid_spot",
            SkipReason::InvalidStrike => "invalid_strike",
            SkipReason::MissingQuote => "missing_quote",
            SkipReason::NonFiniteQuote => "non_finite_quote",
            SkipReason::CrossedQuote => "crossed_quote",
            SkipReason::ZeroPrice => "zero_price",
            SkipReason::Expired => "expired",
            SkipReason::Iv(IvFailure::NonFinite) => "iv_non_finite",
            SkipReason::Iv(IvFailure::NonPositiveInput) => "iv_non_positive_input",
            SkipReason::Iv(IvFailure::NonPositiveTime) => "iv_non_positive_time",
            SkipReason::Iv(IvFailure::OutOfDomain) => "iv_out_of_domain",
            SkipReason::Iv(IvFailure::BelowIntrinsic) => "iv_below_intrinsic",
            SkipReason::Iv(IvFailure::ZeroTimeValue) => "iv_zero_time_value",
            SkipReason::Iv(IvFailure::AboveUpperBound) => "iv_above_upper_bound",
            SkipReason::Iv(IvFailure::NoSolution) => "iv_no_solution",
        }
    }
}

/// How many contracts were skipped, per reason. Serializes as a JSON object
/// `{code: count}` listing only the reasons that occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkipCounts {
    counts: [u32; SKIP_KINDS],
}

impl SkipCounts {
    /// Count one skipped contract.
    pub fn add(&mut self, reason: SkipReason) {
        let c = &mut self.counts[reason.index()];
        *c = c.saturating_add(1);
    }

    /// Contracts skipped for `reason`.
    #[must_use]
    pub fn get(&self, reason: SkipReason) -> u32 {
        self.counts[reason.index()]
    }

    /// All skipped contracts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| u64::from(*c)).sum()
    }
}

impl Serialize for SkipCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let reasons = SkipReason::all();
        let nonzero: Vec<(SkipReason, u32)> = reasons
            .into_iter()
            .map(|r| (r, self.get(r)))
            .filter(|(_, c)| *c > 0)
            .collect();
        let mut map = serializer.serialize_map(Some(nonzero.len()))?;
        for (r, c) in nonzero {
            map.serialize_entry(r.code(), &c)?;
        }
        map.end()
    }
}

/// History the per-underlying metrics need (oldest first). Either may be
/// empty; the metrics that depend on it are then `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChainHistory<'a> {
    /// Daily bars of the underlying, the latest completed session last.
    pub daily_bars: &'a [DailyBar],
    /// The 30-day ATM IV of earlier days (one per trading day), not today.
    pub atm_iv_30d: &'a [f64],
}

/// One valued contract.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContractAnalytics {
    pub expiry: NaiveDate,
    pub strike: f64,
    pub right: OptionRight,
    /// Bid/ask midpoint the IV was implied from.
    pub mid: f64,
    pub iv: f64,
    pub greeks: Greeks,
    pub volume: Option<u64>,
    pub open_interest: Option<u64>,
}

/// Per-expiry results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpiryAnalytics {
    pub expiry: NaiveDate,
    pub dte: u32,
    /// Calendar years from `as_of` to the close on expiry ([`expiry_close_utc`]).
    pub t_years: f64,
    /// `S·e^((r-q)T)`.
    pub forward: f64,
    /// IV at the forward, linear in strike between the out-of-the-money
    /// quotes around it.
    pub atm_iv: Option<f64>,
    /// Put IV at -25 delta, linear in delta between neighbouring puts.
    pub put_iv_25d: Option<f64>,
    /// Call IV at +25 delta, linear in delta between neighbouring calls.
    pub call_iv_25d: Option<f64>,
    /// `put_iv_25d - call_iv_25d`.
    pub skew_25d: Option<f64>,
    /// Range of this expiry in [`ChainAnalytics::contracts`].
    pub first_contract: usize,
    pub contract_count: usize,
}

/// One contract with volume well above its open interest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnusualActivity {
    pub expiry: NaiveDate,
    pub strike: f64,
    pub right: OptionRight,
    pub volume: u64,
    pub open_interest: u64,
    /// `volume / max(open_interest, 1)`.
    pub volume_oi_ratio: f64,
}

/// Everything computed for one underlying from its chain and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainAnalytics {
    pub symbol: Symbol,
    pub spot: f64,
    pub as_of: DateTime<Utc>,
    pub rate: f64,
    pub div_yield: f64,
    /// Valued contracts, grouped by expiry in chain order.
    pub contracts: Vec<ContractAnalytics>,
    pub expiries: Vec<ExpiryAnalytics>,
    /// Constant-maturity 30-calendar-day ATM IV (see `atm_iv_30d_interpolated`).
    pub atm_iv_30d: Option<f64>,
    /// True when two expiries bracket 30 days (total-variance interpolation);
    /// false when the nearest expiry's ATM IV was carried flat.
    pub atm_iv_30d_interpolated: bool,
    /// IV rank / percentile of `atm_iv_30d` over 252 trading days.
    pub iv_rank: Option<IvRankStats>,
    /// Close-to-close realized vol over 10/20/30 sessions.
    pub rv_10d: Option<f64>,
    pub rv_20d: Option<f64>,
    pub rv_30d: Option<f64>,
    /// Yang-Zhang realized vol over 20 sessions.
    pub rv_yang_zhang_20d: Option<f64>,
    /// `atm_iv_30d - rv_20d` (decimal vol, 0.05 = 5 points).
    pub iv_rv_spread: Option<f64>,
    /// Vol of the 30-day ATM IV over the last 20 daily changes (today's
    /// value included), annualized.
    pub vol_of_vol: Option<f64>,
    /// 25-delta skew at 30 days: interpolated linearly in time between the
    /// expiries bracketing 30 days, else the nearest expiry's.
    pub skew_25d_30d: Option<f64>,
    /// Term-structure slope: `(atm_iv_last - atm_iv_first) / (dte_last -
    /// dte_first) × 30` over the expiries that have an ATM IV; decimal vol per
    /// 30 days (> 0 contango, < 0 backwardation).
    pub term_slope_per_30d: Option<f64>,
    /// Volume z-score of the latest daily bar vs the 20 before it.
    pub volume_zscore_20d: Option<f64>,
    pub momentum: Momentum,
    /// Σ put volume / Σ call volume over all contracts that report volume.
    pub put_call_volume_ratio: Option<f64>,
    /// Σ put OI / Σ call OI.
    pub put_call_oi_ratio: Option<f64>,
    /// Most unusual contracts (highest volume/OI first).
    pub unusual_activity: Vec<UnusualActivity>,
    /// Dealer gamma exposure in dollars per 1 % move of the underlying:
    /// `Σ ±γ·OI·100·S²·0.01`, + for calls, - for puts (dealers assumed long
    /// calls and short puts).
    pub gex_per_1pct: f64,
    /// Dealer delta exposure in dollars of underlying: `Σ ±Δ·OI·100·S` with the
    /// same sign convention as GEX.
    pub dex: f64,
}

impl ChainAnalytics {
    /// Score inputs from these analytics: realized vol (20-day
    /// close-to-close), range of the latest daily bar in percent of its low,
    /// volume z-score, 1-day rate of change and IV rank.
    #[must_use]
    pub fn factor_inputs(&self, daily_bars: &[DailyBar]) -> FactorInputs {
        let range_pct = daily_bars
            .last()
            .filter(|b| b.low.is_finite() && b.low > 0.0 && b.high >= b.low)
            .map(|b| (b.high - b.low) / b.low * 100.0)
            .filter(|v| v.is_finite());
        FactorInputs {
            realized_vol: self.rv_20d,
            range_pct,
            volume_ratio: None,
            volume_zscore: self.volume_zscore_20d,
            momentum_pct: self.momentum.roc_1d_pct,
            iv_rank: self.iv_rank.and_then(|s| s.iv_rank),
        }
    }
}

/// Second Sunday of March and first Sunday of November (US DST, since 2007).
fn nth_sunday(year: i32, month: u32, n: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8)
}

/// The close of trading on `date` in UTC: the NYSE session's closing bell
/// from [`crate::calendar::MarketCalendar`] (16:00 New York, 13:00 on early
/// closes); on a date without a session (an expiry listed on a holiday or a
/// weekend) 16:00 New York by the US DST rule (EDT = UTC-4 from the second
/// Sunday of March to the first Sunday of November, else EST = UTC-5).
#[must_use]
pub fn expiry_close_utc(date: NaiveDate) -> DateTime<Utc> {
    if let Some(session) = crate::calendar::MarketCalendar::session(date) {
        return session.close_utc;
    }
    let year = date.year();
    let dst = match (nth_sunday(year, 3, 2), nth_sunday(year, 11, 1)) {
        (Some(start), Some(end)) => date >= start && date < end,
        _ => false,
    };
    let hour = if dst { 20 } else { 21 };
    date.and_time(NaiveTime::MIN).and_utc() + chrono::Duration::hours(hour)
}

/// Calendar years (ACT/365) from `as_of` to the close on `expiry`.
#[must_use]
pub fn time_to_expiry_years(as_of: DateTime<Utc>, expiry: NaiveDate) -> f64 {
    let secs = (expiry_close_utc(expiry) - as_of).num_seconds() as f64;
    secs / (DAYS_PER_YEAR * 86_400.0)
}

/// The mid of a quote, or why there is none.
fn mid_price(bid: Option<f64>, ask: Option<f64>) -> Result<f64, SkipReason> {
    let (Some(bid), Some(ask)) = (bid, ask) else {
        return Err(SkipReason::MissingQuote);
    };
    if !(bid.is_finite() && ask.is_finite()) {
        return Err(SkipReason::NonFiniteQuote);
    }
    if bid > ask {
        return Err(SkipReason::CrossedQuote);
    }
    if bid <= 0.0 || ask <= 0.0 {
        return Err(SkipReason::ZeroPrice);
    }
    Ok(0.5 * (bid + ask))
}

/// Linear interpolation of `y` at `x` between the nearest points on each side
/// (points need not be sorted). Exact hits average their `y`s.
fn interpolate_bracketed(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let mut below: Option<(f64, f64)> = None;
    let mut above: Option<(f64, f64)> = None;
    let (mut exact_sum, mut exact_n) = (0.0, 0u32);
    for &(px, py) in points {
        if px == x {
            exact_sum += py;
            exact_n += 1;
        } else if px < x {
            if below.is_none_or(|(bx, _)| px > bx) {
                below = Some((px, py));
            }
        } else if above.is_none_or(|(ax, _)| px < ax) {
            above = Some((px, py));
        }
    }
    if exact_n > 0 {
        return Some(exact_sum / f64::from(exact_n));
    }
    let ((x0, y0), (x1, y1)) = (below?, above?);
    Some(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
}

fn expiry_metrics(
    contracts: &[ContractAnalytics],
    forward: f64,
) -> (Option<f64>, Option<f64>, Option<f64>) {
    let mut atm_points = Vec::new();
    let mut put_points = Vec::new();
    let mut call_points = Vec::new();
    for c in contracts {
        match c.right {
            OptionRight::Call => {
                if c.strike >= forward {
                    atm_points.push((c.strike, c.iv));
                }
                call_points.push((c.greeks.delta, c.iv));
            }
            OptionRight::Put => {
                if c.strike <= forward {
                    atm_points.push((c.strike, c.iv));
                }
                put_points.push((c.greeks.delta, c.iv));
            }
        }
    }
    (
        interpolate_bracketed(&atm_points, forward),
        interpolate_bracketed(&put_points, -SKEW_DELTA),
        interpolate_bracketed(&call_points, SKEW_DELTA),
    )
}

/// ATM IV at 30 days: total variance `σ²T` linear in `T` between the two
/// expiries around 30 days; flat IV of the nearest expiry otherwise.
fn constant_maturity_iv(points: &[(f64, f64)]) -> (Option<f64>, bool) {
    let target = ATM_IV_TARGET_DAYS / DAYS_PER_YEAR;
    let mut below: Option<(f64, f64)> = None;
    let mut above: Option<(f64, f64)> = None;
    for &(t, iv) in points {
        if t <= target {
            if below.is_none_or(|(bt, _)| t > bt) {
                below = Some((t, iv));
            }
        } else if above.is_none_or(|(at, _)| t < at) {
            above = Some((t, iv));
        }
    }
    match (below, above) {
        (Some((t0, v0)), _) if t0 == target => (Some(v0), true),
        (Some((t0, v0)), Some((t1, v1))) => {
            let w0 = v0 * v0 * t0;
            let w1 = v1 * v1 * t1;
            let w = w0 + (w1 - w0) * (target - t0) / (t1 - t0);
            let iv = (w / target).sqrt();
            if iv.is_finite() && iv > 0.0 {
                (Some(iv), true)
            } else {
                (None, false)
            }
        }
        (Some((_, v)), None) | (None, Some((_, v))) => (Some(v), false),
        (None, None) => (None, false),
    }
}

/// Value linear in time between the points around 30 days, else the nearest.
fn at_30_days(points: &[(f64, f64)]) -> Option<f64> {
    let target = ATM_IV_TARGET_DAYS / DAYS_PER_YEAR;
    if let Some(v) = interpolate_bracketed(points, target) {
        return Some(v);
    }
    points
        .iter()
        .min_by(|a, b| (a.0 - target).abs().total_cmp(&(b.0 - target).abs()))
        .map(|p| p.1)
}

/// Analyzes one chain. `rate` is the continuously compounded risk-free rate;
/// the dividend yield is the chain's (`0` when absent or not finite).
#[must_use]
pub fn analyze(
    chain: &OptionChain,
    rate: f64,
    history: &ChainHistory<'_>,
) -> (ChainAnalytics, SkipCounts) {
    let mut skips = SkipCounts::default();
    let spot = chain.spot;
    let spot_ok = spot.is_finite() && spot > 0.0;
    let rate = if rate.is_finite() { rate } else { 0.0 };
    let div_yield = chain
        .dividend_yield
        .filter(|q| q.is_finite())
        .unwrap_or(0.0);
    let total: usize = chain.expiries.iter().map(|e| e.contracts.len()).sum();
    let mut contracts = Vec::with_capacity(total);
    let mut expiries = Vec::with_capacity(chain.expiries.len());

    let (mut put_vol, mut call_vol, mut put_oi, mut call_oi) = (0u64, 0u64, 0u64, 0u64);
    let mut unusual = Vec::new();
    let (mut gex, mut dex) = (0.0, 0.0);

    for exp in &chain.expiries {
        let t_years = time_to_expiry_years(chain.as_of, exp.expiry);
        let first = contracts.len();
        for q in &exp.contracts {
            // Flow statistics use every contract that reports them.
            let (vol_q, oi_q) = (q.volume.unwrap_or(0), q.open_interest.unwrap_or(0));
            match q.right {
                OptionRight::Call => {
                    call_vol = call_vol.saturating_add(vol_q);
                    call_oi = call_oi.saturating_add(oi_q);
                }
                OptionRight::Put => {
                    put_vol = put_vol.saturating_add(vol_q);
                    put_oi = put_oi.saturating_add(oi_q);
                }
            }
            if let Some(v) = q.volume.filter(|v| *v >= UNUSUAL_MIN_VOLUME) {
                let oi = q.open_interest.unwrap_or(0);
                let ratio = v as f64 / oi.max(1) as f64;
                if ratio >= UNUSUAL_VOLUME_OI_RATIO && q.strike.is_finite() {
                    unusual.push(UnusualActivity {
                        expiry: exp.expiry,
                        strike: q.strike,
                        right: q.right,
                        volume: v,
                        open_interest: oi,
                        volume_oi_ratio: ratio,
                    });
                }
            }

            let valued = (|| {
                if !spot_ok {
                    return Err(SkipReason::InvalidSpot);
                }
                if !(q.strike.is_finite() && q.strike > 0.0) {
                    return Err(SkipReason::InvalidStrike);
                }
                let mid = mid_price(q.bid, q.ask)?;
                if t_years <= 0.0 {
                    return Err(SkipReason::Expired);
                }
                let iv = implied_vol(&IvInput {
                    price: mid,
                    spot,
                    strike: q.strike,
                    t_years,
                    rate,
                    div_yield,
                    right: q.right,
                })
                .map_err(SkipReason::Iv)?;
                let (_, greeks) = price_and_greeks(&BsmInput {
                    spot,
                    strike: q.strike,
                    t_years,
                    rate,
                    div_yield,
                    vol: iv,
                    right: q.right,
                });
                Ok((mid, iv, greeks))
            })();
            match valued {
                Ok((mid, iv, greeks)) => {
                    let oi = q.open_interest.unwrap_or(0) as f64;
                    let sign = match q.right {
                        OptionRight::Call => 1.0,
                        OptionRight::Put => -1.0,
                    };
                    gex += sign * greeks.gamma * oi * CONTRACT_MULTIPLIER * spot * spot * 0.01;
                    dex += sign * greeks.delta * oi * CONTRACT_MULTIPLIER * spot;
                    contracts.push(ContractAnalytics {
                        expiry: exp.expiry,
                        strike: q.strike,
                        right: q.right,
                        mid,
                        iv,
                        greeks,
                        volume: q.volume,
                        open_interest: q.open_interest,
                    });
                }
                Err(reason) => skips.add(reason),
            }
        }
        let forward = if spot_ok {
            spot * ((rate - div_yield) * t_years.max(0.0)).exp()
        } else {
            f64::NAN
        };
        let (atm_iv, put_iv_25d, call_iv_25d) = expiry_metrics(&contracts[first..], forward);
        let skew_25d = match (put_iv_25d, call_iv_25d) {
            (Some(p), Some(c)) => Some(p - c),
            _ => None,
        };
        expiries.push(ExpiryAnalytics {
            expiry: exp.expiry,
            dte: exp.dte,
            t_years,
            forward,
            atm_iv,
            put_iv_25d,
            call_iv_25d,
            skew_25d,
            first_contract: first,
            contract_count: contracts.len() - first,
        });
    }

    let live: Vec<&ExpiryAnalytics> = expiries.iter().filter(|e| e.t_years > 0.0).collect();
    let atm_points: Vec<(f64, f64)> = live
        .iter()
        .filter_map(|e| e.atm_iv.map(|v| (e.t_years, v)))
        .collect();
    let (atm_iv_30d, atm_iv_30d_interpolated) = constant_maturity_iv(&atm_points);
    let skew_points: Vec<(f64, f64)> = live
        .iter()
        .filter_map(|e| e.skew_25d.map(|v| (e.t_years, v)))
        .collect();
    let skew_25d_30d = at_30_days(&skew_points);
    let term_slope_per_30d = {
        let with_iv: Vec<(u32, f64)> = live
            .iter()
            .filter_map(|e| e.atm_iv.map(|v| (e.dte, v)))
            .collect();
        let first = with_iv.iter().min_by_key(|p| p.0);
        let last = with_iv.iter().max_by_key(|p| p.0);
        match (first, last) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                Some((b.1 - a.1) / f64::from(b.0 - a.0) * ATM_IV_TARGET_DAYS)
            }
            _ => None,
        }
    };

    let bars = history.daily_bars;
    let rv_20d = vol::close_to_close_vol(bars, 20);
    let iv_rank = atm_iv_30d.and_then(|iv| vol::iv_rank(history.atm_iv_30d, iv));
    let vol_of_vol = atm_iv_30d.and_then(|iv| {
        let mut series: Vec<f64> = history.atm_iv_30d.to_vec();
        series.push(iv);
        vol::vol_of_vol(&series, 20)
    });
    let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);

    unusual.sort_by(|a, b| {
        b.volume_oi_ratio
            .total_cmp(&a.volume_oi_ratio)
            .then(b.volume.cmp(&a.volume))
    });
    unusual.truncate(UNUSUAL_MAX_REPORTED);

    let analytics = ChainAnalytics {
        symbol: chain.symbol.clone(),
        spot,
        as_of: chain.as_of,
        rate,
        div_yield,
        contracts,
        expiries,
        atm_iv_30d,
        atm_iv_30d_interpolated,
        iv_rank,
        rv_10d: vol::close_to_close_vol(bars, 10),
        rv_20d,
        rv_30d: vol::close_to_close_vol(bars, 30),
        rv_yang_zhang_20d: vol::yang_zhang_vol(bars, 20),
        iv_rv_spread: atm_iv_30d.zip(rv_20d).map(|(iv, rv)| iv - rv),
        vol_of_vol,
        skew_25d_30d,
        term_slope_per_30d,
        volume_zscore_20d: vol::volume_zscore(bars, 20),
        momentum: vol::momentum(bars),
        put_call_volume_ratio: ratio(put_vol, call_vol),
        put_call_oi_ratio: ratio(put_oi, call_oi),
        unusual_activity: unusual,
        gex_per_1pct: if gex.is_finite() { gex } else { 0.0 },
        dex: if dex.is_finite() { dex } else { 0.0 },
    };
    (analytics, skips)
}

//! Statistics over daily history: realized volatility (close-to-close and
//! Yang-Zhang), IV rank / percentile, vol-of-vol, volume z-score, momentum.
//!
//! Inputs are oldest first. Bars with a non-finite or non-positive price are
//! dropped before any window is taken, so one bad bar shortens the history
//! instead of poisoning the statistic. Every function returns `None` rather
//! than NaN when the history is too short or degenerate.

use serde::{Deserialize, Serialize};

use crate::market::DailyBar;

/// Trading days per year used to annualize daily statistics.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;
/// Look-back of IV rank and IV percentile, in trading days.
pub const IV_HISTORY_DAYS: usize = 252;

fn valid_bar(b: &DailyBar) -> bool {
    [b.open, b.high, b.low, b.close]
        .iter()
        .all(|v| v.is_finite() && *v > 0.0)
        && b.high >= b.low
}

fn clean(bars: &[DailyBar]) -> Vec<&DailyBar> {
    bars.iter().filter(|b| valid_bar(b)).collect()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample variance (n-1); `None` for fewer than two values.
fn sample_var(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs);
    Some(xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Close-to-close realized volatility over the last `window` daily log
/// returns: sample standard deviation (n-1, mean removed) × √252.
/// Needs `window + 1` valid bars and `window >= 2`.
#[must_use]
pub fn close_to_close_vol(bars: &[DailyBar], window: usize) -> Option<f64> {
    let bars = clean(bars);
    if window < 2 || bars.len() < window + 1 {
        return None;
    }
    let tail = &bars[bars.len() - window - 1..];
    let rets: Vec<f64> = tail
        .windows(2)
        .map(|w| (w[1].close / w[0].close).ln())
        .collect();
    finite((sample_var(&rets)? * TRADING_DAYS_PER_YEAR).sqrt())
}

/// Yang-Zhang (2000) realized volatility over the last `window` days:
/// `σ² = σ_o² + k·σ_c² + (1-k)·σ_rs²`, with σ_o² the sample variance of
/// overnight returns `ln(O_t/C_{t-1})`, σ_c² that of open-to-close returns
/// `ln(C_t/O_t)`, σ_rs² the Rogers-Satchell mean
/// `ln(H/C)·ln(H/O) + ln(L/C)·ln(L/O)`, and `k = 0.34 / (1.34 + (n+1)/(n-1))`;
/// annualized with √252. Needs `window + 1` valid bars and `window >= 2`.
#[must_use]
pub fn yang_zhang_vol(bars: &[DailyBar], window: usize) -> Option<f64> {
    let bars = clean(bars);
    if window < 2 || bars.len() < window + 1 {
        return None;
    }
    let tail = &bars[bars.len() - window - 1..];
    let mut overnight = Vec::with_capacity(window);
    let mut open_close = Vec::with_capacity(window);
    let mut rs = 0.0;
    for w in tail.windows(2) {
        let (prev, b) = (w[0], w[1]);
        overnight.push((b.open / prev.close).ln());
        open_close.push((b.close / b.open).ln());
        rs += (b.high / b.close).ln() * (b.high / b.open).ln()
            + (b.low / b.close).ln() * (b.low / b.open).ln();
    }
    let n = window as f64;
    let k = 0.34 / (1.34 + (n + 1.0) / (n - 1.0));
    let var = sample_var(&overnight)? + k * sample_var(&open_close)? + (1.0 - k) * rs / n;
    finite((var.max(0.0) * TRADING_DAYS_PER_YEAR).sqrt())
}

/// Parkinson (1980) high-low volatility over the last `window` bars:
/// `sqrt(Σ ln(H/L)² / (4·ln2·n) × 252)`.
#[must_use]
pub fn parkinson_vol(bars: &[DailyBar], window: usize) -> Option<f64> {
    let bars = clean(bars);
    if window < 1 || bars.len() < window {
        return None;
    }
    let tail = &bars[bars.len() - window..];
    let sum: f64 = tail.iter().map(|b| (b.high / b.low).ln().powi(2)).sum();
    finite((sum / (4.0 * std::f64::consts::LN_2 * window as f64) * TRADING_DAYS_PER_YEAR).sqrt())
}

/// Where the current implied volatility sits in its own history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IvRankStats {
    /// `(current - min) / (max - min) × 100` over the look-back (including
    /// the current value); `None` when max == min.
    pub iv_rank: Option<f64>,
    /// Share of earlier days in the look-back with an IV strictly below the
    /// current one, × 100.
    pub iv_percentile: f64,
    /// Days of history used (at most 252, including today).
    pub days: usize,
}

/// IV rank and percentile of `current` against `history` (daily 30-day ATM
/// IVs, oldest first, NOT including today). Uses the last 251 history values
/// plus `current` (252 days). Non-finite or non-positive history values are
/// skipped. `None` when `current` is invalid or there is no valid history.
#[must_use]
pub fn iv_rank(history: &[f64], current: f64) -> Option<IvRankStats> {
    if !(current.is_finite() && current > 0.0) {
        return None;
    }
    let valid: Vec<f64> = history
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if valid.is_empty() {
        return None;
    }
    let past = &valid[valid.len().saturating_sub(IV_HISTORY_DAYS - 1)..];
    let (mut lo, mut hi) = (current, current);
    for &v in past {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let iv_rank = (hi > lo).then(|| (current - lo) / (hi - lo) * 100.0);
    let below = past.iter().filter(|v| **v < current).count();
    Some(IvRankStats {
        iv_rank,
        iv_percentile: below as f64 / past.len() as f64 * 100.0,
        days: past.len() + 1,
    })
}

/// Volatility of volatility: sample standard deviation of daily log changes
/// of the IV series over the last `window` changes, annualized with √252
/// (0.8 = the IV itself moves about 80 % a year in relative terms).
#[must_use]
pub fn vol_of_vol(iv_series: &[f64], window: usize) -> Option<f64> {
    let valid: Vec<f64> = iv_series
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if window < 2 || valid.len() < window + 1 {
        return None;
    }
    let tail = &valid[valid.len() - window - 1..];
    let changes: Vec<f64> = tail.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    finite((sample_var(&changes)? * TRADING_DAYS_PER_YEAR).sqrt())
}

/// Z-score of the latest bar's volume against the `baseline` bars before it:
/// `(v - mean) / sample stdev`. `None` when the baseline is short or flat.
#[must_use]
pub fn volume_zscore(bars: &[DailyBar], baseline: usize) -> Option<f64> {
    let bars = clean(bars);
    if baseline < 2 || bars.len() < baseline + 1 {
        return None;
    }
    let latest = bars[bars.len() - 1].volume as f64;
    let base: Vec<f64> = bars[bars.len() - 1 - baseline..bars.len() - 1]
        .iter()
        .map(|b| b.volume as f64)
        .collect();
    let sd = sample_var(&base)?.sqrt();
    if sd <= 0.0 {
        return None;
    }
    finite((latest - mean(&base)) / sd)
}

/// Rate of change and trend of the closes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Momentum {
    /// Last close vs the close one session earlier, percent.
    pub roc_1d_pct: Option<f64>,
    /// Last close vs the close 20 sessions earlier, percent.
    pub roc_20d_pct: Option<f64>,
    /// Last close vs its 20-day simple moving average, percent.
    pub vs_sma20_pct: Option<f64>,
    /// Last close vs its 50-day simple moving average, percent.
    pub vs_sma50_pct: Option<f64>,
    /// Least-squares slope of ln(close) over the last 20 closes, percent per
    /// day (the trend; sign = direction).
    pub trend_20d_pct_per_day: Option<f64>,
}

/// Momentum measures from daily closes (each `None` when too few bars).
#[must_use]
pub fn momentum(bars: &[DailyBar]) -> Momentum {
    let closes: Vec<f64> = clean(bars).iter().map(|b| b.close).collect();
    let n = closes.len();
    let roc = |lag: usize| {
        (n > lag)
            .then(|| (closes[n - 1] / closes[n - 1 - lag] - 1.0) * 100.0)
            .and_then(finite)
    };
    let vs_sma = |len: usize| {
        (n >= len)
            .then(|| (closes[n - 1] / mean(&closes[n - len..]) - 1.0) * 100.0)
            .and_then(finite)
    };
    let trend = (n >= 20)
        .then(|| {
            let ys: Vec<f64> = closes[n - 20..].iter().map(|c| c.ln()).collect();
            let xm = 9.5;
            let ym = mean(&ys);
            let (mut sxy, mut sxx) = (0.0, 0.0);
            for (i, y) in ys.iter().enumerate() {
                let dx = i as f64 - xm;
                sxy += dx * (y - ym);
                sxx += dx * dx;
            }
            sxy / sxx * 100.0
        })
        .and_then(finite);
    Momentum {
        roc_1d_pct: roc(1),
        roc_20d_pct: roc(20),
        vs_sma20_pct: vs_sma(20),
        vs_sma50_pct: vs_sma(50),
        trend_20d_pct_per_day: trend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn bar(i: usize, o: f64, h: f64, l: f64, c: f64, v: u64) -> DailyBar {
        DailyBar {
            date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(i as u64),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        }
    }

    fn alternating(n: usize, step: f64) -> Vec<DailyBar> {
        let mut px = 100.0;
        (0..n)
            .map(|i| {
                if i > 0 {
                    px *= if i % 2 == 0 {
                        step.exp()
                    } else {
                        (-step).exp()
                    };
                }
                bar(i, px, px, px, px, 1000)
            })
            .collect()
    }

    #[test]
    fn close_to_close_matches_hand_computation() {
        // returns alternate -s, +s, ... (20 returns, mean 0)
        let bars = alternating(21, 0.01);
        let v = close_to_close_vol(&bars, 20).unwrap();
        let expected = (20.0 * 0.0001 / 19.0 * 252.0_f64).sqrt();
        assert!((v - expected).abs() < 1e-12, "{v} vs {expected}");
        assert_eq!(close_to_close_vol(&bars, 21), None);
    }

    #[test]
    fn yang_zhang_equals_close_to_close_without_gaps_or_ranges() {
        // open = previous close and high = low = close: only the
        // open-to-close term is left, weighted by k; with open = close the
        // result is exactly zero.
        let flat = alternating(21, 0.0);
        assert_eq!(yang_zhang_vol(&flat, 20), Some(0.0));
        // Every day opens at the previous close and moves by ±s to close.
        let mut px = 100.0;
        let bars: Vec<DailyBar> = (0..21)
            .map(|i| {
                let open = px;
                if i > 0 {
                    px *= if i % 2 == 0 {
                        0.01_f64.exp()
                    } else {
                        (-0.01_f64).exp()
                    };
                }
                bar(i, open, open.max(px), open.min(px), px, 1)
            })
            .collect();
        let n = 20.0_f64;
        let k = 0.34 / (1.34 + (n + 1.0) / (n - 1.0));
        let var_oc = 20.0 * 0.0001 / 19.0;
        let expected = ((k * var_oc) * 252.0).sqrt();
        let got = yang_zhang_vol(&bars, 20).unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn parkinson_of_constant_range() {
        let bars: Vec<DailyBar> = (0..10)
            .map(|i| bar(i, 100.0, 101.0, 99.0, 100.0, 1))
            .collect();
        let r = (101.0_f64 / 99.0).ln();
        let expected = (r * r / (4.0 * std::f64::consts::LN_2) * 252.0).sqrt();
        assert!((parkinson_vol(&bars, 10).unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn iv_rank_and_percentile() {
        let history: Vec<f64> = (1..=100).map(|i| i as f64 / 100.0).collect();
        let s = iv_rank(&history, 0.505).unwrap();
        assert_eq!(s.days, 101);
        assert!((s.iv_rank.unwrap() - (0.505 - 0.01) / 0.99 * 100.0).abs() < 1e-9);
        assert!((s.iv_percentile - 50.0).abs() < 1e-12);
        // look-back is capped at 252 days
        let long: Vec<f64> = (0..400).map(|i| if i < 100 { 5.0 } else { 0.2 }).collect();
        let s = iv_rank(&long, 0.3).unwrap();
        assert_eq!(s.days, 252);
        assert_eq!(s.iv_rank, Some(100.0));
        assert_eq!(iv_rank(&[f64::NAN], 0.3), None);
        assert_eq!(iv_rank(&[0.3], 0.3).unwrap().iv_rank, None);
    }

    #[test]
    fn volume_zscore_and_momentum() {
        let mut bars: Vec<DailyBar> = (0..21)
            .map(|i| {
                bar(
                    i,
                    100.0,
                    100.0,
                    100.0,
                    100.0 + i as f64,
                    if i % 2 == 0 { 900 } else { 1100 },
                )
            })
            .collect();
        bars[20].volume = 2000;
        let base: Vec<f64> = bars[..20].iter().map(|b| b.volume as f64).collect();
        let sd = sample_var(&base).unwrap().sqrt();
        let z = volume_zscore(&bars, 20).unwrap();
        assert!((z - (2000.0 - 1000.0) / sd).abs() < 1e-12);
        let m = momentum(&bars);
        assert!((m.roc_20d_pct.unwrap() - 20.0).abs() < 1e-12);
        assert!((m.roc_1d_pct.unwrap() - (120.0 / 119.0 - 1.0) * 100.0).abs() < 1e-12);
        assert!(m.trend_20d_pct_per_day.unwrap() > 0.0);
        assert_eq!(m.vs_sma50_pct, None);
        let sma20 = (101..=120).map(f64::from).sum::<f64>() / 20.0;
        assert!((m.vs_sma20_pct.unwrap() - (120.0 / sma20 - 1.0) * 100.0).abs() < 1e-12);
    }

    #[test]
    fn vol_of_vol_of_alternating_iv() {
        let series: Vec<f64> = (0..21)
            .map(|i| if i % 2 == 0 { 0.2 } else { 0.22 })
            .collect();
        let r = (0.22_f64 / 0.2).ln();
        let expected = (20.0 * r * r / 19.0 * 252.0).sqrt();
        assert!((vol_of_vol(&series, 20).unwrap() - expected).abs() < 1e-12);
    }
}

//! Score factors from the Worker's stored 15-minute quote snapshots (phase 1,
//! before any option data is available).
//!
//! Sessions are grouped by UTC calendar date: US regular hours (09:30-16:00
//! New York) fall inside one UTC date all year round.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::score::FactorInputs;

/// One stored quote snapshot of an underlying.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the quote was taken.
    pub t: DateTime<Utc>,
    /// Last trade price.
    pub last: f64,
    /// Cumulative shares traded in the session so far.
    pub volume: u64,
}

/// Trading hours per session used to annualize intraday variance.
pub const SESSION_HOURS: f64 = 6.5;
/// Trading sessions per year.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;
/// Fewest usable returns for a realized-volatility estimate.
pub const MIN_RETURNS_FOR_RV: usize = 6;
/// Longest gap between two snapshots of one session that still counts as one
/// return (a missed cron run or two is fine; a gap over a session is not).
pub const MAX_RETURN_GAP_SECONDS: i64 = (SESSION_HOURS * 3600.0) as i64;
/// Most earlier sessions averaged for the volume baseline.
pub const VOLUME_BASELINE_DAYS: usize = 20;

/// Trading-time seconds in one year: 6.5 h × 252 sessions.
const TRADING_SECONDS_PER_YEAR: f64 = SESSION_HOURS * 3600.0 * TRADING_DAYS_PER_YEAR;

fn seconds_of_day(t: &DateTime<Utc>) -> u32 {
    t.num_seconds_from_midnight()
}

/// Computes the phase-1 score factors from snapshots (any order; snapshots
/// with a non-finite or non-positive price are ignored, as are repeated
/// timestamps after the first):
///
/// - `realized_vol`: `sqrt(Σ r² / Σ Δt)` over log returns `r` between
///   consecutive snapshots of the same session, with `Δt` in trading years
///   (6.5 h × 252). For evenly spaced 15-minute snapshots this is the usual
///   `stdev₀ × sqrt(26 × 252)` (zero-mean). Overnight returns are excluded
///   and so are idle intervals (price AND volume unchanged: market closed), so
///   snapshots taken by a 24/7 cron do not dilute the estimate. Needs
///   [`MIN_RETURNS_FOR_RV`] returns.
/// - `range_pct`: latest session's `(high - low) / low × 100` over its
///   snapshots (a lower bound of the true range: ticks between snapshots are
///   not seen). Needs two snapshots in the session.
/// - `volume_ratio`: latest cumulative volume divided by the mean cumulative
///   volume of up to 20 earlier sessions at the same time of day (each
///   session's last snapshot at or before that time). Needs one earlier
///   session with positive volume by then.
/// - `momentum_pct`: `(last / reference - 1) × 100`, the reference being the
///   previous session's last snapshot, or the latest session's first snapshot
///   when there is no earlier session.
/// - `volume_zscore` and `iv_rank` stay `None` (they need daily bars / IV).
#[must_use]
pub fn factors_from_snapshots(snapshots: &[Snapshot]) -> FactorInputs {
    let mut snaps: Vec<Snapshot> = snapshots
        .iter()
        .copied()
        .filter(|s| s.last.is_finite() && s.last > 0.0)
        .collect();
    snaps.sort_by_key(|s| s.t);
    snaps.dedup_by_key(|s| s.t);
    let Some(latest) = snaps.last().copied() else {
        return FactorInputs::default();
    };

    // Sessions as index ranges into `snaps`.
    let mut sessions: Vec<(NaiveDate, usize, usize)> = Vec::new();
    for (i, s) in snaps.iter().enumerate() {
        let d = s.t.date_naive();
        match sessions.last_mut() {
            Some((day, _, end)) if *day == d => *end = i + 1,
            _ => sessions.push((d, i, i + 1)),
        }
    }

    FactorInputs {
        realized_vol: realized_vol(&snaps),
        range_pct: session_range_pct(&snaps, &sessions),
        volume_ratio: volume_ratio(&snaps, &sessions, &latest),
        volume_zscore: None,
        momentum_pct: momentum_pct(&snaps, &sessions, &latest),
        iv_rank: None,
    }
}

fn realized_vol(snaps: &[Snapshot]) -> Option<f64> {
    let mut sum_sq = 0.0;
    let mut sum_dt = 0.0;
    let mut n = 0usize;
    for w in snaps.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a.t.date_naive() != b.t.date_naive() {
            continue;
        }
        let dt = (b.t - a.t).num_seconds();
        if dt <= 0 || dt > MAX_RETURN_GAP_SECONDS {
            continue;
        }
        if a.last == b.last && a.volume == b.volume {
            continue; // idle: nothing traded
        }
        let r = (b.last / a.last).ln();
        sum_sq += r * r;
        sum_dt += dt as f64 / TRADING_SECONDS_PER_YEAR;
        n += 1;
    }
    if n < MIN_RETURNS_FOR_RV || sum_dt <= 0.0 {
        return None;
    }
    let v = (sum_sq / sum_dt).sqrt();
    v.is_finite().then_some(v)
}

fn session_range_pct(snaps: &[Snapshot], sessions: &[(NaiveDate, usize, usize)]) -> Option<f64> {
    let &(_, start, end) = sessions.last()?;
    let day = &snaps[start..end];
    if day.len() < 2 {
        return None;
    }
    let high = day.iter().map(|s| s.last).fold(f64::MIN, f64::max);
    let low = day.iter().map(|s| s.last).fold(f64::MAX, f64::min);
    let pct = (high - low) / low * 100.0;
    pct.is_finite().then_some(pct)
}

fn volume_ratio(
    snaps: &[Snapshot],
    sessions: &[(NaiveDate, usize, usize)],
    latest: &Snapshot,
) -> Option<f64> {
    let tod = seconds_of_day(&latest.t);
    let earlier = &sessions[..sessions.len().saturating_sub(1)];
    let baseline: Vec<f64> = earlier
        .iter()
        .rev()
        .take(VOLUME_BASELINE_DAYS)
        .filter_map(|&(_, start, end)| {
            snaps[start..end]
                .iter()
                .rev()
                .find(|s| seconds_of_day(&s.t) <= tod)
                .map(|s| s.volume as f64)
        })
        .collect();
    if baseline.is_empty() {
        return None;
    }
    let mean = baseline.iter().sum::<f64>() / baseline.len() as f64;
    if mean <= 0.0 {
        return None;
    }
    let ratio = latest.volume as f64 / mean;
    ratio.is_finite().then_some(ratio)
}

fn momentum_pct(
    snaps: &[Snapshot],
    sessions: &[(NaiveDate, usize, usize)],
    latest: &Snapshot,
) -> Option<f64> {
    let reference = if sessions.len() >= 2 {
        let (_, _, prev_end) = sessions[sessions.len() - 2];
        snaps[prev_end - 1].last
    } else {
        let (_, start, end) = *sessions.last()?;
        if end - start < 2 {
            return None;
        }
        snaps[start].last
    };
    let pct = (latest.last / reference - 1.0) * 100.0;
    pct.is_finite().then_some(pct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap()
    }

    /// A session of 15-minute snapshots from 14:30 to 21:00 UTC with log
    /// returns alternating ±`step`, and volume growing by `vol_step`.
    fn session(day: u32, open: f64, step: f64, vol_step: u64) -> Vec<Snapshot> {
        let mut out = Vec::new();
        let mut price = open;
        for k in 0..=26u32 {
            let minutes = 14 * 60 + 30 + 15 * k;
            out.push(Snapshot {
                t: at(day, minutes / 60, minutes % 60),
                last: price,
                volume: vol_step * u64::from(k),
            });
            price *= if k % 2 == 0 {
                step.exp()
            } else {
                (-step).exp()
            };
        }
        out
    }

    #[test]
    fn realized_vol_scales_15_minute_returns_to_a_year() {
        let step = 0.002;
        let snaps = session(20, 100.0, step, 1000);
        let f = factors_from_snapshots(&snaps);
        let expected = step * (26.0_f64 * 252.0).sqrt();
        let rv = f.realized_vol.unwrap();
        assert!((rv - expected).abs() < 1e-12, "{rv} vs {expected}");
    }

    #[test]
    fn overnight_gaps_and_idle_snapshots_are_ignored() {
        let mut snaps = session(19, 100.0, 0.002, 1000);
        // overnight jump of 10 %, and idle snapshots after the close
        let close = snaps.last().copied().unwrap();
        for k in 1..=8 {
            snaps.push(Snapshot {
                t: close.t + chrono::Duration::minutes(15 * k),
                ..close
            });
        }
        snaps.extend(session(20, close.last * 1.1, 0.002, 1000));
        let rv = factors_from_snapshots(&snaps).realized_vol.unwrap();
        let expected = 0.002 * (26.0_f64 * 252.0).sqrt();
        assert!((rv - expected).abs() < 1e-12, "{rv} vs {expected}");
    }

    #[test]
    fn range_volume_and_momentum_from_sessions() {
        let mut snaps = session(19, 100.0, 0.01, 1000);
        let prev_close = snaps.last().unwrap().last;
        let mut today = session(20, 110.0, 0.01, 2000);
        today.truncate(9); // up to 16:30 UTC
        snaps.extend(today.iter().copied());
        let f = factors_from_snapshots(&snaps);
        // today's prices alternate between 110 and 110·e^0.01
        let range = ((0.01_f64).exp() - 1.0) * 100.0;
        assert!((f.range_pct.unwrap() - range).abs() < 1e-9);
        // at 16:30 today 8×2000 traded; yesterday 8×1000 by then
        assert!((f.volume_ratio.unwrap() - 2.0).abs() < 1e-12);
        let last = today.last().unwrap().last;
        let mom = (last / prev_close - 1.0) * 100.0;
        assert!((f.momentum_pct.unwrap() - mom).abs() < 1e-9);
        assert!(f.iv_rank.is_none() && f.volume_zscore.is_none());
    }

    #[test]
    fn sparse_or_garbage_input_gives_missing_factors() {
        assert_eq!(factors_from_snapshots(&[]), FactorInputs::default());
        let junk = [
            Snapshot {
                t: at(20, 15, 0),
                last: f64::NAN,
                volume: 5,
            },
            Snapshot {
                t: at(20, 15, 15),
                last: -3.0,
                volume: 5,
            },
            Snapshot {
                t: at(20, 15, 30),
                last: 10.0,
                volume: 5,
            },
        ];
        let f = factors_from_snapshots(&junk);
        assert_eq!(f.realized_vol, None);
        assert_eq!(f.range_pct, None);
        assert_eq!(f.momentum_pct, None);
        assert_eq!(f.volume_ratio, None);
    }
}

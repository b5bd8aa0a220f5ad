//! IV rank and IV percentile from a dated series of daily implied-volatility
//! closes (IB's `OPTION_IMPLIED_VOLATILITY` daily bars, or SAS's own 30-day
//! ATM IV snapshots), with the number of days they rest on; and how far two
//! such series (SAS's own vs IB's) differ on the dates both have.
//!
//! The rank itself is [`crate::analytics::vol::iv_rank`]; this module only
//! turns a dated series with gaps, duplicates and bad values into the
//! oldest-first list that function takes, and reports what it used.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::analytics::vol::{self, IvRankStats};
use crate::CoreError;

/// Lowest implied volatility (decimal, exclusive) treated as a real value.
pub const PLAUSIBLE_IV_MIN: f64 = 0.01;
/// Highest implied volatility (decimal, exclusive) treated as a real value.
pub const PLAUSIBLE_IV_MAX: f64 = 5.0;
/// Default look-back of IV rank, in calendar days (one year).
pub const DEFAULT_IV_LOOKBACK_DAYS: u32 = 365;
/// Default fewest days (including the current one) for a rank to be trusted.
pub const DEFAULT_MIN_IV_HISTORY_DAYS: usize = 20;

/// True when `iv` is finite and inside (`PLAUSIBLE_IV_MIN`, `PLAUSIBLE_IV_MAX`).
#[must_use]
pub fn plausible_iv(iv: f64) -> bool {
    iv.is_finite() && iv > PLAUSIBLE_IV_MIN && iv < PLAUSIBLE_IV_MAX
}

/// How IV rank is taken from a dated series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IvRankConfig {
    /// Calendar days of look-back ending at (and including) `as_of`.
    pub lookback_calendar_days: u32,
    /// Fewer days than this (current day included) sets `short_history`.
    pub min_days: usize,
}

impl Default for IvRankConfig {
    fn default() -> Self {
        Self {
            lookback_calendar_days: DEFAULT_IV_LOOKBACK_DAYS,
            min_days: DEFAULT_MIN_IV_HISTORY_DAYS,
        }
    }
}

impl IvRankConfig {
    /// Every problem at once.
    pub fn validate(&self) -> Result<(), Vec<CoreError>> {
        let mut errs = Vec::new();
        if !(1..=3660).contains(&self.lookback_calendar_days) {
            errs.push(CoreError::InvalidInput {
                field: "lookback_calendar_days",
                reason: format!("must be in 1..=3660, got {}", self.lookback_calendar_days),
            });
        }
        if !(1..=vol::IV_HISTORY_DAYS).contains(&self.min_days) {
            errs.push(CoreError::InvalidInput {
                field: "min_days",
                reason: format!(
                    "must be in 1..={}, got {}",
                    vol::IV_HISTORY_DAYS,
                    self.min_days
                ),
            });
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// IV rank / percentile of the latest value of a dated series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IvHistoryRank {
    /// Date of the current (latest usable) value.
    pub date: NaiveDate,
    pub current_iv: f64,
    /// `(current - min)/(max - min) × 100` over the days used; `None` with
    /// no earlier day or a flat history.
    pub iv_rank: Option<f64>,
    /// Share of the earlier days used with IV strictly below the current, ×
    /// 100; `None` with no earlier day.
    pub iv_percentile: Option<f64>,
    /// Days the figures rest on, the current one included (gaps are not
    /// filled; at most 252, the cap of [`vol::iv_rank`]).
    pub days: usize,
    /// Oldest date used.
    pub first_date: NaiveDate,
    /// `days < min_days`: show the figures with their day count, do not let
    /// them drive a decision.
    pub short_history: bool,
    /// Points inside the window that were ignored: IV not plausible
    /// (non-finite, ≤ 1 % or ≥ 500 %) or a repeated date (the later entry of
    /// the input wins).
    pub ignored_points: usize,
}

impl IvHistoryRank {
    /// The rank when the history is long enough to act on.
    #[must_use]
    pub fn usable_rank(&self) -> Option<f64> {
        self.iv_rank.filter(|_| !self.short_history)
    }

    /// The same figures as [`vol::iv_rank`]'s result (for
    /// [`crate::analytics::chain::ChainAnalytics::iv_rank`]); `None` with no
    /// earlier day.
    #[must_use]
    pub fn stats(&self) -> Option<IvRankStats> {
        Some(IvRankStats {
            iv_rank: self.iv_rank,
            iv_percentile: self.iv_percentile?,
            days: self.days,
        })
    }
}

/// Sorts by date and keeps one plausible value per date (the last one given);
/// returns the clean series and how many points were dropped.
fn clean_series(points: impl Iterator<Item = (NaiveDate, f64)>) -> (Vec<(NaiveDate, f64)>, usize) {
    let mut all: Vec<(NaiveDate, f64)> = points.collect();
    let n = all.len();
    // Stable sort: among equal dates the input order is kept, so the last
    // entry of a date is the last one given.
    all.sort_by_key(|p| p.0);
    let mut out: Vec<(NaiveDate, f64)> = Vec::with_capacity(n);
    for (d, v) in all {
        if !plausible_iv(v) {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.0 == d => last.1 = v,
            _ => out.push((d, v)),
        }
    }
    let dropped = n - out.len();
    (out, dropped)
}

/// IV rank and percentile of the latest plausible value on or before
/// `as_of`, against the other values of the look-back window
/// `(as_of - lookback_calendar_days, as_of]`. The series may be unsorted and
/// have gaps (only the days present are used, and counted); values after
/// `as_of` are never used. `None` when the window holds no plausible value.
#[must_use]
pub fn iv_rank_from_history(
    series: &[(NaiveDate, f64)],
    as_of: NaiveDate,
    cfg: &IvRankConfig,
) -> Option<IvHistoryRank> {
    let start = as_of.checked_sub_days(Days::new(u64::from(cfg.lookback_calendar_days)))?;
    let (clean, ignored_points) = clean_series(
        series
            .iter()
            .copied()
            .filter(|(d, _)| *d > start && *d <= as_of),
    );
    let (&(date, current_iv), earlier) = clean.split_last()?;
    let values: Vec<f64> = earlier.iter().map(|p| p.1).collect();
    let stats = vol::iv_rank(&values, current_iv);
    let days = stats.map_or(1, |s| s.days);
    // vol::iv_rank keeps the last `days - 1` earlier values.
    let first_date = clean[clean.len() - days].0;
    Some(IvHistoryRank {
        date,
        current_iv,
        iv_rank: stats.and_then(|s| s.iv_rank),
        iv_percentile: stats.map(|s| s.iv_percentile),
        days,
        first_date,
        short_history: days < cfg.min_days,
        ignored_points,
    })
}

/// How far two daily IV series differ on the dates both have.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IvSeriesDiff {
    /// Dates present (with a plausible value) in both series.
    pub days: usize,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    /// Mean of `|own - reference|`, decimal vol (0.01 = 1 vol point).
    pub mean_abs_diff: f64,
    /// Mean of `own - reference` (> 0: SAS's own IV reads higher).
    pub mean_diff: f64,
    /// Largest `|own - reference|` and the (first) date it occurred.
    pub max_abs_diff: f64,
    pub max_abs_diff_date: NaiveDate,
}

/// Compares SAS's own 30-day ATM IV (`own`) with a reference series (IB's
/// `OPTION_IMPLIED_VOLATILITY` closes) over the dates both have. Repeated
/// dates keep the last value given; implausible values are ignored. `None`
/// when no date overlaps.
#[must_use]
pub fn compare_iv_series(
    own: &[(NaiveDate, f64)],
    reference: &[(NaiveDate, f64)],
) -> Option<IvSeriesDiff> {
    let (own, _) = clean_series(own.iter().copied());
    let (reference, _) = clean_series(reference.iter().copied());
    let (mut i, mut j) = (0, 0);
    let mut pairs: Vec<(NaiveDate, f64)> = Vec::new();
    while i < own.len() && j < reference.len() {
        match own[i].0.cmp(&reference[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                pairs.push((own[i].0, own[i].1 - reference[j].1));
                i += 1;
                j += 1;
            }
        }
    }
    let (first, last) = (pairs.first()?.0, pairs.last()?.0);
    let n = pairs.len() as f64;
    let mut max = (first, 0.0_f64);
    for &(d, diff) in &pairs {
        if diff.abs() > max.1 {
            max = (d, diff.abs());
        }
    }
    Some(IvSeriesDiff {
        days: pairs.len(),
        first_date: first,
        last_date: last,
        mean_abs_diff: pairs.iter().map(|p| p.1.abs()).sum::<f64>() / n,
        mean_diff: pairs.iter().map(|p| p.1).sum::<f64>() / n,
        max_abs_diff: max.1,
        max_abs_diff_date: max.0,
    })
}

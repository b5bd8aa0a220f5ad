//! IV rank / percentile from a dated IV series (`analytics::iv_history`),
//! checked against values worked out by hand; gaps, short series, and the
//! own-vs-IB comparison.
#![allow(clippy::unwrap_used)] // fixture set-up: a failure here is a broken test, not input

use chrono::{Days, NaiveDate};
use sas_core::analytics::iv_history::{
    compare_iv_series, iv_rank_from_history, IvRankConfig, DEFAULT_MIN_IV_HISTORY_DAYS,
};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days)).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn five_days_by_hand_and_flagged_short() {
    // Earlier days 0.20, 0.50, 0.25, 0.40; today 0.30.
    //   rank       = (0.30 - min 0.20) / (max 0.50 - min 0.20) × 100
    //              = 0.10 / 0.30 × 100 = 33.333…
    //   percentile = earlier days strictly below 0.30: {0.20, 0.25} = 2 of 4
    //              = 50
    //   days       = 4 earlier + today = 5 < 20 → short history
    let series = [
        (d(2026, 3, 2), 0.20),
        (d(2026, 3, 3), 0.50),
        (d(2026, 3, 4), 0.25),
        (d(2026, 3, 5), 0.40),
        (d(2026, 3, 6), 0.30),
    ];
    let cfg = IvRankConfig::default();
    assert_eq!(cfg.min_days, DEFAULT_MIN_IV_HISTORY_DAYS);
    let r = iv_rank_from_history(&series, d(2026, 3, 6), &cfg).unwrap();
    assert!(close(r.iv_rank.unwrap(), 100.0 / 3.0), "{r:?}");
    assert!(close(r.iv_percentile.unwrap(), 50.0));
    assert_eq!(r.days, 5);
    assert_eq!(r.date, d(2026, 3, 6));
    assert_eq!(r.first_date, d(2026, 3, 2));
    assert_eq!(r.current_iv, 0.30);
    assert!(r.short_history);
    assert_eq!(
        r.usable_rank(),
        None,
        "a 5-day rank must not drive a decision"
    );
    // With a minimum of 5 days the same figures are usable.
    let five = IvRankConfig {
        min_days: 5,
        ..IvRankConfig::default()
    };
    let r5 = iv_rank_from_history(&series, d(2026, 3, 6), &five).unwrap();
    assert!(!r5.short_history);
    assert!(close(r5.usable_rank().unwrap(), 100.0 / 3.0));
    // The same numbers in vol::iv_rank's shape.
    let s = r.stats().unwrap();
    assert_eq!(s.days, 5);
    assert!(close(s.iv_percentile, 50.0));

    // as_of two days earlier: today is 2026-03-04 (0.25) against 0.20, 0.50
    //   rank = (0.25 - 0.20)/(0.50 - 0.20) × 100 = 16.666…, percentile 1 of 2
    //   = 50, days 3; later values are never used.
    let r = iv_rank_from_history(&series, d(2026, 3, 4), &cfg).unwrap();
    assert!(close(r.iv_rank.unwrap(), 50.0 / 3.0));
    assert!(close(r.iv_percentile.unwrap(), 50.0));
    assert_eq!(r.days, 3);
}

#[test]
fn gaps_window_bad_points_and_duplicates() {
    let as_of = d(2026, 11, 20);
    // 25 weekly closes (a year with gaps): the k-th week before as_of has
    // IV 0.20 + 0.01·k, k = 1..=25, i.e. 0.21 … 0.45 (oldest 175 days back);
    // weeks 2..=25 here, week 1 below.
    let mut series: Vec<(NaiveDate, f64)> = (2..=25u32)
        .map(|k| (before(as_of, 7 * u64::from(k)), 0.20 + 0.01 * f64::from(k)))
        .collect();
    // Today, then outside the window and not counted: 400 days back (0.95)
    // and after as_of (0.99). Ignored: a NaN and a 0.0 inside the window.
    series.push((as_of, 0.335));
    series.push((before(as_of, 400), 0.95));
    series.push((as_of + Days::new(1), 0.99));
    series.push((before(as_of, 3), f64::NAN));
    series.push((before(as_of, 4), 0.0));
    // The input need not be sorted ...
    series.reverse();
    // ... but among repeats of a date the last one given wins: week k = 1
    // comes as 0.90 then 0.21, so 0.21 counts and 0.90 is ignored.
    series.push((before(as_of, 7), 0.90));
    series.push((before(as_of, 7), 0.21));

    let r = iv_rank_from_history(&series, as_of, &IvRankConfig::default()).unwrap();
    // rank       = (0.335 - 0.21) / (0.45 - 0.21) × 100 = 0.125/0.24 × 100
    //            = 52.0833…
    // percentile = weeks below 0.335: k = 1..=13 (0.21 … 0.33) = 13 of 25
    //            = 52
    // days       = 25 weekly values + today = 26 ≥ 20
    assert!(close(r.iv_rank.unwrap(), 0.125 / 0.24 * 100.0), "{r:?}");
    assert!(close(r.iv_percentile.unwrap(), 52.0));
    assert_eq!(r.days, 26);
    assert!(!r.short_history);
    assert_eq!(r.first_date, before(as_of, 175));
    assert_eq!(r.ignored_points, 3);
}

#[test]
fn a_long_daily_series_rests_on_252_days() {
    let as_of = d(2026, 11, 20);
    // 300 consecutive calendar days, all inside the 365-day look-back; the
    // rank keeps 251 earlier values + today (252), the oldest 48 are unused.
    let series: Vec<(NaiveDate, f64)> = (0..300u64)
        .map(|i| (before(as_of, i), 0.2 + 0.001 * (i % 50) as f64))
        .collect();
    let r = iv_rank_from_history(&series, as_of, &IvRankConfig::default()).unwrap();
    assert_eq!(r.days, 252);
    assert_eq!(r.first_date, before(as_of, 251));
}

#[test]
fn too_short_or_empty_series() {
    let cfg = IvRankConfig::default();
    let today = d(2026, 6, 1);
    // Only today: no rank, no percentile, one day, short.
    let r = iv_rank_from_history(&[(today, 0.3)], today, &cfg).unwrap();
    assert_eq!((r.iv_rank, r.iv_percentile, r.days), (None, None, 1));
    assert!(r.short_history);
    assert_eq!(r.stats(), None);
    // Flat history: percentile 0, rank undefined.
    let flat = [(before(today, 1), 0.3), (today, 0.3)];
    let r = iv_rank_from_history(&flat, today, &cfg).unwrap();
    assert_eq!(r.iv_rank, None);
    assert_eq!(r.iv_percentile, Some(0.0));
    // Nothing usable: no value at all, only bad values, or only values
    // after as_of or older than the look-back.
    assert_eq!(iv_rank_from_history(&[], today, &cfg), None);
    assert_eq!(
        iv_rank_from_history(&[(today, f64::NAN), (today, 7.0)], today, &cfg),
        None
    );
    assert_eq!(
        iv_rank_from_history(
            &[(today + Days::new(1), 0.3), (before(today, 365), 0.3)],
            today,
            &cfg
        ),
        None
    );
}

#[test]
fn config_validation_lists_every_error() {
    assert_eq!(IvRankConfig::default().validate(), Ok(()));
    let bad = IvRankConfig {
        lookback_calendar_days: 0,
        min_days: 0,
    };
    assert_eq!(bad.validate().unwrap_err().len(), 2);
}

#[test]
fn own_vs_ib_difference_over_overlapping_dates() {
    // own: 03-02 0.20, 03-03 0.25, 03-04 0.30, 03-06 0.40
    // IB:           03-03 0.24, 03-04 0.33, 03-05 0.35, 03-06 0.38
    // overlap 03-03, 03-04, 03-06: own - IB = +0.01, -0.03, +0.02
    //   mean |diff| = 0.06/3 = 0.02; mean diff = 0.00/3 = 0; max 0.03 on 03-04
    let own = [
        (d(2026, 3, 2), 0.20),
        (d(2026, 3, 3), 0.25),
        (d(2026, 3, 4), 0.30),
        (d(2026, 3, 6), 0.40),
    ];
    let ib = [
        (d(2026, 3, 6), 0.38),
        (d(2026, 3, 3), 0.24),
        (d(2026, 3, 4), 0.33),
        (d(2026, 3, 5), 0.35),
        (d(2026, 3, 9), f64::NAN),
    ];
    let c = compare_iv_series(&own, &ib).unwrap();
    assert_eq!(c.days, 3);
    assert!(close(c.mean_abs_diff, 0.02), "{c:?}");
    assert!(close(c.mean_diff, 0.0));
    assert!(close(c.max_abs_diff, 0.03));
    assert_eq!(c.max_abs_diff_date, d(2026, 3, 4));
    assert_eq!((c.first_date, c.last_date), (d(2026, 3, 3), d(2026, 3, 6)));
    // No common date: nothing to compare.
    assert_eq!(compare_iv_series(&own[..1], &ib), None);
}

//! The one volatility model: history, intraday path, IV history and option
//! surface read the same state, and implied relates to realized as in
//! markets.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, NaiveDate};
use sas_core::analytics::iv_history::{iv_rank_from_history, IvRankConfig};
use sas_core::market::Symbol;
use sas_sim_market::calendar::is_trading_day;
use sas_sim_market::SimMarket;

mod support;

use support::{market, watchlist};

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
}

fn month() -> Vec<NaiveDate> {
    let mut d = first_day();
    let mut out = Vec::new();
    while out.len() < 21 {
        if is_trading_day(d) {
            out.push(d);
        }
        d += Duration::days(1);
    }
    out
}

fn realized_20d(m: &SimMarket, s: &Symbol, today: NaiveDate) -> f64 {
    let bars = m.daily_history(s, 21, today).unwrap();
    let rets: Vec<f64> = bars
        .windows(2)
        .map(|w| (w[1].close / w[0].close).ln())
        .collect();
    let mean = rets.iter().sum::<f64>() / rets.len() as f64;
    let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (rets.len() - 1) as f64;
    (var * 252.0).sqrt()
}

#[test]
fn iv_history_ends_at_the_surface_30_day_atm_of_the_same_state() {
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    for seed in [1, 2, 3] {
        let m = market(seed, day, 15);
        for s in watchlist() {
            let last = m.iv_history(&s, 10, day).unwrap().last().unwrap().iv;
            let spot = m.spot(&s).unwrap();
            let chain = m.model_iv(&s, spot, 30.0 / 365.0).unwrap();
            // Same state; the close carries ±2 % noise and the chain's
            // ATM strike sits a little off the forward.
            assert!(
                (chain / last - 1.0).abs() < 0.04,
                "{s} seed {seed}: chain {chain} vs close {last}"
            );
        }
    }
}

#[test]
fn intraday_path_starts_from_the_last_session_volatility() {
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    for seed in 0..20 {
        let m = market(seed, day, 15);
        for s in watchlist() {
            let last = m.iv_history(&s, 10, day).unwrap().last().unwrap().iv;
            let vol = m.current_vol(&s).unwrap();
            // IV30 = premium × (mean-reverting forecast from this vol).
            assert!(
                (0.55..1.5).contains(&(vol / last)),
                "{s} seed {seed}: vol {vol} iv {last}"
            );
        }
    }
}

#[test]
fn implied_is_usually_a_little_above_realized() {
    let (mut iv_sum, mut rv_sum, mut above, mut n) = (0.0, 0.0, 0, 0);
    for seed in 1..=3 {
        let m = market(seed, first_day(), 15);
        for today in month() {
            for s in watchlist() {
                let iv = m.iv_history(&s, 5, today).unwrap().last().unwrap().iv;
                let rv = realized_20d(&m, &s, today);
                iv_sum += iv;
                rv_sum += rv;
                above += usize::from(iv > rv);
                n += 1;
            }
        }
    }
    let premium = (iv_sum - rv_sum) / n as f64;
    let share = above as f64 / n as f64;
    assert!(
        (0.01..0.08).contains(&premium),
        "IV - RV = {premium} (want a little above)"
    );
    assert!((0.55..0.9).contains(&share), "IV > RV on {share} of days");
}

#[test]
fn iv_rank_spreads_over_its_range_across_the_watchlist() {
    let cfg = IvRankConfig::default();
    let mut quintiles = [0usize; 5];
    let mut total = 0;
    for seed in 1..=2 {
        let m = market(seed, first_day(), 15);
        for today in month() {
            for s in watchlist() {
                let series: Vec<(NaiveDate, f64)> = m
                    .iv_history(&s, 365, today)
                    .unwrap()
                    .iter()
                    .map(|c| (c.date, c.iv))
                    .collect();
                let r = iv_rank_from_history(&series, today, &cfg).unwrap();
                assert!(r.days >= 240, "{s}: {} days", r.days);
                let rank = r.iv_rank.unwrap();
                quintiles[((rank / 20.0) as usize).min(4)] += 1;
                total += 1;
            }
        }
    }
    for (i, q) in quintiles.iter().enumerate() {
        assert!(
            *q as f64 / total as f64 > 0.03,
            "IV rank quintile {i} nearly empty: {quintiles:?}"
        );
    }
}

#[test]
fn iv_history_is_seeded_a_suffix_and_spikes_with_stress() {
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let s = Symbol::parse("SPY").unwrap();
    let a = market(5, day, 15).iv_history(&s, 365, day).unwrap();
    let b = market(5, day, 15).iv_history(&s, 365, day).unwrap();
    assert_eq!(a, b);
    let short = market(5, day, 15).iv_history(&s, 30, day).unwrap();
    assert_eq!(short[..], a[a.len() - short.len()..]);
    assert_ne!(a, market(6, day, 15).iv_history(&s, 365, day).unwrap());
    assert!(short.first().unwrap().date >= day - Duration::days(30));
    assert!(market(5, day, 15).iv_history(&s, 366, day).is_err());
    // Occasional spikes: the year's top is well above its median.
    let mut v: Vec<f64> = a.iter().map(|c| c.iv).collect();
    v.sort_by(f64::total_cmp);
    let (median, top) = (v[v.len() / 2], v[v.len() - 1]);
    assert!(top > 1.4 * median, "median {median}, top {top}");
}

//! One daily path per (seed, symbol): the history asked from any day is the
//! same history, a market starts where it ends, and the price stays in the
//! band its mean reversion sets.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use sas_core::market::{ChainWindow, DailyBar, Symbol};
use sas_sim_market::calendar::previous_trading_day;
use sas_sim_market::{SimConfig, SimMarket};

mod support;

use support::{market, watchlist};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Asserts that two histories agree on every date they share, and that they
/// share at least `min_common` dates.
fn agree_bars(a: &[DailyBar], b: &[DailyBar], min_common: usize, what: &str) {
    let by_date: BTreeMap<NaiveDate, &DailyBar> = a.iter().map(|x| (x.date, x)).collect();
    let mut common = 0;
    for bar in b {
        if let Some(other) = by_date.get(&bar.date) {
            assert_eq!(*other, bar, "{what}: bar of {} differs", bar.date);
            common += 1;
        }
    }
    assert!(common >= min_common, "{what}: only {common} common dates");
}

#[test]
fn histories_asked_from_different_days_agree_on_every_common_date() {
    // Consecutive days, a month apart, across the 2015 epoch and before it.
    let pairs = [
        (date(2026, 11, 3), date(2026, 11, 4), 729),
        (date(2026, 11, 4), date(2026, 12, 15), 700),
        (date(2015, 6, 1), date(2016, 3, 1), 500),
        (date(2014, 3, 3), date(2015, 2, 2), 400),
    ];
    for seed in [1u64, 7] {
        let m = market(seed, date(2026, 11, 4), 15);
        for s in watchlist() {
            for (d1, d2, min_common) in pairs {
                let what = format!("{s} seed {seed} {d1} vs {d2}");
                let a = m.daily_history(&s, 730, d1).unwrap();
                let b = m.daily_history(&s, 730, d2).unwrap();
                agree_bars(&a, &b, min_common, &what);
                let a = m.iv_history(&s, 365, d1).unwrap();
                let b = m.iv_history(&s, 365, d2).unwrap();
                let by_date: BTreeMap<NaiveDate, f64> = a.iter().map(|c| (c.date, c.iv)).collect();
                let common: Vec<_> = b.iter().filter(|c| by_date.contains_key(&c.date)).collect();
                assert!(!common.is_empty(), "{what}: no common IV dates");
                for c in common {
                    assert_eq!(by_date[&c.date], c.iv, "{what}: IV of {}", c.date);
                }
            }
        }
    }
}

#[test]
fn the_history_is_the_same_from_any_market_of_the_same_seed() {
    // The path does not depend on when the market was built nor on the
    // rest of its universe.
    let s = Symbol::parse("NVDA").unwrap();
    let day = date(2026, 11, 20);
    let a = market(3, date(2026, 11, 2), 15)
        .daily_history(&s, 200, day)
        .unwrap();
    let start = Utc.with_ymd_and_hms(2025, 1, 6, 15, 0, 0).unwrap();
    let alone = SimMarket::new(SimConfig::new(3, vec![s.clone()], start)).unwrap();
    assert_eq!(a, alone.daily_history(&s, 200, day).unwrap());
    assert_ne!(
        a,
        market(4, date(2026, 11, 2), 15)
            .daily_history(&s, 200, day)
            .unwrap()
    );
}

#[test]
fn a_market_starts_at_the_previous_session_close() {
    for seed in 0..5u64 {
        let mut d = date(2026, 11, 2);
        let later = market(seed, date(2026, 12, 31), 15);
        while d < date(2026, 11, 21) {
            // Before the open, during the session and after the close the
            // market starts at the last close before the day.
            for hour in [9, 15, 22] {
                let m = market(seed, d, hour);
                for s in watchlist() {
                    let last = later.daily_history(&s, 1, d).unwrap()[0].clone();
                    assert_eq!(last.date, previous_trading_day(d));
                    assert_eq!(m.spot(&s).unwrap(), last.close, "{s} seed {seed} {d}");
                    assert_eq!(m.previous_close(&s).unwrap(), last.close);
                }
            }
            // Same day, same starting volatility state.
            let (a, b) = (market(seed, d, 9), market(seed, d, 22));
            for s in watchlist() {
                assert_eq!(a.current_vol(&s).unwrap(), b.current_vol(&s).unwrap());
                assert_eq!(a.is_stressed(&s).unwrap(), b.is_stressed(&s).unwrap());
            }
            d += Duration::days(1);
        }
    }
}

#[test]
fn same_seed_same_market() {
    let day = date(2026, 11, 18);
    let window = ChainWindow {
        min_dte: 7,
        max_dte: 60,
        strikes: 12,
    };
    let (mut a, mut b) = (market(11, day, 15), market(11, day, 15));
    a.advance_to(3_600);
    b.advance_to(3_600);
    let c = market(12, day, 15);
    let now = a.now();
    for s in watchlist() {
        assert_eq!(a.quote(&s).unwrap(), b.quote(&s).unwrap());
        assert_eq!(
            a.option_chain(&s, window, now).unwrap(),
            b.option_chain(&s, window, now).unwrap()
        );
        assert_eq!(
            a.iv_history(&s, 365, day).unwrap(),
            b.iv_history(&s, 365, day).unwrap()
        );
        assert_ne!(a.spot(&s).unwrap(), c.spot(&s).unwrap(), "{s}");
    }
}

#[test]
fn prices_stay_in_the_stated_band_over_ten_years() {
    // Ten years of sessions (2016-2026) per symbol and seed: every close
    // within start · e^(±4 sd), and the spread of ln(close / start) near
    // the stated stationary sd.
    let (mut sum_ratio_sq, mut n_paths) = (0.0, 0.0);
    for seed in 1..=4u64 {
        let m = market(seed, date(2026, 12, 1), 15);
        for s in watchlist() {
            let p = m.params(&s).unwrap().clone();
            let sd = p.log_price_sd();
            let mut closes = Vec::new();
            let mut today = date(2017, 1, 1);
            while today <= date(2027, 1, 1) {
                let bars = m.daily_history(&s, 730, today).unwrap();
                closes.extend(bars.iter().map(|b| (b.date, b.close)));
                today += Duration::days(730);
            }
            closes.sort_by_key(|c| c.0);
            closes.dedup_by_key(|c| c.0);
            assert!(closes.len() > 2_400, "{s}: {} sessions", closes.len());
            let logs: Vec<f64> = closes
                .iter()
                .map(|(_, c)| (c / p.start_price).ln())
                .collect();
            for (&(d, c), x) in closes.iter().zip(&logs) {
                assert!(
                    x.abs() < 4.0 * sd,
                    "{s} seed {seed}: {c} on {d} is {:.1} sd from {}",
                    x / sd,
                    p.start_price
                );
            }
            let ms = logs.iter().map(|x| x * x).sum::<f64>() / logs.len() as f64;
            sum_ratio_sq += ms / (sd * sd);
            n_paths += 1.0;
        }
    }
    let ratio = (sum_ratio_sq / n_paths).sqrt();
    eprintln!("rms of ln(close/start) over the stated sd: {ratio:.3}");
    assert!(
        (0.7..1.3).contains(&ratio),
        "spread of ln(close/start) is {ratio:.2} × the stated sd"
    );
}

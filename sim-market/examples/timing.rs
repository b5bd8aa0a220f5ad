//! What the bridge pays per cron for the simulator: `SimMarket::new` plus
//! `daily_history(…, 90, …)` and `iv_history(…, 365, …)` for the 10
//! watchlist symbols, first in a fresh process (the daily path walked from
//! its 2015 epoch, cold cache) and then repeated on later days (warm).
//! `cargo run [--release] -p sas-sim-market --example timing [repetitions]`.

use std::time::Instant;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use sas_core::market::{Symbol, DEFAULT_WATCHLIST};
use sas_sim_market::{SimConfig, SimMarket};

fn one_cron(seed: u64, day: NaiveDate, symbols: &[Symbol]) -> usize {
    let at = Utc.from_utc_datetime(&day.and_hms_opt(15, 0, 0).unwrap_or_default());
    let Ok(m) = SimMarket::new(SimConfig::new(seed, symbols.to_vec(), at)) else {
        return 0;
    };
    let mut n = 0;
    for s in symbols {
        n += m.daily_history(s, 90, day).map_or(0, |b| b.len());
        n += m.iv_history(s, 365, day).map_or(0, |v| v.len());
    }
    n
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let symbols: Vec<Symbol> = DEFAULT_WATCHLIST
        .iter()
        .filter_map(|s| Symbol::parse(s).ok())
        .collect();
    let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default();
    let t = Instant::now();
    let n = one_cron(1, day, &symbols);
    let cold = t.elapsed();
    println!(
        "cold (fresh process, path walked from the epoch): {:.1} ms ({n} rows)",
        cold.as_secs_f64() * 1e3
    );
    let mut times = Vec::with_capacity(reps);
    for i in 0..reps {
        let d = day + Duration::days(i64::try_from(i % 30).unwrap_or(0));
        let t = Instant::now();
        one_cron(1, d, &symbols);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    println!(
        "warm, {reps} repetitions: mean {mean:.2} ms, median {:.2} ms, max {:.2} ms",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    // Another seed: a new path to walk (cold for this seed, calendar warm).
    let t = Instant::now();
    one_cron(2, day, &symbols);
    println!(
        "new seed (path walked, calendar cached): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}

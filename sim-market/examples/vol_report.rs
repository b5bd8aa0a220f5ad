//! Realized vs implied volatility per symbol and the distribution of IV rank
//! over a simulated month (21 sessions), from the simulator's one volatility
//! model. `cargo run -p sas-sim-market --example vol_report [seed]`.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use sas_core::analytics::iv_history::{iv_rank_from_history, IvRankConfig};
use sas_core::market::{Symbol, DEFAULT_WATCHLIST};
use sas_sim_market::calendar::is_trading_day;
use sas_sim_market::{SimConfig, SimMarket};

const SESSIONS: usize = 21;

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let start = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
    let symbols: Vec<Symbol> = DEFAULT_WATCHLIST
        .iter()
        .filter_map(|s| Symbol::parse(s).ok())
        .collect();
    let market = match SimMarket::new(SimConfig::new(
        seed,
        symbols.clone(),
        Utc.from_utc_datetime(&start.and_hms_opt(15, 0, 0).unwrap_or_default()),
    )) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let mut days = Vec::new();
    let mut d = start;
    while days.len() < SESSIONS {
        if is_trading_day(d) {
            days.push(d);
        }
        d += Duration::days(1);
    }
    println!(
        "seed {seed}, {} sessions from {} to {}",
        days.len(),
        days[0],
        days[days.len() - 1]
    );
    println!("symbol  RV20(mean)  IV30(mean)  IV-RV(mean)  IV>RV days  IVR mean  IVR min-max   chain ATM30 vs IV close (first day)");
    let cfg = IvRankConfig::default();
    let mut all_ranks = Vec::new();
    let (mut sum_rv, mut sum_iv, mut above, mut n) = (0.0, 0.0, 0, 0);
    for s in &symbols {
        let (mut rv_s, mut iv_s, mut above_s) = (0.0, 0.0, 0);
        let mut ranks = Vec::new();
        for &today in &days {
            let bars = market.daily_history(s, 21, today).unwrap_or_default();
            let rets: Vec<f64> = bars
                .windows(2)
                .map(|w| (w[1].close / w[0].close).ln())
                .collect();
            let mean = rets.iter().sum::<f64>() / rets.len().max(1) as f64;
            let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>()
                / (rets.len().max(2) - 1) as f64;
            let rv = (var * 252.0).sqrt();
            let ivs = market.iv_history(s, 365, today).unwrap_or_default();
            let series: Vec<(NaiveDate, f64)> = ivs.iter().map(|c| (c.date, c.iv)).collect();
            let iv = series.last().map_or(f64::NAN, |p| p.1);
            if let Some(r) = iv_rank_from_history(&series, today, &cfg).and_then(|r| r.iv_rank) {
                ranks.push(r);
            }
            rv_s += rv;
            iv_s += iv;
            if iv > rv {
                above_s += 1;
            }
        }
        // The option surface at the start: 30-day ATM from the chain model
        // against the IV history's last close (same volatility state).
        let spot = market.spot(s).unwrap_or(0.0);
        let chain_atm = market.model_iv(s, spot, 30.0 / 365.0).unwrap_or(f64::NAN);
        let first_close = market
            .iv_history(s, 10, start)
            .ok()
            .and_then(|v| v.last().map(|c| c.iv))
            .unwrap_or(f64::NAN);
        let k = days.len() as f64;
        let (lo, hi) = ranks
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), r| (a.min(*r), b.max(*r)));
        println!(
            "{:<6}  {:>9.1}%  {:>9.1}%  {:>+10.1}pt  {:>5}/{:<2}    {:>6.0}   {:>4.0}-{:<4.0}    {:.1}% vs {:.1}%",
            s.as_str(),
            100.0 * rv_s / k,
            100.0 * iv_s / k,
            100.0 * (iv_s - rv_s) / k,
            above_s,
            days.len(),
            ranks.iter().sum::<f64>() / ranks.len().max(1) as f64,
            lo,
            hi,
            100.0 * chain_atm,
            100.0 * first_close,
        );
        sum_rv += rv_s;
        sum_iv += iv_s;
        above += above_s;
        n += days.len();
        all_ranks.extend(ranks);
    }
    println!(
        "all     {:>9.1}%  {:>9.1}%  {:>+10.1}pt  {:>4}/{:<4}",
        100.0 * sum_rv / n as f64,
        100.0 * sum_iv / n as f64,
        100.0 * (sum_iv - sum_rv) / n as f64,
        above,
        n
    );
    println!("IV rank distribution over {} symbol-days:", all_ranks.len());
    for b in 0..5 {
        let (lo, hi) = (f64::from(b) * 20.0, f64::from(b + 1) * 20.0);
        let c = all_ranks
            .iter()
            .filter(|r| **r >= lo && (**r < hi || (b == 4 && **r <= 100.0)))
            .count();
        println!(
            "  {lo:>3.0}-{hi:<3.0} {c:>4} ({:>4.1}%) {}",
            100.0 * c as f64 / all_ranks.len().max(1) as f64,
            "#".repeat(c / 3)
        );
    }
}

//! Criterion benchmarks of the analytics hot paths:
//! - `contract/*`: per-contract implied vol, five greeks, and both together
//!   (target: IV + greeks <= 350 ns native);
//! - `cron_pipeline`: the Worker cron's pure part for one chain: parse the
//!   chain JSON (serde), analyze it, build the D1 rows (target <= 2 µs per
//!   contract all-in).
//!
//! `cargo bench -p sas-core --bench analytics` (per-element times are the
//! reported time divided by the element count shown as throughput).
//!
//! Every benchmark runs twice: groups without suffix measure wall-clock time,
//! groups ending in `_cpu` measure the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), which is what to quote on a machine shared
//! with other jobs: it does not count time the thread spent descheduled.
#![allow(clippy::unwrap_used)] // fixture set-up: a failure here is a broken test, not input

use chrono::{Duration, TimeZone, Utc};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sas_core::analytics::bsm::{price, price_and_greeks, BsmInput};
use sas_core::analytics::chain::{analyze, time_to_expiry_years, ChainHistory};
use sas_core::analytics::iv::{implied_vol, implied_vol_and_greeks, IvInput};
use sas_core::analytics::rows::build_chain_rows;
use sas_core::market::{
    ChainExpiry, DailyBar, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks, Symbol,
};

/// Realistic listed contracts: S 20-500, K/S 0.7-1.3, 1-365 days, σ 10-100 %.
fn contracts(n: usize) -> Vec<(BsmInput, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let spot = rng.gen_range(20.0..500.0);
        let b = BsmInput {
            spot,
            strike: spot * rng.gen_range(0.7..1.3),
            t_years: rng.gen_range(1.0..365.0) / 365.0,
            rate: 0.04,
            div_yield: rng.gen_range(0.0..0.03),
            vol: rng.gen_range(0.1..1.0),
            right: if rng.gen::<bool>() {
                OptionRight::Call
            } else {
                OptionRight::Put
            },
        };
        let p = price(&b);
        if p >= 0.01 {
            out.push((b, p));
        }
    }
    out
}

fn iv_input(b: &BsmInput, p: f64) -> IvInput {
    IvInput {
        price: p,
        spot: b.spot,
        strike: b.strike,
        t_years: b.t_years,
        rate: b.rate,
        div_yield: b.div_yield,
        right: b.right,
    }
}

/// Thread CPU time as a criterion measurement (formatted like wall time).
pub struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = cpu_time::ThreadTime;
    type Value = std::time::Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }
    fn end(&self, i: Self::Intermediate) -> Self::Value {
        i.elapsed()
    }
    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value {
        *v1 + *v2
    }
    fn zero(&self) -> Self::Value {
        std::time::Duration::ZERO
    }
    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WallTime.formatter()
    }
}

fn bench_contract<M: Measurement>(c: &mut Criterion<M>, suffix: &str) {
    let set = contracts(1000);
    let inputs: Vec<IvInput> = set.iter().map(|(b, p)| iv_input(b, *p)).collect();
    let mut g = c.benchmark_group(format!("contract{suffix}"));
    g.throughput(Throughput::Elements(set.len() as u64));
    g.bench_function("iv_plus_5_greeks", |bch| {
        bch.iter(|| {
            let mut acc = 0.0;
            for i in &inputs {
                if let Ok(r) = implied_vol_and_greeks(black_box(i)) {
                    acc += r.iv + r.greeks.delta + r.greeks.vega_per_point;
                }
            }
            acc
        })
    });
    g.bench_function("iv_only", |bch| {
        bch.iter(|| {
            inputs
                .iter()
                .filter_map(|i| implied_vol(black_box(i)).ok())
                .sum::<f64>()
        })
    });
    g.bench_function("price_and_5_greeks", |bch| {
        bch.iter(|| {
            set.iter()
                .map(|(b, _)| {
                    let (p, g) = price_and_greeks(black_box(b));
                    p + g.delta + g.gamma + g.theta_per_day + g.vega_per_point + g.rho_per_point
                })
                .sum::<f64>()
        })
    });
    g.finish();
}

/// A chain like the bridge sends: `expiries` × `strikes` × call/put around
/// spot, quoted to the cent with a spread, volume and OI.
pub fn chain_json(expiries: usize, strikes: usize) -> (String, usize) {
    let as_of = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
    let spot = 187.35;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut out = Vec::new();
    let mut n = 0;
    for e in 0..expiries {
        let dte = 7 + 7 * e as i64;
        let expiry = as_of.date_naive() + Duration::days(dte);
        let t = time_to_expiry_years(as_of, expiry);
        let mut contracts = Vec::new();
        for s in 0..strikes {
            let strike = (spot * 0.8 + 2.5 * s as f64).round();
            for right in [OptionRight::Call, OptionRight::Put] {
                let m = (strike / spot).ln();
                let vol = 0.28 - 0.15 * m + 0.4 * m * m;
                let p = price(&BsmInput {
                    spot,
                    strike,
                    t_years: t,
                    rate: 0.04,
                    div_yield: 0.005,
                    vol,
                    right,
                });
                let half = (0.01 + 0.02 * p).min(0.5);
                let bid = ((p - half) * 100.0).floor() / 100.0;
                let ask = ((p + half) * 100.0).ceil() / 100.0;
                contracts.push(OptionQuote {
                    strike,
                    right,
                    bid: Some(bid.max(0.0)),
                    ask: Some(ask),
                    last: Some(((p * 100.0).round()) / 100.0),
                    volume: Some(rng.gen_range(0..5_000)),
                    open_interest: Some(rng.gen_range(0..50_000)),
                    greeks: SourceGreeks::default(),
                });
                n += 1;
            }
        }
        out.push(ChainExpiry {
            expiry,
            dte: dte as u32,
            contracts,
        });
    }
    let chain = OptionChain {
        symbol: Symbol::parse("AAPL").unwrap(),
        spot,
        as_of,
        data_type: DataType::Delayed,
        dividend_yield: Some(0.005),
        expiries: out,
    };
    (serde_json::to_string(&chain).unwrap(), n)
}

fn history() -> (Vec<DailyBar>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut px: f64 = 180.0;
    let bars = (0..260)
        .map(|i| {
            let open = px;
            px *= 1.0 + rng.gen_range(-0.02..0.02);
            DailyBar {
                date: chrono::NaiveDate::from_ymd_opt(2025, 11, 1).unwrap() + chrono::Days::new(i),
                open,
                high: open.max(px) * 1.005,
                low: open.min(px) * 0.995,
                close: px,
                volume: rng.gen_range(40_000_000..90_000_000),
            }
        })
        .collect();
    let ivs = (0..251).map(|_| rng.gen_range(0.2..0.45)).collect();
    (bars, ivs)
}

fn bench_pipeline<M: Measurement>(c: &mut Criterion<M>, suffix: &str) {
    let (json, n) = chain_json(8, 40);
    let (bars, ivs) = history();
    let mut g = c.benchmark_group(format!("cron_pipeline{suffix}"));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("parse_analyze_rows_640_contracts", |bch| {
        bch.iter_batched(
            || json.clone(),
            |text| {
                let chain: OptionChain = serde_json::from_str(&text).unwrap();
                let history = ChainHistory {
                    daily_bars: &bars,
                    atm_iv_30d: &ivs,
                };
                let (a, skips) = analyze(&chain, 0.04, &history);
                build_chain_rows(&a, &skips)
            },
            BatchSize::SmallInput,
        )
    });
    let chain: OptionChain = serde_json::from_str(&json).unwrap();
    let hist = ChainHistory {
        daily_bars: &bars,
        atm_iv_30d: &ivs,
    };
    g.bench_function("stage_parse_only", |bch| {
        bch.iter(|| serde_json::from_str::<OptionChain>(black_box(&json)).unwrap())
    });
    g.bench_function("stage_analyze_only", |bch| {
        bch.iter(|| analyze(black_box(&chain), 0.04, &hist))
    });
    let (a, skips) = analyze(&chain, 0.04, &hist);
    g.bench_function("stage_rows_only", |bch| {
        bch.iter(|| build_chain_rows(black_box(&a), &skips))
    });
    g.finish();
}

fn wall(c: &mut Criterion) {
    bench_contract(c, "");
    bench_pipeline(c, "");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench_contract(c, "_cpu");
    bench_pipeline(c, "_cpu");
}

criterion_group! {
    name = wall_clock;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = wall
}
criterion_group! {
    name = thread_cpu;
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = cpu
}
criterion_main!(wall_clock, thread_cpu);

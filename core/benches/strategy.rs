//! Criterion benchmarks of the strategy engine on a realistic chain
//! (20 strikes × 4 expiries, calls and puts: 160 quotes):
//! - `candidate/<kind>`: one underlying through the whole pipeline (regime
//!   selection, chain checks, strike/expiry construction, analysis with
//!   PoP/EV/greeks/payoff curve, sizing, exits, rationale);
//! - `analyze/<kind>`: the trade numbers alone for already-chosen legs;
//! - `day/10_underlyings`: a full generation run over ten ranked names.
//!
//! `cargo bench -p sas-core --bench strategy`

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sas_core::market::Symbol;
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
use sas_core::strategy::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn regime(iv_rank: f64, spread: f64, trend: f64, term: f64) -> RegimeInputs {
    RegimeInputs {
        iv_rank_days: None,
        iv_rank: Some(iv_rank),
        iv_rv_spread: Some(spread),
        skew_25d: Some(3.0),
        term_slope: Some(term),
        trend: Some(trend),
        atm_iv: Some(0.28),
        realized_vol: Some(0.22),
    }
}

fn candidate(name: &str, spot: f64, r: RegimeInputs) -> UnderlyingCandidate {
    let symbol = Symbol::parse(name).unwrap_or_else(|_| unreachable!("static symbol"));
    UnderlyingCandidate {
        symbol: symbol.clone(),
        chain: synthetic_chain(&SyntheticChainSpec::liquid(symbol, spot, now())),
        regime: r,
        score: None,
        events: None,
    }
}

fn inputs(ranked: Vec<UnderlyingCandidate>) -> GenerationInputs {
    GenerationInputs {
        trade_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default(),
        expires_at: now(),
        net_liquidation: 250_000.0,
        ranked,
        open_positions: vec![],
        pending_proposals: vec![],
        proposals_today: vec![],
    }
}

fn cases() -> Vec<(StrategyKind, RegimeInputs)> {
    vec![
        (
            StrategyKind::BullPutCreditSpread,
            regime(78.0, 6.0, 0.45, 1.0),
        ),
        (StrategyKind::IronCondor, regime(70.0, 3.0, 0.0, 1.0)),
        (StrategyKind::LongCall, regime(15.0, 0.0, 0.8, 1.0)),
        (
            StrategyKind::BullCallDebitSpread,
            regime(25.0, 0.0, 0.4, 1.0),
        ),
        (StrategyKind::CallCalendar, regime(20.0, -1.0, 0.05, 0.0)),
    ]
}

fn bench(c: &mut Criterion) {
    let cfg = StrategyConfig::default();
    let mut g = c.benchmark_group("candidate");
    for (kind, r) in cases() {
        let inp = inputs(vec![candidate("SPY", 450.0, r)]);
        let (p, s) = generate_proposals(&inp, &cfg, now());
        assert!(
            p.len() == 1 && p[0].strategy == kind,
            "bench setup: {kind} not built ({s:?})"
        );
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| generate_proposals(black_box(&inp), &cfg, now()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("analyze");
    for (kind, r) in cases() {
        let inp = inputs(vec![candidate("SPY", 450.0, r)]);
        let (p, _) = generate_proposals(&inp, &cfg, now());
        let Some(p) = p.into_iter().next() else {
            continue;
        };
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| {
                analyze(
                    black_box(&p.legs),
                    &p.pricing,
                    cfg.contract_multiplier,
                    cfg.payoff_curve_points,
                )
            })
        });
    }
    g.finish();

    let names = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY", "QQQ", "IWM",
    ];
    let all = cases();
    let ranked: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| candidate(n, 80.0 + 45.0 * i as f64, all[i % all.len()].1))
        .collect();
    let day_cfg = StrategyConfig {
        max_proposals_per_day: 10,
        max_open_positions: 10,
        ..StrategyConfig::default()
    };
    let inp = inputs(ranked);
    c.bench_function("day/10_underlyings", |b| {
        b.iter(|| generate_proposals(black_box(&inp), &day_cfg, now()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Property tests: sizing never exceeds the per-trade risk, the portfolio
//! heat cap, the contract cap or the open-position limit, for arbitrary
//! account sizes and prices, alone and across a whole generation run.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use sas_core::market::Symbol;
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
use sas_core::strategy::*;

fn weird_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..1e7f64,
        1 => prop::num::f64::ANY,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => -1e6..0.0f64,
    ]
}

fn cfg_strategy() -> impl Strategy<Value = StrategyConfig> {
    (0.0..0.2f64, 0.0..0.6f64, 0u32..10, 1u32..200, 0u32..8).prop_map(
        |(risk, heat, max_open, cap, per_day)| StrategyConfig {
            risk_per_trade_fraction: risk,
            max_portfolio_heat_fraction: heat,
            max_open_positions: max_open,
            max_contracts_per_trade: cap,
            max_proposals_per_day: per_day,
            ..StrategyConfig::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn size_trade_respects_every_limit(
        nl in weird_f64(),
        committed in weird_f64(),
        positions in 0u32..12,
        per_contract in weird_f64(),
        cfg in cfg_strategy(),
    ) {
        let book = RiskBook { net_liquidation: nl, committed_max_loss: committed, open_positions: positions };
        match size_trade(per_contract, &book, &cfg) {
            Ok(d) => {
                prop_assert!(d.contracts >= 1);
                prop_assert!(d.contracts <= cfg.max_contracts_per_trade);
                prop_assert!(positions < cfg.max_open_positions);
                let total = f64::from(d.contracts) * per_contract;
                prop_assert_eq!(d.total_max_loss, total);
                prop_assert!(total <= cfg.risk_per_trade_fraction * nl, "{} > risk budget", total);
                prop_assert!(committed + total <= cfg.max_portfolio_heat_fraction * nl * (1.0 + 1e-12), "heat exceeded");
                // Not needlessly small: one more contract would break a limit.
                let budget = (cfg.risk_per_trade_fraction * nl).min(cfg.max_portfolio_heat_fraction * nl - committed);
                prop_assert!(
                    d.contracts == cfg.max_contracts_per_trade
                        || f64::from(d.contracts + 1) * per_contract > budget
                );
            }
            Err(_) => {
                // Refusal is only allowed when no valid size exists.
                let valid = nl.is_finite() && nl > 0.0 && committed.is_finite() && committed >= 0.0
                    && per_contract.is_finite() && per_contract > 0.0;
                if valid && positions < cfg.max_open_positions {
                    let budget = (cfg.risk_per_trade_fraction * nl)
                        .min(cfg.max_portfolio_heat_fraction * nl - committed);
                    prop_assert!(budget < per_contract, "refused although {} fits {}", per_contract, budget);
                }
            }
        }
    }
}

/// Limits under which a run usually proposes something.
fn run_cfg_strategy() -> impl Strategy<Value = StrategyConfig> {
    (0.005..0.1f64, 0.02..0.6f64, 3u32..12, 1u32..100, 1u32..8).prop_map(
        |(risk, heat, max_open, cap, per_day)| StrategyConfig {
            risk_per_trade_fraction: risk,
            max_portfolio_heat_fraction: heat,
            max_open_positions: max_open,
            max_contracts_per_trade: cap,
            max_proposals_per_day: per_day,
            ..StrategyConfig::default()
        },
    )
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

const NAMES: [&str; 10] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY", "QQQ", "IWM",
];

fn regime_strategy() -> impl Strategy<Value = RegimeInputs> {
    (
        0.0..100.0f64,
        -8.0..10.0f64,
        -3.0..9.0f64,
        -3.0..4.0f64,
        -1.0..1.0f64,
    )
        .prop_map(|(r, s, k, t, tr)| RegimeInputs {
            iv_rank_days: None,
            iv_rank: Some(r),
            iv_rv_spread: Some(s),
            skew_25d: Some(k),
            term_slope: Some(t),
            trend: Some(tr),
            atm_iv: None,
            realized_vol: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_generation_run_stays_inside_every_limit(
        nl_exp in 3.5..6.7f64,
        cfg in run_cfg_strategy(),
        spots in prop::collection::vec(15.0..900.0f64, 1..10),
        regimes in prop::collection::vec(regime_strategy(), 10),
        open_losses in prop::collection::vec(0.0..0.05f64, 0..4),
        pending in 0usize..2,
        today_count in 0usize..4,
        vol in 0.12..0.9f64,
    ) {
        let nl = 10f64.powf(nl_exp);
        let ranked: Vec<UnderlyingCandidate> = spots
            .iter()
            .enumerate()
            .map(|(i, &spot)| {
                let symbol = Symbol::parse(NAMES[i]).unwrap();
                let mut spec = SyntheticChainSpec::liquid(symbol.clone(), spot, now());
                spec.atm_vol = vol;
                UnderlyingCandidate {
                    symbol,
                    chain: synthetic_chain(&spec),
                    regime: regimes[i],
                    score: None,
                    events: None,
                }
            })
            .collect();
        let other = |i: usize, loss: f64| ExistingTrade {
            symbol: Symbol::parse(&format!("X{i}")).unwrap(),
            idempotency_key: None,
            max_loss: loss,
        };
        let open: Vec<ExistingTrade> = open_losses.iter().enumerate().map(|(i, f)| other(i, f * nl)).collect();
        let pend: Vec<ExistingTrade> = (0..pending).map(|i| other(10 + i, 0.01 * nl)).collect();
        let made: Vec<ExistingTrade> = (0..today_count).map(|i| other(20 + i, 0.0)).collect();
        let committed: f64 = open.iter().chain(&pend).map(|t| t.max_loss).sum();
        let inputs = GenerationInputs {
            trade_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            expires_at: now(),
            net_liquidation: nl,
            ranked,
            open_positions: open.clone(),
            pending_proposals: pend.clone(),
            proposals_today: made.clone(),
        };
        let (props, skips) = generate_proposals(&inputs, &cfg, now());
        prop_assert_eq!(props.len() + skips.len(), inputs.ranked.len());
        prop_assert!(props.len() + made.len() <= (cfg.max_proposals_per_day as usize).max(made.len()));
        prop_assert!(open.len() + pend.len() + props.len() <= (cfg.max_open_positions as usize).max(open.len() + pend.len()));
        let mut total = committed;
        let mut symbols = Vec::new();
        for p in &props {
            prop_assert!(p.sizing.contracts >= 1 && p.sizing.contracts <= cfg.max_contracts_per_trade);
            prop_assert!(p.sizing.total_max_loss <= cfg.risk_per_trade_fraction * nl);
            prop_assert!(
                (f64::from(p.sizing.contracts) * p.metrics.max_loss_natural - p.sizing.total_max_loss).abs() < 1e-9
            );
            prop_assert!(!symbols.contains(&p.symbol));
            symbols.push(p.symbol.clone());
            total += p.sizing.total_max_loss;
        }
        prop_assert!(total <= cfg.max_portfolio_heat_fraction * nl * (1.0 + 1e-12) || props.is_empty(),
            "heat {} > cap {}", total, cfg.max_portfolio_heat_fraction * nl);
    }
}

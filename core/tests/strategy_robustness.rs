//! Property tests: arbitrary and corrupted chains (NaN, zero, negative,
//! crossed or missing quotes and greeks, odd expiries) never panic; every
//! ranked underlying ends up proposed or skipped with a reason; whatever is
//! proposed has finite numbers and valid legs; re-pricing with garbage
//! quotes refuses instead of panicking.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use sas_core::market::{ChainExpiry, DataType, OptionChain, OptionQuote, OptionRight, Symbol};
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
use sas_core::strategy::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

fn junk() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-1.0),
        Just(1e300),
        Just(5e-324),
        -10.0..1000.0f64,
    ]
}

fn opt_junk() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![Just(None), junk().prop_map(Some)]
}

fn quote_strategy() -> impl Strategy<Value = OptionQuote> {
    (
        junk(),
        any::<bool>(),
        opt_junk(),
        opt_junk(),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        opt_junk(),
        opt_junk(),
    )
        .prop_map(|(strike, call, bid, ask, vol, oi, iv, delta)| OptionQuote {
            strike,
            right: if call {
                OptionRight::Call
            } else {
                OptionRight::Put
            },
            bid,
            ask,
            last: None,
            volume: vol,
            open_interest: oi,
            greeks: sas_core::market::SourceGreeks {
                iv,
                delta,
                gamma: None,
                theta: None,
                vega: None,
            },
        })
}

fn random_chain(symbol: Symbol) -> impl Strategy<Value = OptionChain> {
    (
        junk(),
        prop::option::of(junk()),
        prop::collection::vec(
            (0u32..200, prop::collection::vec(quote_strategy(), 0..24)),
            0..5,
        ),
    )
        .prop_map(move |(spot, q, exps)| OptionChain {
            symbol: symbol.clone(),
            spot,
            as_of: now(),
            data_type: DataType::Delayed,
            dividend_yield: q,
            expiries: exps
                .into_iter()
                .map(|(dte, contracts)| ChainExpiry {
                    expiry: NaiveDate::from_ymd_opt(2026, 11, 20)
                        .unwrap()
                        .checked_add_days(Days::new(u64::from(dte)))
                        .unwrap(),
                    dte,
                    contracts,
                })
                .collect(),
        })
}

/// One corruption applied to a realistic chain.
#[derive(Debug, Clone)]
enum Corrupt {
    Bid(usize, usize, Option<f64>),
    Ask(usize, usize, Option<f64>),
    Iv(usize, usize, Option<f64>),
    Delta(usize, usize, Option<f64>),
    Strike(usize, usize, f64),
    Oi(usize, usize, Option<u64>),
    Dte(usize, u32),
    Spot(f64),
    DropContract(usize, usize),
}

fn corrupt_strategy() -> impl Strategy<Value = Corrupt> {
    let ij = (0usize..8, 0usize..200);
    prop_oneof![
        (ij.clone(), opt_junk()).prop_map(|((i, j), v)| Corrupt::Bid(i, j, v)),
        (ij.clone(), opt_junk()).prop_map(|((i, j), v)| Corrupt::Ask(i, j, v)),
        (ij.clone(), opt_junk()).prop_map(|((i, j), v)| Corrupt::Iv(i, j, v)),
        (ij.clone(), opt_junk()).prop_map(|((i, j), v)| Corrupt::Delta(i, j, v)),
        (ij.clone(), junk()).prop_map(|((i, j), v)| Corrupt::Strike(i, j, v)),
        (ij.clone(), prop::option::of(any::<u64>())).prop_map(|((i, j), v)| Corrupt::Oi(i, j, v)),
        (0usize..8, 0u32..400).prop_map(|(i, d)| Corrupt::Dte(i, d)),
        junk().prop_map(Corrupt::Spot),
        ij.prop_map(|(i, j)| Corrupt::DropContract(i, j)),
    ]
}

fn pick(chain: &mut OptionChain, i: usize, j: usize) -> Option<&mut OptionQuote> {
    let n = chain.expiries.len();
    let e = &mut chain.expiries[i % n];
    let m = e.contracts.len();
    if m == 0 {
        None
    } else {
        Some(&mut e.contracts[j % m])
    }
}

fn apply(chain: &mut OptionChain, c: &Corrupt) {
    let n = chain.expiries.len();
    if let Corrupt::Spot(s) = c {
        chain.spot = *s;
        return;
    }
    if n == 0 {
        return;
    }
    match *c {
        Corrupt::Bid(i, j, v) => {
            if let Some(q) = pick(chain, i, j) {
                q.bid = v;
            }
        }
        Corrupt::Ask(i, j, v) => {
            if let Some(q) = pick(chain, i, j) {
                q.ask = v;
            }
        }
        Corrupt::Iv(i, j, v) => {
            if let Some(q) = pick(chain, i, j) {
                q.greeks.iv = v;
            }
        }
        Corrupt::Delta(i, j, v) => {
            if let Some(q) = pick(chain, i, j) {
                q.greeks.delta = v;
            }
        }
        Corrupt::Strike(i, j, v) => {
            if let Some(q) = pick(chain, i, j) {
                q.strike = v;
            }
        }
        Corrupt::Oi(i, j, v) => {
            if let Some(q) = pick(chain, i, j) {
                q.open_interest = v;
            }
        }
        Corrupt::Dte(i, d) => chain.expiries[i % n].dte = d,
        Corrupt::DropContract(i, j) => {
            let e = &mut chain.expiries[i % n];
            if !e.contracts.is_empty() {
                let m = e.contracts.len();
                e.contracts.remove(j % m);
            }
        }
        Corrupt::Spot(_) => {}
    }
}

fn regime_strategy() -> impl Strategy<Value = RegimeInputs> {
    (
        opt_junk(),
        opt_junk(),
        opt_junk(),
        opt_junk(),
        prop::option::of(prop_oneof![-1.5..1.5f64, Just(f64::NAN)]),
    )
        .prop_map(|(r, s, k, t, tr)| RegimeInputs {
            iv_rank_days: None,
            iv_rank: r.map(|v| if v.is_finite() { v % 101.0 } else { v }),
            iv_rv_spread: s.map(|v| if v.is_finite() { v % 12.0 } else { v }),
            skew_25d: k,
            term_slope: t.map(|v| if v.is_finite() { v % 4.0 } else { v }),
            trend: tr,
            atm_iv: None,
            realized_vol: None,
        })
}

fn check_run(
    inputs: &GenerationInputs,
    cfg: &StrategyConfig,
) -> Result<Vec<Proposal>, TestCaseError> {
    let (props, skips) = generate_proposals(inputs, cfg, now());
    prop_assert_eq!(props.len() + skips.len(), inputs.ranked.len());
    for s in &skips {
        prop_assert!(!s.message.is_empty());
    }
    for p in &props {
        let m = &p.metrics;
        prop_assert!(m.max_loss.is_finite() && m.max_loss > 0.0);
        prop_assert!(m.max_loss_natural.is_finite() && m.max_loss_natural >= m.max_loss - 1e-9);
        prop_assert!(m.max_profit.is_none_or(f64::is_finite));
        prop_assert!((0.0..=1.0).contains(&m.probability_of_profit));
        prop_assert!(m.expected_value.is_finite());
        prop_assert!(m.net_price_mid.is_finite() && m.net_price_natural.is_finite());
        prop_assert!(m.breakevens.iter().all(|b| b.is_finite()));
        prop_assert!(m
            .payoff_curve
            .iter()
            .all(|pt| pt.pnl.is_finite() && pt.underlying.is_finite()));
        let g = m.greeks;
        prop_assert!(
            g.delta.is_finite()
                && g.gamma.is_finite()
                && g.theta_per_day.is_finite()
                && g.vega_per_point.is_finite()
        );
        prop_assert!(p.sizing.contracts >= 1);
        prop_assert!(
            p.sizing.total_max_loss <= cfg.risk_per_trade_fraction * inputs.net_liquidation
        );
        for l in &p.legs {
            let q = l.quote;
            prop_assert!(l.strike.is_finite() && l.strike > 0.0);
            prop_assert!(
                q.bid.is_finite()
                    && q.ask.is_finite()
                    && q.bid >= 0.0
                    && q.ask >= q.bid
                    && q.ask > 0.0
            );
            prop_assert!(q.spread_fraction() <= cfg.max_leg_spread_fraction);
            prop_assert!(q.open_interest.unwrap_or(0) >= cfg.min_open_interest);
        }
        prop_assert!(serde_json::to_string(p).is_ok());
    }
    Ok(props)
}

fn base_inputs(ranked: Vec<UnderlyingCandidate>) -> GenerationInputs {
    GenerationInputs {
        trade_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        expires_at: now(),
        net_liquidation: 250_000.0,
        ranked,
        open_positions: vec![],
        pending_proposals: vec![],
        proposals_today: vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_chains_never_panic(
        chains in prop::collection::vec(random_chain(Symbol::parse("ZZZ").unwrap()), 1..4),
        regimes in prop::collection::vec(regime_strategy(), 4),
    ) {
        let ranked = chains
            .into_iter()
            .enumerate()
            .map(|(i, mut chain)| {
                let symbol = Symbol::parse(["AAA", "BBB", "CCC", "DDD"][i]).unwrap();
                chain.symbol = symbol.clone();
                UnderlyingCandidate { symbol, chain, regime: regimes[i], score: None, events: None }
            })
            .collect();
        let cfg = StrategyConfig { min_volume: 0, min_open_interest: 0, max_leg_spread_fraction: 2.0, ..StrategyConfig::default() };
        check_run(&base_inputs(ranked), &cfg)?;
    }

    #[test]
    fn corrupted_realistic_chains_never_panic_and_reprice_refuses_garbage(
        spot in 20.0..600.0f64,
        corruptions in prop::collection::vec(corrupt_strategy(), 0..40),
        regime in regime_strategy(),
        fresh_junk in prop::collection::vec((quote_strategy(), 0u32..4), 0..5),
    ) {
        let symbol = Symbol::parse("SPY").unwrap();
        let mut chain = synthetic_chain(&SyntheticChainSpec::liquid(symbol.clone(), spot, now()));
        for c in &corruptions {
            apply(&mut chain, c);
        }
        // A clean twin of the regime that always wants to sell premium, so
        // that some runs produce proposals to re-price.
        let rich = RegimeInputs { iv_rank: Some(80.0), iv_rv_spread: Some(5.0), trend: Some(0.5), ..regime };
        for r in [regime, rich] {
            let cand = UnderlyingCandidate { symbol: symbol.clone(), chain: chain.clone(), regime: r, score: None, events: None };
            let cfg = StrategyConfig::default();
            let props = check_run(&base_inputs(vec![cand]), &cfg)?;
            for p in &props {
                let mut fresh = FreshQuotes { spot: Some(spot), legs: Vec::new(), as_of: None };
                for (q, which) in &fresh_junk {
                    let leg = &p.legs[*which as usize % p.legs.len()];
                    let mut q = q.clone();
                    // Keep the contract identity so the junk is matched.
                    q.strike = leg.strike;
                    q.right = leg.right;
                    fresh.legs.push(FreshLegQuote { expiry: leg.expiry, quote: q });
                }
                match reprice(p, &fresh, &cfg) {
                    Ok(r) => {
                        prop_assert!(r.contracts >= 1 && r.contracts <= p.sizing.contracts);
                        prop_assert!(r.total_max_loss <= p.sizing.risk_budget.min(p.sizing.heat_room));
                        prop_assert!((r.price_move).abs() <= p.slippage_band);
                    }
                    Err(e) => prop_assert!(!e.message.is_empty()),
                }
            }
        }
    }
}

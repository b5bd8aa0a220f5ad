//! Pre-trade checks: no approved trade breaks a limit, a missing input
//! always refuses, sizing never rounds up; correlation clusters; config.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sas_core::market::Symbol;
use sas_core::money::Money;
use sas_core::portfolio::{Heat, MarkGreeks};
use sas_core::risk::*;
use sas_core::strategy::StrategyKind;

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap()
}

fn m(d: f64) -> Money {
    Money::from_dollars(d).unwrap()
}

fn greeks(delta: f64, vega: f64, theta: f64) -> MarkGreeks {
    MarkGreeks {
        delta: Some(delta),
        gamma: Some(0.0),
        theta: Some(theta),
        vega: Some(vega),
    }
}

/// 70 daily closes: SPY, QQQ and IWM move with one market factor (plus a
/// little noise of their own), GLD on its own.
fn closes() -> BTreeMap<Symbol, Vec<DailyClose>> {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut px = [400.0, 350.0, 200.0, 180.0];
    let names = ["SPY", "QQQ", "IWM", "GLD"];
    let beta = [1.0, 1.2, 1.1, 0.0];
    let mut out: BTreeMap<Symbol, Vec<DailyClose>> = BTreeMap::new();
    let start = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    for d in 0..70 {
        let f: f64 = rng.gen_range(-0.015..0.015);
        for i in 0..4 {
            let own: f64 = rng.gen_range(-0.002..0.002);
            let gold: f64 = if i == 3 {
                rng.gen_range(-0.01..0.01)
            } else {
                0.0
            };
            px[i] *= 1.0 + beta[i] * f + own + gold;
            out.entry(sym(names[i])).or_default().push(DailyClose {
                date: start + Duration::days(d),
                close: px[i],
            });
        }
    }
    out
}

/// A complete book in which a 5-lot SPY-free trade passes every check.
fn book() -> BookInputs {
    let cfg = RiskConfig::default();
    BookInputs {
        net_liquidation: Some(m(100_000.0)),
        heat: Some(Heat {
            committed_max_loss: 5_000.0,
            open_positions: 2,
            unknown_risk: vec![],
        }),
        positions_by_symbol: Some([(sym("SPY"), 1), (sym("TLT"), 1)].into_iter().collect()),
        greeks: Some(greeks(100.0, 50.0, -20.0)),
        buying_power: Some(m(50_000.0)),
        clusters: Some(correlation_clusters(
            &{
                let mut c = closes();
                let tlt: Vec<DailyClose> = c[&sym("GLD")]
                    .iter()
                    .enumerate()
                    .map(|(i, d)| DailyClose {
                        date: d.date,
                        close: 90.0 + ((i * 7919) % 13) as f64 * 0.3,
                    })
                    .collect();
                c.insert(sym("TLT"), tlt);
                c
            },
            &cfg,
        )),
        realized_vol: Some(0.25),
    }
}

fn request(symbol: &str, contracts: u32) -> TradeRequest {
    TradeRequest {
        symbol: sym(symbol),
        strategy: StrategyKind::BullPutCreditSpread,
        contracts,
        max_loss_per_contract: Some(m(300.0)),
        greeks_per_contract: Some(greeks(20.0, -10.0, 5.0)),
        buying_power_per_contract: Some(m(500.0)),
        lowers_exposure: false,
    }
}

fn verdict(r: &PreTradeReport, k: CheckKind) -> &Verdict {
    &r.checks.iter().find(|c| c.check == k).unwrap().verdict
}

#[test]
fn spy_qqq_iwm_are_one_cluster_and_gld_is_apart() {
    let c = correlation_clusters(&closes(), &RiskConfig::default());
    let members = c.members(&sym("QQQ"));
    assert_eq!(members, vec![sym("IWM"), sym("QQQ"), sym("SPY")]);
    assert_eq!(c.members(&sym("GLD")), vec![sym("GLD")]);
    assert!(c.unknown_pairs.is_empty());
    let spy_qqq = c
        .correlations
        .iter()
        .find(|(a, b, _)| a.as_str() == "QQQ" && b.as_str() == "SPY")
        .unwrap()
        .2;
    assert!(spy_qqq > 0.9, "{spy_qqq}");
}

#[test]
fn a_correlated_second_trade_is_refused_by_the_cluster_cap() {
    let cfg = RiskConfig::default();
    let st = TradingState::default();
    let qqq = pre_trade_checks(&request("QQQ", 5), &book(), &st, &cfg, t0());
    assert!(!qqq.approved);
    let Verdict::Refuse(why) = verdict(&qqq, CheckKind::CorrelationCluster) else {
        panic!("cluster check passed");
    };
    assert!(why.contains("IWM+QQQ+SPY"), "{why}");
    // Every other check passed: the cluster alone refused.
    assert_eq!(qqq.refusals().len(), 1, "{:?}", qqq.refusals());
    let gld = pre_trade_checks(&request("GLD", 5), &book(), &st, &cfg, t0());
    assert!(gld.approved, "{:?}", gld.refusals());
    // Each check reports its limit and use.
    let heat = gld
        .checks
        .iter()
        .find(|c| c.check == CheckKind::PortfolioHeat)
        .unwrap();
    assert_eq!(heat.limit, Some(20_000.0));
    assert_eq!(heat.used, Some(6_500.0));
}

#[test]
fn an_unknown_correlation_refuses() {
    let cfg = RiskConfig::default();
    let mut b = book();
    // XLE has no history: its correlation with what is held is unknown.
    let r = pre_trade_checks(&request("XLE", 1), &b, &TradingState::default(), &cfg, t0());
    assert!(
        matches!(verdict(&r, CheckKind::CorrelationCluster), Verdict::Refuse(w) if w.contains("unknown"))
    );
    // Short history: fewer than 40 common returns.
    let mut short = closes();
    for v in short.values_mut() {
        v.truncate(30);
    }
    b.clusters = Some(correlation_clusters(&short, &cfg));
    b.positions_by_symbol = Some([(sym("SPY"), 1)].into_iter().collect());
    let r = pre_trade_checks(&request("GLD", 1), &b, &TradingState::default(), &cfg, t0());
    assert!(!r.approved);
}

#[test]
fn a_halted_state_refuses_with_its_reason() {
    let cfg = RiskConfig::default();
    let st = apply_trader_action(
        &TradingState::default(),
        &TraderAction::KillSwitch,
        "ana",
        "broker incident",
        t0(),
    )
    .unwrap()
    .state;
    let r = pre_trade_checks(&request("GLD", 1), &book(), &st, &cfg, t0());
    assert!(!r.approved);
    assert!(r.refusals()[0].contains("broker incident"));
}

#[test]
fn unknown_heat_refuses() {
    let mut b = book();
    b.heat.as_mut().unwrap().unknown_risk = vec!["k".into()];
    let r = pre_trade_checks(
        &request("GLD", 1),
        &b,
        &TradingState::default(),
        &RiskConfig::default(),
        t0(),
    );
    assert!(!r.approved);
}

#[test]
fn greeks_budgets_allow_trades_that_lower_the_magnitude() {
    let cfg = RiskConfig::default();
    let mut b = book();
    b.greeks = Some(greeks(900.0, 50.0, -20.0)); // over the 500-share budget
    let mut req = request("GLD", 5);
    req.greeks_per_contract = Some(greeks(20.0, -10.0, 5.0));
    let r = pre_trade_checks(&req, &b, &TradingState::default(), &cfg, t0());
    assert!(matches!(
        verdict(&r, CheckKind::NetDelta),
        Verdict::Refuse(_)
    ));
    req.greeks_per_contract = Some(greeks(-60.0, -10.0, 5.0));
    let r = pre_trade_checks(&req, &b, &TradingState::default(), &cfg, t0());
    assert_eq!(verdict(&r, CheckKind::NetDelta), &Verdict::Pass);
}

#[test]
fn config_defaults_validate_and_every_error_is_listed() {
    assert_eq!(RiskConfig::default().validate(), Ok(()));
    let bad = RiskConfig {
        daily_loss_fraction: 0.0,
        max_heat_fraction: f64::NAN,
        stale_data_minutes: 0,
        max_open_positions: 0,
        correlation_min_overlap: 100,
        buying_power_reserve_fraction: 1.0,
        ..RiskConfig::default()
    };
    let errors = bad.validate().unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
    for f in [
        "daily_loss_fraction",
        "max_heat_fraction",
        "stale_data_minutes",
        "max_open_positions",
        "correlation_min_overlap",
        "buying_power_reserve_fraction",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

#[test]
fn a_disabled_strategy_generates_nothing_but_is_still_managed() {
    let mut s = StrategySwitches::default();
    let stamp = Stamp {
        by: Actor::Trader("ana".into()),
        reason: "drawdown".into(),
        at: t0(),
    };
    assert!(s.disable(StrategyKind::IronCondor, stamp));
    assert!(!s.may_generate(StrategyKind::IronCondor));
    assert!(s.may_manage(StrategyKind::IronCondor));
    assert!(s.may_generate(StrategyKind::LongCall));
    assert!(s.enable(StrategyKind::IronCondor));
    assert!(s.may_generate(StrategyKind::IronCondor));
}

/// Mostly plausible values near the limits, sometimes missing or invalid.
fn money_opt(lo: f64, hi: f64) -> impl Strategy<Value = Option<Money>> {
    prop_oneof![
        8 => (lo..hi).prop_map(|d| Some(m(d))),
        1 => Just(None),
        1 => (-1_000.0..0.0f64).prop_map(|d| Some(m(d))),
    ]
}

fn greeks_opt(d: f64, v: f64, t: f64) -> impl Strategy<Value = Option<MarkGreeks>> {
    proptest::option::weighted(
        0.9,
        (-d..d, -v..v, -t..t).prop_map(|(d, v, t)| greeks(d, v, t)),
    )
}

fn inputs() -> impl Strategy<Value = (TradeRequest, BookInputs)> {
    (
        (
            0u32..12,
            money_opt(50.0, 1_500.0),
            greeks_opt(60.0, 60.0, 30.0),
            money_opt(0.0, 3_000.0),
            0usize..4,
        ),
        (
            money_opt(50_000.0, 150_000.0),
            proptest::option::weighted(0.9, (0.0..25_000.0f64, 0u32..6)),
            proptest::option::weighted(0.9, proptest::collection::vec((0usize..4, 0u32..2), 0..3)),
            greeks_opt(600.0, 800.0, 300.0),
            money_opt(0.0, 60_000.0),
            proptest::bool::weighted(0.9),
            proptest::option::weighted(0.9, -0.05..0.6f64),
        ),
    )
        .prop_map(
            |((n, mlpc, g, bp_per, who), (nl, heat, held, bg, bp, clusters, rv))| {
                let names = ["SPY", "QQQ", "GLD", "XLE"];
                (
                    TradeRequest {
                        symbol: sym(names[who]),
                        strategy: StrategyKind::IronCondor,
                        contracts: n,
                        max_loss_per_contract: mlpc,
                        greeks_per_contract: g,
                        buying_power_per_contract: bp_per,
                        lowers_exposure: false,
                    },
                    BookInputs {
                        net_liquidation: nl,
                        heat: heat.map(|(c, o)| Heat {
                            committed_max_loss: c,
                            open_positions: o,
                            unknown_risk: vec![],
                        }),
                        positions_by_symbol: held
                            .map(|v| v.into_iter().map(|(i, k)| (sym(names[i]), k)).collect()),
                        greeks: bg,
                        buying_power: bp,
                        clusters: clusters
                            .then(|| correlation_clusters(&closes(), &RiskConfig::default())),
                        realized_vol: rv,
                    },
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever the inputs, an approved trade is within every limit,
    /// recomputed here from the inputs.
    #[test]
    fn no_approved_trade_breaks_a_limit((req, b) in inputs()) {
        let cfg = RiskConfig::default();
        let r = pre_trade_checks(&req, &b, &TradingState::default(), &cfg, t0());
        if r.approved {
            let nl = b.net_liquidation.unwrap().dollars();
            prop_assert!(nl > 0.0);
            let n = f64::from(req.contracts);
            prop_assert!(req.contracts >= 1);
            let loss = req.max_loss_per_contract.unwrap().dollars() * n;
            prop_assert!(loss > 0.0 && loss <= 0.02 * nl);
            let heat = b.heat.as_ref().unwrap();
            prop_assert!(heat.committed_max_loss + loss <= 0.20 * nl);
            prop_assert!(heat.open_positions < 5);
            let rv = b.realized_vol.unwrap();
            prop_assert!(n <= 10.0 && n <= 10.0 * (0.20 / rv).min(1.0));
            let (bg, g) = (b.greeks.unwrap(), req.greeks_per_contract.unwrap());
            for (book, per, limit) in [
                (bg.delta.unwrap(), g.delta.unwrap(), 500.0),
                (bg.vega.unwrap(), g.vega.unwrap(), 0.005 * nl),
                (bg.theta.unwrap(), g.theta.unwrap(), 0.002 * nl),
            ] {
                let after = (book + per * n).abs();
                prop_assert!(after <= limit || after <= book.abs());
            }
            let bp_used = req.buying_power_per_contract.unwrap().dollars() * n;
            prop_assert!(bp_used <= b.buying_power.unwrap().dollars() - 0.10 * nl);
            // Cluster cap 1: nothing held in the trade's cluster.
            let c = b.clusters.as_ref().unwrap();
            let members = c.members(&req.symbol);
            let held: u32 = b.positions_by_symbol.as_ref().unwrap().iter()
                .filter(|(s, _)| members.contains(s)).map(|(_, k)| *k).sum();
            prop_assert_eq!(held, 0);
        }
    }

    /// Removing any one input from a book that approves refuses the trade.
    #[test]
    fn a_missing_input_always_refuses(drop in 0usize..10, n in 1u32..6) {
        let cfg = RiskConfig::default();
        let st = TradingState::default();
        let mut req = request("GLD", n);
        let mut b = book();
        prop_assert!(pre_trade_checks(&req, &b, &st, &cfg, t0()).approved);
        match drop {
            0 => b.net_liquidation = None,
            1 => b.heat = None,
            2 => b.positions_by_symbol = None,
            3 => b.greeks = None,
            4 => b.buying_power = None,
            5 => b.clusters = None,
            6 => b.realized_vol = None,
            7 => req.max_loss_per_contract = None,
            8 => req.greeks_per_contract = None,
            _ => req.buying_power_per_contract = None,
        }
        let r = pre_trade_checks(&req, &b, &st, &cfg, t0());
        prop_assert!(!r.approved);
        prop_assert!(r.refusals().iter().any(|x| x.contains("missing") || x.contains("unknown")), "{:?}", r.refusals());
    }

    /// The volatility-adjusted cap never exceeds the fixed cap and never
    /// rounds up; higher volatility never gives more contracts.
    #[test]
    fn sizing_never_rounds_up(fixed in 0u32..1000, rv in 0.001..5.0f64, bump in 0.0..2.0f64, target in 0.01..1.0f64) {
        let n = vol_adjusted_cap(fixed, Some(rv), target).unwrap();
        prop_assert!(n <= fixed);
        prop_assert!(f64::from(n) <= f64::from(fixed) * (target / rv).min(1.0));
        prop_assert!(f64::from(n) + 1.0 > f64::from(fixed) * (target / rv).min(1.0));
        let higher = vol_adjusted_cap(fixed, Some(rv + bump), target).unwrap();
        prop_assert!(higher <= n);
        prop_assert_eq!(vol_adjusted_cap(fixed, None, target), None);
        prop_assert_eq!(vol_adjusted_cap(fixed, Some(f64::NAN), target), None);
    }

    /// The size found fits every check and never exceeds what was asked.
    #[test]
    fn size_within_limits_fits((req, b) in inputs()) {
        let cfg = RiskConfig::default();
        let st = TradingState::default();
        match size_within_limits(&req, &b, &st, &cfg, t0()) {
            Ok((n, report)) => {
                prop_assert!(n >= 1 && n <= req.contracts);
                prop_assert!(report.approved);
                let again = pre_trade_checks(&TradeRequest { contracts: n, ..req.clone() }, &b, &st, &cfg, t0());
                prop_assert!(again.approved);
            }
            Err(report) => prop_assert!(!report.approved),
        }
    }
}

/// The limit property above is not vacuous: a fair share of generated
/// inputs is approved.
#[test]
fn generated_inputs_are_sometimes_approved() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let cfg = RiskConfig::default();
    let strategy = inputs();
    let mut approved = 0;
    for _ in 0..2000 {
        let (req, b) = strategy.new_tree(&mut runner).unwrap().current();
        if pre_trade_checks(&req, &b, &TradingState::default(), &cfg, t0()).approved {
            approved += 1;
        }
    }
    assert!(approved >= 20, "only {approved} of 2000 approved");
}

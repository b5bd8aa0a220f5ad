//! Regime selection thresholds and the rationale text.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use sas_core::strategy::regime::{FactorEffect, RegimeFactor, SelectionRule};
use sas_core::strategy::{
    select_regime, Direction, PremiumStance, RegimeInputs, StrategyConfig, StrategyKind,
};

fn inputs(iv_rank: f64, spread: f64, trend: f64) -> RegimeInputs {
    RegimeInputs {
        iv_rank_days: None,
        iv_rank: Some(iv_rank),
        iv_rv_spread: Some(spread),
        skew_25d: Some(2.0),
        term_slope: Some(0.5),
        trend: Some(trend),
        atm_iv: None,
        realized_vol: None,
    }
}

#[test]
fn sell_premium_starts_exactly_at_the_iv_rank_threshold() {
    let cfg = StrategyConfig::default();
    let at = select_regime(&inputs(50.0, 1.0, 0.4), &cfg);
    assert_eq!(at.stance, PremiumStance::Sell);
    assert_eq!(at.rule, SelectionRule::SellPremiumBullish);
    assert_eq!(at.strategies, vec![StrategyKind::BullPutCreditSpread]);
    let below = select_regime(&inputs(49.9, 1.0, 0.4), &cfg);
    assert_eq!(below.stance, PremiumStance::Neutral);
    assert_eq!(below.rule, SelectionRule::MixedVolTrend);
    assert_eq!(below.strategies, vec![StrategyKind::BullCallDebitSpread]);
}

#[test]
fn iv_under_realized_blocks_selling_even_with_high_rank() {
    let cfg = StrategyConfig::default();
    let d = select_regime(&inputs(80.0, -0.5, 0.0), &cfg);
    assert_eq!(d.stance, PremiumStance::Neutral);
    assert_eq!(d.rule, SelectionRule::NoEdge);
    assert!(d.strategies.is_empty());
    let spread = d
        .reasons
        .iter()
        .find(|r| r.factor == RegimeFactor::IvRvSpread)
        .unwrap();
    assert_eq!(spread.effect, FactorEffect::AgainstSelling);
    assert_eq!(spread.value, Some(-0.5));
    assert_eq!(spread.threshold, Some(0.0));
    // With the spread unknown, IV rank alone decides.
    let mut unknown = inputs(80.0, 0.0, 0.0);
    unknown.iv_rv_spread = None;
    assert_eq!(select_regime(&unknown, &cfg).stance, PremiumStance::Sell);
}

#[test]
fn buy_premium_by_low_rank_or_cheap_iv() {
    let cfg = StrategyConfig::default();
    assert_eq!(
        select_regime(&inputs(30.0, 1.0, 0.0), &cfg).stance,
        PremiumStance::Buy
    );
    assert_eq!(
        select_regime(&inputs(30.1, 1.0, 0.0), &cfg).stance,
        PremiumStance::Neutral
    );
    // IV two points under realized buys premium even at rank 45.
    assert_eq!(
        select_regime(&inputs(45.0, -2.0, 0.0), &cfg).stance,
        PremiumStance::Buy
    );
    assert_eq!(
        select_regime(&inputs(45.0, -1.9, 0.0), &cfg).stance,
        PremiumStance::Neutral
    );
}

#[test]
fn direction_thresholds_pick_the_side() {
    let cfg = StrategyConfig::default();
    let d = |t| select_regime(&inputs(70.0, 3.0, t), &cfg);
    assert_eq!(d(0.25).direction, Direction::Bullish);
    assert_eq!(d(0.2499).direction, Direction::Neutral);
    assert_eq!(d(-0.25).direction, Direction::Bearish);
    assert_eq!(
        d(-0.25).strategies,
        vec![StrategyKind::BearCallCreditSpread]
    );
    assert_eq!(d(0.0).strategies, vec![StrategyKind::IronCondor]);
    assert_eq!(d(0.0).rule, SelectionRule::SellPremiumNeutral);
}

#[test]
fn rich_put_skew_turns_a_condor_into_a_put_spread() {
    let cfg = StrategyConfig::default();
    let mut i = inputs(70.0, 3.0, 0.0);
    i.skew_25d = Some(6.0);
    let d = select_regime(&i, &cfg);
    assert_eq!(d.rule, SelectionRule::SellPremiumNeutralRichPuts);
    assert_eq!(d.strategies, vec![StrategyKind::BullPutCreditSpread]);
    i.skew_25d = Some(5.9);
    assert_eq!(
        select_regime(&i, &cfg).strategies,
        vec![StrategyKind::IronCondor]
    );
}

#[test]
fn strong_trend_and_very_low_rank_buy_outright_options() {
    let cfg = StrategyConfig::default();
    let d = select_regime(&inputs(15.0, 0.0, 0.7), &cfg);
    assert_eq!(d.rule, SelectionRule::BuyPremiumStrongTrend);
    assert_eq!(
        d.strategies,
        vec![StrategyKind::LongCall, StrategyKind::BullCallDebitSpread]
    );
    let d = select_regime(&inputs(15.0, 0.0, -0.7), &cfg);
    assert_eq!(
        d.strategies,
        vec![StrategyKind::LongPut, StrategyKind::BearPutDebitSpread]
    );
    // Rank 25 is cheap but not cheap enough for an outright option.
    let d = select_regime(&inputs(25.0, 0.0, 0.7), &cfg);
    assert_eq!(d.rule, SelectionRule::BuyPremiumTrend);
    assert_eq!(d.strategies, vec![StrategyKind::BullCallDebitSpread]);
}

#[test]
fn calendars_need_a_flat_term_structure() {
    let cfg = StrategyConfig::default();
    let mut i = inputs(20.0, -1.0, -0.1);
    i.term_slope = Some(2.0);
    let d = select_regime(&i, &cfg);
    assert_eq!(d.rule, SelectionRule::BuyPremiumNeutralCalendar);
    // Slight downward drift: put calendar first.
    assert_eq!(
        d.strategies,
        vec![StrategyKind::PutCalendar, StrategyKind::CallCalendar]
    );
    i.term_slope = Some(2.1);
    let d = select_regime(&i, &cfg);
    assert_eq!(d.rule, SelectionRule::BuyPremiumTermTooSteep);
    assert!(d.strategies.is_empty());
}

#[test]
fn missing_and_garbage_inputs_are_recorded_not_trusted() {
    let cfg = StrategyConfig::default();
    let i = RegimeInputs {
        iv_rank_days: None,
        iv_rank: Some(f64::NAN),
        iv_rv_spread: Some(f64::INFINITY),
        skew_25d: None,
        term_slope: None,
        trend: None,
        atm_iv: None,
        realized_vol: None,
    };
    let d = select_regime(&i, &cfg);
    assert_eq!(d.stance, PremiumStance::Neutral);
    assert_eq!(d.direction, Direction::Neutral);
    assert_eq!(d.rule, SelectionRule::NoEdge);
    assert!(
        d.reasons
            .iter()
            .filter(|r| r.effect == FactorEffect::Missing)
            .count()
            >= 3
    );
    // IV rank out of range counts as missing too.
    let mut j = inputs(150.0, 5.0, 0.5);
    j.iv_rank = Some(150.0);
    assert_ne!(select_regime(&j, &cfg).stance, PremiumStance::Sell);
}

#[test]
fn thresholds_come_from_the_config() {
    let cfg = StrategyConfig {
        sell_min_iv_rank: 70.0,
        ..StrategyConfig::default()
    };
    assert_eq!(
        select_regime(&inputs(60.0, 3.0, 0.5), &cfg).stance,
        PremiumStance::Neutral
    );
    assert_eq!(
        select_regime(&inputs(70.0, 3.0, 0.5), &cfg).stance,
        PremiumStance::Sell
    );
}

#[test]
fn decision_serializes_rule_and_reasons_as_data() {
    let cfg = StrategyConfig::default();
    let d = select_regime(&inputs(78.0, 6.0, 0.45), &cfg);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["rule"], "sell_premium_bullish");
    assert_eq!(v["stance"], "sell");
    assert_eq!(v["strategies"][0], "bull_put_credit_spread");
    assert_eq!(v["reasons"][0]["factor"], "iv_rank");
    assert_eq!(v["reasons"][0]["effect"], "favours_selling");
    assert_eq!(v["reasons"][0]["value"], 78.0);
    assert_eq!(v["reasons"][0]["threshold"], 50.0);
}

#[test]
fn config_defaults_validate_and_bad_values_are_all_listed() {
    assert_eq!(StrategyConfig::default().validate(), Ok(()));
    let bad = StrategyConfig {
        min_dte: 50,
        max_dte: 40,
        risk_per_trade_fraction: f64::NAN,
        short_delta_min: 0.4,
        max_contracts_per_trade: 0,
        ..StrategyConfig::default()
    };
    let errs = bad.validate().unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    for field in [
        "min_dte",
        "risk_per_trade_fraction",
        "short_delta_target",
        "max_contracts_per_trade",
    ] {
        assert!(
            text.iter().any(|t| t.contains(field)),
            "{field} not reported in {text:?}"
        );
    }
    // Partial JSON keeps defaults for the rest.
    let c: StrategyConfig = serde_json::from_str(r#"{"max_dte": 50}"#).unwrap();
    assert_eq!(c.max_dte, 50);
    assert_eq!(c.min_dte, 30);
}

#[test]
fn inputs_are_filled_from_the_chain_analytics() {
    use chrono::{Days, NaiveDate, TimeZone, Utc};
    use sas_core::analytics::chain::{analyze, ChainHistory};
    use sas_core::market::{DailyBar, Symbol};
    use sas_core::strategy::regime::TREND_FULL_SCALE_PCT_PER_DAY;
    use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};

    let now = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
    let mut spec = SyntheticChainSpec::liquid(Symbol::parse("SPY").unwrap(), 150.0, now);
    spec.term_slope_per_year = 0.05;
    let chain = synthetic_chain(&spec);
    // 60 sessions rising 0.2% a day, with a small alternating wiggle so
    // realized vol is not zero.
    let d0 = NaiveDate::from_ymd_opt(2026, 8, 1).unwrap();
    let bars: Vec<DailyBar> = (0..60u32)
        .map(|i| {
            let c = 100.0 * 1.002f64.powi(i as i32) * if i % 2 == 0 { 1.001 } else { 0.999 };
            DailyBar {
                date: d0.checked_add_days(Days::new(u64::from(i))).unwrap(),
                open: c,
                high: c * 1.002,
                low: c * 0.998,
                close: c,
                volume: 1_000_000,
            }
        })
        .collect();
    let iv_hist: Vec<f64> = (0..252)
        .map(|i| 0.15 + 0.25 * f64::from(i % 50) / 49.0)
        .collect();
    let (a, _) = analyze(
        &chain,
        0.04,
        &ChainHistory {
            daily_bars: &bars,
            atm_iv_30d: &iv_hist,
        },
    );
    let r = RegimeInputs::from_chain_analytics(&a);
    assert_eq!(r.iv_rank, a.iv_rank.as_ref().and_then(|s| s.iv_rank));
    assert!(r.iv_rank.is_some());
    assert_eq!(r.iv_rv_spread, a.iv_rv_spread.map(|v| v * 100.0));
    assert_eq!(r.skew_25d, a.skew_25d_30d.map(|v| v * 100.0));
    assert!(r.skew_25d.unwrap() > 0.0, "synthetic puts carry skew");
    assert!(r.term_slope.unwrap() > 0.0, "synthetic contango");
    let slope = a.momentum.trend_20d_pct_per_day.unwrap();
    assert!((r.trend.unwrap() - slope / TREND_FULL_SCALE_PCT_PER_DAY).abs() < 1e-12);
    assert!(r.trend.unwrap() > 0.3 && r.trend.unwrap() < 0.5);
    assert_eq!(r.atm_iv, a.atm_iv_30d);
    assert_eq!(r.realized_vol, a.rv_20d);
}

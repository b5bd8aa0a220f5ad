//! The trading state machine: it only moves by its rules; the kill switch
//! is never cleared automatically; halts refuse entries but not exits.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use sas_core::market::Symbol;
use sas_core::money::Money;
use sas_core::risk::*;

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

/// Tue 2026-12-01 15:00 UTC = 10:00 New York.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap()
}

fn m(d: f64) -> Money {
    Money::from_dollars(d).unwrap()
}

/// All healthy: nothing should halt.
fn healthy(now: DateTime<Utc>) -> Observation {
    Observation {
        market_open: true,
        net_liquidation: Some(m(100_000.0)),
        start_of_day_net_liquidation: Some(m(100_000.0)),
        reconciliation_drifts: Some(0),
        open_positions: 2,
        oldest_trustworthy_mark: Some(now - Duration::minutes(1)),
        bridge_last_seen: Some(now - Duration::seconds(10)),
        stop_outs: vec![],
    }
}

fn causes(s: &TradingState) -> Vec<HaltCause> {
    s.halts.iter().map(|h| h.cause).collect()
}

#[test]
fn healthy_observation_keeps_trading_active() {
    let cfg = RiskConfig::default();
    let t = evaluate(&TradingState::default(), &healthy(t0()), &cfg, t0());
    assert_eq!(t.state.mode(), TradingMode::Active);
    assert!(t.changes.is_empty());
    assert_eq!(t.state.high_water_mark, Some(m(100_000.0)));
}

#[test]
fn daily_loss_halts_entries_with_the_reason_exits_still_run_and_clears_next_session() {
    let cfg = RiskConfig::default();
    let mut obs = healthy(t0());
    obs.net_liquidation = Some(m(97_000.0)); // −3 % exactly: the limit is reached
    let t = evaluate(&TradingState::default(), &obs, &cfg, t0());
    assert_eq!(t.state.mode(), TradingMode::Halted);
    assert!(causes(&t.state).contains(&HaltCause::DailyLoss));
    let reasons = entry_gate(&t.state, &sym("SPY"), false, t0()).unwrap_err();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("DailyLoss") && r.contains("3000.00")),
        "{reasons:?}"
    );
    assert!(t.state.exits_allowed());
    // Recovering the same day does not clear it.
    let later = t0() + Duration::hours(2);
    let t2 = evaluate(&t.state, &healthy(later), &cfg, later);
    assert!(causes(&t2.state).contains(&HaltCause::DailyLoss));
    // The next session does.
    let tomorrow = t0() + Duration::days(1);
    let t3 = evaluate(&t2.state, &healthy(tomorrow), &cfg, tomorrow);
    assert_eq!(t3.state.mode(), TradingMode::Active, "{:?}", t3.state.halts);
    assert!(t3
        .changes
        .iter()
        .any(|c| c.subject == Subject::Halt(HaltCause::DailyLoss) && !c.raised));
}

#[test]
fn just_under_the_daily_limit_does_not_halt() {
    let cfg = RiskConfig::default();
    let mut obs = healthy(t0());
    obs.net_liquidation = Some(m(97_000.01));
    let t = evaluate(&TradingState::default(), &obs, &cfg, t0());
    assert_eq!(t.state.mode(), TradingMode::Active, "{:?}", t.state.halts);
}

#[test]
fn intraday_drawdown_from_the_session_high_halts() {
    let cfg = RiskConfig {
        daily_loss_fraction: 0.5,
        ..RiskConfig::default()
    };
    let mut obs = healthy(t0());
    obs.net_liquidation = Some(m(120_000.0));
    let s = evaluate(&TradingState::default(), &obs, &cfg, t0()).state;
    let five = t0() + Duration::minutes(5);
    let mut obs = healthy(five);
    obs.net_liquidation = Some(m(108_000.0)); // 10 % under 120 000
    let t = evaluate(&s, &obs, &cfg, five);
    assert_eq!(causes(&t.state), vec![HaltCause::IntradayDrawdown]);
    // Reset at the next session: the mark starts again from today's NL.
    let tomorrow = t0() + Duration::days(1);
    let mut obs = healthy(tomorrow);
    obs.net_liquidation = Some(m(108_000.0));
    let t2 = evaluate(&t.state, &obs, &cfg, tomorrow);
    assert_eq!(t2.state.mode(), TradingMode::Active);
    assert_eq!(t2.state.high_water_mark, Some(m(108_000.0)));
}

#[test]
fn data_bridge_and_reconciliation_halts_clear_when_the_condition_ends() {
    let cfg = RiskConfig::default();
    let mut obs = healthy(t0());
    obs.oldest_trustworthy_mark = Some(t0() - Duration::minutes(6));
    obs.bridge_last_seen = Some(t0() - Duration::seconds(181));
    obs.reconciliation_drifts = Some(1);
    let t = evaluate(&TradingState::default(), &obs, &cfg, t0());
    assert_eq!(
        causes(&t.state),
        vec![
            HaltCause::ReconciliationDrift,
            HaltCause::StaleData,
            HaltCause::BridgeDisconnected
        ]
    );
    let t2 = evaluate(&t.state, &healthy(t0()), &cfg, t0());
    assert_eq!(t2.state.mode(), TradingMode::Active);
    assert_eq!(t2.changes.len(), 3);
    // Stale marks outside market hours or without positions do not halt.
    let mut closed = healthy(t0());
    closed.market_open = false;
    closed.oldest_trustworthy_mark = None;
    assert_eq!(
        evaluate(&TradingState::default(), &closed, &cfg, t0())
            .state
            .mode(),
        TradingMode::Active
    );
}

#[test]
fn missing_inputs_halt() {
    let cfg = RiskConfig::default();
    let obs = Observation {
        market_open: true,
        net_liquidation: None,
        start_of_day_net_liquidation: None,
        reconciliation_drifts: None,
        open_positions: 1,
        oldest_trustworthy_mark: None,
        bridge_last_seen: None,
        stop_outs: vec![],
    };
    let t = evaluate(&TradingState::default(), &obs, &cfg, t0());
    assert_eq!(
        causes(&t.state),
        vec![
            HaltCause::DailyLoss,
            HaltCause::IntradayDrawdown,
            HaltCause::ReconciliationDrift,
            HaltCause::StaleData,
            HaltCause::BridgeDisconnected
        ]
    );
}

#[test]
fn stop_out_streaks_cool_down_one_underlying_then_everything() {
    let cfg = RiskConfig::default(); // 2 per underlying, 3 overall, 240-min window, 120-min cooldown
    let stop = |s: &str, min: i64| StopOut {
        symbol: sym(s),
        at: t0() + Duration::minutes(min),
    };
    let now = t0() + Duration::minutes(30);
    let mut obs = healthy(now);
    obs.stop_outs = vec![stop("SPY", 10), stop("SPY", 20)];
    let t = evaluate(&TradingState::default(), &obs, &cfg, now);
    assert_eq!(t.state.mode(), TradingMode::Active);
    assert_eq!(t.state.cooldowns.len(), 1);
    assert_eq!(t.state.cooldowns[0].until, t0() + Duration::minutes(140));
    assert!(entry_gate(&t.state, &sym("SPY"), false, now).is_err());
    assert!(entry_gate(&t.state, &sym("QQQ"), false, now).is_ok());

    obs.stop_outs.push(stop("QQQ", 25));
    let t2 = evaluate(&t.state, &obs, &cfg, now);
    assert_eq!(causes(&t2.state), vec![HaltCause::StopOutStreak]);
    let until = t2.state.halt(HaltCause::StopOutStreak).unwrap().until;
    assert_eq!(until, Some(t0() + Duration::minutes(145)));

    // Still in the window but past the cooldown: cleared, and those stops
    // no longer count.
    let after = t0() + Duration::minutes(150);
    let mut obs3 = healthy(after);
    obs3.stop_outs = obs.stop_outs.clone();
    let t3 = evaluate(&t2.state, &obs3, &cfg, after);
    assert_eq!(t3.state.mode(), TradingMode::Active, "{:?}", t3.state.halts);
    assert!(t3.state.cooldowns.is_empty());
    let next = after + Duration::minutes(1);
    let mut obs4 = healthy(next);
    obs4.stop_outs = obs.stop_outs.clone();
    let t4 = evaluate(&t3.state, &obs4, &cfg, next);
    assert!(t4.changes.is_empty(), "{:?}", t4.changes);
    assert_eq!(t4.state.mode(), TradingMode::Active);
}

#[test]
fn trader_actions_are_audited_and_the_kill_switch_only_clears_by_hand() {
    let cfg = RiskConfig::default();
    let s = TradingState::default();
    assert_eq!(
        apply_trader_action(&s, &TraderAction::KillSwitch, "", "x", t0()),
        Err(ActionRefusal::MissingIdentity)
    );
    let k = apply_trader_action(&s, &TraderAction::KillSwitch, "ana", "news", t0()).unwrap();
    assert_eq!(k.state.mode(), TradingMode::Halted);
    let h = k.state.halt(HaltCause::KillSwitch).unwrap();
    assert_eq!(h.stamp.by, Actor::Trader("ana".into()));
    assert_eq!(h.stamp.reason, "news");
    // Days of healthy evaluations do not clear it.
    let mut st = k.state;
    for d in 0..5 {
        let now = t0() + Duration::days(d);
        st = evaluate(&st, &healthy(now), &cfg, now).state;
    }
    assert_eq!(causes(&st), vec![HaltCause::KillSwitch]);
    assert!(st.exits_allowed());
    let c = apply_trader_action(
        &st,
        &TraderAction::Clear(HaltCause::KillSwitch),
        "ana",
        "ok",
        t0(),
    )
    .unwrap();
    assert_eq!(c.state.mode(), TradingMode::Active);
    assert_eq!(
        apply_trader_action(
            &c.state,
            &TraderAction::Clear(HaltCause::KillSwitch),
            "ana",
            "ok",
            t0()
        ),
        Err(ActionRefusal::NoChange)
    );
}

#[test]
fn reducing_allows_only_exposure_lowering_trades_and_exits_can_be_paused() {
    let s = apply_trader_action(
        &TradingState::default(),
        &TraderAction::Reduce,
        "ana",
        "FOMC",
        t0(),
    )
    .unwrap()
    .state;
    assert_eq!(s.mode(), TradingMode::Reducing);
    assert!(entry_gate(&s, &sym("SPY"), false, t0()).is_err());
    assert!(entry_gate(&s, &sym("SPY"), true, t0()).is_ok());
    let p = apply_trader_action(&s, &TraderAction::PauseExits, "ana", "manual", t0())
        .unwrap()
        .state;
    assert!(!p.exits_allowed());
    let r = apply_trader_action(&p, &TraderAction::Resume, "ana", "done", t0())
        .unwrap()
        .state;
    assert_eq!(r.mode(), TradingMode::Active);
    assert!(!r.exits_allowed()); // exits stay paused until resumed explicitly
}

#[test]
fn a_trader_clear_of_a_limit_still_broken_is_raised_again() {
    let cfg = RiskConfig::default();
    let mut obs = healthy(t0());
    obs.bridge_last_seen = None;
    let s = evaluate(&TradingState::default(), &obs, &cfg, t0()).state;
    let c = apply_trader_action(
        &s,
        &TraderAction::Clear(HaltCause::BridgeDisconnected),
        "ana",
        "checked",
        t0(),
    )
    .unwrap();
    assert_eq!(c.state.mode(), TradingMode::Active);
    let again = evaluate(&c.state, &obs, &cfg, t0());
    assert_eq!(causes(&again.state), vec![HaltCause::BridgeDisconnected]);
}

#[derive(Debug, Clone)]
enum Step {
    Observe(Observation, i64),
    Trader(TraderAction, i64),
}

fn observation() -> impl Strategy<Value = (Observation, i64)> {
    (
        any::<bool>(),
        proptest::option::weighted(0.9, 80_000.0..120_000.0f64),
        proptest::option::weighted(0.9, 90_000.0..110_000.0f64),
        proptest::option::weighted(0.9, 0u32..3),
        0u32..4,
        proptest::option::weighted(0.9, 0i64..600),
        proptest::option::weighted(0.9, 0i64..200),
        proptest::collection::vec((0usize..3, 0i64..300), 0..5),
        0i64..600,
    )
        .prop_map(
            |(open, nl, sod, drifts, positions, mark_age, seen_age, stops, minutes)| {
                let now = t0() + Duration::minutes(minutes);
                let names = ["SPY", "QQQ", "IWM"];
                (
                    Observation {
                        market_open: open,
                        net_liquidation: nl.map(m),
                        start_of_day_net_liquidation: sod.map(m),
                        reconciliation_drifts: drifts,
                        open_positions: positions,
                        oldest_trustworthy_mark: mark_age.map(|a| now - Duration::seconds(a)),
                        bridge_last_seen: seen_age.map(|a| now - Duration::seconds(a)),
                        stop_outs: stops
                            .into_iter()
                            .map(|(i, ago)| StopOut {
                                symbol: sym(names[i]),
                                at: now - Duration::minutes(ago),
                            })
                            .collect(),
                    },
                    minutes,
                )
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    let cause = prop_oneof![
        Just(HaltCause::DailyLoss),
        Just(HaltCause::StaleData),
        Just(HaltCause::BridgeDisconnected),
        Just(HaltCause::StopOutStreak),
    ];
    prop_oneof![
        6 => observation().prop_map(|(o, t)| Step::Observe(o, t)),
        1 => (0i64..600).prop_map(|t| Step::Trader(TraderAction::KillSwitch, t)),
        1 => (cause, 0i64..600).prop_map(|(c, t)| Step::Trader(TraderAction::Clear(c), t)),
        1 => (0i64..600).prop_map(|t| Step::Trader(TraderAction::Reduce, t)),
        1 => (0i64..600).prop_map(|t| Step::Trader(TraderAction::PauseExits, t)),
    ]
}

proptest! {
    /// Whatever happens, evaluations never raise or clear the kill switch,
    /// never touch the trader's reducing/exit-pause settings, raise a cause
    /// only when its condition holds (checked here independently for the
    /// daily loss and the bridge) and leave trading active only when no
    /// condition holds.
    #[test]
    fn the_state_only_moves_by_its_rules(steps in proptest::collection::vec(step(), 1..30)) {
        let cfg = RiskConfig::default();
        let mut s = TradingState::default();
        let mut killed = false;
        for st in steps {
            match st {
                Step::Trader(a, t) => {
                    let now = t0() + Duration::minutes(t);
                    if let Ok(tr) = apply_trader_action(&s, &a, "ana", "test", now) {
                        if a == TraderAction::KillSwitch { killed = true; }
                        prop_assert_eq!(tr.changes.len(), 1);
                        s = tr.state;
                    }
                }
                Step::Observe(obs, t) => {
                    let now = t0() + Duration::minutes(t);
                    let tr = evaluate(&s, &obs, &cfg, now);
                    prop_assert_eq!(tr.state.halt(HaltCause::KillSwitch).is_some(), killed);
                    prop_assert_eq!(&tr.state.reducing, &s.reducing);
                    prop_assert_eq!(&tr.state.exits_paused, &s.exits_paused);
                    for c in &tr.changes {
                        prop_assert_eq!(&c.stamp.by, &Actor::Rule);
                        prop_assert!(c.subject != Subject::Halt(HaltCause::KillSwitch));
                    }
                    let loss_breached = match (obs.start_of_day_net_liquidation, obs.net_liquidation) {
                        (Some(a), Some(b)) => (a - b).dollars() >= 0.03 * a.dollars(),
                        _ => true,
                    };
                    let bridge_down = obs
                        .bridge_last_seen
                        .is_none_or(|x| now - x >= Duration::seconds(180));
                    let drift = obs.reconciliation_drifts.is_none_or(|d| d > 0);
                    if loss_breached {
                        prop_assert!(tr.state.halt(HaltCause::DailyLoss).is_some());
                    }
                    prop_assert_eq!(tr.state.halt(HaltCause::BridgeDisconnected).is_some(), bridge_down);
                    prop_assert_eq!(tr.state.halt(HaltCause::ReconciliationDrift).is_some(), drift);
                    for c in tr.changes.iter().filter(|c| c.raised) {
                        if c.subject == Subject::Halt(HaltCause::DailyLoss) {
                            prop_assert!(loss_breached);
                        }
                    }
                    if tr.state.mode() == TradingMode::Active {
                        prop_assert!(!loss_breached && !bridge_down && !drift && obs.net_liquidation.is_some());
                    }
                    s = tr.state;
                }
            }
            if s.mode() == TradingMode::Halted {
                prop_assert!(entry_gate(&s, &sym("SPY"), true, t0()).is_err());
            }
        }
    }
}

#[test]
fn a_halt_for_an_unreadable_net_liquidation_clears_with_the_data_but_a_measured_loss_holds() {
    let cfg = RiskConfig::default();
    // One failed account read: the daily-loss rule fails closed (halted) ...
    let mut gap = healthy(t0());
    gap.net_liquidation = None;
    let s = evaluate(&TradingState::default(), &gap, &cfg, t0()).state;
    assert!(causes(&s).contains(&HaltCause::DailyLoss));
    // ... and clears at the next good read: a data gap must not halt the day.
    let t1 = t0() + Duration::minutes(1);
    let s = evaluate(&s, &healthy(t1), &cfg, t1).state;
    assert!(!causes(&s).contains(&HaltCause::DailyLoss), "{:?}", s.halts);
    // A measured loss past the limit holds for the session even once it shrinks.
    let t2 = t0() + Duration::minutes(2);
    let mut loss = healthy(t2);
    loss.net_liquidation = Some(m(96_000.0));
    let s = evaluate(&s, &loss, &cfg, t2).state;
    assert!(causes(&s).contains(&HaltCause::DailyLoss));
    let t3 = t0() + Duration::minutes(3);
    let s = evaluate(&s, &healthy(t3), &cfg, t3).state;
    assert!(
        causes(&s).contains(&HaltCause::DailyLoss),
        "a measured loss is sticky"
    );
    // A gap first, then a real loss while it stands: the halt becomes sticky.
    let s = evaluate(&TradingState::default(), &gap, &cfg, t0()).state;
    let s = evaluate(&s, &loss, &cfg, t2).state;
    let s = evaluate(&s, &healthy(t3), &cfg, t3).state;
    assert!(
        causes(&s).contains(&HaltCause::DailyLoss),
        "upgraded to sticky"
    );
}

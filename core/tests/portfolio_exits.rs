//! Exit rules: never on an untrustworthy mark; one example per rule.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

mod positions_support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use positions_support::*;
use proptest::prelude::*;
use sas_core::portfolio::*;
use sas_core::strategy::{ExitPlan, ExitTrigger};

const KEY: &str = "2026-12-01-SPY-bull_put_credit_spread-0123456789abcdef";

/// The plan of a bull put opened for 1.20: take profit at +$60 per set,
/// stop at −$240, time exit on 2026-12-25.
fn plan() -> ExitPlan {
    ExitPlan {
        take_profit: ExitTrigger {
            pnl: 60.0,
            mark_value: -0.60,
        },
        stop_loss: ExitTrigger {
            pnl: -240.0,
            mark_value: 1.20,
        },
        stop_capped_at_max_loss: false,
        time_exit_dte: 21,
        time_exit_date: date(2026, 12, 25),
        trailing_stop_fraction: None,
    }
}

fn position() -> (PositionSpec, Position) {
    let (spec, ledger) = opened_bull_put(KEY, 2, 1.20);
    let p = Position::build(&spec, &ledger);
    (spec, p)
}

fn eval_at(
    p: &Position,
    spec: &PositionSpec,
    spread_mid: f64,
    now: DateTime<Utc>,
    plan: &ExitPlan,
    state: &ExitState,
    cfg: &ExitConfig,
) -> ExitEvaluation {
    let mark = mark_position(
        p,
        &bull_put_quotes(spec, spread_mid, now),
        now,
        &MarkPolicy::default(),
    );
    evaluate_exits(plan, &mark, state, now, cfg)
}

fn reason(e: &ExitEvaluation) -> Option<ExitReason> {
    match &e.decision {
        ExitDecision::Exit { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
enum Defect {
    None,
    Missing,
    Stale,
    FromFuture,
    Crossed,
    NoBid,
    NoAsk,
    Wide,
    NotANumber,
}

fn defect() -> impl Strategy<Value = Defect> {
    prop_oneof![
        3 => Just(Defect::None),
        1 => Just(Defect::Missing),
        1 => Just(Defect::Stale),
        1 => Just(Defect::FromFuture),
        1 => Just(Defect::Crossed),
        1 => Just(Defect::NoBid),
        1 => Just(Defect::NoAsk),
        1 => Just(Defect::Wide),
        1 => Just(Defect::NotANumber),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// With a plan whose every rule holds (take profit below any P&L, time
    /// exit in the past, stop confirmations 1), a mark with any defect in
    /// any leg (missing, stale, future, crossed, no bid where we sell, no
    /// ask, too wide, NaN) gives the refusal and no exit; a clean mark exits.
    #[test]
    fn exits_never_fire_on_an_untrustworthy_mark(
        defects in (defect(), defect()),
        mids in (0.2f64..8.0, 0.2f64..8.0),
        age in 0i64..120,
        state_in in (0u32..3, 0u32..3),
    ) {
        let (spec, p) = position();
        let now = t0();
        let mut quotes = Vec::new();
        for (i, (d, mid)) in [(defects.0, mids.0), (defects.1, mids.1)].into_iter().enumerate() {
            let c = &spec.legs[i].contract;
            let fresh = now - Duration::seconds(age);
            let q = match d {
                Defect::None => quote(c, mid - 0.02, mid + 0.02, fresh),
                Defect::Missing => continue,
                Defect::Stale => quote(c, mid - 0.02, mid + 0.02, now - Duration::seconds(121 + age)),
                Defect::FromFuture => quote(c, mid - 0.02, mid + 0.02, now + Duration::seconds(6 + age)),
                Defect::Crossed => quote(c, mid + 0.02, mid - 0.02, fresh),
                // Leg 1 is the long put: we sell it to close. On the short
                // leg a zero bid is no defect by itself, so make it wide too.
                Defect::NoBid => quote(c, 0.0, if i == 1 { mid } else { 0.5 }, fresh),
                Defect::NoAsk => { let mut q = quote(c, mid, mid, fresh); q.ask = None; q }
                Defect::Wide => quote(c, mid * 0.5, mid * 1.5, fresh),
                Defect::NotANumber => quote(c, f64::NAN, mid, fresh),
            };
            quotes.push(q);
        }
        let always = ExitPlan {
            take_profit: ExitTrigger { pnl: -1e9, mark_value: -1e9 },
            trailing_stop_fraction: Some(0.1),
            time_exit_date: date(2026, 1, 1),
            ..plan()
        };
        let cfg = ExitConfig { stop_confirmations: 1, ..ExitConfig::default() };
        let state = ExitState { stop_breaches: state_in.0, trailing_breaches: state_in.1, peak_pnl_per_unit: None };
        let mark = mark_position(&p, &quotes, now, &MarkPolicy::default());
        let ev = evaluate_exits(&always, &mark, &state, now, &cfg);
        let clean = matches!(defects, (Defect::None, Defect::None));
        if clean {
            prop_assert!(ev.decision.is_exit(), "{:?}", ev.decision);
        } else {
            prop_assert!(mark.is_err(), "defects {:?} gave a mark", defects);
            let refused = matches!(ev.decision, ExitDecision::Rejected { .. });
            prop_assert!(refused, "{:?}", ev.decision);
            prop_assert_eq!(ev.state, state, "a refused mark changed the exit state");
        }
    }
}

#[test]
fn take_profit_fires_at_the_planned_pnl_per_set() {
    let (spec, p) = position();
    let cfg = ExitConfig::default();
    let s = ExitState::default();
    let hold = eval_at(&p, &spec, 0.62, t0(), &plan(), &s, &cfg);
    assert_eq!(hold.decision, ExitDecision::Hold);
    assert_eq!(hold.pnl_per_unit, Some(dollars(58.0)));
    let tp = eval_at(&p, &spec, 0.60, t0(), &plan(), &s, &cfg);
    assert_eq!(reason(&tp), Some(ExitReason::TakeProfit));
}

#[test]
fn stop_loss_needs_two_consecutive_marks_beyond_it() {
    let (spec, p) = position();
    let cfg = ExitConfig::default();
    let first = eval_at(&p, &spec, 3.60, t0(), &plan(), &ExitState::default(), &cfg);
    assert_eq!(
        first.decision,
        ExitDecision::Confirming {
            reason: ExitReason::StopLoss,
            breaches: 1
        }
    );
    // A mark back inside the stop resets the count.
    let back = eval_at(&p, &spec, 3.00, t0(), &plan(), &first.state, &cfg);
    assert_eq!(back.decision, ExitDecision::Hold);
    assert_eq!(back.state.stop_breaches, 0);
    // A refused mark in between neither confirms nor resets.
    let refused = evaluate_exits(
        &plan(),
        &mark_position(&p, &[], t0(), &MarkPolicy::default()),
        &first.state,
        t0(),
        &cfg,
    );
    assert!(matches!(
        refused.decision,
        ExitDecision::Rejected {
            reason: MarkRejection::MissingQuote { .. }
        }
    ));
    let second = eval_at(&p, &spec, 3.70, t0(), &plan(), &refused.state, &cfg);
    assert_eq!(reason(&second), Some(ExitReason::StopLoss));
    // Configured to one confirmation, the first mark beyond fires.
    let once = ExitConfig {
        stop_confirmations: 1,
        ..cfg
    };
    let now = eval_at(&p, &spec, 3.60, t0(), &plan(), &ExitState::default(), &once);
    assert_eq!(reason(&now), Some(ExitReason::StopLoss));
}

#[test]
fn trailing_stop_gives_back_at_most_its_fraction_of_the_peak() {
    let (spec, p) = position();
    let cfg = ExitConfig::default();
    let plan = ExitPlan {
        trailing_stop_fraction: Some(0.5),
        ..plan()
    };
    // Peak +$40 per set (armed: >= 0.5 x $60).
    let peak = eval_at(&p, &spec, 0.80, t0(), &plan, &ExitState::default(), &cfg);
    assert_eq!(peak.decision, ExitDecision::Hold);
    assert_eq!(peak.state.peak_pnl_per_unit, Some(dollars(40.0)));
    // +$25: gave back less than half.
    let still = eval_at(&p, &spec, 0.95, t0(), &plan, &peak.state, &cfg);
    assert_eq!(still.decision, ExitDecision::Hold);
    // +$15: gave back more than half, twice.
    let one = eval_at(&p, &spec, 1.05, t0(), &plan, &still.state, &cfg);
    assert_eq!(
        one.decision,
        ExitDecision::Confirming {
            reason: ExitReason::TrailingStop,
            breaches: 1
        }
    );
    let two = eval_at(&p, &spec, 1.05, t0(), &plan, &one.state, &cfg);
    assert_eq!(reason(&two), Some(ExitReason::TrailingStop));
    // Not armed below the activation: a $20 peak falling to $5 holds.
    let low = eval_at(&p, &spec, 1.00, t0(), &plan, &ExitState::default(), &cfg);
    let fall = eval_at(&p, &spec, 1.15, t0(), &plan, &low.state, &cfg);
    assert_eq!(fall.decision, ExitDecision::Hold);
}

#[test]
fn time_exit_fires_on_the_planned_date_new_york_time() {
    let (spec, p) = position();
    let cfg = ExitConfig::default();
    // 2026-12-25 03:00 UTC is still the 24th in New York.
    let eve = Utc.with_ymd_and_hms(2026, 12, 25, 3, 0, 0).unwrap();
    let hold = eval_at(&p, &spec, 1.00, eve, &plan(), &ExitState::default(), &cfg);
    assert_eq!(hold.decision, ExitDecision::Hold);
    let day = Utc.with_ymd_and_hms(2026, 12, 25, 15, 0, 0).unwrap();
    let exit = eval_at(&p, &spec, 1.00, day, &plan(), &ExitState::default(), &cfg);
    assert_eq!(reason(&exit), Some(ExitReason::TimeExit));
}

#[test]
fn closes_in_the_last_hour_of_expiration_day() {
    let (spec, p) = position();
    let cfg = ExitConfig::default();
    let far = ExitPlan {
        time_exit_date: date(2027, 2, 1),
        ..plan()
    };
    // Expiry 2027-01-15 closes at 16:00 New York = 21:00 UTC (EST).
    let before = Utc.with_ymd_and_hms(2027, 1, 15, 19, 59, 0).unwrap();
    let e = eval_at(&p, &spec, 1.00, before, &far, &ExitState::default(), &cfg);
    assert_eq!(e.decision, ExitDecision::Hold);
    let last_hour = Utc.with_ymd_and_hms(2027, 1, 15, 20, 0, 0).unwrap();
    let e = eval_at(
        &p,
        &spec,
        0.60,
        last_hour,
        &far,
        &ExitState::default(),
        &cfg,
    );
    assert_eq!(reason(&e), Some(ExitReason::ExpiryDay));
    assert!(
        matches!(&e.decision, ExitDecision::Exit { also, .. } if also == &vec![ExitReason::TakeProfit])
    );
}

//! The rule "no trade spans an event": whatever the calendar of earnings and
//! ex-dividend dates, no generated proposal has an event between its trade
//! date and its last expiry (both inclusive), and a skip caused by an event
//! names one that really lies in the window.

#![allow(clippy::unwrap_used)] // test crate

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use sas_core::market::Symbol;
use sas_core::strategy::build::BuildFailure;
use sas_core::strategy::chain::EventKind;
use sas_core::strategy::proposal::SkipReason;
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
use sas_core::strategy::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn day(n: u64) -> NaiveDate {
    today().checked_add_days(Days::new(n)).unwrap()
}

fn regime(iv_rank: f64, spread: f64, trend: f64) -> RegimeInputs {
    RegimeInputs {
        iv_rank_days: None,
        iv_rank: Some(iv_rank),
        iv_rv_spread: Some(spread),
        skew_25d: Some(3.0),
        term_slope: Some(1.0),
        trend: Some(trend),
        atm_iv: Some(0.28),
        realized_vol: Some(0.22),
    }
}

/// Regimes that select credit spreads, condors, debit spreads and calendars.
fn regimes() -> Vec<RegimeInputs> {
    vec![
        regime(78.0, 6.0, 0.45),
        regime(80.0, 6.0, 0.0),
        regime(15.0, -3.0, 0.5),
        regime(15.0, -3.0, -0.5),
        regime(30.0, -1.0, 0.0),
    ]
}

fn generate(
    spot: f64,
    r: RegimeInputs,
    events: Option<EventCalendar>,
) -> (Vec<Proposal>, Vec<sas_core::strategy::proposal::Skipped>) {
    let s = Symbol::parse("AAPL").unwrap();
    let cand = UnderlyingCandidate {
        symbol: s.clone(),
        chain: synthetic_chain(&SyntheticChainSpec::liquid(s, spot, now())),
        regime: r,
        score: None,
        events,
    };
    let inputs = GenerationInputs {
        trade_date: today(),
        expires_at: Utc.with_ymd_and_hms(2026, 11, 20, 21, 0, 0).unwrap(),
        net_liquidation: 100_000.0,
        ranked: vec![cand],
        open_positions: vec![],
        pending_proposals: vec![],
        proposals_today: vec![],
    };
    generate_proposals(&inputs, &StrategyConfig::default(), now())
}

fn last_expiry(p: &Proposal) -> NaiveDate {
    p.legs.iter().map(|l| l.expiry).max().unwrap()
}

fn event_in(cal: &EventCalendar, to: NaiveDate) -> Option<NaiveDate> {
    cal.earnings
        .iter()
        .chain(&cal.ex_dividend)
        .copied()
        .filter(|d| *d >= today() && *d <= to)
        .min()
}

#[test]
fn an_event_between_two_expiries_moves_the_trade_to_the_nearer_one() {
    // Without events the default config picks the 42-DTE expiry for a
    // credit spread; earnings on day 30 leave only the 14 and 28 DTE ones,
    // outside the DTE window, so nothing; on day 50 the 42-DTE trade stays.
    let r = regime(78.0, 6.0, 0.45);
    let (p, _) = generate(150.0, r, None);
    assert_eq!(p.len(), 1);
    let base = last_expiry(&p[0]);
    let on = |d: NaiveDate| EventCalendar::new(vec![d], vec![]);
    let (p, s) = generate(150.0, r, Some(on(base)));
    assert!(p.iter().all(|p| last_expiry(p) < base), "{p:?} {s:?}");
    let (p, _) = generate(150.0, r, Some(on(base.succ_opt().unwrap())));
    assert_eq!(p.len(), 1);
    assert_eq!(last_expiry(&p[0]), base);
    // An ex-dividend date on the trade date itself is inside every trade.
    let (p, s) = generate(150.0, r, Some(EventCalendar::new(vec![], vec![today()])));
    assert!(p.is_empty());
    match &s[0].reason {
        SkipReason::BuildFailed {
            failure: BuildFailure::EventInsideTrade { event, date },
            ..
        } => assert_eq!((*event, *date), (EventKind::ExDividend, today())),
        other => panic!("unexpected {other:?}"),
    }
    assert!(s[0].message.contains("ex-dividend"), "{}", s[0].message);
}

#[test]
fn past_events_do_not_block() {
    let past = today().pred_opt().unwrap();
    let cal = EventCalendar::new(vec![past], vec![past]);
    for r in regimes() {
        let (with, _) = generate(150.0, r, Some(cal.clone()));
        let (without, _) = generate(150.0, r, None);
        assert_eq!(with, without);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn no_proposal_spans_an_event(
        r in 0usize..5,
        spot in 40.0f64..600.0,
        earnings in proptest::collection::vec(0u64..90, 0..3),
        ex_div in proptest::collection::vec(0u64..90, 0..3),
    ) {
        let cal = EventCalendar::new(
            earnings.iter().map(|n| day(*n)).collect(),
            ex_div.iter().map(|n| day(*n)).collect(),
        );
        let (props, skips) = generate(spot, regimes()[r], Some(cal.clone()));
        for p in &props {
            let to = last_expiry(p);
            prop_assert!(event_in(&cal, to).is_none(), "{:?} spans {:?}", p.legs, cal);
        }
        for s in &skips {
            if let SkipReason::BuildFailed {
                failure: BuildFailure::EventInsideTrade { date, event }, ..
            } = &s.reason {
                let listed = match event {
                    EventKind::Earnings => &cal.earnings,
                    EventKind::ExDividend => &cal.ex_dividend,
                };
                prop_assert!(listed.contains(date));
                prop_assert!(*date >= today());
            }
        }
        // An empty calendar never blocks what no calendar allows.
        let (a, _) = generate(spot, regimes()[r], Some(EventCalendar::default()));
        let (b, _) = generate(spot, regimes()[r], None);
        prop_assert_eq!(a, b);
    }
}

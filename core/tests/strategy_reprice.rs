//! Issue 8 item 7: re-pricing never falls back to the proposal's snapshot
//! for data the fresh quotes lack (see docs/approval-workflow.md, "Fresh data
//! at approval").

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sas_core::market::{OptionChain, Symbol};
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
use sas_core::strategy::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn chain(spot: f64) -> OptionChain {
    synthetic_chain(&SyntheticChainSpec::liquid(
        Symbol::parse("SPY").unwrap(),
        spot,
        now(),
    ))
}

fn proposal() -> Proposal {
    let regime = RegimeInputs {
        iv_rank_days: None,
        iv_rank: Some(78.0),
        iv_rv_spread: Some(6.0),
        skew_25d: Some(3.0),
        term_slope: Some(1.0),
        trend: Some(0.45),
        atm_iv: Some(0.28),
        realized_vol: Some(0.22),
    };
    let inputs = GenerationInputs {
        trade_date: today(),
        expires_at: Utc.with_ymd_and_hms(2026, 11, 20, 21, 0, 0).unwrap(),
        net_liquidation: 100_000.0,
        ranked: vec![UnderlyingCandidate {
            symbol: Symbol::parse("SPY").unwrap(),
            chain: chain(150.0),
            regime,
            score: None,
            events: None,
        }],
        open_positions: vec![],
        pending_proposals: vec![],
        proposals_today: vec![],
    };
    let (p, s) = generate_proposals(&inputs, &StrategyConfig::default(), now());
    assert!(s.is_empty(), "skipped: {s:?}");
    p.into_iter().next().unwrap()
}

fn fresh(p: &Proposal) -> FreshQuotes {
    let c = chain(150.0);
    let legs = p
        .legs
        .iter()
        .map(|l| {
            let e = c.expiries.iter().find(|e| e.expiry == l.expiry).unwrap();
            let q = e
                .contracts
                .iter()
                .find(|q| q.right == l.right && q.strike == l.strike)
                .unwrap();
            FreshLegQuote {
                expiry: l.expiry,
                quote: q.clone(),
            }
        })
        .collect();
    FreshQuotes {
        spot: Some(c.spot),
        legs,
        ..Default::default()
    }
}

fn code(r: &RepriceRefusal) -> String {
    serde_json::to_value(&r.reason).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn item7_reprice_refuses_missing_fresh_volume_and_spot() {
    let cfg = StrategyConfig::default();
    assert!(cfg.min_volume > 0);
    let p = proposal();
    // Missing fresh volume: the snapshot's volume must not stand in.
    let mut f = fresh(&p);
    f.legs[0].quote.volume = None;
    let r = reprice(&p, &f, &cfg).expect_err("missing fresh volume must refuse");
    assert_eq!(code(&r), "missing_fresh_data", "{r:?}");
    assert!(r.message.contains("volume"), "{}", r.message);
    // With the volume filter off, volume is not needed.
    let off = StrategyConfig {
        min_volume: 0,
        ..cfg.clone()
    };
    let mut f = fresh(&p);
    f.legs[0].quote.volume = None;
    f.legs[0].quote.open_interest = Some(5_000);
    f.legs[1].quote.open_interest = Some(5_000);
    assert!(reprice(&p, &f, &off).is_ok());
    // Missing fresh spot: the snapshot's spot must not stand in.
    let mut f = fresh(&p);
    f.spot = None;
    let r = reprice(&p, &f, &cfg).expect_err("missing fresh spot must refuse");
    assert_eq!(code(&r), "missing_fresh_data", "{r:?}");
}

#[test]
fn item7_reprice_never_uses_the_snapshot_iv() {
    let cfg = StrategyConfig::default();
    let mut p = proposal();
    // A snapshot IV far from today's market: if it leaked into re-pricing,
    // the legs would carry it.
    for l in &mut p.legs {
        l.quote.iv = Some(3.0);
    }
    let mut f = fresh(&p);
    for l in &mut f.legs {
        l.quote.greeks = Default::default();
    }
    match reprice(&p, &f, &cfg) {
        Ok(r) => {
            for l in &r.legs {
                let iv = l.quote.iv.unwrap();
                assert!((0.2..0.4).contains(&iv), "stale snapshot iv used: {iv}");
            }
        }
        Err(r) => assert_eq!(code(&r), "missing_fresh_data", "{r:?}"),
    }
    // No fresh IV and no usable mid to imply one from: refused, not stale.
    let mut f = fresh(&p);
    f.legs[0].quote.greeks = Default::default();
    f.legs[0].quote.bid = Some(0.0);
    f.legs[0].quote.ask = Some(0.0);
    assert!(reprice(&p, &f, &cfg).is_err());
}

#[test]
fn item7_missing_open_interest_is_refused_unless_same_trading_day() {
    let cfg = StrategyConfig::default();
    assert!(cfg.min_open_interest > 0);
    let p = proposal();
    let mut f = fresh(&p);
    for l in &mut f.legs {
        l.quote.open_interest = None;
    }
    // No date on the fresh quotes: the snapshot's open interest may be stale.
    let r = reprice(&p, &f, &cfg).expect_err("missing open interest must refuse");
    assert_eq!(code(&r), "missing_fresh_data", "{r:?}");
    assert!(r.message.contains("open interest"), "{}", r.message);
}

#[test]
fn item7_same_day_open_interest_may_come_from_the_proposal() {
    let cfg = StrategyConfig::default();
    let p = proposal();
    let mut f = fresh(&p);
    for l in &mut f.legs {
        l.quote.open_interest = None;
    }
    // Same trading date: the once-a-day figure of the proposal is today's.
    f.as_of = Some(p.trade_date);
    let r = reprice(&p, &f, &cfg).unwrap();
    assert_eq!(r.legs[0].quote.open_interest, p.legs[0].quote.open_interest);
    // The next day it is stale: refused.
    f.as_of = p.trade_date.succ_opt();
    let r = reprice(&p, &f, &cfg).unwrap_err();
    assert_eq!(code(&r), "missing_fresh_data", "{r:?}");
}

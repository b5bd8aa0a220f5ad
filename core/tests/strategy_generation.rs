//! End-to-end generation on synthetic chains: strategy construction, limits,
//! idempotency, events, exits, rationale text and re-pricing.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use sas_core::market::{OptionChain, OptionRight, Symbol};
use sas_core::strategy::build::BuildFailure;
use sas_core::strategy::chain::EventKind;
use sas_core::strategy::proposal::RefusalCode;
use sas_core::strategy::sizing::SizingLimit;
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
use sas_core::strategy::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn chain(s: &str, spot: f64) -> OptionChain {
    synthetic_chain(&SyntheticChainSpec::liquid(sym(s), spot, now()))
}

fn candidate(s: &str, spot: f64, regime: RegimeInputs) -> UnderlyingCandidate {
    UnderlyingCandidate {
        symbol: sym(s),
        chain: chain(s, spot),
        regime,
        score: None,
        events: None,
    }
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

fn rich_up() -> RegimeInputs {
    regime(78.0, 6.0, 0.45)
}

fn inputs(ranked: Vec<UnderlyingCandidate>) -> GenerationInputs {
    GenerationInputs {
        trade_date: today(),
        expires_at: Utc.with_ymd_and_hms(2026, 11, 20, 21, 0, 0).unwrap(),
        net_liquidation: 100_000.0,
        ranked,
        open_positions: vec![],
        pending_proposals: vec![],
        proposals_today: vec![],
    }
}

fn one(c: UnderlyingCandidate) -> Proposal {
    let (p, s) = generate_proposals(&inputs(vec![c]), &StrategyConfig::default(), now());
    assert!(s.is_empty(), "skipped: {s:?}");
    assert_eq!(p.len(), 1);
    p.into_iter().next().unwrap()
}

fn existing(s: &str, max_loss: f64) -> ExistingTrade {
    ExistingTrade {
        symbol: sym(s),
        idempotency_key: None,
        max_loss,
    }
}

const SYMBOLS: [&str; 8] = ["SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "META"];

#[test]
fn bull_put_spread_in_an_uptrend_with_rich_vol() {
    let cfg = StrategyConfig::default();
    let p = one(candidate("SPY", 150.0, rich_up()));
    assert_eq!(p.strategy, StrategyKind::BullPutCreditSpread);
    assert_eq!(p.legs.len(), 2);
    let (short, long) = (&p.legs[0], &p.legs[1]);
    assert_eq!(short.action, LegAction::Sell);
    assert_eq!(long.action, LegAction::Buy);
    assert!(short.right == OptionRight::Put && long.right == OptionRight::Put);
    let d = short.quote.delta.unwrap().abs();
    assert!((0.20..=0.30).contains(&d), "short delta {d}");
    // Two listed strikes ($2.50 apart) lower.
    assert!((short.strike - long.strike - 5.0).abs() < 1e-9);
    assert!(short.dte >= 30 && short.dte <= 45);
    assert_eq!(short.expiry, long.expiry);
    let m = &p.metrics;
    let credit = -m.net_price_mid;
    assert!(credit > 0.15 * 5.0);
    assert!((m.max_profit.unwrap() - credit * 100.0).abs() < 1e-9);
    assert!((m.max_loss - (5.0 - credit) * 100.0).abs() < 1e-9);
    assert!((m.breakevens[0] - (short.strike - credit)).abs() < 1e-9);
    assert!(m.probability_of_profit > 0.5 && m.probability_of_profit < 0.95);
    // Sizing: floor(2% of 100k / natural max loss).
    let want = (2_000.0 / m.max_loss_natural).floor() as u32;
    assert_eq!(p.sizing.contracts, want);
    assert!(p.sizing.total_max_loss <= 2_000.0);
    assert_eq!(p.sizing.limited_by, SizingLimit::RiskPerTrade);
    // Exits: 50% of max profit, 2x credit stop, 21 DTE.
    assert!((p.exits.take_profit.pnl - 0.5 * credit * 100.0).abs() < 1e-9);
    assert!((p.exits.stop_loss.pnl + 2.0 * credit * 100.0).abs() < 1e-9);
    assert!((p.exits.take_profit.mark_value - (-credit * 0.5)).abs() < 1e-9);
    assert_eq!(
        p.exits.time_exit_date,
        short.expiry.checked_sub_days(Days::new(21)).unwrap()
    );
    assert_eq!(p.limit_price, m.net_price_mid);
    assert!((p.slippage_band - (0.1 * credit).max(cfg.min_slippage_band)).abs() < 1e-12);
    assert_eq!(p.rank, 1);
    assert_eq!(p.expires_at, inputs(vec![]).expires_at);
}

#[test]
fn rationale_explains_the_choice_in_plain_words() {
    let p = one(candidate("SPY", 150.0, rich_up()));
    let r = &p.rationale;
    let short = &p.legs[0];
    let expected_head = format!(
        "IV rank 78 and IV 6.0 points over 20-day RV favour selling premium; uptrend (trend +0.45) → bull put spread: sell {} put ({:.2} delta) / buy {} put, {} DTE ({})",
        short.strike, short.quote.delta.unwrap().abs(), p.legs[1].strike, short.dte, short.expiry
    );
    assert!(r.starts_with(&expected_head), "{r}");
    assert!(
        r.contains(&format!(
            "PoP {:.0}%",
            p.metrics.probability_of_profit * 100.0
        )),
        "{r}"
    );
    assert!(
        r.contains(&format!("{} contracts risking", p.sizing.contracts)),
        "{r}"
    );
    assert!(r.contains("(per-trade risk limit)"), "{r}");
    assert!(
        r.contains("factors: IV rank 78, IV-RV +6.0, skew +3.0, term slope +1.0, trend +0.45"),
        "{r}"
    );
}

#[test]
fn rationale_uses_the_score_breakdown_when_given() {
    use sas_core::score::{FactorScore, OpportunityScore};
    let f = |name: &str, c: f64| FactorScore {
        name: name.into(),
        label: name.into(),
        raw: Some(1.0),
        normalized: Some(50.0),
        weight: 1.0,
        contribution: c,
    };
    let mut c = candidate("SPY", 150.0, rich_up());
    c.score = Some(OpportunityScore {
        symbol: sym("SPY"),
        score: 81.4,
        coverage: 1.0,
        factors: vec![
            f("volume", 12.0),
            f("iv_rank", 27.0),
            f("momentum", 5.0),
            f("realized_vol", 20.0),
        ],
    });
    let p = one(c);
    assert!(
        p.rationale
            .ends_with("score 81/100 (iv_rank +27.0, realized_vol +20.0, volume +12.0)."),
        "{}",
        p.rationale
    );
    assert_eq!(p.score.as_ref().unwrap().score, 81.4);
}

fn kind_for(r: RegimeInputs) -> (StrategyKind, Proposal) {
    let p = one(candidate("QQQ", 420.0, r));
    (p.strategy, p)
}

#[test]
fn every_regime_builds_its_strategy_from_a_liquid_chain() {
    let mut calendar = regime(20.0, -1.0, 0.05);
    calendar.term_slope = Some(0.0);
    let mut put_calendar = calendar;
    put_calendar.trend = Some(-0.05);
    let cases = [
        (regime(70.0, 3.0, 0.0), StrategyKind::IronCondor),
        (regime(70.0, 3.0, -0.5), StrategyKind::BearCallCreditSpread),
        (regime(15.0, 0.0, 0.8), StrategyKind::LongCall),
        (regime(15.0, 0.0, -0.8), StrategyKind::LongPut),
        (regime(25.0, 0.0, 0.4), StrategyKind::BullCallDebitSpread),
        (regime(40.0, 1.0, -0.4), StrategyKind::BearPutDebitSpread),
        (calendar, StrategyKind::CallCalendar),
        (put_calendar, StrategyKind::PutCalendar),
    ];
    for (r, want) in cases {
        let (got, p) = kind_for(r);
        assert_eq!(got, want);
        assert_eq!(p.legs.len(), want.leg_count());
        assert!(p.metrics.max_loss > 0.0);
        assert!(p.sizing.total_max_loss <= 2_000.0 + 1e-9);
        match want {
            StrategyKind::IronCondor => {
                let k: Vec<f64> = p.legs.iter().map(|l| l.strike).collect();
                assert!(k.windows(2).all(|w| w[0] < w[1]), "{k:?}");
                assert_eq!(p.metrics.breakevens.len(), 2);
                for l in p.legs.iter().filter(|l| l.action == LegAction::Sell) {
                    let d = l.quote.delta.unwrap().abs();
                    assert!((0.2..=0.3).contains(&d));
                }
            }
            StrategyKind::LongCall | StrategyKind::LongPut => {
                let d = p.legs[0].quote.delta.unwrap().abs();
                assert!((0.35..=0.65).contains(&d));
                assert!(p.metrics.net_price_mid > 0.0);
                if want == StrategyKind::LongCall {
                    assert_eq!(p.metrics.max_profit, None);
                    assert!(p.rationale.contains("unlimited upside"));
                    // 100% of the debit.
                    assert!(
                        (p.exits.take_profit.pnl - p.metrics.net_price_mid * 100.0).abs() < 1e-9
                    );
                }
                assert!(
                    (p.exits.stop_loss.pnl + 0.5 * p.metrics.net_price_mid * 100.0).abs() < 1e-9
                );
            }
            StrategyKind::CallCalendar | StrategyKind::PutCalendar => {
                let (f, b) = (&p.legs[0], &p.legs[1]);
                assert_eq!(f.action, LegAction::Sell);
                assert_eq!(b.action, LegAction::Buy);
                assert_eq!(f.strike, b.strike);
                assert!(b.dte >= f.dte + 21 && b.dte <= f.dte + 49);
                assert!((21..=35).contains(&f.dte));
                assert!(p.rationale.contains("estimated at the front expiry"));
                assert_eq!(p.exits.time_exit_dte, 7);
            }
            StrategyKind::BearCallCreditSpread => {
                assert!(p.metrics.net_price_mid < 0.0, "credit spread");
                assert!(p.legs[0].strike < p.legs[1].strike);
            }
            _ => {
                assert!(p.metrics.net_price_mid > 0.0, "debit spread");
                assert!(p.metrics.max_profit.is_some());
            }
        }
    }
}

#[test]
fn daily_limit_counts_proposals_already_made_today() {
    let ranked: Vec<_> = SYMBOLS
        .iter()
        .map(|s| candidate(s, 150.0, rich_up()))
        .collect();
    let mut inp = inputs(ranked);
    inp.proposals_today = vec![existing("TSLA", 0.0), existing("GOOGL", 0.0)];
    let cfg = StrategyConfig {
        max_open_positions: 10,
        ..StrategyConfig::default()
    };
    let (p, s) = generate_proposals(&inp, &cfg, now());
    assert_eq!(p.len(), 3);
    let got: Vec<&str> = p.iter().map(|p| p.symbol.as_str()).collect();
    assert_eq!(got, ["SPY", "QQQ", "IWM"], "rank order kept");
    assert_eq!(p.iter().map(|p| p.rank).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(s.len(), 5);
    assert!(s
        .iter()
        .all(|s| matches!(s.reason, SkipReason::DailyLimitReached { made: 5, max: 5 })));
}

#[test]
fn open_positions_limit_counts_open_pending_and_new() {
    let ranked: Vec<_> = SYMBOLS
        .iter()
        .map(|s| candidate(s, 150.0, rich_up()))
        .collect();
    let mut inp = inputs(ranked);
    inp.open_positions = vec![existing("TSLA", 500.0), existing("GOOGL", 500.0)];
    inp.pending_proposals = vec![existing("NFLX", 500.0)];
    let (p, s) = generate_proposals(&inp, &StrategyConfig::default(), now());
    assert_eq!(p.len(), 2);
    assert!(s
        .iter()
        .all(|s| matches!(s.reason, SkipReason::MaxOpenPositions { open: 5, max: 5 })));
}

#[test]
fn one_trade_per_symbol_and_one_proposal_per_symbol_per_day() {
    let ranked = vec![
        candidate("SPY", 150.0, rich_up()),
        candidate("QQQ", 150.0, rich_up()),
        candidate("IWM", 150.0, rich_up()),
        candidate("SPY", 150.0, rich_up()),
    ];
    let mut inp = inputs(ranked);
    inp.open_positions = vec![existing("SPY", 300.0)];
    inp.proposals_today = vec![existing("QQQ", 0.0)];
    let (p, s) = generate_proposals(&inp, &StrategyConfig::default(), now());
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].symbol.as_str(), "IWM");
    let reasons: Vec<&SkipReason> = s.iter().map(|s| &s.reason).collect();
    assert!(matches!(
        reasons[0],
        SkipReason::SymbolAlreadyOpen { open: 1, max: 1 }
    ));
    assert!(matches!(reasons[1], SkipReason::AlreadyProposedToday));
    assert!(matches!(reasons[2], SkipReason::DuplicateInRanking));
    assert_eq!(
        s[0].message,
        "1 open or pending trade(s) on this symbol (max 1)"
    );
}

#[test]
fn idempotency_key_is_deterministic_and_blocks_duplicates() {
    let c = candidate("SPY", 150.0, rich_up());
    let a = one(c.clone());
    let b = one(c.clone());
    assert_eq!(a.idempotency_key, b.idempotency_key);
    assert!(a
        .idempotency_key
        .starts_with("2026-11-20-SPY-bull_put_credit_spread-"));
    assert_eq!(
        a.idempotency_key,
        idempotency_key(today(), &a.symbol, a.strategy, &a.legs)
    );
    let next_day = idempotency_key(today().succ_opt().unwrap(), &a.symbol, a.strategy, &a.legs);
    assert_ne!(a.idempotency_key, next_day);
    let mut moved = a.legs.clone();
    moved[1].strike -= 2.5;
    assert_ne!(
        a.idempotency_key,
        idempotency_key(today(), &a.symbol, a.strategy, &moved)
    );
    // Same trade pending: refused as a duplicate (symbol limit raised so the
    // key check is what stops it).
    let mut inp = inputs(vec![c]);
    inp.pending_proposals = vec![ExistingTrade {
        symbol: sym("SPY"),
        idempotency_key: Some(a.idempotency_key.clone()),
        max_loss: a.sizing.total_max_loss,
    }];
    let cfg = StrategyConfig {
        max_open_per_symbol: 2,
        ..StrategyConfig::default()
    };
    let (p, s) = generate_proposals(&inp, &cfg, now());
    assert!(p.is_empty());
    assert_eq!(
        s[0].reason,
        SkipReason::DuplicateProposal {
            idempotency_key: a.idempotency_key.clone()
        }
    );
}

#[test]
fn known_earnings_inside_the_trade_skips_it() {
    let mut c = candidate("AAPL", 150.0, rich_up());
    let expiry42 = today().checked_add_days(Days::new(42)).unwrap();
    c.events = Some(EventCalendar {
        earnings: vec![today().checked_add_days(Days::new(10)).unwrap()],
        ex_dividend: vec![],
    });
    let (p, s) = generate_proposals(&inputs(vec![c.clone()]), &StrategyConfig::default(), now());
    assert!(p.is_empty());
    match &s[0].reason {
        SkipReason::BuildFailed {
            failure: BuildFailure::EventInsideTrade { event, .. },
            ..
        } => assert_eq!(*event, EventKind::Earnings),
        other => panic!("unexpected {other:?}"),
    }
    assert!(s[0].message.contains("earnings"), "{}", s[0].message);
    // An event after the expiry does not matter.
    c.events = Some(EventCalendar {
        earnings: vec![expiry42.succ_opt().unwrap()],
        ex_dividend: vec![],
    });
    let (p, _) = generate_proposals(&inputs(vec![c]), &StrategyConfig::default(), now());
    assert_eq!(p.len(), 1);
}

#[test]
fn illiquid_chain_is_skipped_with_the_reason() {
    let mut spec = SyntheticChainSpec::liquid(sym("IWM"), 150.0, now());
    spec.open_interest = 20;
    let c = UnderlyingCandidate {
        symbol: sym("IWM"),
        chain: synthetic_chain(&spec),
        regime: rich_up(),
        score: None,
        events: None,
    };
    let (p, s) = generate_proposals(&inputs(vec![c]), &StrategyConfig::default(), now());
    assert!(p.is_empty());
    assert!(
        s[0].message.contains("low open interest"),
        "{}",
        s[0].message
    );
    // Wide markets too.
    let mut spec = SyntheticChainSpec::liquid(sym("IWM"), 150.0, now());
    spec.spread_fraction = 0.4;
    let c = UnderlyingCandidate {
        symbol: sym("IWM"),
        chain: synthetic_chain(&spec),
        regime: rich_up(),
        score: None,
        events: None,
    };
    let (_, s) = generate_proposals(&inputs(vec![c]), &StrategyConfig::default(), now());
    assert!(s[0].message.contains("wide bid-ask"), "{}", s[0].message);
}

#[test]
fn heat_cap_shrinks_or_refuses_the_size() {
    let mut inp = inputs(vec![candidate("SPY", 150.0, rich_up())]);
    // 20% of 100k = 20k cap; 19.5k committed leaves 500.
    inp.open_positions = vec![existing("TSLA", 19_500.0)];
    let (p, s) = generate_proposals(&inp, &StrategyConfig::default(), now());
    if let Some(p) = p.first() {
        assert_eq!(p.sizing.limited_by, SizingLimit::PortfolioHeat);
        assert!(p.sizing.total_max_loss <= 500.0);
    } else {
        assert!(matches!(
            s[0].reason,
            SkipReason::SizingRefused {
                refusal: SizingRefusal::BelowOneContract { .. },
                ..
            }
        ));
    }
    inp.open_positions = vec![existing("TSLA", 20_000.0)];
    let (p, s) = generate_proposals(&inp, &StrategyConfig::default(), now());
    assert!(p.is_empty());
    assert!(matches!(
        s[0].reason,
        SkipReason::SizingRefused {
            refusal: SizingRefusal::HeatExhausted { .. },
            ..
        }
    ));
    // A tiny account cannot afford one contract: no proposal, with reason.
    let mut small = inputs(vec![candidate("SPY", 150.0, rich_up())]);
    small.net_liquidation = 5_000.0;
    let (p, s) = generate_proposals(&small, &StrategyConfig::default(), now());
    assert!(p.is_empty());
    assert!(
        s[0].message.contains("more than the $100 budget"),
        "{}",
        s[0].message
    );
}

#[test]
fn no_edge_is_a_skip_with_the_rule() {
    let (p, s) = generate_proposals(
        &inputs(vec![candidate("SPY", 150.0, regime(40.0, 1.0, 0.0))]),
        &StrategyConfig::default(),
        now(),
    );
    assert!(p.is_empty());
    assert_eq!(
        s[0].reason,
        SkipReason::NoEdge {
            rule: sas_core::strategy::regime::SelectionRule::NoEdge
        }
    );
}

#[test]
fn proposal_json_has_the_stored_fields() {
    let p = one(candidate("SPY", 150.0, rich_up()));
    let v = serde_json::to_value(&p).unwrap();
    for key in [
        "idempotency_key",
        "symbol",
        "strategy",
        "legs",
        "regime_inputs",
        "regime",
        "score",
        "metrics",
        "sizing",
        "exits",
        "rationale",
        "expires_at",
        "limit_price",
        "slippage_band",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["strategy"], "bull_put_credit_spread");
    assert_eq!(v["legs"][0]["action"], "sell");
    assert_eq!(v["legs"][0]["right"], "P");
    assert!(v["metrics"]["payoff_curve"].as_array().unwrap().len() >= 61);
    let back: Proposal = serde_json::from_value(v).unwrap();
    assert_eq!(back.idempotency_key, p.idempotency_key);
    assert_eq!(back.legs.len(), 2);
}

fn fresh_from(p: &Proposal, chain: &OptionChain) -> FreshQuotes {
    let legs = p
        .legs
        .iter()
        .map(|l| {
            let e = chain
                .expiries
                .iter()
                .find(|e| e.expiry == l.expiry)
                .unwrap();
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
        spot: Some(chain.spot),
        legs,
        as_of: None,
    }
}

#[test]
fn reprice_accepts_an_unchanged_market_and_refuses_a_moved_one() {
    let cfg = StrategyConfig::default();
    let p = one(candidate("SPY", 150.0, rich_up()));
    let same = reprice(&p, &fresh_from(&p, &chain("SPY", 150.0)), &cfg).unwrap();
    assert_eq!(same.contracts, p.sizing.contracts);
    assert!(same.price_move.abs() < 1e-12);
    assert_eq!(same.limit_price, p.limit_price);

    // Underlying drops 3%: the short put is now ~0.38 delta, outside the
    // 0.20-0.30 band it was chosen in.
    let moved = chain("SPY", 145.5);
    let r = reprice(&p, &fresh_from(&p, &moved), &cfg).unwrap_err();
    match r.reason {
        RefusalCode::DeltaOutOfBand {
            leg,
            delta,
            min,
            max,
        } => {
            assert_eq!(leg, 0);
            assert!(delta.unwrap() > max && min == 0.20);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        r.message.contains("left the 0.20-0.30 band"),
        "{}",
        r.message
    );

    // Same deltas, but the short put's market 30 cents richer: the net
    // price moved beyond the band.
    let mut richer = fresh_from(&p, &chain("SPY", 150.0));
    let q = &mut richer.legs[0].quote;
    q.bid = Some(q.bid.unwrap() + 0.3);
    q.ask = Some(q.ask.unwrap() + 0.3);
    let r = reprice(&p, &richer, &cfg).unwrap_err();
    match r.reason {
        RefusalCode::PriceMovedBeyondBand {
            proposed,
            fresh,
            band,
        } => {
            assert_eq!(proposed, p.limit_price);
            assert!((fresh - (proposed - 0.3)).abs() < 1e-9);
            assert!((fresh - proposed).abs() > band);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(r.new_numbers.is_some());
    assert!(r.message.contains("beyond the"));

    // A missing leg quote.
    let mut partial = fresh_from(&p, &chain("SPY", 150.0));
    partial.legs.pop();
    let r = reprice(&p, &partial, &cfg).unwrap_err();
    assert_eq!(r.reason, RefusalCode::MissingLegQuote { leg: 1 });

    // A leg whose market became wide.
    let mut wide = fresh_from(&p, &chain("SPY", 150.0));
    let q = &mut wide.legs[0].quote;
    q.ask = Some(q.ask.unwrap() + 0.8);
    let r = reprice(&p, &wide, &cfg).unwrap_err();
    assert!(matches!(
        r.reason,
        RefusalCode::IlliquidLeg { leg: 0, .. } | RefusalCode::PriceMovedBeyondBand { .. }
    ));

    // Crossed quote.
    let mut crossed = fresh_from(&p, &chain("SPY", 150.0));
    crossed.legs[1].quote.bid = Some(crossed.legs[1].quote.ask.unwrap() + 0.1);
    let r = reprice(&p, &crossed, &cfg).unwrap_err();
    assert_eq!(r.reason, RefusalCode::NoTwoSidedQuote { leg: 1 });
}

#[test]
fn reprice_never_increases_the_size() {
    let cfg = StrategyConfig::default();
    let p = one(candidate("SPY", 150.0, rich_up()));
    // A small favourable move inside the band: more credit, smaller max
    // loss, yet the size stays at the proposal's.
    let mut fresh = fresh_from(&p, &chain("SPY", 150.0));
    let short = &mut fresh.legs[0].quote;
    short.bid = Some(short.bid.unwrap() + 0.04);
    short.ask = Some(short.ask.unwrap() + 0.04);
    let r = reprice(&p, &fresh, &cfg).unwrap();
    assert!(r.metrics.max_loss < p.metrics.max_loss);
    assert_eq!(r.contracts, p.sizing.contracts);
    assert!(r.total_max_loss <= p.sizing.risk_budget.min(p.sizing.heat_room));
    // An adverse move inside the band may cut the size, never raise it.
    let mut fresh = fresh_from(&p, &chain("SPY", 150.0));
    let short = &mut fresh.legs[0].quote;
    short.bid = Some(short.bid.unwrap() - 0.05);
    short.ask = Some(short.ask.unwrap() - 0.05);
    match reprice(&p, &fresh, &cfg) {
        Ok(r) => {
            assert!(r.contracts <= p.sizing.contracts);
            assert!(r.total_max_loss <= p.sizing.risk_budget.min(p.sizing.heat_room));
        }
        Err(e) => assert!(matches!(
            e.reason,
            RefusalCode::PriceMovedBeyondBand { .. } | RefusalCode::SizeNoLongerFits { .. }
        )),
    }
}

#[test]
fn missing_source_greeks_are_replaced_by_implied_vol_from_the_mid() {
    let mut c = candidate("SPY", 150.0, rich_up());
    for e in &mut c.chain.expiries {
        for q in &mut e.contracts {
            q.greeks = Default::default();
        }
    }
    let p = one(c);
    assert_eq!(p.strategy, StrategyKind::BullPutCreditSpread);
    for l in &p.legs {
        let iv = l.quote.iv.unwrap();
        // Synthetic IV is 0.28 ATM plus skew; mids are rounded to cents.
        assert!((0.25..0.36).contains(&iv), "iv {iv}");
        assert!(l.quote.delta.unwrap() < 0.0);
    }
    let d = p.legs[0].quote.delta.unwrap().abs();
    assert!((0.20..=0.30).contains(&d), "{d}");
}

#[test]
fn falls_back_to_the_debit_spread_when_the_long_option_does_not_fit() {
    // Strong uptrend, very cheap vol: long call first. A $15k account has a
    // $300 budget: too little for a ~$5 call, enough for the debit spread.
    let mut inp = inputs(vec![candidate("SPY", 150.0, regime(15.0, 0.0, 0.8))]);
    inp.net_liquidation = 15_000.0;
    let (p, s) = generate_proposals(&inp, &StrategyConfig::default(), now());
    assert!(s.is_empty(), "{s:?}");
    let p = &p[0];
    assert_eq!(p.strategy, StrategyKind::BullCallDebitSpread);
    assert_eq!(p.regime.primary(), Some(StrategyKind::LongCall));
    assert!(
        p.rationale.contains("→ bull call debit spread: buy "),
        "{}",
        p.rationale
    );
    assert!(
        p.rationale
            .contains("(instead of long call, which could not be built or sized)"),
        "{}",
        p.rationale
    );
    assert!(p.sizing.total_max_loss <= 300.0);
}

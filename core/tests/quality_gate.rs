//! The data-quality gate (`sas_core::quality`): bad contracts never pass,
//! drops are exactly accounted, non-live symbols are held, and put-call
//! parity separates a consistent chain from a perturbed one.
#![allow(clippy::unwrap_used)] // fixture set-up: a failure here is a broken test, not input

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use sas_core::analytics::chain::time_to_expiry_years;
use sas_core::analytics::iv::{implied_vol, IvInput};
use sas_core::market::{
    ChainExpiry, DataType, OptionChain, OptionQuote, OptionRight, Quote, SourceGreeks, Symbol,
};
use sas_core::quality::{
    check_quote, check_short_leg, feed_holds, gate_chain, DropReason, ExerciseStyle, FeedState,
    HoldReason, QualityConfig, SymbolVerdict,
};
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};

const RATE: f64 = 0.04;
const SPOT: f64 = 100.0;

fn as_of() -> DateTime<Utc> {
    // Friday 2026-11-20 15:00 UTC (10:00 New York)
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

fn spy() -> Symbol {
    Symbol::parse("SPY").unwrap()
}

fn underlying(data_type: DataType, at: DateTime<Utc>) -> Quote {
    Quote {
        symbol: spy(),
        bid: 99.99,
        ask: 100.01,
        last: 100.0,
        volume: 1_000_000,
        timestamp: at,
        data_type,
    }
}

/// A BSM-consistent chain (synthetic, European prices) marked live.
fn consistent_chain(spread_fraction: f64) -> OptionChain {
    let mut spec = SyntheticChainSpec::liquid(spy(), SPOT, as_of());
    spec.rate = RATE;
    spec.spread_fraction = spread_fraction;
    let mut chain = synthetic_chain(&spec);
    chain.data_type = DataType::Live;
    chain
}

fn count_contracts(chain: &OptionChain) -> usize {
    chain.expiries.iter().map(|e| e.contracts.len()).sum()
}

fn find_mut(
    chain: &mut OptionChain,
    expiry: usize,
    strike: f64,
    right: OptionRight,
) -> &mut OptionQuote {
    chain.expiries[expiry]
        .contracts
        .iter_mut()
        .find(|q| q.strike == strike && q.right == right)
        .unwrap()
}

#[test]
fn consistent_chain_passes_parity_and_is_clear() {
    let chain = consistent_chain(0.04);
    let input = count_contracts(&chain);
    let r = gate_chain(
        &chain,
        Some(&underlying(DataType::Live, as_of())),
        RATE,
        as_of(),
        &QualityConfig::default(),
    );
    assert_eq!(
        r.dropped.get(DropReason::ParityViolation),
        0,
        "{:?}",
        r.dropped
    );
    // The only drops a clean synthetic chain has are far wings whose price
    // rounds to a zero bid.
    for (reason, _) in r.dropped.iter() {
        assert_eq!(reason, DropReason::ZeroBid, "{:?}", r.dropped);
    }
    assert_eq!(r.kept_contracts + r.dropped.total(), input);
    assert!(r.kept_contracts > input / 2);
    assert_eq!(r.verdict, SymbolVerdict::Clear);
    // Also under a strict European band (the synthetic prices are European).
    let cfg = QualityConfig {
        exercise_style: ExerciseStyle::European,
        ..QualityConfig::default()
    };
    let r = gate_chain(&chain, None, RATE, as_of(), &cfg);
    assert_eq!(
        r.dropped.get(DropReason::ParityViolation),
        0,
        "{:?}",
        r.dropped
    );
}

#[test]
fn perturbed_put_breaks_parity_and_both_sides_drop() {
    let mut chain = consistent_chain(0.04);
    let put = find_mut(&mut chain, 1, 100.0, OptionRight::Put);
    // +$3 on a ~$3 ATM put: C - P moves $3 off S - K·e^(-rT), far beyond
    // the combined spread (~$0.25) and the American band (~$0.3).
    put.bid = put.bid.map(|b| b + 3.0);
    put.ask = put.ask.map(|a| a + 3.0);
    let r = gate_chain(&chain, None, RATE, as_of(), &QualityConfig::default());
    assert_eq!(
        r.dropped.get(DropReason::ParityViolation),
        2,
        "{:?}",
        r.dropped
    );
    assert!(!r.chain.expiries[1]
        .contracts
        .iter()
        .any(|q| q.strike == 100.0));
    // The other strikes of that expiry still pass.
    assert!(r.chain.expiries[1].contracts.len() > 20);
}

#[test]
fn early_exercise_premium_passes_american_but_not_european() {
    // A deep in-the-money put ($10 ITM, 28 days) bid up by $0.25: inside the
    // American band [S - K, S - K·e^(-rT)] (width K(1-e^(-rT)) ≈ $0.34) but
    // $0.25 off the European value, beyond the combined spread (~$0.13 at
    // 1 % quoted width) plus the $0.05 slack.
    let mut chain = consistent_chain(0.01);
    let put = find_mut(&mut chain, 1, 110.0, OptionRight::Put);
    put.bid = put.bid.map(|b| b + 0.25);
    put.ask = put.ask.map(|a| a + 0.25);
    let american = gate_chain(&chain, None, RATE, as_of(), &QualityConfig::default());
    assert_eq!(american.dropped.get(DropReason::ParityViolation), 0);
    let cfg = QualityConfig {
        exercise_style: ExerciseStyle::European,
        ..QualityConfig::default()
    };
    let european = gate_chain(&chain, None, RATE, as_of(), &cfg);
    assert_eq!(european.dropped.get(DropReason::ParityViolation), 2);
}

#[test]
fn cheap_option_a_nickel_wide_is_kept_wide_one_dropped() {
    let mut chain = consistent_chain(0.04);
    chain.expiries.truncate(1);
    chain.expiries[0].contracts = vec![
        OptionQuote {
            strike: 120.0,
            right: OptionRight::Call,
            bid: Some(0.05),
            ask: Some(0.10),
            last: None,
            volume: None,
            open_interest: None,
            greeks: SourceGreeks {
                iv: Some(0.45),
                delta: Some(0.02),
                gamma: Some(0.004),
                theta: None,
                vega: Some(0.01),
            },
        },
        OptionQuote {
            strike: 95.0,
            right: OptionRight::Call,
            bid: Some(5.0),
            ask: Some(9.0),
            last: None,
            volume: None,
            open_interest: None,
            greeks: SourceGreeks::default(),
        },
    ];
    let r = gate_chain(&chain, None, RATE, as_of(), &QualityConfig::default());
    assert_eq!(r.kept_contracts, 1);
    assert_eq!(r.chain.expiries[0].contracts[0].strike, 120.0);
    assert_eq!(r.dropped.get(DropReason::WideSpread), 1);
}

#[test]
fn missing_underlying_and_stale_chain_drop_everything() {
    let mut chain = consistent_chain(0.04);
    let n = count_contracts(&chain);
    chain.spot = f64::NAN;
    let r = gate_chain(&chain, None, RATE, as_of(), &QualityConfig::default());
    assert_eq!(r.kept_contracts, 0);
    assert_eq!(r.dropped.get(DropReason::MissingUnderlying), n);
    assert!(r.verdict.reasons().contains(&HoldReason::MissingUnderlying));

    let chain = consistent_chain(0.04);
    let later = as_of() + Duration::seconds(301);
    let r = gate_chain(&chain, None, RATE, later, &QualityConfig::default());
    assert_eq!(r.dropped.get(DropReason::Stale), n);
    assert!(r
        .verdict
        .reasons()
        .contains(&HoldReason::Stale { age_secs: 301 }));
    assert!(!r.verdict.exits_may_act());
}

#[test]
fn underlying_quote_checks() {
    let cfg = QualityConfig::default();
    let now = as_of();
    let ok = underlying(DataType::Live, now);
    assert_eq!(check_quote(&ok, now, &cfg), Ok(()));
    let mut q = ok.clone();
    q.bid = 100.02;
    assert_eq!(check_quote(&q, now, &cfg), Err(DropReason::Crossed));
    q.bid = 100.01;
    assert_eq!(check_quote(&q, now, &cfg), Err(DropReason::Locked));
    q.bid = 0.0;
    assert_eq!(
        check_quote(&q, now, &cfg),
        Err(DropReason::NonPositivePrice)
    );
    q.bid = 97.0; // $3 wide on $98.5 > 1 %
    assert_eq!(check_quote(&q, now, &cfg), Err(DropReason::WideSpread));
    let stale = underlying(DataType::Live, now - Duration::seconds(600));
    assert_eq!(check_quote(&stale, now, &cfg), Err(DropReason::Stale));
    let future = underlying(DataType::Live, now + Duration::seconds(60));
    assert_eq!(
        check_quote(&future, now, &cfg),
        Err(DropReason::FutureTimestamp)
    );
    // A bad underlying quote holds an otherwise clean chain.
    let r = gate_chain(&consistent_chain(0.04), Some(&stale), RATE, now, &cfg);
    assert!(!r.verdict.may_propose());
}

#[test]
fn config_defaults_validate_and_every_error_is_listed() {
    assert_eq!(QualityConfig::default().validate(), Ok(()));
    let bad = QualityConfig {
        max_spread_fraction: -1.0,
        min_iv: 6.0,
        max_iv: f64::NAN,
        max_age_secs: 0,
        max_drop_fraction: 2.0,
        ..QualityConfig::default()
    };
    let errs = bad.validate().unwrap_err();
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    for field in [
        "max_spread_fraction",
        "max_iv",
        "max_age_secs",
        "max_drop_fraction",
    ] {
        assert!(
            text.iter().any(|t| t.contains(field)),
            "{field} missing in {text:?}"
        );
    }
    assert_eq!(errs.len(), 4, "{text:?}");
    let inverted = QualityConfig {
        min_iv: 2.0,
        max_iv: 1.0,
        ..QualityConfig::default()
    };
    assert_eq!(inverted.validate().unwrap_err().len(), 1);
}

#[test]
fn verdict_and_counts_serialize_as_codes() {
    let mut chain = consistent_chain(0.04);
    chain.data_type = DataType::Delayed;
    let r = gate_chain(&chain, None, RATE, as_of(), &QualityConfig::default());
    let v = serde_json::to_value(&r.verdict).unwrap();
    assert_eq!(v["verdict"], "hold");
    assert_eq!(v["reasons"][0]["kind"], "not_live");
    assert_eq!(v["reasons"][0]["data_type"], "delayed");
    let d = serde_json::to_value(&r.dropped).unwrap();
    assert!(d.get("zero_bid").is_some(), "{d}");
}

// ---- property tests -------------------------------------------------------

/// One generated contract: each field is good or broken in one of the ways
/// the gate must catch.
fn arb_quote() -> impl Strategy<Value = OptionQuote> {
    let price = prop_oneof![
        12 => (0.05f64..20.0).prop_map(Some),
        1 => Just(Some(0.0)),
        1 => (-5.0f64..0.0).prop_map(Some),
        1 => Just(Some(f64::NAN)),
        1 => Just(None),
    ];
    let width = prop_oneof![
        12 => 0.01f64..0.5,
        1 => Just(0.0),       // locked
        1 => -1.0f64..-0.01,  // crossed
        1 => 1.0f64..10.0,    // wide
    ];
    let iv = prop_oneof![
        10 => (0.05f64..2.0).prop_map(Some),
        2 => Just(None),
        1 => (-1.0f64..0.01).prop_map(Some),
        1 => (5.0f64..50.0).prop_map(Some),
        1 => Just(Some(f64::INFINITY)),
    ];
    // (kind, magnitude): 0-7 sign-consistent |delta| <= 1, 8 none, 9 wrong
    // sign, 10 above 1, 11 NaN.
    let delta = (0u8..12, 0.0f64..=1.0);
    let greek = prop_oneof![
        10 => (0.0f64..0.5).prop_map(Some),
        2 => Just(None),
        1 => (-0.5f64..-1e-9).prop_map(Some),
    ];
    (
        prop_oneof![Just(OptionRight::Call), Just(OptionRight::Put)],
        prop_oneof![12 => (60u32..=140).prop_map(f64::from), 1 => Just(0.0), 1 => Just(f64::NAN)],
        price,
        width,
        iv,
        delta,
        greek.clone(),
        greek,
    )
        .prop_map(
            |(right, strike, bid, width, iv, (kind, mag), gamma, vega)| {
                let sign = match right {
                    OptionRight::Call => 1.0,
                    OptionRight::Put => -1.0,
                };
                let delta = match kind {
                    0..=7 => Some(sign * mag),
                    8 => None,
                    9 => Some(-sign * mag.max(0.01)),
                    10 => Some(sign * (1.0001 + mag)),
                    _ => Some(f64::NAN),
                };
                OptionQuote {
                    strike,
                    right,
                    bid,
                    ask: bid.map(|b| b + width),
                    last: None,
                    volume: None,
                    open_interest: None,
                    greeks: SourceGreeks {
                        iv,
                        delta,
                        gamma,
                        theta: None,
                        vega,
                    },
                }
            },
        )
}

fn arb_data_type() -> impl Strategy<Value = DataType> {
    prop_oneof![
        Just(DataType::Live),
        Just(DataType::Delayed),
        Just(DataType::Frozen),
        Just(DataType::DelayedFrozen),
        Just(DataType::Simulated),
    ]
}

fn arb_chain() -> impl Strategy<Value = OptionChain> {
    (
        prop::collection::vec(
            (
                prop_oneof![1 => Just(-1i64), 5 => 1i64..90],
                prop::collection::vec(arb_quote(), 0..24),
            ),
            0..4,
        ),
        prop_oneof![8 => Just(SPOT), 1 => Just(0.0), 1 => Just(f64::NAN)],
        arb_data_type(),
        // chain age in seconds relative to now (negative = from the future)
        prop_oneof![8 => 0i64..300, 1 => 301i64..100_000, 1 => -1000i64..-6],
    )
        .prop_map(|(expiries, spot, data_type, age)| OptionChain {
            symbol: spy(),
            spot,
            as_of: as_of() - Duration::seconds(age),
            data_type,
            dividend_yield: Some(0.01),
            expiries: expiries
                .into_iter()
                .map(|(days, contracts)| ChainExpiry {
                    expiry: as_of().date_naive() + Duration::days(days),
                    dte: u32::try_from(days.max(0)).unwrap(),
                    contracts,
                })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Nothing crossed, locked, non-positive, zero-bid, wide, stale, from the
    /// future, without an underlying, with an out-of-range IV or greek, or
    /// failing parity survives; kept + dropped = input and the counts by
    /// reason sum to the dropped.
    #[test]
    fn gate_never_passes_a_bad_contract(chain in arb_chain(), check_parity in any::<bool>()) {
        let cfg = QualityConfig { check_parity, ..QualityConfig::default() };
        let now = as_of();
        let r = gate_chain(&chain, None, RATE, now, &cfg);

        let input: usize = chain.expiries.iter().map(|e| e.contracts.len()).sum();
        let kept: usize = r.chain.expiries.iter().map(|e| e.contracts.len()).sum();
        prop_assert_eq!(r.input_contracts, input);
        prop_assert_eq!(r.kept_contracts, kept);
        prop_assert_eq!(kept + r.dropped.total(), input);
        prop_assert_eq!(r.dropped.iter().map(|(_, n)| n).sum::<usize>(), r.dropped.total());
        prop_assert_eq!(r.dropped.get(DropReason::ZeroBidShort), 0);

        let age = (now - chain.as_of).num_seconds();
        if age > cfg.max_age_secs || -age > cfg.max_future_secs || chain.spot.is_nan() || chain.spot <= 0.0 {
            prop_assert_eq!(kept, 0);
            prop_assert!(!r.verdict.may_propose());
        }
        for e in &r.chain.expiries {
            let t = time_to_expiry_years(chain.as_of, e.expiry);
            for q in &e.contracts {
                prop_assert!(t > 0.0, "expired contract kept");
                let (bid, ask) = (q.bid.unwrap(), q.ask.unwrap());
                prop_assert!(bid.is_finite() && ask.is_finite());
                prop_assert!(bid > 0.0 && bid < ask, "bid {} ask {}", bid, ask);
                prop_assert!(check_short_leg(q).is_ok());
                let mid = 0.5 * (bid + ask);
                prop_assert!(ask - bid <= (cfg.max_spread_fraction * mid).max(cfg.min_spread_allowance));
                let iv = q.greeks.iv.unwrap_or_else(|| implied_vol(&IvInput {
                    price: mid, spot: chain.spot, strike: q.strike, t_years: t,
                    rate: RATE, div_yield: 0.01, right: q.right,
                }).unwrap());
                prop_assert!(iv > 0.01 && iv < 5.0, "iv {}", iv);
                if let Some(d) = q.greeks.delta {
                    prop_assert!(d.abs() <= 1.0);
                    let sign_ok = match q.right { OptionRight::Call => d >= 0.0, OptionRight::Put => d <= 0.0 };
                    prop_assert!(sign_ok, "delta {} on {:?}", d, q.right);
                }
                prop_assert!(q.greeks.gamma.is_none_or(|g| g >= 0.0));
                prop_assert!(q.greeks.vega.is_none_or(|v| v >= 0.0));
            }
        }
    }

    /// With zero bids kept (buy side allowed), a zero-bid contract can still
    /// never be a short leg: `check_short_leg` refuses exactly the contracts
    /// without a positive bid.
    #[test]
    fn zero_bid_never_sold(chain in arb_chain()) {
        let cfg = QualityConfig { keep_zero_bid: true, ..QualityConfig::default() };
        let r = gate_chain(&chain, None, RATE, as_of(), &cfg);
        for q in r.chain.expiries.iter().flat_map(|e| &e.contracts) {
            let bid = q.bid.unwrap();
            prop_assert_eq!(check_short_leg(q).is_ok(), bid > 0.0);
            if bid == 0.0 {
                prop_assert_eq!(check_short_leg(q), Err(DropReason::ZeroBidShort));
            }
        }
    }

    /// A delayed or frozen chain or underlying quote never gets a verdict
    /// that allows proposals or exits, whatever the contracts look like.
    #[test]
    fn delayed_or_frozen_symbol_is_held(
        chain in arb_chain(),
        quote_type in prop::option::of(arb_data_type()),
        simulated_ok in any::<bool>(),
    ) {
        let cfg = QualityConfig { allow_simulated: simulated_ok, ..QualityConfig::default() };
        let quote = quote_type.map(|dt| underlying(dt, as_of()));
        let r = gate_chain(&chain, quote.as_ref(), RATE, as_of(), &cfg);
        let not_live = |dt: DataType| matches!(dt, DataType::Delayed | DataType::Frozen | DataType::DelayedFrozen)
            || (dt == DataType::Simulated && !simulated_ok);
        if not_live(chain.data_type) || quote_type.is_some_and(not_live) {
            prop_assert!(!r.verdict.may_propose());
            prop_assert!(!r.verdict.exits_may_act());
            let named = r.verdict.reasons().iter().any(|h| matches!(h, HoldReason::NotLive { .. }));
            prop_assert!(named, "{:?}", r.verdict);
        }
        if r.verdict.may_propose() {
            prop_assert!(r.kept_contracts > 0);
            prop_assert!(r.dropped.total() as f64 <= cfg.max_drop_fraction * r.input_contracts as f64);
        }
    }

    /// The state `/health` and the monitor show: never `live` for a delayed
    /// or frozen chain (so such a symbol proposes nothing and its exits
    /// wait); `delayed` when not-live data is the only problem; the monitor's
    /// symbol-level check (`feed_holds`) holds exactly the non-live, stale,
    /// future or spot-less chains, whatever its contracts.
    #[test]
    fn delayed_symbol_state_and_feed_holds(chain in arb_chain()) {
        let cfg = QualityConfig::default();
        let now = as_of();
        let r = gate_chain(&chain, None, RATE, now, &cfg);
        let state = r.verdict.feed_state();
        prop_assert_eq!(state == FeedState::Live, r.verdict.may_propose());
        let delayed = matches!(chain.data_type, DataType::Delayed | DataType::Frozen | DataType::DelayedFrozen);
        if delayed {
            prop_assert_ne!(state, FeedState::Live);
        }
        if state == FeedState::Delayed {
            prop_assert!(delayed);
        }
        let holds = feed_holds(&chain, now, &cfg);
        let age = (now - chain.as_of).num_seconds();
        let bad_feed = delayed
            || age > cfg.max_age_secs
            || -age > cfg.max_future_secs
            || !(chain.spot.is_finite() && chain.spot > 0.0);
        prop_assert_eq!(!holds.is_empty(), bad_feed, "{:?}", holds);
        if delayed {
            let named = holds.iter().any(|h| matches!(h, HoldReason::NotLive { .. }));
            prop_assert!(named);
        }
    }
}

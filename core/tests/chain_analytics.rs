//! Chain-level analytics on synthetic chains priced with known volatilities.
#![allow(clippy::unwrap_used)] // fixture set-up: a failure here is a broken test, not input

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use sas_core::analytics::bsm::{price, price_and_greeks, BsmInput};
use sas_core::analytics::chain::{
    analyze, expiry_close_utc, time_to_expiry_years, ChainHistory, SkipReason,
};
use sas_core::analytics::iv::IvFailure;
use sas_core::analytics::rows::{build_chain_rows, PACKED_CONTRACT_COLUMNS};
use sas_core::market::{
    ChainExpiry, DailyBar, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks, Symbol,
};

const RATE: f64 = 0.04;
const DIV: f64 = 0.01;
const SPOT: f64 = 100.0;

fn as_of() -> DateTime<Utc> {
    // Friday 2026-11-20 15:00 UTC (10:00 New York)
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

fn quote(strike: f64, right: OptionRight, bid: Option<f64>, ask: Option<f64>) -> OptionQuote {
    OptionQuote {
        strike,
        right,
        bid,
        ask,
        last: None,
        volume: Some(10),
        open_interest: Some(100),
        greeks: SourceGreeks::default(),
    }
}

/// An expiry whose contracts are priced with `vol_of(strike, forward)`; the
/// quote is mid ± 0.005 so the mid is the model price.
fn priced_expiry(days: i64, vol_of: &dyn Fn(f64, f64) -> f64) -> ChainExpiry {
    let expiry = as_of().date_naive() + Duration::days(days);
    let t = time_to_expiry_years(as_of(), expiry);
    let forward = SPOT * ((RATE - DIV) * t).exp();
    let mut contracts = Vec::new();
    for k in (60..=140).step_by(5) {
        let strike = f64::from(k);
        for right in [OptionRight::Put, OptionRight::Call] {
            let p = price(&BsmInput {
                spot: SPOT,
                strike,
                t_years: t,
                rate: RATE,
                div_yield: DIV,
                vol: vol_of(strike, forward),
                right,
            });
            contracts.push(quote(strike, right, Some(p - 0.005), Some(p + 0.005)));
        }
    }
    ChainExpiry {
        expiry,
        dte: u32::try_from(days).unwrap(),
        contracts,
    }
}

fn chain(expiries: Vec<ChainExpiry>) -> OptionChain {
    OptionChain {
        symbol: Symbol::parse("TEST").unwrap(),
        spot: SPOT,
        as_of: as_of(),
        data_type: DataType::Simulated,
        dividend_yield: Some(DIV),
        expiries,
    }
}

/// Drops contracts whose model price is too small to quote with the ±0.005
/// spread (bid would be <= 0): they are counted as `zero_price`.
fn quotable(c: &OptionQuote) -> bool {
    c.bid.is_some_and(|b| b > 0.0)
}

#[test]
fn implied_vols_recover_the_pricing_vol() {
    let e = priced_expiry(30, &|_, _| 0.35);
    let expected_valued = e.contracts.iter().filter(|c| quotable(c)).count();
    let (a, skips) = analyze(&chain(vec![e]), RATE, &ChainHistory::default());
    assert_eq!(a.contracts.len(), expected_valued);
    assert_eq!(
        skips.total() as usize + expected_valued,
        17 * 2,
        "every contract is either valued or counted"
    );
    for c in &a.contracts {
        assert!((c.iv - 0.35).abs() < 1e-9, "{c:?}");
    }
    // flat smile: ATM IV is the vol, skew is zero
    let ex = &a.expiries[0];
    assert!((ex.atm_iv.unwrap() - 0.35).abs() < 1e-9);
    assert!(ex.skew_25d.unwrap().abs() < 1e-9);
}

#[test]
fn atm_iv_30d_is_total_variance_interpolated() {
    let near = priced_expiry(16, &|_, _| 0.30);
    let far = priced_expiry(44, &|_, _| 0.20);
    let (a, _) = analyze(&chain(vec![near, far]), RATE, &ChainHistory::default());
    let (t0, t1) = (a.expiries[0].t_years, a.expiries[1].t_years);
    let target = 30.0 / 365.0;
    let w = 0.09 * t0 + (0.04 * t1 - 0.09 * t0) * (target - t0) / (t1 - t0);
    let expected = (w / target).sqrt();
    assert!(a.atm_iv_30d_interpolated);
    assert!(
        (a.atm_iv_30d.unwrap() - expected).abs() < 1e-9,
        "{:?} vs {expected}",
        a.atm_iv_30d
    );
    // term structure falls 10 points over 28 days
    let slope = a.term_slope_per_30d.unwrap();
    assert!((slope - (-0.10 / 28.0 * 30.0)).abs() < 1e-9, "{slope}");

    // only one expiry, beyond 30 days: carried flat
    let (b, _) = analyze(
        &chain(vec![priced_expiry(44, &|_, _| 0.20)]),
        RATE,
        &ChainHistory::default(),
    );
    assert!(!b.atm_iv_30d_interpolated);
    assert!((b.atm_iv_30d.unwrap() - 0.20).abs() < 1e-9);
}

#[test]
fn put_skew_is_positive_and_between_neighbours() {
    // OTM puts richer: vol rises as strikes fall below the forward.
    // (flat for strikes at and above 97, so both calls around +25Δ are flat)
    let smile = |k: f64, _f: f64| 0.20 + 0.5 * (97.0 / k).ln().max(0.0);
    let (a, _) = analyze(
        &chain(vec![priced_expiry(30, &smile)]),
        RATE,
        &ChainHistory::default(),
    );
    let ex = &a.expiries[0];
    let put = ex.put_iv_25d.unwrap();
    let call = ex.call_iv_25d.unwrap();
    assert!(
        (call - 0.20).abs() < 1e-9,
        "calls above 97 are flat: {call}"
    );
    assert!(put > 0.20 && ex.skew_25d.unwrap() > 0.0);
    // the interpolated put IV lies between the IVs of the puts around -25Δ
    let puts: Vec<_> = a
        .contracts
        .iter()
        .filter(|c| c.right == OptionRight::Put)
        .collect();
    let below = puts
        .iter()
        .filter(|c| c.greeks.delta <= -0.25)
        .max_by(|x, y| x.greeks.delta.total_cmp(&y.greeks.delta))
        .unwrap();
    let above = puts
        .iter()
        .filter(|c| c.greeks.delta > -0.25)
        .min_by(|x, y| x.greeks.delta.total_cmp(&y.greeks.delta))
        .unwrap();
    let (lo, hi) = (below.iv.min(above.iv), below.iv.max(above.iv));
    assert!(put >= lo && put <= hi, "{put} not in [{lo}, {hi}]");
    assert_eq!(a.skew_25d_30d, ex.skew_25d);
}

#[test]
fn bad_quotes_are_skipped_and_counted_by_reason() {
    let mut e = priced_expiry(30, &|_, _| 0.3);
    e.contracts.retain(quotable);
    let good = e.contracts.len();
    e.contracts.extend([
        quote(100.0, OptionRight::Call, None, Some(1.0)),
        quote(100.0, OptionRight::Call, Some(f64::NAN), Some(1.0)),
        quote(100.0, OptionRight::Call, Some(f64::INFINITY), Some(1.0)),
        quote(100.0, OptionRight::Call, Some(2.0), Some(1.0)),
        quote(100.0, OptionRight::Call, Some(0.0), Some(1.0)),
        quote(-5.0, OptionRight::Call, Some(1.0), Some(1.1)),
        quote(f64::NAN, OptionRight::Put, Some(1.0), Some(1.1)),
        // deep ITM call quoted below intrinsic
        quote(60.0, OptionRight::Call, Some(10.0), Some(10.2)),
        // put quoted above the strike
        quote(60.0, OptionRight::Put, Some(70.0), Some(71.0)),
    ]);
    let mut expired = priced_expiry(30, &|_, _| 0.3);
    expired.expiry = as_of().date_naive() - Duration::days(1);
    expired.contracts.retain(quotable);
    expired.contracts.truncate(3);
    let (a, skips) = analyze(&chain(vec![e, expired]), RATE, &ChainHistory::default());
    assert_eq!(a.contracts.len(), good);
    assert_eq!(skips.get(SkipReason::MissingQuote), 1);
    assert_eq!(skips.get(SkipReason::NonFiniteQuote), 2);
    assert_eq!(skips.get(SkipReason::CrossedQuote), 1);
    assert_eq!(skips.get(SkipReason::ZeroPrice), 1);
    assert_eq!(skips.get(SkipReason::InvalidStrike), 2);
    assert_eq!(skips.get(SkipReason::Iv(IvFailure::BelowIntrinsic)), 1);
    assert_eq!(skips.get(SkipReason::Iv(IvFailure::AboveUpperBound)), 1);
    assert_eq!(skips.get(SkipReason::Expired), 3);
    assert_eq!(skips.total(), 12);
    let json = serde_json::to_value(skips).unwrap();
    assert_eq!(json["crossed_quote"], 1);
    assert_eq!(json["iv_below_intrinsic"], 1);
    assert!(
        json.get("invalid_spot").is_none(),
        "zero counts are omitted"
    );
    // no aggregate was poisoned
    assert!(a.atm_iv_30d.unwrap().is_finite() && a.gex_per_1pct.is_finite());
}

#[test]
fn invalid_spot_skips_everything_without_panicking() {
    let mut c = chain(vec![priced_expiry(30, &|_, _| 0.3)]);
    c.spot = f64::NAN;
    let (a, skips) = analyze(&c, RATE, &ChainHistory::default());
    assert!(a.contracts.is_empty());
    assert_eq!(skips.get(SkipReason::InvalidSpot), 34);
    assert_eq!(a.atm_iv_30d, None);
    assert_eq!(a.gex_per_1pct, 0.0);
}

#[test]
fn gex_dex_signs_and_flow_ratios() {
    let mut e = priced_expiry(30, &|_, _| 0.25);
    e.contracts.retain(|c| c.strike == 100.0);
    for c in &mut e.contracts {
        match c.right {
            OptionRight::Call => {
                c.open_interest = Some(1_000);
                c.volume = Some(300);
            }
            OptionRight::Put => {
                c.open_interest = Some(500);
                c.volume = Some(900);
            }
        }
    }
    let t = time_to_expiry_years(as_of(), e.expiry);
    let (a, _) = analyze(&chain(vec![e]), RATE, &ChainHistory::default());
    let g = |right| {
        price_and_greeks(&BsmInput {
            spot: SPOT,
            strike: 100.0,
            t_years: t,
            rate: RATE,
            div_yield: DIV,
            vol: 0.25,
            right,
        })
        .1
    };
    let (gc, gp) = (g(OptionRight::Call), g(OptionRight::Put));
    let unit = 100.0 * SPOT * SPOT * 0.01;
    let expected_gex = (gc.gamma * 1_000.0 - gp.gamma * 500.0) * unit;
    assert!((a.gex_per_1pct - expected_gex).abs() < 1e-6 * expected_gex.abs());
    assert!(a.gex_per_1pct > 0.0, "more call OI: dealers long gamma");
    let expected_dex = (gc.delta * 1_000.0 - gp.delta * 500.0) * 100.0 * SPOT;
    assert!((a.dex - expected_dex).abs() < 1e-6 * expected_dex.abs());
    assert_eq!(a.put_call_volume_ratio, Some(3.0));
    assert_eq!(a.put_call_oi_ratio, Some(0.5));
    // the put traded 900 on 500 OI: unusual; the call (300 on 1000) is not
    assert_eq!(a.unusual_activity.len(), 1);
    assert_eq!(a.unusual_activity[0].right, OptionRight::Put);
    assert!((a.unusual_activity[0].volume_oi_ratio - 1.8).abs() < 1e-12);
}

fn bars(n: usize) -> Vec<DailyBar> {
    let mut px = 100.0;
    (0..n)
        .map(|i| {
            px *= if i % 2 == 0 { 1.01 } else { 1.0 / 1.01 };
            DailyBar {
                date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(i as u64),
                open: px,
                high: px * 1.01,
                low: px * 0.99,
                close: px,
                volume: 1_000_000,
            }
        })
        .collect()
}

#[test]
fn history_metrics_and_rows() {
    let daily = bars(60);
    let iv_hist: Vec<f64> = (0..300)
        .map(|i| 0.15 + 0.001 * f64::from(i % 100))
        .collect();
    let history = ChainHistory {
        daily_bars: &daily,
        atm_iv_30d: &iv_hist,
    };
    let c = chain(vec![
        priced_expiry(16, &|_, _| 0.30),
        priced_expiry(44, &|_, _| 0.20),
    ]);
    // through the wire format, as the Worker receives it
    let c: OptionChain = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    let (a, skips) = analyze(&c, RATE, &history);
    let atm = a.atm_iv_30d.unwrap();
    let rv20 = a.rv_20d.unwrap();
    assert!((a.iv_rv_spread.unwrap() - (atm - rv20)).abs() < 1e-15);
    let rank = a.iv_rank.unwrap();
    assert_eq!(rank.days, 252);
    assert!(rank.iv_rank.unwrap() > 0.0 && rank.iv_rank.unwrap() <= 100.0);
    assert!(a.vol_of_vol.unwrap() > 0.0);
    assert!(a.rv_10d.is_some() && a.rv_30d.is_some() && a.rv_yang_zhang_20d.is_some());
    let f = a.factor_inputs(&daily);
    assert_eq!(f.realized_vol, a.rv_20d);
    assert_eq!(f.iv_rank, rank.iv_rank);
    assert!((f.range_pct.unwrap() - (1.01 / 0.99 - 1.0) * 100.0).abs() < 1e-9);

    let rows = build_chain_rows(&a, &skips);
    assert_eq!(rows.expiries.len(), 2);
    assert_eq!(rows.underlying.contracts_valued as usize, a.contracts.len());
    let mut packed_total = 0;
    for (row, ex) in rows.expiries.iter().zip(&a.expiries) {
        let packed: Vec<Vec<serde_json::Value>> =
            serde_json::from_str(&row.contracts_json).unwrap();
        assert_eq!(packed.len(), ex.contract_count);
        assert!(packed
            .iter()
            .all(|p| p.len() == PACKED_CONTRACT_COLUMNS.len()));
        let first = &a.contracts[ex.first_contract];
        assert_eq!(packed[0][0].as_f64(), Some(first.strike));
        assert_eq!(packed[0][3].as_f64(), Some(first.iv));
        assert_eq!(row.expiry, ex.expiry.format("%Y-%m-%d").to_string());
        packed_total += packed.len();
    }
    assert_eq!(packed_total, a.contracts.len());
    let metrics: serde_json::Value = serde_json::from_str(&rows.underlying.metrics_json).unwrap();
    // serde_json's default float parser may be 1 ulp off
    assert!((metrics["atm_iv_30d"].as_f64().unwrap() - atm).abs() < 1e-15);
    assert_eq!(rows.underlying.as_of, "2026-11-20T15:00:00Z");
}

#[test]
fn expiry_close_follows_new_york_dst() {
    let summer = NaiveDate::from_ymd_opt(2026, 7, 17).unwrap();
    let winter = NaiveDate::from_ymd_opt(2026, 12, 18).unwrap();
    assert_eq!(
        expiry_close_utc(summer).format("%H:%M").to_string(),
        "20:00"
    );
    assert_eq!(
        expiry_close_utc(winter).format("%H:%M").to_string(),
        "21:00"
    );
    // DST ends on the first Sunday of November 2026 (Nov 1)
    let fri_after = NaiveDate::from_ymd_opt(2026, 11, 6).unwrap();
    assert_eq!(
        expiry_close_utc(fri_after).format("%H:%M").to_string(),
        "21:00"
    );
}

fn any_quote() -> impl Strategy<Value = OptionQuote> {
    (
        any::<f64>(),
        prop_oneof![Just(OptionRight::Call), Just(OptionRight::Put)],
        proptest::option::of(prop_oneof![any::<f64>(), 0.0..50.0f64]),
        proptest::option::of(prop_oneof![any::<f64>(), 0.0..50.0f64]),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(strike, right, bid, ask, volume, open_interest)| OptionQuote {
                strike,
                right,
                bid,
                ask,
                last: None,
                volume,
                open_interest,
                greeks: SourceGreeks::default(),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Garbage quotes never panic, every contract is valued or counted, and
    /// every aggregate is finite or absent.
    #[test]
    fn garbage_chains_never_panic_or_poison(
        spot in prop_oneof![any::<f64>(), 50.0..150.0f64],
        rate in prop_oneof![any::<f64>(), -0.01..0.1f64],
        quotes in proptest::collection::vec(any_quote(), 0..40),
        days in -5i64..400,
    ) {
        let mut c = chain(vec![ChainExpiry {
            expiry: as_of().date_naive() + Duration::days(days),
            dte: 0,
            contracts: quotes.clone(),
        }]);
        c.spot = spot;
        let (a, skips) = analyze(&c, rate, &ChainHistory::default());
        prop_assert_eq!(a.contracts.len() as u64 + skips.total(), quotes.len() as u64);
        for x in &a.contracts {
            prop_assert!(x.iv.is_finite() && x.iv > 0.0 && x.greeks.delta.is_finite());
        }
        prop_assert!(a.gex_per_1pct.is_finite() && a.dex.is_finite());
        for v in [a.atm_iv_30d, a.skew_25d_30d, a.term_slope_per_30d, a.put_call_volume_ratio, a.put_call_oi_ratio].into_iter().flatten() {
            prop_assert!(v.is_finite());
        }
        let rows = build_chain_rows(&a, &skips);
        let _: serde_json::Value = serde_json::from_str(&rows.expiries[0].contracts_json).unwrap();
    }
}

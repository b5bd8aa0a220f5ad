//! Property tests of the trade numbers, for every strategy kind: max loss,
//! max profit and breakevens agree with the payoff on a dense grid; the
//! payoff itself agrees with an independent intrinsic-value sum; PoP and EV
//! agree with numerical integration over the lognormal.

#![allow(clippy::unwrap_used, clippy::too_many_arguments)] // test crate helpers

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use sas_core::analytics::bsm::{self, BsmInput};
use sas_core::market::OptionRight;
use sas_core::strategy::analysis::{
    analyze, pnl_at, AnalysisError, ExtremesMethod, PricingContext,
};
use sas_core::strategy::{Leg, LegAction, LegQuote, StrategyKind, TradeMetrics};

const MULT: f64 = 100.0;

#[derive(Debug, Clone)]
struct Case {
    kind: StrategyKind,
    spot: f64,
    vol: f64,
    rate: f64,
    div_yield: f64,
    dte: u32,
    gap: u32,
    /// Log-moneyness offsets used to place strikes.
    offsets: [f64; 4],
    /// Per-leg vol bumps (skew) and half-spreads as a fraction of price.
    bumps: [f64; 4],
    spreads: [f64; 4],
}

fn quote(
    spot: f64,
    strike: f64,
    dte: u32,
    vol: f64,
    rate: f64,
    q: f64,
    right: OptionRight,
    spread: f64,
) -> LegQuote {
    let inp = BsmInput {
        spot,
        strike,
        t_years: f64::from(dte) / 365.0,
        rate,
        div_yield: q,
        vol,
        right,
    };
    let (p, g) = bsm::price_and_greeks(&inp);
    let half = (spread * p).max(0.005);
    let bid = (p - half).max(0.0);
    let ask = p + half;
    LegQuote {
        bid,
        ask,
        mid: 0.5 * (bid + ask),
        iv: Some(vol),
        delta: Some(g.delta),
        open_interest: Some(1000),
        volume: Some(100),
    }
}

fn legs_for(c: &Case) -> Vec<Leg> {
    use LegAction::{Buy, Sell};
    use OptionRight::{Call, Put};
    let d0 = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let exp = |dte: u32| d0.checked_add_days(Days::new(u64::from(dte))).unwrap();
    // Ascending positive gaps between strikes (in log space).
    let o = c.offsets;
    let k = |x: f64| (c.spot * x.exp() * 100.0).round() / 100.0;
    let mut i = 0;
    let mut mk = |right, strike: f64, action, dte: u32| {
        let q = quote(
            c.spot,
            strike,
            dte,
            (c.vol + c.bumps[i]).max(0.05),
            c.rate,
            c.div_yield,
            right,
            c.spreads[i],
        );
        i += 1;
        Leg {
            right,
            strike,
            expiry: exp(dte),
            dte,
            action,
            ratio: 1,
            quote: q,
        }
    };
    let lo = o[0] - 0.5 * o[1];
    let hi = o[0] + 0.5 * o[1];
    match c.kind {
        StrategyKind::LongCall => vec![mk(Call, k(o[0]), Buy, c.dte)],
        StrategyKind::LongPut => vec![mk(Put, k(o[0]), Buy, c.dte)],
        StrategyKind::BullCallDebitSpread => {
            vec![mk(Call, k(lo), Buy, c.dte), mk(Call, k(hi), Sell, c.dte)]
        }
        StrategyKind::BearPutDebitSpread => {
            vec![mk(Put, k(hi), Buy, c.dte), mk(Put, k(lo), Sell, c.dte)]
        }
        StrategyKind::BullPutCreditSpread => {
            vec![mk(Put, k(hi), Sell, c.dte), mk(Put, k(lo), Buy, c.dte)]
        }
        StrategyKind::BearCallCreditSpread => {
            vec![mk(Call, k(lo), Sell, c.dte), mk(Call, k(hi), Buy, c.dte)]
        }
        StrategyKind::IronCondor => {
            let ps = o[0] - o[2].abs() - 0.02;
            let pl = ps - o[1];
            let cs = o[0] + o[3].abs() + 0.02;
            let cl = cs + o[1] * 0.8;
            vec![
                mk(Put, k(pl), Buy, c.dte),
                mk(Put, k(ps), Sell, c.dte),
                mk(Call, k(cs), Sell, c.dte),
                mk(Call, k(cl), Buy, c.dte),
            ]
        }
        StrategyKind::CallCalendar => vec![
            mk(Call, k(o[0]), Sell, c.dte),
            mk(Call, k(o[0]), Buy, c.dte + c.gap),
        ],
        StrategyKind::PutCalendar => vec![
            mk(Put, k(o[0]), Sell, c.dte),
            mk(Put, k(o[0]), Buy, c.dte + c.gap),
        ],
    }
}

fn case_strategy(kind: StrategyKind) -> impl Strategy<Value = Case> {
    (
        20.0..800.0f64,
        0.08..0.9f64,
        0.0..0.06f64,
        0.0..0.03f64,
        7u32..90,
        14u32..70,
        prop::array::uniform4(-0.15..0.15f64),
        prop::array::uniform4(-0.03..0.03f64),
        prop::array::uniform4(0.0..0.08f64),
    )
        .prop_map(
            move |(spot, vol, rate, div_yield, dte, gap, offsets, bumps, spreads)| {
                let mut offsets = offsets;
                // Width between strikes: 1%..16% of spot.
                offsets[1] = 0.01 + offsets[1].abs();
                Case {
                    kind,
                    spot,
                    vol,
                    rate,
                    div_yield,
                    dte,
                    gap,
                    offsets,
                    bumps,
                    spreads,
                }
            },
        )
}

fn ctx(c: &Case) -> PricingContext {
    PricingContext {
        spot: c.spot,
        rate: c.rate,
        div_yield: c.div_yield,
        distribution_vol: c.vol,
    }
}

/// Independent payoff at expiry for single-expiry legs.
fn intrinsic_pnl(legs: &[Leg], s: f64) -> f64 {
    let net: f64 = legs
        .iter()
        .map(|l| l.action.sign() * f64::from(l.ratio) * l.quote.mid)
        .sum();
    let value: f64 = legs
        .iter()
        .map(|l| {
            let iv = match l.right {
                OptionRight::Call => (s - l.strike).max(0.0),
                OptionRight::Put => (l.strike - s).max(0.0),
            };
            l.action.sign() * f64::from(l.ratio) * iv
        })
        .sum();
    (value - net) * MULT
}

fn dense_grid(c: &Case, legs: &[Leg]) -> Vec<f64> {
    let kmax = legs.iter().map(|l| l.strike).fold(c.spot, f64::max);
    let hi = 4.0 * kmax;
    let n = 20_000;
    let mut g: Vec<f64> = (1..=n).map(|i| hi * f64::from(i) / f64::from(n)).collect();
    g.push(0.0);
    g.push(1e-6 * c.spot);
    g.extend(legs.iter().map(|l| l.strike));
    g.sort_by(f64::total_cmp);
    g
}

/// Lognormal expectation of `f` by trapezoid on z in [-9, 9].
fn expect(c: &Case, t: f64, f: impl Fn(f64) -> f64) -> f64 {
    let n = 12_000;
    let (a, b) = (-9.0f64, 9.0f64);
    let h = (b - a) / f64::from(n);
    let drift = (c.rate - c.div_yield - 0.5 * c.vol * c.vol) * t;
    let sd = c.vol * t.sqrt();
    let mut sum = 0.0;
    for i in 0..=n {
        let z = a + h * f64::from(i);
        let w = if i == 0 || i == n { 0.5 } else { 1.0 };
        sum += w * f(c.spot * (drift + sd * z).exp()) * bsm::norm_pdf(z);
    }
    sum * h
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let legs = legs_for(c);
    let cx = ctx(c);
    let m: TradeMetrics = match analyze(&legs, &cx, MULT, 61) {
        Ok(m) => m,
        Err(AnalysisError::NoRisk) => {
            // Only legitimate when the (randomly skewed) mids really leave no
            // loss anywhere: check, then discard the case.
            let gmin = dense_grid(c, &legs)
                .into_iter()
                .map(|s| pnl_at(&legs, &cx, MULT, s))
                .fold(f64::INFINITY, f64::min);
            prop_assert!(gmin >= -1e-6, "NoRisk but grid min {}", gmin);
            prop_assume!(false, "arbitrage quotes");
            unreachable!()
        }
        Err(e) => return Err(TestCaseError::fail(format!("analyze failed: {e}"))),
    };
    let f = |s: f64| pnl_at(&legs, &cx, MULT, s);
    let calendar = c.kind.is_calendar();
    let scale = m.max_loss.max(1.0);
    // Tolerances: exact methods to float precision, grid method to 0.5%.
    let tol = if calendar {
        5e-3 * scale + 0.01
    } else {
        1e-7 * scale
    };
    prop_assert_eq!(
        m.extremes_method,
        if calendar {
            ExtremesMethod::Grid
        } else {
            ExtremesMethod::Exact
        }
    );
    prop_assert!(m.max_loss > 0.0);
    prop_assert!(m.max_loss_natural >= m.max_loss - 1e-9);

    let grid = dense_grid(c, &legs);
    let vals: Vec<f64> = grid.iter().map(|&s| f(s)).collect();
    if !calendar {
        for (&s, &v) in grid.iter().zip(&vals).step_by(97) {
            let want = intrinsic_pnl(&legs, s);
            prop_assert!(
                (v - want).abs() <= 1e-9 * (1.0 + want.abs()),
                "pnl {} vs {} at {}",
                v,
                want,
                s
            );
        }
    }
    let gmin = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let gmax = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    prop_assert!(
        (gmin + m.max_loss).abs() <= tol,
        "grid min {} vs -max_loss {}",
        gmin,
        -m.max_loss
    );
    match m.max_profit {
        Some(p) => prop_assert!(
            (gmax - p).abs() <= tol,
            "grid max {} vs max_profit {}",
            gmax,
            p
        ),
        None => {
            prop_assert_eq!(c.kind, StrategyKind::LongCall);
            // Unlimited: keeps rising far out.
            prop_assert!(f(20.0 * c.spot) > f(10.0 * c.spot) + 1.0);
        }
    }
    // Breakevens are zeros of the payoff...
    for &b in &m.breakevens {
        let v = f(b);
        prop_assert!(
            v.abs() <= if calendar { 1e-6 * scale } else { 1e-7 * scale },
            "pnl {} at breakeven {}",
            v,
            b
        );
    }
    // ... and every sign change of the grid has one.
    for i in 0..grid.len() - 1 {
        let (v0, v1) = (vals[i], vals[i + 1]);
        if (v0 < -tol && v1 > tol) || (v0 > tol && v1 < -tol) {
            let found = m
                .breakevens
                .iter()
                .any(|b| *b >= grid[i] - 1e-9 && *b <= grid[i + 1] + 1e-9);
            prop_assert!(
                found,
                "no breakeven in [{}, {}] ({:?})",
                grid[i],
                grid[i + 1],
                m.breakevens
            );
        }
    }
    if let (Some(p), Some(rr)) = (m.max_profit, m.reward_risk) {
        prop_assert!((rr - p / m.max_loss).abs() <= 1e-12 * (1.0 + rr.abs()));
    }
    // PoP and EV against numerical integration over the same lognormal.
    let t = f64::from(m.horizon_dte) / 365.0;
    let pop_num = expect(c, t, |s| if f(s) > 0.0 { 1.0 } else { 0.0 });
    prop_assert!((0.0..=1.0).contains(&m.probability_of_profit));
    prop_assert!(
        (m.probability_of_profit - pop_num).abs() <= 2e-3,
        "pop {} vs {}",
        m.probability_of_profit,
        pop_num
    );
    let ev_num = expect(c, t, f);
    prop_assert!(
        (m.expected_value - ev_num).abs() <= 1e-4 * (scale + ev_num.abs()) + 5e-3,
        "ev {} vs {}",
        m.expected_value,
        ev_num
    );
    // Chart points lie on the payoff.
    prop_assert!(m.payoff_curve.len() >= 61);
    for p in &m.payoff_curve {
        prop_assert!((p.pnl - f(p.underlying)).abs() <= 1e-9 * (1.0 + p.pnl.abs()));
    }
    prop_assert!(m
        .payoff_curve
        .windows(2)
        .all(|w| w[0].underlying < w[1].underlying));
    Ok(())
}

macro_rules! payoff_props {
    ($($name:ident => $kind:expr),* $(,)?) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(96))]
            $(
                #[test]
                fn $name(c in case_strategy($kind)) {
                    check(&c)?;
                }
            )*
        }
    };
}

payoff_props! {
    long_call_numbers_match_payoff => StrategyKind::LongCall,
    long_put_numbers_match_payoff => StrategyKind::LongPut,
    bull_call_debit_spread_numbers_match_payoff => StrategyKind::BullCallDebitSpread,
    bear_put_debit_spread_numbers_match_payoff => StrategyKind::BearPutDebitSpread,
    bull_put_credit_spread_numbers_match_payoff => StrategyKind::BullPutCreditSpread,
    bear_call_credit_spread_numbers_match_payoff => StrategyKind::BearCallCreditSpread,
    iron_condor_numbers_match_payoff => StrategyKind::IronCondor,
    call_calendar_numbers_match_payoff => StrategyKind::CallCalendar,
    put_calendar_numbers_match_payoff => StrategyKind::PutCalendar,
}

#[test]
fn vertical_numbers_are_exact_for_a_known_spread() {
    // Bull put 100/95, credit 1.50 at mid: max profit 150, max loss 350,
    // breakeven 98.50.
    let d = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
    let q = |bid: f64, ask: f64| LegQuote {
        bid,
        ask,
        mid: 0.5 * (bid + ask),
        iv: Some(0.3),
        delta: None,
        open_interest: None,
        volume: None,
    };
    let legs = vec![
        Leg {
            right: OptionRight::Put,
            strike: 100.0,
            expiry: d,
            dte: 35,
            action: LegAction::Sell,
            ratio: 1,
            quote: q(2.40, 2.60),
        },
        Leg {
            right: OptionRight::Put,
            strike: 95.0,
            expiry: d,
            dte: 35,
            action: LegAction::Buy,
            ratio: 1,
            quote: q(0.90, 1.10),
        },
    ];
    let cx = PricingContext {
        spot: 103.0,
        rate: 0.0,
        div_yield: 0.0,
        distribution_vol: 0.3,
    };
    let m = analyze(&legs, &cx, 100.0, 11).unwrap();
    assert!((m.net_price_mid + 1.50).abs() < 1e-12);
    assert!((m.net_price_natural + 1.30).abs() < 1e-12);
    assert!((m.max_profit.unwrap() - 150.0).abs() < 1e-9);
    assert!((m.max_loss - 350.0).abs() < 1e-9);
    assert!((m.max_loss_natural - 370.0).abs() < 1e-9);
    assert_eq!(m.breakevens.len(), 1);
    assert!((m.breakevens[0] - 98.5).abs() < 1e-9);
    // PoP = P(S_T > 98.5) with zero rates: N(d2) at K = 98.5.
    let t = 35.0 / 365.0;
    let d2 = ((103.0f64 / 98.5).ln() - 0.5 * 0.09 * t) / (0.3 * t.sqrt());
    assert!((m.probability_of_profit - bsm::norm_cdf(d2)).abs() < 1e-12);
}

//! Performance figures against values computed outside the project.
//!
//! Source of every expected value: CPython 3 standard library
//! (`statistics.fmean`, `statistics.stdev` (n − 1), `statistics.correlation`,
//! `math.sqrt`), run on the same fixed series with the script quoted in
//! each test. No project code was involved in computing them.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

mod positions_support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use positions_support::*;
use sas_core::money::Money;
use sas_core::performance::*;
use sas_core::portfolio::{ExitConfig, ExitReason, MarkPolicy};
use sas_core::risk::pearson;
use sas_core::score::{FactorScore, OpportunityScore};
use sas_core::strategy::{ExitPlan, ExitTrigger, StrategyKind};

/// Equity at the close of ten weekdays from Mon 2026-11-02.
const EQUITY: [f64; 10] = [
    100_000.0, 101_000.0, 100_500.0, 99_000.0, 99_500.0, 102_000.0, 101_000.0, 103_500.0,
    103_000.0, 104_000.0,
];

fn weekdays() -> Vec<DateTime<Utc>> {
    // 21:00 UTC = 16:00 New York (EST) on each date.
    let mut out = Vec::new();
    let mut d = Utc.with_ymd_and_hms(2026, 11, 2, 21, 0, 0).unwrap();
    while out.len() < EQUITY.len() {
        if d.format("%a").to_string() != "Sat" && d.format("%a").to_string() != "Sun" {
            out.push(d);
        }
        d += Duration::days(1);
    }
    out
}

fn snapshots() -> Vec<EquitySnapshot> {
    let mut v = Vec::new();
    for (at, eq) in weekdays().into_iter().zip(EQUITY) {
        // An earlier intraday snapshot the daily series must ignore.
        v.push(EquitySnapshot {
            at: at - Duration::hours(3),
            net_liquidation: dollars(eq - 777.0),
        });
        v.push(EquitySnapshot {
            at,
            net_liquidation: dollars(eq),
        });
    }
    v.reverse(); // order must not matter
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// python3:
/// ```text
/// eq=[100000,101000,100500,99000,99500,102000,101000,103500,103000,104000]
/// r=[eq[i]/eq[i-1]-1 for i in range(1,len(eq))]
/// m=statistics.fmean(r); s=statistics.stdev(r)
/// sharpe=m/s*math.sqrt(252)                                  # 4.92591201610099
/// dd=math.sqrt(sum(min(x,0)**2 for x in r)/len(r))
/// sortino=m/dd*math.sqrt(252)                                # 11.087644232291641
/// running-peak max drawdown                                  # 0.019801980198019802
/// ann=(eq[-1]/eq[0])**(252/(len(eq)-1))-1                    # 1.998703319182268
/// calmar=ann/mdd                                             # 100.93451761870453
/// ```
#[test]
fn equity_figures_match_python_statistics() {
    let f = equity_figures(&snapshots());
    assert_eq!(f.days, 10);
    assert_eq!(f.daily_returns.len(), 9);
    assert!(close(f.daily_returns[0], 0.010000000000000009));
    assert!(close(f.daily_returns[2], -0.014925373134328401));
    assert!(close(f.daily_returns[8], 0.009708737864077666));
    assert!(close(f.sharpe.unwrap(), 4.92591201610099), "{:?}", f.sharpe);
    assert!(
        close(f.sortino.unwrap(), 11.087644232291641),
        "{:?}",
        f.sortino
    );
    let dd = f.max_drawdown.unwrap();
    assert!(close(dd.depth, 0.019801980198019802));
    // Peak 101 000 on Tue 11-03, trough 99 000 on Thu 11-05, back above the
    // peak (102 000) on Mon 11-09: 6 calendar days.
    assert_eq!(dd.peak, date(2026, 11, 3));
    assert_eq!(dd.trough, date(2026, 11, 5));
    assert_eq!(dd.recovered, Some(date(2026, 11, 9)));
    assert_eq!(dd.duration_days, 6);
    assert!(close(f.annualized_return.unwrap(), 1.998703319182268));
    assert!(close(f.calmar.unwrap(), 100.93451761870453));
    assert!(close(f.total_return.unwrap(), 0.04));
}

#[test]
fn degenerate_series_give_none_not_nonsense() {
    assert_eq!(sharpe(&[]), None);
    assert_eq!(sharpe(&[0.01]), None);
    assert_eq!(sharpe(&[0.01, 0.01, 0.01]), None); // no spread
    assert_eq!(sortino(&[0.01, 0.02]), None); // no losing day
    let up = [
        DailyEquity {
            date: date(2026, 11, 2),
            equity: 100.0,
        },
        DailyEquity {
            date: date(2026, 11, 3),
            equity: 101.0,
        },
    ];
    assert_eq!(max_drawdown(&up), None);
    assert_eq!(calmar(&up), None);
    // Unrecovered drawdown: the duration runs to the last day.
    let down = [
        up[1],
        DailyEquity {
            date: date(2026, 11, 10),
            equity: 90.0,
        },
    ];
    let dd = max_drawdown(&down).unwrap();
    assert_eq!(dd.recovered, None);
    assert_eq!(dd.duration_days, 7);
}

/// python3: `statistics.correlation([0.01,-0.02,0.015,0.003,-0.007],
/// [0.012,-0.018,0.01,0.001,-0.01])` = 0.9764796815160389.
#[test]
fn pearson_matches_python_statistics() {
    let a = [0.01, -0.02, 0.015, 0.003, -0.007];
    let b = [0.012, -0.018, 0.01, 0.001, -0.01];
    assert!(close(pearson(&a, &b).unwrap(), 0.9764796815160389));
}

fn trade(key: &str, symbol: &str, strategy: StrategyKind, pnl: f64, hours: i64) -> ClosedTrade {
    let opened = t0();
    ClosedTrade {
        key: key.into(),
        symbol: sym(symbol),
        strategy,
        opened_at: opened,
        closed_at: opened + Duration::hours(hours),
        units: 2,
        pnl: dollars(pnl),
        commissions: dollars(2.6),
        entry_fill_cost: None,
        entry_mid_cost: None,
        exit_fill_value: None,
        exit_mark_value: None,
        dte_at_entry: Some(30),
        driving_factor: None,
        exit_reason: None,
    }
}

/// python3: pnl=[120,-80,45.5,0,-30,200]; wins = p>0, losses = p<=0:
/// win rate 0.5, profit factor 365.5/110 = 3.3227272727272728,
/// expectancy fmean(pnl) = 42.583333333333336, average win
/// 121.83333333333333, average loss 36.666666666666664.
#[test]
fn trade_stats_match_python() {
    use StrategyKind::*;
    let mut trades = vec![
        trade("a", "SPY", BullPutCreditSpread, 120.0, 10),
        trade("b", "SPY", BullPutCreditSpread, -80.0, 20),
        trade("c", "QQQ", IronCondor, 45.5, 30),
        trade("d", "QQQ", IronCondor, 0.0, 40),
        trade("e", "IWM", LongCall, -30.0, 50),
        trade("f", "IWM", LongCall, 200.0, 60),
    ];
    // Entry: paid 1.25 per share against a 1.20 mid, 2 sets: 2 × $5 = $10.
    trades[0].entry_fill_cost = Some(dollars(125.0));
    trades[0].entry_mid_cost = Some(dollars(120.0));
    // Exit: sold at 0.95 per share against a 1.00 mark, 2 sets: $10.
    trades[0].exit_fill_value = Some(dollars(95.0));
    trades[0].exit_mark_value = Some(dollars(100.0));
    // A credit entry filled better than mid: received 1.22 vs 1.20 → −$4.
    trades[2].entry_fill_cost = Some(dollars(-122.0));
    trades[2].entry_mid_cost = Some(dollars(-120.0));
    trades[0].driving_factor = Some("iv_rank".into());
    trades[4].dte_at_entry = Some(5);

    let s = trade_stats(&trades);
    assert_eq!((s.trades, s.wins, s.losses), (6, 3, 3));
    assert_eq!(s.win_rate, Some(0.5));
    assert!(close(s.profit_factor.unwrap(), 3.3227272727272728));
    assert!(close(s.expectancy.unwrap(), 42.583333333333336));
    assert!(close(s.average_win.unwrap(), 121.83333333333333));
    assert!(close(s.average_loss.unwrap(), 36.666666666666664));
    // (10+20+30+40+50+60)/6 = 35 hours.
    assert!(close(s.average_holding_hours.unwrap(), 35.0));
    assert_eq!(s.net_pnl, dollars(255.5));
    assert_eq!(s.entry_slippage, dollars(10.0 - 4.0));
    assert_eq!(s.entry_slippage_trades, 2);
    assert_eq!(s.exit_slippage, dollars(10.0));
    // Commissions 6 × 2.60 = 15.60 of a gross 255.50 + 15.60 = 271.10.
    assert_eq!(s.commissions, dollars(15.6));
    assert!(close(s.commissions_share.unwrap(), 15.6 / 271.1));

    let by_strategy = attribution(&trades, Dimension::Strategy);
    assert_eq!(
        by_strategy.keys().cloned().collect::<Vec<_>>(),
        ["bull_put_credit_spread", "iron_condor", "long_call"]
    );
    assert_eq!(by_strategy["iron_condor"].net_pnl, dollars(45.5));
    assert_eq!(
        by_strategy["bull_put_credit_spread"].profit_factor,
        Some(1.5)
    );
    let by_symbol = attribution(&trades, Dimension::Underlying);
    assert_eq!(by_symbol["IWM"].net_pnl, dollars(170.0));
    let by_dte = attribution(&trades, Dimension::DteBucket);
    assert_eq!(by_dte["0-7"].trades, 1);
    assert_eq!(by_dte["22-45"].trades, 5);
    let by_factor = attribution(&trades, Dimension::DrivingFactor);
    assert_eq!(by_factor["iv_rank"].net_pnl, dollars(120.0));
    assert_eq!(by_factor["unknown"].trades, 5);
    // The groups partition the trades.
    let total: Money = by_dte.values().map(|s| s.net_pnl).sum();
    assert_eq!(total, s.net_pnl);
}

#[test]
fn no_losses_means_no_profit_factor() {
    let t = [trade("a", "SPY", StrategyKind::LongCall, 10.0, 1)];
    let s = trade_stats(&t);
    assert_eq!(s.profit_factor, None);
    assert_eq!(s.average_loss, None);
    assert_eq!(trade_stats(&[]).win_rate, None);
}

#[test]
fn driving_factor_is_the_largest_contribution() {
    let f = |name: &str, c: f64| FactorScore {
        name: name.into(),
        label: String::new(),
        raw: None,
        normalized: None,
        weight: 1.0,
        contribution: c,
    };
    let score = OpportunityScore {
        symbol: sym("SPY"),
        score: 50.0,
        coverage: 1.0,
        factors: vec![
            f("realized_vol", 10.0),
            f("iv_rank", 25.0),
            f("momentum", 15.0),
        ],
    };
    assert_eq!(driving_factor(&score).as_deref(), Some("iv_rank"));
}

/// Bull put opened at 1.20 (take profit +$60 per set, stop −$240).
fn shadow_proposal() -> ShadowProposal {
    let spec = bull_put_spec("shadow-key", "SPY", 1);
    ShadowProposal {
        key: spec.key.clone(),
        symbol: spec.symbol.clone(),
        strategy: spec.strategy,
        entry_prices: vec![
            (spec.legs[0].contract.clone(), dollars(2.20)),
            (spec.legs[1].contract.clone(), dollars(1.00)),
        ],
        legs: spec.legs,
        units: 1,
        decided_at: t0(),
        exit_plan: ExitPlan {
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
        },
    }
}

#[test]
fn shadow_pnl_follows_the_exit_rules() {
    let p = shadow_proposal();
    let spec = bull_put_spec("shadow-key", "SPY", 1);
    let at = |m: i64| t0() + Duration::minutes(m);
    let marks = vec![
        // Before the decision: ignored (it would have been a take profit).
        ChainMarks {
            at: t0() - Duration::minutes(5),
            quotes: bull_put_quotes(&spec, 0.10, t0() - Duration::minutes(5)),
        },
        ChainMarks {
            at: at(15),
            quotes: bull_put_quotes(&spec, 1.00, at(15)),
        },
        // A chain without the long leg: refused, not acted on.
        ChainMarks {
            at: at(30),
            quotes: bull_put_quotes(&spec, 0.10, at(30))[..1].to_vec(),
        },
        ChainMarks {
            at: at(45),
            quotes: bull_put_quotes(&spec, 0.60, at(45)),
        },
        ChainMarks {
            at: at(60),
            quotes: bull_put_quotes(&spec, 3.00, at(60)),
        },
    ];
    let out = shadow_pnl(&p, &marks, &MarkPolicy::default(), &ExitConfig::default());
    // At 0.60: mid P&L (1.20 − 0.60) × 100 = +60 = take profit. Natural:
    // buy the short back at its ask 1.62, sell the long at its bid 0.98:
    // (1.20 − 0.64) × 100 = +56.
    assert_eq!(
        out,
        ShadowOutcome::Closed {
            at: at(45),
            reason: ExitReason::TakeProfit,
            pnl_mid: dollars(60.0),
            pnl_natural: dollars(56.0),
            marks_used: 2,
            marks_refused: 1,
        }
    );
    // Without the closing mark it is still open at the last trustworthy one.
    let open = shadow_pnl(
        &p,
        &marks[..3],
        &MarkPolicy::default(),
        &ExitConfig::default(),
    );
    assert!(matches!(open, ShadowOutcome::Open { pnl_mid, .. } if pnl_mid == dollars(20.0)));
    assert!(matches!(
        shadow_pnl(&p, &[], &MarkPolicy::default(), &ExitConfig::default()),
        ShadowOutcome::NeverMarked { marks_refused: 0 }
    ));
    let mut bad = p.clone();
    bad.entry_prices.pop();
    assert!(matches!(
        shadow_pnl(&bad, &marks, &MarkPolicy::default(), &ExitConfig::default()),
        ShadowOutcome::InvalidEntry { .. }
    ));
}

#[test]
fn following_a_shadow_in_pieces_equals_following_it_at_once() {
    let p = shadow_proposal();
    let spec = bull_put_spec("shadow-key", "SPY", 1);
    let at = |m: i64| t0() + Duration::minutes(m);
    let marks: Vec<ChainMarks> = [(15, 1.00), (30, 1.10), (45, 0.90), (60, 0.60), (75, 3.0)]
        .iter()
        .map(|(m, v)| ChainMarks {
            at: at(*m),
            quotes: bull_put_quotes(&spec, *v, at(*m)),
        })
        .collect();
    let (policy, cfg) = (MarkPolicy::default(), ExitConfig::default());
    let whole = shadow_pnl(&p, &marks, &policy, &cfg);
    // One mark per run, and marks seen again in a later run (overlapping
    // reads) are skipped.
    let mut progress = ShadowProgress::default();
    for i in 0..marks.len() {
        progress = shadow_follow(&p, &progress, &marks[..=i], &policy, &cfg).unwrap();
    }
    assert_eq!(progress.outcome(), whole);
    assert!(progress.is_closed());
    assert_eq!(
        progress.through,
        Some(at(60)),
        "nothing is read past the exit"
    );
    // Closed: later marks change nothing.
    let later = vec![ChainMarks {
        at: at(90),
        quotes: bull_put_quotes(&spec, 0.01, at(90)),
    }];
    assert_eq!(
        shadow_follow(&p, &progress, &later, &policy, &cfg).unwrap(),
        progress
    );
    // The closing mark's values: 0.60 mid on a 1.20 credit, natural at the touch.
    let last = progress.last.unwrap();
    assert_eq!(last.pnl_mid, dollars(60.0));
    assert_eq!(last.value_mid, dollars(-60.0));
    assert_eq!(last.pnl_natural, dollars(56.0));
    let mut bad = p.clone();
    bad.units = 0;
    assert!(shadow_follow(&bad, &ShadowProgress::default(), &marks, &policy, &cfg).is_err());
}

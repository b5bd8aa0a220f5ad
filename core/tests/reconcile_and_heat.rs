//! Reconciliation finds every injected drift and none on agreeing books;
//! heat from real positions never undercounts.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

mod positions_support;

use chrono::{Duration, TimeZone, Utc};
use positions_support::*;
use proptest::prelude::*;
use sas_core::money::Money;
use sas_core::orders::*;
use sas_core::portfolio::*;
use sas_core::reconcile::*;
use sas_core::strategy::{size_trade, StrategyConfig};

const SYMBOLS: [&str; 3] = ["SPY", "QQQ", "IWM"];

/// Positions: (symbol index, short strike offset, units filled, closed?).
fn book() -> impl Strategy<Value = Vec<(usize, u8, u32, bool)>> {
    prop::collection::vec(
        (0usize..3, 0u8..4, 1u32..4, prop::bool::weighted(0.2)),
        0..6,
    )
}

fn build_positions(raw: &[(usize, u8, u32, bool)]) -> Vec<Position> {
    raw.iter()
        .enumerate()
        .map(|(i, &(s, off, units, closed))| {
            let symbol = SYMBOLS[s];
            let key = format!("2026-12-01-{symbol}-bull_put_credit_spread-{i:016x}");
            let strike = 100.0 + 5.0 * f64::from(off);
            let mut spec = bull_put_spec(&key, symbol, units);
            spec.legs[0].contract = put(symbol, strike);
            spec.legs[1].contract = put(symbol, strike - 5.0);
            let mut l = Ledger::new();
            let u = i64::from(units);
            let t = t0();
            l.record_execution(exec("a", &key, &spec.legs[0].contract, -u, 2.0, t));
            l.record_execution(exec("b", &key, &spec.legs[1].contract, u, 1.0, t));
            if closed {
                let ck = closing_key(&key, 0);
                l.record_execution(exec("c", &ck, &spec.legs[0].contract, u, 0.5, t));
                l.record_execution(exec("d", &ck, &spec.legs[1].contract, -u, 0.1, t));
            }
            Position::build(&spec, &l)
        })
        .collect()
}

/// The broker's book for our positions: one row per leg execution-sized
/// lot, in a scrambled order, plus zero-quantity rows (expired options).
fn broker_rows(positions: &[Position], rotate: usize) -> Vec<BrokerPosition> {
    let mut rows: Vec<BrokerPosition> = positions
        .iter()
        .flat_map(|p| p.open_legs())
        .flat_map(|l| {
            let unit = l.quantity.signum();
            (0..l.quantity.abs())
                .map(move |_| unit)
                .map(|q| BrokerPosition {
                    contract: l.contract.clone(),
                    quantity: q,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    rows.push(BrokerPosition {
        contract: put("SPY", 50.0),
        quantity: 0,
    });
    if !rows.is_empty() {
        let n = rows.len();
        rows.rotate_left(rotate % n);
    }
    rows
}

#[derive(Debug, Clone, Copy)]
enum Inject {
    Remove,
    Resize(i64),
    ExtraOption,
    Stock,
}

fn inject() -> impl Strategy<Value = Inject> {
    prop_oneof![
        Just(Inject::Remove),
        prop_oneof![-3i64..=-1, 1i64..=3].prop_map(Inject::Resize),
        Just(Inject::ExtraOption),
        Just(Inject::Stock),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Agreeing books (any row split, order, zero rows) give no drift; each
    /// injected difference is found with its kind, pauses the positions it
    /// touches and stops entries.
    #[test]
    fn reconciliation_finds_every_injected_drift_and_none_on_agreeing_books(
        raw in book(),
        rotate in 0usize..50,
        injections in prop::collection::vec((inject(), any::<prop::sample::Index>(), 0usize..3), 0..3),
    ) {
        let positions = build_positions(&raw);
        let agreeing = broker_rows(&positions, rotate);
        let r = reconcile(&positions, &agreeing);
        prop_assert!(r.agrees(), "{:?}", r.drifts);
        prop_assert!(!r.entries_blocked);
        prop_assert!(r.paused_positions.is_empty());

        // Net book per contract, then inject.
        let mut net: std::collections::BTreeMap<ContractId, i64> = Default::default();
        for b in &agreeing { *net.entry(b.contract.clone()).or_insert(0) += b.quantity; }
        net.retain(|_, q| *q != 0);
        let mut expected: std::collections::BTreeMap<ContractId, DriftKind> = Default::default();
        for (inj, idx, s) in injections {
            let held: Vec<ContractId> = net.keys().filter(|c| !expected.contains_key(*c)).cloned().collect();
            match inj {
                Inject::Remove | Inject::Resize(_) if held.is_empty() => continue,
                Inject::Remove => {
                    let c = idx.get(&held).clone();
                    net.remove(&c);
                    expected.insert(c, DriftKind::MissingLeg);
                }
                Inject::Resize(d) => {
                    let c = idx.get(&held).clone();
                    let q = net[&c] + d;
                    if q == 0 { net.remove(&c); expected.insert(c, DriftKind::MissingLeg); }
                    else { net.insert(c.clone(), q); expected.insert(c, DriftKind::WrongSize); }
                }
                Inject::ExtraOption => {
                    let c = call(SYMBOLS[s], 500.0);
                    if expected.contains_key(&c) { continue; }
                    net.insert(c.clone(), -1);
                    expected.insert(c, DriftKind::ExtraLeg);
                }
                Inject::Stock => {
                    let c = ContractId::stock(sym(SYMBOLS[s]));
                    if expected.contains_key(&c) { continue; }
                    net.insert(c.clone(), 100);
                    expected.insert(c, DriftKind::StockPosition);
                }
            }
        }
        let drifted: Vec<BrokerPosition> = net.into_iter().map(|(contract, quantity)| BrokerPosition { contract, quantity }).collect();
        let r = reconcile(&positions, &drifted);
        let found: std::collections::BTreeMap<ContractId, DriftKind> =
            r.drifts.iter().map(|d| (d.contract.clone(), d.kind)).collect();
        prop_assert_eq!(&found, &expected);
        prop_assert_eq!(r.entries_blocked, !expected.is_empty());
        for d in &r.drifts {
            for p in &positions {
                let holds = p.open_legs().any(|l| l.contract == d.contract);
                let same_underlying = p.symbol == d.contract.symbol && p.open_legs().next().is_some();
                if holds || (d.ours == 0 && same_underlying) {
                    prop_assert!(r.is_paused(&p.key), "{} not paused for {:?}", p.key, d);
                }
            }
        }
        for k in &r.paused_positions {
            prop_assert!(r.drifts.iter().any(|d| d.positions.contains(k)));
        }
    }

    /// Heat counts, per trade, the max loss of its open contract sets plus
    /// what its live entry may still fill (all of it when nothing was sent):
    /// never less than the open positions' and working entries' risk, and
    /// the count covers every trade with something open or working.
    #[test]
    fn heat_from_real_positions_never_undercounts(
        trades in prop::collection::vec(
            (1u32..5, 0u32..5, 0u8..8, 50.0f64..2_000.0),
            0..8,
        ),
    ) {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
        let mut approved = Vec::new();
        let mut positions = Vec::new();
        let mut orders = Vec::new();
        let mut floor_loss = 0.0;
        let mut floor_count = 0;
        for (i, &(units, filled, state, mlpu)) in trades.iter().enumerate() {
            let key = format!("2026-12-01-SPY-bull_put_credit_spread-{i:016x}");
            let filled = filled.min(units);
            approved.push(ApprovedTrade { key: key.clone(), units, max_loss_per_unit: mlpu });
            let spec = bull_put_spec(&key, "SPY", units);
            let mut l = Ledger::new();
            let f = i64::from(filled);
            if filled > 0 {
                l.record_execution(exec("a", &key, &spec.legs[0].contract, -f, 2.0, t));
                l.record_execution(exec("b", &key, &spec.legs[1].contract, f, 1.0, t));
            }
            let pos = Position::build(&spec, &l);
            let mut o = Order::new(key.clone(), OrderPurpose::Entry, units, t).unwrap();
            let sent = match state {
                0 => false, // approved, not sent yet
                1 => { o.on_send_lost().unwrap(); true }
                2 => true, // submitting
                3 => { o.on_send_accepted().unwrap(); o.on_cancel_requested().unwrap(); true }
                4 => { o.on_send_accepted().unwrap(); o.apply_report(&BrokerReport { seq: 1, state: BrokerState::Cancelled, filled }).unwrap(); true }
                _ => { o.on_send_accepted().unwrap(); let _ = o.apply_report(&BrokerReport { seq: 1, state: BrokerState::Working, filled }); true }
            };
            let open = u64::from(pos.open_units());
            let working = if !sent { u64::from(units - pos.entry_filled_units) } else if o.status.is_live() { u64::from(units - o.filled) } else { 0 };
            if open + working > 0 {
                floor_count += 1;
                floor_loss += (open + working) as f64 * mlpu;
            }
            if sent { orders.push(o); }
            positions.push(pos);
        }
        let h = heat(&approved, &positions, &orders);
        prop_assert!(h.committed_max_loss >= floor_loss - 1e-6, "{} < {}", h.committed_max_loss, floor_loss);
        prop_assert!(h.open_positions >= floor_count);
        prop_assert!(h.unknown_risk.is_empty());
        let book = h.risk_book(100_000.0, 0.0, 0).unwrap();
        prop_assert_eq!(book.open_positions, h.open_positions);
        // A position without its trade's risk refuses the book.
        if let Some(p) = positions.iter().find(|p| p.status == PositionStatus::Open) {
            let others: Vec<ApprovedTrade> = approved.iter().filter(|a| a.key != p.key).cloned().collect();
            prop_assert!(heat(&others, &positions, &orders).risk_book(100_000.0, 0.0, 0).is_none());
        }
    }
}

#[test]
fn an_assignment_is_a_drift_that_pauses_the_position_and_stops_entries() {
    let (spec, ledger) = opened_bull_put(
        "2026-12-01-SPY-bull_put_credit_spread-0000000000000001",
        1,
        1.20,
    );
    let pos = Position::build(&spec, &ledger);
    // The short 100 put was assigned: it is gone, 100 shares appeared.
    let broker = vec![
        BrokerPosition {
            contract: spec.legs[1].contract.clone(),
            quantity: 1,
        },
        BrokerPosition {
            contract: ContractId::stock(sym("SPY")),
            quantity: 100,
        },
    ];
    let r = reconcile(std::slice::from_ref(&pos), &broker);
    let kinds: Vec<DriftKind> = r.drifts.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, vec![DriftKind::MissingLeg, DriftKind::StockPosition]);
    assert!(r.entries_blocked);
    assert_eq!(r.paused_positions, vec![pos.key.clone()]);
}

#[test]
fn heat_feeds_the_existing_sizing_unchanged() {
    let t = t0() - Duration::days(1);
    let key = "2026-12-01-SPY-bull_put_credit_spread-0000000000000002";
    let (spec, ledger) = opened_bull_put(key, 2, 1.20);
    let pos = Position::build(&spec, &ledger);
    let mut o = Order::new(key, OrderPurpose::Entry, 3, t).unwrap();
    o.on_send_accepted().unwrap();
    o.apply_report(&BrokerReport {
        seq: 1,
        state: BrokerState::Working,
        filled: 2,
    })
    .unwrap();
    let trades = [
        ApprovedTrade {
            key: key.to_owned(),
            units: 3,
            max_loss_per_unit: 380.0,
        },
        ApprovedTrade {
            key: "approved-not-sent".to_owned(),
            units: 1,
            max_loss_per_unit: 500.0,
        },
    ];
    let h = heat(&trades, &[pos], &[o]);
    // 2 open + 1 may still fill at $380, plus 1 approved at $500.
    assert_eq!(h.committed_max_loss, 3.0 * 380.0 + 500.0);
    assert_eq!(h.open_positions, 2);
    let cfg = StrategyConfig::default();
    let book = h.risk_book(10_000.0, 0.0, 0).unwrap();
    // Heat cap 20% of 10k = 2000; 1640 committed leaves 360: below one $380 contract.
    assert!(size_trade(380.0, &book, &cfg).is_err());
    assert_eq!(
        Money::from_dollars(h.committed_max_loss).unwrap().cents(),
        164_000
    );
}

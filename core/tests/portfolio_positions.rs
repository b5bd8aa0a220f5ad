//! Positions from executions: replay-proof (duplicates, reordering,
//! commission reports before or after their executions) and exact P&L
//! (realized + unrealized = value change of the fills − commissions).

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

mod positions_support;

use chrono::Duration;
use positions_support::*;
use proptest::prelude::*;
use sas_core::money::Money;
use sas_core::portfolio::*;

const KEY: &str = "2026-12-01-SPY-bull_put_credit_spread-0123456789abcdef";

/// Random fills of a bull put spread under the entry key and two closing
/// attempts: (leg index, signed qty, price cents, order ref index, secs).
fn fills() -> impl Strategy<Value = Vec<(usize, i64, i64, usize, i64, i64)>> {
    prop::collection::vec(
        (
            0usize..2,
            prop_oneof![-5i64..=-1, 1i64..=5],
            1i64..2_000,
            0usize..3,
            0i64..5_000,
            0i64..300,
        ),
        1..16,
    )
}

fn order_ref(i: usize) -> String {
    match i {
        0 => KEY.to_owned(),
        n => closing_key(KEY, u32::try_from(n - 1).unwrap()),
    }
}

fn executions(
    spec: &PositionSpec,
    raw: &[(usize, i64, i64, usize, i64, i64)],
) -> Vec<(Execution, CommissionReport)> {
    raw.iter()
        .enumerate()
        .map(|(i, &(leg, q, cents, r, secs, comm_micro_cents))| {
            let e = Execution {
                exec_id: format!("0000e.{i:03}"),
                order_ref: order_ref(r),
                contract: spec.legs[leg].contract.clone(),
                quantity: q,
                price: Money::from_cents(cents) + Money::from_micros(cents % 7 * 100),
                time: t0() + Duration::seconds(secs),
            };
            let c = CommissionReport {
                exec_id: e.exec_id.clone(),
                commission: Money::from_micros(650_000 + comm_micro_cents * 1_111),
            };
            (e, c)
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Report {
    Exec(Execution),
    Comm(CommissionReport),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// IB replays the day's fills after every reconnect and commission
    /// reports can come before or after their executions: any duplication
    /// and reordering of the same reports builds the same position.
    #[test]
    fn fill_replay_in_any_order_with_duplicates_gives_the_same_position(
        raw in fills(),
        dup_seed in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        shuffle_seed in any::<u64>(),
    ) {
        let spec = bull_put_spec(KEY, "SPY", 5);
        let pairs = executions(&spec, &raw);
        let mut once = Ledger::new();
        for (e, c) in &pairs {
            prop_assert_eq!(once.record_execution(e.clone()), Recorded::New);
            prop_assert_eq!(once.record_commission(c.clone()), Recorded::New);
        }
        let reference = Position::build(&spec, &once);

        let mut reports: Vec<Report> = pairs
            .iter()
            .flat_map(|(e, c)| [Report::Exec(e.clone()), Report::Comm(c.clone())])
            .collect();
        let extra: Vec<Report> = dup_seed.iter().map(|i| reports[i.index(reports.len())].clone()).collect();
        reports.extend(extra);
        // Deterministic Fisher-Yates from the seed.
        let mut s = shuffle_seed | 1;
        for i in (1..reports.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            let j = usize::try_from(s % (i as u64 + 1)).unwrap();
            reports.swap(i, j);
        }
        let mut replayed = Ledger::new();
        for r in reports {
            match r {
                Report::Exec(e) => prop_assert_ne!(replayed.record_execution(e), Recorded::Conflict),
                Report::Comm(c) => prop_assert_ne!(replayed.record_commission(c), Recorded::Conflict),
            }
        }
        let again = Position::build(&spec, &replayed);
        prop_assert_eq!(&reference, &again);
        let paid: Money = pairs.iter().map(|(_, c)| c.commission).sum();
        prop_assert_eq!(again.commissions, paid, "a replayed commission was added twice");
        prop_assert_eq!(again.commissions_pending, 0);
    }

    /// realized + unrealized (at mid and at natural) equals the cash of
    /// every fill plus the value of what is open minus commissions, exactly
    /// (so to the cent), whatever the fills.
    #[test]
    fn pnl_identity_realized_plus_unrealized_equals_fill_value_change_to_the_cent(
        raw in fills(),
        bids in (1i64..3_000, 1i64..3_000),
        widths in (0i64..40, 0i64..40),
    ) {
        let spec = bull_put_spec(KEY, "SPY", 5);
        let pairs = executions(&spec, &raw);
        let mut ledger = Ledger::new();
        for (e, c) in &pairs {
            ledger.record_execution(e.clone());
            ledger.record_commission(c.clone());
        }
        let pos = Position::build(&spec, &ledger);
        let cash: Money = pairs.iter().map(|(e, _)| -(e.price * (e.quantity * 100))).sum();
        let paid: Money = pairs.iter().map(|(_, c)| c.commission).sum();
        let now = t0() + Duration::seconds(400);
        let q = |i: usize, bid: i64, w: i64| {
            quote(&spec.legs[i].contract, bid as f64 / 100.0, (bid + w) as f64 / 100.0, now)
        };
        let quotes = vec![q(0, bids.0, widths.0), q(1, bids.1, widths.1)];
        let policy = MarkPolicy { max_spread_fraction: 100.0, ..MarkPolicy::default() };
        match mark_position(&pos, &quotes, now, &policy) {
            Ok(mark) => {
                let open: Vec<&PositionLeg> = pos.open_legs().collect();
                let value_at = |px: &dyn Fn(&LegMark) -> Money| -> Money {
                    mark.legs.iter().map(|l| px(l) * (l.quantity * 100)).sum()
                };
                let value_mid = value_at(&|l| l.mid);
                let value_nat = value_at(&|l| l.natural());
                prop_assert_eq!(open.len(), mark.legs.len());
                prop_assert_eq!(mark.realized + mark.unrealized_mid, cash + value_mid - paid);
                prop_assert_eq!(mark.realized + mark.unrealized_natural, cash + value_nat - paid);
                prop_assert_eq!((mark.realized + mark.unrealized_mid).cents(), (cash + value_mid - paid).cents());
                prop_assert!(mark.value_natural <= mark.value_mid);
                let totals = pnl_totals(&[(&pos, Some(&mark))]);
                prop_assert_eq!(totals.total_mid(), cash + value_mid - paid);
            }
            Err(MarkRejection::NotOpen) => {
                prop_assert_ne!(pos.status, PositionStatus::Open);
                prop_assert_eq!(pos.realized(), cash - paid);
            }
            Err(other) => prop_assert!(false, "unexpected rejection {:?}", other),
        }
    }
}

#[test]
fn a_partial_fill_gives_a_partial_position_and_closing_fills_close_it() {
    let spec = bull_put_spec(KEY, "SPY", 3);
    let mut ledger = Ledger::new();
    let t = t0();
    ledger.record_execution(exec("a", KEY, &spec.legs[0].contract, -1, 2.00, t));
    ledger.record_execution(exec("b", KEY, &spec.legs[1].contract, 1, 0.80, t));
    // The commission of "a" arrives before the execution "c" it belongs to is known.
    ledger.record_commission(commission("c", 0.65));
    ledger.record_commission(commission("a", 0.65));
    let p = Position::build(&spec, &ledger);
    assert_eq!(p.status, PositionStatus::Open);
    assert_eq!(
        (p.entry_filled_units, p.planned_units, p.is_partial()),
        (1, 3, true)
    );
    assert_eq!(p.commissions, dollars(0.65));
    assert_eq!(p.commissions_pending, 1);
    assert_eq!(p.legs[0].average_price(), dollars(2.00));
    assert_eq!(p.opened_at, Some(t));

    let close = closing_key(KEY, 0);
    let t2 = t + Duration::days(3);
    ledger.record_execution(exec("c", &close, &spec.legs[0].contract, 1, 0.50, t2));
    ledger.record_execution(exec("d", &close, &spec.legs[1].contract, -1, 0.10, t2));
    ledger.record_commission(commission("d", 0.65));
    let p = Position::build(&spec, &ledger);
    assert_eq!(p.status, PositionStatus::Closed);
    assert_eq!(p.closed_at, Some(t2));
    assert_eq!(p.last_closing_attempt, Some(0));
    // Credit 1.20, paid back 0.40: +$80 minus three commissions of $0.65.
    assert_eq!(p.realized(), dollars(80.0 - 1.95));
    assert_eq!(p.realized().to_string(), "78.05");
}

#[test]
fn executions_of_other_keys_are_not_joined() {
    let spec = bull_put_spec(KEY, "SPY", 1);
    let mut ledger = Ledger::new();
    ledger.record_execution(exec(
        "a",
        "another-trade",
        &spec.legs[0].contract,
        -1,
        2.0,
        t0(),
    ));
    ledger.record_execution(exec(
        "b",
        &format!("{KEY}:x01"),
        &spec.legs[0].contract,
        -1,
        2.0,
        t0(),
    ));
    let p = Position::build(&spec, &ledger);
    assert_eq!(p.status, PositionStatus::Pending);
    let mut conflict = exec("a", "another-trade", &spec.legs[0].contract, -2, 2.0, t0());
    assert_eq!(
        ledger.record_execution(conflict.clone()),
        Recorded::Conflict
    );
    conflict.quantity = -1;
    assert_eq!(ledger.record_execution(conflict), Recorded::Duplicate);
}

#[test]
fn marks_show_mid_natural_greeks_and_dte() {
    let (spec, ledger) = opened_bull_put(KEY, 2, 1.20);
    let p = Position::build(&spec, &ledger);
    let now = t0();
    let mark = mark_position(
        &p,
        &bull_put_quotes(&spec, 0.60, now),
        now,
        &MarkPolicy::default(),
    )
    .unwrap();
    // Short 2 at 1.60 mid (1.58/1.62), long 2 at 1.00 mid (0.98/1.02).
    assert_eq!(mark.value_mid, dollars(-2.0 * 160.0 + 2.0 * 100.0));
    assert_eq!(mark.value_natural, dollars(-2.0 * 162.0 + 2.0 * 98.0));
    // Opened for 1.20 credit on 2 sets = +$240 cost basis -240.
    assert_eq!(mark.cost_basis, dollars(-240.0));
    assert_eq!(mark.unrealized_mid, dollars(120.0));
    assert_eq!(mark.unrealized_natural, dollars(112.0));
    assert_eq!(mark.realized, dollars(-2.0));
    assert_eq!(mark.dte, Some(45));
    // Source delta -0.3 on both legs: short and long cancel.
    assert_eq!(mark.greeks.delta, Some(0.0));
    assert_eq!(mark.open_units, 2);
}

//! Closing orders: the price walk and the closing keys.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

mod positions_support;

use chrono::Duration;
use positions_support::*;
use proptest::prelude::*;
use sas_core::money::Money;
use sas_core::orders::*;
use sas_core::portfolio::*;

const KEY: &str = "2026-12-01-SPY-bull_put_credit_spread-0123456789abcdef";

/// The bridge's rule (`sas_bridge_api::is_valid_key`), restated as a pattern:
/// `^[A-Za-z0-9_.:-]{1,64}$`.
fn bridge_valid(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn policy() -> impl Strategy<Value = WalkPolicy> {
    (1u32..8, prop_oneof![Just(1i64), Just(5), Just(10)]).prop_map(|(steps, tick)| WalkPolicy {
        steps,
        tick: Money::from_cents(tick),
        ..WalkPolicy::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// For any mid <= natural (debit or credit, in micro-dollars), every
    /// step's price is on the tick, never past natural, never 0 or one
    /// tick, and never less aggressive than the step before (no widening),
    /// also when the previous attempt's limit is carried.
    #[test]
    fn closing_walk_never_passes_natural_never_reaches_zero_or_one_tick_never_widens(
        mid in -20_000_000i64..20_000_000,
        width in 0i64..3_000_000,
        p in policy(),
        prev in prop::option::of(-20_000_000i64..20_000_000),
    ) {
        let mid = Money::from_micros(mid);
        let natural = mid + Money::from_micros(width);
        let prev = prev.map(|x| Money::from_micros(x).floor_to(p.tick));
        let mut last: Option<Money> = None;
        for step in 0..=p.steps + 2 {
            match walk_price(mid, natural, step, prev, &p) {
                Ok(price) => {
                    prop_assert!(price <= natural, "step {} price {:?} past natural {:?}", step, price, natural);
                    prop_assert!(price.abs() > p.tick, "price {:?} is 0 or one tick", price);
                    prop_assert_eq!(price.micros() % p.tick.micros(), 0);
                    if let Some(l) = last {
                        prop_assert!(price >= l, "step {} widened: {:?} after {:?}", step, price, l);
                    }
                    if let Some(pv) = prev {
                        prop_assert!(price >= pv.min(natural.floor_to(p.tick)));
                    }
                    last = Some(price);
                }
                Err(WalkRefusal::PriceTooSmall { price }) => {
                    prop_assert!(price.abs() <= p.tick);
                }
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        }
    }

    /// Closing keys are valid by the bridge's rule, distinct for distinct
    /// (position, attempt), never equal to an entry key, and map back to
    /// their position and attempt.
    #[test]
    fn closing_keys_are_unique_per_position_and_attempt_and_valid(
        keys in prop::collection::btree_set("[A-Za-z0-9_.:-]{1,64}|[ -~]{1,80}", 1..6),
        attempts in prop::collection::btree_set(any::<u32>(), 1..6),
    ) {
        let mut seen = std::collections::BTreeMap::new();
        for k in &keys {
            for &a in &attempts {
                let ck = closing_key(k, a);
                prop_assert!(bridge_valid(&ck), "{:?} from {:?}", ck, k);
                // Entry keys (proposal keys) have no ':', closing keys do.
                prop_assert!(ck.contains(":x"));
                prop_assert_eq!(closing_attempt_of(k, &ck), Some(a));
                prop_assert!(belongs_to(k, &ck));
                if let Some(prev) = seen.insert(ck.clone(), (k.clone(), a)) {
                    prop_assert!(false, "{:?} from both {:?} and {:?}", ck, prev, (k, a));
                }
            }
            prop_assert_eq!(closing_attempt_of(k, k), None);
        }
    }

    /// Driven through random broker outcomes, the closing machinery never
    /// has two live closing orders and never reuses a key for a new price.
    #[test]
    fn never_two_live_closing_orders(outcomes in prop::collection::vec(0u8..6, 1..60)) {
        let (spec, ledger) = opened_bull_put(KEY, 2, 1.20);
        let pos = Position::build(&spec, &ledger);
        let wp = WalkPolicy { max_attempts: 1000, ..WalkPolicy::default() };
        let mut attempts: Vec<ClosingAttempt> = Vec::new();
        let mut now = t0();
        for (i, o) in outcomes.into_iter().enumerate() {
            now += Duration::seconds(45);
            let seq = i as u64 + 1;
            let quotes = bull_put_quotes(&spec, 1.00, now);
            let mark = mark_position(&pos, &quotes, now, &MarkPolicy::default()).unwrap();
            match next_closing_action(&pos, &attempts, Some(&mark), now, &wp) {
                ClosingAction::Place(order) => {
                    prop_assert!(attempts.iter().all(|a| a.order.key != order.key), "key reused");
                    prop_assert!(attempts.iter().all(|a| !a.order.status.is_live()));
                    prop_assert!(order.limit <= order.natural);
                    let mut ord = Order::new(order.key.clone(), OrderPurpose::Exit, order.quantity, now).unwrap();
                    match o {
                        0 => { ord.on_send_lost().unwrap(); }
                        1 => {}
                        _ => { ord.on_send_accepted().unwrap(); }
                    }
                    attempts.push(ClosingAttempt { attempt: order.attempt, order: ord, limit: order.limit, placed_at: now });
                }
                ClosingAction::Cancel { key } => {
                    let a = attempts.iter_mut().find(|a| a.order.key == key).unwrap();
                    a.order.on_cancel_requested().unwrap();
                    if o % 2 == 0 {
                        a.order.apply_report(&BrokerReport { seq, state: BrokerState::Cancelled, filled: 0 }).unwrap();
                    }
                }
                ClosingAction::Wait { key: Some(key), .. } => {
                    // Read the broker: it knows the order (working) or not.
                    let a = attempts.iter_mut().find(|a| a.order.key == key).unwrap();
                    let state = match (a.order.status, o % 3) {
                        (OrderStatus::CancelPending, _) => BrokerState::Cancelled,
                        (_, 0) => BrokerState::NotFound,
                        (_, 1) => BrokerState::Working,
                        _ => BrokerState::Accepted,
                    };
                    let _ = a.order.apply_report(&BrokerReport { seq, state, filled: 0 });
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
            let live = attempts.iter().filter(|a| a.order.status.is_live()).count();
            prop_assert!(live <= 1, "{} live closing orders", live);
        }
    }
}

#[test]
fn the_walk_starts_at_mid_and_reaches_natural_in_four_steps() {
    let (spec, ledger) = opened_bull_put(KEY, 2, 1.20);
    let pos = Position::build(&spec, &ledger);
    let now = t0();
    // Spread mid 1.00: short 2.00 (1.98/2.02), long 1.00 (0.98/1.02).
    let mark = mark_position(
        &pos,
        &bull_put_quotes(&spec, 1.00, now),
        now,
        &MarkPolicy::default(),
    )
    .unwrap();
    let combo = closing_combo(&mark).unwrap();
    assert_eq!(combo.quantity, 2);
    assert_eq!(combo.mid, dollars(1.00));
    assert_eq!(combo.natural, dollars(1.04));
    let p = WalkPolicy::default();
    let prices: Vec<Money> = (0..6)
        .map(|k| walk_price(combo.mid, combo.natural, k, None, &p).unwrap())
        .collect();
    assert_eq!(
        prices,
        [1.00, 1.01, 1.02, 1.03, 1.04, 1.04].map(dollars).to_vec()
    );
    match next_closing_action(&pos, &[], Some(&mark), now, &p) {
        ClosingAction::Place(o) => {
            assert_eq!(o.key, format!("{KEY}:x0"));
            assert_eq!(o.limit, dollars(1.00));
            assert_eq!(o.legs.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    // A credit spread bought back at one cent is refused, never sent.
    assert!(matches!(
        walk_price(dollars(0.005), dollars(0.01), 4, None, &p),
        Err(WalkRefusal::PriceTooSmall { .. })
    ));
}

#[test]
fn a_restart_after_deciding_but_before_sending_waits_for_the_broker() {
    let (spec, ledger) = opened_bull_put(KEY, 1, 1.20);
    let pos = Position::build(&spec, &ledger);
    let now = t0();
    let mark = mark_position(
        &pos,
        &bull_put_quotes(&spec, 1.00, now),
        now,
        &MarkPolicy::default(),
    )
    .unwrap();
    let ord = Order::new(closing_key(KEY, 0), OrderPurpose::Exit, 1, now).unwrap();
    let attempts = vec![ClosingAttempt {
        attempt: 0,
        order: ord,
        limit: dollars(1.0),
        placed_at: now,
    }];
    let later = now + Duration::minutes(10);
    assert_eq!(
        next_closing_action(&pos, &attempts, Some(&mark), later, &WalkPolicy::default()),
        ClosingAction::Wait {
            key: Some(closing_key(KEY, 0)),
            reason: WaitReason::Unresolved
        }
    );
}

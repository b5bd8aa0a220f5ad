//! The order state machine: never an illegal transition, never an older
//! report undoing a newer fill, late fills on cancelled orders applied,
//! unknown resolved only by reading the broker.

#![allow(clippy::unwrap_used)] // test crate: helpers outside #[test] fns unwrap fixtures

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use sas_core::orders::*;

fn order(quantity: u32) -> Order {
    let t = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
    Order::new(
        "2026-12-01-SPY-bull_put_credit_spread-0123456789abcdef",
        OrderPurpose::Entry,
        quantity,
        t,
    )
    .unwrap()
}

#[derive(Debug, Clone)]
enum Event {
    Accepted,
    Lost,
    Refused,
    CancelRequested,
    Report(BrokerReport),
    Executed(u32),
}

fn broker_state() -> impl Strategy<Value = BrokerState> {
    prop_oneof![
        Just(BrokerState::Accepted),
        Just(BrokerState::Working),
        Just(BrokerState::PendingCancel),
        Just(BrokerState::Filled),
        Just(BrokerState::Cancelled),
        Just(BrokerState::Rejected),
        Just(BrokerState::Inactive),
        Just(BrokerState::NotFound),
    ]
}

fn event(quantity: u32) -> impl Strategy<Value = Event> {
    prop_oneof![
        1 => Just(Event::Accepted),
        1 => Just(Event::Lost),
        1 => Just(Event::Refused),
        1 => Just(Event::CancelRequested),
        6 => (0u64..40, broker_state(), 0..=quantity + 1)
            .prop_map(|(seq, state, filled)| Event::Report(BrokerReport { seq, state, filled })),
        1 => (0..=quantity + 1).prop_map(Event::Executed),
    ]
}

fn scenario() -> impl Strategy<Value = (u32, Vec<Event>)> {
    (1u32..6).prop_flat_map(|q| (Just(q), prop::collection::vec(event(q), 0..40)))
}

fn apply(o: &mut Order, e: &Event) -> Result<Applied, OrderError> {
    match e {
        Event::Accepted => o.on_send_accepted(),
        Event::Lost => o.on_send_lost(),
        Event::Refused => o.on_send_refused(),
        Event::CancelRequested => o.on_cancel_requested(),
        Event::Report(r) => o.apply_report(r),
        Event::Executed(f) => o.apply_executed(*f),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every status change an event makes is in the transition table, and
    /// a refused event leaves the order exactly as it was.
    #[test]
    fn order_state_machine_never_accepts_an_illegal_transition((q, events) in scenario()) {
        let mut o = order(q);
        for e in &events {
            let before = o.clone();
            match apply(&mut o, e) {
                Ok(_) => {
                    if before.status != o.status {
                        prop_assert!(before.status.can_transition(o.status),
                            "{} -> {} via {:?}", before.status, o.status, e);
                    }
                    if before.status.is_terminal() && before.status != OrderStatus::Cancelled {
                        prop_assert_eq!(before.status, o.status);
                    }
                }
                Err(_) => prop_assert_eq!(&before, &o),
            }
            prop_assert!(o.filled <= o.quantity);
            prop_assert_eq!(o.filled == o.quantity, o.status == OrderStatus::Filled,
                "filled {} of {} in {}", o.filled, o.quantity, o.status);
        }
    }

    /// Filled quantity never decreases, a filled order stays filled, and a
    /// report older than the newest applied one never changes the status.
    #[test]
    fn an_older_report_never_undoes_a_newer_fill((q, events) in scenario()) {
        let mut o = order(q);
        for e in &events {
            let before = o.clone();
            let res = apply(&mut o, e);
            prop_assert!(o.filled >= before.filled);
            if before.status == OrderStatus::Filled {
                prop_assert_eq!(o.status, OrderStatus::Filled);
            }
            if let (Event::Report(r), Some(last)) = (e, before.last_seq) {
                if r.seq <= last && res.is_ok() && o.filled == before.filled {
                    prop_assert_eq!(&o, &before, "stale report changed the order");
                }
            }
        }
    }
}

#[test]
fn transition_table_rejects_backwards_and_out_of_terminal_moves() {
    use OrderStatus as S;
    assert!(!S::Filled.can_transition(S::Cancelled));
    assert!(!S::Working.can_transition(S::Submitted));
    assert!(!S::Rejected.can_transition(S::Working));
    assert!(!S::Submitting.can_transition(S::CancelPending));
    assert!(!S::Unknown.can_transition(S::Unknown));
    assert!(S::Cancelled.can_transition(S::Filled));
    for s in S::ALL {
        assert!(!s.can_transition(S::Submitting), "{s} -> submitting");
        assert!(!s.can_transition(s), "{s} -> itself is not a transition");
    }
}

#[test]
fn a_late_fill_on_a_cancelled_order_is_applied() {
    let mut o = order(3);
    o.on_send_accepted().unwrap();
    let r = |seq, state, filled| BrokerReport { seq, state, filled };
    o.apply_report(&r(1, BrokerState::Working, 1)).unwrap();
    assert_eq!(o.status, OrderStatus::PartiallyFilled);
    o.on_cancel_requested().unwrap();
    o.apply_report(&r(2, BrokerState::Cancelled, 2)).unwrap();
    assert_eq!((o.status, o.filled), (OrderStatus::Cancelled, 2));
    // Executions read later show the whole order filled while the cancel was pending.
    o.apply_executed(3).unwrap();
    assert_eq!((o.status, o.filled), (OrderStatus::Filled, 3));
    // An older "cancelled, 2 filled" replayed afterwards changes nothing.
    assert_eq!(
        o.apply_report(&r(2, BrokerState::Cancelled, 2)).unwrap(),
        Applied::Stale
    );
    assert_eq!((o.status, o.filled), (OrderStatus::Filled, 3));
}

#[test]
fn unknown_is_resolved_by_reading_the_broker_never_by_cancelling_blind() {
    let mut o = order(1);
    o.on_send_lost().unwrap();
    assert_eq!(o.status, OrderStatus::Unknown);
    assert!(matches!(
        o.on_cancel_requested(),
        Err(OrderError::IllegalTransition { .. })
    ));
    assert!(matches!(
        o.on_send_accepted(),
        Err(OrderError::IllegalTransition { .. })
    ));
    let mut found = o.clone();
    found
        .apply_report(&BrokerReport {
            seq: 5,
            state: BrokerState::Working,
            filled: 0,
        })
        .unwrap();
    assert_eq!(found.status, OrderStatus::Working);
    o.apply_report(&BrokerReport {
        seq: 5,
        state: BrokerState::NotFound,
        filled: 0,
    })
    .unwrap();
    assert_eq!(o.status, OrderStatus::Rejected);
}

#[test]
fn a_refused_cancel_returns_the_order_to_working_and_fills_while_pending_count() {
    let mut o = order(2);
    o.on_send_accepted().unwrap();
    o.apply_report(&BrokerReport {
        seq: 1,
        state: BrokerState::Working,
        filled: 0,
    })
    .unwrap();
    o.on_cancel_requested().unwrap();
    o.apply_report(&BrokerReport {
        seq: 2,
        state: BrokerState::Working,
        filled: 1,
    })
    .unwrap();
    assert_eq!((o.status, o.filled), (OrderStatus::CancelPending, 1));
    assert!(matches!(
        o.apply_report(&BrokerReport {
            seq: 3,
            state: BrokerState::Working,
            filled: 3
        }),
        Err(OrderError::Overfill { .. })
    ));
}

#[test]
fn an_entry_remainder_is_cancelled_at_the_proposal_expiry() {
    let t = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
    let mut o = order(4);
    o.on_send_accepted().unwrap();
    o.apply_report(&BrokerReport {
        seq: 1,
        state: BrokerState::Working,
        filled: 1,
    })
    .unwrap();
    let exp = t + chrono::Duration::minutes(30);
    assert_eq!(
        entry_expiry_action(&o, exp, t, true),
        EntryExpiryAction::Keep
    );
    assert_eq!(
        entry_expiry_action(&o, exp, exp, true),
        EntryExpiryAction::CancelRemainder { unfilled: 3 }
    );
    assert_eq!(
        entry_expiry_action(&o, exp, exp, false),
        EntryExpiryAction::Keep
    );
    let mut lost = order(1);
    lost.on_send_lost().unwrap();
    assert_eq!(
        entry_expiry_action(&lost, exp, exp, true),
        EntryExpiryAction::ResolveFirst
    );
}

//! The order lifecycle after placement, through the real `ibapi` client
//! against the fake gateway: partial fills, cancel of a partly filled
//! order (also one adopted after a bridge restart), commissions arriving
//! after their execution, IB's replay of the day's fills after a reconnect
//! (never counted twice) and an assignment turning an option into stock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ib_support;

use std::collections::BTreeSet;
use std::time::Duration;

use broker_bridge::broker::{Broker, BrokerError};
use broker_bridge::ib::IbBroker;
use fake_ib_gateway::OrderPhase;
use ib_support::*;
use sas_bridge_api::health::ConnectionState;
use sas_bridge_api::orders::{
    Execution, Instrument, OrderAction, OrderLeg, OrderRequest, OrderStatus, TimeInForce,
};
use sas_core::market::Symbol;

/// Waits until order `id` has `status` with `filled` units.
async fn wait_order(b: &IbBroker, id: &str, status: OrderStatus, filled: u32) {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(o) = b.order(id).await {
                if o.status == status && o.filled_quantity == filled {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("order {id} never reached {status:?} with {filled} filled"));
}

/// The executions of the order placed under `key`, as `GET
/// /executions?key=` serves them.
async fn executions_of(b: &IbBroker, key: &str) -> Vec<Execution> {
    b.executions()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.idempotency_key.as_deref() == Some(key))
        .collect()
}

/// Units filled per leg instrument, summed over executions.
fn units_per_leg(execs: &[Execution], req: &OrderRequest) -> Vec<u32> {
    req.legs
        .iter()
        .map(|l| {
            execs
                .iter()
                .filter(|e| e.instrument == l.instrument)
                .map(|e| e.quantity)
                .sum()
        })
        .collect()
}

#[tokio::test]
async fn partial_fill_shows_partially_filled_then_the_rest_fills() {
    let gw = gateway().await;
    let b = broker(&gw, 41).await;
    let req = put_spread(&b, "life-partial", 3, Pricing::Marketable).await;
    gw.controls.partial_fill_next_order(1.0);
    let placed = b.place_order(req.clone()).await.unwrap();
    let id = placed.order.id.clone();
    wait_order(&b, &id, OrderStatus::PartiallyFilled, 1).await;
    let execs = executions_of(&b, "life-partial").await;
    assert_eq!(units_per_leg(&execs, &req), vec![1, 1], "{execs:?}");
    for e in &execs {
        assert!(e.con_id.is_some_and(|c| c > 0), "{e:?}");
        assert_eq!(e.order_id, id);
    }
    // Time passes: the plan holds the rest back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.order(&id).await.unwrap().filled_quantity, 1);

    gw.controls.release_fills();
    wait_order(&b, &id, OrderStatus::Filled, 3).await;
    let execs = executions_of(&b, "life-partial").await;
    assert_eq!(units_per_leg(&execs, &req), vec![3, 3], "{execs:?}");
    assert_eq!(execs.len(), 4, "two fills per leg: {execs:?}");
    let avg = b.order(&id).await.unwrap().avg_fill_price.unwrap();
    assert!(avg <= req.limit_price, "{avg} above the limit");
    b.shutdown().await;
}

#[tokio::test]
async fn cancel_of_a_partially_filled_order_leaves_the_filled_part() {
    let gw = gateway().await;
    let b = broker(&gw, 42).await;
    let req = put_spread(&b, "life-cancel", 3, Pricing::Marketable).await;
    gw.controls.partial_fill_next_order(1.0);
    let placed = b.place_order(req.clone()).await.unwrap();
    let id = placed.order.id.clone();
    wait_order(&b, &id, OrderStatus::PartiallyFilled, 1).await;

    let cancelled = b.cancel_order(&id).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.filled_quantity, 1, "the filled part stays filled");
    let view = &gw.controls.orders()[0];
    assert_eq!((view.status, view.filled), (OrderPhase::Cancelled, 1.0));
    // Lifting the plan fills nothing more: the rest is cancelled.
    gw.controls.release_fills();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let positions = b.positions().await.unwrap();
    for leg in &req.legs {
        let p = positions
            .iter()
            .find(|p| p.instrument == leg.instrument)
            .unwrap();
        assert_eq!(p.quantity.abs(), 1.0, "{p:?}");
        assert!(p.con_id.is_some_and(|c| c > 0));
    }
    let again = b.cancel_order(&id).await.unwrap_err();
    assert!(
        matches!(again, BrokerError::NotCancellable { .. }),
        "{again:?}"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn cancel_works_for_a_partly_filled_order_adopted_after_a_bridge_restart() {
    let gw = gateway().await;
    let b = broker(&gw, 43).await;
    let req = put_spread(&b, "life-adopt", 4, Pricing::Marketable).await;
    gw.controls.partial_fill_next_order(2.0);
    let placed = b.place_order(req).await.unwrap();
    wait_order(&b, &placed.order.id, OrderStatus::PartiallyFilled, 2).await;
    b.shutdown().await;
    drop(b);

    // A new bridge (same IB client id) knows the order only from IB.
    let b2 = broker(&gw, 43).await;
    let adopted = b2.order_by_key("life-adopt").await.unwrap();
    assert_eq!(adopted.id, placed.order.id);
    assert_eq!(
        (adopted.status, adopted.filled_quantity),
        (OrderStatus::PartiallyFilled, 2)
    );
    let cancelled = b2.cancel_order(&adopted.id).await.unwrap();
    assert_eq!(
        (cancelled.status, cancelled.filled_quantity),
        (OrderStatus::Cancelled, 2)
    );
    assert_eq!(gw.controls.orders()[0].status, OrderPhase::Cancelled);
    b2.shutdown().await;
}

#[tokio::test]
async fn commission_arriving_after_the_execution_is_attached_to_it() {
    let gw = gateway().await;
    let b = broker(&gw, 44).await;
    let req = put_spread(&b, "life-comm", 2, Pricing::Marketable).await;
    gw.controls.hold_commissions(true);
    let placed = b.place_order(req).await.unwrap();
    wait_order(&b, &placed.order.id, OrderStatus::Filled, 2).await;
    let before = executions_of(&b, "life-comm").await;
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|e| e.commission.is_none()), "{before:?}");

    gw.controls.release_commissions();
    let after = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let now = executions_of(&b, "life-comm").await;
            if now.iter().all(|e| e.commission.is_some()) {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("commissions attached");
    assert_eq!(after.len(), 2, "the same executions, not new ones");
    for e in &after {
        assert_eq!(e.commission, Some(1.3), "0.65 x 2 contracts: {e:?}");
        assert!(before.iter().any(|x| x.exec_id == e.exec_id));
    }
    b.shutdown().await;
}

#[tokio::test]
async fn fill_replay_after_a_gateway_restart_does_not_double_count() {
    let gw = gateway().await;
    let b = broker(&gw, 45).await;
    let req = put_spread(&b, "life-replay", 2, Pricing::Marketable).await;
    gw.controls.partial_fill_next_order(1.0);
    let placed = b.place_order(req.clone()).await.unwrap();
    let id = placed.order.id.clone();
    wait_order(&b, &id, OrderStatus::PartiallyFilled, 1).await;
    gw.controls.release_fills();
    wait_order(&b, &id, OrderStatus::Filled, 2).await;
    let before = executions_of(&b, "life-replay").await;
    assert_eq!(units_per_leg(&before, &req), vec![2, 2]);
    let ids_before: BTreeSet<String> = before.iter().map(|e| e.exec_id.clone()).collect();

    // The gateway restarts; on the new connection it replays the day's
    // fills (same exec ids), in every executions request.
    gw.controls.restart(Duration::from_millis(500));
    wait_state(&b, ConnectionState::Disconnected, Duration::from_secs(3)).await;
    wait_state(&b, ConnectionState::Connected, Duration::from_secs(11)).await;
    for _ in 0..3 {
        let after = executions_of(&b, "life-replay").await;
        assert_eq!(units_per_leg(&after, &req), vec![2, 2], "{after:?}");
        let ids: BTreeSet<String> = after.iter().map(|e| e.exec_id.clone()).collect();
        assert_eq!(ids, ids_before);
        assert_eq!(ids.len(), after.len(), "an exec id listed twice");
    }
    // The gateway did hold them all for replay (legs plus the BAG-level fills).
    let replayable = gw
        .controls
        .executions()
        .into_iter()
        .filter(|x| x.1 == "life-replay")
        .count();
    assert_eq!(replayable, 6);
    let order = b.order(&id).await.unwrap();
    assert_eq!(
        (order.status, order.filled_quantity),
        (OrderStatus::Filled, 2)
    );

    // A bridge restart reads them fresh, once each.
    b.shutdown().await;
    drop(b);
    let b2 = broker(&gw, 45).await;
    let fresh = executions_of(&b2, "life-replay").await;
    assert_eq!(units_per_leg(&fresh, &req), vec![2, 2]);
    assert!(fresh.iter().all(|e| e.commission == Some(0.65)));
    b2.shutdown().await;
}

#[tokio::test]
async fn assignment_shows_a_stock_position_and_the_option_gone() {
    let gw = gateway().await;
    let b = broker(&gw, 46).await;
    let req = put_spread(&b, "life-assign", 2, Pricing::Marketable).await;
    let placed = b.place_order(req.clone()).await.unwrap();
    wait_order(&b, &placed.order.id, OrderStatus::Filled, 2).await;
    let short = &req.legs[1].instrument;
    let Instrument::Option { strike, .. } = short else {
        unreachable!()
    };
    let positions = b.positions().await.unwrap();
    let short_pos = positions.iter().find(|p| &p.instrument == short).unwrap();
    assert_eq!(short_pos.quantity, -2.0);
    let short_id = short_pos.con_id.unwrap();

    let (stock_id, shares) = gw
        .controls
        .assign(i32::try_from(short_id).unwrap())
        .expect("short put held");
    assert_eq!(shares, 200.0);
    let positions = b.positions().await.unwrap();
    assert!(
        positions
            .iter()
            .all(|p| p.con_id != Some(short_id) && &p.instrument != short),
        "the assigned put is gone: {positions:?}"
    );
    let stock = positions
        .iter()
        .find(|p| p.instrument == Instrument::Stock { symbol: spy() })
        .expect("stock delivered");
    assert_eq!(stock.quantity, 200.0);
    assert_eq!(stock.con_id, Some(i64::from(stock_id)));
    assert!(
        (stock.avg_cost - strike).abs() < 1e-9,
        "bought at the strike"
    );
    let long = positions
        .iter()
        .find(|p| p.instrument == req.legs[0].instrument)
        .unwrap();
    assert_eq!(long.quantity, 2.0, "the long leg is untouched");

    // SAS's books still hold the spread: reconciling them with what the
    // broker now reports is a drift (stock delivered, short leg missing)
    // that pauses this position's exits and stops new entries.
    let contract = |i: &Instrument| match i {
        Instrument::Stock { symbol } => sas_core::portfolio::ContractId::stock(symbol.clone()),
        Instrument::Option {
            symbol,
            expiry,
            strike,
            right,
        } => sas_core::portfolio::ContractId::option(symbol.clone(), *right, *expiry, *strike)
            .unwrap(),
    };
    let spec = sas_core::portfolio::PositionSpec {
        key: "life-assign".into(),
        symbol: spy(),
        strategy: sas_core::strategy::StrategyKind::BullPutCreditSpread,
        legs: req
            .legs
            .iter()
            .map(|l| sas_core::portfolio::PlannedLeg {
                contract: contract(&l.instrument),
                ratio: if l.action == OrderAction::Buy { 1 } else { -1 },
            })
            .collect(),
        units: 2,
    };
    let mut ledger = sas_core::portfolio::Ledger::new();
    for e in executions_of(&b, "life-assign").await {
        let q = i64::from(e.quantity);
        ledger.record_execution(sas_core::portfolio::Execution {
            exec_id: e.exec_id.clone(),
            order_ref: "life-assign".into(),
            contract: contract(&e.instrument),
            quantity: if e.action == OrderAction::Buy { q } else { -q },
            price: sas_core::money::Money::from_dollars(e.price).unwrap(),
            time: e.time,
        });
    }
    let ours = sas_core::portfolio::Position::build(&spec, &ledger);
    let broker_book: Vec<sas_core::reconcile::BrokerPosition> = positions
        .iter()
        .map(|p| sas_core::reconcile::BrokerPosition {
            contract: contract(&p.instrument),
            quantity: p.quantity as i64,
        })
        .collect();
    let recon = sas_core::reconcile::reconcile(&[ours], &broker_book);
    let kinds: Vec<_> = recon.drifts.iter().map(|d| d.kind).collect();
    assert!(
        kinds.contains(&sas_core::reconcile::DriftKind::StockPosition)
            && kinds.contains(&sas_core::reconcile::DriftKind::MissingLeg),
        "{:?}",
        recon.drifts
    );
    assert!(recon.entries_blocked && recon.is_paused("life-assign"));
    b.shutdown().await;
}

#[tokio::test]
async fn an_order_of_another_client_id_is_not_cancellable_and_stays_working() {
    // The documented limitation: IB lets a client cancel only its own orders.
    let gw = gateway().await;
    let b = broker(&gw, 47).await;
    let resting = OrderRequest {
        idempotency_key: "life-other".into(),
        legs: vec![OrderLeg {
            instrument: Instrument::Stock {
                symbol: Symbol::parse("AAPL").unwrap(),
            },
            action: OrderAction::Buy,
            ratio: 1,
        }],
        quantity: 5,
        limit_price: 1.00,
        tif: TimeInForce::Gtc,
    };
    let placed = b.place_order(resting).await.unwrap();
    b.shutdown().await;
    drop(b);
    let other = broker(&gw, 48).await;
    let adopted = other.order_by_key("life-other").await.unwrap();
    assert_eq!(adopted.id, placed.order.id);
    let err = other.cancel_order(&adopted.id).await.unwrap_err();
    assert!(matches!(err, BrokerError::NotCancellable { .. }), "{err:?}");
    assert_eq!(gw.controls.orders()[0].status, OrderPhase::Submitted);
    other.shutdown().await;
}

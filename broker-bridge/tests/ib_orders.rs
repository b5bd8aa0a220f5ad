//! Orders through the IB broker against the fake gateway: combos, fills,
//! positions, executions, idempotency across bridge and gateway restarts,
//! rejections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ib_support;

use std::time::Duration;

use broker_bridge::broker::{Broker, BrokerError};
use broker_bridge::ib::IbBroker;
use fake_ib_gateway::OrderPhase;
use ib_support::*;
use sas_bridge_api::health::ConnectionState;
use sas_bridge_api::orders::{
    Instrument, OrderAction, OrderLeg, OrderRequest, OrderStatus, TimeInForce,
};
use sas_core::market::{ChainWindow, OptionRight};

async fn wait_status(b: &IbBroker, id: &str, status: OrderStatus) {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if b.order(id).await.map(|o| o.status) == Ok(status) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("order {id} never reached {status:?}"));
}

#[tokio::test]
async fn combo_fills_and_shows_in_positions_and_executions() {
    let gw = gateway().await;
    let b = broker(&gw, 31).await;
    let req = put_spread(&b, "combo-1", 2, Pricing::Marketable).await;
    let placed = b.place_order(req.clone()).await.unwrap();
    assert!(!placed.duplicate);
    wait_status(&b, &placed.order.id, OrderStatus::Filled).await;
    let order = b.order(&placed.order.id).await.unwrap();
    assert_eq!(order.filled_quantity, 2);
    let fill = order.avg_fill_price.unwrap();
    assert!(
        fill <= req.limit_price,
        "filled at {fill}, above the limit {}",
        req.limit_price
    );

    let views = gw.controls.orders();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].sec_type, "BAG");
    assert_eq!(views[0].order_ref, "combo-1");

    let positions = b.positions().await.unwrap();
    assert_eq!(positions.len(), 2, "{positions:?}");
    for leg in &req.legs {
        let p = positions
            .iter()
            .find(|p| p.instrument == leg.instrument)
            .expect("leg held");
        let expected = if leg.action == OrderAction::Buy {
            2.0
        } else {
            -2.0
        };
        assert_eq!(p.quantity, expected);
        assert!(
            p.avg_cost > 0.0 && p.avg_cost < 100.0,
            "per-contract price, not x100: {}",
            p.avg_cost
        );
        assert!(p.market_value.is_some());
    }

    let execs = b.executions().await.unwrap();
    let ours: Vec<_> = execs
        .iter()
        .filter(|e| e.order_id == placed.order.id)
        .collect();
    assert_eq!(ours.len(), 2, "one execution per leg: {execs:?}");
    for e in ours {
        assert_eq!(e.quantity, 2);
        assert_eq!(e.commission, Some(1.3));
    }
    b.shutdown().await;
}

#[tokio::test]
async fn same_key_twice_gives_one_order_also_across_a_bridge_restart() {
    let gw = gateway().await;
    let b = broker(&gw, 32).await;
    let req = resting_stock_order("idem-1");
    let first = b.place_order(req.clone()).await.unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.order.status, OrderStatus::Submitted);
    let second = b.place_order(req.clone()).await.unwrap();
    assert!(second.duplicate);
    assert_eq!(second.order.id, first.order.id);
    let mut changed = req.clone();
    changed.limit_price = 2.0;
    let conflict = b.place_order(changed).await.unwrap_err();
    assert!(
        matches!(conflict, BrokerError::IdempotencyConflict { .. }),
        "{conflict:?}"
    );
    assert_eq!(gw.controls.place_order_requests(), 1);

    // Bridge restart: a new broker with an empty book and the same client id.
    b.shutdown().await;
    drop(b);
    let b2 = broker(&gw, 32).await;
    let again = b2.place_order(req.clone()).await.unwrap();
    assert!(again.duplicate, "found at IB by orderRef");
    assert_eq!(again.order.id, first.order.id);
    assert_eq!(again.order.legs, req.legs);
    assert_eq!(gw.controls.place_order_requests(), 1);
    assert_eq!(gw.controls.orders().len(), 1);

    // A filled combo is found among completed orders after a restart too.
    let combo = put_spread(&b2, "idem-combo", 2, Pricing::Marketable).await;
    let placed = b2.place_order(combo.clone()).await.unwrap();
    wait_status(&b2, &placed.order.id, OrderStatus::Filled).await;
    b2.shutdown().await;
    drop(b2);
    let b3 = broker(&gw, 32).await;
    let again = b3.place_order(combo.clone()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.order.status, OrderStatus::Filled);
    assert_eq!(again.order.legs, combo.legs);
    assert_eq!(gw.controls.place_order_requests(), 2);
    b3.shutdown().await;
}

#[tokio::test]
async fn gateway_restart_mid_session_duplicates_nothing() {
    let gw = gateway().await;
    let b = broker(&gw, 33).await;
    let req = resting_stock_order("restart-1");
    let placed = b.place_order(req.clone()).await.unwrap();
    gw.controls.restart(Duration::from_secs(1));
    wait_state(&b, ConnectionState::Disconnected, Duration::from_secs(3)).await;
    wait_state(&b, ConnectionState::Connected, Duration::from_secs(11)).await;
    // The client retries with the same key after the outage.
    let retry = b.place_order(req).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.order.id, placed.order.id);
    let open = b.open_orders().await.unwrap();
    assert_eq!(
        open.iter()
            .filter(|o| o.idempotency_key == "restart-1")
            .count(),
        1
    );
    assert_eq!(gw.controls.orders().len(), 1);
    assert_eq!(gw.controls.place_order_requests(), 1);

    let cancelled = b.cancel_order(&placed.order.id).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(gw.controls.orders()[0].status, OrderPhase::Cancelled);
    let err = b.cancel_order(&placed.order.id).await.unwrap_err();
    assert!(matches!(err, BrokerError::NotCancellable { .. }), "{err:?}");
    b.shutdown().await;
}

#[tokio::test]
async fn rejected_order_reports_ib_code_and_is_not_retried() {
    let gw = gateway().await;
    let b = broker(&gw, 34).await;
    gw.controls.reject_next_order(
        201,
        "Order rejected - reason:The account has insufficient buying power",
    );
    let req = resting_stock_order("reject-1");
    let err = b.place_order(req.clone()).await.unwrap_err();
    match &err {
        BrokerError::Rejected { code, message } => {
            assert_eq!(*code, Some(201));
            assert!(message.contains("insufficient"));
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    let again = b.place_order(req).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.order.status, OrderStatus::Rejected);
    assert_eq!(gw.controls.place_order_requests(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn live_account_orders_need_the_explicit_live_switch() {
    let gw = fake_ib_gateway::FakeGateway::start(fake_ib_gateway::FakeConfig {
        tick_interval: Duration::from_millis(50),
        account: "U7654321".into(),
        ..fake_ib_gateway::FakeConfig::default()
    })
    .await
    .expect("fake gateway starts");
    let b = broker_with(ib_config(&gw, 37), &broker_bridge::metrics::Metrics::new()).await;
    let err = b
        .place_order(resting_stock_order("live-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::LiveTradingDisabled { account } if account == "U7654321"),
        "{err:?}"
    );
    assert_eq!(
        gw.controls.place_order_requests(),
        0,
        "nothing may reach IB"
    );
    b.shutdown().await;

    let mut cfg = ib_config(&gw, 38);
    cfg.allow_live_trading = true;
    let b = broker_with(cfg, &broker_bridge::metrics::Metrics::new()).await;
    let placed = b.place_order(resting_stock_order("live-2")).await.unwrap();
    assert!(!placed.duplicate);
    assert_eq!(gw.controls.place_order_requests(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn orders_refused_in_the_daily_reset_window() {
    let gw = gateway().await;
    let mut cfg = ib_config(&gw, 35);
    let now = sas_core::calendar::utc_to_eastern(chrono::Utc::now()).time();
    let start = now - chrono::TimeDelta::minutes(5);
    let end = now + chrono::TimeDelta::minutes(5);
    cfg.reset_window_et = Some((start, end));
    let b = broker_with(cfg, &broker_bridge::metrics::Metrics::new()).await;
    let err = b
        .place_order(resting_stock_order("window-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::OrderWindowClosed { .. }),
        "{err:?}"
    );
    assert_eq!(gw.controls.place_order_requests(), 0);
    b.shutdown().await;
}

#[tokio::test]
async fn iron_condor_calendar_and_single_option_fill() {
    let gw = gateway().await;
    let b = broker(&gw, 36).await;
    let chain = b
        .option_chain(
            &spy(),
            ChainWindow {
                min_dte: 5,
                max_dte: 60,
                strikes: 6,
            },
        )
        .await
        .unwrap();
    assert!(chain.expiries.len() >= 2);
    let (near, far) = (
        &chain.expiries[0],
        &chain.expiries[chain.expiries.len() - 1],
    );
    let find = |e: &sas_core::market::ChainExpiry, k: f64, r: OptionRight| {
        e.contracts
            .iter()
            .find(|c| c.strike == k && c.right == r)
            .cloned()
            .unwrap()
    };
    let strikes: Vec<f64> = {
        let mut v: Vec<f64> = near.contracts.iter().map(|c| c.strike).collect();
        v.dedup();
        v
    };
    let leg = |e: &sas_core::market::ChainExpiry, k: f64, r: OptionRight, action| OrderLeg {
        instrument: Instrument::Option {
            symbol: spy(),
            expiry: e.expiry,
            strike: k,
            right: r,
        },
        action,
        ratio: 1,
    };
    // Net paid per combo unit at the far sides (negative = credit).
    let net = |legs: &[(sas_core::market::OptionQuote, OrderAction)]| -> f64 {
        legs.iter()
            .map(|(q, a)| match a {
                OrderAction::Buy => q.ask.unwrap(),
                OrderAction::Sell => -q.bid.unwrap(),
            })
            .sum()
    };
    let cents = |x: f64| (x * 100.0).round() / 100.0;

    // Iron condor: short 2nd/5th strikes, long 1st/6th wings; a credit.
    let (k1, k2, k5, k6) = (strikes[0], strikes[1], strikes[4], strikes[5]);
    let ic = [
        (
            find(near, k1, OptionRight::Put),
            OrderAction::Buy,
            k1,
            OptionRight::Put,
        ),
        (
            find(near, k2, OptionRight::Put),
            OrderAction::Sell,
            k2,
            OptionRight::Put,
        ),
        (
            find(near, k5, OptionRight::Call),
            OrderAction::Sell,
            k5,
            OptionRight::Call,
        ),
        (
            find(near, k6, OptionRight::Call),
            OrderAction::Buy,
            k6,
            OptionRight::Call,
        ),
    ];
    let ic_net = net(&ic.iter().map(|x| (x.0.clone(), x.1)).collect::<Vec<_>>());
    assert!(ic_net < 0.0, "an iron condor is a credit: {ic_net}");
    let ic_req = OrderRequest {
        idempotency_key: "ic-1".into(),
        legs: ic.iter().map(|x| leg(near, x.2, x.3, x.1)).collect(),
        quantity: 1,
        limit_price: cents(ic_net + 0.30),
        tif: TimeInForce::Day,
    };
    // Calendar: sell the near call, buy the far call at the same strike; a debit.
    let k = strikes[3];
    let cal = [
        (find(near, k, OptionRight::Call), OrderAction::Sell),
        (find(far, k, OptionRight::Call), OrderAction::Buy),
    ];
    let cal_req = OrderRequest {
        idempotency_key: "cal-1".into(),
        legs: vec![
            leg(near, k, OptionRight::Call, OrderAction::Sell),
            leg(far, k, OptionRight::Call, OrderAction::Buy),
        ],
        quantity: 1,
        limit_price: cents(net(&cal) + 0.30),
        tif: TimeInForce::Day,
    };
    // A single option.
    let single_q = find(near, k, OptionRight::Put);
    let single_req = OrderRequest {
        idempotency_key: "opt-1".into(),
        legs: vec![leg(near, k, OptionRight::Put, OrderAction::Buy)],
        quantity: 3,
        limit_price: cents(single_q.ask.unwrap() + 0.30),
        tif: TimeInForce::Day,
    };
    for req in [ic_req, cal_req, single_req] {
        let placed = b.place_order(req.clone()).await.unwrap();
        wait_status(&b, &placed.order.id, OrderStatus::Filled).await;
        let o = b.order(&placed.order.id).await.unwrap();
        assert!(
            o.avg_fill_price.unwrap() <= req.limit_price + 1e-9,
            "{}: filled at {:?} over limit {}",
            req.idempotency_key,
            o.avg_fill_price,
            req.limit_price
        );
    }
    let views = gw.controls.orders();
    let kinds: Vec<&str> = views.iter().map(|v| v.sec_type.as_str()).collect();
    assert_eq!(kinds, ["BAG", "BAG", "OPT"]);
    // 4 + 2 + 1 legs held (the calendar's near call nets with nothing else).
    let positions = b.positions().await.unwrap();
    assert_eq!(positions.len(), 7, "{positions:?}");
    b.shutdown().await;
}

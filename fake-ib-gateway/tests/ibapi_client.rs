//! The real `ibapi` client against the fake gateway over TCP.

#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

use std::time::Duration;

use fake_ib_gateway::{FakeConfig, FakeGateway, OrderPhase};
use ibapi::accounts::types::AccountGroup;
use ibapi::orders::order_builder;
use ibapi::prelude::*;

async fn start() -> FakeGateway {
    FakeGateway::start(FakeConfig {
        tick_interval: Duration::from_millis(50),
        ..FakeConfig::default()
    })
    .await
    .unwrap()
}

async fn connect(gw: &FakeGateway, client_id: i32) -> Client {
    tokio::time::timeout(
        Duration::from_secs(10),
        Client::connect(&gw.addr.to_string(), client_id),
    )
    .await
    .expect("connect timed out")
    .expect("connect failed")
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn handshake_reports_version_and_accounts() {
    let gw = start().await;
    let client = connect(&gw, 7).await;
    assert_eq!(client.server_version(), 222);
    assert_eq!(
        client.handshake_managed_accounts(),
        ["DU1234567".to_string()]
    );
    assert!(client.next_order_id() >= 1);
    let now = tokio::time::timeout(T, client.server_time())
        .await
        .unwrap()
        .unwrap();
    assert!((now.unix_timestamp() - chrono::Utc::now().timestamp()).abs() < 5);
    assert_eq!(gw.controls.live_sessions(), 1);
}

#[tokio::test]
async fn second_client_with_same_id_is_refused() {
    let gw = start().await;
    let _first = connect(&gw, 9).await;
    let second = Client::connect(&gw.addr.to_string(), 9).await;
    assert!(second.is_err(), "duplicate client id accepted");
}

#[tokio::test]
async fn stock_snapshot_and_unknown_symbol() {
    let gw = start().await;
    let client = connect(&gw, 1).await;
    let ticks = client
        .market_data(&Contract::stock("SPY").build())
        .snapshot_once(T)
        .await
        .unwrap();
    let mut bid = None;
    let mut ask = None;
    for t in &ticks {
        if let TickTypes::PriceSize(p) = t {
            match p.price_tick_type {
                ibapi::contracts::tick_types::TickType::Bid => bid = Some(p.price),
                ibapi::contracts::tick_types::TickType::Ask => ask = Some(p.price),
                _ => {}
            }
        }
    }
    let (bid, ask) = (bid.expect("no bid"), ask.expect("no ask"));
    assert!(bid > 100.0 && ask > bid, "bid {bid} ask {ask}");

    // `snapshot_once` swallows errors; read the subscription to see error 200.
    let mut sub = client
        .market_data(&Contract::stock("ZZZZ").build())
        .snapshot()
        .subscribe()
        .await
        .unwrap();
    let item = tokio::time::timeout(T, sub.next()).await.unwrap().unwrap();
    let err = item.expect_err("unknown symbol gave data");
    assert!(err.to_string().contains("200"), "{err}");
}

#[tokio::test]
async fn option_chain_contract_details_and_greeks() {
    let gw = start().await;
    let client = connect(&gw, 2).await;
    let details = client
        .contract_details(&Contract::stock("AAPL").build())
        .await
        .unwrap();
    assert_eq!(details.len(), 1);
    let con_id = details[0].contract.contract_id;
    assert!(con_id > 0);

    let mut chains = client
        .option_chain("AAPL", SecurityType::Stock, con_id)
        .subscribe()
        .await
        .unwrap()
        .filter_data();
    let chain = tokio::time::timeout(T, chains.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!chain.expirations.is_empty());
    assert!(chain.strikes.len() > 10);

    let spot = 270.0;
    let strike = chain
        .strikes
        .iter()
        .copied()
        .min_by(|a, b| (a - spot).abs().total_cmp(&(b - spot).abs()))
        .unwrap();
    let expiry = chain.expirations.iter().min().unwrap().clone();
    let mut opt = Contract::option("AAPL", &expiry, strike, ibapi::contracts::OptionRight::Call);
    opt.multiplier = "100".into();
    let ticks = client.market_data(&opt).snapshot_once(T).await.unwrap();
    let model = ticks
        .iter()
        .find_map(|t| match t {
            TickTypes::OptionComputation(c) => Some(c.clone()),
            _ => None,
        })
        .expect("no option computation tick");
    let delta = model.delta.unwrap();
    assert!(delta > 0.0 && delta < 1.0, "call delta {delta}");
    assert!(model.implied_volatility.unwrap() > 0.05);
    assert!(model.gamma.unwrap() > 0.0);
    assert!(model.theta.unwrap() < 0.0);

    let opt_details = client.contract_details(&opt).await.unwrap();
    assert!(opt_details[0].contract.contract_id > 0);
}

#[tokio::test]
async fn daily_history_and_pacing_error() {
    let gw = start().await;
    let client = connect(&gw, 3).await;
    let contract = Contract::stock("MSFT").build();
    let data = client
        .historical_data(&contract, HistoricalBarSize::Day)
        .duration(20.days())
        .fetch()
        .await
        .unwrap();
    assert_eq!(data.bars.len(), 20);
    assert!(data
        .bars
        .iter()
        .all(|b| b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close)));

    gw.controls.pace_next_historical();
    let err = client
        .historical_data(&contract, HistoricalBarSize::Day)
        .duration(20.days())
        .fetch()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("162"), "{err}");
}

#[tokio::test]
async fn stock_order_fills_and_shows_in_positions_executions_and_account() {
    let gw = start().await;
    let client = connect(&gw, 4).await;
    let contract = Contract::stock("AAPL").build();
    let mut order = order_builder::limit_order(Action::Buy, 10.0, 10_000.0);
    order.order_ref = "key-1".into();
    let order_id = client.next_order_id();
    let mut updates = client
        .place_order(order_id, &contract, &order)
        .await
        .unwrap();
    let mut filled = false;
    let mut commission = None;
    while let Ok(Some(item)) = tokio::time::timeout(T, updates.next()).await {
        match item.unwrap() {
            SubscriptionItem::Data(PlaceOrder::OrderStatus(s)) if s.filled == 10.0 => filled = true,
            SubscriptionItem::Data(PlaceOrder::CommissionReport(c)) => {
                commission = Some(c.commission);
                break;
            }
            _ => {}
        }
    }
    assert!(filled);
    assert_eq!(commission, Some(1.0));
    // ibapi routes executions to a live order subscription first.
    drop(updates);
    let views = gw.controls.orders();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].order_ref, "key-1");
    assert_eq!(views[0].status, OrderPhase::Filled);
    assert!(
        views[0].avg_fill < 10_000.0,
        "filled at the ask, not the limit"
    );

    let mut positions = client.positions().await.unwrap().filter_data();
    let mut found = None;
    while let Ok(Some(p)) = tokio::time::timeout(T, positions.next()).await {
        match p.unwrap() {
            PositionUpdate::Position(p) => {
                found = Some((p.contract.symbol.to_string(), p.position))
            }
            PositionUpdate::PositionEnd => break,
        }
    }
    assert_eq!(found, Some(("AAPL".to_string(), 10.0)));

    let mut execs = client
        .executions(ExecutionFilter::default())
        .await
        .unwrap()
        .filter_data();
    let mut refs = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(2), execs.next()).await {
        match e.unwrap() {
            ibapi::orders::Executions::ExecutionData(d) => {
                refs.push(d.execution.order_reference.clone())
            }
            ibapi::orders::Executions::CommissionReport(_) => break,
        }
    }
    assert_eq!(refs, vec!["key-1".to_string()]);

    let mut completed = client.completed_orders(false).await.unwrap().filter_data();
    let first = tokio::time::timeout(T, completed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match first {
        Orders::OrderData(d) => assert_eq!(d.order.order_ref, "key-1"),
        other => panic!("unexpected {other:?}"),
    }

    let mut summary = client
        .account_summary(
            &AccountGroup("All".into()),
            &[
                AccountSummaryTags::NET_LIQUIDATION,
                AccountSummaryTags::TOTAL_CASH_VALUE,
            ],
        )
        .await
        .unwrap()
        .filter_data();
    let mut cash = None;
    while let Ok(Some(r)) = tokio::time::timeout(T, summary.next()).await {
        match r.unwrap() {
            AccountSummaryResult::Summary(s) if s.tag == "TotalCashValue" => {
                cash = s.value.parse::<f64>().ok()
            }
            AccountSummaryResult::End => break,
            _ => {}
        }
    }
    let cash = cash.expect("no cash");
    assert!(
        cash < 100_000.0 - 10.0 * 100.0,
        "cash {cash} not reduced by the purchase"
    );
}

#[tokio::test]
async fn resting_order_is_listed_open_and_cancels() {
    let gw = start().await;
    let client = connect(&gw, 5).await;
    let contract = Contract::stock("QQQ").build();
    let mut order = order_builder::limit_order(Action::Buy, 1.0, 1.0);
    order.order_ref = "rest-1".into();
    let order_id = client.next_order_id();
    let _sub = client
        .place_order(order_id, &contract, &order)
        .await
        .unwrap();
    let mut open = client.open_orders().await.unwrap().filter_data();
    let mut seen = false;
    while let Ok(Some(o)) = tokio::time::timeout(T, open.next()).await {
        if let Orders::OrderData(d) = o.unwrap() {
            assert_eq!(d.order.order_ref, "rest-1");
            seen = true;
            break;
        }
    }
    assert!(seen);
    let _cancel = client.cancel_order(order_id, "").await.unwrap();
    tokio::time::timeout(T, async {
        while gw.controls.orders()[0].status != OrderPhase::Cancelled {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn notices_reach_the_notice_stream() {
    let gw = start().await;
    let client = connect(&gw, 6).await;
    let mut notices = client.notice_stream().unwrap();
    gw.controls.send_notice(
        1100,
        "Connectivity between IB and Trader Workstation has been lost.",
    );
    let code = tokio::time::timeout(T, async {
        loop {
            let n = notices.next().await.unwrap();
            if n.code == 1100 {
                break n.code;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 1100);
}

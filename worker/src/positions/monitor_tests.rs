//! Native tests of the position monitor over the in-memory store and a fake
//! broker behind the bridge API: adoption and fills (replays not counted
//! twice), marks and P&L to the micro-dollar, stops needing two marks, the
//! closing order placed in the run that decides the exit, refused marks
//! never acted on, a lost send resolved by key (never resent), re-pricing
//! only after the cancel is confirmed, drift pausing exits until
//! acknowledged, the entry's remainder cancelled at expiry, and a bridge
//! outage writing nothing but the failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use futures_executor::block_on;
use sas_bridge_api::account::{Position as WirePosition, PositionsBody};
use sas_bridge_api::orders::{
    Execution, ExecutionsBody, Instrument, Order, OrderAction, OrderLeg, OrderRequest, OrderStatus,
    PlaceOrderOutcome, TimeInForce,
};
use sas_core::market::{ChainExpiry, DataType, OptionChain, OptionQuote, OptionRight, Symbol};
use sas_core::strategy::{ExitPlan, ExitTrigger};

use super::memory::MemoryPositions;
use super::model::AdoptableRow;
use super::monitor::{Monitor, RunReport};
use super::service;
use super::store::PositionStore;
use super::PositionsError;
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::config::Config;

const KEY: &str = "2026-11-17-SPY-bcs-1";

fn spy() -> Symbol {
    Symbol::parse("SPY").unwrap()
}

fn expiry() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 18).unwrap()
}

fn call(strike: f64) -> Instrument {
    Instrument::Option {
        symbol: spy(),
        expiry: expiry(),
        strike,
        right: OptionRight::Call,
    }
}

/// 10:00 New York, Tuesday 2026-11-17.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap()
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: BTreeMap<&str, &str> = [
        ("API_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("BRIDGE_TOKEN", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("ENVIRONMENT", "development"),
    ]
    .into_iter()
    .collect();
    vars.extend(extra.iter().copied());
    Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap()
}

/// How the fake broker answers `POST /orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostMode {
    /// Accept and fill every unit at once at the legs' mids.
    Fill,
    /// Accept and leave working.
    Rest,
    /// Accept, then the answer is lost (timeout).
    RestThenTimeout,
}

/// A broker behind the bridge API: orders, executions (commission 0.65 per
/// contract), positions from the executions, quotes per call strike.
struct FakeBroker {
    clock: std::rc::Rc<Cell<DateTime<Utc>>>,
    orders: RefCell<Vec<Order>>,
    executions: RefCell<Vec<Execution>>,
    /// strike → (bid, ask) of the Dec-18 calls.
    market: RefCell<BTreeMap<i64, (f64, f64)>>,
    /// Quotes are stamped this long before now.
    quote_age: Cell<i64>,
    post_mode: Cell<PostMode>,
    down: Cell<bool>,
    /// Extra broker positions (a manual trade: drift).
    extra_positions: RefCell<Vec<WirePosition>>,
    posts: RefCell<Vec<String>>,
    cancels: RefCell<Vec<String>>,
    next_exec: Cell<u32>,
}

fn json_answer<T: serde::Serialize>(status: u16, body: &T) -> BridgeAnswer {
    BridgeAnswer {
        status,
        body: serde_json::to_string(body).unwrap(),
    }
}

impl FakeBroker {
    fn new(clock: std::rc::Rc<Cell<DateTime<Utc>>>) -> Self {
        let market = [(600, (11.9, 12.1)), (610, (6.9, 7.1))]
            .into_iter()
            .collect();
        FakeBroker {
            clock,
            orders: RefCell::new(Vec::new()),
            executions: RefCell::new(Vec::new()),
            market: RefCell::new(market),
            quote_age: Cell::new(5),
            post_mode: Cell::new(PostMode::Fill),
            down: Cell::new(false),
            extra_positions: RefCell::new(Vec::new()),
            posts: RefCell::new(Vec::new()),
            cancels: RefCell::new(Vec::new()),
            next_exec: Cell::new(1),
        }
    }

    fn set(&self, strike: i64, bid: f64, ask: f64) {
        self.market.borrow_mut().insert(strike, (bid, ask));
    }

    fn mid(&self, i: &Instrument) -> f64 {
        let Instrument::Option { strike, .. } = i else {
            panic!("stock")
        };
        let (b, a) = self.market.borrow()[&(*strike as i64)];
        0.5 * (b + a)
    }

    fn place(&self, req: &OrderRequest) -> Order {
        let now = self.clock.get();
        let order = Order {
            id: (self.orders.borrow().len() + 1).to_string(),
            idempotency_key: req.idempotency_key.clone(),
            legs: req.legs.clone(),
            quantity: req.quantity,
            limit_price: req.limit_price,
            tif: req.tif,
            status: OrderStatus::Submitted,
            filled_quantity: 0,
            avg_fill_price: None,
            created_at: now,
            updated_at: now,
            status_message: None,
        };
        self.orders.borrow_mut().push(order.clone());
        order
    }

    /// Fills `units` more of order `id` at the legs' mids.
    fn fill(&self, id: &str, units: u32) {
        let now = self.clock.get();
        let mut orders = self.orders.borrow_mut();
        let o = orders.iter_mut().find(|o| o.id == id).unwrap();
        for leg in &o.legs {
            let n = self.next_exec.get();
            self.next_exec.set(n + 1);
            let q = units * leg.ratio;
            self.executions.borrow_mut().push(Execution {
                exec_id: format!("e{n}"),
                order_id: o.id.clone(),
                time: now,
                instrument: leg.instrument.clone(),
                action: leg.action,
                quantity: q,
                price: self.mid(&leg.instrument),
                commission: Some(0.65 * f64::from(q)),
                idempotency_key: Some(o.idempotency_key.clone()),
                con_id: None,
            });
        }
        o.filled_quantity += units;
        o.status = if o.filled_quantity == o.quantity {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        o.updated_at = now;
    }

    fn positions(&self) -> Vec<WirePosition> {
        let mut by: BTreeMap<String, (Instrument, f64)> = BTreeMap::new();
        for e in self.executions.borrow().iter() {
            let entry = by
                .entry(e.instrument.to_string())
                .or_insert((e.instrument.clone(), 0.0));
            entry.1 += e.action.sign() * f64::from(e.quantity);
        }
        let mut out: Vec<WirePosition> = by
            .into_values()
            .filter(|(_, q)| *q != 0.0)
            .map(|(instrument, quantity)| WirePosition {
                instrument,
                quantity,
                avg_cost: 0.0,
                market_price: None,
                market_value: None,
                unrealized_pnl: None,
                con_id: None,
            })
            .collect();
        out.extend(self.extra_positions.borrow().iter().cloned());
        out
    }

    fn chain(&self, query: &str) -> OptionChain {
        let contracts = query.split("contracts=").nth(1).unwrap();
        let market = self.market.borrow();
        let quotes = contracts
            .split(',')
            .map(|c| {
                let parts: Vec<&str> = c.split(':').collect();
                let strike: f64 = parts[1].parse().unwrap();
                let (bid, ask) = market[&(strike as i64)];
                OptionQuote {
                    strike,
                    right: OptionRight::Call,
                    bid: Some(bid),
                    ask: Some(ask),
                    last: None,
                    volume: None,
                    open_interest: None,
                    greeks: sas_core::market::SourceGreeks {
                        delta: Some(0.5),
                        ..Default::default()
                    },
                }
            })
            .collect();
        OptionChain {
            symbol: spy(),
            spot: 605.0,
            as_of: self.clock.get() - Duration::seconds(self.quote_age.get()),
            data_type: DataType::Live,
            dividend_yield: None,
            expiries: vec![ChainExpiry {
                expiry: expiry(),
                dte: 31,
                contracts: quotes,
            }],
        }
    }
}

impl Bridge for FakeBroker {
    async fn get(&self, path: &str, _t: u32) -> Result<BridgeAnswer, BridgeFailure> {
        if self.down.get() {
            return Err(BridgeFailure::Unreachable("connection refused".into()));
        }
        if path == "/executions" {
            let executions = self.executions.borrow().clone();
            return Ok(json_answer(200, &ExecutionsBody { executions }));
        }
        if path == "/positions" {
            return Ok(json_answer(
                200,
                &PositionsBody {
                    positions: self.positions(),
                },
            ));
        }
        if path == "/account" {
            return Ok(json_answer(
                200,
                &serde_json::json!({ "account_id": "DU1", "net_liquidation": 100000.0,
                    "cash": 90000.0, "buying_power": 180000.0, "currency": "USD",
                    "as_of": self.clock.get() }),
            ));
        }
        if let Some(key) = path.strip_prefix("/orders/by-key/") {
            return Ok(
                match self
                    .orders
                    .borrow()
                    .iter()
                    .find(|o| o.idempotency_key == key)
                {
                    Some(o) => json_answer(200, o),
                    None => json_answer(
                        404,
                        &serde_json::json!({ "error": "order_not_found", "message": "no order" }),
                    ),
                },
            );
        }
        if path.starts_with("/chain?") {
            return Ok(json_answer(200, &self.chain(path)));
        }
        panic!("unexpected GET {path}")
    }

    async fn post_json(
        &self,
        path: &str,
        body: &str,
        _t: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        if self.down.get() {
            return Err(BridgeFailure::Unreachable("connection refused".into()));
        }
        if path == "/orders" {
            self.posts.borrow_mut().push(body.to_owned());
            let req: OrderRequest = serde_json::from_str(body).unwrap();
            if let Some(o) = self
                .orders
                .borrow()
                .iter()
                .find(|o| o.idempotency_key == req.idempotency_key)
            {
                return Ok(json_answer(
                    200,
                    &PlaceOrderOutcome {
                        order: o.clone(),
                        duplicate: true,
                    },
                ));
            }
            let order = self.place(&req);
            return match self.post_mode.get() {
                PostMode::Fill => {
                    self.fill(&order.id, order.quantity);
                    let o = self.orders.borrow().last().cloned().unwrap();
                    Ok(json_answer(
                        201,
                        &PlaceOrderOutcome {
                            order: o,
                            duplicate: false,
                        },
                    ))
                }
                PostMode::Rest => Ok(json_answer(
                    201,
                    &PlaceOrderOutcome {
                        order,
                        duplicate: false,
                    },
                )),
                PostMode::RestThenTimeout => Err(BridgeFailure::Timeout { after_ms: 30_000 }),
            };
        }
        if let Some(id) = path
            .strip_prefix("/orders/")
            .and_then(|p| p.strip_suffix("/cancel"))
        {
            self.cancels.borrow_mut().push(id.to_owned());
            let mut orders = self.orders.borrow_mut();
            let o = orders.iter_mut().find(|o| o.id == id).unwrap();
            if o.status.is_open() {
                o.status = OrderStatus::Cancelled;
                o.updated_at = self.clock.get();
            }
            return Ok(json_answer(200, &*o));
        }
        panic!("unexpected POST {path}")
    }
}

struct World {
    store: MemoryPositions,
    broker: FakeBroker,
    cfg: Config,
    clock: std::rc::Rc<Cell<DateTime<Utc>>>,
    logs: RefCell<Vec<String>>,
}

fn plan() -> ExitPlan {
    ExitPlan {
        take_profit: ExitTrigger {
            pnl: 250.0,
            mark_value: 7.5,
        },
        stop_loss: ExitTrigger {
            pnl: -250.0,
            mark_value: 2.5,
        },
        stop_capped_at_max_loss: false,
        time_exit_dte: 7,
        time_exit_date: NaiveDate::from_ymd_opt(2026, 12, 11).unwrap(),
        trailing_stop_fraction: None,
    }
}

fn entry_request(units: u32) -> OrderRequest {
    OrderRequest {
        idempotency_key: KEY.into(),
        legs: vec![
            OrderLeg {
                instrument: call(600.0),
                action: OrderAction::Buy,
                ratio: 1,
            },
            OrderLeg {
                instrument: call(610.0),
                action: OrderAction::Sell,
                ratio: 1,
            },
        ],
        quantity: units,
        limit_price: 5.0,
        tif: TimeInForce::Day,
    }
}

impl World {
    fn new(extra: &[(&str, &str)]) -> Self {
        let clock = std::rc::Rc::new(Cell::new(t0()));
        World {
            store: MemoryPositions::new(),
            broker: FakeBroker::new(clock.clone()),
            cfg: config(extra),
            clock,
            logs: RefCell::new(Vec::new()),
        }
    }

    /// An approved proposal whose entry the bridge accepted; `filled` units
    /// fill at once.
    fn approved_entry(&self, units: u32, filled: u32) {
        let req = entry_request(units);
        let order = self.broker.place(&req);
        if filled > 0 {
            self.broker.fill(&order.id, filled);
        }
        self.store.0.borrow_mut().adoptable.push(AdoptableRow {
            id: 1,
            idempotency_key: KEY.into(),
            symbol: "SPY".into(),
            strategy: "bull_call_debit_spread".into(),
            exit_plan: serde_json::to_string(&plan()).unwrap(),
            order_request: Some(serde_json::to_string(&req).unwrap()),
            order_id: Some(order.id),
            expires_at: (t0() + Duration::hours(5)).timestamp_millis(),
            approved_limit_price: Some(5.0),
        });
    }

    fn run(&self) -> RunReport {
        let clock = self.clock.clone();
        let now = move || clock.get();
        let log = |event: &str, v: serde_json::Value| {
            self.logs.borrow_mut().push(format!("{event} {v}"));
        };
        let m = Monitor {
            store: &self.store,
            bridge: &self.broker,
            cfg: &self.cfg,
            now: &now,
            log: &log,
        };
        block_on(m.run())
    }

    fn advance(&self, secs: i64) {
        self.clock.set(self.clock.get() + Duration::seconds(secs));
    }

    fn position(&self) -> super::model::PositionRow {
        self.store.0.borrow().positions[0].clone()
    }

    fn exit_posts(&self) -> Vec<OrderRequest> {
        self.broker
            .posts
            .borrow()
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect()
    }

    fn audit_actions(&self) -> Vec<&'static str> {
        self.store
            .0
            .borrow()
            .audit
            .iter()
            .map(|a| a.action.as_str())
            .collect()
    }
}

#[test]
fn a_filled_entry_becomes_an_open_position_marked_at_mid_and_natural() {
    let w = World::new(&[]);
    w.approved_entry(2, 2);
    let r = w.run();
    assert_eq!(r.status, "ok", "{r:?} {:?}", w.logs.borrow());
    let p = w.position();
    assert_eq!(p.status, "open");
    let t = w.store.0.borrow();
    assert_eq!(t.fills.len(), 2);
    let mark = t.marks.last().unwrap();
    assert_eq!(mark.ok, 1);
    // Cost 2 × (12.00 − 7.00) × 100 = 1000; value at mid the same; at natural
    // (sell 600C at 11.9, buy back 610C at 7.1) 960.
    assert_eq!(mark.unrealized_mid_micros, Some(0));
    assert_eq!(mark.unrealized_natural_micros, Some(-40_000_000));
    // Realized so far: minus the entry's commissions (4 contracts × 0.65).
    assert_eq!(p.realized_micros, -2_600_000);
    assert!(w.audit_actions().contains(&"position_tracked"));
    assert!(w.audit_actions().contains(&"fills_recorded"));
    assert!(w.audit_actions().contains(&"position_state_changed"));
    assert_eq!(t.equity.len(), 1);
    assert_eq!(t.equity[0].net_liquidation, Some(100_000.0));
}

#[test]
fn replayed_executions_are_recorded_once() {
    let w = World::new(&[]);
    w.approved_entry(2, 2);
    w.run();
    // IB resends the day's fills after a reconnect: the same exec ids again.
    let replay = w.broker.executions.borrow().clone();
    w.broker.executions.borrow_mut().extend(replay);
    w.advance(60);
    w.run();
    let t = w.store.0.borrow();
    assert_eq!(t.fills.len(), 2);
    assert_eq!(t.positions[0].realized_micros, -2_600_000);
    let summary: sas_core::portfolio::Position =
        serde_json::from_str(t.positions[0].summary.as_deref().unwrap()).unwrap();
    assert_eq!(summary.open_units(), 2);
}

#[test]
fn a_stop_fires_on_the_second_mark_and_the_closing_order_goes_out_in_that_run() {
    let w = World::new(&[]);
    w.approved_entry(2, 2);
    w.run();
    // Spread value 2.50: P&L per unit −250, at the stop.
    w.broker.set(600, 8.9, 9.1);
    w.broker.set(610, 6.4, 6.6);
    w.advance(60);
    let first = w.run();
    assert!(first.exits_triggered.is_empty());
    assert!(
        w.exit_posts().is_empty(),
        "one mark beyond the stop is not enough"
    );
    w.advance(60);
    let second = w.run();
    assert_eq!(second.exits_triggered, vec![(1, "stop_loss".to_owned())]);
    let posts = w.exit_posts();
    assert_eq!(
        posts.len(),
        1,
        "the closing order is sent in the run that fired"
    );
    let close = &posts[0];
    assert_eq!(close.idempotency_key, format!("{KEY}:x0"));
    assert_eq!(close.quantity, 2);
    // Sell the 600 call, buy back the 610: a credit of 2.50 at mid.
    assert!((close.limit_price + 2.5).abs() < 1e-9, "{close:?}");
    // It filled at once (fake): the next run closes the position exactly.
    w.advance(60);
    w.run();
    let p = w.position();
    assert_eq!(p.status, "closed");
    // (9.00 − 12.00) × 200 + (7.00 − 6.50) × 200 − 8 contracts × 0.65 = −505.20
    assert_eq!(p.realized_micros, -505_200_000);
    assert_eq!(p.exit_reason.as_deref(), Some("stop_loss"));
    let t = w.store.0.borrow();
    assert!(t.marks.iter().all(|m| m.position_id == 1));
}

#[test]
fn an_untrustworthy_mark_is_recorded_and_never_acted_on() {
    let w = World::new(&[]);
    w.approved_entry(1, 1);
    w.run();
    // Deep beyond the stop, but the quotes are five minutes old.
    w.broker.set(600, 6.9, 7.1);
    w.broker.quote_age.set(300);
    for _ in 0..3 {
        w.advance(60);
        let r = w.run();
        assert_eq!(r.marks_rejected, 1);
        assert!(r.exits_triggered.is_empty());
    }
    assert!(w.exit_posts().is_empty());
    let t = w.store.0.borrow();
    let last = t.marks.last().unwrap();
    assert_eq!(last.ok, 0);
    assert!(last.decision.contains("stale"), "{}", last.decision);
    // Crossed quotes: refused too.
    drop(t);
    w.broker.quote_age.set(5);
    w.broker.set(600, 7.2, 7.0);
    w.advance(60);
    let r = w.run();
    assert_eq!(r.marks_rejected, 1);
    assert!(w.exit_posts().is_empty());
}

#[test]
fn a_lost_send_stays_unknown_and_is_resolved_by_key_never_resent() {
    let w = World::new(&[]);
    w.approved_entry(1, 1);
    w.run();
    w.broker.post_mode.set(PostMode::RestThenTimeout);
    let view = block_on(service::request_close(&w.store, 1, "api_token", None, 0)).unwrap();
    assert_eq!(view.status, "closing");
    w.advance(60);
    w.run();
    assert_eq!(w.exit_posts().len(), 1);
    let status = |w: &World| w.store.0.borrow().orders.last().unwrap().status.clone();
    assert_eq!(status(&w), "unknown");
    // Next runs read the broker by key: the order is working there.
    w.broker.post_mode.set(PostMode::Rest);
    w.advance(30);
    w.run();
    assert_eq!(status(&w), "working");
    assert_eq!(w.exit_posts().len(), 1, "never sent twice");
    // A second close request is refused with the state.
    let err = block_on(service::request_close(&w.store, 1, "api_token", None, 0)).unwrap_err();
    assert!(matches!(
        err,
        PositionsError::Conflict {
            code: "already_closing",
            ..
        }
    ));
}

#[test]
fn a_resting_closing_order_is_repriced_only_after_its_cancel_is_confirmed() {
    let w = World::new(&[]);
    w.approved_entry(1, 1);
    w.run();
    w.broker.post_mode.set(PostMode::Rest);
    block_on(service::request_close(&w.store, 1, "api_token", None, 0)).unwrap();
    w.advance(60);
    w.run();
    assert_eq!(w.exit_posts().len(), 1);
    // 60 s later: cancel, no new order in the same run.
    w.advance(60);
    let r = w.run();
    assert_eq!(r.cancels, 1);
    assert_eq!(w.exit_posts().len(), 1);
    // The broker confirmed the cancel: attempt 1, at least as aggressive.
    w.advance(60);
    w.run();
    let posts = w.exit_posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].idempotency_key, format!("{KEY}:x1"));
    assert!(posts[1].limit_price >= posts[0].limit_price);
    let live = w
        .store
        .0
        .borrow()
        .orders
        .iter()
        .filter(|o| {
            o.purpose == "exit"
                && !matches!(
                    o.status.as_str(),
                    "cancelled" | "filled" | "rejected" | "inactive"
                )
        })
        .count();
    assert_eq!(live, 1, "never two live closing orders");
}

#[test]
fn a_drift_pauses_the_exit_and_blocks_until_acknowledged() {
    let w = World::new(&[]);
    w.approved_entry(1, 1);
    w.run();
    // Someone traded 610 calls at the broker by hand.
    w.broker.extra_positions.borrow_mut().push(WirePosition {
        instrument: call(620.0),
        quantity: 3.0,
        avg_cost: 1.0,
        market_price: None,
        market_value: None,
        unrealized_pnl: None,
        con_id: None,
    });
    w.advance(60);
    w.run();
    assert!(
        !w.store.0.borrow().reconciliation.standing(),
        "one sighting is not a drift"
    );
    w.advance(60);
    w.run();
    let recon = w.store.0.borrow().reconciliation.clone();
    assert!(recon.standing());
    assert!(w.audit_actions().contains(&"drift_detected"));
    // Beyond the stop (spread value 1.00): paused, nothing sent.
    w.broker.set(600, 7.9, 8.1);
    for _ in 0..3 {
        w.advance(60);
        assert!(w.run().exits_triggered.is_empty());
    }
    assert!(w.exit_posts().is_empty());
    // The trader acknowledges: the stop fires (two confirmations) and closes.
    let fp = recon.fingerprint.clone().unwrap();
    assert!(matches!(
        block_on(service::acknowledge(&w.store, "wrong", "api_token", "", 0)),
        Err(PositionsError::ReconciliationConflict { .. })
    ));
    block_on(service::acknowledge(
        &w.store,
        &fp,
        "api_token",
        "manual hedge",
        0,
    ))
    .unwrap();
    assert!(!w.store.0.borrow().reconciliation.standing());
    w.advance(60);
    w.run();
    w.advance(60);
    let r = w.run();
    assert_eq!(r.exits_triggered, vec![(1, "stop_loss".to_owned())]);
    assert_eq!(w.exit_posts().len(), 1);
}

#[test]
fn a_partial_entry_is_a_partial_position_and_its_remainder_is_cancelled_at_expiry() {
    let w = World::new(&[]);
    w.approved_entry(3, 1);
    w.run();
    let p = w.position();
    assert_eq!(p.status, "open");
    let summary: sas_core::portfolio::Position =
        serde_json::from_str(p.summary.as_deref().unwrap()).unwrap();
    assert_eq!((summary.entry_filled_units, summary.planned_units), (1, 3));
    assert_eq!(w.store.0.borrow().orders[0].status, "partially_filled");
    assert!(w.broker.cancels.borrow().is_empty());
    // The proposal expires: the remainder is cancelled, the filled unit stays.
    w.advance(5 * 3600);
    w.run();
    assert_eq!(w.broker.cancels.borrow().len(), 1);
    w.advance(60);
    w.run();
    assert_eq!(w.store.0.borrow().orders[0].status, "cancelled");
    assert_eq!(w.position().status, "open");
}

#[test]
fn a_bridge_outage_writes_nothing_but_the_failed_run() {
    let w = World::new(&[]);
    w.approved_entry(1, 1);
    w.run();
    let before = w.store.0.borrow().clone();
    w.broker.down.set(true);
    w.advance(60);
    let r = w.run();
    assert_eq!(r.status, "failed");
    let t = w.store.0.borrow();
    assert_eq!(t.marks.len(), before.marks.len());
    assert_eq!(t.equity.len(), before.equity.len());
    assert_eq!(t.positions, before.positions);
    assert_eq!(t.runs.last().unwrap().status, "failed");
}

#[test]
fn a_take_profit_closes_with_realized_equal_to_fills_minus_commissions() {
    let w = World::new(&[]);
    w.approved_entry(2, 2);
    w.run();
    // Spread value 7.50: +250 per unit.
    w.broker.set(600, 14.4, 14.6);
    w.broker.set(610, 6.9, 7.1);
    w.advance(60);
    let r = w.run();
    assert_eq!(r.exits_triggered, vec![(1, "take_profit".to_owned())]);
    w.advance(60);
    w.run();
    let p = w.position();
    assert_eq!(p.status, "closed");
    // (14.50 − 12.00) × 200 + (7.00 − 7.00) × 200 − 8 × 0.65 = 494.80
    assert_eq!(p.realized_micros, 494_800_000);
    // The alerts of the fills and the exit went out with the writes.
    {
        use sas_core::alerts::AlertEvent;
        let t = w.store.0.borrow();
        let fills: Vec<_> = t
            .events
            .iter()
            .filter_map(|e| match e {
                AlertEvent::Filled {
                    order_key, filled, ..
                } => Some((order_key.clone(), *filled)),
                _ => None,
            })
            .collect();
        assert_eq!(fills, vec![(KEY.to_owned(), 2), (format!("{KEY}:x0"), 2)]);
        let exits: Vec<_> = t
            .events
            .iter()
            .filter_map(|e| match e {
                AlertEvent::Exited { rule, pnl, .. } => Some((rule.clone(), pnl.micros())),
                _ => None,
            })
            .collect();
        assert_eq!(exits, vec![("take_profit".to_owned(), 494_800_000)]);
    }
    let pnl = block_on(service::pnl(&w.store, 30, w.clock.get())).unwrap();
    assert!((pnl.realized - 494.8).abs() < 1e-9);
    assert_eq!(pnl.by_day.len(), 1);
    // Closed: marks compacted later in D1; the API still answers the detail.
    let d = block_on(service::detail(&w.store, 1, w.clock.get(), 2)).unwrap();
    assert_eq!(d.fills.len(), 4);
    assert!(matches!(
        block_on(service::detail(&w.store, 9, w.clock.get(), 2)),
        Err(PositionsError::NotFound(9))
    ));
}

#[test]
fn two_monitors_never_overlap() {
    let w = World::new(&[]);
    let id = block_on(w.store.begin_run(t0().timestamp_millis(), 120_000)).unwrap();
    assert!(id.is_some());
    let r = w.run();
    assert_eq!(r.status, "skipped");
}

#[test]
fn a_quiet_run_writes_only_the_marks_equity_and_run() {
    let w = World::new(&[]);
    w.approved_entry(2, 2);
    w.run();
    let audit_before = w.store.0.borrow().audit.len();
    w.advance(60);
    let r = w.run();
    // One mark, one equity snapshot, the reconciliation check, the run's
    // start and end: nothing about an order or a position that did not change.
    assert_eq!(
        w.store.0.borrow().audit.len(),
        audit_before,
        "{:?}",
        w.audit_actions()
    );
    assert!(r.rows_written <= 5, "{r:?}");
}

#[test]
fn exits_wait_while_the_data_quality_gate_holds_the_symbol() {
    let w = World::new(&[]);
    w.approved_entry(2, 2);
    w.run();
    // At the stop twice, but the quotes are 400 s old (past the gate's 300 s).
    w.broker.set(600, 8.9, 9.1);
    w.broker.set(610, 6.4, 6.6);
    w.broker.quote_age.set(400);
    for _ in 0..3 {
        w.advance(60);
        let r = w.run();
        assert!(r.exits_triggered.is_empty(), "{r:?}");
    }
    assert!(w.exit_posts().is_empty(), "no exit on stale data");
    {
        let t = w.store.0.borrow();
        let d: serde_json::Value = serde_json::from_str(&t.marks.last().unwrap().decision).unwrap();
        assert_eq!(d["decision"], "paused", "{d}");
        assert_eq!(d["by"], "data_quality");
        assert_eq!(d["data_quality"]["SPY"]["state"], "failing");
        assert_eq!(d["data_quality"]["SPY"]["reasons"][0]["kind"], "stale");
    }
    // Fresh data again: the stop fires on the next two marks.
    w.broker.quote_age.set(5);
    w.advance(60);
    w.run();
    w.advance(60);
    let r = w.run();
    assert_eq!(r.exits_triggered, vec![(1, "stop_loss".to_owned())]);
}

#[test]
fn every_exit_paused_is_evaluated_and_shown_never_sent_and_the_traders_close_still_goes() {
    let w = World::new(&[]);
    w.approved_entry(2, 2);
    w.run();
    w.store.0.borrow_mut().all_exits_paused = true;
    // At the stop for three marks: evaluated, shown as what it would do.
    w.broker.set(600, 8.9, 9.1);
    w.broker.set(610, 6.4, 6.6);
    for _ in 0..3 {
        w.advance(60);
        let r = w.run();
        assert!(r.exits_triggered.is_empty(), "{r:?}");
    }
    assert!(w.exit_posts().is_empty(), "no exit is sent while paused");
    {
        let t = w.store.0.borrow();
        let d: serde_json::Value = serde_json::from_str(&t.marks.last().unwrap().decision).unwrap();
        assert_eq!(d["decision"], "paused", "{d}");
        assert_eq!(d["by"], "all_exits_paused");
        assert_eq!(d["would"]["decision"], "exit", "{d}");
        assert_eq!(d["would"]["reason"], "stop_loss", "{d}");
    }
    assert_eq!(w.position().status, "open");
    // The trader's own close runs while every automated exit is paused.
    block_on(service::request_close(&w.store, 1, "api_token", None, 0)).unwrap();
    w.advance(60);
    w.run();
    let posts = w.exit_posts();
    assert_eq!(posts.len(), 1, "the trader's close goes out");
    assert_eq!(posts[0].idempotency_key, format!("{KEY}:x0"));
}

//! Native tests of every approval workflow over the in-memory store and a
//! fake bridge, including the races and failures: two approvals at once,
//! approve vs expiry, the kill switch (on, and flipped between approval and
//! send), a bridge timeout during submission, the cron resolving unknown by
//! key, a D1 batch failure after the order was sent, and retries outside
//! the window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_executor::block_on;
use sas_bridge_api::orders::{Order, OrderRequest};
use sas_core::market::{OptionChain, Symbol};
use sas_core::strategy::synthetic::{synthetic_chain, SyntheticChainSpec};
use sas_core::strategy::Proposal;

use super::memory::{MemoryStore, Op};
use super::service::{ApprovalError, Deps};
use super::OrderState;
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::config::Config;
use crate::proposals::{ProposalRecord, ProposalStatus};

const ID: i64 = 1;

/// Yields once, so that two workflows driven together interleave at every
/// bridge call (as two Worker requests would).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// How the fake bridge answers `POST /orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostMode {
    /// 201 with the new order.
    Place,
    /// Places the order, then the answer is lost (timeout).
    PlaceThenTimeout,
    /// 409 `trading_halted`: definitely not placed.
    Halted,
}

/// A bridge body of an order built from the request the Worker sent (the
/// one place the tests spell `Order`: a field the bridge adds costs one
/// line here).
fn order_from_request(request: &str, id: usize) -> Order {
    let mut v: serde_json::Value = serde_json::from_str(request).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.insert("id".into(), id.to_string().into());
    obj.insert("status".into(), "submitted".into());
    obj.insert("filled_quantity".into(), 0.into());
    obj.insert("avg_fill_price".into(), serde_json::Value::Null);
    obj.insert("created_at".into(), "2026-11-17T15:00:00Z".into());
    obj.insert("updated_at".into(), "2026-11-17T15:00:00Z".into());
    obj.insert("status_message".into(), serde_json::Value::Null);
    serde_json::from_value(v).unwrap()
}

/// Called with each path the fake bridge is asked.
type Hook = Box<dyn FnMut(&str)>;

struct FakeBridge {
    account_id: String,
    chain: OptionChain,
    post_mode: Cell<PostMode>,
    lookup_down: Cell<bool>,
    /// Orders the broker has, by key.
    orders: RefCell<BTreeMap<String, Order>>,
    /// Every `POST /orders` body received.
    posts: RefCell<Vec<String>>,
    /// Every path asked, in order.
    calls: RefCell<Vec<String>>,
    /// Called with each path before it is answered (flip the kill switch,
    /// move the clock).
    hook: RefCell<Hook>,
}

impl FakeBridge {
    fn new(chain: OptionChain) -> Self {
        Self {
            account_id: "DU1234567".into(),
            chain,
            post_mode: Cell::new(PostMode::Place),
            lookup_down: Cell::new(false),
            orders: RefCell::default(),
            posts: RefCell::default(),
            calls: RefCell::default(),
            hook: RefCell::new(Box::new(|_| {})),
        }
    }

    fn on_call(&self, f: impl FnMut(&str) + 'static) {
        *self.hook.borrow_mut() = Box::new(f);
    }

    fn posts(&self) -> usize {
        self.posts.borrow().len()
    }

    fn calls_to(&self, prefix: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }

    fn answer(status: u16, body: impl serde::Serialize) -> Result<BridgeAnswer, BridgeFailure> {
        Ok(BridgeAnswer {
            status,
            body: serde_json::to_string(&body).unwrap(),
        })
    }
}

impl Bridge for FakeBridge {
    async fn get(&self, path: &str, timeout_ms: u32) -> Result<BridgeAnswer, BridgeFailure> {
        YieldOnce(false).await;
        self.calls.borrow_mut().push(path.to_owned());
        (self.hook.borrow_mut())(path);
        if path == "/account" {
            return Self::answer(
                200,
                serde_json::json!({ "account_id": self.account_id, "net_liquidation": 100000.0,
                    "cash": 100000.0, "buying_power": 200000.0, "currency": "USD",
                    "as_of": "2026-11-17T15:00:00Z" }),
            );
        }
        if path.starts_with("/chain?") {
            return Self::answer(200, &self.chain);
        }
        if let Some(key) = path.strip_prefix("/orders/by-key/") {
            if self.lookup_down.get() {
                return Err(BridgeFailure::Timeout {
                    after_ms: timeout_ms,
                });
            }
            return match self.orders.borrow().get(key) {
                Some(o) => Self::answer(200, o),
                None => Self::answer(
                    404,
                    serde_json::json!({ "error": "order_not_found", "message": "none" }),
                ),
            };
        }
        Self::answer(
            404,
            serde_json::json!({ "error": "not_found", "message": path }),
        )
    }

    async fn post_json(
        &self,
        path: &str,
        body: &str,
        timeout_ms: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        YieldOnce(false).await;
        self.calls.borrow_mut().push(format!("POST {path}"));
        (self.hook.borrow_mut())(&format!("POST {path}"));
        if path == "/halt" {
            return Self::answer(200, serde_json::json!({ "halted": false }));
        }
        assert_eq!(path, "/orders");
        self.posts.borrow_mut().push(body.to_owned());
        let request: OrderRequest = serde_json::from_str(body).expect("a bridge order request");
        assert_eq!(request.validate(), Ok(()));
        match self.post_mode.get() {
            PostMode::Halted => Self::answer(
                409,
                serde_json::json!({ "error": "trading_halted", "message": "halted" }),
            ),
            mode => {
                let n = self.orders.borrow().len() + 1;
                let order = order_from_request(body, n);
                self.orders
                    .borrow_mut()
                    .insert(request.idempotency_key.clone(), order.clone());
                if mode == PostMode::PlaceThenTimeout {
                    return Err(BridgeFailure::Timeout {
                        after_ms: timeout_ms,
                    });
                }
                Self::answer(
                    201,
                    serde_json::json!({ "order": order, "duplicate": false }),
                )
            }
        }
    }
}

/// 10:00 New York on a Tuesday: market open, before the order deadline.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap()
}

fn config() -> Config {
    let vars: BTreeMap<&str, &str> = [
        ("API_TOKEN", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("BRIDGE_TOKEN", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("ENVIRONMENT", "development"),
        // The fake bridge's account is stamped at t0: a cron's resend 15
        // minutes later still reads it as fresh.
        ("RISK_ACCOUNT_MAX_AGE_SECS", "3600"),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap()
}

struct World {
    store: MemoryStore,
    bridge: FakeBridge,
    cfg: Config,
    clock: std::rc::Rc<Cell<DateTime<Utc>>>,
    logs: RefCell<Vec<String>>,
    proposal: Proposal,
    /// The risk engine's data: healthy at the clock's start (fresh equity,
    /// books reconciled, the bridge seen, daily bars of AAPL).
    risk: crate::risk::memory::MemoryRisk,
}

impl World {
    /// One pending proposal (id 1) made at [`t0`], the kill switch off.
    fn new() -> Self {
        let proposal = crate::proposals::tests_support::one_proposal();
        let chain = synthetic_chain(&SyntheticChainSpec::liquid(
            Symbol::parse("AAPL").unwrap(),
            200.0,
            t0(),
        ));
        let store = MemoryStore::new();
        store.insert(ID, &ProposalRecord::from_proposal(&proposal).unwrap());
        Self {
            store,
            bridge: FakeBridge::new(chain),
            cfg: config(),
            clock: std::rc::Rc::new(Cell::new(t0() + Duration::minutes(5))),
            logs: RefCell::default(),
            proposal,
            risk: crate::risk::workflow_tests::world_at(t0() + Duration::minutes(5)),
        }
    }

    fn run<T>(
        &self,
        f: impl AsyncFnOnce(&Deps<'_, MemoryStore, FakeBridge, crate::risk::memory::MemoryRisk>) -> T,
    ) -> T {
        let clock = self.clock.clone();
        let now = move || clock.get();
        let log = |event: &str, detail: serde_json::Value| {
            self.logs.borrow_mut().push(format!("{event} {detail}"));
        };
        let deps = Deps {
            store: &self.store,
            bridge: &self.bridge,
            risk: &self.risk,
            cfg: &self.cfg,
            now: &now,
            log: &log,
        };
        block_on(f(&deps))
    }

    fn approve(&self) -> Result<super::service::Approved, ApprovalError> {
        self.run(async |d| d.approve(ID, "token:test", Some("ok")).await)
    }

    fn cron(&self) -> (usize, usize, bool) {
        self.run(async |d| d.cron_orders().await)
    }

    fn advance(&self, d: Duration) {
        self.clock.set(self.clock.get() + d);
    }

    fn order_state(&self) -> Option<OrderState> {
        self.store.row(ID).order_status
    }

    fn audit_of(&self, action: &str) -> usize {
        self.store
            .actions()
            .iter()
            .filter(|a| **a == action)
            .count()
    }
}

fn conflict_code(e: &ApprovalError) -> &'static str {
    match e {
        ApprovalError::Conflict { code, .. } => code,
        other => panic!("expected a 409, got {other:?}"),
    }
}

#[test]
fn approve_sends_the_stored_order_once_with_its_audit_rows() {
    let w = World::new();
    let a = w.approve().unwrap();
    assert_eq!(a.row.status, ProposalStatus::Approved);
    assert_eq!(a.order_error, None);
    assert_eq!(w.order_state(), Some(OrderState::Submitted));
    assert_eq!(w.store.row(ID).order_attempts, 1);
    assert_eq!(w.bridge.posts(), 1);
    // The body sent is the body stored, carrying the proposal's key.
    let stored = w.store.proposals.borrow()[&ID]
        .order_request
        .clone()
        .unwrap();
    assert_eq!(w.bridge.posts.borrow()[0], stored);
    let sent: OrderRequest = serde_json::from_str(&stored).unwrap();
    assert_eq!(sent.idempotency_key, w.proposal.idempotency_key);
    assert_eq!(
        w.store.actions(),
        vec!["proposal_approved", "order_submitted"]
    );
    // Paper account checked before the approval and again before the send.
    assert_eq!(w.bridge.calls_to("/account"), 2);
}

#[test]
fn two_approvals_at_once_exactly_one_wins() {
    let w = World::new();
    let (a, b) = w.run(async |d| {
        futures_util::future::join(
            d.approve(ID, "token:a", None),
            d.approve(ID, "token:b", None),
        )
        .await
    });
    // Both passed the first checks (both re-priced) ...
    assert_eq!(w.bridge.calls_to("/chain?"), 2);
    // ... and exactly one conditional update won.
    let (won, lost) = match (a, b) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("expected one winner: {other:?}"),
    };
    assert_eq!(won.row.status, ProposalStatus::Approved);
    assert_eq!(conflict_code(&lost), "invalid_state");
    assert_eq!(w.bridge.posts(), 1, "one order sent");
    assert_eq!(w.audit_of("proposal_approved"), 1);
    assert_eq!(w.audit_of("order_submitted"), 1);
}

#[test]
fn approve_loses_against_expiry_during_repricing() {
    let w = World::new();
    let expires_at = w.store.row(ID).expires_at;
    let clock = w.clock.clone();
    w.bridge.on_call(move |path| {
        if path.starts_with("/chain?") {
            clock.set(DateTime::from_timestamp_millis(expires_at).unwrap());
        }
    });
    let e = w.approve().unwrap_err();
    assert_eq!(conflict_code(&e), "invalid_state");
    let row = w.store.row(ID);
    assert_eq!(row.status, ProposalStatus::Expired);
    assert_eq!(row.decided_by.as_deref(), Some("system:expiry"));
    assert_eq!(w.store.actions(), vec!["proposal_expired"]);
    assert_eq!(w.bridge.posts(), 0);
}

#[test]
fn an_overdue_proposal_is_expired_not_approved() {
    let w = World::new();
    w.store
        .update(ID, |r| r.expires_at = t0().timestamp_millis());
    let e = w.approve().unwrap_err();
    assert_eq!(conflict_code(&e), "invalid_state");
    assert_eq!(w.store.row(ID).status, ProposalStatus::Expired);
    assert_eq!(w.bridge.calls_to(""), 0, "nothing asked of the bridge");
}

#[test]
fn kill_switch_on_refuses_the_approval() {
    let w = World::new();
    w.store.set_switch("on", 0);
    let e = w.approve().unwrap_err();
    assert_eq!(conflict_code(&e), "kill_switch_on");
    assert_eq!(w.store.row(ID).status, ProposalStatus::Pending);
    assert!(w.store.actions().is_empty());
    assert_eq!(w.bridge.posts(), 0);
    // An unreadable switch refuses too (fails closed: 500, nothing changed).
    w.store.set_switch("off", 0);
    w.store.fail_next(Op::KillSwitchRead, 1);
    assert!(matches!(
        w.approve().unwrap_err(),
        ApprovalError::Store { .. }
    ));
    assert_eq!(w.store.row(ID).status, ProposalStatus::Pending);
}

#[test]
fn a_standing_reconciliation_drift_refuses_the_approval() {
    let w = World::new();
    w.store.drift.set(true);
    let e = w.approve().unwrap_err();
    assert_eq!(conflict_code(&e), "reconciliation_drift");
    assert_eq!(w.store.row(ID).status, ProposalStatus::Pending);
    assert_eq!(w.bridge.posts(), 0);
    assert!(w.store.actions().is_empty());
    // The conditional update itself also refuses while a drift stands.
    assert!(super::APPROVE.contains("FROM reconciliation"));
}

#[test]
fn kill_switch_flipped_before_the_conditional_update_blocks_it() {
    let w = World::new();
    // On while the approval re-prices: the checks before passed, the one
    // conditional update (which reads the switch itself) does not.
    let switch = w.store.kill_switch.clone();
    w.bridge.on_call(move |path| {
        if path.starts_with("/chain?") {
            super::memory::set_switch(&switch, "on", 1);
        }
    });
    let e = w.approve().unwrap_err();
    assert_eq!(conflict_code(&e), "kill_switch_on");
    assert_eq!(w.store.row(ID).status, ProposalStatus::Pending);
    assert_eq!(w.bridge.posts(), 0);
    assert!(w.store.actions().is_empty());
}

#[test]
fn kill_switch_flipped_between_approval_and_send_sends_nothing() {
    let w = World::new();
    // The second /account call is the paper check after the approval won,
    // right before the send: the switch goes on there.
    let switch = w.store.kill_switch.clone();
    let mut accounts = 0;
    w.bridge.on_call(move |path| {
        if path == "/account" {
            accounts += 1;
            if accounts == 2 {
                super::memory::set_switch(&switch, "on", 1);
            }
        }
    });
    let a = w.approve().unwrap();
    assert_eq!(a.row.status, ProposalStatus::Approved);
    assert_eq!(w.order_state(), Some(OrderState::Abandoned));
    assert!(a.order_error.unwrap().contains("kill switch"));
    assert_eq!(w.bridge.posts(), 0, "nothing sent");
    assert_eq!(
        w.store.actions(),
        vec!["proposal_approved", "order_abandoned"]
    );
}

#[test]
fn not_a_paper_account_refuses_the_approval() {
    let mut w = World::new();
    w.bridge.account_id = "U1234567".into();
    let e = w.approve().unwrap_err();
    assert!(matches!(
        e,
        ApprovalError::BrokerCheck(super::BrokerCheckError::NotPaper)
    ));
    assert_eq!(w.store.row(ID).status, ProposalStatus::Pending);
    assert_eq!(w.bridge.posts(), 0);
}

#[test]
fn bridge_timeout_during_submission_is_unknown_and_resolved_by_key() {
    let w = World::new();
    w.bridge.post_mode.set(PostMode::PlaceThenTimeout);
    let a = w.approve().unwrap();
    assert_eq!(w.order_state(), Some(OrderState::Unknown));
    assert!(a.order_error.unwrap().contains("did not answer"));
    assert_eq!(w.bridge.posts(), 1);
    assert_eq!(w.audit_of("order_unknown"), 1);
    // The cron asks by key while the lookup is down: still unknown, no send.
    w.bridge.lookup_down.set(true);
    w.advance(Duration::minutes(15));
    w.cron();
    assert_eq!(w.order_state(), Some(OrderState::Unknown));
    assert_eq!(w.bridge.posts(), 1, "never a blind resend");
    // Then the lookup answers: the broker's order is recorded.
    w.bridge.lookup_down.set(false);
    w.advance(Duration::minutes(15));
    let (_, looked_at, killed) = w.cron();
    assert_eq!((looked_at, killed), (1, false));
    let row = w.store.row(ID);
    assert_eq!(row.order_status, Some(OrderState::Submitted));
    assert_eq!(row.order_id.as_deref(), Some("1"));
    assert_eq!(row.broker_order_status.as_deref(), Some("submitted"));
    assert_eq!(w.bridge.posts(), 1);
    assert_eq!(w.bridge.calls_to("/orders/by-key/"), 2);
}

#[test]
fn d1_failure_after_the_send_is_found_by_key_not_sent_twice() {
    let w = World::new();
    w.store.fail_next(Op::SetOrderState, 1);
    let a = w.approve().unwrap();
    // Sent, but the batch recording it failed: still `submitting`.
    assert_eq!(w.bridge.posts(), 1);
    assert_eq!(a.row.order_status, Some(OrderState::Submitting));
    assert!(w.logs.borrow().iter().any(|l| l.contains("record order")));
    // A cron run before the stale window leaves it alone.
    w.advance(Duration::seconds(30));
    assert_eq!(w.cron().1, 0);
    // After it, the order is found by key and recorded; nothing resent.
    w.advance(Duration::minutes(15));
    assert_eq!(w.cron().1, 1);
    assert_eq!(w.order_state(), Some(OrderState::Submitted));
    assert_eq!(w.bridge.posts(), 1);
    assert_eq!(w.audit_of("order_submitted"), 1);
}

#[test]
fn not_placed_is_resent_with_the_same_key_inside_the_window() {
    let mut w = World::new();
    w.bridge.post_mode.set(PostMode::Halted);
    w.approve().unwrap();
    assert_eq!(w.order_state(), Some(OrderState::SubmitFailed));
    w.bridge.post_mode.set(PostMode::Place);
    w.advance(Duration::minutes(15));
    // Fresh risk data at the resend: its pre-trade checks pass again.
    w.risk = crate::risk::workflow_tests::world_at(w.clock.get());
    w.cron();
    assert_eq!(w.order_state(), Some(OrderState::Submitted));
    let posts = w.bridge.posts.borrow();
    assert_eq!(posts.len(), 2);
    let key = |b: &str| {
        serde_json::from_str::<OrderRequest>(b)
            .unwrap()
            .idempotency_key
    };
    assert_eq!(key(&posts[0]), key(&posts[1]));
    assert_eq!(w.store.row(ID).order_attempts, 2);
    assert_eq!(w.audit_of("order_retry"), 1);
}

#[test]
fn retry_outside_the_window_is_abandoned() {
    let w = World::new();
    w.bridge.post_mode.set(PostMode::Halted);
    w.approve().unwrap();
    w.bridge.post_mode.set(PostMode::Place);
    // 15:50 New York: past the 15:45 deadline.
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 17, 20, 50, 0).unwrap());
    w.cron();
    let row = w.store.row(ID);
    assert_eq!(row.order_status, Some(OrderState::Abandoned));
    assert!(row.order_error.unwrap().contains("deadline"));
    assert_eq!(w.bridge.posts(), 1);
    // Final: a later run does not touch it.
    w.advance(Duration::minutes(15));
    assert_eq!(w.cron().1, 0);
}

#[test]
fn kill_switch_on_abandons_a_resend_but_still_resolves_by_key() {
    let w = World::new();
    w.bridge.post_mode.set(PostMode::Halted);
    w.approve().unwrap();
    w.store.set_switch("on", 1);
    w.advance(Duration::minutes(15));
    let (_, _, killed) = w.cron();
    assert!(killed);
    assert_eq!(w.order_state(), Some(OrderState::Abandoned));
    assert_eq!(w.bridge.posts(), 1);
    assert!(w.bridge.calls.borrow().iter().any(|c| c == "POST /halt"));
}

#[test]
fn reject_is_one_conditional_update_and_final() {
    let w = World::new();
    let row = w
        .run(async |d| d.reject(ID, "token:test", "too risky").await)
        .unwrap();
    assert_eq!(row.status, ProposalStatus::Rejected);
    assert_eq!(row.decision_reason.as_deref(), Some("too risky"));
    assert_eq!(w.store.actions(), vec!["proposal_rejected"]);
    let again = w
        .run(async |d| d.reject(ID, "token:test", "again").await)
        .unwrap_err();
    assert_eq!(conflict_code(&again), "invalid_state");
    assert_eq!(conflict_code(&w.approve().unwrap_err()), "invalid_state");
    assert_eq!(w.store.actions().len(), 1);
    assert!(matches!(
        w.run(async |d| d.reject(99, "token:test", "x").await),
        Err(ApprovalError::NotFound(99))
    ));
}

#[test]
fn listing_expires_overdue_proposals_first_with_audit_rows() {
    let w = World::new();
    w.clock
        .set(DateTime::from_timestamp_millis(w.store.row(ID).expires_at).unwrap());
    let rows = w.run(async |d| d.list(None, 10).await).unwrap();
    assert_eq!(rows[0].status, ProposalStatus::Expired);
    assert_eq!(w.store.actions(), vec!["proposal_expired"]);
}

#[test]
fn kill_switch_changes_are_audited_and_mirrored() {
    let w = World::new();
    let row = w
        .run(async |d| d.set_kill_switch("token:test", true, "drill").await)
        .unwrap();
    assert_eq!(row.unwrap().value, "on");
    assert_eq!(w.store.actions(), vec!["kill_switch_changed"]);
    assert!(w.bridge.calls.borrow().iter().any(|c| c == "POST /halt"));
}

#[test]
fn the_risk_engine_refuses_with_every_check_and_nothing_is_sent() {
    let mut w = World::new();
    // No equity snapshot since yesterday: the day's loss cannot be measured,
    // so the risk engine fails closed.
    w.risk = crate::risk::memory::MemoryRisk::new();
    let e = w.approve().unwrap_err();
    let ApprovalError::RiskRefused { verdict, row } = &e else {
        panic!("expected a risk refusal, got {e:?}");
    };
    assert!(!verdict.approved);
    assert!(!verdict.refusals.is_empty());
    assert!(verdict.checks.len() >= 5, "{verdict:?}");
    assert_eq!(row.status, ProposalStatus::Pending);
    assert_eq!(w.store.row(ID).status, ProposalStatus::Pending);
    assert_eq!(w.bridge.posts(), 0);
    assert_eq!(w.audit_of("approval_refused"), 1);
    assert!(w.store.risk_checks.borrow().is_empty());
    assert!(w.store.alerts.borrow().is_empty(), "no approval alert");
}

#[test]
fn an_approval_writes_its_alert_in_its_own_batch() {
    let w = World::new();
    w.approve().unwrap();
    let alerts = w.store.alerts.borrow();
    // The outbox row (stored only if the audit row before it was) and its
    // deliveries, in the approval's batch.
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].sql, crate::alerts::INSERT_ALERT_IF_CHANGED);
    assert_eq!(
        alerts[0].params[0],
        crate::alerts::Param::Text(format!("approval:{ID}"))
    );
    assert_eq!(alerts[1].sql, crate::alerts::INSERT_DELIVERIES);
}

#[test]
fn an_approval_stores_the_risk_verdict_it_passed() {
    let w = World::new();
    w.approve().unwrap();
    let checks = w.store.risk_checks.borrow();
    assert_eq!(checks.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&checks[0].report).unwrap();
    assert_eq!(v["approved"], true);
    assert!(v["checks"].as_array().unwrap().len() >= 5);
    drop(checks);
    // The detail serves it back, typed: every check with limit, use, verdict.
    let (row, stored) = w.run(async |d| d.detail(ID).await).unwrap();
    assert_eq!(row.status, ProposalStatus::Approved);
    assert_eq!(stored.len(), 1);
    assert!(stored[0].approved && !stored[0].unreadable);
    assert_eq!(stored[0].actor, "token:test");
    assert_eq!(stored[0].at, row.decided_at.unwrap());
    assert!(stored[0].checks.len() >= 5);
    assert!(stored[0].checks.iter().all(|c| c.verdict == "pass"));
    assert!(stored[0]
        .checks
        .iter()
        .any(|c| c.limit.is_some() && c.used.is_some()));
    // A stored report that does not parse is shown flagged, not an error.
    w.store.risk_checks.borrow_mut().push(super::RiskCheckRow {
        proposal_id: ID,
        at: row.decided_at.unwrap() + 1,
        actor: "cron".into(),
        approved: 0,
        report: "{".into(),
    });
    let (_, stored) = w.run(async |d| d.detail(ID).await).unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored[0].unreadable && stored[0].checks.is_empty(),
        "newest first"
    );
    assert!(!stored[1].unreadable);
}

#[test]
fn a_resend_refused_by_the_risk_engine_is_abandoned_with_its_verdict_never_sent() {
    let mut w = World::new();
    w.bridge.post_mode.set(PostMode::Halted);
    w.approve().unwrap();
    assert_eq!(w.order_state(), Some(OrderState::SubmitFailed));
    w.bridge.post_mode.set(PostMode::Place);
    w.advance(Duration::minutes(15));
    // Since the approval the book's data went missing (no net liquidation):
    // the checks before the resend fail closed.
    w.risk = crate::risk::memory::MemoryRisk::new();
    w.cron();
    let row = w.store.row(ID);
    assert_eq!(row.order_status, Some(OrderState::Abandoned));
    assert!(
        row.order_error
            .as_deref()
            .unwrap()
            .starts_with("risk refused the resend"),
        "{:?}",
        row.order_error
    );
    assert_eq!(w.bridge.posts(), 1, "the refused resend is never sent");
    assert_eq!(w.audit_of("order_retry"), 0);
    assert_eq!(w.audit_of("order_abandoned"), 1);
    let checks = w.store.risk_checks.borrow();
    assert_eq!(checks.len(), 2, "the approval's verdict and the resend's");
    let v: serde_json::Value = serde_json::from_str(&checks[1].report).unwrap();
    assert_eq!(v["approved"], false);
    assert!(!v["refusals"].as_array().unwrap().is_empty());
    // Final: a later run leaves it alone.
    w.advance(Duration::minutes(15));
    assert_eq!(w.cron().1, 0);
}

//! The alert workflows against the in-memory store and a scripted sender:
//! dedupe by key (also across a restart), conditions raised once and
//! resolved once, lost races, retries with backoff, 429 retry_after,
//! permanent refusals, the rate cap, a sender that died mid-send, the test
//! message, the listing, and no secret in any log line or view.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};

use chrono::{DateTime, Utc};
use futures_executor::block_on;
use sas_core::alerts::{
    AlertEvent, AlertKind, ChannelConfig, ConditionObservation, Secret, SendFailure,
};
use sas_core::money::Money;
use serde_json::Value;

use super::memory::{MemoryAlertStore, ScriptedSender};
use super::model::{DeliveryState, INSERT_ALERT_IF_CHANGED, INSERT_DELIVERIES};
use super::service::{
    deliver_due, enqueue_event, event_statements, list_alerts, observe_condition, send_test,
    AlertsError, ConditionOutcome, Deps, SEND_LEASE_MS,
};
use super::store::AlertStore;
use crate::config::alerts::AlertsConfig;

const T0: i64 = 1_796_000_000_000;
const TOKEN: &str = "123456:TOKENSECRET";
const HOOK: &str = "https://hooks.example.com/HOOKSECRET";

fn config(channels: Vec<ChannelConfig>) -> AlertsConfig {
    AlertsConfig {
        channels,
        web_base_url: Some("https://sas.example.com".into()),
        ..AlertsConfig::default()
    }
}

fn webhook() -> ChannelConfig {
    ChannelConfig::Webhook {
        url: Secret::new(HOOK),
        token: None,
    }
}

fn telegram() -> ChannelConfig {
    ChannelConfig::Telegram {
        api_url: "https://api.telegram.org".into(),
        bot_token: Secret::new(TOKEN),
        chat_id: "42".into(),
    }
}

/// A test world: store, sender, clock, collected log lines.
struct World {
    store: MemoryAlertStore,
    sender: ScriptedSender,
    cfg: AlertsConfig,
    now: Cell<i64>,
    logs: RefCell<Vec<String>>,
}

impl World {
    fn new(channels: Vec<ChannelConfig>) -> World {
        World {
            store: MemoryAlertStore::default(),
            sender: ScriptedSender::default(),
            cfg: config(channels),
            now: Cell::new(T0),
            logs: RefCell::new(Vec::new()),
        }
    }

    fn advance(&self, ms: i64) {
        self.now.set(self.now.get() + ms);
    }

    fn with_deps<T>(&self, f: impl FnOnce(&Deps<'_, MemoryAlertStore, ScriptedSender>) -> T) -> T {
        let now = || DateTime::<Utc>::from_timestamp_millis(self.now.get()).unwrap();
        let log = |event: &str, v: Value| {
            self.logs
                .borrow_mut()
                .push(serde_json::json!({ "event": event, "detail": v }).to_string());
        };
        f(&Deps {
            store: &self.store,
            sender: &self.sender,
            cfg: &self.cfg,
            now: &now,
            log: &log,
        })
    }

    fn deliver(&self) -> super::service::DeliveryReport {
        self.with_deps(|d| block_on(deliver_due(d, None))).unwrap()
    }

    fn enqueue(&self, e: &AlertEvent) -> Option<bool> {
        block_on(enqueue_event(&self.store, &self.cfg, e, self.now.get())).unwrap()
    }

    fn observe(&self, kind: AlertKind, subject: &str, active: bool) -> ConditionOutcome {
        let obs = ConditionObservation {
            kind,
            subject: subject.into(),
            active,
            detail: if active {
                "it broke".into()
            } else {
                String::new()
            },
            at_ms: self.now.get(),
        };
        block_on(observe_condition(&self.store, &self.cfg, &obs)).unwrap()
    }

    /// The titles the webhook received, in order.
    fn received_titles(&self) -> Vec<String> {
        self.sender
            .sent
            .borrow()
            .iter()
            .map(|r| {
                let v: Value = serde_json::from_str(&r.body).unwrap();
                v["title"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }
}

fn fill(exec: &str) -> AlertEvent {
    AlertEvent::Filled {
        position_id: Some(3),
        proposal_id: 9,
        order_key: "sas-9".into(),
        execution_id: exec.into(),
        summary: "SPY put credit spread 540/535 x1".into(),
        filled: 1,
        ordered: 1,
        price: Money::from_cents(120),
    }
}

#[test]
fn the_same_event_twice_is_stored_and_sent_once() {
    let w = World::new(vec![webhook()]);
    assert_eq!(w.enqueue(&fill("e1")), Some(true));
    // The same fill reported again (a retried step, a restarted Worker).
    w.advance(60_000);
    assert_eq!(w.enqueue(&fill("e1")), Some(false));
    let report = w.deliver();
    assert_eq!(report.count("delivered"), 1);
    w.advance(60_000);
    assert_eq!(w.enqueue(&fill("e1")), Some(false));
    assert_eq!(w.deliver().results.len(), 0);
    assert_eq!(w.sender.sent.borrow().len(), 1);
    let req = &w.sender.sent.borrow()[0];
    assert_eq!(req.header("Idempotency-Key"), Some("fill:sas-9:e1"));
}

#[test]
fn an_event_that_is_off_is_neither_stored_nor_sent() {
    let mut w = World::new(vec![webhook()]);
    w.cfg.settings = sas_core::alerts::AlertSettings::parse("fill=off").unwrap();
    assert_eq!(w.enqueue(&fill("e1")), None);
    assert!(w.store.keys().is_empty());
    assert!(event_statements(&w.cfg, &fill("e1"), T0, true).is_empty());
}

#[test]
fn statements_for_another_features_batch_follow_its_change() {
    let w = World::new(vec![webhook(), telegram()]);
    let st = event_statements(&w.cfg, &fill("e1"), T0, true);
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].sql, INSERT_ALERT_IF_CHANGED);
    assert_eq!(st[1].sql, INSERT_DELIVERIES);
    assert_eq!(
        st[1].params[2],
        super::model::Param::Text(r#"["webhook","telegram"]"#.into())
    );
}

#[test]
fn a_failed_first_delivery_is_retried_after_the_backoff() {
    let w = World::new(vec![webhook()]);
    w.enqueue(&fill("e1"));
    w.sender.answer(503, None, "busy");
    let r = w.deliver();
    assert_eq!(r.count("retrying"), 1);
    let d = w.store.delivery("fill:sas-9:e1", "webhook").unwrap();
    assert_eq!(d.state, DeliveryState::Retrying);
    assert_eq!(d.attempts, 1);
    assert_eq!(d.next_attempt_at, T0 + 30_000);
    assert_eq!(d.last_status, Some(503));
    // Not yet due: nothing is sent.
    w.advance(29_999);
    assert!(w.deliver().results.is_empty());
    w.advance(1);
    assert_eq!(w.deliver().count("delivered"), 1);
    let d = w.store.delivery("fill:sas-9:e1", "webhook").unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 2));
    assert_eq!(w.sender.sent.borrow().len(), 2);
}

#[test]
fn a_telegram_429_waits_its_retry_after() {
    let w = World::new(vec![telegram()]);
    w.enqueue(&fill("e1"));
    w.sender.answer(
        429,
        None,
        r#"{"ok":false,"error_code":429,"parameters":{"retry_after":90}}"#,
    );
    w.deliver();
    let d = w.store.delivery("fill:sas-9:e1", "telegram").unwrap();
    assert_eq!(d.next_attempt_at, T0 + 90_000);
    w.advance(89_000);
    assert!(w.deliver().results.is_empty());
    w.advance(1_000);
    assert_eq!(w.deliver().count("delivered"), 1);
}

#[test]
fn a_permanent_refusal_is_never_sent_again() {
    let w = World::new(vec![telegram()]);
    w.enqueue(&fill("e1"));
    w.sender
        .answer(401, None, r#"{"ok":false,"description":"Unauthorized"}"#);
    assert_eq!(w.deliver().count("failed"), 1);
    w.advance(3_600_000);
    assert!(w.deliver().results.is_empty());
    assert_eq!(w.sender.sent.borrow().len(), 1);
    let d = w.store.delivery("fill:sas-9:e1", "telegram").unwrap();
    assert_eq!(d.state, DeliveryState::Failed);
    assert!(d.last_error.unwrap().contains("HTTP 401"));
}

#[test]
fn the_rate_cap_defers_the_rest_to_the_next_minute() {
    let mut w = World::new(vec![webhook()]);
    w.cfg.rate_per_minute = Some(2);
    for i in 0..5 {
        w.enqueue(&fill(&format!("e{i}")));
    }
    let r = w.deliver();
    assert_eq!((r.count("delivered"), r.count("deferred")), (2, 3));
    w.advance(30_000);
    assert!(
        w.deliver().results.is_empty(),
        "deferred to the next minute"
    );
    w.advance(30_000);
    assert_eq!(w.deliver().count("delivered"), 2);
    w.advance(60_000);
    assert_eq!(w.deliver().count("delivered"), 1);
    assert_eq!(w.sender.sent.borrow().len(), 5);
}

#[test]
fn a_send_whose_sender_died_is_sent_again_after_the_lease() {
    let w = World::new(vec![webhook()]);
    w.enqueue(&fill("e1"));
    let d = w.store.delivery("fill:sas-9:e1", "webhook").unwrap();
    // A run claimed it and died before recording anything.
    assert!(block_on(w.store.claim(d.id, T0, T0 + SEND_LEASE_MS, 0)).unwrap());
    // Within the lease nobody touches it.
    assert!(w.deliver().results.is_empty());
    w.advance(SEND_LEASE_MS);
    assert_eq!(w.deliver().count("delivered"), 1);
    let d = w.store.delivery("fill:sas-9:e1", "webhook").unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 2));
}

#[test]
fn a_channel_removed_from_the_configuration_fails_its_deliveries() {
    let mut w = World::new(vec![webhook(), telegram()]);
    w.enqueue(&fill("e1"));
    w.cfg.channels = vec![webhook()];
    let r = w.deliver();
    assert_eq!((r.count("delivered"), r.count("failed")), (1, 1));
    let d = w.store.delivery("fill:sas-9:e1", "telegram").unwrap();
    assert_eq!(
        d.last_error.as_deref(),
        Some("the channel is not configured")
    );
}

#[test]
fn a_store_failure_enqueues_nothing() {
    let w = World::new(vec![webhook()]);
    w.store.fail_next_batch.set(true);
    let err = block_on(enqueue_event(&w.store, &w.cfg, &fill("e1"), T0)).unwrap_err();
    assert!(matches!(err, AlertsError::Store { .. }));
    assert!(w.store.keys().is_empty());
}

#[test]
fn a_condition_alerts_once_then_resolves_once() {
    let w = World::new(vec![webhook()]);
    for active in [false, true, true, true, false, false] {
        w.observe(AlertKind::BridgeDisconnected, "bridge", active);
        w.deliver();
        w.advance(900_000);
    }
    assert_eq!(
        w.received_titles(),
        [
            "Bridge disconnected",
            "Bridge reconnected: Bridge disconnected"
        ]
    );
}

#[test]
fn two_runs_racing_on_a_condition_raise_it_once() {
    let w = World::new(vec![webhook()]);
    let obs = |at_ms| ConditionObservation {
        kind: AlertKind::RiskHalt,
        subject: "daily_loss".into(),
        active: true,
        detail: "daily loss limit".into(),
        at_ms,
    };
    // Both runs read "no row"; the first one's write wins.
    let row = block_on(w.store.condition("risk_halt", "daily_loss")).unwrap();
    assert!(row.is_none());
    let first = block_on(observe_condition(&w.store, &w.cfg, &obs(T0))).unwrap();
    assert!(matches!(first, ConditionOutcome::Stored { alert: Some(_) }));
    // The second run's step from the stale read loses the compare-and-set.
    let step = sas_core::alerts::observe(None, &obs(T0 + 1), &w.cfg.settings);
    let channels = w.cfg.channel_kinds();
    let won = block_on(w.store.write_condition(&super::store::ConditionWrite {
        state: step.state.as_ref().unwrap(),
        expected_version: step.expected_version,
        alert: step.alert.as_ref().map(|alert| super::store::NewAlert {
            alert,
            channels: &channels,
            now_ms: T0 + 1,
        }),
    }))
    .unwrap();
    assert!(!won);
    assert_eq!(
        w.store.keys(),
        ["risk_halt:daily_loss:1796000000000:raised"]
    );
}

#[test]
fn the_test_message_goes_to_every_channel_at_once() {
    let w = World::new(vec![telegram(), webhook()]);
    let report = w
        .with_deps(|d| block_on(send_test(d, "api_token")))
        .unwrap();
    assert_eq!(report.count("delivered"), 2);
    let urls: Vec<String> = w
        .sender
        .sent
        .borrow()
        .iter()
        .map(|r| r.url.expose().to_owned())
        .collect();
    assert_eq!(
        urls,
        [
            format!("https://api.telegram.org/bot{TOKEN}/sendMessage"),
            HOOK.to_owned()
        ]
    );
    let none = World::new(vec![]);
    let err = none.with_deps(|d| block_on(send_test(d, "x"))).unwrap_err();
    assert_eq!(err, AlertsError::NoChannels);
}

#[test]
fn secrets_never_reach_logs_stored_errors_or_the_listing() {
    let w = World::new(vec![telegram(), webhook()]);
    w.enqueue(&fill("e1"));
    // A network error that quotes the URL (as some runtimes do).
    w.sender.fail(SendFailure::Network(format!(
        "fetch https://api.telegram.org/bot{TOKEN}/sendMessage failed"
    )));
    w.sender
        .fail(SendFailure::Network(format!("{HOOK} refused")));
    w.deliver();
    let listing = block_on(list_alerts(&w.store, &w.cfg, None))
        .unwrap()
        .to_string();
    let logs = w.logs.borrow().join("\n");
    for text in [&listing, &logs] {
        assert!(!text.contains("TOKENSECRET"), "{text}");
        assert!(!text.contains("HOOKSECRET"), "{text}");
    }
    assert!(logs.contains("bot***"), "{logs}");
    let d = w.store.delivery("fill:sas-9:e1", "webhook").unwrap();
    assert_eq!(d.last_error.as_deref(), Some("network: *** refused"));
}

#[test]
fn the_listing_shows_each_alert_with_its_deliveries() {
    let w = World::new(vec![webhook()]);
    w.enqueue(&fill("e1"));
    w.sender.answer(500, None, "down");
    w.deliver();
    let v = block_on(list_alerts(&w.store, &w.cfg, Some(10))).unwrap();
    assert_eq!(v["channels"][0]["channel"], "webhook");
    let a = &v["alerts"][0];
    assert_eq!(a["key"], "fill:sas-9:e1");
    assert_eq!(a["title"], "Filled: SPY put credit spread 540/535 x1");
    assert_eq!(a["url"], "https://sas.example.com/#/positions/3");
    let d = &a["deliveries"][0];
    assert_eq!(d["state"], "retrying");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_status"], 500);
    assert_eq!(d["next_attempt_at"], "2026-11-30T00:53:50.000Z");
}

#[test]
fn a_scripted_day_reaches_the_webhook_exactly_once_each() {
    let w = World::new(vec![webhook()]);
    let day = |w: &World| {
        w.enqueue(&AlertEvent::ProposalsBatch {
            trading_date: "2026-11-30".into(),
            batch: "1796000000000".into(),
            count: 3,
            best_id: Some(11),
            best_summary: "SPY put credit spread".into(),
        });
        w.enqueue(&AlertEvent::Approved {
            proposal_id: 11,
            summary: "SPY put credit spread".into(),
            actor: "api_token".into(),
        });
        w.enqueue(&fill("e1"));
        w.enqueue(&AlertEvent::Exited {
            position_id: 3,
            summary: "SPY put credit spread".into(),
            rule: "take_profit 50%".into(),
            pnl: Money::from_cents(5_000),
        });
    };
    // The first delivery of the day fails and is retried.
    w.sender.answer(502, None, "bad gateway");
    day(&w);
    w.deliver();
    w.advance(60_000);
    w.deliver();
    // A bridge outage: one alert, then one "resolved".
    for active in [true, true, false] {
        w.observe(AlertKind::BridgeDisconnected, "bridge", active);
        w.advance(60_000);
        w.deliver();
    }
    // A halt.
    w.observe(AlertKind::RiskHalt, "daily_loss", true);
    w.deliver();
    // The Worker restarts and reports the same events again.
    w.advance(60_000);
    day(&w);
    w.observe(AlertKind::RiskHalt, "daily_loss", true);
    w.deliver();

    let mut titles = w.received_titles();
    // The failed first attempt of the proposals batch was retried.
    assert_eq!(titles.remove(0), "3 new proposals to review");
    assert_eq!(
        titles,
        [
            "Approved: SPY put credit spread",
            "Filled: SPY put credit spread 540/535 x1",
            "Closed +$50.00: SPY put credit spread",
            "3 new proposals to review",
            "Bridge disconnected",
            "Bridge reconnected: Bridge disconnected",
            "Trading halted (daily_loss)",
        ]
    );
    // Seven events, each stored once: 4 of the day, the outage's raise and
    // resolution, the halt.
    let keys = w.store.keys();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert_eq!(unique.len(), keys.len());
}

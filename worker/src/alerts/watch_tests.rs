//! The watch steps against the in-memory alert store and a scripted
//! source: each new event is enqueued once however many runs see it, each
//! condition is raised once and resolved once, a failed read skips only
//! what depends on it, and the delivery sends exactly those messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};

use chrono::{DateTime, TimeZone, Utc};
use futures_executor::block_on;
use sas_core::alerts::{AlertSettings, ChannelConfig, Secret};
use serde_json::Value;

use super::memory::{MemoryAlertStore, ScriptedSender};
use super::service::{deliver_due, Deps};
use super::store::StoreError;
use super::watch::{
    watch_ingest, watch_minute, ArchiveState, BridgeHealth, DailyFigures, DataTypeRow, WatchReport,
    WatchSource, WatchedOrderRow,
};
use crate::config::alerts::AlertsConfig;

/// A scripted source; `reads` counts the daily-figures reads.
#[derive(Default)]
struct FakeSource {
    health: RefCell<Option<BridgeHealth>>,
    orders: RefCell<Vec<WatchedOrderRow>>,
    /// The orders' read fails with this.
    orders_fail: RefCell<Option<StoreError>>,
    figures: RefCell<DailyFigures>,
    figure_reads: Cell<u32>,
    data_types: RefCell<Vec<DataTypeRow>>,
    archive: RefCell<Option<ArchiveState>>,
}

impl WatchSource for FakeSource {
    async fn bridge_health(&self) -> Option<BridgeHealth> {
        self.health.borrow().clone()
    }
    async fn watched_orders(&self, _since: i64) -> Result<Vec<WatchedOrderRow>, StoreError> {
        match self.orders_fail.borrow().clone() {
            Some(e) => Err(e),
            None => Ok(self.orders.borrow().clone()),
        }
    }
    async fn daily_figures(&self, _s: i64, _e: i64) -> Result<DailyFigures, StoreError> {
        self.figure_reads.set(self.figure_reads.get() + 1);
        Ok(self.figures.borrow().clone())
    }
    async fn latest_data_types(&self, _since: i64) -> Result<Vec<DataTypeRow>, StoreError> {
        Ok(self.data_types.borrow().clone())
    }
    async fn archive(&self) -> ArchiveState {
        self.archive.borrow().clone().unwrap_or(ArchiveState {
            configured: false,
            ok: true,
            warning: None,
        })
    }
}

fn health(broker: &str, state: &str, reason: Option<&str>) -> Option<BridgeHealth> {
    Some(BridgeHealth {
        broker: broker.into(),
        state: state.into(),
        reason: reason.map(Into::into),
        reset_window_et: (broker == "ib").then(|| "23:45-00:45".to_owned()),
    })
}

fn order(key: &str, status: &str, created: DateTime<Utc>, error: Option<&str>) -> WatchedOrderRow {
    WatchedOrderRow {
        key: key.into(),
        proposal_id: 12,
        purpose: "entry".into(),
        summary: "SPY put_credit_spread".into(),
        status: status.into(),
        error: error.map(Into::into),
        created_at: created.timestamp_millis(),
        updated_at: created.timestamp_millis(),
    }
}

fn cfg() -> AlertsConfig {
    AlertsConfig {
        channels: vec![ChannelConfig::Webhook {
            url: Secret::new("https://hooks.example.com/x"),
            token: None,
        }],
        ..AlertsConfig::default()
    }
}

/// Tuesday 2026-12-01, `h:m` UTC (EST: ET = UTC - 5).
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
}

fn minute(
    store: &MemoryAlertStore,
    src: &FakeSource,
    cfg: &AlertsConfig,
    now: DateTime<Utc>,
) -> WatchReport {
    block_on(watch_minute(store, src, cfg, now))
}

fn kinds(store: &MemoryAlertStore) -> Vec<String> {
    store
        .alerts
        .borrow()
        .iter()
        .map(|a| a.event_key.clone())
        .collect()
}

#[test]
fn rejected_and_stuck_orders_alert_once_each() {
    let store = MemoryAlertStore::default();
    let src = FakeSource::default();
    let cfg = cfg();
    // 15:00 UTC = 10:00 ET: market open, no summary yet.
    *src.orders.borrow_mut() = vec![
        order(
            "sas-12-a",
            "rejected",
            at(14, 58),
            Some("IB 201: insufficient margin"),
        ),
        order("sas-13-b", "working", at(14, 40), None),
        order("sas-14-c", "unknown", at(14, 20), None),
    ];
    let r = minute(&store, &src, &cfg, at(15, 0));
    assert_eq!(
        r.enqueued,
        vec!["order_rejected:sas-12-a", "order_stuck:sas-14-c:unknown"]
    );
    // Ten minutes on: the working order passes 30 min; nothing else repeats.
    let r = minute(&store, &src, &cfg, at(15, 10));
    assert_eq!(r.enqueued, vec!["order_stuck:sas-13-b:working"]);
    let r = minute(&store, &src, &cfg, at(15, 11));
    assert!(r.enqueued.is_empty(), "{r:?}");
    assert_eq!(store.alerts.borrow().len(), 3);
    let payload: Value = serde_json::from_str(&store.alerts.borrow()[0].payload).unwrap();
    assert!(payload["body"]
        .as_str()
        .unwrap()
        .contains("insufficient margin"));
    assert_eq!(store.alerts.borrow()[0].severity, "critical");
    // A failed read of the orders is reported and skips only the orders.
    *src.orders_fail.borrow_mut() = Some(StoreError("d1 down".into()));
    *src.health.borrow_mut() = health("ib", "degraded", Some("farm"));
    let r = minute(&store, &src, &cfg, at(15, 12));
    assert_eq!(r.errors, vec!["orders: store: d1 down"]);
    assert_eq!(r.changed, vec!["ib_degraded/ib"]);
}

#[test]
fn stuck_threshold_is_configurable() {
    let store = MemoryAlertStore::default();
    let src = FakeSource::default();
    let cfg = AlertsConfig {
        order_stuck_minutes: 5,
        ..cfg()
    };
    *src.orders.borrow_mut() = vec![order("k", "submitting", at(14, 54), None)];
    assert_eq!(minute(&store, &src, &cfg, at(14, 58)).enqueued.len(), 0);
    assert_eq!(
        minute(&store, &src, &cfg, at(14, 59)).enqueued,
        vec!["order_stuck:k:submitting"]
    );
}

#[test]
fn ib_degraded_raises_once_and_resolves_once() {
    let store = MemoryAlertStore::default();
    let src = FakeSource::default();
    let cfg = cfg();
    *src.health.borrow_mut() = health("ib", "connected", None);
    assert!(minute(&store, &src, &cfg, at(15, 0)).changed.is_empty());
    *src.health.borrow_mut() = health("ib", "degraded", Some("IB data farm down: market data"));
    for m in 1..5 {
        let r = minute(&store, &src, &cfg, at(15, m));
        assert_eq!(r.changed.len(), usize::from(m == 1), "minute {m}: {r:?}");
    }
    // Disconnected is the bridge condition: degraded resolves.
    *src.health.borrow_mut() = health("ib", "disconnected", Some("1100"));
    assert_eq!(
        minute(&store, &src, &cfg, at(15, 6)).changed,
        vec!["ib_degraded/ib"]
    );
    assert!(minute(&store, &src, &cfg, at(15, 7)).changed.is_empty());
    let alerts = store.alerts.borrow();
    assert_eq!(alerts.len(), 2);
    assert!(!alerts[0].resolved && alerts[1].resolved);
    let raised: Value = serde_json::from_str(&alerts[0].payload).unwrap();
    assert!(
        raised["body"].as_str().unwrap().contains("market data"),
        "{raised}"
    );
    // An unreachable bridge (no health) changes nothing here.
    drop(alerts);
    *src.health.borrow_mut() = None;
    assert!(minute(&store, &src, &cfg, at(15, 8)).changed.is_empty());
}

#[test]
fn reset_window_and_relogin_are_announced_once() {
    let store = MemoryAlertStore::default();
    let src = FakeSource::default();
    let cfg = AlertsConfig {
        settings: AlertSettings::parse("ib_reset_window=on,daily_summary=off").unwrap(),
        ..cfg()
    };
    *src.health.borrow_mut() = health("ib", "connected", None);
    // 23:40 ET (04:40 UTC on the 2nd): before the window.
    let day2 = |h, m| Utc.with_ymd_and_hms(2026, 12, 2, h, m, 0).unwrap();
    assert!(minute(&store, &src, &cfg, day2(4, 40)).enqueued.is_empty());
    assert_eq!(
        minute(&store, &src, &cfg, day2(4, 45)).enqueued,
        vec!["ib_reset_window:2026-12-01"]
    );
    for m in 46..59 {
        assert!(minute(&store, &src, &cfg, day2(4, m)).enqueued.is_empty());
    }
    // The sim bridge has no reset window and no re-login.
    let sim = MemoryAlertStore::default();
    *src.health.borrow_mut() = health("sim", "connected", None);
    let sunday = Utc.with_ymd_and_hms(2026, 12, 6, 15, 0, 0).unwrap();
    assert!(minute(&sim, &src, &cfg, sunday).enqueued.is_empty());
    // Against IB on a Sunday: one re-login reminder for the day.
    *src.health.borrow_mut() = health("ib", "connected", None);
    assert_eq!(
        minute(&store, &src, &cfg, sunday).enqueued,
        vec!["relogin_due:2026-12-06"]
    );
    assert!(
        minute(&store, &src, &cfg, sunday + chrono::Duration::hours(3))
            .enqueued
            .is_empty()
    );
    let a = store.alerts.borrow();
    let relogin = a.iter().find(|a| a.kind == "relogin_due").unwrap();
    assert_eq!(relogin.severity, "warning");
}

#[test]
fn daily_summary_is_sent_once_after_the_close_with_the_days_figures() {
    let store = MemoryAlertStore::default();
    let src = FakeSource::default();
    let cfg = cfg();
    *src.figures.borrow_mut() = DailyFigures {
        realized_micros: 62_500_000,
        unrealized_micros: -12_000_000,
        trades: 3,
        open_positions: 2,
        pending_proposals: 1,
        working_orders: 0,
    };
    // Before the close + 15 min (16:15 ET = 21:15 UTC): nothing, nothing read.
    assert!(minute(&store, &src, &cfg, at(21, 14)).enqueued.is_empty());
    assert_eq!(src.figure_reads.get(), 0);
    assert_eq!(
        minute(&store, &src, &cfg, at(21, 15)).enqueued,
        vec!["daily_summary:2026-12-01"]
    );
    // Every later minute: the key is checked, the figures not read again.
    for m in 16..40 {
        assert!(minute(&store, &src, &cfg, at(21, m)).enqueued.is_empty());
    }
    assert_eq!(src.figure_reads.get(), 1);
    let payload: Value = serde_json::from_str(&store.alerts.borrow()[0].payload).unwrap();
    let title = payload["title"].as_str().unwrap();
    let body = payload["body"].as_str().unwrap();
    assert!(title.contains("+$62.50"), "{title}");
    assert!(body.contains("unrealized -$12.00"), "{body}");
    assert!(body.contains("3 trades, 2 open positions"), "{body}");
    assert!(body.contains("1 proposal awaiting approval"), "{body}");
    // Off: nothing read, nothing stored.
    let off = AlertsConfig {
        settings: AlertSettings::parse("daily_summary=off").unwrap(),
        ..cfg.clone()
    };
    let other = MemoryAlertStore::default();
    assert!(minute(&other, &src, &off, at(21, 30)).enqueued.is_empty());
    assert_eq!(src.figure_reads.get(), 1);
    // Saturday: no session, no summary.
    let sat = Utc.with_ymd_and_hms(2026, 12, 5, 22, 0, 0).unwrap();
    assert!(minute(&other, &src, &cfg, sat).enqueued.is_empty());
}

#[test]
fn data_delayed_per_symbol_and_archive_behind_are_conditions() {
    let store = MemoryAlertStore::default();
    let src = FakeSource::default();
    let cfg = cfg();
    let rows = |spy: &str, qqq: &str| {
        vec![
            DataTypeRow {
                symbol: "QQQ".into(),
                data_type: qqq.into(),
            },
            DataTypeRow {
                symbol: "SPY".into(),
                data_type: spy.into(),
            },
        ]
    };
    *src.data_types.borrow_mut() = rows("live", "live");
    let ingest = |now| block_on(watch_ingest(&store, &src, &cfg, now));
    assert!(ingest(at(15, 0)).changed.is_empty());
    *src.data_types.borrow_mut() = rows("delayed", "live");
    assert_eq!(ingest(at(15, 15)).changed, vec!["data_delayed/SPY"]);
    assert!(ingest(at(15, 30)).changed.is_empty());
    *src.data_types.borrow_mut() = rows("live", "delayed_frozen");
    assert_eq!(
        ingest(at(15, 45)).changed,
        vec!["data_delayed/QQQ", "data_delayed/SPY"]
    );
    // The archive: nothing without an archiver; behind once, then resolved.
    *src.archive.borrow_mut() = Some(ArchiveState {
        configured: true,
        ok: false,
        warning: Some("more than 50000 unarchived rows in audit_log".into()),
    });
    assert!(ingest(at(16, 0))
        .changed
        .contains(&"archive_behind/archive".to_owned()));
    assert!(ingest(at(16, 15)).changed.is_empty());
    *src.archive.borrow_mut() = Some(ArchiveState {
        configured: true,
        ok: true,
        warning: None,
    });
    assert_eq!(ingest(at(16, 30)).changed, vec!["archive_behind/archive"]);
    let keys = kinds(&store);
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(
        keys.iter().filter(|k| k.ends_with(":resolved")).count() == 2,
        "{keys:?}"
    );
}

#[test]
fn watched_alerts_are_delivered_exactly_once() {
    let store = MemoryAlertStore::default();
    let src = FakeSource::default();
    let sender = ScriptedSender::default();
    let cfg = cfg();
    *src.orders.borrow_mut() = vec![order("sas-1", "rejected", at(14, 59), None)];
    *src.health.borrow_mut() = health("ib", "degraded", Some("farm"));
    let now = Cell::new(at(15, 0));
    let clock = || now.get();
    let log = |_: &str, _: Value| {};
    for m in 0..3 {
        now.set(at(15, m));
        minute(&store, &src, &cfg, now.get());
        let deps = Deps {
            store: &store,
            sender: &sender,
            cfg: &cfg,
            now: &clock,
            log: &log,
        };
        block_on(deliver_due(&deps, None)).unwrap();
    }
    let titles: Vec<String> = sender
        .sent
        .borrow()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            v["title"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles
        .iter()
        .any(|t| t.starts_with("IB connection degraded")));
    assert!(titles.iter().any(|t| t.starts_with("Order rejected")));
}

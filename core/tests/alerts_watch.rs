//! The watch rules (`sas_core::alerts::watch`): orders rejected or stuck,
//! IB degraded, data delayed, archive behind, the IB reset window, the
//! weekly re-login and the daily summary's date, at fixed instants.
#![allow(clippy::unwrap_used)] // fixture set-up: a failure here is a broken test, not input

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sas_core::alerts::watch::{
    archive_behind, daily_summary_date, data_delayed, eastern_day_bounds, ib_degraded,
    order_events, parse_window, relogin_due_event, reset_window_event, OrderSnapshot,
    REJECTED_LOOKBACK_MS,
};
use sas_core::alerts::{AlertEvent, AlertKind, AlertSettings};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

const NOW: i64 = 1_796_000_000_000;

fn order(key: &str, status: &str, age_min: i64) -> OrderSnapshot {
    OrderSnapshot {
        key: key.into(),
        proposal_id: 7,
        purpose: "entry".into(),
        summary: "SPY put_credit_spread".into(),
        status: status.into(),
        error: None,
        created_ms: NOW - age_min * 60_000,
        updated_ms: NOW - age_min * 60_000,
    }
}

#[test]
fn rejected_orders_are_reported_with_their_reason_once_per_key() {
    let mut rejected = order("sas-7-a", "rejected", 2);
    rejected.error = Some("IB 201: margin".into());
    let events = order_events(&[rejected.clone(), order("sas-8-b", "filled", 90)], NOW, 30);
    assert_eq!(events.len(), 1);
    let AlertEvent::OrderRejected {
        order_key, reason, ..
    } = &events[0]
    else {
        panic!("{events:?}");
    };
    assert_eq!(order_key, "sas-7-a");
    assert_eq!(reason, "IB 201: margin");
    let alert = events[0].to_alert(NOW, &AlertSettings::default()).unwrap();
    assert_eq!(alert.key.as_str(), "order_rejected:sas-7-a");
    assert!(alert.body.contains("IB 201: margin"), "{}", alert.body);
    // Seen again a minute later: the same key (the outbox stores it once).
    let again = order_events(&[rejected.clone()], NOW + 60_000, 30);
    assert_eq!(again[0].key(NOW + 60_000), events[0].key(NOW));
    // A rejection older than the lookback is history.
    rejected.updated_ms = NOW - REJECTED_LOOKBACK_MS - 1;
    assert!(order_events(&[rejected], NOW, 30).is_empty());
    // No stored reason: a generic one.
    let events = order_events(&[order("k", "rejected", 1)], NOW, 30);
    assert!(
        matches!(&events[0], AlertEvent::OrderRejected { reason, .. } if reason == "refused by the broker")
    );
}

#[test]
fn orders_not_final_after_the_threshold_are_stuck_per_state() {
    let orders = [
        order("young", "working", 29),
        order("old", "working", 31),
        order("lost", "unknown", 45),
        order("done", "filled", 300),
        order("gone", "cancelled", 300),
        order("dead", "inactive", 300),
    ];
    let events = order_events(&orders, NOW, 30);
    let keys: Vec<String> = events.iter().map(|e| e.key(NOW).to_string()).collect();
    assert_eq!(
        keys,
        vec!["order_stuck:old:working", "order_stuck:lost:unknown"]
    );
    assert!(events.iter().all(|e| e.kind() == AlertKind::OrderStuck));
    let AlertEvent::OrderStuck { minutes, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(*minutes, 31);
    // The same order stuck in another state is another event.
    let later = order_events(&[order("old", "cancel_pending", 40)], NOW, 30);
    assert_eq!(later[0].key(NOW).as_str(), "order_stuck:old:cancel_pending");
}

#[test]
fn conditions_from_health_quotes_and_archive() {
    let d = ib_degraded("degraded", Some("IB data farm down: market data"), NOW);
    assert!(d.active);
    assert_eq!(d.kind, AlertKind::IbDegraded);
    assert!(d.detail.contains("market data"));
    // Connected clears it; disconnected is the bridge condition, not this one.
    assert!(!ib_degraded("connected", None, NOW).active);
    assert!(!ib_degraded("disconnected", Some("1100"), NOW).active);

    assert!(data_delayed("SPY", "delayed", NOW).active);
    assert!(data_delayed("SPY", "delayed_frozen", NOW).active);
    assert!(!data_delayed("SPY", "live", NOW).active);
    assert!(!data_delayed("SPY", "simulated", NOW).active);
    assert_eq!(data_delayed("QQQ", "live", NOW).subject, "QQQ");

    assert_eq!(archive_behind(false, false, None, NOW), None);
    let behind = archive_behind(true, false, Some("more than 50000 unarchived rows"), NOW).unwrap();
    assert!(behind.active);
    assert_eq!(behind.kind, AlertKind::ArchiveBehind);
    assert!(!archive_behind(true, true, None, NOW).unwrap().active);
}

#[test]
fn reset_window_is_reported_once_per_night_across_midnight() {
    assert!(parse_window("23:45-00:45").is_some());
    assert!(parse_window("off").is_none());
    assert!(parse_window("05:00-05:00").is_none());
    // 2026-12-01 is EST (UTC-5): 23:50 ET = 04:50 UTC on the 2nd.
    let before = reset_window_event(utc(2026, 12, 2, 4, 40), "23:45-00:45");
    assert_eq!(before, None);
    let e1 = reset_window_event(utc(2026, 12, 2, 4, 50), "23:45-00:45").unwrap();
    // 00:30 ET on the 2nd: the same night's window (started on the 1st).
    let e2 = reset_window_event(utc(2026, 12, 2, 5, 30), "23:45-00:45").unwrap();
    assert_eq!(e1.key(0), e2.key(0));
    assert_eq!(e1.key(0).as_str(), "ib_reset_window:2026-12-01");
    assert_eq!(
        reset_window_event(utc(2026, 12, 2, 5, 45), "23:45-00:45"),
        None
    );
    // A window that does not wrap; summer time (EDT, UTC-4).
    let e = reset_window_event(utc(2026, 7, 1, 9, 0), "05:00-06:00").unwrap();
    assert_eq!(e.key(0).as_str(), "ib_reset_window:2026-07-01");
    assert_eq!(reset_window_event(utc(2026, 7, 1, 9, 0), "bogus"), None);
}

#[test]
fn relogin_is_due_on_sundays_eastern_only_against_ib() {
    // Sunday 2026-12-06, 10:00 ET.
    let sunday = utc(2026, 12, 6, 15, 0);
    let e = relogin_due_event(sunday, "ib").unwrap();
    assert_eq!(e.key(0).as_str(), "relogin_due:2026-12-06");
    let a = e.to_alert(0, &AlertSettings::default()).unwrap();
    assert!(a.body.contains("2026-12-07"), "{}", a.body);
    assert_eq!(relogin_due_event(sunday, "sim"), None);
    // Saturday 22:00 ET is 03:00 UTC Sunday: still Saturday in New York.
    assert_eq!(relogin_due_event(utc(2026, 12, 6, 3, 0), "ib"), None);
    assert_eq!(relogin_due_event(utc(2026, 12, 7, 15, 0), "ib"), None);
}

#[test]
fn daily_summary_is_due_after_the_close_of_trading_days_only() {
    // Tuesday 2026-12-01 (EST): close 16:00 ET = 21:00 UTC; due from 21:15.
    assert_eq!(daily_summary_date(utc(2026, 12, 1, 21, 10)), None);
    let d = daily_summary_date(utc(2026, 12, 1, 21, 15)).unwrap();
    assert_eq!(d, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    // Still the same date late in the evening (23:30 ET = 04:30 UTC next day).
    assert_eq!(daily_summary_date(utc(2026, 12, 2, 4, 30)), Some(d));
    // Saturday: no session, no summary; Thanksgiving 2026-11-26 neither.
    assert_eq!(daily_summary_date(utc(2026, 12, 5, 22, 0)), None);
    assert_eq!(daily_summary_date(utc(2026, 11, 26, 22, 0)), None);
    // The day after Thanksgiving closes early (13:00 ET = 18:00 UTC).
    assert!(daily_summary_date(utc(2026, 11, 27, 18, 20)).is_some());
    // The day's bounds are Eastern midnight to midnight.
    let (start, end) = eastern_day_bounds(d);
    assert_eq!(start, utc(2026, 12, 1, 5, 0).timestamp_millis());
    assert_eq!(end - start, 86_400_000);
}

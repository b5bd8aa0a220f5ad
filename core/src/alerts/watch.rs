//! Watch rules: what the crons' alert step decides from what it read (the
//! bridge's `/health`, the orders, the newest quotes, the archive's state,
//! the clock). Pure: no I/O; `now` is passed in.
//!
//! - Orders: [`order_events`] (rejected; not final after a configured time).
//! - Conditions: [`ib_degraded`], [`data_delayed`], [`archive_behind`].
//! - Clock events: [`reset_window_event`], [`relogin_due_event`],
//!   [`daily_summary_date`].
//!
//! Events carry keys that name the event, not the time, so a run that sees
//! the same thing again enqueues nothing new (the outbox is deduplicated by
//! key); conditions alert once and resolve once ([`super::observe`]).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};

use super::condition::ConditionObservation;
use super::event::{AlertEvent, AlertKind};
use crate::calendar::{utc_to_eastern, MarketCalendar};

/// Default minutes after which an order without a final state is "stuck".
pub const DEFAULT_STUCK_MINUTES: u32 = 30;
/// Default minutes after the close the daily summary is sent.
pub const SUMMARY_AFTER_CLOSE_MINUTES: i64 = 15;
/// A rejected order is reported if it was rejected this recently (a watch
/// that was down for a while still reports it; older ones are history).
pub const REJECTED_LOOKBACK_MS: i64 = 24 * 3_600_000;

/// One order as the watch reads it (the `orders` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSnapshot {
    /// The order's idempotency key.
    pub key: String,
    pub proposal_id: i64,
    /// `entry` or `exit`.
    pub purpose: String,
    /// `symbol strategy` of its position.
    pub summary: String,
    /// `core::orders::OrderStatus` name (`submitting`, `working`, `rejected`...).
    pub status: String,
    /// The error or broker text stored with it.
    pub error: Option<String>,
    /// When the order was created, Unix ms.
    pub created_ms: i64,
    /// Its last change, Unix ms.
    pub updated_ms: i64,
}

/// Whether an order status is final (nothing more will happen to it).
pub fn order_status_final(status: &str) -> bool {
    matches!(status, "filled" | "cancelled" | "rejected" | "inactive")
}

/// The order alerts for `orders` at `now_ms`: every order rejected in the
/// last [`REJECTED_LOOKBACK_MS`] (key: the order key), and every order not
/// final `stuck_minutes` after it was created (key: the order key and its
/// status, so an order that moves on and sticks again is reported again).
pub fn order_events(orders: &[OrderSnapshot], now_ms: i64, stuck_minutes: u32) -> Vec<AlertEvent> {
    let stuck_ms = i64::from(stuck_minutes.max(1)) * 60_000;
    let mut events = Vec::new();
    for o in orders {
        let summary = format!("{} ({} order)", o.summary, o.purpose);
        if o.status == "rejected" {
            if now_ms - o.updated_ms <= REJECTED_LOOKBACK_MS {
                events.push(AlertEvent::OrderRejected {
                    proposal_id: o.proposal_id,
                    order_key: o.key.clone(),
                    summary,
                    reason: o
                        .error
                        .clone()
                        .filter(|e| !e.trim().is_empty())
                        .unwrap_or_else(|| "refused by the broker".to_owned()),
                });
            }
        } else if !order_status_final(&o.status) && now_ms - o.created_ms >= stuck_ms {
            events.push(AlertEvent::OrderStuck {
                proposal_id: o.proposal_id,
                order_key: o.key.clone(),
                state: o.status.clone(),
                minutes: u32::try_from((now_ms - o.created_ms) / 60_000).unwrap_or(u32::MAX),
            });
        }
    }
    events
}

/// IB degraded (the bridge's `/health` `state`): active while `degraded`.
/// A disconnected bridge is the `bridge_disconnected` condition instead, so
/// it does not count here.
pub fn ib_degraded(state: &str, reason: Option<&str>, at_ms: i64) -> ConditionObservation {
    ConditionObservation {
        kind: AlertKind::IbDegraded,
        subject: "ib".to_owned(),
        active: state == "degraded",
        detail: match reason {
            Some(r) if !r.is_empty() => format!("{state}: {r}"),
            _ => state.to_owned(),
        },
        at_ms,
    }
}

/// Market data delayed for `symbol`: active while its newest quote's
/// market-data type is `delayed` or `delayed_frozen`.
pub fn data_delayed(symbol: &str, data_type: &str, at_ms: i64) -> ConditionObservation {
    ConditionObservation {
        kind: AlertKind::DataDelayed,
        subject: symbol.to_owned(),
        active: data_type.starts_with("delayed"),
        detail: format!("{symbol} quotes are {data_type}"),
        at_ms,
    }
}

/// The archive falling behind: active while the export is not ok (a table
/// holds more unacknowledged rows than the hold cap, or the state cannot be
/// read). `None` without an archiver (nothing to fall behind).
pub fn archive_behind(
    configured: bool,
    ok: bool,
    warning: Option<&str>,
    at_ms: i64,
) -> Option<ConditionObservation> {
    configured.then(|| ConditionObservation {
        kind: AlertKind::ArchiveBehind,
        subject: "archive".to_owned(),
        active: !ok,
        detail: warning.unwrap_or("archive up to date").to_owned(),
        at_ms,
    })
}

/// Parses a reset window `HH:MM-HH:MM` (US Eastern time, may wrap midnight,
/// as the bridge's `IB_RESET_WINDOW_ET`); `None` when malformed or empty.
pub fn parse_window(text: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (a, b) = text.split_once('-')?;
    let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
    let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
    (start != end).then_some((start, end))
}

/// The Eastern date the window in progress at `now` started on, if one is.
fn window_start_date(
    now: DateTime<Utc>,
    (start, end): (NaiveTime, NaiveTime),
) -> Option<NaiveDate> {
    let et = utc_to_eastern(now);
    let t = et.time();
    if start < end {
        (t >= start && t < end).then(|| et.date())
    } else if t >= start {
        Some(et.date())
    } else if t < end {
        et.date().pred_opt()
    } else {
        None
    }
}

/// IB's daily reset window starts: an event while `now` is inside the
/// window the bridge reports (`reset_window_et`), keyed by the Eastern date
/// it started on (one per night).
pub fn reset_window_event(now: DateTime<Utc>, window_et: &str) -> Option<AlertEvent> {
    let window = parse_window(window_et)?;
    let date = window_start_date(now, window)?;
    Some(AlertEvent::IbResetWindow {
        date: date.to_string(),
        window: format!("{} ET", window_et.trim()),
    })
}

/// "Re-login (2FA) due": IB ends a Gateway session once a week, on Sunday
/// (US Eastern), and the restarted Gateway needs a login with 2FA before
/// the week's first session. Reported once per Sunday, on the first watch
/// of that day, when the bridge runs against IB (`broker` = `ib`).
pub fn relogin_due_event(now: DateTime<Utc>, broker: &str) -> Option<AlertEvent> {
    if broker != "ib" {
        return None;
    }
    let et = utc_to_eastern(now).date();
    if et.weekday() != Weekday::Sun {
        return None;
    }
    let monday = et.succ_opt()?;
    let next_open = (0..7)
        .filter_map(|d| monday.checked_add_signed(Duration::days(d)))
        .find(|d| MarketCalendar::session(*d).is_some())
        .unwrap_or(monday);
    Some(AlertEvent::ReloginDue {
        due_date: et.to_string(),
        detail: format!(
            "IB's weekly restart ends the Gateway session; log in on the Mac mini (Screen Sharing) before the open on {next_open}."
        ),
    })
}

/// The trading date whose daily summary is due at `now`: today (Eastern)
/// if it had a session that closed at least
/// [`SUMMARY_AFTER_CLOSE_MINUTES`] ago; `None` otherwise (weekends,
/// holidays, before the close).
pub fn daily_summary_date(now: DateTime<Utc>) -> Option<NaiveDate> {
    let date = utc_to_eastern(now).date();
    let session = MarketCalendar::session(date)?;
    (now >= session.close_utc + Duration::minutes(SUMMARY_AFTER_CLOSE_MINUTES)).then_some(date)
}

/// The Unix ms bounds of an Eastern calendar date `[start, end)`.
pub fn eastern_day_bounds(date: NaiveDate) -> (i64, i64) {
    // The offset at noon of the date is the day's offset except on the two
    // transition nights, when it moves by an hour at 02:00: close enough for
    // a day's bounds (no trade happens at 02:00).
    let noon = date.and_hms_opt(12, 0, 0).map(|t| t.and_utc());
    let offset_ms = noon.map_or(0, |n| {
        (utc_to_eastern(n) - n.naive_utc()).num_milliseconds()
    });
    let start = date
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
        - offset_ms;
    (start, start + 86_400_000)
}

//! The events workflows over an [`EventsStore`] and the [`Bridge`], with the
//! clock passed in:
//!
//! * [`list`]: `GET /events`, upcoming earnings and ex-dividend dates and
//!   the dividend refresh state.
//! * [`change`]: `PUT /events`, earnings dates added and removed in ONE
//!   batch with their audit entry (nothing written when nothing changes).
//! * [`cron_step`]: at most `EVENTS_DIVIDENDS_PER_RUN` bridge
//!   `/events/dividends` reads of the symbols due (never read, or read more
//!   than a day ago, or failed more than an hour ago); a pacing refusal (429)
//!   ends the run's reads.
//! * [`calendars`]: the event calendars generation hands to core.

use chrono::{DateTime, NaiveDate, Utc};
use sas_bridge_api::market::{DividendSource, DividendsBody};
use sas_core::calendar::utc_to_eastern;
use sas_core::market::Symbol;
use sas_core::strategy::EventCalendar;
use serde::Serialize;

use super::model::{self, EarningsDate, EventsView, PutEventsBody, REFRESH_AFTER, RETRY_AFTER};
use super::store::{DividendFailure, DividendWrite, EventsStore};
use super::EventsError;
use crate::audit::{AuditAction, AuditEntry};
use crate::bridge::Bridge;
use crate::config::events::EventsConfig;

/// The exchange date of `now` (US Eastern).
pub fn exchange_date(now: DateTime<Utc>) -> NaiveDate {
    utc_to_eastern(now).date()
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `GET /events[?symbol=]`: events from today on.
pub async fn list(
    store: &impl EventsStore,
    symbol: Option<&Symbol>,
    now: DateTime<Utc>,
) -> Result<EventsView, EventsError> {
    let today = exchange_date(now);
    let earnings = store.earnings(&ymd(today)).await?;
    let dividends = store.dividends().await?;
    Ok(model::view(&earnings, &dividends, today, symbol))
}

/// What `PUT /events` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeOutcome {
    /// Whether anything was written (and audited).
    pub changed: bool,
    /// Dates that were new.
    pub added: Vec<EarningsDate>,
    /// Dates that were stored and are gone.
    pub removed: Vec<EarningsDate>,
    /// The events after the change.
    pub events: EventsView,
}

/// `PUT /events`: checks `body` (a 400 names the first problem), then adds
/// the dates not stored yet and removes the stored ones named, in ONE batch
/// with one `events_changed` audit entry listing exactly what changed.
pub async fn change(
    store: &impl EventsStore,
    body: &PutEventsBody,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<ChangeOutcome, EventsError> {
    let today = exchange_date(now);
    let wanted = body.check(today)?;
    let stored = store.earnings("0000-01-01").await?;
    let is_stored = |e: &EarningsDate| {
        stored
            .iter()
            .any(|r| r.symbol == e.symbol.as_str() && r.date == ymd(e.date))
    };
    let added: Vec<EarningsDate> = wanted.add.into_iter().filter(|e| !is_stored(e)).collect();
    let removed: Vec<EarningsDate> = wanted.remove.into_iter().filter(is_stored).collect();
    let changed = !(added.is_empty() && removed.is_empty());
    if changed {
        let at_ms = now.timestamp_millis();
        let audit = AuditEntry {
            at: at_ms,
            actor: actor.to_owned(),
            action: AuditAction::EventsChanged,
            entity: "events",
            entity_id: Some("earnings".to_owned()),
            from_state: None,
            to_state: None,
            details: serde_json::json!({ "added": added, "removed": removed }),
        };
        store
            .change_earnings(&added, &removed, at_ms, actor, &audit)
            .await?;
    }
    let events = list(store, None, now).await?;
    Ok(ChangeOutcome {
        changed,
        added,
        removed,
        events,
    })
}

/// One bridge read of a cron step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DividendFetch {
    pub symbol: String,
    /// The next ex-date read (None: no dividend known, or failed).
    pub next_ex_date: Option<NaiveDate>,
    /// Why nothing was stored.
    pub error: Option<String>,
}

/// What one cron step did.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RefreshReport {
    pub fetches: Vec<DividendFetch>,
    /// Symbols due but not read this run (the bridge asked to wait).
    pub deferred: Vec<String>,
}

fn source_code(s: DividendSource) -> &'static str {
    match s {
        DividendSource::Ib => "ib",
        DividendSource::Sim => "sim",
    }
}

/// The dividend step of the 15-minute cron over `watchlist` at `now`. A
/// store read failure ends the step (`Err`); a symbol's bridge failure is
/// recorded on its row (retried after an hour, the last good values kept)
/// and the others go on, except that a 429 defers the rest.
pub async fn cron_step(
    store: &impl EventsStore,
    bridge: &impl Bridge,
    watchlist: &[Symbol],
    cfg: &EventsConfig,
    timeout_ms: u32,
    now: DateTime<Utc>,
) -> Result<RefreshReport, EventsError> {
    let mut report = RefreshReport::default();
    if cfg.dividends_per_run == 0 {
        return Ok(report);
    }
    let rows = store.dividends().await?;
    let plan = model::refresh_plan(watchlist, &rows, now, cfg.dividends_per_run);
    let now_ms = now.timestamp_millis();
    let mut stop = false;
    for symbol in plan {
        if stop {
            report.deferred.push(symbol.to_string());
            continue;
        }
        let path = format!("/events/dividends?symbol={symbol}");
        let read: Result<DividendsBody, String> = match bridge.get(&path, timeout_ms).await {
            Err(e) => Err(e.to_string()),
            Ok(a) if a.status == 200 => match serde_json::from_str::<DividendsBody>(&a.body) {
                Ok(b) if b.symbol == symbol => Ok(b),
                Ok(_) => Err("bridge /events/dividends answered for another symbol".into()),
                Err(_) => Err("bridge /events/dividends answer is not the expected body".into()),
            },
            Ok(a) => {
                stop = a.status == 429;
                Err(format!(
                    "bridge /events/dividends answered HTTP {}",
                    a.status
                ))
            }
        };
        match read {
            Ok(b) => {
                let w = DividendWrite {
                    symbol: symbol.to_string(),
                    now_ms,
                    next_attempt_at: now_ms + REFRESH_AFTER.num_milliseconds(),
                    next_ex_date: b.next_ex_date.map(ymd),
                    next_amount: b.next_amount,
                    past_12m: b.past_12m,
                    next_12m: b.next_12m,
                    source: source_code(b.source).to_owned(),
                };
                let error = store.save_dividend(&w).await.err().map(|e| e.to_string());
                report.fetches.push(DividendFetch {
                    symbol: symbol.to_string(),
                    next_ex_date: b.next_ex_date,
                    error,
                });
            }
            Err(error) => {
                let w = DividendFailure {
                    symbol: symbol.to_string(),
                    now_ms,
                    next_attempt_at: now_ms + RETRY_AFTER.num_milliseconds(),
                    error: crate::config::truncate(&error, 200),
                };
                // Best effort: an unrecorded failure is simply retried.
                let _ = store.record_dividend_failure(&w).await;
                report.fetches.push(DividendFetch {
                    symbol: symbol.to_string(),
                    next_ex_date: None,
                    error: Some(error),
                });
            }
        }
    }
    Ok(report)
}

/// The event calendars of `symbols` from `from` on (earnings by hand, the
/// next ex-dividend dates); symbols without events are left out.
pub async fn calendars(
    store: &impl EventsStore,
    symbols: &[Symbol],
    from: NaiveDate,
) -> Result<Vec<(Symbol, EventCalendar)>, EventsError> {
    let earnings = store.earnings(&ymd(from)).await?;
    let dividends = store.dividends().await?;
    Ok(model::calendars(symbols, &earnings, &dividends, from))
}

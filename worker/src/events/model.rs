//! Events' rows, SQL and pure rules: the `PUT /events` body and its
//! validation, the refresh plan of the dividend step, and the event
//! calendars generation hands to core (migration `0012_events.sql`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sas_core::market::Symbol;
use sas_core::strategy::EventCalendar;
use serde::{Deserialize, Serialize};

use super::EventsError;

/// Most entries (`add` + `remove`) one `PUT /events` may carry.
pub const MAX_CHANGES: usize = 100;
/// Longest note of an earnings date, in characters.
pub const MAX_NOTE_CHARS: usize = 200;
/// How far ahead an earnings date may be entered, in days.
pub const MAX_DAYS_AHEAD: i64 = 730;
/// A dividend answer is refreshed after this long (at most daily).
pub const REFRESH_AFTER: Duration = Duration::hours(24);
/// A failed dividend read is retried after this long.
pub const RETRY_AFTER: Duration = Duration::hours(1);

/// Upcoming earnings dates (`?1` first date, `YYYY-MM-DD`), by symbol and date.
pub const SELECT_EARNINGS: &str = "SELECT symbol, date, note, added_at, added_by \
FROM earnings_events WHERE date >= ?1 ORDER BY symbol, date";

/// Every stored dividend row, by symbol.
pub const SELECT_DIVIDENDS: &str = "SELECT symbol, checked_at, next_attempt_at, fetched_at, \
next_ex_date, next_amount, past_12m, next_12m, source, error FROM dividend_events ORDER BY symbol";

/// Adds one earnings date (`?1` symbol, `?2` date, `?3` note, `?4` at ms,
/// `?5` actor); an existing (symbol, date) keeps its row.
pub const INSERT_EARNINGS: &str = "INSERT INTO earnings_events \
(symbol, date, note, added_at, added_by) VALUES (?1, ?2, ?3, ?4, ?5) \
ON CONFLICT (symbol, date) DO NOTHING";

/// Removes one earnings date (`?1` symbol, `?2` date).
pub const DELETE_EARNINGS: &str = "DELETE FROM earnings_events WHERE symbol = ?1 AND date = ?2";

/// Stores a good dividend answer: `?1` symbol, `?2` now ms, `?3` next
/// attempt ms, `?4` next ex-date, `?5` next amount, `?6` past 12 months,
/// `?7` next 12 months, `?8` source.
pub const UPSERT_DIVIDEND_SUCCESS: &str = "INSERT INTO dividend_events \
(symbol, checked_at, next_attempt_at, fetched_at, next_ex_date, next_amount, past_12m, next_12m, source, error) \
VALUES (?1, ?2, ?3, ?2, ?4, ?5, ?6, ?7, ?8, NULL) \
ON CONFLICT (symbol) DO UPDATE SET checked_at = excluded.checked_at, \
next_attempt_at = excluded.next_attempt_at, fetched_at = excluded.fetched_at, \
next_ex_date = excluded.next_ex_date, next_amount = excluded.next_amount, \
past_12m = excluded.past_12m, next_12m = excluded.next_12m, source = excluded.source, error = NULL";

/// Records a failed dividend read, keeping the last good values: `?1`
/// symbol, `?2` now ms, `?3` next attempt ms, `?4` error.
pub const UPSERT_DIVIDEND_FAILURE: &str = "INSERT INTO dividend_events \
(symbol, checked_at, next_attempt_at, error) VALUES (?1, ?2, ?3, ?4) \
ON CONFLICT (symbol) DO UPDATE SET checked_at = excluded.checked_at, \
next_attempt_at = excluded.next_attempt_at, error = excluded.error";

/// A stored earnings date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarningsRow {
    pub symbol: String,
    pub date: String,
    pub note: Option<String>,
    pub added_at: i64,
    pub added_by: String,
}

/// A stored dividend row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DividendRow {
    pub symbol: String,
    pub checked_at: i64,
    pub next_attempt_at: i64,
    pub fetched_at: Option<i64>,
    pub next_ex_date: Option<String>,
    pub next_amount: Option<f64>,
    pub past_12m: Option<f64>,
    pub next_12m: Option<f64>,
    pub source: Option<String>,
    pub error: Option<String>,
}

/// One entry of `PUT /events` as sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventEntry {
    pub symbol: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Only for `add`.
    #[serde(default)]
    pub note: Option<String>,
}

/// `PUT /events` body: earnings dates to add and to remove (at least one
/// entry in all).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutEventsBody {
    #[serde(default)]
    pub add: Vec<EventEntry>,
    #[serde(default)]
    pub remove: Vec<EventEntry>,
}

/// A checked earnings date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EarningsDate {
    pub symbol: Symbol,
    pub date: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A checked `PUT /events`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventsChange {
    pub add: Vec<EarningsDate>,
    pub remove: Vec<EarningsDate>,
}

fn entry(
    list: &str,
    i: usize,
    e: &EventEntry,
    today: NaiveDate,
    adding: bool,
) -> Result<EarningsDate, EventsError> {
    let at = |field: &str| format!("{list}[{i}].{field}");
    let invalid = |m: String| EventsError::Invalid(m);
    let symbol = Symbol::parse(&e.symbol)
        .map_err(|err| invalid(format!("{} is not a valid symbol: {err}", at("symbol"))))?;
    let raw = e.date.trim();
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .ok_or_else(|| {
            invalid(format!(
                "{} must be a date YYYY-MM-DD, got {:?}",
                at("date"),
                crate::config::truncate(&e.date, 32)
            ))
        })?;
    let note = match (&e.note, adding) {
        (None, _) => None,
        (Some(_), false) => {
            return Err(invalid(format!("{} is only taken with add", at("note"))));
        }
        (Some(n), true) => {
            let n = n.trim();
            if n.chars().count() > MAX_NOTE_CHARS {
                return Err(invalid(format!(
                    "{} is longer than {MAX_NOTE_CHARS} characters",
                    at("note")
                )));
            }
            (!n.is_empty()).then(|| n.to_owned())
        }
    };
    if adding {
        if date < today {
            return Err(invalid(format!(
                "{} {date} is in the past (today is {today})",
                at("date")
            )));
        }
        if (date - today).num_days() > MAX_DAYS_AHEAD {
            return Err(invalid(format!(
                "{} {date} is more than {MAX_DAYS_AHEAD} days ahead",
                at("date")
            )));
        }
    }
    Ok(EarningsDate { symbol, date, note })
}

impl PutEventsBody {
    /// Checks every entry (the first problem is named: list, index, field),
    /// on `today` (the exchange date): at least one entry and at most
    /// [`MAX_CHANGES`]; added dates not in the past nor more than
    /// [`MAX_DAYS_AHEAD`] days ahead; no (symbol, date) both added and
    /// removed. Repeats are merged.
    pub fn check(&self, today: NaiveDate) -> Result<EventsChange, EventsError> {
        let n = self.add.len() + self.remove.len();
        if n == 0 {
            return Err(EventsError::Invalid(
                "nothing to change: give add and/or remove, each a list of {\"symbol\", \"date\"}"
                    .into(),
            ));
        }
        if n > MAX_CHANGES {
            return Err(EventsError::Invalid(format!(
                "at most {MAX_CHANGES} entries per request, got {n}"
            )));
        }
        let mut add = Vec::with_capacity(self.add.len());
        for (i, e) in self.add.iter().enumerate() {
            add.push(entry("add", i, e, today, true)?);
        }
        let mut remove = Vec::with_capacity(self.remove.len());
        for (i, e) in self.remove.iter().enumerate() {
            remove.push(entry("remove", i, e, today, false)?);
        }
        add.sort();
        // A repeat is merged; a note given on any of them is kept.
        add.dedup_by(|later, kept| {
            let same = later.symbol == kept.symbol && later.date == kept.date;
            if same && kept.note.is_none() {
                kept.note = later.note.take();
            }
            same
        });
        remove.sort();
        remove.dedup();
        if let Some(both) = add.iter().find(|a| {
            remove
                .iter()
                .any(|r| r.symbol == a.symbol && r.date == a.date)
        }) {
            return Err(EventsError::Invalid(format!(
                "{} {} is both added and removed",
                both.symbol, both.date
            )));
        }
        Ok(EventsChange { add, remove })
    }
}

/// Parses a stored `YYYY-MM-DD`.
pub fn ymd(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// The event calendars of `symbols` from `from` on: stored earnings dates
/// and each symbol's next ex-dividend date (when it is not before `from`).
/// Symbols without any event are left out. Unreadable stored dates are
/// skipped.
pub fn calendars(
    symbols: &[Symbol],
    earnings: &[EarningsRow],
    dividends: &[DividendRow],
    from: NaiveDate,
) -> Vec<(Symbol, EventCalendar)> {
    let mut by: BTreeMap<&str, (Vec<NaiveDate>, Vec<NaiveDate>)> = BTreeMap::new();
    for e in earnings {
        if let Some(d) = ymd(&e.date).filter(|d| *d >= from) {
            by.entry(e.symbol.as_str()).or_default().0.push(d);
        }
    }
    for r in dividends {
        if let Some(d) = r
            .next_ex_date
            .as_deref()
            .and_then(ymd)
            .filter(|d| *d >= from)
        {
            by.entry(r.symbol.as_str()).or_default().1.push(d);
        }
    }
    symbols
        .iter()
        .filter_map(|s| {
            let (e, x) = by.remove(s.as_str())?;
            Some((s.clone(), EventCalendar::new(e, x)))
        })
        .collect()
}

/// The symbols of `watchlist` whose dividends are due for a refresh at
/// `now` (never fetched first, then the longest overdue), at most `per_run`.
pub fn refresh_plan(
    watchlist: &[Symbol],
    dividends: &[DividendRow],
    now: DateTime<Utc>,
    per_run: u32,
) -> Vec<Symbol> {
    let now_ms = now.timestamp_millis();
    let mut due: Vec<(i64, &Symbol)> = watchlist
        .iter()
        .filter_map(
            |s| match dividends.iter().find(|r| r.symbol == s.as_str()) {
                None => Some((i64::MIN, s)),
                Some(r) if r.next_attempt_at <= now_ms => Some((r.next_attempt_at, s)),
                Some(_) => None,
            },
        )
        .collect();
    due.sort_by_key(|(at, _)| *at);
    due.into_iter()
        .take(usize::try_from(per_run).unwrap_or(usize::MAX))
        .map(|(_, s)| s.clone())
        .collect()
}

/// One upcoming event of `GET /events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    pub symbol: String,
    /// `earnings` or `ex_dividend`.
    pub kind: &'static str,
    pub date: String,
    /// `manual` (entered by hand) or the broker (`ib`, `sim`).
    pub source: String,
    /// Ex-dividend: the amount per share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Earnings: who entered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
    /// ISO time it was entered (earnings) or read from the broker.
    pub updated_at: Option<String>,
}

/// One symbol's dividend refresh state in `GET /events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DividendStateView {
    pub symbol: String,
    pub checked_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub fetched_at: Option<String>,
    pub next_ex_date: Option<String>,
    pub next_amount: Option<f64>,
    pub past_12m: Option<f64>,
    pub next_12m: Option<f64>,
    pub source: Option<String>,
    pub error: Option<String>,
}

/// `GET /events` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventsView {
    /// Upcoming events (today on), by date then symbol.
    pub events: Vec<EventView>,
    /// The dividend refresh state of every stored symbol.
    pub dividends: Vec<DividendStateView>,
}

fn iso(ms: i64) -> Option<String> {
    Some(crate::audit::iso_ms(ms))
}

/// The `GET /events` body of the stored rows, from `from` on, for `symbol`
/// only when given.
pub fn view(
    earnings: &[EarningsRow],
    dividends: &[DividendRow],
    from: NaiveDate,
    symbol: Option<&Symbol>,
) -> EventsView {
    let wanted = |s: &str| symbol.is_none_or(|w| w.as_str() == s);
    let mut events: Vec<EventView> = earnings
        .iter()
        .filter(|e| wanted(&e.symbol) && ymd(&e.date).is_some_and(|d| d >= from))
        .map(|e| EventView {
            symbol: e.symbol.clone(),
            kind: "earnings",
            date: e.date.clone(),
            source: "manual".into(),
            amount: None,
            note: e.note.clone(),
            added_by: Some(e.added_by.clone()),
            updated_at: iso(e.added_at),
        })
        .collect();
    for r in dividends.iter().filter(|r| wanted(&r.symbol)) {
        if let Some(d) = r
            .next_ex_date
            .as_deref()
            .filter(|d| ymd(d).is_some_and(|d| d >= from))
        {
            events.push(EventView {
                symbol: r.symbol.clone(),
                kind: "ex_dividend",
                date: d.to_owned(),
                source: r.source.clone().unwrap_or_default(),
                amount: r.next_amount,
                note: None,
                added_by: None,
                updated_at: r.fetched_at.and_then(iso),
            });
        }
    }
    events.sort_by(|a, b| (&a.date, &a.symbol, a.kind).cmp(&(&b.date, &b.symbol, b.kind)));
    let dividends = dividends
        .iter()
        .filter(|r| wanted(&r.symbol))
        .map(|r| DividendStateView {
            symbol: r.symbol.clone(),
            checked_at: iso(r.checked_at),
            next_attempt_at: iso(r.next_attempt_at),
            fetched_at: r.fetched_at.and_then(iso),
            next_ex_date: r.next_ex_date.clone(),
            next_amount: r.next_amount,
            past_12m: r.past_12m,
            next_12m: r.next_12m,
            source: r.source.clone(),
            error: r.error.clone(),
        })
        .collect();
    EventsView { events, dividends }
}

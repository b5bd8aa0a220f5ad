//! The IV-history rows and SQL (tables of `migrations/d1/0009_iv_history.sql`),
//! and the pure parts of the workflow: which symbols to ask the bridge for
//! this run ([`plan`]), how a bridge answer is read ([`parse_answer`]), what
//! a failure does to a symbol's state ([`after_failure`]), and the series
//! IV rank is taken from ([`rank_series`]). Executed by `edge::iv_history`
//! over D1 and by [`super::memory`] in the native tests.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use sas_bridge_api::error::{ErrorBody, ErrorCode};
use sas_bridge_api::market::{IvHistoryBody, IvSource};
use sas_core::analytics::iv_history::plausible_iv;
use sas_core::market::Symbol;
use serde::{Deserialize, Serialize};

use super::IvHistoryError;
use crate::bridge::BridgeAnswer;

/// Calendar days of a backfill (one IB request: the bridge's maximum).
pub const BACKFILL_DAYS: u32 = 365;
/// Calendar days of a daily append (a long weekend plus missed days).
pub const APPEND_DAYS: u32 = 10;
/// A backfill that stored fewer IB days than this is "too little" and is
/// fetched in full again after [`REFETCH_SHORT_AFTER_MS`] (a young listing
/// grows its history; IB may have had a gap).
pub const MIN_BACKFILLED_DAYS: i64 = 120;
/// Wait before a short history is fetched in full again (7 days).
pub const REFETCH_SHORT_AFTER_MS: i64 = 7 * 86_400_000;
/// Fewest milliseconds between two daily appends of one symbol (6 hours).
pub const APPEND_EVERY_MS: i64 = 6 * 3_600_000;
/// First backoff after a failure (one cron period); doubles per failure in a row.
pub const BACKOFF_BASE_MS: i64 = 15 * 60_000;
/// Longest backoff (one day).
pub const BACKOFF_MAX_MS: i64 = 86_400_000;
/// Wait after "no market-data permission" (6 hours).
pub const NO_PERMISSION_WAIT_MS: i64 = 6 * 3_600_000;
/// Wait before a symbol without options is asked again (7 days).
pub const NO_OPTIONS_WAIT_MS: i64 = 7 * 86_400_000;
/// Calendar days of SAS's own daily IV copied into `iv_history` per run
/// (completed days only; unchanged rows are not rewritten).
pub const OWN_APPEND_DAYS: u64 = 10;

/// Where each symbol of `?1` (JSON array, list order) stands: its state row
/// (NULLs when never asked) and the IB / own days stored since `?2`
/// (`YYYY-MM-DD`).
pub const SELECT_COVERAGE: &str = "SELECT w.value AS symbol, s.status, s.backfilled_at, \
s.last_attempt_at, s.next_attempt_at, s.attempts, s.last_error, \
(SELECT COUNT(h.ib_iv) FROM iv_history AS h WHERE h.symbol = w.value AND h.date >= ?2) AS ib_days, \
(SELECT COUNT(h.own_iv) FROM iv_history AS h WHERE h.symbol = w.value AND h.date >= ?2) AS own_days, \
(SELECT MIN(h.date) FROM iv_history AS h WHERE h.symbol = w.value AND h.date >= ?2 AND h.ib_iv IS NOT NULL) AS first_ib_date, \
(SELECT MAX(h.date) FROM iv_history AS h WHERE h.symbol = w.value AND h.ib_iv IS NOT NULL) AS last_ib_date \
FROM json_each(?1) AS w LEFT JOIN iv_history_state AS s ON s.symbol = w.value ORDER BY w.key";

/// Stores IB's closes: `?1` symbol, `?2` JSON array `[{"d": date, "v": iv}]`
/// ([`bars_json`]), `?3` source (`ib`|`sim`), `?4` now (Unix ms). An
/// unchanged bar is not rewritten (no D1 row written).
pub const UPSERT_IB_BARS: &str = "INSERT INTO iv_history (symbol, date, ib_iv, ib_source, updated_at) \
SELECT ?1, json_extract(value, '$.d'), json_extract(value, '$.v'), ?3, ?4 FROM json_each(?2) WHERE true \
ON CONFLICT (symbol, date) DO UPDATE SET ib_iv = excluded.ib_iv, ib_source = excluded.ib_source, \
updated_at = excluded.updated_at \
WHERE iv_history.ib_iv IS NOT excluded.ib_iv OR iv_history.ib_source IS NOT excluded.ib_source";

/// A successful fetch: `?1` symbol, `?2` now (Unix ms), `?3` 1 for a full
/// (one-year) backfill, 0 for an append.
pub const UPSERT_STATE_SUCCESS: &str = "INSERT INTO iv_history_state \
(symbol, status, backfilled_at, last_attempt_at, next_attempt_at, attempts, last_error) \
VALUES (?1, 'complete', CASE WHEN ?3 = 1 THEN ?2 END, ?2, ?2, 0, NULL) \
ON CONFLICT (symbol) DO UPDATE SET status = 'complete', \
backfilled_at = CASE WHEN ?3 = 1 THEN ?2 ELSE iv_history_state.backfilled_at END, \
last_attempt_at = ?2, next_attempt_at = ?2, attempts = 0, last_error = NULL";

/// A fetch that stored nothing: `?1` symbol, `?2` status, `?3` now,
/// `?4` next attempt (Unix ms), `?5` failures in a row, `?6` reason.
pub const UPSERT_STATE_FAILURE: &str = "INSERT INTO iv_history_state \
(symbol, status, backfilled_at, last_attempt_at, next_attempt_at, attempts, last_error) \
VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6) \
ON CONFLICT (symbol) DO UPDATE SET status = excluded.status, \
last_attempt_at = excluded.last_attempt_at, next_attempt_at = excluded.next_attempt_at, \
attempts = excluded.attempts, last_error = excluded.last_error";

/// Copies SAS's own daily 30-day ATM IV of completed days into
/// `iv_history.own_iv`: symbols of `?1` (JSON array), `?2 <= date < ?3`
/// (`?3` = today, whose value still changes), `?4` now (Unix ms). A value
/// already copied is not rewritten.
pub const APPEND_OWN_IV: &str = "INSERT INTO iv_history (symbol, date, own_iv, updated_at) \
SELECT m.symbol, m.date, m.atm_iv_30d, ?4 FROM underlying_metrics_daily AS m \
WHERE m.symbol IN (SELECT value FROM json_each(?1)) AND m.date >= ?2 AND m.date < ?3 \
AND m.atm_iv_30d IS NOT NULL \
ON CONFLICT (symbol, date) DO UPDATE SET own_iv = excluded.own_iv, updated_at = excluded.updated_at \
WHERE iv_history.own_iv IS NOT excluded.own_iv";

/// One symbol's IB and own IV per date for `?2 <= date <= ?3`, oldest
/// first; SAS's own value also from `underlying_metrics_daily` (days not yet
/// copied, today included).
pub const SELECT_SERIES: &str = "SELECT date, MAX(ib_iv) AS ib_iv, MAX(own_iv) AS own_iv FROM (\
SELECT date, ib_iv, own_iv FROM iv_history WHERE symbol = ?1 AND date >= ?2 AND date <= ?3 \
UNION ALL \
SELECT date, NULL AS ib_iv, atm_iv_30d AS own_iv FROM underlying_metrics_daily \
WHERE symbol = ?1 AND date >= ?2 AND date <= ?3) \
GROUP BY date ORDER BY date";

/// Drop-in replacement of `chains::SELECT_IV_HISTORY` (same parameters:
/// `?1` JSON array of symbols, `?2 <= date < ?3`; same columns `symbol,
/// date, atm_iv_30d`, oldest first): per date IB's close when stored, else
/// SAS's own, so the chain step's IV rank rests on the IB year from day one.
pub const SELECT_RANK_SERIES: &str = "SELECT symbol, date, \
COALESCE(MAX(ib_iv), MAX(own_iv)) AS atm_iv_30d FROM (\
SELECT symbol, date, ib_iv, own_iv FROM iv_history \
WHERE symbol IN (SELECT value FROM json_each(?1)) AND date >= ?2 AND date < ?3 \
UNION ALL \
SELECT symbol, date, NULL AS ib_iv, atm_iv_30d AS own_iv FROM underlying_metrics_daily \
WHERE symbol IN (SELECT value FROM json_each(?1)) AND date >= ?2 AND date < ?3) \
GROUP BY symbol, date HAVING atm_iv_30d IS NOT NULL ORDER BY symbol, date";

/// Row of [`SELECT_COVERAGE`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CoverageRow {
    pub symbol: String,
    /// `pending` | `complete` | `no_options` | `no_permission`; `None`: never asked.
    pub status: Option<String>,
    pub backfilled_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
    pub attempts: Option<i64>,
    pub last_error: Option<String>,
    pub ib_days: i64,
    pub own_days: i64,
    pub first_ib_date: Option<String>,
    pub last_ib_date: Option<String>,
}

/// Row of [`SELECT_SERIES`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SeriesRow {
    pub date: String,
    pub ib_iv: Option<f64>,
    pub own_iv: Option<f64>,
}

/// What a symbol's bridge request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// A year of history (none yet, or too little).
    Backfill,
    /// The newest closes of a complete history.
    Append,
}

impl FetchKind {
    /// Calendar days asked of `/history/iv`.
    pub fn days(self) -> u32 {
        match self {
            FetchKind::Backfill => BACKFILL_DAYS,
            FetchKind::Append => APPEND_DAYS,
        }
    }
}

/// One planned bridge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub symbol: Symbol,
    pub kind: FetchKind,
}

/// Bridge path of one symbol's IV history.
pub fn iv_path(symbol: &Symbol, days: u32) -> String {
    format!("/history/iv?symbol={symbol}&days={days}")
}

/// The weekday before `today` (holidays are not skipped: a holiday costs one
/// append request that finds nothing new, at most every [`APPEND_EVERY_MS`]).
pub fn previous_weekday(today: NaiveDate) -> NaiveDate {
    let mut d = today;
    loop {
        d = d.checked_sub_days(Days::new(1)).unwrap_or(d);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            return d;
        }
    }
}

/// What `row` needs this run (`None`: nothing, or waiting for its turn).
pub fn need(row: Option<&CoverageRow>, today: NaiveDate, now_ms: i64) -> Option<FetchKind> {
    let Some(row) = row.filter(|r| r.status.is_some()) else {
        return Some(FetchKind::Backfill);
    };
    if row.next_attempt_at.is_some_and(|t| t > now_ms) {
        return None;
    }
    match row.status.as_deref() {
        Some("complete") => {}
        // pending, no_permission, no_options after their wait: a full fetch.
        _ => return Some(FetchKind::Backfill),
    }
    let backfilled_at = row.backfilled_at.unwrap_or(0);
    if row.ib_days < MIN_BACKFILLED_DAYS && now_ms - backfilled_at >= REFETCH_SHORT_AFTER_MS {
        return Some(FetchKind::Backfill);
    }
    let last = row
        .last_ib_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let behind = last.is_none_or(|d| d < previous_weekday(today));
    let due = now_ms - row.last_attempt_at.unwrap_or(0) >= APPEND_EVERY_MS;
    (behind && due).then_some(FetchKind::Append)
}

/// The bridge requests of this run: backfills before appends, the symbol
/// asked longest ago (never asked first) first, then watchlist order; at
/// most `limit` (IB's historical-data pacing is held by asking few).
pub fn plan(
    watchlist: &[Symbol],
    coverage: &[CoverageRow],
    today: NaiveDate,
    now_ms: i64,
    limit: u32,
) -> Vec<Planned> {
    let mut wanted: Vec<(FetchKind, i64, usize, &Symbol)> = watchlist
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let row = coverage.iter().find(|r| r.symbol == s.as_str());
            let kind = need(row, today, now_ms)?;
            let asked = row.and_then(|r| r.last_attempt_at).unwrap_or(i64::MIN);
            Some((kind, asked, i, s))
        })
        .collect();
    wanted.sort();
    wanted
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(kind, _, _, s)| Planned {
            symbol: s.clone(),
            kind,
        })
        .collect()
}

/// A bridge answer that can be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedIv {
    /// Plausible daily closes, oldest first, one per date.
    pub bars: Vec<(NaiveDate, f64)>,
    pub source: IvSource,
    /// Bars left out (implausible IV or a repeated date).
    pub ignored: usize,
}

/// Reads a `/history/iv` answer for `symbol`: 200 with an
/// [`IvHistoryBody`] for that symbol, or the failure it means (429 paced,
/// 403 no permission, 404 `no_options`).
pub fn parse_answer(answer: &BridgeAnswer, symbol: &Symbol) -> Result<FetchedIv, IvHistoryError> {
    match answer.status {
        200 => {}
        429 => return Err(IvHistoryError::Paced),
        403 => return Err(IvHistoryError::NoPermission),
        404 if serde_json::from_str::<ErrorBody>(&answer.body)
            .is_ok_and(|b| b.error == ErrorCode::NoOptions) =>
        {
            return Err(IvHistoryError::NoOptions)
        }
        status => return Err(IvHistoryError::BridgeStatus { status }),
    }
    let body: IvHistoryBody = serde_json::from_str(&answer.body)
        .map_err(|e| IvHistoryError::BadBody(crate::config::truncate(&e.to_string(), 120)))?;
    if &body.symbol != symbol {
        return Err(IvHistoryError::OtherSymbol);
    }
    let n = body.bars.len();
    let mut bars: Vec<(NaiveDate, f64)> = body
        .bars
        .iter()
        .filter(|b| plausible_iv(b.iv))
        .map(|b| (b.date, b.iv))
        .collect();
    bars.sort_by_key(|b| b.0);
    bars.dedup_by_key(|b| b.0);
    Ok(FetchedIv {
        ignored: n - bars.len(),
        bars,
        source: body.source,
    })
}

/// The JSON array bound to [`UPSERT_IB_BARS`].
pub fn bars_json(bars: &[(NaiveDate, f64)]) -> String {
    let list: Vec<serde_json::Value> = bars
        .iter()
        .map(|(d, v)| serde_json::json!({ "d": d.format("%Y-%m-%d").to_string(), "v": v }))
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// The `ib_source` column value.
pub fn source_code(source: IvSource) -> &'static str {
    match source {
        IvSource::Ib => "ib",
        IvSource::Sim => "sim",
    }
}

/// One successful fetch, written as ONE batch: [`UPSERT_IB_BARS`] then
/// [`UPSERT_STATE_SUCCESS`].
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillWrite {
    pub symbol: Symbol,
    pub kind: FetchKind,
    pub fetched: FetchedIv,
    pub now_ms: i64,
}

/// A fetch that stored nothing ([`UPSERT_STATE_FAILURE`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StateWrite {
    pub symbol: Symbol,
    pub status: &'static str,
    pub now_ms: i64,
    pub next_attempt_at: i64,
    pub attempts: i64,
    pub error: String,
}

/// The state after `failure` for a symbol whose state was `row`: the
/// history already stored stays `complete` (an append that failed); the
/// next attempt waits (doubling per failure in a row, at most a day; 6 h
/// without permission; 7 days without options).
pub fn after_failure(
    symbol: &Symbol,
    row: Option<&CoverageRow>,
    failure: &IvHistoryError,
    now_ms: i64,
) -> StateWrite {
    let attempts = row.and_then(|r| r.attempts).unwrap_or(0).max(0) + 1;
    let shift = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(10);
    let backoff = BACKOFF_BASE_MS
        .saturating_mul(1_i64 << shift)
        .min(BACKOFF_MAX_MS);
    let complete = row.and_then(|r| r.status.as_deref()) == Some("complete");
    let (status, wait) = match failure {
        IvHistoryError::NoOptions => ("no_options", NO_OPTIONS_WAIT_MS),
        IvHistoryError::NoPermission => ("no_permission", NO_PERMISSION_WAIT_MS.max(backoff)),
        _ if complete => ("complete", backoff),
        _ => ("pending", backoff),
    };
    StateWrite {
        symbol: symbol.clone(),
        status,
        now_ms,
        next_attempt_at: now_ms.saturating_add(wait),
        attempts,
        error: crate::config::truncate(&failure.to_string(), 200),
    }
}

/// Which value a date of the rank series took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesSource {
    Ib,
    Own,
}

/// The dated series IV rank is taken from, oldest first: per date IB's
/// close when plausible, else SAS's own. Dates on or after `before` are left
/// out (the current value is passed separately).
pub fn rank_series(rows: &[SeriesRow], before: NaiveDate) -> Vec<(NaiveDate, f64, SeriesSource)> {
    let mut out: Vec<(NaiveDate, f64, SeriesSource)> = rows
        .iter()
        .filter_map(|r| {
            let d = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d").ok()?;
            if d >= before {
                return None;
            }
            match (r.ib_iv.filter(|v| plausible_iv(*v)), r.own_iv) {
                (Some(v), _) => Some((d, v, SeriesSource::Ib)),
                (None, Some(v)) if plausible_iv(v) => Some((d, v, SeriesSource::Own)),
                _ => None,
            }
        })
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// A dated IV series.
pub type DatedIv = Vec<(NaiveDate, f64)>;

/// Both stored series of `rows` for [`sas_core::analytics::iv_history::compare_iv_series`]:
/// `(own, ib)`.
pub fn own_and_ib(rows: &[SeriesRow]) -> (DatedIv, DatedIv) {
    let mut own = Vec::new();
    let mut ib = Vec::new();
    for r in rows {
        let Ok(d) = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d") else {
            continue;
        };
        if let Some(v) = r.own_iv {
            own.push((d, v));
        }
        if let Some(v) = r.ib_iv {
            ib.push((d, v));
        }
    }
    (own, ib)
}

/// The chain step's stored gate verdict of one symbol
/// (`migrations/d1/0013_symbol_quality.sql`, one upserted row per symbol):
/// `?1` symbol. `since_ms` is when the current state began: the upsert keeps
/// it while the state stays the same, so it is the first check of the
/// current unbroken run of that state (no history of rows is scanned).
pub const SELECT_STORED_QUALITY: &str = "SELECT state, since_ms, checked_ms, reasons_json, \
dropped_json, input_contracts, kept_contracts FROM symbol_quality WHERE symbol = ?1";

/// A row of [`SELECT_STORED_QUALITY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredQualityRow {
    pub state: String,
    pub since_ms: i64,
    pub checked_ms: i64,
    pub reasons_json: String,
    pub dropped_json: String,
    pub input_contracts: i64,
    pub kept_contracts: i64,
}

/// What the chain step last stored about a symbol's data, in the
/// `/symbols/{symbol}/quality` report (`stored`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct StoredQuality {
    /// `live`, `delayed`, `failing`, or `unknown` (not yet checked: no
    /// chain-step run has stored this symbol).
    pub state: String,
    /// When the current state began (RFC 3339): the first check of its
    /// unbroken run. `None` when unknown.
    pub since: Option<String>,
    pub since_ms: Option<i64>,
    /// The latest check (RFC 3339).
    pub checked_at: Option<String>,
    pub checked_ms: Option<i64>,
    /// Whole seconds the state has held at the time of the report (0 for a
    /// `since` in the future, which a skewed clock could give).
    pub held_secs: Option<i64>,
    /// The hold reasons of the latest check (empty when live).
    pub reasons: Vec<serde_json::Value>,
    /// Contracts dropped by reason at the latest check.
    pub dropped: std::collections::BTreeMap<String, i64>,
    pub input_contracts: i64,
    pub kept_contracts: i64,
    /// Human-readable note (`not yet checked` when unknown).
    pub note: Option<String>,
}

fn rfc3339_ms(ms: i64) -> Option<String> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339())
}

/// The report's `stored` part from the symbol's row (`None`: never
/// checked) at `now_ms`. Pure. A state the table's CHECK would refuse, or
/// unreadable JSON, is shown as stored / empty rather than failing the
/// report.
pub fn stored_quality(row: Option<&StoredQualityRow>, now_ms: i64) -> StoredQuality {
    let Some(r) = row else {
        return StoredQuality {
            state: "unknown".to_owned(),
            since: None,
            since_ms: None,
            checked_at: None,
            checked_ms: None,
            held_secs: None,
            reasons: Vec::new(),
            dropped: std::collections::BTreeMap::new(),
            input_contracts: 0,
            kept_contracts: 0,
            note: Some("not yet checked".to_owned()),
        };
    };
    StoredQuality {
        state: r.state.clone(),
        since: rfc3339_ms(r.since_ms),
        since_ms: Some(r.since_ms),
        checked_at: rfc3339_ms(r.checked_ms),
        checked_ms: Some(r.checked_ms),
        held_secs: Some(now_ms.saturating_sub(r.since_ms).max(0) / 1000),
        reasons: serde_json::from_str(&r.reasons_json).unwrap_or_default(),
        dropped: serde_json::from_str(&r.dropped_json).unwrap_or_default(),
        input_contracts: r.input_contracts,
        kept_contracts: r.kept_contracts,
        note: None,
    }
}

//! Market-data ingestion, pure part: deciding whether to run, interpreting
//! the bridge's `/quotes` answer, and building the rows and the run record.
//! The adapter (`edge::ingest`) does the I/O around these functions.

pub mod service;
#[cfg(test)]
mod service_tests;

use chrono::{DateTime, Utc};
use sas_core::calendar::{MarketCalendar, MarketStatus};
use sas_core::market::{Quote, Symbol};
use serde::{Deserialize, Serialize};

use crate::config::MarketHoursMode;
use sas_bridge_api::market::SymbolError;

/// Longest error text stored in a run record.
pub const MAX_ERROR_LEN: usize = 500;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The 15-minute cron.
    Cron,
    /// `POST /ingest/market`.
    Manual,
}

impl Trigger {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cron => "cron",
            Trigger::Manual => "manual",
        }
    }
}

/// Outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum RunStatus {
    /// Every watchlist symbol stored.
    Ok,
    /// Some symbols stored, some failed.
    Partial,
    /// Nothing stored.
    Failed,
    /// Not attempted (market closed).
    Skipped,
}

impl RunStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
        }
    }
}

/// One row of `ingest_runs`, as stored and as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct IngestRun {
    pub id: i64,
    pub trigger: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub symbols_ok: i64,
    pub symbols_failed: i64,
    pub rows_written: i64,
    pub error: Option<String>,
}

/// The market is closed: the run is skipped with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("market closed ({reason}); next open {next_open}")]
pub struct MarketClosed {
    pub reason: String,
    pub next_open: String,
}

/// The bridge's `/quotes` answer is not a quotes body (the run fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bridge answered with malformed quotes JSON: {0}")]
pub struct MalformedQuotes(pub String);

/// Why a run stored no quotes (the run's `error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Bridge(crate::bridge::BridgeFailure),
    #[error("bridge answered HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Malformed(#[from] MalformedQuotes),
}

/// Whether the run should fetch quotes, or be recorded as skipped with a reason.
pub fn gate(mode: MarketHoursMode, now: DateTime<Utc>) -> Result<(), MarketClosed> {
    if mode == MarketHoursMode::Ignore {
        return Ok(());
    }
    match MarketCalendar::status(now) {
        MarketStatus::Open(_) => Ok(()),
        MarketStatus::Closed { reason, next_open } => Err(MarketClosed {
            reason: reason.to_string(),
            next_open: iso(next_open),
        }),
    }
}

/// Market-data pruning of one run: `(cutoff_ms, keep_ms)` bound to
/// [`crate::store::PRUNE_MARKET_DATA`] (older than the retention, and never
/// within the retention of the newest stored row), or `None`: only a run
/// that writes quotes prunes, so skipped (market closed) and failed runs
/// never shrink the history.
pub fn market_data_prune(
    quotes_written: usize,
    started: DateTime<Utc>,
    retention_days: u32,
) -> Option<(i64, i64)> {
    let keep = chrono::Duration::days(i64::from(retention_days));
    (quotes_written > 0).then(|| ((started - keep).timestamp_millis(), keep.num_milliseconds()))
}

/// The usable part of a bridge `/quotes` answer for one watchlist.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteBatch {
    /// Valid quotes for watchlist symbols, at most one per symbol.
    pub quotes: Vec<Quote>,
    /// Watchlist symbols without a usable quote, each with the reason.
    pub failures: Vec<(String, String)>,
}

/// Interprets a bridge `/quotes` body. A body that is not the expected JSON
/// shape is an error (the whole run fails); individual bad quotes only fail
/// their symbol.
pub fn parse_bridge_quotes(
    body: &str,
    watchlist: &[Symbol],
) -> Result<QuoteBatch, MalformedQuotes> {
    // The body is `sas_bridge_api::market::QuotesBody`, read one quote at a
    // time so that a malformed quote fails only its symbol.
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body)
        .map_err(|e| MalformedQuotes(crate::config::truncate(&e.to_string(), 120)))?;
    let Some(serde_json::Value::Array(raw_quotes)) = parsed.get("quotes") else {
        return Err(MalformedQuotes("no quotes list".into()));
    };
    let errors: Vec<SymbolError> = parsed
        .get("errors")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    let mut quotes: Vec<Quote> = Vec::with_capacity(watchlist.len());
    let mut invalid: Vec<(String, String)> = Vec::new();
    for raw in raw_quotes.iter().cloned() {
        let symbol_hint = raw
            .get("symbol")
            .and_then(|s| s.as_str())
            .map(|s| crate::config::truncate(s, 12));
        match serde_json::from_value::<Quote>(raw) {
            Ok(q) => match check_quote(&q) {
                Ok(()) => {
                    if watchlist.contains(&q.symbol) && !quotes.iter().any(|o| o.symbol == q.symbol)
                    {
                        quotes.push(q);
                    }
                }
                Err(reason) => invalid.push((q.symbol.to_string(), reason.to_owned())),
            },
            Err(_) => {
                if let Some(s) = symbol_hint {
                    invalid.push((s, "malformed quote".to_owned()));
                }
            }
        }
    }
    let failures = watchlist
        .iter()
        .filter(|s| !quotes.iter().any(|q| &q.symbol == *s))
        .map(|s| {
            let reason = invalid
                .iter()
                .find(|(name, _)| name == s.as_str())
                .map(|(_, r)| r.clone())
                .or_else(|| {
                    errors
                        .iter()
                        .find(|e| e.symbol.eq_ignore_ascii_case(s.as_str()))
                        .map(|e| e.error.as_str().to_owned())
                })
                .unwrap_or_else(|| "no quote returned".to_owned());
            (s.to_string(), reason)
        })
        .collect();
    Ok(QuoteBatch { quotes, failures })
}

fn check_quote(q: &Quote) -> Result<(), &'static str> {
    let finite = q.bid.is_finite() && q.ask.is_finite() && q.last.is_finite();
    if !finite || q.last <= 0.0 || q.bid < 0.0 || q.ask < 0.0 {
        return Err("invalid price");
    }
    if q.bid > 0.0 && q.ask > 0.0 && q.bid > q.ask {
        return Err("crossed quote");
    }
    if i64::try_from(q.volume).is_err() {
        return Err("invalid volume");
    }
    Ok(())
}

/// One stored quote row in the compact JSON form bound to the insert
/// statement (`json_each(?)`).
#[derive(Debug, Serialize)]
struct RowJson<'a> {
    s: &'a str,
    t: i64,
    b: f64,
    a: f64,
    l: f64,
    v: u64,
    d: &'static str,
}

/// The JSON array bound as the single parameter of the market-data insert.
pub fn rows_json(quotes: &[Quote]) -> String {
    let rows: Vec<RowJson<'_>> = quotes
        .iter()
        .map(|q| RowJson {
            s: q.symbol.as_str(),
            t: q.timestamp.timestamp_millis(),
            b: q.bid,
            a: q.ask,
            l: q.last,
            v: q.volume,
            d: q.data_type.as_str(),
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

/// How old a quote may be when it is written (ms): a little under the
/// archive export's settle window ([`crate::store::ARCHIVE_SETTLE_MS`]). The
/// export hands a market-data row to the archiver once its time is older than
/// that window and then moves its cursor past it, so a row written later with
/// an older time would never be archived, and pruning would delete it. The
/// margin covers the time between reading the clock and the batch committing.
pub const MAX_QUOTE_AGE_MS: i64 = crate::store::ARCHIVE_SETTLE_MS - 5 * 60 * 1000;

/// Moves every quote stamped more than [`MAX_QUOTE_AGE_MS`] before `now` into
/// the failures, with the reason: such a quote is stale for trading and would
/// never reach the archive.
pub fn refuse_stale(batch: QuoteBatch, now: DateTime<Utc>) -> QuoteBatch {
    let oldest = now.timestamp_millis() - MAX_QUOTE_AGE_MS;
    let (quotes, stale): (Vec<Quote>, Vec<Quote>) = batch
        .quotes
        .into_iter()
        .partition(|q| q.timestamp.timestamp_millis() >= oldest);
    let mut failures = batch.failures;
    failures.extend(stale.into_iter().map(|q| {
        let reason = format!(
            "stale quote from {} (older than {} minutes)",
            q.timestamp.format("%Y-%m-%dT%H:%M:%SZ"),
            MAX_QUOTE_AGE_MS / 60_000
        );
        (q.symbol.as_str().to_owned(), reason)
    }));
    QuoteBatch { quotes, failures }
}

/// Status and error text of a run that fetched `batch`.
pub fn batch_outcome(batch: &QuoteBatch) -> (RunStatus, Option<String>) {
    let status = match (batch.quotes.is_empty(), batch.failures.is_empty()) {
        (_, true) => RunStatus::Ok,
        (false, false) => RunStatus::Partial,
        (true, false) => RunStatus::Failed,
    };
    let error = (!batch.failures.is_empty()).then(|| {
        let list: Vec<String> = batch
            .failures
            .iter()
            .map(|(s, r)| format!("{s}: {r}"))
            .collect();
        let prefix = if status == RunStatus::Failed {
            "no usable quotes; "
        } else {
            ""
        };
        crate::config::truncate(&format!("{prefix}{}", list.join(", ")), MAX_ERROR_LEN)
    });
    (status, error)
}

/// RFC 3339 UTC with milliseconds (`2026-11-20T14:30:00.000Z`).
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// RFC 3339 form of a Unix-milliseconds timestamp (empty string if out of range).
pub fn iso_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(iso)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(names: &[&str]) -> Vec<Symbol> {
        names.iter().map(|n| Symbol::parse(n).unwrap()).collect()
    }

    fn quote_json(symbol: &str, last: f64) -> String {
        format!(
            r#"{{"symbol":"{symbol}","bid":{b},"ask":{a},"last":{last},"volume":1200,"timestamp":"2026-11-20T15:00:00Z","data_type":"simulated"}}"#,
            b = last - 0.01,
            a = last + 0.01
        )
    }

    #[test]
    fn full_batch_is_ok() {
        let body = format!(
            r#"{{"quotes":[{},{}],"errors":[]}}"#,
            quote_json("AAPL", 190.0),
            quote_json("SPY", 600.0)
        );
        let batch = parse_bridge_quotes(&body, &wl(&["AAPL", "SPY"])).unwrap();
        assert_eq!(batch.quotes.len(), 2);
        assert_eq!(batch_outcome(&batch), (RunStatus::Ok, None));
        let rows: serde_json::Value = serde_json::from_str(&rows_json(&batch.quotes)).unwrap();
        assert_eq!(rows[0]["s"], "AAPL");
        assert_eq!(rows[0]["t"], 1_795_186_800_000_i64);
        assert_eq!(rows[1]["l"], 600.0);
        assert_eq!(rows[1]["d"], "simulated");
    }

    #[test]
    fn per_symbol_failures_make_a_partial_run() {
        let body = format!(
            r#"{{"quotes":[{},{}],"errors":[{{"symbol":"ZZZZ","error":"unknown_symbol","message":"x"}}]}}"#,
            quote_json("AAPL", 190.0),
            quote_json("SPY", -1.0)
        );
        let batch = parse_bridge_quotes(&body, &wl(&["AAPL", "SPY", "ZZZZ", "QQQ"])).unwrap();
        assert_eq!(batch.quotes.len(), 1);
        let (status, error) = batch_outcome(&batch);
        assert_eq!(status, RunStatus::Partial);
        let error = error.unwrap();
        assert!(error.contains("SPY: invalid price"), "{error}");
        assert!(error.contains("ZZZZ: unknown_symbol"), "{error}");
        assert!(error.contains("QQQ: no quote returned"), "{error}");
    }

    #[test]
    fn garbage_fails_the_run() {
        for body in ["", "<html>", "{}", r#"{"quotes":5}"#, "[1,2]"] {
            assert!(parse_bridge_quotes(body, &wl(&["AAPL"])).is_err(), "{body}");
        }
        let batch =
            parse_bridge_quotes(r#"{"quotes":[{"symbol":"AAPL"}]}"#, &wl(&["AAPL"])).unwrap();
        let (status, error) = batch_outcome(&batch);
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(error.unwrap(), "no usable quotes; AAPL: malformed quote");
    }

    #[test]
    fn quotes_outside_the_watchlist_and_duplicates_are_ignored() {
        let body = format!(
            r#"{{"quotes":[{},{},{}]}}"#,
            quote_json("AAPL", 190.0),
            quote_json("AAPL", 191.0),
            quote_json("TSLA", 300.0)
        );
        let batch = parse_bridge_quotes(&body, &wl(&["AAPL"])).unwrap();
        assert_eq!(batch.quotes.len(), 1);
        assert_eq!(batch.quotes[0].last, 190.0);
    }

    #[test]
    fn market_data_pruning_runs_only_on_runs_that_ingested() {
        let saturday = DateTime::parse_from_rfc3339("2026-11-21T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // Skipped and failed runs write nothing and prune nothing.
        assert_eq!(market_data_prune(0, saturday, 1), None);
        let (cutoff, keep) = market_data_prune(10, saturday, 2).unwrap();
        assert_eq!(cutoff, saturday.timestamp_millis() - 2 * 86_400_000);
        assert_eq!(keep, 2 * 86_400_000);
        assert!(crate::store::PRUNE_MARKET_DATA.contains("MAX(ts)"));
    }

    #[test]
    fn gate_respects_mode_and_calendar() {
        let saturday = DateTime::parse_from_rfc3339("2026-11-21T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let reason = gate(MarketHoursMode::Enforce, saturday)
            .unwrap_err()
            .to_string();
        assert_eq!(
            reason,
            "market closed (weekend); next open 2026-11-23T14:30:00.000Z"
        );
        assert!(gate(MarketHoursMode::Ignore, saturday).is_ok());
        let friday = DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(gate(MarketHoursMode::Enforce, friday).is_ok());
    }
}

//! The risk engine's rows and SQL (migration 0008, and reads of the position
//! engine's tables of 0005), and the pure mapping from what is stored to
//! core's inputs ([`sas_core::risk::Observation`], the book of the
//! pre-trade checks). Parsing only; no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sas_core::calendar::{utc_to_eastern, MarketCalendar};
use sas_core::market::Symbol;
use sas_core::money::Money;
use sas_core::risk::{Observation, StopOut};
use serde::{Deserialize, Serialize};

use crate::positions::model::{millis_to_utc, ReconciliationRow};

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// The `risk_state` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskStateRow {
    /// `core::risk::TradingState` JSON.
    pub state: String,
    pub mode: String,
    pub version: i64,
    pub evaluated_at: Option<i64>,
    pub updated_at: i64,
    pub updated_by: String,
}

/// What [`SELECT_EQUITY_POINTS`] gives: the net liquidation figures the
/// daily-loss and drawdown rules need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EquityPoints {
    /// Newest snapshot with a net liquidation.
    pub last_at: Option<i64>,
    pub last_nl: Option<f64>,
    /// Newest net liquidation before the New York day began (the previous
    /// session's close).
    pub before_day_nl: Option<f64>,
    /// First net liquidation of the New York day (when none before it).
    pub first_of_day_nl: Option<f64>,
    /// Highest net liquidation of the New York day.
    pub day_high: Option<f64>,
}

/// An open position and its newest trustworthy mark
/// ([`SELECT_OPEN_MARK_AGES`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenMarkRow {
    pub id: i64,
    pub symbol: String,
    pub last_ok_at: Option<i64>,
}

/// A stop-loss exit ([`SELECT_STOP_OUTS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopOutRow {
    pub symbol: String,
    pub closed_at: i64,
}

/// A `strategy_switches` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySwitchRow {
    pub strategy: String,
    pub enabled: i64,
    pub reason: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// An approved trade whose risk is still live ([`SELECT_LIVE_APPROVED`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovedRow {
    pub id: i64,
    pub idempotency_key: String,
    pub symbol: String,
    pub strategy: String,
    pub contracts: i64,
    pub approved_contracts: Option<i64>,
    /// Max loss per set at mid (the column).
    pub max_loss: f64,
    /// The whole `core::strategy::Proposal` (natural max loss, greeks).
    pub proposal_json: String,
    pub order_status: Option<String>,
    /// The position's status when it has one.
    pub position_status: Option<String>,
}

/// The newest trustworthy mark of an open position ([`SELECT_OPEN_OK_MARKS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OkMarkRow {
    pub position_id: i64,
    pub key: String,
    pub at: i64,
    /// `core::portfolio::MarkGreeks` JSON of the whole position.
    pub greeks: Option<String>,
}

/// A closed position with its proposal ([`SELECT_CLOSED_TRADES`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedTradeRow {
    pub id: i64,
    pub key: String,
    pub symbol: String,
    pub strategy: String,
    /// `core::portfolio::Position` JSON.
    pub summary: Option<String>,
    pub realized_micros: i64,
    pub exit_reason: Option<String>,
    pub opened_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub proposal_json: Option<String>,
    /// Net mid per share at approval (the order's limit).
    pub approved_limit_price: Option<f64>,
    /// Value at mid of the open quantity at the mark that triggered the exit
    /// (the newest `exit_triggered` audit row of the position; `None` for a
    /// trader's close or an expiry).
    #[serde(default)]
    pub exit_mark_value_mid: Option<f64>,
}

/// A fill of a closed trade ([`SELECT_FILLS_OF`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeFillRow {
    pub position_id: i64,
    pub order_key: String,
    pub contract: String,
    pub quantity: i64,
    pub price_micros: i64,
    pub commission_micros: Option<i64>,
}

/// A daily equity point ([`SELECT_DAILY_EQUITY`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyEquityRow {
    pub at: i64,
    pub net_liquidation: f64,
}

// ---------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------

/// The trading state row.
pub const SELECT_STATE: &str =
    "SELECT state, mode, version, evaluated_at, updated_at, updated_by FROM risk_state WHERE id = 1";

/// Compare-and-set of the trading state: `?1` state JSON, `?2` mode, `?3`
/// expected version, `?4` now, `?5` actor, `?6` evaluated at (kept when
/// NULL). Its audit rows follow in the same batch with
/// [`crate::audit::INSERT_AUDIT_IF_CHANGED`] (each sees the row before it
/// changed, so all or none are written).
pub const UPDATE_STATE: &str = "UPDATE risk_state SET state = ?1, mode = ?2, \
version = version + 1, updated_at = ?4, updated_by = ?5, \
evaluated_at = COALESCE(?6, evaluated_at) WHERE id = 1 AND version = ?3";

/// The kill switch set in the state's batch, right after [`UPDATE_STATE`]
/// and only when it won (`?1` 'on'|'off', `?2` now, `?3` actor): the
/// trader's halt turns it on, resuming turns it off.
pub const SET_KILL_SWITCH_IF_CHANGED: &str =
    "INSERT INTO settings (key, value, updated_at, updated_by) \
SELECT 'kill_switch', ?1, ?2, ?3 WHERE changes() = 1 \
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
updated_by = excluded.updated_by";

/// Net liquidation figures: `?1` = start of the New York day (Unix ms).
pub const SELECT_EQUITY_POINTS: &str = "SELECT \
(SELECT at FROM equity_snapshots WHERE net_liquidation IS NOT NULL ORDER BY at DESC LIMIT 1) AS last_at, \
(SELECT net_liquidation FROM equity_snapshots WHERE net_liquidation IS NOT NULL ORDER BY at DESC LIMIT 1) AS last_nl, \
(SELECT net_liquidation FROM equity_snapshots WHERE net_liquidation IS NOT NULL AND at < ?1 ORDER BY at DESC LIMIT 1) AS before_day_nl, \
(SELECT net_liquidation FROM equity_snapshots WHERE net_liquidation IS NOT NULL AND at >= ?1 ORDER BY at LIMIT 1) AS first_of_day_nl, \
(SELECT MAX(net_liquidation) FROM equity_snapshots WHERE at >= ?1) AS day_high";

/// Whether the trader paused every automated exit (`POST /risk/exits`): the
/// stored state's `exits_paused` stamp (JSON null or absent: not paused).
/// The position monitor reads it each run.
pub const SELECT_EXITS_PAUSED: &str = "SELECT CASE WHEN \
json_extract(state, '$.exits_paused') IS NULL THEN 0 ELSE 1 END AS paused \
FROM risk_state WHERE id = 1";

/// Open positions and the time of their newest trustworthy mark.
pub const SELECT_OPEN_MARK_AGES: &str = "SELECT p.id, p.symbol, \
(SELECT MAX(m.at) FROM marks m WHERE m.position_id = p.id AND m.ok = 1) AS last_ok_at \
FROM positions p WHERE p.status = 'open' ORDER BY p.id";

/// The newest monitor run that read the broker (`ok`): when the bridge was
/// last seen.
pub const SELECT_LAST_OK_RUN: &str = "SELECT finished_at AS at FROM monitor_runs \
WHERE status = 'ok' AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1";

/// Positions closed by a stop loss since `?1`.
pub const SELECT_STOP_OUTS: &str = "SELECT symbol, closed_at FROM positions \
WHERE status = 'closed' AND exit_reason = 'stop_loss' AND closed_at >= ?1 ORDER BY closed_at";

/// Every strategy switch.
pub const SELECT_SWITCHES: &str = "SELECT strategy, enabled, reason, updated_at, updated_by \
FROM strategy_switches ORDER BY strategy";

/// Sets a switch only when it changes (`?1` strategy, `?2` 0|1, `?3` reason,
/// `?4` now, `?5` actor); the audit row follows with
/// [`crate::audit::INSERT_AUDIT_IF_CHANGED`]. A first switch to `enabled`
/// (the default) changes nothing.
pub const SET_SWITCH: &str = "INSERT INTO strategy_switches \
(strategy, enabled, reason, updated_at, updated_by) SELECT ?1, ?2, ?3, ?4, ?5 \
WHERE ?2 = 0 OR EXISTS (SELECT 1 FROM strategy_switches WHERE strategy = ?1) \
ON CONFLICT (strategy) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason, \
updated_at = excluded.updated_at, updated_by = excluded.updated_by \
WHERE strategy_switches.enabled != excluded.enabled";

/// Approved trades whose risk is live: a pending or open position, or no
/// position yet and an order that may still be (or have been) placed. An
/// order `rejected` or `abandoned` was never placed.
pub const SELECT_LIVE_APPROVED: &str = "SELECT p.id, p.idempotency_key, p.symbol, p.strategy, \
p.contracts, p.approved_contracts, p.max_loss, p.proposal_json, p.order_status, \
x.status AS position_status FROM proposals p LEFT JOIN positions x ON x.proposal_id = p.id \
WHERE p.status = 'approved' AND ((x.id IS NULL AND (p.order_status IS NULL OR \
p.order_status NOT IN ('rejected', 'abandoned'))) OR x.status IN ('pending', 'open')) \
ORDER BY p.id";

/// The newest trustworthy mark of each open position.
pub const SELECT_OPEN_OK_MARKS: &str = "SELECT m.position_id, p.key, m.at, m.greeks \
FROM positions p JOIN marks m ON m.position_id = p.id \
WHERE p.status = 'open' AND m.ok = 1 AND m.at = \
(SELECT MAX(at) FROM marks WHERE position_id = p.id AND ok = 1)";

/// Positions closed in `[?1, ?2)` with their proposal and the mark that
/// triggered their exit (from the append-only audit log: marks are
/// compacted once a position closes), oldest first, `?3` limit.
pub const SELECT_CLOSED_TRADES: &str = "SELECT p.id, p.key, p.symbol, p.strategy, p.summary, \
p.realized_micros, p.exit_reason, p.opened_at, p.closed_at, r.proposal_json, \
r.approved_limit_price, (SELECT json_extract(a.details, '$.mark.value_mid') FROM audit_log a \
WHERE a.entity = 'position' AND a.entity_id = CAST(p.id AS TEXT) AND a.action = 'exit_triggered' \
ORDER BY a.id DESC LIMIT 1) AS exit_mark_value_mid \
FROM positions p LEFT JOIN proposals r ON r.id = p.proposal_id \
WHERE p.status = 'closed' AND p.closed_at >= ?1 AND p.closed_at < ?2 ORDER BY p.closed_at LIMIT ?3";

/// Fills of the positions of the JSON array `?1` of ids.
pub const SELECT_FILLS_OF: &str = "SELECT position_id, order_key, contract, quantity, \
price_micros, commission_micros FROM fills \
WHERE position_id IN (SELECT value FROM json_each(?1)) ORDER BY id";

/// The last snapshot of each trading day in `[?1, ?2)` with a net
/// liquidation, taken between 13:00 and 21:59 UTC (09:00-17:59 New York in
/// either offset, so the UTC date is the New York date).
pub const SELECT_DAILY_EQUITY: &str =
    "SELECT MAX(at) AS at, net_liquidation FROM equity_snapshots \
WHERE at >= ?1 AND at < ?2 AND net_liquidation IS NOT NULL \
AND CAST(strftime('%H', at / 1000, 'unixepoch') AS INTEGER) BETWEEN 13 AND 21 \
GROUP BY strftime('%Y-%m-%d', at / 1000, 'unixepoch') ORDER BY at";

/// Records a pre-trade report alone (a refusal): `?1` proposal, `?2` at,
/// `?3` actor, `?4` approved 0|1, `?5` report JSON.
pub const INSERT_RISK_CHECK: &str = "INSERT INTO risk_checks \
(proposal_id, at, actor, approved, report) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The same, in the approval's batch right after `APPROVE` (same
/// parameters): written only when the approval won.
pub const INSERT_RISK_CHECK_IF_CHANGED: &str = "INSERT INTO risk_checks \
(proposal_id, at, actor, approved, report) SELECT ?1, ?2, ?3, ?4, ?5 WHERE changes() = 1";

/// A guard the approval's conditional update can add (`?2` = now): the
/// stored state is not halted. The pre-trade check evaluates the state
/// fresh; this only closes the race with a halt stored in between.
pub const APPROVE_GUARD: &str =
    "NOT EXISTS (SELECT 1 FROM risk_state WHERE id = 1 AND mode = 'halted')";

// ---------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------

/// Start of the New York calendar day of `now`, in UTC.
pub fn ny_day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = utc_to_eastern(now);
    let midnight = local.date().and_time(NaiveTime::MIN);
    // Eastern is UTC-4 or UTC-5: the offset of `now` is exact for midnight
    // except on the two DST days, where it errs by one hour (before any
    // trading).
    let offset = local - now.naive_utc();
    DateTime::<Utc>::from_naive_utc_and_offset(midnight - offset, Utc)
}

/// The New York date of `now`.
pub fn ny_date(now: DateTime<Utc>) -> NaiveDate {
    utc_to_eastern(now).date()
}

/// Everything read for one evaluation of the trading state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RiskSnapshot {
    pub equity: EquityPoints,
    pub open_marks: Vec<OpenMarkRow>,
    /// `None`: the row is missing.
    pub reconciliation: Option<ReconciliationRow>,
    pub bridge_last_seen: Option<i64>,
    pub stop_outs: Vec<StopOutRow>,
}

/// A Unix-ms time as UTC.
pub fn at(ms: i64) -> DateTime<Utc> {
    millis_to_utc(ms)
}

fn money(v: Option<f64>) -> Option<Money> {
    v.filter(|v| v.is_finite() && *v > 0.0)
        .and_then(Money::from_dollars)
}

/// Core's observation from the stored data at `now`. Missing or stale data
/// is `None`, which the rules treat as a halt:
/// - net liquidation: the newest snapshot's, only when taken within
///   `stale_minutes`;
/// - start-of-day net liquidation: the newest before the New York day began,
///   else the day's first;
/// - reconciliation: the number of drifts that stand (confirmed, not
///   acknowledged; 0 otherwise), only when checked within `stale_minutes`;
/// - bridge: the newest `ok` monitor run.
pub fn observation(s: &RiskSnapshot, stale_minutes: i64, now: DateTime<Utc>) -> Observation {
    let fresh = |ms: i64| now - at(ms) <= Duration::minutes(stale_minutes) && at(ms) <= now;
    let net_liquidation = match s.equity.last_at {
        Some(t) if fresh(t) => money(s.equity.last_nl),
        _ => None,
    };
    let start = money(s.equity.before_day_nl).or_else(|| money(s.equity.first_of_day_nl));
    let reconciliation_drifts = s.reconciliation.as_ref().and_then(|r| {
        r.checked_at.filter(|t| fresh(*t))?;
        Some(if r.standing() {
            u32::try_from(r.drifts().len().max(1)).unwrap_or(u32::MAX)
        } else {
            0
        })
    });
    let oldest_trustworthy_mark = if s.open_marks.iter().any(|m| m.last_ok_at.is_none()) {
        None
    } else {
        s.open_marks
            .iter()
            .filter_map(|m| m.last_ok_at)
            .min()
            .map(at)
    };
    let stop_outs = s
        .stop_outs
        .iter()
        .filter_map(|r| {
            Some(StopOut {
                symbol: Symbol::parse(&r.symbol).ok()?,
                at: at(r.closed_at),
            })
        })
        .collect();
    Observation {
        market_open: MarketCalendar::is_open(now),
        net_liquidation,
        start_of_day_net_liquidation: start,
        reconciliation_drifts,
        open_positions: u32::try_from(s.open_marks.len()).unwrap_or(u32::MAX),
        oldest_trustworthy_mark: if s.open_marks.is_empty() {
            // Nothing open: nothing to be stale about.
            Some(now)
        } else {
            oldest_trustworthy_mark
        },
        bridge_last_seen: s.bridge_last_seen.map(at),
        stop_outs,
    }
}

/// The session high of net liquidation from the snapshots (for the
/// intraday drawdown rule), as money.
pub fn day_high(s: &RiskSnapshot) -> Option<Money> {
    money(s.equity.day_high)
}

/// Per-symbol count of live trades (approved rows).
pub fn positions_by_symbol(rows: &[ApprovedRow]) -> BTreeMap<Symbol, u32> {
    let mut out: BTreeMap<Symbol, u32> = BTreeMap::new();
    for r in rows {
        if let Ok(s) = Symbol::parse(&r.symbol) {
            *out.entry(s).or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_new_york_day_starts_at_local_midnight() {
        // 2026-12-02 15:00 UTC = 10:00 EST; the day began 05:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        assert_eq!(
            ny_day_start(now),
            Utc.with_ymd_and_hms(2026, 12, 2, 5, 0, 0).unwrap()
        );
        // 2026-07-01 03:00 UTC = 23:00 EDT of June 30.
        let now = Utc.with_ymd_and_hms(2026, 7, 1, 3, 0, 0).unwrap();
        assert_eq!(
            ny_day_start(now),
            Utc.with_ymd_and_hms(2026, 6, 30, 4, 0, 0).unwrap()
        );
    }

    #[test]
    fn stale_or_missing_data_is_unknown() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        let ms = |m: i64| (now - Duration::minutes(m)).timestamp_millis();
        let s = RiskSnapshot {
            equity: EquityPoints {
                last_at: Some(ms(10)),
                last_nl: Some(100_000.0),
                ..Default::default()
            },
            open_marks: vec![OpenMarkRow {
                id: 1,
                symbol: "SPY".into(),
                last_ok_at: None,
            }],
            reconciliation: Some(ReconciliationRow {
                checked_at: Some(ms(10)),
                drifts: "[]".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = observation(&s, 5, now);
        assert_eq!(o.net_liquidation, None, "a 10-minute-old NL is stale");
        assert_eq!(o.start_of_day_net_liquidation, None);
        assert_eq!(o.reconciliation_drifts, None, "a stale reconciliation");
        assert_eq!(
            o.oldest_trustworthy_mark, None,
            "an open position never marked"
        );
        assert_eq!(o.bridge_last_seen, None);
        let o = observation(&s, 15, now);
        assert_eq!(o.net_liquidation, Money::from_dollars(100_000.0));
        assert_eq!(o.reconciliation_drifts, Some(0));
    }
}

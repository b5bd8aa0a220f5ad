//! The watch steps: what the crons read for the alerts no single write
//! reports (docs/alerts.md "How each event is detected"), decided by
//! [`sas_core::alerts::watch`] and stored through the outbox (events,
//! deduplicated by key) and the condition tracker (raised once, resolved
//! once).
//!
//! - [`watch_minute`] (the monitor cron, every minute, market open or not):
//!   the bridge's `/health` (IB degraded, the reset window, the weekly
//!   re-login), the orders (rejected, stuck), the daily summary.
//! - [`watch_ingest`] (the ingestion cron): data turning delayed per
//!   symbol, the archive falling behind.
//!
//! Every read goes through a [`WatchSource`] (D1 and the bridge on the edge,
//! fakes in the tests); a failed read skips what depends on it and is
//! reported in the [`WatchReport`], never raised as a condition.

use chrono::{DateTime, Utc};
use sas_core::alerts::watch::{
    archive_behind, daily_summary_date, data_delayed, eastern_day_bounds, ib_degraded,
    order_events, relogin_due_event, reset_window_event, OrderSnapshot, DEFAULT_STUCK_MINUTES,
    REJECTED_LOOKBACK_MS,
};
use sas_core::alerts::{AlertEvent, AlertSetting, ConditionObservation};
use sas_core::money::Money;
use serde::Deserialize;

use super::service::{enqueue_event, observe_condition, ConditionOutcome};
use super::store::{AlertStore, StoreError};
use crate::config::alerts::AlertsConfig;

// ---------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------

/// Orders not final, and orders rejected since `?1` (Unix ms), with their
/// position's symbol and strategy. Uses `orders_status` via the IN list.
pub const SELECT_WATCHED_ORDERS: &str = "SELECT o.key, p.proposal_id, o.purpose, \
p.symbol || ' ' || p.strategy AS summary, o.status, o.error, o.created_at, o.updated_at \
FROM orders o JOIN positions p ON p.id = o.position_id \
WHERE o.status IN ('submitting', 'submitted', 'working', 'partially_filled', 'cancel_pending', 'unknown') \
OR (o.status = 'rejected' AND o.updated_at >= ?1) \
ORDER BY o.id LIMIT 200";

/// The figures of the daily summary for the Eastern day `[?1, ?2)`:
/// realized P&L of the positions closed that day, the newest trustworthy
/// mark's unrealized P&L of the open positions, the orders filled (in full
/// or in part) that day, the open positions, the proposals still pending and
/// the orders still working.
pub const SELECT_DAILY_FIGURES: &str = "SELECT \
(SELECT COALESCE(SUM(realized_micros), 0) FROM positions WHERE closed_at >= ?1 AND closed_at < ?2) AS realized_micros, \
(SELECT COALESCE(SUM((SELECT m.unrealized_mid_micros FROM marks m WHERE m.position_id = p.id AND m.ok = 1 \
ORDER BY m.at DESC LIMIT 1)), 0) FROM positions p WHERE p.status = 'open') AS unrealized_micros, \
(SELECT COUNT(DISTINCT order_key) FROM fills WHERE time >= ?1 AND time < ?2) AS trades, \
(SELECT COUNT(*) FROM positions WHERE status = 'open') AS open_positions, \
(SELECT COUNT(*) FROM proposals WHERE status = 'pending') AS pending_proposals, \
(SELECT COUNT(*) FROM orders WHERE status IN ('submitting', 'submitted', 'working', \
'partially_filled', 'cancel_pending', 'unknown')) AS working_orders";

/// The market-data type of each symbol's newest quote since `?1` (Unix ms).
pub const SELECT_LATEST_DATA_TYPES: &str = "SELECT m.symbol, m.data_type FROM market_data m \
JOIN (SELECT symbol, MAX(ts) AS ts FROM market_data WHERE ts >= ?1 GROUP BY symbol) l \
ON l.symbol = m.symbol AND l.ts = m.ts ORDER BY m.symbol LIMIT 200";

/// Row of [`SELECT_WATCHED_ORDERS`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WatchedOrderRow {
    pub key: String,
    pub proposal_id: i64,
    pub purpose: String,
    pub summary: String,
    pub status: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl WatchedOrderRow {
    /// The snapshot the pure rules read.
    pub fn snapshot(&self) -> OrderSnapshot {
        OrderSnapshot {
            key: self.key.clone(),
            proposal_id: self.proposal_id,
            purpose: self.purpose.clone(),
            summary: self.summary.clone(),
            status: self.status.clone(),
            error: self.error.clone(),
            created_ms: self.created_at,
            updated_ms: self.updated_at,
        }
    }
}

/// Row of [`SELECT_DAILY_FIGURES`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DailyFigures {
    pub realized_micros: i64,
    pub unrealized_micros: i64,
    pub trades: i64,
    pub open_positions: i64,
    pub pending_proposals: i64,
    pub working_orders: i64,
}

/// Row of [`SELECT_LATEST_DATA_TYPES`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DataTypeRow {
    pub symbol: String,
    pub data_type: String,
}

/// What the watch needs of the bridge's `GET /health` (extra fields are
/// ignored; `reset_window_et` is absent from older bridges and in sim mode).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BridgeHealth {
    pub broker: String,
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reset_window_et: Option<String>,
}

/// The archive's state as `/health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveState {
    pub configured: bool,
    pub ok: bool,
    pub warning: Option<String>,
}

// ---------------------------------------------------------------------------
// Source
// ---------------------------------------------------------------------------

/// What the watch steps read. The futures are not `Send` (D1, `fetch`).
#[allow(async_fn_in_trait)]
pub trait WatchSource {
    /// The bridge's `/health` answer (any HTTP status with that body);
    /// `None` when the bridge cannot be reached or answers something else
    /// (that is the `bridge_disconnected` condition, observed elsewhere).
    async fn bridge_health(&self) -> Option<BridgeHealth>;
    /// [`SELECT_WATCHED_ORDERS`].
    async fn watched_orders(
        &self,
        rejected_since_ms: i64,
    ) -> Result<Vec<WatchedOrderRow>, StoreError>;
    /// [`SELECT_DAILY_FIGURES`].
    async fn daily_figures(&self, start_ms: i64, end_ms: i64) -> Result<DailyFigures, StoreError>;
    /// [`SELECT_LATEST_DATA_TYPES`].
    async fn latest_data_types(&self, since_ms: i64) -> Result<Vec<DataTypeRow>, StoreError>;
    /// The export's state (`/health`'s archive part).
    async fn archive(&self) -> ArchiveState;
}

/// What one watch step did (logged as one line).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WatchReport {
    /// Keys of the events newly enqueued.
    pub enqueued: Vec<String>,
    /// `kind/subject` of the conditions raised or resolved.
    pub changed: Vec<String>,
    /// Reads or writes that failed (the rest went on).
    pub errors: Vec<String>,
}

impl WatchReport {
    async fn event(
        &mut self,
        store: &impl AlertStore,
        cfg: &AlertsConfig,
        e: &AlertEvent,
        now_ms: i64,
    ) {
        match enqueue_event(store, cfg, e, now_ms).await {
            Ok(Some(true)) => self.enqueued.push(e.key(now_ms).to_string()),
            Ok(_) => {}
            Err(err) => self.errors.push(format!("{}: {err}", e.kind().as_str())),
        }
    }

    async fn condition(
        &mut self,
        store: &impl AlertStore,
        cfg: &AlertsConfig,
        o: &ConditionObservation,
    ) {
        match observe_condition(store, cfg, o).await {
            Ok(ConditionOutcome::Stored { alert: Some(a) }) => {
                self.changed
                    .push(format!("{}/{}", o.kind.as_str(), o.subject));
                self.enqueued.push(a.key.to_string());
            }
            Ok(_) => {}
            Err(err) => self.errors.push(format!("{}: {err}", o.kind.as_str())),
        }
    }
}

/// The every-minute watch: IB degraded and the clock events from the
/// bridge's `/health`, orders rejected or stuck, and the daily summary once
/// the day's session has closed (its key is checked first, so the figures
/// are read once a day).
pub async fn watch_minute(
    store: &impl AlertStore,
    source: &impl WatchSource,
    cfg: &AlertsConfig,
    now: DateTime<Utc>,
) -> WatchReport {
    let now_ms = now.timestamp_millis();
    let mut report = WatchReport::default();

    if let Some(h) = source.bridge_health().await {
        // A disconnected bridge answers too (503): that is not "degraded".
        report
            .condition(
                store,
                cfg,
                &ib_degraded(&h.state, h.reason.as_deref(), now_ms),
            )
            .await;
        if let Some(e) = h
            .reset_window_et
            .as_deref()
            .and_then(|w| reset_window_event(now, w))
        {
            report.event(store, cfg, &e, now_ms).await;
        }
        if let Some(e) = relogin_due_event(now, &h.broker) {
            report.event(store, cfg, &e, now_ms).await;
        }
    }

    let stuck = if cfg.order_stuck_minutes == 0 {
        DEFAULT_STUCK_MINUTES
    } else {
        cfg.order_stuck_minutes
    };
    match source.watched_orders(now_ms - REJECTED_LOOKBACK_MS).await {
        Ok(rows) => {
            let orders: Vec<OrderSnapshot> = rows.iter().map(WatchedOrderRow::snapshot).collect();
            for e in order_events(&orders, now_ms, stuck) {
                report.event(store, cfg, &e, now_ms).await;
            }
        }
        Err(e) => report.errors.push(format!("orders: {e}")),
    }

    if let Some(date) = daily_summary_date(now) {
        if let Err(e) = daily_summary(store, source, cfg, date, now_ms, &mut report).await {
            report.errors.push(format!("daily_summary: {e}"));
        }
    }
    report
}

async fn daily_summary(
    store: &impl AlertStore,
    source: &impl WatchSource,
    cfg: &AlertsConfig,
    date: chrono::NaiveDate,
    now_ms: i64,
    report: &mut WatchReport,
) -> Result<(), StoreError> {
    if cfg
        .settings
        .setting(sas_core::alerts::AlertKind::DailySummary)
        == AlertSetting::Off
    {
        return Ok(());
    }
    let trading_date = date.to_string();
    let key = sas_core::alerts::EventKey::from_parts(
        sas_core::alerts::AlertKind::DailySummary,
        &[&trading_date],
    );
    if store.has_alert(key.as_str()).await? {
        return Ok(());
    }
    let (start, end) = eastern_day_bounds(date);
    let f = source.daily_figures(start, end).await?;
    let count = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let event = AlertEvent::DailySummary {
        trading_date,
        realized_pnl: Money::from_cents(f.realized_micros / 10_000),
        unrealized_pnl: Money::from_cents(f.unrealized_micros / 10_000),
        trades: u32::try_from(f.trades).unwrap_or(0),
        open_positions: u32::try_from(f.open_positions).unwrap_or(0),
        pending_tomorrow: format!(
            "{} carried over, {} working, {} awaiting approval.",
            count(f.open_positions, "position", "positions"),
            count(f.working_orders, "order", "orders"),
            count(f.pending_proposals, "proposal", "proposals"),
        ),
    };
    report.event(store, cfg, &event, now_ms).await;
    Ok(())
}

/// Quotes newer than this count for "data delayed", ms (two ingestion
/// periods: a symbol no longer fetched stops being watched).
pub const DATA_TYPE_LOOKBACK_MS: i64 = 35 * 60_000;

/// The ingestion cron's watch: per symbol, data turning delayed (from the
/// newest quote's market-data type); the archive falling behind.
pub async fn watch_ingest(
    store: &impl AlertStore,
    source: &impl WatchSource,
    cfg: &AlertsConfig,
    now: DateTime<Utc>,
) -> WatchReport {
    let now_ms = now.timestamp_millis();
    let mut report = WatchReport::default();
    match source
        .latest_data_types(now_ms - DATA_TYPE_LOOKBACK_MS)
        .await
    {
        Ok(rows) => {
            for r in rows {
                report
                    .condition(store, cfg, &data_delayed(&r.symbol, &r.data_type, now_ms))
                    .await;
            }
        }
        Err(e) => report.errors.push(format!("data types: {e}")),
    }
    let a = source.archive().await;
    if let Some(o) = archive_behind(a.configured, a.ok, a.warning.as_deref(), now_ms) {
        report.condition(store, cfg, &o).await;
    }
    report
}

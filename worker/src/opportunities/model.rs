//! Rows and SQL of the opportunity reads: the stored metrics, the newest
//! chain snapshot, the latest metrics of each symbol. (The market-data SQL,
//! written by ingestion and read here, is `crate::store`.)

use sas_core::analytics::vol::{IvRankStats, Momentum};
use serde::{Deserialize, Serialize};

/// Which stored series `/symbols/{s}/metrics` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsInterval {
    /// One point per New York trading date (the day's last run).
    Daily,
    /// One point per cron run (kept `CHAIN_RETENTION_DAYS`).
    Intraday,
}

impl MetricsInterval {
    /// Parses the `interval` query value.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "daily" => Some(Self::Daily),
            "intraday" => Some(Self::Intraday),
            _ => None,
        }
    }
}

/// Most days `/symbols/{s}/metrics` returns.
pub const MAX_METRICS_DAYS: u32 = 730;
/// Default `days` of `/symbols/{s}/metrics`.
pub const DEFAULT_METRICS_DAYS: u32 = 30;

/// Daily metrics of `?1` with `date >= ?2`, oldest first.
pub const SELECT_METRICS_DAILY: &str = "SELECT date, ts, spot, atm_iv_30d, iv_rank, iv_percentile, \
iv_history_days, rv_20d, skew_25d_30d, gex_per_1pct, dex, contracts_valued, skips_json, \
metrics_json, factors_json FROM underlying_metrics_daily WHERE symbol = ?1 AND date >= ?2 ORDER BY date";

/// Intraday metrics of `?1` with `ts >= ?2` (Unix ms), oldest first.
pub const SELECT_METRICS_INTRADAY: &str = "SELECT NULL AS date, ts, spot, atm_iv_30d, iv_rank, \
iv_percentile, iv_history_days, rv_20d, skew_25d_30d, gex_per_1pct, dex, contracts_valued, \
skips_json, metrics_json, factors_json FROM underlying_metrics_intraday \
WHERE symbol = ?1 AND ts >= ?2 ORDER BY ts";

/// Whether anything was ever stored for `?1` (1 row or none).
pub const SELECT_SYMBOL_KNOWN: &str =
    "SELECT symbol FROM underlying_metrics_daily WHERE symbol = ?1 LIMIT 1";

/// Latest intraday metrics row of each symbol of the JSON array `?1` with
/// `ts >= ?2`, in list order.
pub const SELECT_LATEST_METRICS: &str = "SELECT m.symbol, m.ts, m.spot, m.atm_iv_30d, m.iv_rank, \
m.iv_percentile, m.iv_history_days, m.factors_json FROM json_each(?1) AS w \
JOIN underlying_metrics_intraday AS m ON m.symbol = w.value \
AND m.ts = (SELECT MAX(ts) FROM underlying_metrics_intraday WHERE symbol = w.value) \
WHERE m.ts >= ?2 ORDER BY w.key";

/// Every expiry of the newest chain snapshot of `?1`.
pub const SELECT_LATEST_CHAIN: &str = "SELECT ts, expiry, dte, forward, atm_iv, skew_25d, \
contracts_json FROM chain_snapshots \
WHERE symbol = ?1 AND ts = (SELECT MAX(ts) FROM chain_snapshots WHERE symbol = ?1) ORDER BY expiry";

/// Spot of `?1` at snapshot `?2` (from the intraday metrics).
pub const SELECT_SPOT_AT: &str =
    "SELECT spot FROM underlying_metrics_intraday WHERE symbol = ?1 AND ts = ?2";

/// Row of [`SELECT_METRICS_DAILY`] / [`SELECT_METRICS_INTRADAY`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricsRow {
    pub date: Option<String>,
    pub ts: i64,
    pub spot: f64,
    pub atm_iv_30d: Option<f64>,
    pub iv_rank: Option<f64>,
    pub iv_percentile: Option<f64>,
    pub iv_history_days: Option<i64>,
    pub rv_20d: Option<f64>,
    pub skew_25d_30d: Option<f64>,
    pub gex_per_1pct: Option<f64>,
    pub dex: Option<f64>,
    pub contracts_valued: Option<i64>,
    pub skips_json: Option<String>,
    pub metrics_json: Option<String>,
    pub factors_json: Option<String>,
}

/// Row of [`SELECT_LATEST_METRICS`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LatestMetricsRow {
    pub symbol: String,
    pub ts: i64,
    pub spot: f64,
    pub atm_iv_30d: Option<f64>,
    pub iv_rank: Option<f64>,
    pub iv_percentile: Option<f64>,
    pub iv_history_days: Option<i64>,
    pub factors_json: Option<String>,
}

/// Row of [`SELECT_LATEST_CHAIN`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChainExpiryRow {
    pub ts: i64,
    pub expiry: String,
    pub dte: i64,
    pub forward: Option<f64>,
    pub atm_iv: Option<f64>,
    pub skew_25d: Option<f64>,
    pub contracts_json: String,
}

/// Row of [`SELECT_SPOT_AT`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SpotRow {
    pub spot: f64,
}

/// The full metrics object stored in `metrics_json` (core `analytics::rows`);
/// every field defaults so older or partial rows still read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct StoredMetrics {
    pub(super) atm_iv_30d_interpolated: Option<bool>,
    pub(super) iv_rank: Option<IvRankStats>,
    pub(super) rv_10d: Option<f64>,
    pub(super) rv_20d: Option<f64>,
    pub(super) rv_30d: Option<f64>,
    pub(super) rv_yang_zhang_20d: Option<f64>,
    pub(super) iv_rv_spread: Option<f64>,
    pub(super) vol_of_vol: Option<f64>,
    pub(super) skew_25d_30d: Option<f64>,
    pub(super) term_slope_per_30d: Option<f64>,
    pub(super) volume_zscore_20d: Option<f64>,
    pub(super) momentum: Option<Momentum>,
    pub(super) put_call_volume_ratio: Option<f64>,
    pub(super) put_call_oi_ratio: Option<f64>,
    pub(super) unusual_activity: Vec<serde_json::Value>,
    pub(super) gex_per_1pct: Option<f64>,
    pub(super) dex: Option<f64>,
}

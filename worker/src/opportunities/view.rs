//! The JSON bodies of `/market/latest`, `/market/history`,
//! `/symbols/{s}/metrics`, `/symbols/{s}/chain` and `/search/opportunities`.

use sas_core::analytics::rows::PACKED_CONTRACT_COLUMNS;
use sas_core::analytics::vol::{Momentum, IV_HISTORY_DAYS};
use sas_core::market::Symbol;
use sas_core::score::{FactorScore, ScoreWeights};
use serde::Serialize;

use super::model::{ChainExpiryRow, MetricsInterval, MetricsRow, StoredMetrics};
use crate::ingest::iso_ms;
use crate::store::{HistoryRow, LatestRow};

/// One point of `/symbols/{s}/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsPoint {
    /// New York trading date (daily interval only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Snapshot time (RFC 3339 UTC).
    pub t: String,
    pub spot: f64,
    pub atm_iv_30d: Option<f64>,
    /// Whether the 30-day ATM IV was interpolated between two expiries.
    pub atm_iv_30d_interpolated: Option<bool>,
    pub iv_rank: Option<f64>,
    pub iv_percentile: Option<f64>,
    /// Days of ATM-IV history behind rank and percentile (0 = none yet;
    /// full history is [`IV_HISTORY_DAYS`]).
    pub iv_history_days: i64,
    pub rv_10: Option<f64>,
    pub rv_20: Option<f64>,
    pub rv_30: Option<f64>,
    /// Yang-Zhang 20-day realized volatility.
    pub rv_yz: Option<f64>,
    pub iv_rv_spread: Option<f64>,
    pub vol_of_vol: Option<f64>,
    pub skew_25d: Option<f64>,
    /// ATM IV change per 30 days of maturity.
    pub term_slope: Option<f64>,
    /// Daily volume z-score against 20 days.
    pub volume_z: Option<f64>,
    /// 1-day rate of change of the close, percent.
    pub momentum: Option<f64>,
    /// All momentum measures.
    pub momentum_detail: Option<Momentum>,
    pub pc_volume_ratio: Option<f64>,
    pub pc_oi_ratio: Option<f64>,
    /// Dealer gamma exposure per 1 % move (see docs/analytics.md).
    pub gex: Option<f64>,
    /// Dealer delta exposure.
    pub dex: Option<f64>,
    pub unusual_activity: usize,
    pub contracts_valued: i64,
    /// Contracts skipped by reason.
    pub skips: serde_json::Value,
}

/// `/symbols/{s}/metrics` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymbolMetrics {
    pub symbol: String,
    pub interval: MetricsInterval,
    pub days: u32,
    /// Days of ATM-IV history a full IV rank uses.
    pub iv_history_target: usize,
    pub metrics: Vec<MetricsPoint>,
}

pub(super) fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// One metrics point from a stored row (bad JSON columns read as absent).
pub fn metrics_point(row: &MetricsRow) -> MetricsPoint {
    let m: StoredMetrics = row
        .metrics_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let skips = row
        .skips_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    MetricsPoint {
        date: row.date.clone(),
        t: iso_ms(row.ts),
        spot: row.spot,
        atm_iv_30d: finite(row.atm_iv_30d),
        atm_iv_30d_interpolated: m.atm_iv_30d_interpolated,
        iv_rank: finite(row.iv_rank).or(m.iv_rank.and_then(|s| s.iv_rank)),
        iv_percentile: finite(row.iv_percentile).or(m.iv_rank.map(|s| s.iv_percentile)),
        iv_history_days: row.iv_history_days.unwrap_or(0),
        rv_10: m.rv_10d,
        rv_20: finite(row.rv_20d).or(m.rv_20d),
        rv_30: m.rv_30d,
        rv_yz: m.rv_yang_zhang_20d,
        iv_rv_spread: m.iv_rv_spread,
        vol_of_vol: m.vol_of_vol,
        skew_25d: finite(row.skew_25d_30d).or(m.skew_25d_30d),
        term_slope: m.term_slope_per_30d,
        volume_z: m.volume_zscore_20d,
        momentum: m.momentum.and_then(|x| x.roc_1d_pct),
        momentum_detail: m.momentum,
        pc_volume_ratio: m.put_call_volume_ratio,
        pc_oi_ratio: m.put_call_oi_ratio,
        gex: finite(row.gex_per_1pct).or(m.gex_per_1pct),
        dex: finite(row.dex).or(m.dex),
        unusual_activity: m.unusual_activity.len(),
        contracts_valued: row.contracts_valued.unwrap_or(0),
        skips,
    }
}

/// Builds `/symbols/{s}/metrics`.
pub fn symbol_metrics(
    symbol: &Symbol,
    interval: MetricsInterval,
    days: u32,
    rows: &[MetricsRow],
) -> SymbolMetrics {
    SymbolMetrics {
        symbol: symbol.to_string(),
        interval,
        days,
        iv_history_target: IV_HISTORY_DAYS,
        metrics: rows.iter().map(metrics_point).collect(),
    }
}

/// One expiry of `/symbols/{s}/chain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainExpiryView {
    pub expiry: String,
    pub dte: i64,
    pub forward: Option<f64>,
    pub atm_iv: Option<f64>,
    pub skew_25d: Option<f64>,
    /// Valued contracts, one object per contract with the
    /// `PACKED_CONTRACT_COLUMNS` as keys.
    pub contracts: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// `/symbols/{s}/chain` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainView {
    pub symbol: String,
    pub as_of: String,
    pub spot: Option<f64>,
    pub expiries: Vec<ChainExpiryView>,
}

/// Builds `/symbols/{s}/chain` from the rows of the newest snapshot; `None`
/// when there is no snapshot. A damaged packed column reads as no contracts.
pub fn chain_view(
    symbol: &Symbol,
    rows: &[ChainExpiryRow],
    spot: Option<f64>,
) -> Option<ChainView> {
    let ts = rows.first()?.ts;
    let expiries = rows
        .iter()
        .map(|r| {
            let packed: Vec<Vec<serde_json::Value>> =
                serde_json::from_str(&r.contracts_json).unwrap_or_default();
            let contracts = packed
                .into_iter()
                .filter(|c| c.len() == PACKED_CONTRACT_COLUMNS.len())
                .map(|c| {
                    PACKED_CONTRACT_COLUMNS
                        .iter()
                        .map(|k| (*k).to_owned())
                        .zip(c)
                        .collect()
                })
                .collect();
            ChainExpiryView {
                expiry: r.expiry.clone(),
                dte: r.dte,
                forward: r.forward,
                atm_iv: r.atm_iv,
                skew_25d: r.skew_25d,
                contracts,
            }
        })
        .collect();
    Some(ChainView {
        symbol: symbol.to_string(),
        as_of: iso_ms(ts),
        spot,
        expiries,
    })
}

/// One ranked entry of the multi-factor `/search/opportunities` (a superset
/// of the phase-1 entry the dashboard reads).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RankedOpportunity {
    pub rank: usize,
    pub symbol: String,
    pub score: f64,
    /// Share of the total factor weight that could be measured (0-1).
    pub coverage: f64,
    pub last: Option<f64>,
    /// Quote snapshots behind the intraday factors.
    pub observations: usize,
    pub atm_iv_30d: Option<f64>,
    pub iv_rank: Option<f64>,
    pub iv_percentile: Option<f64>,
    /// Days of ATM-IV history behind the IV rank (0 = none yet).
    pub iv_history_days: i64,
    /// Time of the analytics used (RFC 3339), `None` without chain analytics.
    pub metrics_as_of: Option<String>,
    pub factors: Vec<FactorScore>,
}

/// `/search/opportunities` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RankedOpportunities {
    pub as_of: Option<String>,
    /// `multi_factor`: `Score = 3·Volatility + 2·IV rank + 1.5·Volume + 1·Momentum`.
    pub scoring: &'static str,
    pub weights: ScoreWeights,
    pub opportunities: Vec<RankedOpportunity>,
}

/// One quote of `/market/latest`.
#[derive(Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LatestQuote {
    pub symbol: String,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub last: Option<f64>,
    pub volume: Option<i64>,
    pub timestamp: String,
    pub data_type: String,
}

/// `/market/latest` body.
#[derive(Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Latest {
    pub as_of: Option<String>,
    pub quotes: Vec<LatestQuote>,
}

/// Builds `/market/latest`; `as_of` is the newest quote time (null when empty).
pub fn latest(rows: Vec<LatestRow>) -> Latest {
    let as_of = rows.iter().map(|r| r.ts).max().map(iso_ms);
    Latest {
        as_of,
        quotes: rows
            .into_iter()
            .map(|r| LatestQuote {
                timestamp: iso_ms(r.ts),
                symbol: r.symbol,
                bid: r.bid,
                ask: r.ask,
                last: r.last,
                volume: r.volume,
                data_type: r.data_type,
            })
            .collect(),
    }
}

/// One point of `/market/history`.
#[derive(Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryPoint {
    pub t: String,
    pub last: Option<f64>,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub volume: Option<i64>,
}

/// `/market/history` body.
#[derive(Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct History {
    pub symbol: String,
    pub points: Vec<HistoryPoint>,
}

/// Builds `/market/history`.
pub fn history(symbol: &Symbol, rows: Vec<HistoryRow>) -> History {
    History {
        symbol: symbol.to_string(),
        points: rows
            .into_iter()
            .map(|r| HistoryPoint {
                t: iso_ms(r.ts),
                last: r.last,
                bid: r.bid,
                ask: r.ask,
                volume: r.volume,
            })
            .collect(),
    }
}

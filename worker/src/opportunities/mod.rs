//! Read side of the chain analytics (pure): SQL and row types of the stored
//! metrics and chain snapshots, and the bodies of `GET /symbols/{s}/metrics`,
//! `GET /symbols/{s}/chain` and the multi-factor `GET /search/opportunities`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sas_core::analytics::intraday::{factors_from_snapshots, Snapshot};
use sas_core::analytics::rows::PACKED_CONTRACT_COLUMNS;
use sas_core::analytics::vol::{IvRankStats, Momentum, IV_HISTORY_DAYS};
use sas_core::market::Symbol;
use sas_core::score::{rank, score_opportunity, FactorInputs, FactorScore, ScoreWeights};
use serde::{Deserialize, Serialize};

use crate::ingest::iso_ms;
use crate::store::SnapshotRow;

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
struct StoredMetrics {
    atm_iv_30d_interpolated: Option<bool>,
    iv_rank: Option<IvRankStats>,
    rv_10d: Option<f64>,
    rv_20d: Option<f64>,
    rv_30d: Option<f64>,
    rv_yang_zhang_20d: Option<f64>,
    iv_rv_spread: Option<f64>,
    vol_of_vol: Option<f64>,
    skew_25d_30d: Option<f64>,
    term_slope_per_30d: Option<f64>,
    volume_zscore_20d: Option<f64>,
    momentum: Option<Momentum>,
    put_call_volume_ratio: Option<f64>,
    put_call_oi_ratio: Option<f64>,
    unusual_activity: Vec<serde_json::Value>,
    gex_per_1pct: Option<f64>,
    dex: Option<f64>,
}

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

fn finite(v: Option<f64>) -> Option<f64> {
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
pub struct RankedOpportunities {
    pub as_of: Option<String>,
    /// `multi_factor`: `Score = 3·Volatility + 2·IV rank + 1.5·Volume + 1·Momentum`.
    pub scoring: &'static str,
    pub weights: ScoreWeights,
    pub opportunities: Vec<RankedOpportunity>,
}

pub use sas_core::entry::factors::combine_factors;

/// Ranks the watchlist with the multi-factor score from the latest chain
/// analytics of each symbol and its stored quote snapshots (grouped by
/// symbol, oldest first). Symbols with neither are left out.
pub fn opportunities(
    watchlist: &[Symbol],
    metrics: &[LatestMetricsRow],
    snapshots: &[SnapshotRow],
    weights: &ScoreWeights,
    limit: usize,
) -> RankedOpportunities {
    struct Entry<'a> {
        symbol: Symbol,
        metrics: Option<&'a LatestMetricsRow>,
        observations: usize,
        last: Option<f64>,
    }
    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut scores = Vec::new();
    for symbol in watchlist {
        let snaps: Vec<Snapshot> = snapshots
            .iter()
            .filter(|r| r.symbol == symbol.as_str())
            .filter_map(|r| {
                Some(Snapshot {
                    t: DateTime::<Utc>::from_timestamp_millis(r.ts)?,
                    last: r.last?,
                    volume: u64::try_from(r.volume.unwrap_or(0)).unwrap_or(0),
                })
            })
            .collect();
        let m = metrics.iter().find(|m| m.symbol == symbol.as_str());
        if snaps.is_empty() && m.is_none() {
            continue;
        }
        let chain_factors: Option<FactorInputs> = m
            .and_then(|m| m.factors_json.as_deref())
            .and_then(|j| serde_json::from_str(j).ok());
        let inputs = combine_factors(chain_factors.as_ref(), &factors_from_snapshots(&snaps));
        let mut s = score_opportunity(symbol.clone(), &inputs, weights);
        let days = m.and_then(|m| m.iv_history_days).unwrap_or(0);
        for f in &mut s.factors {
            if f.name == "iv_rank" {
                f.label = iv_rank_label(f.raw, days);
            }
        }
        scores.push(s);
        entries.push(Entry {
            symbol: symbol.clone(),
            metrics: m,
            observations: snaps.len(),
            last: snaps
                .iter()
                .max_by_key(|s| s.t)
                .map(|s| s.last)
                .or(m.map(|m| m.spot)),
        });
    }
    let as_of = snapshots
        .iter()
        .map(|r| r.ts)
        .chain(metrics.iter().map(|m| m.ts))
        .max()
        .map(iso_ms);
    let opportunities = rank(scores)
        .into_iter()
        .take(limit)
        .enumerate()
        .filter_map(|(i, s)| {
            let e = entries.iter().find(|e| e.symbol == s.symbol)?;
            Some(RankedOpportunity {
                rank: i + 1,
                symbol: s.symbol.to_string(),
                score: s.score,
                coverage: s.coverage,
                last: e.last,
                observations: e.observations,
                atm_iv_30d: e.metrics.and_then(|m| finite(m.atm_iv_30d)),
                iv_rank: e.metrics.and_then(|m| finite(m.iv_rank)),
                iv_percentile: e.metrics.and_then(|m| finite(m.iv_percentile)),
                iv_history_days: e.metrics.and_then(|m| m.iv_history_days).unwrap_or(0),
                metrics_as_of: e.metrics.map(|m| iso_ms(m.ts)),
                factors: s.factors,
            })
        })
        .collect();
    RankedOpportunities {
        as_of,
        scoring: "multi_factor",
        weights: *weights,
        opportunities,
    }
}

/// The IV-rank factor's label, explicit about how much IV history is behind it.
fn iv_rank_label(raw: Option<f64>, days: i64) -> String {
    let full = i64::try_from(IV_HISTORY_DAYS).unwrap_or(i64::MAX);
    match raw {
        Some(v) if days >= full => format!("IV rank {v:.0} of 100 ({full}-day)"),
        Some(v) => format!("IV rank {v:.0} of 100 (only {days} of {full} days of IV history)"),
        None if days > 0 => {
            format!("IV rank: missing ({days} of {full} days of IV history, no range yet)")
        }
        None => "IV rank: missing (no IV history yet)".to_owned(),
    }
}

/// Counts per key of a `{code: count}` JSON object (bad JSON = empty).
pub fn skip_counts(json: &str) -> BTreeMap<String, u64> {
    serde_json::from_str(json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chains::{analyze_symbol, symbol_statements, SqlValue};
    use chrono::{Duration, NaiveDate};
    use sas_core::market::{
        ChainExpiry, DailyBar, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks,
    };

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    const T0: i64 = 1_795_186_800_000; // 2026-11-20T15:00:00Z

    fn bars(n: usize, wiggle: f64) -> Vec<DailyBar> {
        let mut d = NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
        let mut out = Vec::new();
        let mut i = 0;
        while out.len() < n {
            if !matches!(
                chrono::Datelike::weekday(&d),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            ) {
                let c = 100.0 * (1.0 + if i % 2 == 0 { wiggle } else { -wiggle });
                out.push(DailyBar {
                    date: d,
                    open: c,
                    high: c * 1.01,
                    low: c * 0.99,
                    close: c,
                    volume: 1_000_000 + (i % 5) * 10_000,
                });
                i += 1;
            }
            d -= Duration::days(1);
        }
        out.reverse();
        out
    }

    /// Two expiries around 30 days, strikes 80-120 priced by core's BSM with
    /// a put skew, quoted one cent either side of the model price.
    fn chain(symbol: &str) -> OptionChain {
        use sas_core::analytics::bsm::{price_and_greeks, BsmInput};
        use sas_core::analytics::chain::time_to_expiry_years;
        let as_of = DateTime::<Utc>::from_timestamp_millis(T0).unwrap();
        let expiry = |y: i32, m: u32, d: u32, dte: u32| {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let t = time_to_expiry_years(as_of, date);
            let mut contracts = Vec::new();
            for k in (0..=16).map(|i| 80.0 + 2.5 * f64::from(i)) {
                for right in [OptionRight::Put, OptionRight::Call] {
                    let vol = 0.30 + 0.4 * (100.0 - k) / 100.0;
                    let (price, _) = price_and_greeks(&BsmInput {
                        spot: 100.0,
                        strike: k,
                        t_years: t,
                        rate: 0.04,
                        div_yield: 0.0,
                        vol,
                        right,
                    });
                    contracts.push(OptionQuote {
                        strike: k,
                        right,
                        bid: Some(price - 0.01),
                        ask: Some(price + 0.01),
                        last: None,
                        volume: Some(if right == OptionRight::Put { 80 } else { 50 }),
                        open_interest: Some(500),
                        greeks: SourceGreeks::default(),
                    });
                }
            }
            ChainExpiry {
                expiry: date,
                dte,
                contracts,
            }
        };
        OptionChain {
            symbol: sym(symbol),
            spot: 100.0,
            as_of,
            data_type: DataType::Simulated,
            dividend_yield: None,
            expiries: vec![expiry(2026, 12, 11, 21), expiry(2027, 1, 15, 56)],
        }
    }

    /// The stored row exactly as the cron writes it (through the statement params).
    fn stored_row(symbol: &str, wiggle: f64, iv_history: &[f64]) -> MetricsRow {
        let a = analyze_symbol(&chain(symbol), &bars(60, wiggle), iv_history, 0.04);
        let now = DateTime::<Utc>::from_timestamp_millis(T0).unwrap();
        let st = symbol_statements(&sym(symbol), &a, None, 3, now);
        let p = &st
            .iter()
            .find(|s| s.sql == crate::chains::UPSERT_METRICS_DAILY)
            .unwrap()
            .params;
        let real = |v: &SqlValue| match v {
            SqlValue::Real(x) => Some(*x),
            _ => None,
        };
        let int = |v: &SqlValue| match v {
            SqlValue::Int(x) => Some(*x),
            _ => None,
        };
        let text = |v: &SqlValue| match v {
            SqlValue::Text(x) => Some(x.clone()),
            _ => None,
        };
        MetricsRow {
            date: text(&p[15]),
            ts: int(&p[1]).unwrap(),
            spot: real(&p[2]).unwrap(),
            atm_iv_30d: real(&p[3]),
            iv_rank: real(&p[4]),
            iv_percentile: real(&p[5]),
            iv_history_days: int(&p[6]),
            rv_20d: real(&p[7]),
            skew_25d_30d: real(&p[8]),
            gex_per_1pct: real(&p[9]),
            dex: real(&p[10]),
            contracts_valued: int(&p[11]),
            skips_json: text(&p[12]),
            metrics_json: text(&p[13]),
            factors_json: text(&p[14]),
        }
    }

    #[test]
    fn metrics_point_exposes_every_chart_field() {
        let history: Vec<f64> = (0..40).map(|i| 0.15 + 0.005 * f64::from(i)).collect();
        let row = stored_row("AAPL", 0.01, &history);
        let body = symbol_metrics(&sym("AAPL"), MetricsInterval::Daily, 30, &[row]);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["symbol"], "AAPL");
        assert_eq!(v["interval"], "daily");
        assert_eq!(v["iv_history_target"], 252);
        let p = &v["metrics"][0];
        assert_eq!(p["date"], "2026-11-20");
        assert_eq!(p["t"], "2026-11-20T15:00:00.000Z");
        assert_eq!(p["iv_history_days"], 41);
        for key in [
            "atm_iv_30d",
            "iv_rank",
            "iv_percentile",
            "rv_10",
            "rv_20",
            "rv_30",
            "rv_yz",
            "iv_rv_spread",
            "skew_25d",
            "volume_z",
            "momentum",
            "pc_volume_ratio",
            "pc_oi_ratio",
            "gex",
            "dex",
        ] {
            assert!(p[key].is_number(), "{key} = {}", p[key]);
        }
        assert!(p.get("term_slope").is_some());
        // Every contract is either valued or counted as skipped (deep
        // out-of-the-money bids at or below zero).
        let skipped: i64 = p["skips"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_i64().unwrap())
            .sum();
        assert_eq!(p["contracts_valued"].as_i64().unwrap() + skipped, 68);
        assert!(p["contracts_valued"].as_i64().unwrap() > 60);
    }

    #[test]
    fn damaged_json_columns_read_as_absent() {
        let mut row = stored_row("AAPL", 0.01, &[]);
        row.metrics_json = Some("{oops".into());
        row.skips_json = None;
        row.date = None;
        let p = metrics_point(&row);
        assert_eq!(p.rv_10, None);
        assert!(p.rv_20.is_some(), "column value still used");
        assert_eq!(p.iv_history_days, 0);
        let v = serde_json::to_value(&p).unwrap();
        assert!(v.get("date").is_none());
    }

    #[test]
    fn chain_view_unpacks_contracts() {
        let rows = vec![ChainExpiryRow {
            ts: T0,
            expiry: "2026-12-18".into(),
            dte: 28,
            forward: Some(100.3),
            atm_iv: Some(0.3),
            skew_25d: Some(0.02),
            contracts_json: r#"[[100.0,"C",3.65,0.3,0.52,0.04,-0.05,0.11,0.04,50,500],[1,2]]"#
                .into(),
        }];
        let v = chain_view(&sym("SPY"), &rows, Some(100.0)).unwrap();
        assert_eq!(v.as_of, "2026-11-20T15:00:00.000Z");
        assert_eq!(v.expiries[0].contracts.len(), 1, "malformed entry dropped");
        let c = &v.expiries[0].contracts[0];
        assert_eq!(c["strike"], 100.0);
        assert_eq!(c["right"], "C");
        assert_eq!(c["open_interest"], 500);
        assert!(chain_view(&sym("SPY"), &[], None).is_none());
    }

    fn latest(symbol: &str, wiggle: f64, iv_history: &[f64]) -> LatestMetricsRow {
        let r = stored_row(symbol, wiggle, iv_history);
        LatestMetricsRow {
            symbol: symbol.into(),
            ts: r.ts,
            spot: r.spot,
            atm_iv_30d: r.atm_iv_30d,
            iv_rank: r.iv_rank,
            iv_percentile: r.iv_percentile,
            iv_history_days: r.iv_history_days,
            factors_json: r.factors_json,
        }
    }

    /// Two sessions of 15-minute snapshots: a calm symbol and a jumpy one.
    fn two_sessions_of_snapshots() -> Vec<SnapshotRow> {
        const T0: i64 = 1_795_186_800_000; // 2026-11-20T15:00:00Z
        let mut rows = Vec::new();
        for (symbol, amplitude) in [("CALM", 0.0005), ("JUMPY", 0.02)] {
            for day in 0..2_i64 {
                for i in 0..20_i64 {
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    rows.push(SnapshotRow {
                        symbol: symbol.into(),
                        ts: T0 - (1 - day) * 86_400_000 + i * 900_000,
                        last: Some(100.0 * (1.0 + sign * amplitude)),
                        volume: Some(1000 * (i + 1)),
                    });
                }
            }
        }
        rows
    }

    /// Before any chain analytics exist (Phase 1), stored quotes alone rank.
    #[test]
    fn opportunities_from_snapshots_alone_rank_the_more_volatile_symbol_first() {
        let wl = [sym("CALM"), sym("JUMPY"), sym("EMPTY")];
        let rows = two_sessions_of_snapshots();
        let o = opportunities(&wl, &[], &rows, &ScoreWeights::default(), 10);
        assert_eq!(
            o.opportunities.len(),
            2,
            "symbols without rows are left out"
        );
        assert_eq!(o.opportunities[0].symbol, "JUMPY");
        assert_eq!(o.opportunities[0].rank, 1);
        assert_eq!(o.opportunities[1].rank, 2);
        assert!(o.opportunities[0].score > o.opportunities[1].score);
        assert_eq!(o.opportunities[0].observations, 40);
        assert_eq!(o.opportunities[0].iv_history_days, 0);
        assert!(o.opportunities[0]
            .factors
            .iter()
            .any(|f| f.name == "realized_vol" && f.normalized.is_some()));
        let limited = opportunities(&wl, &[], &rows, &ScoreWeights::default(), 1);
        assert_eq!(limited.opportunities.len(), 1);
        assert!(opportunities(&wl, &[], &[], &ScoreWeights::default(), 10)
            .opportunities
            .is_empty());
    }

    #[test]
    fn opportunities_use_chain_factors_and_explain_iv_history() {
        let history: Vec<f64> = (0..20).map(|i| 0.10 + 0.002 * f64::from(i)).collect();
        let metrics = vec![latest("CALM", 0.001, &history), latest("JUMPY", 0.03, &[])];
        let wl = [sym("CALM"), sym("JUMPY"), sym("NONE")];
        let o = opportunities(&wl, &metrics, &[], &ScoreWeights::default(), 10);
        assert_eq!(o.scoring, "multi_factor");
        assert_eq!(o.opportunities.len(), 2);
        let calm = o.opportunities.iter().find(|x| x.symbol == "CALM").unwrap();
        let jumpy = o
            .opportunities
            .iter()
            .find(|x| x.symbol == "JUMPY")
            .unwrap();
        assert_eq!(calm.iv_history_days, 21);
        let iv = calm.factors.iter().find(|f| f.name == "iv_rank").unwrap();
        assert!(iv.normalized.is_some());
        assert!(iv.label.contains("only 21 of 252 days"), "{}", iv.label);
        let iv = jumpy.factors.iter().find(|f| f.name == "iv_rank").unwrap();
        assert_eq!(iv.normalized, None);
        assert!(iv.label.contains("no IV history yet"), "{}", iv.label);
        // Realized vol comes from daily bars: the jumpy symbol scores it higher.
        let rv = |o: &RankedOpportunity| {
            o.factors
                .iter()
                .find(|f| f.name == "realized_vol")
                .unwrap()
                .normalized
                .unwrap()
        };
        assert!(rv(jumpy) > rv(calm));
        for op in &o.opportunities {
            let sum: f64 = op.factors.iter().map(|f| f.contribution).sum();
            assert!((sum - op.score).abs() < 1e-9);
            assert_eq!(op.last, Some(100.0), "spot when no snapshots");
        }
        assert_eq!(o.as_of.as_deref(), Some("2026-11-20T15:00:00.000Z"));
        let v = serde_json::to_value(&o).unwrap();
        for key in ["rank", "symbol", "score", "last", "observations", "factors"] {
            assert!(v["opportunities"][0].get(key).is_some(), "{key}");
        }
        let f = &v["opportunities"][0]["factors"][0];
        for key in [
            "name",
            "label",
            "raw",
            "normalized",
            "weight",
            "contribution",
        ] {
            assert!(f.get(key).is_some(), "{key}");
        }
        assert_eq!(v["weights"]["iv_rank"], 2.0);
        assert_eq!(
            opportunities(&wl, &metrics, &[], &ScoreWeights::default(), 1)
                .opportunities
                .len(),
            1
        );
    }

    #[test]
    fn weights_change_the_ranking() {
        let history: Vec<f64> = (0..20).map(|i| 0.40 - 0.01 * f64::from(i)).collect();
        // CALM has a high IV rank (its IV is above the falling history); JUMPY
        // has none but a high realized vol.
        let metrics = vec![latest("CALM", 0.001, &history), latest("JUMPY", 0.03, &[])];
        let wl = [sym("CALM"), sym("JUMPY")];
        let iv_only = crate::chains::parse_score_weights(
            "realized_vol=0,range=0,volume=0,momentum=0,iv_rank=1",
        )
        .unwrap();
        let vol_only = crate::chains::parse_score_weights(
            "realized_vol=1,range=0,volume=0,momentum=0,iv_rank=0",
        )
        .unwrap();
        let by_iv = opportunities(&wl, &metrics, &[], &iv_only, 10);
        let by_vol = opportunities(&wl, &metrics, &[], &vol_only, 10);
        assert_eq!(by_iv.opportunities[0].symbol, "CALM");
        assert_eq!(by_vol.opportunities[0].symbol, "JUMPY");
    }

    #[test]
    fn intraday_snapshots_fill_session_factors() {
        let snaps: Vec<SnapshotRow> = (0..10_i64)
            .map(|i| SnapshotRow {
                symbol: "JUMPY".into(),
                ts: T0 + i * 900_000,
                last: Some(100.0 + if i % 2 == 0 { 1.0 } else { -1.0 }),
                volume: Some(1000 * (i + 1)),
            })
            .collect();
        let metrics = vec![latest("JUMPY", 0.03, &[])];
        let o = opportunities(
            &[sym("JUMPY")],
            &metrics,
            &snaps,
            &ScoreWeights::default(),
            10,
        );
        let op = &o.opportunities[0];
        assert_eq!(op.observations, 10);
        assert_eq!(op.last, Some(99.0));
        let range = op.factors.iter().find(|f| f.name == "range").unwrap();
        assert!((range.raw.unwrap() - 2.0 / 99.0 * 100.0).abs() < 1e-9);
        // Snapshots alone still rank (phase-1 behaviour), with no IV rank.
        let o = opportunities(&[sym("JUMPY")], &[], &snaps, &ScoreWeights::default(), 10);
        assert_eq!(o.opportunities[0].iv_history_days, 0);
        assert_eq!(o.opportunities[0].metrics_as_of, None);
    }

    #[test]
    fn combine_prefers_the_documented_sources() {
        let chain = FactorInputs {
            realized_vol: Some(0.3),
            range_pct: Some(1.0),
            volume_ratio: None,
            volume_zscore: Some(1.5),
            momentum_pct: Some(-0.5),
            iv_rank: Some(40.0),
        };
        let intraday = FactorInputs {
            realized_vol: Some(0.9),
            range_pct: Some(2.0),
            volume_ratio: Some(1.2),
            volume_zscore: None,
            momentum_pct: Some(f64::NAN),
            iv_rank: None,
        };
        let c = combine_factors(Some(&chain), &intraday);
        assert_eq!(c.realized_vol, Some(0.3));
        assert_eq!(c.range_pct, Some(2.0));
        assert_eq!(c.volume_ratio, Some(1.2));
        assert_eq!(c.volume_zscore, Some(1.5));
        assert_eq!(c.momentum_pct, Some(-0.5), "NaN intraday falls back");
        assert_eq!(c.iv_rank, Some(40.0));
        assert_eq!(combine_factors(None, &intraday).realized_vol, Some(0.9));
        assert_eq!(skip_counts(r#"{"zero_price":3}"#)["zero_price"], 3);
        assert!(skip_counts("x").is_empty());
        assert_eq!(
            MetricsInterval::parse("daily"),
            Some(MetricsInterval::Daily)
        );
        assert_eq!(MetricsInterval::parse("weekly"), None);
    }
}

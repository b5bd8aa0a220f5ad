//! Archived rows (Postgres `chain_snapshots` and
//! `underlying_metrics_intraday`, docs/archive.md) turned into what core's
//! engine takes: an [`OptionChain`], the score's [`FactorInputs`] and the
//! regime's [`RegimeInputs`]. Pure.
//!
//! The archive keeps one **mid** per contract (the packed columns of
//! `sas_core::analytics::rows::PACKED_CONTRACT_COLUMNS`), not the bid and
//! ask: the rebuilt quotes are `bid = ask = mid`. Fills then apply the
//! configured per-leg penalty (docs/replay.md, "Fills").

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::market::{
    ChainExpiry, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks, Symbol,
};
use sas_core::score::FactorInputs;
use sas_core::strategy::RegimeInputs;
use serde::Deserialize;

/// One archived `chain_snapshots` row (one expiry of one snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryRow {
    pub symbol: String,
    pub ts_ms: i64,
    pub expiry: NaiveDate,
    pub dte: i32,
    pub contracts_json: String,
}

/// One archived `underlying_metrics_intraday` row.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    pub symbol: String,
    pub ts_ms: i64,
    pub spot: f64,
    pub metrics_json: String,
    pub factors_json: String,
}

/// One underlying at one archived time, ready for core.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub symbol: Symbol,
    pub at: DateTime<Utc>,
    pub chain: OptionChain,
    pub factors: FactorInputs,
    pub regime: RegimeInputs,
}

/// Every snapshot taken at one time, by symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub at: DateTime<Utc>,
    pub snapshots: BTreeMap<Symbol, Snapshot>,
}

/// A snapshot that could not be used (it is left out, and reported).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unusable {
    pub symbol: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// The part of the stored `metrics_json` the regime needs (decimal vol).
#[derive(Debug, Default, Deserialize)]
struct StoredMetrics {
    atm_iv_30d: Option<f64>,
    iv_rank: Option<StoredRank>,
    rv_20d: Option<f64>,
    iv_rv_spread: Option<f64>,
    skew_25d_30d: Option<f64>,
    term_slope_per_30d: Option<f64>,
    momentum: Option<StoredMomentum>,
}

#[derive(Debug, Default, Deserialize)]
struct StoredRank {
    iv_rank: Option<f64>,
    days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct StoredMomentum {
    trend_20d_pct_per_day: Option<f64>,
}

/// Regime inputs from the stored metrics, in core's units (the same
/// conversion as `RegimeInputs::from_chain_analytics`: decimal vol → points,
/// trend = slope / `TREND_FULL_SCALE_PCT_PER_DAY` clamped to ±1, the IV
/// rank's days from `iv_rank.days`).
pub fn regime_from_metrics_json(json: &str) -> Result<RegimeInputs, String> {
    let m: StoredMetrics = serde_json::from_str(json).map_err(|e| format!("metrics_json: {e}"))?;
    let points = |v: Option<f64>| v.map(|x| x * 100.0);
    Ok(RegimeInputs {
        iv_rank: m.iv_rank.as_ref().and_then(|r| r.iv_rank),
        iv_rank_days: m
            .iv_rank
            .as_ref()
            .and_then(|r| r.days)
            .and_then(|d| u32::try_from(d).ok()),
        iv_rv_spread: points(m.iv_rv_spread),
        skew_25d: points(m.skew_25d_30d),
        term_slope: points(m.term_slope_per_30d),
        trend: m.momentum.and_then(|x| x.trend_20d_pct_per_day).map(|t| {
            (t / sas_core::strategy::regime::TREND_FULL_SCALE_PCT_PER_DAY).clamp(-1.0, 1.0)
        }),
        atm_iv: m.atm_iv_30d,
        realized_vol: m.rv_20d,
    }
    .sanitized())
}

type Packed = (
    f64,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<u64>,
    Option<u64>,
);

/// The quotes of one packed `contracts_json` array.
pub fn parse_contracts(json: &str) -> Result<Vec<OptionQuote>, String> {
    let packed: Vec<Packed> =
        serde_json::from_str(json).map_err(|e| format!("contracts_json: {e}"))?;
    let mut out = Vec::with_capacity(packed.len());
    for (strike, right, mid, iv, delta, gamma, theta, vega, _rho, volume, oi) in packed {
        let right = match right.as_str() {
            "C" => OptionRight::Call,
            "P" => OptionRight::Put,
            other => return Err(format!("contracts_json: unknown right {other:?}")),
        };
        // A contract without a finite positive mid has no market to replay.
        let Some(mid) = mid.filter(|m| m.is_finite() && *m > 0.0) else {
            continue;
        };
        out.push(OptionQuote {
            strike,
            right,
            bid: Some(mid),
            ask: Some(mid),
            last: None,
            volume,
            open_interest: oi,
            greeks: SourceGreeks {
                iv,
                delta,
                gamma,
                theta,
                vega,
            },
        });
    }
    Ok(out)
}

/// Builds one snapshot from its metrics row and its expiry rows.
pub fn snapshot(metrics: &MetricsRow, expiries: &[&ExpiryRow]) -> Result<Snapshot, String> {
    let symbol = Symbol::parse(&metrics.symbol).map_err(|e| e.to_string())?;
    let at =
        DateTime::<Utc>::from_timestamp_millis(metrics.ts_ms).ok_or("timestamp out of range")?;
    if !(metrics.spot.is_finite() && metrics.spot > 0.0) {
        return Err(format!("spot {} is not a positive number", metrics.spot));
    }
    let factors: FactorInputs =
        serde_json::from_str(&metrics.factors_json).map_err(|e| format!("factors_json: {e}"))?;
    let regime = regime_from_metrics_json(&metrics.metrics_json)?;
    let mut list = Vec::with_capacity(expiries.len());
    for e in expiries {
        list.push(ChainExpiry {
            expiry: e.expiry,
            dte: u32::try_from(e.dte).map_err(|_| format!("negative dte {}", e.dte))?,
            contracts: parse_contracts(&e.contracts_json)?,
        });
    }
    list.sort_by_key(|e| e.expiry);
    if list.is_empty() {
        return Err("no chain rows at this time".into());
    }
    Ok(Snapshot {
        symbol: symbol.clone(),
        at,
        chain: OptionChain {
            symbol,
            spot: metrics.spot,
            as_of: at,
            data_type: DataType::Frozen,
            dividend_yield: None,
            expiries: list,
        },
        factors,
        regime,
    })
}

/// Groups one batch of rows (any order) into slots by time, oldest first.
/// A metrics row without chain rows, or chain rows without a metrics row,
/// or a row that does not parse, is reported in the second list.
pub fn slots(metrics: &[MetricsRow], expiries: &[ExpiryRow]) -> (Vec<Slot>, Vec<Unusable>) {
    let mut by_key: BTreeMap<(i64, &str), Vec<&ExpiryRow>> = BTreeMap::new();
    for e in expiries {
        by_key
            .entry((e.ts_ms, e.symbol.as_str()))
            .or_default()
            .push(e);
    }
    let mut out: BTreeMap<i64, Slot> = BTreeMap::new();
    let mut bad = Vec::new();
    let at_of = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    for m in metrics {
        let rows = by_key
            .remove(&(m.ts_ms, m.symbol.as_str()))
            .unwrap_or_default();
        match snapshot(m, &rows) {
            Ok(s) => {
                out.entry(m.ts_ms)
                    .or_insert_with(|| Slot {
                        at: s.at,
                        snapshots: BTreeMap::new(),
                    })
                    .snapshots
                    .insert(s.symbol.clone(), s);
            }
            Err(reason) => bad.push(Unusable {
                symbol: m.symbol.clone(),
                at: at_of(m.ts_ms),
                reason,
            }),
        }
    }
    for ((ms, sym), _) in by_key {
        bad.push(Unusable {
            symbol: sym.to_string(),
            at: at_of(ms),
            reason: "chain rows without an underlying metrics row (no spot)".into(),
        });
    }
    bad.sort_by(|a, b| (a.at, &a.symbol).cmp(&(b.at, &b.symbol)));
    (out.into_values().collect(), bad)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn metrics(sym: &str, ms: i64) -> MetricsRow {
        MetricsRow {
            symbol: sym.into(),
            ts_ms: ms,
            spot: 100.0,
            metrics_json:
                r#"{"iv_rank":{"iv_rank":72.0,"days":200},"iv_rv_spread":0.06,"skew_25d_30d":0.04,
                "term_slope_per_30d":-0.01,"momentum":{"trend_20d_pct_per_day":-0.05}}"#
                    .into(),
            factors_json: r#"{"realized_vol":0.3,"range_pct":null,"volume_ratio":null,
                "volume_zscore":null,"momentum_pct":1.5,"iv_rank":72.0}"#
                .into(),
        }
    }

    fn expiry(sym: &str, ms: i64, c: &str) -> ExpiryRow {
        ExpiryRow {
            symbol: sym.into(),
            ts_ms: ms,
            expiry: NaiveDate::from_ymd_opt(2026, 10, 16).unwrap(),
            dte: 30,
            contracts_json: c.into(),
        }
    }

    #[test]
    fn rows_become_core_inputs_and_bad_rows_are_reported() {
        let good = r#"[[100.0,"C",2.5,0.3,0.52,0.04,-0.05,0.12,0.03,120,900],
                       [95.0,"P",null,0.3,-0.3,0.04,-0.05,0.12,0.03,null,null]]"#;
        let m = vec![
            metrics("SPY", 1000),
            metrics("QQQ", 1000),
            metrics("IWM", 2000),
        ];
        let e = vec![
            expiry("SPY", 1000, good),
            expiry("QQQ", 1000, r#"[[1,"X",1,1,1,1,1,1,1,1,1]]"#),
            expiry("DIA", 2000, good),
        ];
        let (slots, bad) = slots(&m, &e);
        assert_eq!(slots.len(), 1);
        let s = &slots[0].snapshots[&Symbol::parse("SPY").unwrap()];
        let q = &s.chain.expiries[0].contracts;
        assert_eq!(q.len(), 1, "a contract without a mid is left out");
        assert_eq!((q[0].bid, q[0].ask), (Some(2.5), Some(2.5)));
        assert_eq!(q[0].greeks.delta, Some(0.52));
        assert_eq!(q[0].open_interest, Some(900));
        assert_eq!(s.factors.momentum_pct, Some(1.5));
        assert_eq!(s.regime.iv_rank, Some(72.0));
        assert_eq!(s.regime.iv_rank_days, Some(200));
        assert!((s.regime.iv_rv_spread.unwrap() - 6.0).abs() < 1e-9);
        assert!((s.regime.trend.unwrap() + 0.1).abs() < 1e-9);
        let reasons: Vec<(&str, &str)> = bad
            .iter()
            .map(|b| (b.symbol.as_str(), b.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons
            .iter()
            .any(|(s, r)| *s == "QQQ" && r.contains("unknown right")));
        assert!(reasons
            .iter()
            .any(|(s, r)| *s == "IWM" && r.contains("no chain rows")));
        assert!(reasons
            .iter()
            .any(|(s, r)| *s == "DIA" && r.contains("no spot")));
    }
}

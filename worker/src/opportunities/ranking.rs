//! The multi-factor ranking of the watchlist (`/search/opportunities`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sas_core::analytics::intraday::{factors_from_snapshots, Snapshot};
use sas_core::analytics::vol::IV_HISTORY_DAYS;
use sas_core::market::Symbol;
use sas_core::score::{rank, score_opportunity, FactorInputs, ScoreWeights};

use super::model::LatestMetricsRow;
use super::view::{finite, RankedOpportunities, RankedOpportunity};
use crate::ingest::iso_ms;
use crate::store::SnapshotRow;

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

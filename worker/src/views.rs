//! Response bodies of the API, built from stored rows (pure).

use chrono::{DateTime, Utc};
use sas_core::analytics::intraday::{factors_from_snapshots, Snapshot};
use sas_core::market::Symbol;
use sas_core::score::{rank, score_opportunity, FactorScore, ScoreWeights};
use serde::Serialize;

use crate::ingest::{iso_ms, IngestRun};
use crate::store::{HistoryRow, LatestRow, SnapshotRow};

/// Version reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `d1` part of `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct D1Health {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// `bridge` part of `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BridgeHealth {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// `config` part of `/health`: only whether it is valid (details are logged).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConfigHealth {
    pub ok: bool,
}

/// `last_ingest` part of `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastIngest {
    pub status: String,
    pub finished_at: Option<String>,
    pub age_seconds: Option<i64>,
}

/// `/health` body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub config: ConfigHealth,
    pub d1: D1Health,
    pub bridge: BridgeHealth,
    pub last_ingest: Option<LastIngest>,
}

/// Assembles `/health`: `degraded` when the configuration, D1 or the bridge fails.
pub fn health(
    config_ok: bool,
    d1: D1Health,
    bridge: BridgeHealth,
    last_run: Option<&IngestRun>,
    now: DateTime<Utc>,
) -> Health {
    let last_ingest = last_run.map(|r| LastIngest {
        status: r.status.clone(),
        finished_at: r.finished_at.clone(),
        age_seconds: r
            .finished_at
            .as_deref()
            .and_then(|f| DateTime::parse_from_rfc3339(f).ok())
            .map(|f| (now - f.with_timezone(&Utc)).num_seconds().max(0)),
    });
    let ok = config_ok && d1.ok && bridge.ok;
    Health {
        status: if ok { "ok" } else { "degraded" },
        version: VERSION,
        config: ConfigHealth { ok: config_ok },
        d1,
        bridge,
        last_ingest,
    }
}

/// `/ingest/runs` body.
#[derive(Debug, Serialize)]
pub struct Runs {
    pub runs: Vec<IngestRun>,
}

/// One quote of `/market/latest`.
#[derive(Debug, Serialize, PartialEq)]
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
pub struct HistoryPoint {
    pub t: String,
    pub last: Option<f64>,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub volume: Option<i64>,
}

/// `/market/history` body.
#[derive(Debug, Serialize, PartialEq)]
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

/// One ranked entry of `/search/opportunities`.
#[derive(Debug, Serialize, PartialEq)]
pub struct Opportunity {
    pub rank: usize,
    pub symbol: String,
    pub score: f64,
    /// Share of the total factor weight that could be measured (0-1).
    pub coverage: f64,
    pub last: Option<f64>,
    pub observations: usize,
    pub factors: Vec<FactorScore>,
}

/// `/search/opportunities` body.
#[derive(Debug, Serialize, PartialEq)]
pub struct Opportunities {
    pub as_of: Option<String>,
    pub opportunities: Vec<Opportunity>,
}

/// Ranks the watchlist from stored snapshots (rows grouped by symbol, oldest
/// first, as [`crate::store::SELECT_SNAPSHOTS`] returns them) with the core
/// scorer. Symbols without any stored row are left out.
pub fn opportunities(
    watchlist: &[Symbol],
    rows: &[SnapshotRow],
    weights: &ScoreWeights,
    limit: usize,
) -> Opportunities {
    let as_of = rows.iter().map(|r| r.ts).max().map(iso_ms);
    let mut per_symbol: Vec<(Symbol, Vec<Snapshot>, Option<f64>)> = Vec::new();
    for symbol in watchlist {
        let snaps: Vec<Snapshot> = rows
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
        if snaps.is_empty() {
            continue;
        }
        let last = snaps.iter().max_by_key(|s| s.t).map(|s| s.last);
        per_symbol.push((symbol.clone(), snaps, last));
    }
    let scores = per_symbol
        .iter()
        .map(|(symbol, snaps, _)| {
            score_opportunity(symbol.clone(), &factors_from_snapshots(snaps), weights)
        })
        .collect();
    let opportunities = rank(scores)
        .into_iter()
        .take(limit)
        .enumerate()
        .map(|(i, s)| {
            let (observations, last) = per_symbol
                .iter()
                .find(|(sym, _, _)| *sym == s.symbol)
                .map(|(_, snaps, last)| (snaps.len(), *last))
                .unwrap_or((0, None));
            Opportunity {
                rank: i + 1,
                symbol: s.symbol.to_string(),
                score: s.score,
                coverage: s.coverage,
                last,
                observations,
                factors: s.factors,
            }
        })
        .collect();
    Opportunities {
        as_of,
        opportunities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    const T0: i64 = 1_795_186_800_000; // 2026-11-20T15:00:00Z

    fn run(status: &str, finished_at: Option<&str>) -> IngestRun {
        IngestRun {
            id: 1,
            trigger: "cron".into(),
            started_at: "2026-11-20T15:00:00.000Z".into(),
            finished_at: finished_at.map(str::to_owned),
            status: status.into(),
            symbols_ok: 10,
            symbols_failed: 0,
            rows_written: 10,
            error: None,
        }
    }

    #[test]
    fn health_is_degraded_when_anything_fails() {
        let now = DateTime::<Utc>::from_timestamp_millis(T0 + 120_000).unwrap();
        let d1_ok = D1Health {
            ok: true,
            error: None,
        };
        let bridge_ok = BridgeHealth {
            ok: true,
            latency_ms: Some(3),
            error: None,
        };
        let last = run("ok", Some("2026-11-20T15:00:00.000Z"));
        let h = health(true, d1_ok.clone(), bridge_ok.clone(), Some(&last), now);
        assert_eq!(h.status, "ok");
        assert_eq!(h.last_ingest.as_ref().unwrap().age_seconds, Some(120));
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["bridge"]["latency_ms"], 3);
        assert!(v["d1"].get("error").is_none());

        let bridge_down = BridgeHealth {
            ok: false,
            latency_ms: None,
            error: Some("unreachable"),
        };
        assert_eq!(
            health(true, d1_ok.clone(), bridge_down, None, now).status,
            "degraded"
        );
        assert_eq!(
            health(false, d1_ok, bridge_ok.clone(), None, now).status,
            "degraded"
        );
        let h = health(
            true,
            D1Health {
                ok: false,
                error: Some("unavailable"),
            },
            bridge_ok,
            None,
            now,
        );
        assert_eq!(h.status, "degraded");
        assert_eq!(
            serde_json::to_value(&h).unwrap()["last_ingest"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn latest_reports_newest_time() {
        let rows = vec![
            LatestRow {
                symbol: "AAPL".into(),
                ts: T0,
                bid: Some(1.0),
                ask: Some(1.1),
                last: Some(1.05),
                volume: Some(5),
                data_type: "simulated".into(),
            },
            LatestRow {
                symbol: "SPY".into(),
                ts: T0 + 1000,
                bid: None,
                ask: None,
                last: Some(2.0),
                volume: None,
                data_type: "delayed".into(),
            },
        ];
        let l = latest(rows);
        assert_eq!(l.as_of.as_deref(), Some("2026-11-20T15:00:01.000Z"));
        assert_eq!(l.quotes[0].timestamp, "2026-11-20T15:00:00.000Z");
        assert_eq!(latest(Vec::new()).as_of, None);
    }

    /// Two sessions of 15-minute snapshots: a calm symbol and a jumpy one.
    fn snapshot_rows() -> Vec<SnapshotRow> {
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

    #[test]
    fn opportunities_rank_the_more_volatile_symbol_first() {
        let wl = [sym("CALM"), sym("JUMPY"), sym("EMPTY")];
        let o = opportunities(&wl, &snapshot_rows(), &ScoreWeights::default(), 10);
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
        assert!(o.opportunities[0]
            .factors
            .iter()
            .any(|f| f.name == "realized_vol" && f.normalized.is_some()));
        let limited = opportunities(&wl, &snapshot_rows(), &ScoreWeights::default(), 1);
        assert_eq!(limited.opportunities.len(), 1);
        assert!(opportunities(&wl, &[], &ScoreWeights::default(), 10)
            .opportunities
            .is_empty());
    }
}

//! Response bodies of the API, built from stored rows (pure).

use chrono::{DateTime, Utc};
use sas_core::market::Symbol;
use serde::Serialize;

use crate::ingest::{iso_ms, IngestRun};
use crate::store::{HistoryRow, LatestRow};

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
        status: r.status.as_str().to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_186_800_000; // 2026-11-20T15:00:00Z

    fn run(status: &str, finished_at: Option<&str>) -> IngestRun {
        IngestRun {
            id: 1,
            trigger: "cron".into(),
            started_at: "2026-11-20T15:00:00.000Z".into(),
            finished_at: finished_at.map(str::to_owned),
            status: serde_json::from_value(serde_json::json!(status)).unwrap(),
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
}

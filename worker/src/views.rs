//! Response bodies of the API, built from stored rows (pure).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ingest::IngestRun;

/// Version reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `d1` part of `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct D1Health {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error: Option<&'static str>,
}

/// `bridge` part of `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BridgeHealth {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error: Option<&'static str>,
}

/// `config` part of `/health`: only whether it is valid (details are logged).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConfigHealth {
    pub ok: bool,
}

/// `last_ingest` part of `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LastIngest {
    pub status: String,
    pub finished_at: Option<String>,
    pub age_seconds: Option<i64>,
}

/// `/health` body.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Runs {
    pub runs: Vec<IngestRun>,
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
}

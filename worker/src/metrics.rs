//! `GET /metrics`: the Worker's operator metrics in the Prometheus text
//! format (version 0.0.4), computed from D1 on each scrape: runs by status,
//! rows written by the last runs, proposals, positions and orders by state,
//! alert deliveries by state, and the bridge's health latency. Pure: the
//! edge runs [`METRIC_QUERIES`] and pings the bridge, [`render`] writes the
//! text.

use serde::Deserialize;

/// The counted families, one statement each (D1 caps the terms of a
/// compound SELECT, so they run as one batch): `(family, label, n)` rows.
pub const METRIC_QUERIES: [&str; 9] = [
    "SELECT 'ingest_runs' AS family, status AS label, COUNT(*) AS n FROM ingest_runs GROUP BY status",
    "SELECT 'monitor_runs' AS family, status AS label, COUNT(*) AS n FROM monitor_runs GROUP BY status",
    "SELECT 'proposals' AS family, status AS label, COUNT(*) AS n FROM proposals GROUP BY status",
    "SELECT 'positions' AS family, status AS label, COUNT(*) AS n FROM positions GROUP BY status",
    "SELECT 'orders' AS family, status AS label, COUNT(*) AS n FROM orders GROUP BY status",
    "SELECT 'alert_deliveries' AS family, state AS label, COUNT(*) AS n FROM alert_deliveries GROUP BY state",
    "SELECT 'ingest_rows_last' AS family, '' AS label, rows_written AS n FROM ingest_runs ORDER BY id DESC LIMIT 1",
    "SELECT 'monitor_rows_last' AS family, '' AS label, rows_written AS n FROM monitor_runs \
     WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
    "SELECT 'monitor_ms_last' AS family, '' AS label, finished_at - started_at AS n FROM monitor_runs \
     WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
];

/// One row of [`METRIC_QUERIES`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricRow {
    pub family: String,
    pub label: Option<String>,
    pub n: Option<i64>,
}

/// The bridge as seen by the scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BridgeProbe {
    pub up: bool,
    pub latency_ms: Option<f64>,
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    label: Option<&'static str>,
    source: &'static str,
}

const FAMILIES: [Family; 9] = [
    Family {
        name: "sas_ingest_runs",
        help: "Ingestion runs recorded in D1, by status.",
        kind: "gauge",
        label: Some("status"),
        source: "ingest_runs",
    },
    Family {
        name: "sas_monitor_runs",
        help: "Position monitor runs recorded in D1, by status.",
        kind: "gauge",
        label: Some("status"),
        source: "monitor_runs",
    },
    Family {
        name: "sas_proposals",
        help: "Proposals by status.",
        kind: "gauge",
        label: Some("status"),
        source: "proposals",
    },
    Family {
        name: "sas_positions",
        help: "Positions by status.",
        kind: "gauge",
        label: Some("status"),
        source: "positions",
    },
    Family {
        name: "sas_orders",
        help: "Orders of the position engine by state.",
        kind: "gauge",
        label: Some("status"),
        source: "orders",
    },
    Family {
        name: "sas_alert_deliveries",
        help: "Alert deliveries by state.",
        kind: "gauge",
        label: Some("state"),
        source: "alert_deliveries",
    },
    Family {
        name: "sas_ingest_last_rows_written",
        help: "D1 rows written by the newest ingestion run.",
        kind: "gauge",
        label: None,
        source: "ingest_rows_last",
    },
    Family {
        name: "sas_monitor_last_rows_written",
        help: "D1 rows written by the newest finished monitor run.",
        kind: "gauge",
        label: None,
        source: "monitor_rows_last",
    },
    Family {
        name: "sas_monitor_last_duration_milliseconds",
        help: "Wall time of the newest finished monitor run.",
        kind: "gauge",
        label: None,
        source: "monitor_ms_last",
    },
];

/// A label value escaped as the text format requires (`\`, `"`, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text.
pub fn render(rows: &[MetricRow], bridge: BridgeProbe) -> String {
    let mut out = String::new();
    for f in &FAMILIES {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} {}\n",
            f.name, f.help, f.name, f.kind
        ));
        for r in rows.iter().filter(|r| r.family == f.source) {
            let n = r.n.unwrap_or(0);
            match f.label {
                Some(l) => out.push_str(&format!(
                    "{}{{{}=\"{}\"}} {}\n",
                    f.name,
                    l,
                    escape(r.label.as_deref().unwrap_or("")),
                    n
                )),
                None => out.push_str(&format!("{} {}\n", f.name, n)),
            }
        }
    }
    out.push_str("# HELP sas_bridge_up Whether the bridge answered /health during this scrape.\n# TYPE sas_bridge_up gauge\n");
    out.push_str(&format!("sas_bridge_up {}\n", u8::from(bridge.up)));
    out.push_str("# HELP sas_bridge_latency_milliseconds Latency of the bridge's /health during this scrape.\n# TYPE sas_bridge_latency_milliseconds gauge\n");
    if let Some(ms) = bridge.latency_ms {
        out.push_str(&format!("sas_bridge_latency_milliseconds {ms}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(family: &str, label: &str, n: i64) -> MetricRow {
        MetricRow {
            family: family.into(),
            label: Some(label.into()),
            n: Some(n),
        }
    }

    #[test]
    fn the_text_parses_with_a_prometheus_parser_and_carries_every_family() {
        let rows = vec![
            row("ingest_runs", "ok", 40),
            row("ingest_runs", "failed", 2),
            row("monitor_runs", "ok", 390),
            row("proposals", "pending", 3),
            row("positions", "open", 2),
            row("orders", "filled", 4),
            row("alert_deliveries", "delivered", 7),
            row("ingest_rows_last", "", 120),
            row("monitor_rows_last", "", 23),
            row("monitor_ms_last", "", 140),
            // A label that needs escaping does not break the format.
            row("positions", "we\"ird\\x", 1),
        ];
        let text = render(
            &rows,
            BridgeProbe {
                up: true,
                latency_ms: Some(12.5),
            },
        );
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");
        let value = |name: &str, label: Option<(&str, &str)>| {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
                .map(|s| match s.value {
                    prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                    _ => f64::NAN,
                })
        };
        assert_eq!(
            value("sas_ingest_runs", Some(("status", "failed"))),
            Some(2.0)
        );
        assert_eq!(
            value("sas_monitor_runs", Some(("status", "ok"))),
            Some(390.0)
        );
        assert_eq!(
            value("sas_alert_deliveries", Some(("state", "delivered"))),
            Some(7.0)
        );
        assert_eq!(value("sas_monitor_last_rows_written", None), Some(23.0));
        assert_eq!(value("sas_bridge_up", None), Some(1.0));
        assert_eq!(value("sas_bridge_latency_milliseconds", None), Some(12.5));
        // (The parser keeps label escapes as written; the sample is there.)
        assert!(scrape.samples.iter().any(|s| s.metric == "sas_positions"
            && s.labels.get("status").is_some_and(|v| v.starts_with("we"))));
        // Every family is declared once with HELP and TYPE.
        for f in &FAMILIES {
            assert_eq!(text.matches(&format!("# TYPE {} ", f.name)).count(), 1);
        }
    }
}

//! `/metrics` in the Prometheus text format, served on a loopback address
//! only. The daemon refreshes a snapshot after every run (Postgres is read
//! then, never by a scrape); a scrape renders it with the lag computed at
//! scrape time.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};

use crate::store::TableStatus;

/// Default `--metrics-addr`.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9187";

/// Why the metrics endpoint was not started.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("--metrics-addr must be a loopback address (127.0.0.1, ::1), got {0}")]
    NotLoopback(SocketAddr),
    #[error("--metrics-addr {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Debug, Default)]
struct Snapshot {
    tables: Vec<TableStatus>,
    runs_ok: u64,
    runs_failed: u64,
    last_run_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    /// Whether the last status refresh could read Postgres.
    status_ok: bool,
}

/// What `/metrics` shows, shared between the daemon and the server.
#[derive(Debug, Default)]
pub struct Metrics {
    snapshot: Mutex<Snapshot>,
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Snapshot) -> T) -> T {
        let mut guard = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Counts a finished run.
    pub fn record_run(&self, ok: bool, at: DateTime<Utc>) {
        self.with(|s| {
            s.last_run_at = Some(at);
            if ok {
                s.runs_ok += 1;
                s.last_success_at = Some(at);
            } else {
                s.runs_failed += 1;
            }
        });
    }

    /// Replaces the per-table status (`None`: Postgres could not be read;
    /// the previous figures stay, `sas_archiver_status_ok` says 0).
    pub fn set_status(&self, status: Option<Vec<TableStatus>>) {
        self.with(|s| match status {
            Some(t) => {
                s.tables = t;
                s.status_ok = true;
            }
            None => s.status_ok = false,
        });
    }

    /// The Prometheus text at `now`.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        self.with(|s| {
            let mut out = String::new();
            let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for l in lines {
                    let _ = writeln!(out, "{name}{l}");
                }
            };
            let per_table = |f: &dyn Fn(&TableStatus) -> Option<String>| -> Vec<String> {
                s.tables
                    .iter()
                    .filter_map(|t| f(t).map(|v| format!("{{table=\"{}\"}} {v}", t.table)))
                    .collect()
            };
            family(
                "sas_archiver_rows_archived_total",
                "counter",
                "Rows inserted into Postgres per table (all runs).",
                per_table(&|t| Some(t.archived_rows.to_string())),
            );
            family(
                "sas_archiver_lag_seconds",
                "gauge",
                "Age of the newest archived row per table.",
                per_table(&|t| {
                    t.newest_row_at
                        .map(|n| (now - n).num_seconds().max(0).to_string())
                }),
            );
            family(
                "sas_archiver_table_last_success_timestamp_seconds",
                "gauge",
                "When the table last archived without error (Unix time).",
                per_table(&|t| t.last_success_at.map(|x| seconds(x).to_string())),
            );
            family(
                "sas_archiver_table_errors_total",
                "counter",
                "Failed runs per table.",
                per_table(&|t| Some(t.errors_total.to_string())),
            );
            family(
                "sas_archiver_table_failing",
                "gauge",
                "1 when the table's last run failed.",
                per_table(&|t| Some(u8::from(t.last_error.is_some()).to_string())),
            );
            family(
                "sas_archiver_runs_total",
                "counter",
                "Runs since start by outcome.",
                vec![
                    format!("{{outcome=\"ok\"}} {}", s.runs_ok),
                    format!("{{outcome=\"failed\"}} {}", s.runs_failed),
                ],
            );
            family(
                "sas_archiver_last_run_timestamp_seconds",
                "gauge",
                "When the last run finished (Unix time).",
                s.last_run_at
                    .map(|t| format!(" {}", seconds(t)))
                    .into_iter()
                    .collect(),
            );
            family(
                "sas_archiver_last_success_timestamp_seconds",
                "gauge",
                "When the last fully successful run finished (Unix time).",
                s.last_success_at
                    .map(|t| format!(" {}", seconds(t)))
                    .into_iter()
                    .collect(),
            );
            family(
                "sas_archiver_status_ok",
                "gauge",
                "1 when the last status refresh could read Postgres.",
                vec![format!(" {}", u8::from(s.status_ok))],
            );
            out
        })
    }
}

/// Refuses anything but a loopback address.
pub fn check_loopback(addr: SocketAddr) -> Result<(), MetricsError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(MetricsError::NotLoopback(addr))
    }
}

/// Binds `addr` (loopback only) and serves `GET /metrics` in the
/// background; returns the bound address (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr, MetricsError> {
    check_loopback(addr)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    metrics.render(Utc::now()),
                )
                    .into_response()
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(addr = %bound, "metrics on /metrics");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_served() {
        for ok in ["127.0.0.1:9187", "[::1]:9187"] {
            assert!(check_loopback(ok.parse().expect("addr")).is_ok(), "{ok}");
        }
        for bad in ["0.0.0.0:9187", "192.168.1.5:9187", "[::]:9187"] {
            assert!(check_loopback(bad.parse().expect("addr")).is_err(), "{bad}");
        }
    }
}

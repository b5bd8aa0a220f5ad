//! `sas-archiver run-once | status | verify | daemon`: see docs/archive.md.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sas_archiver::config::{redact_url, Config};
use sas_archiver::export::{Backoff, ExportClient};
use sas_archiver::metrics::{self, Metrics, DEFAULT_METRICS_ADDR};
use sas_archiver::run::{daemon_backoff, Archiver};
use sas_archiver::store::Store;
use sas_archiver::tables;
use sas_archiver::verify::{self, Range};

#[derive(Parser)]
#[command(
    name = "sas-archiver",
    about = "Archives the Worker's D1 tables into Postgres (docs/archive.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Archive every table once, then exit (non-zero if any table failed).
    RunOnce,
    /// Per table: archived rows, watermark, acknowledged cursor, newest
    /// archived row and lag, last success, last error (JSON).
    Status,
    /// Compares the archive with the Worker (counts, checksums, the rows
    /// that differ) per table over an optional time range; read-only, sends
    /// no ack. Exit 1 when a table differs.
    Verify {
        /// Only these tables (repeatable); default every table.
        #[arg(long = "table")]
        tables: Vec<String>,
        /// Start of the range (RFC 3339 or YYYY-MM-DD, UTC), inclusive.
        #[arg(long)]
        from: Option<String>,
        /// End of the range, exclusive.
        #[arg(long)]
        to: Option<String>,
    },
    /// A run at start, then one every interval; failed runs back off.
    Daemon {
        #[arg(long, default_value_t = 3600)]
        interval_secs: u64,
        /// Where `/metrics` is served (loopback only).
        #[arg(long, default_value = DEFAULT_METRICS_ADDR)]
        metrics_addr: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = match Config::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                tracing::error!(error = %e, "invalid configuration");
            }
            return ExitCode::from(2);
        }
    };
    tracing::info!(config = ?config, "starting");
    let store = match connect(&config, matches!(cli.command, Command::Daemon { .. })).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, database = %redact_url(&config.database_url), "postgres unavailable");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = store.migrate().await {
        tracing::error!(error = %e, "postgres migrations failed");
        return ExitCode::from(1);
    }
    match cli.command {
        Command::Status => match store.status(chrono::Utc::now()).await {
            Ok(s) => {
                match serde_json::to_string_pretty(&s) {
                    Ok(text) => println!("{text}"),
                    Err(e) => tracing::error!(error = %e, "status not serializable"),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "status query failed");
                ExitCode::from(1)
            }
        },
        Command::RunOnce => {
            let Some(archiver) = archiver(store, &config) else {
                return ExitCode::from(1);
            };
            let report = archiver.run_once(chrono::Utc::now()).await;
            tracing::info!(report = %serde_json::to_string(&report).unwrap_or_default(), ok = report.ok(), "run finished");
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Verify {
            tables: names,
            from,
            to,
        } => {
            let mut specs = Vec::new();
            for n in &names {
                match tables::by_name(n) {
                    Some(t) => specs.push(t),
                    None => {
                        tracing::error!(table = %n, "no such exported table");
                        return ExitCode::from(2);
                    }
                }
            }
            if specs.is_empty() {
                specs = tables::ALL.to_vec();
            }
            let bound = |raw: &Option<String>| raw.as_deref().map(verify::parse_time).transpose();
            let range = match (bound(&from), bound(&to)) {
                (Ok(from_ms), Ok(to_ms)) => Range { from_ms, to_ms },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "bad --from/--to");
                    return ExitCode::from(2);
                }
            };
            let Some(archiver) = archiver(store, &config) else {
                return ExitCode::from(1);
            };
            let report = verify::verify(
                &archiver.store,
                &archiver.export,
                &specs,
                range,
                config.page_limit,
            )
            .await;
            match serde_json::to_string_pretty(&report) {
                Ok(text) => println!("{text}"),
                Err(e) => tracing::error!(error = %e, "report not serializable"),
            }
            if report.iter().all(|t| t.ok && t.error.is_none()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Daemon {
            interval_secs,
            metrics_addr,
        } => {
            let Some(archiver) = archiver(store, &config) else {
                return ExitCode::from(1);
            };
            let metrics = Arc::new(Metrics::default());
            if let Err(e) = metrics::serve(metrics_addr, metrics.clone()).await {
                tracing::error!(error = %e, "metrics endpoint not started");
                return ExitCode::from(2);
            }
            let interval = Duration::from_secs(interval_secs.max(1));
            let mut failures = 0u32;
            loop {
                let report = archiver.run_once(chrono::Utc::now()).await;
                metrics.record_run(report.ok(), chrono::Utc::now());
                match archiver.store.status(chrono::Utc::now()).await {
                    Ok(s) => metrics.set_status(Some(s)),
                    Err(e) => {
                        tracing::warn!(error = %e, "status refresh failed");
                        metrics.set_status(None);
                    }
                }
                let pause = if report.ok() {
                    failures = 0;
                    interval
                } else {
                    failures += 1;
                    daemon_backoff(failures, interval)
                };
                tracing::info!(report = %serde_json::to_string(&report).unwrap_or_default(), ok = report.ok(), next_run_in_secs = pause.as_secs(), "run finished");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = tokio::signal::ctrl_c() => {
                        tracing::info!("interrupted; exiting");
                        return ExitCode::SUCCESS;
                    }
                }
            }
        }
    }
}

/// The daemon waits for Postgres (with backoff) instead of exiting.
async fn connect(config: &Config, wait: bool) -> Result<Store, sqlx::Error> {
    let mut failures = 0u32;
    loop {
        match Store::connect(&config.database_url).await {
            Ok(s) => return Ok(s),
            Err(e) if wait => {
                failures += 1;
                let pause = daemon_backoff(failures, Duration::from_secs(600));
                tracing::warn!(error = %e, pause_secs = pause.as_secs(), "postgres unavailable; retrying");
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn archiver(store: Store, config: &Config) -> Option<Archiver> {
    match ExportClient::new(
        &config.worker_url,
        &config.archive_token,
        Duration::from_secs(30),
        Backoff::DEFAULT,
    ) {
        Ok(export) => Some(Archiver {
            store,
            export,
            page_limit: config.page_limit,
            retention_months: config.retention_months,
            pg_backoff: Backoff::DEFAULT,
        }),
        Err(e) => {
            tracing::error!(error = %e, "http client");
            None
        }
    }
}

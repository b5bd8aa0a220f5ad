//! One archiving run: every table from its watermark, page by page; the ack
//! goes to the Worker only after the page's transaction committed. A table
//! that fails stops (no ack past its last committed page); the others go on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::export::{Backoff, ExportClient};
use crate::store::Store;
use crate::tables::{self, TableSpec};

pub struct Archiver {
    pub store: Store,
    pub export: ExportClient,
    pub page_limit: usize,
    pub retention_months: u32,
    /// Retries of a failed Postgres page write.
    pub pg_backoff: Backoff,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableOutcome {
    pub table: String,
    pub pages: u64,
    pub received: u64,
    pub inserted: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub tables: Vec<TableOutcome>,
    pub dropped_partitions: Vec<String>,
    pub maintenance_error: Option<String>,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.maintenance_error.is_none() && self.tables.iter().all(|t| t.error.is_none())
    }
    pub fn outcome(&self, table: &str) -> Option<&TableOutcome> {
        self.tables.iter().find(|t| t.table == table)
    }
}

impl Archiver {
    pub async fn run_once(&self, now: DateTime<Utc>) -> RunReport {
        let mut report = RunReport::default();
        // Postgres unreachable: nothing can be written or acknowledged; every
        // table fails at once (the daemon backs off) instead of each waiting
        // out its own connection timeout.
        if let Err(e) = self.store.ping().await {
            let msg = format!("postgres unavailable: {e}");
            tracing::error!(error = %msg, "run skipped");
            for spec in tables::ALL {
                report.tables.push(TableOutcome {
                    table: spec.name.to_string(),
                    error: Some(msg.clone()),
                    ..TableOutcome::default()
                });
            }
            report.maintenance_error = Some(msg);
            return report;
        }
        for spec in tables::ALL {
            let mut outcome = TableOutcome {
                table: spec.name.to_string(),
                ..TableOutcome::default()
            };
            match self.archive_table(spec, &mut outcome).await {
                Ok(()) => {
                    tracing::info!(
                        table = spec.name,
                        pages = outcome.pages,
                        received = outcome.received,
                        inserted = outcome.inserted,
                        "table archived"
                    );
                    if let Err(e) = self.store.set_error(spec.name, None).await {
                        tracing::warn!(table = spec.name, error = %e, "could not clear the last error");
                    }
                }
                Err(msg) => {
                    tracing::error!(table = spec.name, error = %msg, pages = outcome.pages, "table stopped");
                    if let Err(e) = self.store.set_error(spec.name, Some(&msg)).await {
                        tracing::warn!(table = spec.name, error = %e, "could not record the error");
                    }
                    outcome.error = Some(msg);
                }
            }
            report.tables.push(outcome);
        }
        match self.maintain_partitions(now).await {
            Ok(dropped) => report.dropped_partitions = dropped,
            Err(e) => {
                let msg = format!("partition maintenance failed: {e}");
                tracing::error!(error = %msg);
                report.maintenance_error = Some(msg);
            }
        }
        report
    }

    /// Partitions created ahead, then months past the retention dropped.
    pub async fn maintain_partitions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, sqlx::Error> {
        self.store.ensure_partitions_ahead(now).await?;
        let dropped = self
            .store
            .apply_retention(now, self.retention_months)
            .await?;
        for p in &dropped {
            tracing::info!(partition = %p, retention_months = self.retention_months, "partition dropped by retention");
        }
        Ok(dropped)
    }

    async fn archive_table(
        &self,
        spec: &'static TableSpec,
        outcome: &mut TableOutcome,
    ) -> Result<(), String> {
        let wm = self
            .store
            .watermark(spec.name)
            .await
            .map_err(|e| format!("postgres: reading the watermark: {e}"))?;
        let mut cursor = wm.cursor.clone();
        // Committed but not acknowledged (crash or failed ack last time).
        if let Some(c) = &wm.cursor {
            if wm.acked_cursor.as_ref() != Some(c) {
                self.ack(spec, c).await?;
            }
        }
        loop {
            let page = self
                .export
                .page(spec.name, cursor.as_deref(), self.page_limit)
                .await
                .map_err(|e| e.to_string())?;
            let Some(next) = page.next_after.clone() else {
                break;
            };
            let copy = tables::to_copy(spec, &page.rows)
                .map_err(|e| format!("unparsable export page after {cursor:?}: {e}"))?;
            let inserted = self.write_with_retries(spec, &copy, &next).await?;
            outcome.pages += 1;
            outcome.received += copy.rows as u64;
            outcome.inserted += inserted;
            self.ack(spec, &next).await?;
            cursor = Some(next);
            // A page may hold fewer rows than the limit while more remain
            // (the Worker bounds pages by size, chain snapshots by 200
            // rows): the table is done only at an empty page.
        }
        Ok(())
    }

    async fn write_with_retries(
        &self,
        spec: &'static TableSpec,
        copy: &tables::CopyPage,
        cursor: &str,
    ) -> Result<u64, String> {
        let mut attempt = 1;
        loop {
            match self.store.write_page(spec, copy, cursor).await {
                Ok(n) => return Ok(n),
                Err(e) if attempt < self.pg_backoff.attempts.max(1) => {
                    let pause = self.pg_backoff.delay(attempt);
                    tracing::warn!(table = spec.name, error = %e, attempt, pause_ms = pause.as_millis() as u64, "postgres write failed; backing off");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(e) => return Err(format!("postgres: writing a page: {e}")),
            }
        }
    }

    async fn ack(&self, spec: &TableSpec, cursor: &str) -> Result<(), String> {
        self.export.ack(spec.name, cursor).await.map_err(|e| {
            format!("ack not delivered (rows are committed; retried next run): {e}")
        })?;
        self.store
            .mark_acked(spec.name, cursor)
            .await
            .map_err(|e| format!("postgres: recording the ack: {e}"))
    }
}

/// The pause after a failed daemon run number `failures` (1-based): 30 s
/// doubling, never longer than the interval.
pub fn daemon_backoff(failures: u32, interval: Duration) -> Duration {
    Backoff {
        attempts: u32::MAX,
        base: Duration::from_secs(30),
        max: interval,
    }
    .delay(failures)
}

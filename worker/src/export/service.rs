//! The export workflows over an [`ExportStore`], the clock passed in:
//! one page, one ack, and the archive part of `/health`.

use serde::Serialize;

use super::model::{
    exportable_query, page_query, record_ack_query, trim_to_bytes, unacknowledged_count_query,
    AckReply, AckRow, Cursor, CursorError, ExportTable, Page, MAX_LIMIT, MAX_PAGE_BYTES, SETTLE_MS,
    TABLES,
};
use super::store::{ExportStore, StoreError};
use crate::config::archive::ArchiveConfig;

/// Why an export request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A malformed cursor (400).
    #[error(transparent)]
    BadCursor(#[from] CursorError),
    /// An ack naming a row that is not stored or not exportable yet (409):
    /// acknowledging it could let pruning delete rows never archived.
    #[error("{table}: no exportable row has the key {cursor:?}")]
    UnknownCursor { table: &'static str, cursor: String },
    /// D1 failed (500; details for the log only).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The page of `t` strictly after `after`, at most `limit` rows (clamped to
/// the table's page bound) and under [`MAX_PAGE_BYTES`] of JSON, never
/// empty while settled rows remain; `next_after` is the last row's cursor.
pub async fn page(
    store: &impl ExportStore,
    t: &'static ExportTable,
    after: Option<&str>,
    limit: u32,
    now_ms: i64,
) -> Result<Page, ExportError> {
    let after = after.map(|raw| t.parse_cursor(raw)).transpose()?;
    let limit = limit.clamp(1, MAX_LIMIT).min(t.max_page_rows);
    let q = page_query(t, after.as_ref(), now_ms - SETTLE_MS, limit);
    let mut rows = store.rows(&q).await?;
    trim_to_bytes(&mut rows, MAX_PAGE_BYTES);
    let next_after = match rows.last() {
        None => None,
        Some(last) => Some(
            t.cursor_of(last)
                .ok_or_else(|| StoreError(format!("{}: a row without its export key", t.name)))?
                .to_string(),
        ),
    };
    Ok(Page {
        table: t.name,
        rows,
        next_after,
    })
}

/// The stored ack of `t`, parsed.
async fn stored_ack(
    store: &impl ExportStore,
    t: &'static ExportTable,
) -> Result<Option<Cursor>, ExportError> {
    let acks: Vec<AckRow> = store.acks().await?;
    match acks.iter().find(|a| a.table_name == t.name) {
        None => Ok(None),
        Some(a) => t
            .parse_cursor(&a.through)
            .map(Some)
            .map_err(|e| ExportError::Store(StoreError(format!("stored ack is unreadable: {e}")))),
    }
}

/// Records that the archive holds every row of `t` through `through`.
/// Idempotent; an ack at or before the stored one changes nothing (the
/// stored one is answered); a newer one must name a stored row that an
/// export page could have handed out (else [`ExportError::UnknownCursor`]).
pub async fn ack(
    store: &impl ExportStore,
    t: &'static ExportTable,
    through: &str,
    now_ms: i64,
) -> Result<AckReply, ExportError> {
    let requested = t.parse_cursor(through)?;
    let reply = |c: &Cursor| AckReply {
        table: t.name,
        acked_through: c.to_string(),
    };
    if let Some(stored) = stored_ack(store, t).await? {
        if stored >= requested {
            return Ok(reply(&stored));
        }
    }
    let exportable = store
        .count(&exportable_query(t, &requested, now_ms - SETTLE_MS))
        .await?;
    if exportable == 0 {
        return Err(ExportError::UnknownCursor {
            table: t.name,
            cursor: through.to_owned(),
        });
    }
    // Conditional: a concurrent newer ack wins.
    store
        .execute(&record_ack_query(t, &requested, now_ms))
        .await?;
    let stored = stored_ack(store, t).await?.unwrap_or(requested);
    Ok(reply(&stored))
}

/// One table in `/health`'s archive part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableHealth {
    pub table: &'static str,
    pub acked_through: Option<String>,
    /// Unix ms of the newest ack.
    pub acked_at: Option<i64>,
    /// Rows after the acknowledged cursor, counted up to the cap + 1.
    pub unacknowledged_rows: u64,
    /// More unacknowledged rows than `ARCHIVE_HOLD_CAP_ROWS`.
    pub over_cap: bool,
}

/// The archive part of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveHealth {
    /// `ARCHIVE_TOKEN` is set.
    pub configured: bool,
    /// `acknowledged_only` (an archiver is configured) or `retention`.
    pub pruning: &'static str,
    /// False when a table is over the cap or the state cannot be read.
    pub ok: bool,
    pub warning: Option<String>,
    pub hold_cap_rows: Option<u32>,
    pub tables: Vec<TableHealth>,
}

/// `/health`'s archive part. Without an archiver nothing is read (today's
/// retention applies, and it says so); with one, each table's ack and its
/// unacknowledged rows counted up to the cap + 1.
pub async fn health(store: &impl ExportStore, archive: &ArchiveConfig) -> ArchiveHealth {
    if !archive.configured() {
        return ArchiveHealth {
            configured: false,
            pruning: "retention",
            ok: true,
            warning: Some(
                "no archiver configured (ARCHIVE_TOKEN unset): D1 keeps only its retention and \
older rows are deleted unarchived"
                    .to_owned(),
            ),
            hold_cap_rows: None,
            tables: Vec::new(),
        };
    }
    let cap = archive.hold_cap_rows;
    let unreadable = |e: StoreError| ArchiveHealth {
        configured: true,
        pruning: "acknowledged_only",
        ok: false,
        warning: Some(format!("archive state unavailable: {e}")),
        hold_cap_rows: Some(cap),
        tables: Vec::new(),
    };
    let acks = match store.acks().await {
        Ok(a) => a,
        Err(e) => return unreadable(e),
    };
    let mut tables = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        let ack = acks.iter().find(|a| a.table_name == t.name);
        let n = match store
            .count(&unacknowledged_count_query(t, cap.saturating_add(1)))
            .await
        {
            Ok(n) => n,
            Err(e) => return unreadable(e),
        };
        tables.push(TableHealth {
            table: t.name,
            acked_through: ack.map(|a| a.through.clone()),
            acked_at: ack.map(|a| a.acked_at),
            unacknowledged_rows: n,
            over_cap: n > u64::from(cap),
        });
    }
    let over: Vec<&str> = tables
        .iter()
        .filter(|t| t.over_cap)
        .map(|t| t.table)
        .collect();
    ArchiveHealth {
        configured: true,
        pruning: "acknowledged_only",
        ok: over.is_empty(),
        warning: (!over.is_empty()).then(|| {
            format!(
                "more than {cap} unarchived rows in {}: is the archiver running? \
(nothing unarchived is deleted; D1 keeps growing)",
                over.join(", ")
            )
        }),
        hold_cap_rows: Some(cap),
        tables,
    }
}
